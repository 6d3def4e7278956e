"""The Ryu shell's own bookkeeping, apart from Ryu's app machinery (so it can be unit-tested).

- `Multipart`: a stats reply may come in several messages (the MORE flag);
  the parts are kept per (dpid, xid) until the last one is in;
- `packet_in_fields`: what the core needs from a packet-in's frame (MACs,
  ethertype, the sender's IPv4 address from ARP or IPv4, or its IPv6 one from neighbour discovery);
- `port_names`, `error_reason`: a datapath's physical ports, an OFPT_ERROR
  as text.
The xid/barrier map is `qosapp.core.switchstate.Outstanding`.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from ryu.lib.packet import arp, ethernet, icmpv6, ipv4, ipv6, packet


def port_names(datapath: Any) -> dict[int, str]:
    """Physical ports of a datapath (LOCAL and reserved ports left out)."""
    limit = datapath.ofproto.OFPP_MAX
    out = {}
    for port_no, port in (datapath.ports or {}).items():
        if port_no <= limit:
            name = port.name.decode("utf-8", "replace") if isinstance(port.name, bytes) else str(port.name)
            out[port_no] = name
    return out


def error_reason(ofp: Any, msg: Any) -> str:
    """'OFPET_BAD_ACTION/OFPBAC_BAD_QUEUE'-style text for an OFPT_ERROR."""
    try:
        type_name = ofp.ofp_error_type_to_str(msg.type)
        code_name = ofp.ofp_error_code_to_str(msg.type, msg.code)
        return f"{type_name}/{code_name}"
    except (AttributeError, KeyError, ValueError):
        return f"error type {msg.type} code {msg.code}"


class Multipart:
    """Parts of multi-message stats replies, per (dpid, xid), until the last part."""

    def __init__(self) -> None:
        self.partial: dict[tuple[int, int], list[Any]] = {}

    def add(self, dpid: int, xid: int, body: list[Any], more: bool) -> list[Any] | None:
        """The whole body once the part without `more` is in; None while parts are still to come."""
        key = (dpid, xid)
        whole = self.partial.pop(key, []) + list(body)
        if more:
            self.partial[key] = whole
            return None
        return whole

    def forget(self, dpid: int) -> None:
        """A switch went away: its half-received replies will never complete."""
        for key in [k for k in self.partial if k[0] == dpid]:
            del self.partial[key]


def reply_more(msg: Any) -> bool:
    """Does this stats reply say more parts follow (OF1.0 OFPSF_REPLY_MORE, OF1.3 OFPMPF_REPLY_MORE)?"""
    ofp = msg.datapath.ofproto
    more = ofp.OFPSF_REPLY_MORE if hasattr(ofp, "OFPSF_REPLY_MORE") else ofp.OFPMPF_REPLY_MORE
    return bool(msg.flags & more)


@dataclass(frozen=True)
class FrameInfo:
    """What the core learns from a packet-in's frame."""

    eth_src: str
    eth_dst: str
    eth_type: int
    ip: str | None  # the sender's address (ARP sender, IPv4 source; IPv6: see `ipv6_sender`), if any


def packet_in_fields(data: bytes) -> FrameInfo | None:
    """Parse the frame of a packet-in; None if it is not Ethernet."""
    pkt = packet.Packet(data)
    eth = pkt.get_protocol(ethernet.ethernet)
    if eth is None:
        return None
    ip = None
    arp_pkt = pkt.get_protocol(arp.arp)
    if arp_pkt is not None:
        ip = arp_pkt.src_ip
    else:
        ip4 = pkt.get_protocol(ipv4.ipv4)
        ip = ip4.src if ip4 is not None else ipv6_sender(pkt)
    return FrameInfo(eth.src, eth.dst, eth.ethertype, ip)


def ipv6_sender(pkt: Any) -> str | None:
    """The IPv6 address a frame shows its sender owns, as ARP does for IPv4: a neighbour advertisement's
    target, a duplicate-address-detection solicitation's target (sent from ::), else the source.

    Link-local, multicast and unspecified addresses say nothing a QoS path can use and are skipped.
    """
    ip6 = pkt.get_protocol(ipv6.ipv6)
    if ip6 is None:
        return None
    icmp = pkt.get_protocol(icmpv6.icmpv6)
    kind = icmp.type_ if icmp is not None else None
    if kind == icmpv6.ND_NEIGHBOR_ADVERT or (kind == icmpv6.ND_NEIGHBOR_SOLICIT and ip6.src == "::"):
        address = icmp.data.dst
    else:
        address = ip6.src
    parsed = ipaddress.IPv6Address(address)
    if parsed.is_link_local or parsed.is_multicast or parsed.is_unspecified:
        return None
    return str(parsed)
