"""Barrier replies taken in the receive loop (qosapp.ofp.barriers) and QosApp.take_barrier's rules."""
from __future__ import annotations

import struct
from types import SimpleNamespace
from typing import Any

import qosapp.main.compat  # noqa: F401
from qosapp.ofp import barriers  # before ryu.controller.controller: it loads what that needs first
from ryu.controller import controller as ryu_controller
from ryu.controller.handler import CONFIG_DISPATCHER, MAIN_DISPATCHER
from ryu.ofproto import ofproto_parser, ofproto_v1_0, ofproto_v1_0_parser, ofproto_v1_3, ofproto_v1_3_parser

from qosapp.core.switchstate import Outstanding
from qosapp.ofp.app import QosApp

HEADER = struct.Struct("!BBHI")


def datapath(version: int = ofproto_v1_3.OFP_VERSION, dpid: int = 1, state: str = MAIN_DISPATCHER) -> Any:
    proto, parser = ((ofproto_v1_3, ofproto_v1_3_parser) if version == ofproto_v1_3.OFP_VERSION
                     else (ofproto_v1_0, ofproto_v1_0_parser))
    return SimpleNamespace(id=dpid, ofproto=proto, ofproto_parser=parser, state=state)


def message(dp: Any, msg_type: int, xid: int, body: bytes = b"") -> Any:
    buf = bytearray(HEADER.pack(dp.ofproto.OFP_VERSION, msg_type, 8 + len(body), xid) + body)
    return dp.ofproto.OFP_VERSION, msg_type, len(buf), xid, buf


def test_barrier_replies_go_to_take_first_and_the_rest_to_ryu() -> None:
    offered: list[tuple[Any, int]] = []
    answer = [True]
    shim = barriers.ParserShim(lambda dp, xid: offered.append((dp, xid)) or answer[0])
    for version in (ofproto_v1_3.OFP_VERSION, ofproto_v1_0.OFP_VERSION):
        dp = datapath(version)
        reply = message(dp, dp.ofproto.OFPT_BARRIER_REPLY, 7)
        assert shim.msg(dp, *reply) is None and offered[-1] == (dp, 7)
        answer[0] = False  # not ours (or something queued before it): Ryu's own message object
        assert isinstance(shim.msg(dp, *reply), dp.ofproto_parser.OFPBarrierReply)
        answer[0] = True
        offered.clear()
        echo = shim.msg(dp, *message(dp, dp.ofproto.OFPT_ECHO_REPLY, 8, b"hi"))
        assert isinstance(echo, dp.ofproto_parser.OFPEchoReply) and offered == []
    assert shim.header is ofproto_parser.header


def test_install_replaces_only_the_receive_loops_parser() -> None:
    saved = ryu_controller.ofproto_parser
    try:
        barriers.install(lambda dp, xid: False)
        assert isinstance(ryu_controller.ofproto_parser, barriers.ParserShim)
        assert ofproto_parser.msg is not ryu_controller.ofproto_parser.msg  # the module itself is untouched
    finally:
        ryu_controller.ofproto_parser = saved


class Events:
    def __init__(self, queued: int = 0) -> None:
        self.queued = queued

    def empty(self) -> bool:
        return self.queued == 0


def shell(dp: Any, queued: int = 0) -> Any:
    """What take_barrier reads of a QosApp, with a recording service."""
    confirmed: list[tuple[int, list[int]]] = []
    book = Outstanding()
    book.flow_mod(5, 0x51 << 56 | 1)
    book.barrier(6, [0x51 << 56 | 1])
    app = SimpleNamespace(outstanding={dp.id: book}, datapaths={dp.id: dp}, events=Events(queued),
                          core=SimpleNamespace(flows_confirmed=lambda dpid, cookies: confirmed.append((dpid, cookies))),
                          confirmed=confirmed)
    app._confirm = lambda dpid, xid: QosApp._confirm(app, dpid, xid)  # type: ignore[arg-type]
    return app


def test_take_barrier_confirms_our_barrier_when_nothing_is_queued_before_it() -> None:
    dp = datapath()
    app = shell(dp)
    assert QosApp.take_barrier(app, dp, 99) is False  # not a barrier of ours: Ryu's way
    assert QosApp.take_barrier(app, dp, 6) is True
    assert app.confirmed == [(1, [0x51 << 56 | 1])] and app.outstanding[1].flow_mods == {}
    assert QosApp.take_barrier(app, dp, 6) is False  # answered once


def test_take_barrier_leaves_it_to_the_event_queue_when_anything_waits_there() -> None:
    dp = datapath()
    app = shell(dp, queued=1)  # e.g. an OFPT_ERROR for a flow of the same batch, not yet handled
    assert QosApp.take_barrier(app, dp, 6) is False and app.confirmed == []
    assert 6 in app.outstanding[1].barriers  # still there for _barrier_reply


def test_take_barrier_only_for_the_connected_datapath_in_main_state() -> None:
    dp = datapath()
    app = shell(dp)
    assert QosApp.take_barrier(app, datapath(state=CONFIG_DISPATCHER), 6) is False
    assert QosApp.take_barrier(app, datapath(), 6) is False  # another connection with the same dpid
    assert app.confirmed == []


def test_a_failing_handler_is_logged_and_the_loop_goes_on(caplog: Any) -> None:
    dp = datapath()
    app = shell(dp)

    def broken(dpid: int, cookies: list[int]) -> None:
        raise RuntimeError("boom")

    app.core.flows_confirmed = broken
    assert QosApp.take_barrier(app, dp, 6) is True
    assert "handling barrier reply xid 6 failed" in caplog.text
