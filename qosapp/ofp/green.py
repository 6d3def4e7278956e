"""The service as the Ryu process runs it: eventlet's lock, event and yield (via ryu.lib.hub)."""
from __future__ import annotations

from typing import Any, Callable

from eventlet import hubs, patcher
from ryu.lib import hub

from qosapp.adapters.groupcommit import GroupCommit
from qosapp.adapters.store import Store
from qosapp.core.controller import QosCore
from qosapp.core.shaping import QueueBackend
from qosapp.service import QosService, Sender

_os = patcher.original("os")
_threading = patcher.original("threading")


class NativeWorker:
    """One native thread that runs a blocking call while the calling greenthread waits, the hub free.

    Why not eventlet's `tpool.execute`: measured here it adds ~0.3 ms of CPU
    per call (queues, locks, a thread pool); this is two pipe writes and one
    wake-up of the hub, ~0.1 ms. One call at a time: its one user,
    `GroupCommit`, keeps at most one fdatasync in flight.
    """

    def __init__(self, name: str) -> None:
        self._req_r, self._req_w = _os.pipe()
        self._done_r, self._done_w = _os.pipe()
        _os.set_blocking(self._done_r, False)
        self._job: Callable[[], Any] | None = None
        self._error: BaseException | None = None
        _threading.Thread(target=self._run, name=name, daemon=True).start()

    def _run(self) -> None:
        while True:
            _os.read(self._req_r, 1)
            try:
                self._job()  # type: ignore[misc]
                self._error = None
            except BaseException as err:  # handed to the caller, raised in its greenthread
                self._error = err
            _os.write(self._done_w, b"x")

    def __call__(self, job: Callable[[], Any]) -> None:
        self._job = job
        _os.write(self._req_w, b"x")
        while True:
            try:
                _os.read(self._done_r, 1)
                break
            except BlockingIOError:
                hubs.trampoline(self._done_r, read=True)
        error, self._error = self._error, None
        if error is not None:
            raise error


def green_service(core: QosCore, send: Sender | None = None, queues: QueueBackend | None = None,
                  coalesce_topology: bool = False) -> QosService:
    """A `QosService` whose lock and confirmation waits cooperate with eventlet's green threads.

    A SQLite store's fdatasync runs in a native thread, shared by concurrent
    requests (group commit), so it no longer stops the hub. `coalesce_topology`
    (the controller): topology work runs once per burst of events, in a
    greenthread spawned when the first of them arrives, and flushes are
    spaced (`QosService._flush_wait`).
    """
    service = QosService(core, send=send, queues=queues, lock=hub.BoundedSemaphore(1), new_event=hub.Event,
                         pause=lambda: hub.sleep(0),
                         later=(lambda fn: hub.spawn(fn)) if coalesce_topology else None,
                         later_after=(lambda delay, fn: hub.spawn_after(delay, fn)) if coalesce_topology else None)
    if isinstance(core.store, Store) and core.store.deferred_sync:
        # busy: another request is waiting for its switch confirmation (one listener is the caller's own)
        service.sync_store = GroupCommit(core.store, NativeWorker("qos-fsync"), hub.Event,
                                         busy=lambda: len(service.confirm_listeners) > 1).sync
    return service
