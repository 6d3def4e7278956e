"""Traffic between Mininet hosts: iperf3 throughput and ICMP reachability, bounded in time.

Why not Mininet's helpers: ``net.iperf()`` runs ``killall -9 iperf`` (kills
other people's iperf); ``net.pingAll()`` is safe (it only runs ``ping``)
but we want structured, deadline-bounded results. Here every process is
started with ``host.popen`` (``mnexec -da <host pid> <cmd>``, which execs the
command, so the Popen's PID *is* the tool's PID), has a deadline, and is
stopped by that PID only.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from mininet.node import Node

class TrafficError(RuntimeError):
    """A traffic tool failed, timed out or produced output we cannot read."""


@dataclass(frozen=True)
class IperfResult:
    """One iperf3 run. ``mbps`` is what the receiver got (the number that shows a rate limit)."""

    mbps: float
    sender_mbps: float
    protocol: str
    seconds: float
    retransmits: int | None = None
    lost_percent: float | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class PingResult:
    """Echo requests from ``src`` (a host name) to ``dst`` (an IP)."""

    src: str
    dst: str
    sent: int
    received: int
    rtt_ms: tuple[float, ...] = ()

    @property
    def ok(self) -> bool:
        """At least one reply came back."""
        return self.received > 0


def stop_process(proc: subprocess.Popen, grace: float = 2.0) -> None:
    """SIGTERM then SIGKILL one process we started, and reap it. Never touches anything else."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(grace)


def _communicate(proc: subprocess.Popen, timeout: float, what: str) -> tuple[str, str]:
    """Collect a process's output within ``timeout``; stop it by PID and raise if it overruns."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        stop_process(proc)
        proc.communicate()
        raise TrafficError(f"{what} did not finish within {timeout:.0f}s (pid {proc.pid} stopped)") from exc
    return out.decode(errors="replace"), err.decode(errors="replace")


def wait_listening(host: Node, port: int, timeout: float = 5.0, proc: subprocess.Popen | None = None) -> None:
    """Wait until a TCP listener on ``port`` exists in ``host``'s namespace (checked with ``ss``).

    Avoids the race where the client connects before the server has bound.
    If ``proc`` (the server) exits meanwhile, fail at once with its output.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            raise TrafficError(f"server on {host.name}:{port} exited {proc.returncode}: "
                               f"{out.decode(errors='replace')[-500:]} {err.decode(errors='replace')[-500:]}")
        check = host.popen(["ss", "-Hltn", f"sport = :{port}"])
        out, _ = _communicate(check, 5.0, "ss")
        if out.strip():
            return
        time.sleep(0.05)
    raise TrafficError(f"nothing listens on {host.name}:{port} after {timeout}s")


def _iperf_client_argv(server_ip: str, port: int, seconds: float, udp: bool, bitrate: str | None,
                       tos: int | None, reverse: bool, streams: int) -> list[str]:
    """The iperf3 client command line (JSON output, bounded duration, bounded connect)."""
    # -O 1: the first second (TCP slow start) is left out of the result; it says
    # nothing about a queue's rate and at 2 Mbit/s it visibly drags the average
    argv = ["iperf3", "-c", server_ip, "-p", str(port), "-t", str(seconds), "-O", "1", "-J",
            "--connect-timeout", "3000"]
    if udp:
        argv += ["-u", "-b", bitrate or "10M"]
    elif bitrate:
        argv += ["-b", bitrate]
    if tos is not None:
        argv += ["-S", str(tos)]
    if reverse:
        argv.append("-R")
    if streams > 1:
        argv += ["-P", str(streams)]
    return argv


def parse_iperf3(report: dict[str, Any]) -> IperfResult:
    """Turn iperf3's client JSON into an IperfResult (TCP: sum_received; UDP: sum with loss)."""
    if report.get("error"):
        raise TrafficError(f"iperf3: {report['error']}")
    end = report.get("end", {})
    protocol = report.get("start", {}).get("test_start", {}).get("protocol", "TCP")
    if protocol == "UDP":
        total = end.get("sum_received") or end["sum"]
        lost = float(total.get("lost_percent", 0.0))
        sent = end.get("sum_sent", end["sum"])
        return IperfResult(mbps=total["bits_per_second"] / 1e6, sender_mbps=sent["bits_per_second"] / 1e6,
                           protocol="UDP", seconds=float(total["seconds"]), lost_percent=lost, raw=report)
    received, sent = end["sum_received"], end["sum_sent"]
    return IperfResult(mbps=received["bits_per_second"] / 1e6, sender_mbps=sent["bits_per_second"] / 1e6,
                       protocol="TCP", seconds=float(received["seconds"]),
                       retransmits=sent.get("retransmits"), raw=report)


def iperf3(client: Node, server: Node, seconds: float = 5.0, port: int = 5201, udp: bool = False,
           bitrate: str | None = None, tos: int | None = None, reverse: bool = False, streams: int = 1,
           server_ip: str | None = None, slack: float = 15.0) -> IperfResult:
    """Measure client -> server throughput (server -> client with ``reverse``) with iperf3.

    Starts a one-shot server (``-s -1``) on ``server``, waits for it to
    listen, runs the client for ``seconds``, and stops both by PID if they
    overrun ``seconds + slack``. ``tos`` sets the IP TOS byte (DSCP << 2).
    """
    server_ip = server_ip or server.IP()
    srv = server.popen(["iperf3", "-s", "-1", "-p", str(port), "-J"])
    try:
        wait_listening(server, port, proc=srv)
        cli = client.popen(_iperf_client_argv(server_ip, port, seconds, udp, bitrate, tos, reverse, streams))
        out, err = _communicate(cli, seconds + 1 + slack, f"iperf3 client on {client.name}")
        try:
            report = json.loads(out)
        except json.JSONDecodeError as exc:
            raise TrafficError(f"iperf3 client printed no JSON (exit {cli.returncode}): {err[-500:]}") from exc
        srv_out, _ = _communicate(srv, slack, f"iperf3 server on {server.name}")
        try:
            report["receiver_intervals"] = json.loads(srv_out).get("intervals", [])
        except json.JSONDecodeError:  # the client's report is the result; the server's only adds detail
            report["receiver_intervals"] = []
        return parse_iperf3(report)
    finally:
        stop_process(srv)


def iperf3_together(flows: Sequence[tuple[Node, Node, int]], seconds: float = 5.0, interval: float = 0.5,
                    slack: float = 15.0) -> list[IperfResult]:
    """Several TCP iperf3 runs at once, each (client, server, port): what each gets while they compete.

    All servers listen first, then all clients start together. Each
    server reports every ``interval`` seconds what it received, which
    ``rate_series`` draws over time (the sender's own intervals show its
    socket writes, bursty at a few Mbit/s). Every process is bounded by
    ``seconds + slack`` and stopped by PID.
    """
    servers: list[subprocess.Popen] = []
    clients: list[subprocess.Popen] = []
    try:
        for _client, server, port in flows:
            servers.append(server.popen(["iperf3", "-s", "-1", "-p", str(port), "-J", "-i", str(interval)]))
            wait_listening(server, port, proc=servers[-1])
        for client, server, port in flows:
            clients.append(client.popen(_iperf_client_argv(server.IP(), port, seconds, False, None, None, False, 1)))
        results = []
        for (client, server, _port), proc, srv in zip(flows, clients, servers):
            report = _json_report(proc, seconds + 1 + slack, f"iperf3 client on {client.name}")
            received = _json_report(srv, slack, f"iperf3 server on {server.name}")
            report["receiver_intervals"] = received.get("intervals", [])
            results.append(parse_iperf3(report))
        return results
    finally:
        for proc in clients + servers:
            stop_process(proc)


def _json_report(proc: subprocess.Popen, timeout: float, what: str) -> dict[str, Any]:
    out, err = _communicate(proc, timeout, what)
    try:
        report: dict[str, Any] = json.loads(out)
    except json.JSONDecodeError as exc:
        raise TrafficError(f"{what} printed no JSON (exit {proc.returncode}): {err[-500:]}") from exc
    return report


def rate_series(result: IperfResult) -> list[tuple[float, float]]:
    """(seconds since the start, Mbit/s) per iperf3 interval as the receiver saw it (the sender's
    when there is no receiver report), the omitted start-up intervals left out."""
    series = []
    for item in result.raw.get("receiver_intervals") or result.raw.get("intervals", []):
        total = item.get("sum", {})
        if total.get("omitted") or float(total.get("seconds", 0.0)) < 0.2:  # start-up; the last stub after -t
            continue
        series.append((float(total.get("end", 0.0)), float(total.get("bits_per_second", 0.0)) / 1e6))
    return series


_PING_SUMMARY = re.compile(r"(\d+) packets transmitted, (\d+) (?:packets )?received")
_PING_RTT = re.compile(r"icmp_seq=\d+ .*time=([\d.]+) ms")


def parse_ping(src: str, dst: str, output: str) -> PingResult:
    """A PingResult from iputils ``ping`` output (summary line and per-reply times)."""
    summary = _PING_SUMMARY.search(output)
    if summary is None:
        raise TrafficError(f"cannot read ping output from {src} to {dst}: {output[-300:]!r}")
    rtts = tuple(float(value) for value in _PING_RTT.findall(output))
    return PingResult(src, dst, int(summary.group(1)), int(summary.group(2)), rtts)


def ping(src: Node, dst: Node | str, count: int = 1, timeout: float = 1.0, interval: float = 0.2) -> PingResult:
    """ICMP echo from host ``src`` to a host or IP address with iputils ``ping``, bounded in time.

    ``timeout`` is how long to wait for each reply (``ping -W``).
    """
    dst_ip = dst if isinstance(dst, str) else dst.IP()
    proc = src.popen(["ping", "-n", "-c", str(count), "-W", str(timeout), "-i", str(interval), dst_ip])
    out, err = _communicate(proc, 5.0 + count * (timeout + interval), f"ping {src.name} -> {dst_ip}")
    return parse_ping(src.name, dst_ip, out + err)


def ping_all(hosts: Iterable[Node], count: int = 1, timeout: float = 1.0) -> list[PingResult]:
    """Every host pings every other host: ``net.pingAll()`` with results we can assert on.

    (``net.pingAll()`` itself is harmless, it only runs ``ping``; this one
    returns structured results and is bounded by a deadline.)
    """
    hosts = list(hosts)
    return [ping(src, dst, count, timeout) for src in hosts for dst in hosts if dst is not src]


def loss_fraction(results: Sequence[PingResult]) -> float:
    """Share of echo requests that got no reply (0.0 = all answered)."""
    sent = sum(r.sent for r in results)
    return 0.0 if sent == 0 else 1.0 - sum(r.received for r in results) / sent


def wait_reachable(hosts: Iterable[Node], timeout: float = 30.0, probe_timeout: float = 1.0) -> list[PingResult]:
    """Repeat ``ping_all`` until every pair answers; return the last round, or raise after ``timeout``.

    For networks that need time before they forward (RSTP converging, a
    controller installing flows) without guessing a fixed sleep.
    """
    hosts = list(hosts)
    deadline = time.monotonic() + timeout
    while True:
        results = ping_all(hosts, timeout=probe_timeout)
        if loss_fraction(results) == 0.0:
            return results
        if time.monotonic() >= deadline:
            failed = ", ".join(f"{r.src}->{r.dst}" for r in results if not r.ok)
            raise TrafficError(f"not all hosts reachable after {timeout:.0f}s: {failed}")
        time.sleep(0.5)
