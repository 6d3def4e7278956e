"""Start and stop a real `qos-controller` process (experiments and tests).

The process is ours: we keep its PID and stop only that PID. Readiness is
"GET /qos/status answers", not a sleep.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from topologies.netutil import free_tcp_port


def controller_command() -> list[str]:
    """`qos-controller` from the same venv as the running interpreter."""
    script = Path(sys.executable).with_name("qos-controller")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "qosapp.main.launcher"]


class ControllerProcess:
    """One qos-controller with its own state dir, REST and OpenFlow ports."""

    def __init__(self, state_dir: str | os.PathLike, rest_port: int | None = None,
                 ofp_port: int | None = None, ovsdb: str | None = None,
                 log_path: str | os.PathLike | None = None, extra_args: list[str] | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.rest_port = rest_port or free_tcp_port()
        self.ofp_port = ofp_port or free_tcp_port()
        self.ovsdb = ovsdb
        self.log_path = Path(log_path) if log_path else self.state_dir / "controller.log"
        self.extra_args = extra_args or []
        #: sent with every request(), e.g. {"Authorization": "Bearer ..."} for a controller with a token
        self.headers: dict[str, str] = {}
        #: for a controller started with --rest-cert: the context that trusts its certificate
        self.ssl_context: Any = None
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.ssl_context else 'http'}://127.0.0.1:{self.rest_port}"

    def start(self, timeout: float = 20.0) -> "ControllerProcess":
        self.state_dir.mkdir(parents=True, exist_ok=True)
        cmd = [*controller_command(), "--state-dir", str(self.state_dir),
               "--rest-port", str(self.rest_port), "--ofp-port", str(self.ofp_port), "--ofp-host", "127.0.0.1"]
        if self.ovsdb:
            cmd += ["--ovsdb", self.ovsdb]
        cmd += self.extra_args
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        (self.state_dir / "controller.pid").write_text(str(self.proc.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"qos-controller exited with {self.proc.returncode}; log: {self.log_tail()}")
            try:
                self.request("GET", "/qos/status")
                return self
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"qos-controller did not answer within {timeout}s; log: {self.log_tail()}")

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM our PID, SIGKILL it if it does not go."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout)

    def kill(self) -> None:
        """SIGKILL: a crash, for restart tests."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def request(self, method: str, path: str, body: Any = None, timeout: float = 10) -> tuple[int, Any]:
        """A small JSON HTTP call; returns (status, decoded body)."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {**self.headers, **({"Content-Type": "application/json"} if data else {})}
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self.ssl_context) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            payload = err.read()
            return err.code, json.loads(payload) if payload else None

    def __enter__(self) -> "ControllerProcess":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
