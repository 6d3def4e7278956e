"""Flow specs (plain data from `qosapp.core.compiler`) -> Ryu OpenFlow messages.

This is the only place that knows Ryu's parser classes for flows. It is a
translation table, not logic: what to install was decided by the core.
"""
from __future__ import annotations

import ipaddress
from typing import Any

from qosapp.ofp import ofwire
from qosapp.core.compiler import NORMAL, OF10, FlowDelete, FlowOp, FlowSpec
from qosapp.core.meters import MeterMod

#: OXM name -> OF1.0 match argument
OF10_MATCH = {"in_port": "in_port", "eth_type": "dl_type", "eth_src": "dl_src", "eth_dst": "dl_dst",
              "vlan_vid": "dl_vlan", "vlan_pcp": "dl_vlan_pcp", "ip_proto": "nw_proto", "ipv4_src": "nw_src",
              "ipv4_dst": "nw_dst", "ip_dscp": "nw_tos", "tp_src": "tp_src", "tp_dst": "tp_dst"}
OF13_TCP_UDP = {6: ("tcp_src", "tcp_dst"), 17: ("udp_src", "udp_dst")}


RESERVED_PORTS = {NORMAL: "OFPP_NORMAL", "CONTROLLER": "OFPP_CONTROLLER", "IN_PORT": "OFPP_IN_PORT",
                  "ALL": "OFPP_ALL", "FLOOD": "OFPP_FLOOD", "LOCAL": "OFPP_LOCAL"}
#: OF1.0 rewrite actions of static flow entries (`qosapp.core.staticflows`): kind -> parser class
OF10_SETTERS = {"set_vlan_vid": "OFPActionVlanVid", "set_vlan_pcp": "OFPActionVlanPcp",
                "set_eth_src": "OFPActionSetDlSrc", "set_eth_dst": "OFPActionSetDlDst",
                "set_ipv4_src": "OFPActionSetNwSrc", "set_ipv4_dst": "OFPActionSetNwDst",
                "set_tp_src": "OFPActionSetTpSrc", "set_tp_dst": "OFPActionSetTpDst"}


def _port(ofp: Any, port: Any) -> int:
    return getattr(ofp, RESERVED_PORTS[port]) if port in RESERVED_PORTS else int(port)


def match_of10(parser: Any, fields: dict[str, Any]) -> Any:
    kwargs: dict[str, Any] = {}
    for name, value in fields.items():
        arg = OF10_MATCH[name]
        if name in ("ipv4_src", "ipv4_dst"):
            net = ipaddress.IPv4Network(value)
            kwargs[arg] = str(net.network_address)
            kwargs[arg + "_mask"] = net.prefixlen
        elif name == "ip_dscp":
            kwargs[arg] = value << 2  # OF1.0 matches the ToS byte
        else:
            kwargs[arg] = value
    return parser.OFPMatch(**kwargs)


def match_of13(ofp: Any, parser: Any, fields: dict[str, Any]) -> Any:
    kwargs: dict[str, Any] = {}
    for name, value in fields.items():
        if name in ("ipv4_src", "ipv4_dst"):
            net = ipaddress.IPv4Network(value)
            kwargs[name] = (str(net.network_address), str(net.netmask)) if net.prefixlen < 32 \
                else str(net.network_address)
        elif name in ("ipv6_src", "ipv6_dst"):
            net6 = ipaddress.IPv6Network(value)
            kwargs[name] = (str(net6.network_address), str(net6.netmask)) if net6.prefixlen < 128 \
                else str(net6.network_address)
        elif name == "vlan_vid":
            kwargs[name] = value | ofp.OFPVID_PRESENT
        elif name in ("tp_src", "tp_dst"):
            src, dst = OF13_TCP_UDP[fields["ip_proto"]]
            kwargs[src if name == "tp_src" else dst] = value
        else:
            kwargs[name] = value
    return parser.OFPMatch(**kwargs)


def actions_of10(ofp: Any, parser: Any, actions: tuple) -> list[Any]:
    out = []
    for action in actions:
        kind = action[0]
        if kind == "enqueue":
            out.append(parser.OFPActionEnqueue(port=_port(ofp, action[1]), queue_id=int(action[2])))
        elif kind == "set_nw_tos":
            out.append(parser.OFPActionSetNwTos(action[1]))
        elif kind == "output":
            out.append(parser.OFPActionOutput(_port(ofp, action[1]), max_len=0xFFFF))
        elif kind == "strip_vlan":
            out.append(parser.OFPActionStripVlan())
        elif kind in OF10_SETTERS:
            out.append(getattr(parser, OF10_SETTERS[kind])(_of10_value(kind, action[1])))
        else:
            raise ValueError(f"action {kind!r} has no OpenFlow 1.0 encoding")
    return out


def _of10_value(kind: str, value: Any) -> Any:
    """What Ryu's OF1.0 setter takes: MACs as bytes, IPv4 addresses as integers, the rest as is."""
    if kind in ("set_eth_src", "set_eth_dst"):
        return bytes.fromhex(value.replace(":", ""))
    if kind in ("set_ipv4_src", "set_ipv4_dst"):
        return int(ipaddress.IPv4Address(value))
    return value


def actions_of13(ofp: Any, parser: Any, actions: tuple) -> list[Any]:
    out = []
    for action in actions:
        kind = action[0]
        if kind == "set_queue":
            out.append(parser.OFPActionSetQueue(int(action[1])))
        elif kind == "set_field":
            value = action[2] | ofp.OFPVID_PRESENT if action[1] == "vlan_vid" else action[2]
            out.append(parser.OFPActionSetField(**{action[1]: value}))
        elif kind == "push_vlan":
            out.append(parser.OFPActionPushVlan(int(action[1])))
        elif kind == "pop_vlan":
            out.append(parser.OFPActionPopVlan())
        elif kind == "output":
            out.append(parser.OFPActionOutput(_port(ofp, action[1]), ofp.OFPCML_NO_BUFFER))
        elif kind not in ("goto_table", "meter"):  # instructions, see instructions_of13
            raise ValueError(f"action {kind!r} has no OpenFlow 1.3 encoding")
    return out


def instructions_of13(ofp: Any, parser: Any, actions: tuple) -> list[Any]:
    """Meter first, then apply-actions, then goto_table if the spec asks for it (it must come last)."""
    inst = [parser.OFPInstructionMeter(int(a[1]), ofp.OFPIT_METER) for a in actions if a[0] == "meter"]
    applied = actions_of13(ofp, parser, actions)
    if applied or not inst and not actions:
        inst.append(parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, applied))
    inst += [parser.OFPInstructionGotoTable(a[1]) for a in actions if a[0] == "goto_table"]
    return inst


def flow_add(datapath: Any, spec: FlowSpec) -> Any:
    ofp, parser = datapath.ofproto, datapath.ofproto_parser
    if ofp.OFP_VERSION == OF10:
        return parser.OFPFlowMod(datapath, match=match_of10(parser, spec.match_dict()), cookie=spec.cookie,
                                 command=ofp.OFPFC_ADD, priority=spec.priority,
                                 actions=actions_of10(ofp, parser, spec.actions))
    inst = instructions_of13(ofp, parser, spec.actions)
    return parser.OFPFlowMod(datapath, cookie=spec.cookie, table_id=spec.table_id, command=ofp.OFPFC_ADD,
                             priority=spec.priority, match=match_of13(ofp, parser, spec.match_dict()),
                             instructions=inst)


def flow_delete(datapath: Any, op: FlowDelete) -> Any:
    """Cookie 0 without a strict spec wipes the switch (cold start)."""
    ofp, parser = datapath.ofproto, datapath.ofproto_parser
    if ofp.OFP_VERSION == OF10:
        if op.strict is not None:
            return parser.OFPFlowMod(datapath, match=match_of10(parser, op.strict.match_dict()), cookie=0,
                                     command=ofp.OFPFC_DELETE_STRICT, priority=op.strict.priority,
                                     out_port=ofp.OFPP_NONE, actions=[])
        if op.cookie != 0:
            raise ValueError("OpenFlow 1.0 cannot delete by cookie; give the strict spec")
        return parser.OFPFlowMod(datapath, match=parser.OFPMatch(), cookie=0, command=ofp.OFPFC_DELETE,
                                 out_port=ofp.OFPP_NONE, actions=[])
    if op.strict is not None and op.strict.cookie != op.cookie:
        raise ValueError("a strict delete carries the flow's own cookie")
    mask = 0 if op.cookie == 0 else 2**64 - 1
    return parser.OFPFlowMod(datapath, cookie=op.cookie, cookie_mask=mask, table_id=ofp.OFPTT_ALL,
                             command=ofp.OFPFC_DELETE, out_port=ofp.OFPP_ANY, out_group=ofp.OFPG_ANY,
                             match=parser.OFPMatch())


def meter_mod(datapath: Any, op: MeterMod) -> Any:
    """OFPMeterMod with one drop band (kbit/s, burst in kbit); delete of id 0 deletes every meter."""
    ofp, parser = datapath.ofproto, datapath.ofproto_parser
    if ofp.OFP_VERSION == OF10:
        raise ValueError("OpenFlow 1.0 has no meters")
    commands = {"add": ofp.OFPMC_ADD, "modify": ofp.OFPMC_MODIFY, "delete": ofp.OFPMC_DELETE}
    meter_id = op.meter_id or ofp.OFPM_ALL
    if op.command == "delete":
        return parser.OFPMeterMod(datapath, command=ofp.OFPMC_DELETE, flags=0, meter_id=meter_id, bands=[])
    return parser.OFPMeterMod(datapath, command=commands[op.command],
                              flags=ofp.OFPMF_KBPS | ofp.OFPMF_BURST | ofp.OFPMF_STATS, meter_id=meter_id,
                              bands=[parser.OFPMeterBandDrop(rate=op.rate_kbps, burst_size=op.burst_kb)])


def to_message(datapath: Any, op: FlowOp) -> Any:
    if isinstance(op, MeterMod):
        return meter_mod(datapath, op)
    return flow_add(datapath, op) if isinstance(op, FlowSpec) else flow_delete(datapath, op)


def next_xid(datapath: Any) -> int:
    """The datapath's next xid, the same counter Ryu's `Datapath.set_xid` advances."""
    datapath.xid = (datapath.xid + 1) & datapath.ofproto.MAX_XID
    return datapath.xid


def to_bytes(datapath: Any, op: FlowOp, xid: int) -> bytes:
    """The wire bytes of one flow operation: packed directly on OF1.3, through Ryu otherwise."""
    if datapath.ofproto.OFP_VERSION != OF10:
        try:
            return ofwire.encode(op, xid)
        except ofwire.Unsupported:
            pass
    msg = to_message(datapath, op)
    msg.set_xid(xid)
    msg.serialize()
    return bytes(msg.buf)


def barrier_bytes(datapath: Any, xid: int) -> bytes:
    if datapath.ofproto.OFP_VERSION != OF10:
        return ofwire.barrier(xid)
    msg = datapath.ofproto_parser.OFPBarrierRequest(datapath)
    msg.set_xid(xid)
    msg.serialize()
    return bytes(msg.buf)
