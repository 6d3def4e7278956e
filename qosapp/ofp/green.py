"""The service as the Ryu process runs it: eventlet's lock, event and yield (via ryu.lib.hub)."""
from __future__ import annotations

from ryu.lib import hub

from qosapp.core.controller import QosCore
from qosapp.core.shaping import QueueBackend
from qosapp.service import QosService, Sender


def green_service(core: QosCore, send: Sender | None = None, queues: QueueBackend | None = None) -> QosService:
    """A `QosService` whose lock and confirmation waits cooperate with eventlet's green threads."""
    return QosService(core, send=send, queues=queues, lock=hub.BoundedSemaphore(1), new_event=hub.Event,
                      pause=lambda: hub.sleep(0))
