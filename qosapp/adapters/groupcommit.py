"""Group commit: the store's fdatasync in a worker thread, shared by every request waiting meanwhile.

Why: the controller is one eventlet thread. An fdatasync there (0.15-0.2 ms
on a virtio disk, much more on a busy one) blocks every greenthread, so a
barrier reply, the next request's parsing, anything, waits; and concurrent
requests each paid their own fsync (strace: ~1 per request with 8 clients).
Here the fsync runs through `offload` (eventlet's `tpool.execute`: a native
thread, the calling greenthread parked), and a request that needs its
commit durable while an fsync is in flight waits for that one and, if it
committed after that fsync began, for the next, which covers every request
that arrived meanwhile. No answer goes out before the fsync that covers its
commit has returned: `sync()` returns only then. A request alone (nobody
else waiting for an answer) fsyncs inline: there is nothing to share, and the
hand-off would only add its own cost.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Protocol


class Syncable(Protocol):
    @property
    def commits(self) -> int: ...

    @property
    def synced(self) -> int: ...

    def sync_point(self) -> tuple[int, int] | None: ...

    def mark_synced(self, covered: int) -> None: ...


class EventLike(Protocol):
    def set(self) -> Any: ...

    def wait(self, timeout: float | None = None) -> Any: ...


class GroupCommit:
    """`sync()` for many concurrent callers: at most one fdatasync in flight, each covering all before it."""

    def __init__(self, store: Syncable, offload: Callable[[Callable[[], None]], Any],
                 new_event: Callable[[], EventLike], busy: Callable[[], bool] = lambda: True) -> None:
        self.store = store
        self.offload = offload
        self.new_event = new_event
        #: are other requests waiting for their answers? If not, the fsync runs inline: the hand-off
        #: to the worker costs more CPU (~0.1-0.25 ms) than a lone request can win back
        self.busy = busy
        self._in_flight: EventLike | None = None
        #: fdatasyncs run, and sync() calls that needed one (their ratio: how much was shared)
        self.fsyncs = self.waits = 0

    def sync(self) -> bool:
        """Return once every commit made before this call is durable; whether this caller ran an fsync."""
        target = self.store.commits
        if self.store.synced >= target:
            return False
        self.waits += 1
        ran = False
        while self.store.synced < target:
            if self._in_flight is not None:
                self._in_flight.wait()  # it may not cover our commit (it began before it): loop
                continue
            point = self.store.sync_point()
            if point is None:
                break
            fd, covered = point
            if not self.busy():
                os.fdatasync(fd)
                self.store.mark_synced(covered)
                self.fsyncs += 1
                ran = True
                continue
            done = self._in_flight = self.new_event()
            try:
                self.offload(lambda: os.fdatasync(fd))
                self.store.mark_synced(covered)
                self.fsyncs += 1
                ran = True
            finally:
                self._in_flight = None
                done.set()
        return ran
