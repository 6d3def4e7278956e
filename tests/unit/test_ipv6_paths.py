"""QoS paths between IPv6 hosts: hosts learned from neighbour discovery, paths validated, planned and compiled."""
from __future__ import annotations

from typing import Any

import pytest
from ryu.lib.packet import ether_types, ethernet, icmpv6, ipv6, packet

from qosapp.core.compiler import OF13
from qosapp.core.model import ValidationError
from qosapp.core.paths import path_flows, plan_path
from qosapp.core.pathspec import INSTALLED, PENDING, parse_path
from qosapp.core.topology import MAX_IPV6_PER_HOST, Host
from qosapp.ofp.shell import packet_in_fields
from tests.unit.fabric_builders import mac_of, ring

V6_PATH = {"name": "v6", "src": "fc00::1", "dst": "fc00::3", "queue": 2, "protocol": 6}


def ndp_frame(src: str, kind: int, target: str) -> bytes:
    pkt = packet.Packet()
    pkt.add_protocol(ethernet.ethernet(dst="33:33:ff:00:00:03", src=mac_of(1), ethertype=ether_types.ETH_TYPE_IPV6))
    pkt.add_protocol(ipv6.ipv6(src=src, dst="ff02::1:ff00:3", nxt=58))
    pkt.add_protocol(icmpv6.icmpv6(type_=kind, data=icmpv6.nd_neighbor(dst=target)))
    pkt.serialize()
    return bytes(pkt.data)


@pytest.mark.parametrize("src, kind, target, learned", [
    ("fc00::1", icmpv6.ND_NEIGHBOR_SOLICIT, "fc00::3", "fc00::1"),  # address resolution: the sender's own
    ("::", icmpv6.ND_NEIGHBOR_SOLICIT, "fc00::1", "fc00::1"),  # duplicate address detection: the target
    ("fe80::1", icmpv6.ND_NEIGHBOR_ADVERT, "fc00::1", "fc00::1"),  # an advertisement: its target
    ("fe80::1", icmpv6.ND_NEIGHBOR_SOLICIT, "fe80::3", None),  # link-local says nothing a path can use
])
def test_the_sender_address_of_neighbour_discovery(src: str, kind: int, target: str, learned: str | None) -> None:
    frame = packet_in_fields(ndp_frame(src, kind, target))
    assert frame is not None and frame.eth_type == 0x86DD and frame.ip == learned


def test_ipv6_addresses_join_the_hosts_ipv4_one() -> None:
    topo = ring(3)
    assert topo.learn_host(mac_of(1), "fc00::1", 1, 1) is True
    assert topo.learn_host(mac_of(1), "fc00::1", 1, 1) is False  # nothing new
    assert topo.learn_host(mac_of(1), None, 1, 1) is False
    host = topo.host_by_ip("fc00::1")
    assert host == Host(mac_of(1), "10.0.0.1", 1, 1, ("fc00::1",)) and topo.host_by_ip("10.0.0.1") == host
    assert host.to_dict()["ipv6"] == ["fc00::1"] and "ipv6" not in topo.host_by_ip("10.0.0.2").to_dict()
    topo.learn_host(mac_of(2), "fc00::1", 2, 1)  # the address moved to another MAC
    assert topo.host_by_ip("fc00::1").mac == mac_of(2) and topo.host_by_mac(mac_of(1)).ipv6 == ()
    assert topo.host_by_ip("10.0.0.1").mac == mac_of(1)  # which kept its IPv4
    for k in range(MAX_IPV6_PER_HOST + 2):
        topo.learn_host(mac_of(3), f"fc00::3:{k}", 3, 1)
    assert len(topo.host_by_mac(mac_of(3)).ipv6) == MAX_IPV6_PER_HOST and topo.host_by_ip("fc00::3:0") is None


@pytest.mark.parametrize("changes, field, reason", [
    ({"dst": "10.0.0.3"}, "dst", "must both be IPv4 or both IPv6"),
    ({"src": "fc00::/64"}, "src", "not the prefix fc00::/64"),
    ({"src": "fc00::g"}, "src", "hex groups"),
])
def test_path_bodies_with_ipv6_are_refused_naming_the_field(changes: dict[str, Any], field: str, reason: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_path({**V6_PATH, **changes})
    assert info.value.field == field and reason in info.value.reason


def test_an_ipv6_path_waits_for_both_hosts_then_matches_ipv6_on_every_hop() -> None:
    topo = ring(5)
    spec = parse_path({**V6_PATH, "src": "FC00::0001/128"})
    assert spec.src == "fc00::1"
    assert plan_path(spec, topo).state == PENDING
    topo.learn_host(mac_of(1), "fc00::1", 1, 1)
    topo.learn_host(mac_of(3), "fc00::3", 3, 1)
    state = plan_path(spec, topo)
    assert state.state == INSTALLED
    flows = path_flows(state, 1, lambda dpid: OF13, {})
    forward = dict(flows[1][0].match)
    assert forward["eth_type"] == 0x86DD and forward["ipv6_src"] == "fc00::1" and forward["ipv6_dst"] == "fc00::3"
    assert forward["ip_proto"] == 6 and "ipv4_src" not in forward
    assert dict(flows[1][1].match)["ipv6_src"] == "fc00::3"  # the reverse direction
    assert flows[1][0].actions == (("set_queue", 2), ("output", 2))
