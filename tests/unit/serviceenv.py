"""A QosService over a real SQLite store in a temp dir, with a recording `send` (for unit tests)."""
from __future__ import annotations

from typing import Any, Callable

from qosapp.adapters.store import Store
from qosapp.core.controller import QosCore
from qosapp.core.fabric import LEARNED
from qosapp.core.shaping import QueueBackend
from qosapp.service import QosService


def make_service(state_dir: str, send: Callable[[int, list[Any]], None] | None = None,
                 queues: QueueBackend | None = None, forwarding: str = LEARNED, green: bool = False) -> QosService:
    """The controller as the Ryu app builds it, minus Ryu; `green`: eventlet's lock and waits."""
    core = QosCore(Store(state_dir), manage_queues=queues is not None, forwarding=forwarding)
    if hasattr(send, "version_of"):  # a FakeSwitches: its tables take each switch's version from this core
        send.version_of = lambda dpid: core.switches[dpid].version
    if green:
        from qosapp.ofp.green import green_service
        return green_service(core, send=send, queues=queues)
    return QosService(core, send=send, queues=queues)
