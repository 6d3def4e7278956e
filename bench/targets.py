"""The two controllers under test, behind one small interface.

`RyuRestQos` runs Ryu's own `ryu.app.rest_qos` (plus rest_conf_switch and a
table-1 forwarder) from bench/.venv-ryu; `QosSdn` runs `qos-controller`
through `topologies.controller.ControllerProcess`. Each turns "add rule i",
"list everything", "delete this one", "delete all" into that controller's
own REST calls, and judges its answers. Rule i matches TCP from a distinct
source address on both, so no two rules collide (qos-sdn would answer 409).
"""
from __future__ import annotations

import abc
import os
import re
import signal
import subprocess
from pathlib import Path
from typing import Any, Callable, Sequence
from urllib.parse import quote

from bench.bridge import DPID_HEX
from bench.httpload import Answer, Call, KeepAliveClient, LoadResult, run_calls
from bench.ryuenv import BENCH_DIR
from topologies.controller import ControllerProcess
from topologies.netutil import free_tcp_port, wait_until as _wait_until

DPID_COLONS = ":".join(DPID_HEX[i:i + 2] for i in range(0, 16, 2))
_QOS_ID = re.compile(r"qos_id=(\d+)")


def rule_ip(i: int) -> str:
    """A distinct IPv4 source for rule i (i < 2**24): 10.x.y.z."""
    return f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"


def process_memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a process, in KiB, from /proc/<pid>/status."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far (/proc/<pid>/stat), for work per rule.

    Less sensitive than wall time to other load on a shared machine.
    """
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, poll: float = 0.05) -> float:
    """Seconds until predicate() is true (an OSError counts as not yet); an error naming `what` on timeout."""
    return _wait_until(predicate, timeout, what, interval=poll, ignore=(OSError,))


class Controller(abc.ABC):
    """What the benchmark asks of a controller under test: its REST calls, and how to judge answers."""

    name = "?"
    has_bulk = False
    pid: int
    rest_port: int
    ofp_port: int

    @abc.abstractmethod
    def start(self) -> None:
        """Start the process; return once its REST server answers."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop our process by its PID (SIGTERM, then SIGKILL)."""

    @abc.abstractmethod
    def log_tail(self) -> str: ...

    @abc.abstractmethod
    def wait_switch(self, timeout: float = 30.0) -> float:
        """Seconds until the controller reports br-bench as connected."""

    def prepare(self) -> None:
        """Anything the controller needs before rules take effect."""

    @abc.abstractmethod
    def add_call(self, i: int) -> Call:
        """The request that adds rule i."""

    @abc.abstractmethod
    def add_error(self, status: int, body: Any) -> str | None:
        """None if an add was accepted, else why not."""

    @abc.abstractmethod
    def rule_ref(self, i: int, body: Any) -> Any:
        """What deletes rule i later (Ryu: the qos_id in the answer; qos-sdn: the name)."""

    def confirmed(self, body: Any) -> bool:
        """Did this add's answer say the switch confirmed the flow? (Ryu's never does.)"""
        return False

    @abc.abstractmethod
    def list_call(self) -> Call: ...

    @abc.abstractmethod
    def count_rules(self, body: Any) -> int:
        """How many rules a list answer holds (checked against N)."""

    @abc.abstractmethod
    def delete_call(self, ref: Any) -> Call: ...

    @abc.abstractmethod
    def delete_error(self, status: int, body: Any) -> str | None: ...

    @abc.abstractmethod
    def delete_all(self, refs: Sequence[Any]) -> tuple[LoadResult, str]:
        """Delete every rule the controller's own best way; returns the calls' result and how."""

    def bulk_call(self, indices: Sequence[int]) -> Call:
        raise NotImplementedError(f"{self.name} has no bulk add")

    def memory(self) -> dict[str, int]:
        return process_memory(self.pid)

    def cpu_s(self) -> float:
        return process_cpu_s(self.pid)

    def call(self, method: str, path: str, body: Any = None) -> Answer:
        """One request on a fresh connection (set-up and checks, not measurements)."""
        client = KeepAliveClient(self.rest_port)
        try:
            return client.call(method, path, body)
        finally:
            client.close()


class RyuRestQos(Controller):
    """ryu-manager ryu.app.rest_qos ryu.app.rest_conf_switch bench/ryu_table1.py."""

    name = "ryu rest_qos"

    def __init__(self, python: Path, workdir: Path) -> None:
        self.python = python
        self.workdir = workdir
        self.rest_port = free_tcp_port()
        self.ofp_port = free_tcp_port()
        self.log_path = workdir / "ryu.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        cmd = [str(self.python), str(BENCH_DIR / "ryu_launch.py"),
               "--wsapi-host", "127.0.0.1", "--wsapi-port", str(self.rest_port),
               "--ofp-listen-host", "127.0.0.1", "--ofp-tcp-listen-port", str(self.ofp_port),
               "ryu.app.rest_qos", "ryu.app.rest_conf_switch", str(BENCH_DIR / "ryu_table1.py")]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         cwd=self.workdir)
        self.pid = self.proc.pid

        def answers() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ryu-manager exited {self.proc.returncode}: {self.log_tail()}")
            return self.call("GET", f"/qos/rules/{DPID_HEX}").status in (200, 400)
        wait_until(answers, 30, "Ryu's REST server")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def log_tail(self) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-20:])
        except OSError:
            return "(no log)"

    def wait_switch(self, timeout: float = 30.0) -> float:
        """rest_qos answers 400 'qos sw is not connected' until the switch has joined."""
        return wait_until(lambda: self.call("GET", f"/qos/rules/{DPID_HEX}").status == 200, timeout,
                          "br-bench to join rest_qos")

    def add_call(self, i: int) -> Call:
        return ("POST", f"/qos/rules/{DPID_HEX}",
                {"match": {"nw_src": rule_ip(i), "nw_proto": "TCP"}, "actions": {"queue": "1"}})

    @staticmethod
    def _results(body: Any) -> list[Any]:
        """rest_qos wraps each switch's outcome: [{"switch_id", "command_result": ...}]."""
        if not isinstance(body, list):
            return []
        out = []
        for entry in body:
            result = entry.get("command_result") if isinstance(entry, dict) else None
            out += result if isinstance(result, list) else [result]
        return out

    def add_error(self, status: int, body: Any) -> str | None:
        results = self._results(body)
        if status == 200 and results and all(isinstance(r, dict) and r.get("result") == "success" for r in results):
            return None
        return f"HTTP {status}: {str(body)[:200]}"

    def rule_ref(self, i: int, body: Any) -> Any:
        found = _QOS_ID.search(str(self._results(body)))
        return int(found.group(1)) if found else None

    def list_call(self) -> Call:
        return ("GET", f"/qos/rules/{DPID_HEX}", None)

    def count_rules(self, body: Any) -> int:
        return sum(len(group.get("qos", [])) for group in self._results(body) if isinstance(group, dict))

    def delete_call(self, ref: Any) -> Call:
        return ("DELETE", f"/qos/rules/{DPID_HEX}", {"qos_id": ref})

    def delete_error(self, status: int, body: Any) -> str | None:
        results = self._results(body)
        flat = [r for item in results for r in (item if isinstance(item, list) else [item])]
        if status == 200 and flat and all(isinstance(r, dict) and r.get("result") == "success" for r in flat):
            return None
        return f"HTTP {status}: {str(body)[:200]}"

    def delete_all(self, refs: Sequence[Any]) -> tuple[LoadResult, str]:
        result = run_calls(self.rest_port, [("DELETE", f"/qos/rules/{DPID_HEX}", {"qos_id": "all"})],
                           check=self.delete_error)
        return result, "one DELETE {qos_id: all}"


class QosSdn(Controller):
    """qos-controller --no-queues, QoS enabled, one policy per rule."""

    name = "qos-sdn"
    has_bulk = True

    def __init__(self, workdir: Path, src: Path | None = None, query: str = "", label: str = "qos-sdn",
                 extra_args: Sequence[str] = ()) -> None:
        self.name = label
        self.workdir = workdir
        self.src = src
        self.query = f"?{query}" if query else ""
        self.process = ControllerProcess(workdir / "state", extra_args=["--no-queues", *extra_args],
                                         log_path=workdir / "qos-controller.log")
        self.rest_port = self.process.rest_port
        self.ofp_port = self.process.ofp_port

    def start(self) -> None:
        saved = os.environ.get("PYTHONPATH")
        if self.src is not None:  # a source tree other than the installed one (e.g. with a proposed diff)
            os.environ["PYTHONPATH"] = str(self.src)
        try:
            self.process.start(timeout=30)
        finally:
            if saved is None:
                os.environ.pop("PYTHONPATH", None)
            else:
                os.environ["PYTHONPATH"] = saved
        self.pid = self.process.proc.pid  # type: ignore[union-attr]

    def stop(self) -> None:
        self.process.stop(timeout=10)

    def log_tail(self) -> str:
        return self.process.log_tail(20)

    def wait_switch(self, timeout: float = 30.0) -> float:
        def listed() -> bool:
            answer = self.call("GET", "/qos/switches")
            return answer.status == 200 and any(s.get("dpid") == DPID_COLONS for s in answer.body)
        return wait_until(listed, timeout, "br-bench in GET /qos/switches")

    def prepare(self) -> None:
        answer = self.call("POST", "/qos/enable")
        if answer.status != 200:
            raise RuntimeError(f"POST /qos/enable: HTTP {answer.status} {answer.body}")

    def policy(self, i: int) -> dict[str, Any]:
        return {"name": f"bench-{i}", "protocol": "6", "eth-type": "0x0800", "ip-src": rule_ip(i),
                "sw": DPID_COLONS, "queue": "1", "enqueue-port": "1"}

    def add_call(self, i: int) -> Call:
        return ("POST", f"/qos/policies{self.query}", self.policy(i))

    def add_error(self, status: int, body: Any) -> str | None:
        return None if status == 201 else f"HTTP {status}: {str(body)[:200]}"

    def rule_ref(self, i: int, body: Any) -> Any:
        return f"bench-{i}"

    def confirmed(self, body: Any) -> bool:
        views = body if isinstance(body, list) else [body]
        try:
            return all(v["install"] and all(s.get("state") == "installed" for s in v["install"].values())
                       for v in views)
        except (TypeError, KeyError, AttributeError):
            return False

    def list_call(self) -> Call:
        return ("GET", "/qos/policies", None)

    def count_rules(self, body: Any) -> int:
        return len(body) if isinstance(body, list) else 0

    def delete_call(self, ref: Any) -> Call:
        return ("DELETE", f"/qos/policies/{quote(ref, safe='')}", None)

    def delete_error(self, status: int, body: Any) -> str | None:
        return None if status == 200 else f"HTTP {status}: {str(body)[:200]}"

    def delete_all(self, refs: Sequence[Any]) -> tuple[LoadResult, str]:
        """One bulk DELETE if the API has it; otherwise one DELETE per policy on one connection."""
        probe = run_calls(self.rest_port, [("DELETE", f"/qos/policies{self.query}", {"all": True})],
                          keep_answers=True)
        if probe.answers and probe.answers[0].status == 200:
            return probe, "one DELETE /qos/policies {all: true}"
        calls = [self.delete_call(ref) for ref in refs]
        return run_calls(self.rest_port, calls, check=self.delete_error), \
            f"{len(calls)} x DELETE /qos/policies/NAME (no bulk delete in the API)"

    def bulk_call(self, indices: Sequence[int]) -> Call:
        return ("POST", f"/qos/policies{self.query}", [self.policy(i) for i in indices])
