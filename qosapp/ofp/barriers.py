"""Barrier replies to our own barriers, taken in the switch connection's receive loop.

Why: every confirmed REST request waits for one barrier reply, and Ryu
hands each received message on the long way: its parser builds a message
object, `ofp_event` wraps it in an event, every observing application gets
it through its event queue (a semaphore and a queue put), and a switch to
that application's event greenthread runs `get_handlers` before our
handler. A barrier reply is eight bytes whose only content is its xid.

How: Ryu's receive loop (`ryu.controller.controller.Datapath._recv_loop`)
calls `ofproto_parser.header` and `ofproto_parser.msg` through its module
global; `install` replaces that global (that module's only) with
`ParserShim`, which offers every barrier reply to `take(datapath, xid)`
first. `take` answers True only for a barrier this controller sent and
is still waiting for, and only while the application's event queue is
empty, so an earlier message of the same switch still queued (an
OFPT_ERROR for one of the batch's flows) is never overtaken: then, and for
every other message, Ryu parses and dispatches as before, and
`QosApp._barrier_reply` handles it as an event.
"""
from __future__ import annotations

from typing import Any, Callable

from ryu.base import app_manager  # noqa: F401  (loaded before ryu.controller.controller, which needs it)
from ryu.controller import controller as ryu_controller
from ryu.ofproto import ofproto_parser, ofproto_v1_0, ofproto_v1_3

#: OpenFlow version -> its OFPT_BARRIER_REPLY message type
BARRIER_REPLY = {ofproto_v1_0.OFP_VERSION: ofproto_v1_0.OFPT_BARRIER_REPLY,
                 ofproto_v1_3.OFP_VERSION: ofproto_v1_3.OFPT_BARRIER_REPLY}
Take = Callable[[Any, int], bool]


class ParserShim:
    """`ryu.ofproto.ofproto_parser` as Ryu's receive loop uses it, barrier replies offered to `take` first."""

    def __init__(self, take: Take) -> None:
        self.take = take
        self.header = ofproto_parser.header

    def msg(self, datapath: Any, version: int, msg_type: int, msg_len: int, xid: int, buf: Any) -> Any:
        """None (nothing for Ryu to dispatch) when `take` handled the barrier reply; else Ryu's message."""
        if BARRIER_REPLY.get(version) == msg_type and self.take(datapath, xid):
            return None
        return ofproto_parser.msg(datapath, version, msg_type, msg_len, xid, buf)


def install(take: Take) -> None:
    """Route the receive loop's barrier replies through `take` (the last caller's, one per process)."""
    ryu_controller.ofproto_parser = ParserShim(take)  # type: ignore[assignment]
