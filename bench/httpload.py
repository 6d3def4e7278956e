"""The benchmark's light HTTP client: `http.client` with keep-alive, nothing else.

Why not `requests`: its per-call overhead (sessions, adapters, header
merging) is larger than a controller's own work on a small POST, so it
would measure the client. Both controllers get this same client, one
connection per worker, kept open for the whole phase.
"""
from __future__ import annotations

import http.client
import json
import math
import statistics
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

#: (method, path, JSON body or None)
Call = tuple[str, str, Any]
#: turns one answer (status, decoded body) into an error text, or None when it is what we wanted
Check = Callable[[int, Any], str | None]


@dataclass
class Answer:
    """One HTTP exchange as the benchmark sees it."""

    status: int
    body: Any
    seconds: float


class KeepAliveClient:
    """One persistent HTTP/1.1 connection to 127.0.0.1:port."""

    def __init__(self, port: int, timeout: float = 120.0) -> None:
        self.port = port
        self.timeout = timeout
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def call(self, method: str, path: str, body: Any = None) -> Answer:
        """Send one request, read the whole answer (so the connection can be reused), time both."""
        payload = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        start = time.perf_counter()
        try:
            self.conn.request(method, path, body=payload, headers=headers)
            resp = self.conn.getresponse()
            raw = resp.read()
        except (http.client.HTTPException, ConnectionError):
            # the server closed a kept-alive connection: reconnect once, like any client would
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            self.conn.request(method, path, body=payload, headers=headers)
            resp = self.conn.getresponse()
            raw = resp.read()
        seconds = time.perf_counter() - start
        return Answer(resp.status, _decode(raw), seconds)

    def close(self) -> None:
        self.conn.close()


def _decode(raw: bytes) -> Any:
    """JSON when it is JSON (Ryu answers errors as plain text)."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


@dataclass
class LoadResult:
    """What a batch of calls gave: wall time, per-call latency, answers kept for the caller."""

    wall_s: float
    latencies: list[float]
    errors: list[str] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.wall_s if self.wall_s > 0 else math.inf

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies)
        return {"count": len(lat), "wall_s": round(self.wall_s, 3), "rate_per_s": round(self.rate, 1),
                "p50_ms": round(percentile(lat, 0.50) * 1000, 3), "p99_ms": round(percentile(lat, 0.99) * 1000, 3),
                "max_ms": round(lat[-1] * 1000, 3) if lat else None, "errors": len(self.errors),
                "first_error": self.errors[0] if self.errors else None}


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (nan when empty)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def run_calls(port: int, calls: Sequence[Call], workers: int = 1, check: Check | None = None,
              keep_answers: bool = False) -> LoadResult:
    """Run `calls` over `workers` keep-alive connections (worker k takes calls k, k+workers, ...).

    Wall time runs from the first request to the last answer. Each worker
    keeps its own latencies; `check` turns an unwanted answer into an error
    text (collected, never raised, so one bad answer does not hide the rest).
    """
    shards = [list(calls[k::workers]) for k in range(workers)]
    clients = [KeepAliveClient(port) for _ in range(workers)]
    results: list[list[Answer]] = [[] for _ in range(workers)]
    start_gate = threading.Barrier(workers + 1)

    def work(k: int) -> None:
        start_gate.wait()
        for method, path, body in shards[k]:
            results[k].append(clients[k].call(method, path, body))

    threads = [threading.Thread(target=work, args=(k,), daemon=True) for k in range(workers)]
    for thread in threads:
        thread.start()
    start_gate.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    for client in clients:
        client.close()
    answers: list[Answer] = [None] * len(calls)  # type: ignore[list-item]
    for k, per_worker in enumerate(results):  # back into call order: worker k did calls k, k+workers, ...
        answers[k::workers] = per_worker
    errors = []
    if check is not None:
        errors = [e for e in (check(a.status, a.body) for a in answers) if e is not None]
    return LoadResult(wall, [a.seconds for a in answers], errors, answers if keep_answers else [])


def median_ms(values: Sequence[float]) -> float:
    return round(statistics.median(values) * 1000, 3) if values else math.nan
