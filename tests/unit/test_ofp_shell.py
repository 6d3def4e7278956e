"""The Ryu shell's bookkeeping without Ryu's app machinery, and the OpenFlow 1.0 encoding.

- `Outstanding`: flow-mod xid -> cookie, barrier xid -> cookies; a barrier
  reply confirms its batch and forgets every flow-mod up to it; an error's
  xid names the flow's cookie;
- `Multipart`: stats replies in parts are joined per (dpid, xid);
- `packet_in_fields`: ARP and IPv4 senders, non-IP frames;
- OpenFlow 1.0 bytes (packed by Ryu): read back field by field against
  the 1.0 spec (ofp_match, ofp_flow_mod, actions).
"""
from __future__ import annotations

import struct
from dataclasses import replace
from types import SimpleNamespace

import pytest

import qosapp.main.compat  # noqa: F401
from ryu.lib.packet import arp, ethernet, ipv4, ipv6, packet
from ryu.ofproto import ofproto_v1_0, ofproto_v1_0_parser

from qosapp.core.compiler import NORMAL, OF10, FlowDelete, FlowSpec, compile_policy
from qosapp.core.controller import WIPE
from qosapp.core.model import parse_policy
from qosapp.core.switchstate import Outstanding
from qosapp.ofp import ofmsgs
from qosapp.ofp.shell import Multipart, error_reason, packet_in_fields, port_names, reply_more


# ---------------------------------------------------------------- xids and barriers
def test_barrier_reply_confirms_its_batch_and_forgets_its_flow_mods() -> None:
    book = Outstanding()
    for xid, cookie in ((10, 0x51 << 56 | 1), (11, 0x51 << 56 | 2)):
        book.flow_mod(xid, cookie)
    book.barrier(12, [0x51 << 56 | 1, 0x51 << 56 | 2])
    book.flow_mod(13, 0x50 << 56 | 1)
    book.barrier(14, [0x50 << 56 | 1])
    assert book.cookie_of(11) == 0x51 << 56 | 2  # an OFPT_ERROR for xid 11 names policy 2
    assert book.barrier_reply(99) is None  # not ours (e.g. Ryu's own)
    assert book.barrier_reply(12) == [0x51 << 56 | 1, 0x51 << 56 | 2]
    assert book.cookie_of(11) is None and book.cookie_of(13) == 0x50 << 56 | 1
    assert book.barrier_reply(12) is None  # answered once
    assert book.barrier_reply(14) == [0x50 << 56 | 1] and book.flow_mods == {} and book.barriers == {}


# ---------------------------------------------------------------- multipart replies
def test_multipart_parts_are_joined_per_switch_and_xid() -> None:
    parts = Multipart()
    assert parts.add(1, 7, ["a"], more=True) is None
    assert parts.add(2, 7, ["x"], more=False) == ["x"]  # another switch, same xid: its own reply
    assert parts.add(1, 7, ["b"], more=True) is None
    assert parts.add(1, 7, ["c"], more=False) == ["a", "b", "c"]
    assert parts.partial == {}
    parts.add(3, 1, ["half"], more=True)
    parts.forget(3)
    assert parts.partial == {}


def test_reply_more_reads_the_flag_of_either_version() -> None:
    of10 = SimpleNamespace(datapath=SimpleNamespace(ofproto=ofproto_v1_0), flags=ofproto_v1_0.OFPSF_REPLY_MORE)
    assert reply_more(of10) is True
    from ryu.ofproto import ofproto_v1_3
    of13 = SimpleNamespace(datapath=SimpleNamespace(ofproto=ofproto_v1_3), flags=0)
    assert reply_more(of13) is False


# ---------------------------------------------------------------- packet-in
def frame(*protocols: object) -> bytes:
    pkt = packet.Packet()
    for proto in protocols:
        pkt.add_protocol(proto)
    pkt.serialize()
    return bytes(pkt.data)


def test_packet_in_arp_gives_the_sender_ip() -> None:
    data = frame(ethernet.ethernet("ff:ff:ff:ff:ff:ff", "00:00:00:00:00:01", 0x0806),
                 arp.arp(src_mac="00:00:00:00:00:01", src_ip="10.0.0.1", dst_mac="00:00:00:00:00:00",
                         dst_ip="10.0.0.2"))
    info = packet_in_fields(data)
    assert info is not None and (info.eth_src, info.eth_dst, info.eth_type, info.ip) == \
        ("00:00:00:00:00:01", "ff:ff:ff:ff:ff:ff", 0x0806, "10.0.0.1")


def test_packet_in_ipv4_gives_the_source_and_ipv6_none() -> None:
    data = frame(ethernet.ethernet("00:00:00:00:00:02", "00:00:00:00:00:01", 0x0800),
                 ipv4.ipv4(src="10.0.0.1", dst="10.0.0.2", proto=17))
    info = packet_in_fields(data)
    assert info is not None and info.ip == "10.0.0.1" and info.eth_type == 0x0800
    data6 = frame(ethernet.ethernet("33:33:00:00:00:02", "00:00:00:00:00:01", 0x86DD), ipv6.ipv6(src="fe80::1"))
    info6 = packet_in_fields(data6)
    assert info6 is not None and info6.ip is None and info6.eth_type == 0x86DD


def test_port_names_leave_reserved_ports_out_and_errors_read_as_names() -> None:
    ports = {1: SimpleNamespace(name=b"s1-eth1"), ofproto_v1_0.OFPP_LOCAL: SimpleNamespace(name=b"s1")}
    assert port_names(SimpleNamespace(ofproto=ofproto_v1_0, ports=ports)) == {1: "s1-eth1"}
    msg = SimpleNamespace(type=ofproto_v1_0.OFPET_BAD_ACTION, code=ofproto_v1_0.OFPBAC_BAD_QUEUE)
    assert error_reason(ofproto_v1_0, msg) == "OFPET_BAD_ACTION(2)/OFPBAC_BAD_QUEUE(8)"
    assert error_reason(ofproto_v1_0, SimpleNamespace(type=99, code=7)) == "Unknown(99)/Unknown(7)"
    assert error_reason(SimpleNamespace(), msg) == "error type 2 code 8"  # no name tables: the numbers


# ---------------------------------------------------------------- OpenFlow 1.0 encoding
class Of10Datapath:
    ofproto = ofproto_v1_0
    ofproto_parser = ofproto_v1_0_parser
    id = 1
    xid = 0


HEADER = struct.Struct("!BBHI")
MATCH = struct.Struct("!IH6s6sHBxHBBxx4s4sHH")  # ofp_match, 40 bytes
FLOW_MOD = struct.Struct("!QHHHHIHH")  # cookie command idle hard priority buffer_id out_port flags


def decode(buf: bytes) -> dict[str, object]:
    version, msg_type, length, xid = HEADER.unpack_from(buf, 0)
    assert (version, msg_type, length) == (0x01, ofproto_v1_0.OFPT_FLOW_MOD, len(buf))
    (wildcards, in_port, dl_src, dl_dst, dl_vlan, dl_pcp, dl_type, nw_tos, nw_proto, nw_src, nw_dst,
     tp_src, tp_dst) = MATCH.unpack_from(buf, 8)
    cookie, command, _idle, _hard, priority, _buffer, out_port, _flags = FLOW_MOD.unpack_from(buf, 48)
    actions, offset = [], 72
    while offset < len(buf):
        kind, alen = struct.unpack_from("!HH", buf, offset)
        if kind == ofproto_v1_0.OFPAT_ENQUEUE:
            port, queue = struct.unpack_from("!H6xI", buf, offset + 4)
            actions.append(("enqueue", port, queue))
        elif kind == ofproto_v1_0.OFPAT_SET_NW_TOS:
            actions.append(("set_nw_tos", buf[offset + 4]))
        elif kind == ofproto_v1_0.OFPAT_OUTPUT:
            actions.append(("output", struct.unpack_from("!H", buf, offset + 4)[0]))
        offset += alen
    return {"xid": xid, "wildcards": wildcards, "in_port": in_port, "dl_type": dl_type, "nw_tos": nw_tos,
            "nw_proto": nw_proto, "nw_src": ".".join(map(str, nw_src)), "nw_dst": ".".join(map(str, nw_dst)),
            "tp_dst": tp_dst, "cookie": cookie, "command": command, "priority": priority, "out_port": out_port,
            "actions": actions}


def src_mask_bits(wildcards: int) -> int:
    """How many low bits of nw_src are wildcarded (OFPFW_NW_SRC_MASK, shift 8)."""
    return (wildcards & ofproto_v1_0.OFPFW_NW_SRC_MASK) >> ofproto_v1_0.OFPFW_NW_SRC_SHIFT


def of10_flow(body: dict[str, object]) -> FlowSpec:
    policy = replace(parse_policy({"name": "p", **body}, {"Best Effort": 0, "Voice": 46}), id=3)
    return compile_policy(policy, 1, OF10, {"Best Effort": 0, "Voice": 46})[0]


def test_of10_queue_policy_is_an_exact_match_with_enqueue() -> None:
    spec = of10_flow({"ingress-port": 1, "eth-type": "0x0800", "protocol": 6, "ip-src": "10.0.0.1",
                      "queue": 2, "enqueue-port": 2})
    out = decode(ofmsgs.to_bytes(Of10Datapath(), spec, 77))
    assert out["xid"] == 77 and out["command"] == ofproto_v1_0.OFPFC_ADD and out["cookie"] == spec.cookie
    assert (out["in_port"], out["dl_type"], out["nw_proto"], out["nw_src"]) == (1, 0x0800, 6, "10.0.0.1")
    assert src_mask_bits(int(str(out["wildcards"]))) == 0  # /32: nothing of the source wildcarded
    assert out["actions"] == [("enqueue", 2, 2)] and out["priority"] == spec.priority


def test_of10_enqueue_in_port_is_ofpp_in_port() -> None:
    spec = of10_flow({"ingress-port": 1, "queue": 2, "enqueue-port": "in_port"})
    out = decode(ofmsgs.to_bytes(Of10Datapath(), spec, 5))
    assert out["actions"] == [("enqueue", ofproto_v1_0.OFPP_IN_PORT, 2)]


def test_of10_marking_sets_the_tos_byte_and_goes_normal() -> None:
    spec = of10_flow({"service": "Voice", "protocol": 17, "dst-port": 5060, "ip-src": "10.1.0.0/16"})
    out = decode(ofmsgs.to_bytes(Of10Datapath(), spec, 1))
    assert out["actions"] == [("set_nw_tos", 46 << 2), ("output", ofproto_v1_0.OFPP_NORMAL)]
    assert (out["nw_src"], src_mask_bits(int(str(out["wildcards"])))) == ("10.1.0.0", 16)
    assert out["tp_dst"] == 5060 and out["nw_proto"] == 17


def test_of10_dscp_match_is_the_tos_byte() -> None:
    spec = FlowSpec(cookie=0x5100000000000009, priority=100, match=(("eth_type", 0x0800), ("ip_dscp", 46)),
                    actions=(("output", NORMAL),))
    assert decode(ofmsgs.to_bytes(Of10Datapath(), spec, 1))["nw_tos"] == 46 << 2


def test_of10_deletes_strictly_and_wipes_but_never_by_cookie() -> None:
    spec = of10_flow({"protocol": 6, "queue": 1, "enqueue-port": 3})
    strict = decode(ofmsgs.to_bytes(Of10Datapath(), FlowDelete(cookie=spec.cookie, strict=spec), 5))
    assert strict["command"] == ofproto_v1_0.OFPFC_DELETE_STRICT and strict["priority"] == spec.priority
    assert strict["nw_proto"] == 6 and strict["out_port"] == ofproto_v1_0.OFPP_NONE and strict["actions"] == []
    wipe = decode(ofmsgs.to_bytes(Of10Datapath(), WIPE, 6))
    assert wipe["command"] == ofproto_v1_0.OFPFC_DELETE and wipe["wildcards"] == ofproto_v1_0.OFPFW_ALL
    with pytest.raises(ValueError, match="cannot delete by cookie"):
        ofmsgs.to_bytes(Of10Datapath(), FlowDelete(cookie=spec.cookie), 7)


def test_of10_barrier_request() -> None:
    buf = ofmsgs.barrier_bytes(Of10Datapath(), 42)
    assert HEADER.unpack(buf) == (0x01, ofproto_v1_0.OFPT_BARRIER_REQUEST, 8, 42)
