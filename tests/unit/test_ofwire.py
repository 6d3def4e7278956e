"""qosapp.ofp.ofwire must produce exactly the bytes Ryu's OFPFlowMod serialises to.

The reference is Ryu itself (ofmsgs.to_message + serialize), over every
policy shape the compiler emits on OpenFlow 1.3: queue and marking actions,
every match field, masked and exact prefixes, VLANs, TCP and UDP ports,
deletes by cookie and the cold-start wipe.
"""
from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

import qosapp.main.compat  # noqa: F401
from ryu.ofproto import ofproto_v1_3, ofproto_v1_3_parser

from qosapp.core import compiler
from qosapp.ofp import ofmsgs
from qosapp.ofp import ofwire
from qosapp.core.compiler import FlowDelete, FlowSpec
from qosapp.core.model import parse_policy

SERVICES = {"Best Effort": 0, "EF": 46}


class FakeDatapath:
    ofproto = ofproto_v1_3
    ofproto_parser = ofproto_v1_3_parser
    id = 1


def ryu_bytes(op: FlowSpec | FlowDelete, xid: int) -> bytes:
    msg = ofmsgs.to_message(FakeDatapath(), op)
    msg.set_xid(xid)
    msg.serialize()
    return bytes(msg.buf)


MATCHES = [
    {},
    {"ingress-port": "3"},
    {"eth-type": "0x0800", "protocol": "6", "ip-src": "10.0.0.1"},
    {"protocol": "17", "ip-src": "10.1.0.0/16", "ip-dst": "192.168.1.7", "src-port": "53", "dst-port": "5353"},
    {"protocol": "6", "dst-port": "80", "tos": "0xb8"},
    {"eth-src": "00:11:22:33:44:55", "eth-dst": "aa:bb:cc:dd:ee:ff", "vlan-id": "42"},
    {"ingress-port": "1", "eth-type": "0x0806"},
    {"ip-dst": "10.0.0.0/8", "ingress-port": "4294967040"},
]
ACTIONS = [{"queue": "2", "enqueue-port": "2"}, {"service": "EF"}, {"service": "Best Effort"}]


#: a marking policy needs IPv4, so ARP only goes with a queue
CASES = [(m, a) for m, a in itertools.product(MATCHES, ACTIONS) if not ("service" in a and "eth-type" in m
                                                                       and m["eth-type"] != "0x0800")]


@pytest.mark.parametrize(("match", "action"), CASES)
def test_policy_flow_bytes_equal_ryu(match: dict, action: dict) -> None:
    policy = parse_policy({"name": "p", **match, **action, "priority": "100"}, SERVICES)
    policy = replace(policy, id=7)
    for spec in compiler.compile_policy(policy, 1, compiler.OF13, SERVICES):
        assert ofwire.encode(spec, 0x1234) == ryu_bytes(spec, 0x1234)
    for op in compiler.delete_policy(policy, 1, compiler.OF13, SERVICES):
        assert ofwire.encode(op, 99) == ryu_bytes(op, 99)


def test_pipeline_forwarding_and_wipe_equal_ryu() -> None:
    for spec in compiler.pipeline_flows(compiler.OF13) + compiler.forwarding_flows(compiler.OF13):
        assert ofwire.encode(spec, 5) == ryu_bytes(spec, 5)
    assert ofwire.encode(FlowDelete(cookie=0), 6) == ryu_bytes(FlowDelete(cookie=0), 6)


def test_goto_table_equals_ryu_instruction() -> None:
    dp = FakeDatapath()
    ofp, parser = ofproto_v1_3, ofproto_v1_3_parser
    spec = FlowSpec(cookie=0x51 << 56 | 9, priority=10, match=(("eth_type", 0x0800), ("ip_dscp", 46)),
                    actions=(("set_field", "ip_dscp", 10), ("goto_table", 1)))
    inst = [parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, [parser.OFPActionSetField(ip_dscp=10)]),
            parser.OFPInstructionGotoTable(1)]
    msg = parser.OFPFlowMod(dp, cookie=spec.cookie, table_id=0, command=ofp.OFPFC_ADD, priority=10,
                            match=parser.OFPMatch(eth_type=0x0800, ip_dscp=46), instructions=inst)
    msg.set_xid(3)
    msg.serialize()
    assert ofwire.encode(spec, 3) == bytes(msg.buf)
    only_goto = FlowSpec(cookie=1, priority=0, match=(), actions=(("goto_table", 1),))
    msg = parser.OFPFlowMod(dp, cookie=1, priority=0, match=parser.OFPMatch(),
                            instructions=[parser.OFPInstructionGotoTable(1)])
    msg.set_xid(4)
    msg.serialize()
    assert ofwire.encode(only_goto, 4) == bytes(msg.buf)


def test_barrier_equals_ryu() -> None:
    msg = ofproto_v1_3_parser.OFPBarrierRequest(FakeDatapath())
    msg.set_xid(77)
    msg.serialize()
    assert ofwire.barrier(77) == bytes(msg.buf)


def test_unsupported_action_is_reported() -> None:
    with pytest.raises(ofwire.Unsupported):
        ofwire.encode(FlowSpec(cookie=1, priority=1, match=(), actions=(("group", 1),)), 1)


def test_forwarding_flows_equal_ryu() -> None:
    """The learned-forwarding shapes (table 1): LLDP/miss to the controller, ARP, flooding, unicast."""
    from qosapp.core import forwarding
    specs = forwarding.base_flows() + [
        FlowSpec(cookie=(0x52 << 56) | 1, priority=30, match=(("in_port", 3), ("eth_type", 0x0806)),
                 actions=(("output", forwarding.CONTROLLER),), table_id=1),
        FlowSpec(cookie=(0x52 << 56) | 2, priority=10, match=(("in_port", 2),),
                 actions=(("output", 1), ("output", 4), ("output", "IN_PORT")), table_id=1),
        FlowSpec(cookie=(0x52 << 56) | 3, priority=20, match=(("eth_dst", "00:00:00:00:00:02"),),
                 actions=(("output", 2),), table_id=1),
    ]
    for xid, spec in enumerate(specs, 1):
        assert ofwire.encode(spec, xid) == ryu_bytes(spec, xid)
