"""`qos-experiment`: the seed's Mininet run, end to end, measured with iperf3.

Default run (no arguments) on a fresh machine:
  1. use the running Open vSwitch, or start a private one (userspace datapath);
  2. start `qos-controller` (fresh state dir, its own ports);
  3. build the seed's linear,4 (10.0.0.0/8) connected to it;
  4. apply the seed's queue profile, enable QoS, measure h1->h2 and h2->h1;
  5. push the seed's two policies with the seed's exact `qospusher add policy` lines;
  6. measure again; write results.json, a PNG bar chart and the flows of s1;
  7. stop everything it started, by PID.
Exit status 0 only when h1->h2 is within 0.85-1.10 x 2 Mbit/s and h2->h1
stays >= 100 Mbit/s after the policies.

`--scenario meter`: the same network on OpenFlow 1.3, the 2 Mbit/s limit
held by an OpenFlow 1.3 meter (a drop band) instead of a queue; h1->h2 is
measured with TCP and with UDP (offered at 10 Mbit/s). Exit status 0 only
when UDP h1->h2 is within 0.85-1.10 x 2 Mbit/s, TCP h1->h2 at most 1.10 x
2 Mbit/s and h2->h1 >= 100 Mbit/s after the policy.

`--scenario ipv6`: the seed's limit on IPv6 hosts. h1 = fc00::1, h2 =
fc00::2 on the same linear,4 (OpenFlow 1.3, learned forwarding: the
controller learns the IPv6 hosts from neighbour discovery). The seed's s1
policy with `ipv6-src` instead of `ip-src` holds h1->h2 (IPv6 TCP) to
queue 2's 2 Mbit/s; then, the policy deleted, a QoS path
`qospath add --src fc00::1 --dst fc00::2 --queue 2` does. Exit status 0
only when h1->h2 is within 0.85-1.10 x 2 Mbit/s after the policy and after
the path, and h2->h1 stays >= 100 Mbit/s.

`--scenario guarantee`: h1->h2 and h3->h2 at once into s2's port to h2,
shaped to 10 Mbit/s, queue 1 min-rate 8 Mbit/s and queue 2 min-rate
1 Mbit/s (both max-rate 10 Mbit/s), one policy each. Measured together
before the policies (the split TCP gives) and after. Exit status 0 only
when each gets at least 0.9 x its min-rate after the policies and both
together fill at least 0.85 x the port. Its PNG shows both rates over time.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SEED_POLICIES = [
    '{"name": "Enqueue 2:2 s1", "protocol":"6","eth-type": "0x0800", "ingress-port": "1",'
    '"ip-src":"10.0.0.1", "sw": "00:00:00:00:00:00:00:01","queue":"2","enqueue-port":"2"}',
    '{"name": "Enqueue 1:2 s2", "protocol":"6","eth-type": "0x0800", "ingress-port": "1",'
    '"ip-src":"10.0.0.1", "sw": "00:00:00:00:00:00:00:02","queue":"2","enqueue-port":"1"}',
]
#: The seed's OVS set-up: port 10 Gbit/s; q0 10 Gbit/s (default), q1 20 Mbit/s, q2 2 Mbit/s.
SEED_QUEUES = {"sw": "all", "port": "all", "max-rate": 10_000_000_000,
               "queues": {"0": {"max-rate": 10_000_000_000}, "1": {"max-rate": 20_000_000},
                          "2": {"max-rate": 2_000_000}}}
LIMIT_MBPS = 2.0
LIMIT_BAND = (0.85, 1.10)
#: --scenario meter: the seed's 2 Mbit/s held by a meter on h1->h2 (every switch on the way)
METER = {"name": "cap-2M", "rate": "2M", "burst": "256k"}
METER_POLICY = {"name": "police h1->h2", "ip-src": "10.0.0.1", "ip-dst": "10.0.0.2", "meter": "cap-2M"}
UDP_OFFERED = "10M"
#: --scenario guarantee: two senders into s2's port to h2, 10 Mbit/s; q1 guarantees 8, q2 1 Mbit/s
GUARANTEE_PORT_MBPS = 10.0
GUARANTEE_QUEUES = {"sw": "00:00:00:00:00:00:00:02", "port": "s2-eth1", "max-rate": "10M",
                    "queues": {"0": {"max-rate": "10M"}, "1": {"min-rate": "8M", "max-rate": "10M"},
                               "2": {"min-rate": "1M", "max-rate": "10M"}}}
#: (direction, sender, its policy's queue, that queue's min-rate in Mbit/s)
GUARANTEE_FLOWS = (("h1->h2", "h1", 1, 8.0), ("h3->h2", "h3", 2, 1.0))
GUARANTEE_POLICIES = [
    {"name": f"{sender} guaranteed {int(floor)}M", "sw": "00:00:00:00:00:00:00:02", "ip-src": f"10.0.0.{sender[1:]}",
     "ip-dst": "10.0.0.2", "protocol": 6, "queue": queue, "enqueue-port": 1}
    for _direction, sender, queue, floor in GUARANTEE_FLOWS]
GUARANTEE_SHARE = 0.9
SATURATED_SHARE = 0.85
#: --scenario ipv6: the hosts' IPv6 addresses, the seed's s1 policy on them, and the same limit as a QoS path
V6 = {"h1": "fc00::1", "h2": "fc00::2"}
V6_POLICY = {"name": "Enqueue 2:2 s1 IPv6", "protocol": "6", "ingress-port": "1", "ipv6-src": V6["h1"],
             "sw": "00:00:00:00:00:00:00:01", "queue": "2", "enqueue-port": "2"}
V6_PATH = ["add", "h1-h2-v6", "--src", V6["h1"], "--dst", V6["h2"], "--queue", "2", "--direction", "forward"]
SCENARIOS = ("seed", "meter", "guarantee", "ipv6")
REVERSE_MIN_MBPS = 100.0
KEEP_TRAFFIC_PORT = 5299
KEEP_TRAFFIC_SECONDS = 3600


def in_band(mbps: float, limit: float = LIMIT_MBPS) -> bool:
    """Within LIMIT_BAND (0.85-1.10) of the queue's rate: what counts as "held to the limit"."""
    return LIMIT_BAND[0] * limit <= mbps <= LIMIT_BAND[1] * limit


@dataclass
class Measurement:
    phase: str
    direction: str
    mbps: float
    retransmits: int | None = None


@dataclass
class Outcome:
    openflow: str
    scenario: str = "seed"
    measurements: list[Measurement] = field(default_factory=list)
    #: phase -> direction -> [(seconds, Mbit/s)] for the scenarios whose flows run at once
    series: dict[str, dict[str, list[tuple[float, float]]]] = field(default_factory=dict)
    checks: dict[str, Any] = field(default_factory=dict)
    ok: bool = False

    def get(self, phase: str, direction: str) -> float:
        return next(m.mbps for m in self.measurements if m.phase == phase and m.direction == direction)


def say(text: str) -> None:
    print(f"[qos-experiment] {text}", flush=True)


def venv_script(name: str) -> str:
    """A console script of the venv this interpreter runs in."""
    return str(Path(sys.executable).with_name(name))


def qospusher(args: list[str], rest_port: int, cwd: Path, tool: str = "qospusher") -> str:
    """Run the real CLI (`qospusher`, or `qospath`) as a user would; fail loudly on a non-zero exit."""
    where = ["--port", str(rest_port), *args, "127.0.0.1"] if tool == "qospusher" else \
        ["--port", str(rest_port), "-c", "127.0.0.1", *args]  # qospath names the controller with -c
    cmd = [venv_script(tool), *where]
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"{tool} {' '.join(args[:2])} exited {proc.returncode}: {proc.stdout}{proc.stderr}")
    return proc.stdout


def wait_installed(ctl: Any, names: list[str], timeout: float = 15.0) -> dict[str, Any]:
    """Until every named policy reports 'installed' on the switches it targets."""
    deadline = time.monotonic() + timeout
    views: dict[str, Any] = {}
    while time.monotonic() < deadline:
        _, policies = ctl.request("GET", "/qos/policies")
        views = {p["name"]: p for p in policies if p["name"] in names}
        if len(views) == len(names) and all(
                v["install"] and all(s["state"] == "installed" for s in v["install"].values())
                for v in views.values()):
            return views
        time.sleep(0.2)
    raise RuntimeError(f"policies not installed within {timeout}s: {json.dumps(views)}")


def wait_path_installed(ctl: Any, name: str, timeout: float = 20.0) -> dict[str, Any]:
    """Until the QoS path is planned and every switch of its route confirmed its flows."""
    deadline = time.monotonic() + timeout
    view: dict[str, Any] = {}
    while time.monotonic() < deadline:
        _, view = ctl.request("GET", f"/qos/paths/{name}")
        install = view.get("install") or {}
        if view.get("status", {}).get("state") == "installed" and install and all(
                s["state"] == "installed" for s in install.values()):
            return view
        time.sleep(0.2)
    raise RuntimeError(f"path {name} not installed within {timeout}s: {json.dumps(view)}")


def add_ipv6(net: Any) -> None:
    """Give h1 and h2 their IPv6 addresses, with duplicate address detection (whose neighbour
    solicitation tells the controller who owns the address), and wait until they are usable."""
    from topologies.netutil import wait_until
    for name, address in V6.items():
        host = net.get(name)
        host.cmd(f"sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.{name}-eth0.disable_ipv6=0")
        host.cmd(f"ip -6 addr add {address}/64 dev {name}-eth0")
    for name in V6:
        host = net.get(name)
        wait_until(lambda: "tentative" not in host.cmd(f"ip -6 addr show dev {name}-eth0"), 10,
                   f"{name}'s IPv6 address to pass duplicate address detection")
    h1 = net.get("h1")
    wait_until(lambda: " 0% packet loss" in h1.cmd(f"ping -6 -n -c 1 -W 1 {V6['h2']}"), 15, "h1 to reach fc00::2")


def wait_queues_applied(ctl: Any, timeout: float = 20.0) -> list[Any]:
    deadline = time.monotonic() + timeout
    profiles: list[Any] = []
    while time.monotonic() < deadline:
        _, profiles = ctl.request("GET", "/qos/queues")
        states = [s for p in profiles for s in p.get("applied", {}).values()]
        if states and all(s["state"] == "applied" for s in states):
            return profiles
        if any(s["state"] == "error" for s in states):
            raise RuntimeError(f"queue profile failed: {json.dumps(profiles)}")
        time.sleep(0.2)
    raise RuntimeError(f"queue profile not applied within {timeout}s: {json.dumps(profiles)}")


def measure_together(net: Any, outcome: Outcome, phase: str, seconds: float) -> None:
    """The guarantee scenario: both senders into h2 at once, each rate and its course over time."""
    from topologies.traffic import iperf3_together, rate_series
    h2 = net.get("h2")
    flows = [(net.get(sender), h2, 5201 + k) for k, (_d, sender, _q, _f) in enumerate(GUARANTEE_FLOWS)]
    results = iperf3_together(flows, seconds=seconds)
    outcome.series[phase] = {}
    for (direction, *_rest), result in zip(GUARANTEE_FLOWS, results):
        outcome.measurements.append(Measurement(phase, direction, round(result.mbps, 3), result.retransmits))
        outcome.series[phase][direction] = rate_series(result)
        say(f"{phase:>15}  {direction}: {result.mbps:10.2f} Mbit/s (both at once)")
    total = sum(r.mbps for r in results)
    split = ", ".join(f"{d} {100 * r.mbps / total:.0f} %" for (d, *_r), r in zip(GUARANTEE_FLOWS, results)) if total else "-"
    say(f"{phase:>15}  together {total:.2f} Mbit/s of the port's {GUARANTEE_PORT_MBPS:g}; split {split}")


def measure(net: Any, outcome: Outcome, phase: str, seconds: float) -> None:
    from topologies.traffic import iperf3
    if outcome.scenario == "guarantee":
        measure_together(net, outcome, phase, seconds)
        return
    h1, h2 = net.get("h1"), net.get("h2")
    runs: list[tuple[str, Any, Any, bool]] = [("h1->h2", h1, h2, False), ("h2->h1", h2, h1, False)]
    if outcome.scenario == "meter":
        runs.insert(1, ("h1->h2 UDP", h1, h2, True))
    for direction, src, dst, udp in runs:
        server_ip = V6[dst.name] if outcome.scenario == "ipv6" else None
        result = iperf3(src, dst, seconds=seconds, udp=udp, bitrate=UDP_OFFERED if udp else None, server_ip=server_ip)
        outcome.measurements.append(Measurement(phase, direction, round(result.mbps, 3), result.retransmits))
        say(f"{phase:>15}  {direction}: {result.mbps:10.2f} Mbit/s")


def evaluate_guarantee(outcome: Outcome) -> None:
    """Each flow at least GUARANTEE_SHARE x its queue's min-rate, both together filling the port."""
    checks: dict[str, Any] = {}
    total = 0.0
    for direction, _sender, queue, floor in GUARANTEE_FLOWS:
        mbps = outcome.get("after policies", direction)
        total += mbps
        want = GUARANTEE_SHARE * floor
        checks[f"{direction} gets queue {queue}'s min-rate"] = {"mbps": mbps, "want": f">= {want:.2f}", "ok": mbps >= want}
    want = SATURATED_SHARE * GUARANTEE_PORT_MBPS
    checks["both together fill the port"] = {"mbps": total, "want": f">= {want:.2f}", "ok": total >= want}
    outcome.checks = checks
    outcome.ok = all(c["ok"] for c in checks.values())


def evaluate(outcome: Outcome) -> None:
    if outcome.scenario == "guarantee":
        evaluate_guarantee(outcome)
        return
    forward = outcome.get("after policies", "h1->h2")
    reverse = outcome.get("after policies", "h2->h1")
    lo, hi = LIMIT_BAND[0] * LIMIT_MBPS, LIMIT_BAND[1] * LIMIT_MBPS  # for the printed "want"
    unshaped = {"mbps": reverse, "want": f">= {REVERSE_MIN_MBPS}", "ok": reverse >= REVERSE_MIN_MBPS}
    if outcome.scenario == "meter":
        udp = outcome.get("after policies", "h1->h2 UDP")
        outcome.checks = {
            "h1->h2 UDP policed": {"mbps": udp, "want": f"{lo:.2f}-{hi:.2f}", "ok": in_band(udp)},
            "h1->h2 TCP at most the rate": {"mbps": forward, "want": f"<= {hi:.2f}", "ok": forward <= hi},
            "h2->h1 unshaped": unshaped,
        }
    elif outcome.scenario == "ipv6":
        by_path = outcome.get("after path", "h1->h2")
        outcome.checks = {
            "h1->h2 limited by the ipv6-src policy": {"mbps": forward, "want": f"{lo:.2f}-{hi:.2f}", "ok": in_band(forward)},
            "h1->h2 limited by the IPv6 QoS path": {"mbps": by_path, "want": f"{lo:.2f}-{hi:.2f}", "ok": in_band(by_path)},
            "h2->h1 unshaped": unshaped,
        }
    else:
        outcome.checks = {
            "h1->h2 limited": {"mbps": forward, "want": f"{lo:.2f}-{hi:.2f}", "ok": in_band(forward)},
            "h2->h1 unshaped": unshaped,
        }
    outcome.ok = all(c["ok"] for c in outcome.checks.values())


def directions(outcome: Outcome) -> list[str]:
    return list(dict.fromkeys(m.direction for m in outcome.measurements))


def print_table(outcome: Outcome) -> None:
    phases = list(dict.fromkeys(m.phase for m in outcome.measurements))
    columns = directions(outcome)
    print()
    print(f"{'phase':<16}" + "".join(f"{d + ' Mbit/s':>20}" for d in columns))
    for phase in phases:
        print(f"{phase:<16}" + "".join(f"{outcome.get(phase, d):>20.2f}" for d in columns))
    for name, check in outcome.checks.items():
        print(f"{'PASS' if check['ok'] else 'FAIL'}  {name}: {check['mbps']:.2f} Mbit/s (want {check['want']})")
    print()


def write_series_chart(outcome: Outcome, path: Path) -> None:
    """The guarantee scenario: both rates over time, before and after the policies, the min-rates drawn."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    phases = list(outcome.series)
    fig, axes = plt.subplots(1, len(phases), figsize=(9, 4), dpi=110, sharey=True, squeeze=False)
    for ax, phase in zip(axes[0], phases):
        for (direction, _sender, queue, floor), color in zip(GUARANTEE_FLOWS, ("tab:blue", "tab:orange")):
            points = outcome.series[phase].get(direction, [])
            ax.plot([t for t, _ in points], [v for _, v in points], color=color, marker=".",
                    label=f"{direction} (policy: queue {queue})")
            ax.axhline(floor, color=color, linestyle=":", linewidth=1, label=f"queue {queue} min-rate {floor:g}")
        ax.axhline(GUARANTEE_PORT_MBPS, color="red", linestyle="--", linewidth=1, label="port max-rate 10")
        ax.set_title(phase, fontsize=9)
        ax.set_xlabel("seconds")
        ax.set_ylim(0, GUARANTEE_PORT_MBPS * 1.15)
    axes[0][0].set_ylabel("iperf3 throughput, Mbit/s")
    axes[0][-1].legend(fontsize=7, loc="center right")
    fig.suptitle(f"qos-sdn guarantee scenario: two TCP senders into s2-eth1 (10 Mbit/s), OpenFlow {outcome.openflow}",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_chart(outcome: Outcome, path: Path) -> None:
    """Grouped bars per phase, log scale (2 Mbit/s next to Gbit/s), the limit drawn."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    if outcome.series:
        write_series_chart(outcome, path)
        return

    phases = list(dict.fromkeys(m.phase for m in outcome.measurements))
    columns = directions(outcome)
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    width = 0.76 / len(columns)
    for k, direction in enumerate(columns):
        offset = (k - (len(columns) - 1) / 2) * width
        values = [outcome.get(p, direction) for p in phases]
        label = direction + (" TCP" if outcome.scenario == "meter" and "UDP" not in direction else "")
        bars = ax.bar([i + offset for i in range(len(phases))], values, width, label=label)
        ax.bar_label(bars, labels=[f"{v:.1f}" for v in values], fontsize=8)
    limit = "meter: 2 Mbit/s" if outcome.scenario == "meter" else "queue 2: 2 Mbit/s"
    ax.axhline(LIMIT_MBPS, color="red", linestyle="--", linewidth=1, label=limit)
    ax.set_yscale("log")
    ax.set_ylim(bottom=0.5)
    ax.set_xticks(range(len(phases)), phases)
    ax.set_ylabel("iperf3 throughput, Mbit/s (log)")
    what = {"meter": "meter scenario (UDP offered at 10 Mbit/s)", "ipv6": "ipv6 scenario (fc00::1 -> fc00::2)"}.get(
        outcome.scenario, "seed experiment")
    ax.set_title(f"qos-sdn {what}, linear,4, OpenFlow {outcome.openflow}", fontsize=10)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def dump_flows(ovs: Any, bridge: str, openflow: str) -> str:
    return ovs.ofctl("-O", "OpenFlow" + openflow.replace(".", ""), "dump-flows", bridge)


def run(args: argparse.Namespace) -> int:
    from topologies.controller import ControllerProcess
    from topologies.network import start_network, stop_network
    from topologies.ovsenv import SYSTEM_RUNDIR, PrivateOvs, find_running
    from topologies.traffic import wait_reachable

    outdir = Path(args.outdir).resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    openflow = {"10": "1.0", "13": "1.3"}[args.openflow]
    if args.scenario == "meter" and openflow != "1.3":
        raise ValueError("--scenario meter needs OpenFlow 1.3 (OpenFlow 1.0 has no meters)")
    if args.scenario == "ipv6" and openflow != "1.3":
        raise ValueError("--scenario ipv6 needs OpenFlow 1.3 (qos-sdn does not install IPv6 policies on OpenFlow 1.0)")
    outcome = Outcome(openflow=openflow, scenario=args.scenario)
    with ExitStack() as stack:
        say("phase 1/7: Open vSwitch")
        ovs = find_running(os.environ.get("OVS_RUNDIR") or SYSTEM_RUNDIR)
        if ovs is None:
            ovs = PrivateOvs(tempfile.mkdtemp(prefix="qos-ovs-")).start()
            stack.callback(ovs.stop)
            say(f"  started a private OVS (userspace datapath) in {ovs.workdir}")
        else:
            say(f"  using the running OVS at {ovs.db_sock}")
        stack.enter_context(ovs.exported())

        say("phase 2/7: controller")
        state_dir = Path(tempfile.mkdtemp(prefix="qos-state-"))
        ctl = ControllerProcess(state_dir, rest_port=args.rest_port, ovsdb=ovs.db_remote,
                                log_path=outdir / "controller.log").start()
        stack.callback(ctl.stop)
        say(f"  qos-controller pid {ctl.proc.pid}, REST {ctl.url}, OpenFlow port {ctl.ofp_port}")

        say(f"phase 3/7: Mininet linear,4 (OpenFlow {openflow}, userspace datapath)")
        net = start_network("linear,4", controller=("127.0.0.1", ctl.ofp_port),
                            protocols="OpenFlow" + args.openflow)
        stack.callback(stop_network, net)
        wait_reachable([net.get(h) for h in (("h1", "h2", "h3") if args.scenario == "guarantee" else ("h1", "h2"))],
                       timeout=30)
        if args.scenario == "ipv6":
            add_ipv6(net)
            say(f"  h1 = {V6['h1']}, h2 = {V6['h2']} (IPv6 reachable)")

        guarantee = args.scenario == "guarantee"
        say(f"phase 4/7: {'the guarantee' if guarantee else 'seed'} queue profile, enable QoS")
        qospusher(["queue", "set", json.dumps(GUARANTEE_QUEUES if guarantee else SEED_QUEUES)], ctl.rest_port, outdir)
        wait_queues_applied(ctl)
        qospusher(["enable"], ctl.rest_port, outdir)
        if guarantee:
            listing = qospusher(["queue", "list"], ctl.rest_port, outdir)
            (outdir / "queues.txt").write_text(listing)
            say("  queue list (with the rates s2-eth1 applies, read back from tc):\n" + listing.rstrip())

        say("phase 5/7: iperf3 before the policies")
        measure(net, outcome, "before policies", args.seconds)

        if args.scenario == "meter":
            say("phase 6/7: a 2 Mbit/s meter and a policy that uses it on h1->h2")
            print(qospusher(["add", "meter", json.dumps(METER)], ctl.rest_port, outdir), end="")
            print(qospusher(["add", "policy", json.dumps(METER_POLICY)], ctl.rest_port, outdir), end="")
            wait_installed(ctl, [METER_POLICY["name"]])
            meters = ovs.ofctl("-O", "OpenFlow13", "dump-meters", "s1")
            (outdir / "meters-s1.txt").write_text(meters)
            say("  s1 meters:\n" + meters.rstrip())
        elif args.scenario == "ipv6":
            say("phase 6/7: the seed's s1 policy on IPv6 (ipv6-src), then the same limit as an IPv6 QoS path")
            print(qospusher(["add", "policy", json.dumps(V6_POLICY)], ctl.rest_port, outdir), end="")
            wait_installed(ctl, [V6_POLICY["name"]])
        elif guarantee:
            say("phase 6/7: one policy per sender: h1 into queue 1, h3 into queue 2 (s2, out of port 1)")
            for policy in GUARANTEE_POLICIES:
                print(qospusher(["add", "policy", json.dumps(policy)], ctl.rest_port, outdir), end="")
            wait_installed(ctl, [p["name"] for p in GUARANTEE_POLICIES])
        else:
            say("phase 6/7: push the seed's policies")
            for policy in SEED_POLICIES:
                print(qospusher(["add", "policy", policy], ctl.rest_port, outdir), end="")
            wait_installed(ctl, [json.loads(p)["name"] for p in SEED_POLICIES])
        bridge = "s2" if guarantee else "s1"
        flows = dump_flows(ovs, bridge, openflow)
        (outdir / f"flows-{bridge}.txt").write_text(flows)
        say(f"  {bridge} flows:\n" + flows.rstrip())
        measure(net, outcome, "after policies", args.seconds)
        if args.scenario == "ipv6":
            print(qospusher(["delete", "policy", V6_POLICY["name"]], ctl.rest_port, outdir), end="")
            print(qospusher(V6_PATH, ctl.rest_port, outdir, tool="qospath"), end="")
            view = wait_path_installed(ctl, V6_PATH[1])
            say(f"  path {V6_PATH[1]}: {json.dumps(view['status'])}")
            path_flows = dump_flows(ovs, "s1", openflow)
            (outdir / "flows-s1-path.txt").write_text(path_flows)
            measure(net, outcome, "after path", args.seconds)

        say("phase 7/7: results")
        evaluate(outcome)
        print_table(outcome)
        (outdir / "results.json").write_text(json.dumps(
            {**asdict(outcome), "seconds": args.seconds, "limit_mbps": LIMIT_MBPS}, indent=2))
        write_chart(outcome, outdir / "throughput.png")
        say(f"wrote {outdir / 'results.json'}, {outdir / 'throughput.png'}, {outdir / f'flows-{bridge}.txt'}")
        if args.keep_running:
            keep_running(net, ctl, stack)
        say("stopping what this run started")
    return 0 if outcome.ok else 1


def keep_running(net: Any, ctl: Any, stack: ExitStack) -> None:
    """Leave everything up, with h1->h2 traffic flowing so the page's chart shows the limit.

    The background iperf3 is bounded (KEEP_TRAFFIC_SECONDS) and stopped by PID;
    Ctrl-C or SIGTERM ends the wait and the run cleans up as usual.
    """
    from topologies.traffic import stop_process, wait_listening
    h1, h2 = net.get("h1"), net.get("h2")
    server = h2.popen(["iperf3", "-s", "-p", str(KEEP_TRAFFIC_PORT)])
    stack.callback(stop_process, server)
    wait_listening(h2, KEEP_TRAFFIC_PORT, proc=server)
    client = h1.popen(["iperf3", "-c", h2.IP(), "-p", str(KEEP_TRAFFIC_PORT), "-t", str(KEEP_TRAFFIC_SECONDS)])
    stack.callback(stop_process, client)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    say(f"--keep-running: network and controller stay up; h1->h2 iperf3 runs for up to "
        f"{KEEP_TRAFFIC_SECONDS} s. Web page: {ctl.url}/qos/ui/  (Ctrl-C to stop)")
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qos-experiment", description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", choices=SCENARIOS, default="seed",
                        help="seed: the seed's queue limit (default); meter: the same 2 Mbit/s by an OpenFlow 1.3 "
                             "meter, TCP and UDP; ipv6: the seed's limit on IPv6 hosts, by a policy and by a QoS path; guarantee: two senders sharing a 10 Mbit/s port by their queues' "
                             "min-rates (8 and 1 Mbit/s)")
    parser.add_argument("--openflow", choices=["10", "13"], default="13", help="OpenFlow version (default 13)")
    parser.add_argument("--seconds", type=float, default=5.0, help="iperf3 duration per measurement (default 5)")
    parser.add_argument("--outdir", default="results", help="where results.json and the chart go (default ./results)")
    parser.add_argument("--keep-running", action="store_true",
                        help="after measuring, leave the network and controller up with h1->h2 traffic "
                             "flowing (watch it at /qos/ui/) until Ctrl-C")
    parser.add_argument("--rest-port", type=int, default=None,
                        help="REST port of the controller it starts (default: a free port)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except Exception as err:  # one clear line, not a traceback, for expected failures
        say(f"FAILED: {err}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
