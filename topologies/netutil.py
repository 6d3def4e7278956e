"""Small loopback helpers shared by tests and the experiment runner: free ports, waiting for listeners.

Why here and not in a test file: the experiment runner starts the same
daemons (controller, OVSDB on TCP) and needs the same two primitives.
"""

from __future__ import annotations

import socket
from typing import Callable
import time


def free_tcp_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the kernel picks it; there is a small race until it is used)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_tcp_listening(port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> bool:
    """Poll until something accepts connections on host:port; False once ``timeout`` has passed.

    Used instead of fixed sleeps so a slow start costs only the time it takes.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.2,
               ignore: tuple[type[BaseException], ...] = ()) -> float:
    """Poll `predicate` until it holds; returns the seconds that took.

    AssertionError naming `what` after `timeout` seconds. An exception of
    a type in `ignore` counts as "not yet" (e.g. OSError while a server starts).
    """
    start = time.monotonic()
    deadline = start + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return time.monotonic() - start
        except ignore:
            pass
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
