"""Start and stop etcd members on loopback (tests, benchmarks, the README's one-machine recipe).

Debian's `etcd-server` (3.4) provides /usr/bin/etcd; nothing runs as a
service. Each member gets free loopback ports and its own data directory;
we keep its PID and stop only that PID. A member is "up" when its
`/health` answers `{"health": "true"}` (for a cluster: once it has a leader).

The limits are raised for qos-sdn's bulk POST, which is one transaction:
`--max-txn-ops` (etcd's default 128) and `--max-request-bytes` (1.5 MiB).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from topologies.netutil import free_tcp_port

ETCD = shutil.which("etcd") or "/usr/bin/etcd"
#: room for a 20,000-policy bulk POST in one transaction (two puts per policy)
MAX_TXN_OPS = 100_000
MAX_REQUEST_BYTES = 64 * 1024 * 1024


class EtcdMember:
    """One etcd process: name, client and peer ports, data dir, log."""

    def __init__(self, name: str, data_dir: Path, client_port: int | None = None,
                 peer_port: int | None = None) -> None:
        self.name = name
        self.data_dir = Path(data_dir)
        self.client_port = client_port or free_tcp_port()
        self.peer_port = peer_port or free_tcp_port()
        self.log_path = self.data_dir.parent / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def client_url(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    def command(self, initial_cluster: str, state: str) -> list[str]:
        return [ETCD, "--name", self.name, "--data-dir", str(self.data_dir),
                "--listen-client-urls", self.client_url, "--advertise-client-urls", self.client_url,
                "--listen-peer-urls", self.peer_url, "--initial-advertise-peer-urls", self.peer_url,
                "--initial-cluster", initial_cluster, "--initial-cluster-state", state,
                "--initial-cluster-token", "qos-sdn-test",
                "--max-txn-ops", str(MAX_TXN_OPS), "--max-request-bytes", str(MAX_REQUEST_BYTES),
                "--heartbeat-interval", "100", "--election-timeout", "1000", "--logger", "zap"]

    def start(self, initial_cluster: str, state: str = "new") -> None:
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.command(initial_cluster, state), stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        log.close()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.client_url + "/health", timeout=1) as resp:
                return bool(json.loads(resp.read()).get("health") == "true")
        except (OSError, ValueError):
            return False

    def kill(self) -> None:
        """SIGKILL our PID (a crash)."""
        if self.alive():
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait(5)

    def stop(self, timeout: float = 5.0) -> None:
        if not self.alive():
            return
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


class EtcdCluster:
    """`size` members on loopback under `workdir` (1 for a unit of the store, 3 for a cluster)."""

    def __init__(self, workdir: str | os.PathLike[str], size: int = 1) -> None:
        self.workdir = Path(workdir)
        self.members = [EtcdMember(f"etcd{i + 1}", self.workdir / f"etcd{i + 1}.data") for i in range(size)]

    @property
    def initial_cluster(self) -> str:
        return ",".join(f"{m.name}={m.peer_url}" for m in self.members)

    @property
    def endpoints(self) -> list[str]:
        return [m.endpoint for m in self.members]

    @property
    def url(self) -> str:
        """The controller's `--store` value: etcd://host:port,host:port,..."""
        return "etcd://" + ",".join(self.endpoints)

    def start(self, timeout: float = 20.0) -> "EtcdCluster":
        for member in self.members:
            member.start(self.initial_cluster)
        self.wait_healthy(self.members, timeout)
        return self

    def restart(self, member: EtcdMember, timeout: float = 20.0) -> None:
        """Start a stopped member again on its data dir (it rejoins)."""
        member.start(self.initial_cluster, state="existing")
        self.wait_healthy([member], timeout)

    def wait_healthy(self, members: list[EtcdMember], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dead = [m for m in members if not m.alive()]
            if dead:
                raise RuntimeError(f"etcd member {dead[0].name} exited: {dead[0].log_tail()}")
            if all(m.healthy() for m in members):
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"etcd not healthy within {timeout}s: {self.members[0].log_tail()}")

    def stop(self) -> None:
        for member in self.members:
            member.stop()

    def __enter__(self) -> "EtcdCluster":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
