"""A private Prometheus server (Debian's `prometheus`) that scrapes one qos-controller.

Loopback only, a free port, its own data directory and scrape config; the
process is ours and is stopped by its PID. Readiness is "/-/ready answers"
and "the controller target is up", not a sleep.
"""
from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from topologies.netutil import free_tcp_port
from topologies.traffic import stop_process

PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"


def scrape_config(target: str, interval: float = 1.0, token_file: str | os.PathLike | None = None) -> str:
    """prometheus.yml for one job `qos-sdn` scraping `target` (host:port) at /metrics (YAML is a JSON superset)."""
    job: dict[str, Any] = {"job_name": "qos-sdn", "metrics_path": "/metrics", "scrape_interval": f"{interval:g}s",
                           "scrape_timeout": f"{interval:g}s", "static_configs": [{"targets": [target]}]}
    if token_file is not None:
        job["authorization"] = {"type": "Bearer", "credentials_file": str(token_file)}
    return json.dumps({"global": {"scrape_interval": f"{interval:g}s", "evaluation_interval": f"{interval:g}s"},
                       "scrape_configs": [job]}, indent=2) + "\n"


class PrometheusProcess:
    """`prometheus` on 127.0.0.1:<free port>, data and config under `workdir`."""

    def __init__(self, workdir: str | os.PathLike, target: str, interval: float = 1.0,
                 token_file: str | os.PathLike | None = None, port: int | None = None) -> None:
        self.workdir = Path(workdir)
        self.target = target
        self.interval = interval
        self.token_file = token_file
        self.port = port or free_tcp_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "prometheus.log"

    def start(self, timeout: float = 30.0) -> "PrometheusProcess":
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "prometheus.yml"
        config.write_text(scrape_config(self.target, self.interval, self.token_file))
        check = subprocess.run([PROMTOOL, "check", "config", str(config)], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"promtool check config: {check.stdout}{check.stderr}")
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={self.workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--storage.tsdb.retention.time=1h",
             "--log.level=info"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"prometheus not ready within {timeout}s: {self.log_tail()}")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM our PID (Prometheus shuts down cleanly on it), SIGKILL if it lingers."""
        if self.proc is not None:
            stop_process(self.proc, timeout)

    def __enter__(self) -> "PrometheusProcess":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def api(self, path: str, **params: Any) -> Any:
        """GET /api/v1/<path>; the `data` of a successful answer."""
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=10) as resp:
            answer = json.loads(resp.read())
        if answer.get("status") != "success":
            raise RuntimeError(f"prometheus {path}: {answer}")
        return answer["data"]

    def query(self, promql: str, at: float | None = None) -> list[dict[str, Any]]:
        """An instant query's vector (at Unix time `at`, default now)."""
        data = self.api("query", query=promql, time=None if at is None else f"{at:.3f}")
        return data["result"]

    def target_health(self) -> list[dict[str, Any]]:
        return self.api("targets")["activeTargets"]

    def wait_target_up(self, timeout: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        targets: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            targets = self.target_health()
            if targets and all(t["health"] == "up" for t in targets):
                return targets[0]
            time.sleep(0.3)
        raise RuntimeError(f"scrape target not up within {timeout}s: {json.dumps(targets)}")
