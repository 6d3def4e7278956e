"""Unit tests for qosapp.core.forwarding: loop-free flows on ring and fat-tree.

Frames are played through the computed flow tables (fabric_builders.walk),
so "no broadcast storm" and "unicast follows the shortest path" are checked
by counting copies, not by reading the flows.
"""
from __future__ import annotations

from collections import Counter

from qosapp.core.compiler import FlowDelete, FlowSpec
from qosapp.core.cookies import FORWARDING_PREFIX, is_forwarding_cookie
from qosapp.core.forwarding import (BROADCAST, CONTROLLER, KIND_ARP, KIND_DST, KIND_FLOOD, KIND_UNKNOWN,
                               KIND_IP_TRAP, packet_in,
                               diff_flows, flood_ports, forwarding_cookie, forwarding_flows,
                               out_ports)
from qosapp.core.topology import Topology
from tests.unit.fabric_builders import fat_tree_k4, mac_of, ring, ring_cables, walk


def tables(topo: Topology) -> dict[int, list[FlowSpec]]:
    return {dpid: forwarding_flows(topo, dpid) for dpid in topo}


def test_ring5_switch1_flows_exactly() -> None:
    flows = forwarding_flows(ring(5), 1)
    flood = [(f.match, f.actions) for f in flows if f.priority == 5]
    assert flood == [((("in_port", 1),), (("output", 2), ("output", 3), ("output", CONTROLLER))),
                     ((("in_port", 2),), (("output", 1), ("output", 3))),
                     ((("in_port", 3),), (("output", 1), ("output", 2)))]
    unicast = {f.match[0][1]: f.actions[0][1] for f in flows if f.priority == 10}
    assert unicast == {mac_of(1): 1, mac_of(2): 2, mac_of(3): 2, mac_of(4): 3, mac_of(5): 3}
    arp = [f for f in flows if f.priority == 11]
    assert arp == [FlowSpec(cookie=forwarding_cookie(KIND_ARP, 1), priority=11,
                            match=(("in_port", 1), ("eth_type", 0x0806)), actions=(("output", CONTROLLER),))]
    assert [(f.priority, f.match) for f in flows if f.priority in (0, 65535)] == [
        (65535, (("eth_type", 0x88CC), ("eth_dst", "01:80:c2:00:00:0e"))), (0, ())]


def test_ring5_non_tree_cable_drops_floods() -> None:
    flows = forwarding_flows(ring(5), 3)  # 3:2 <-> 4:3 is the cable outside the tree
    by_port = {f.match[0][1]: f.actions for f in flows if f.priority == 5}
    assert by_port == {1: (("output", 3), ("output", CONTROLLER)), 2: (), 3: (("output", 1),)}


def test_ring5_broadcast_reaches_every_host_once_and_stops() -> None:
    topo = ring(5)
    result = walk(topo, tables(topo), 1, 1, BROADCAST)
    assert not result.looped
    assert result.delivered == Counter({(2, 1): 1, (3, 1): 1, (4, 1): 1, (5, 1): 1})
    assert result.visits == Counter({1: 1, 2: 1, 3: 1, 4: 1, 5: 1})
    assert result.to_controller == [(1, 1)]  # one copy, from the edge, for learning


def test_ring5_unicast_follows_the_shortest_path() -> None:
    topo = ring(5)
    result = walk(topo, tables(topo), 1, 1, mac_of(4))
    assert result.delivered == Counter({(4, 1): 1})
    assert result.visits == Counter({1: 1, 5: 1, 4: 1})
    assert result.to_controller == []


def test_arp_from_a_host_goes_to_the_controller_only() -> None:
    topo = ring(5)
    result = walk(topo, tables(topo), 2, 1, BROADCAST, eth_type=0x0806)
    assert result.to_controller == [(2, 1)] and result.delivered == Counter()
    # the app then sends it on along the tree
    assert out_ports(topo, 2, 1, BROADCAST) == [2, 3]
    assert out_ports(topo, 2, 1, mac_of(4)) == [2]  # unicast ARP reply: toward s4 via s3
    assert out_ports(topo, 3, 2, BROADCAST) == []  # came in on the non-tree cable: drop


def test_fat_tree_k4_broadcast_no_storm_from_every_host() -> None:
    topo = fat_tree_k4()
    flows = tables(topo)
    edge_ports = {(h.dpid, h.port) for h in topo.hosts()}
    for host in topo.hosts():
        result = walk(topo, flows, host.dpid, host.port, BROADCAST)
        assert not result.looped
        assert set(result.visits.values()) == {1} and len(result.visits) == 20
        assert result.delivered == Counter({end: 1 for end in edge_ports - {(host.dpid, host.port)}})


def test_fat_tree_k4_unicast_every_pair_takes_a_shortest_route() -> None:
    topo = fat_tree_k4()
    flows = tables(topo)
    for src in topo.hosts():
        for dst in topo.hosts():
            if src == dst:
                continue
            result = walk(topo, flows, src.dpid, src.port, dst.mac)
            assert result.delivered == Counter({(dst.dpid, dst.port): 1})
            assert sum(result.visits.values()) == len(topo.hops(src.ip, dst.ip))  # type: ignore[arg-type]


def test_unknown_unicast_floods_along_the_tree() -> None:
    topo = ring(5)
    result = walk(topo, tables(topo), 1, 1, mac_of(0x77))
    assert not result.looped and len(result.delivered) == 4


def test_link_down_diff_changes_only_what_moved() -> None:
    topo = ring(5)
    before = forwarding_flows(topo, 2)
    topo.port_down(2, 2)  # cable 2:2 <-> 3:3 gone; 2:2 is now an unknown port: its flood flow becomes a trap
    ops = diff_flows(before, forwarding_flows(topo, 2))
    flood = next(f for f in before if f.cookie == forwarding_cookie(KIND_FLOOD, 2))
    assert ops == [
        FlowDelete(cookie=flood.cookie, strict=flood),
        FlowSpec(cookie=forwarding_cookie(KIND_UNKNOWN, 2), priority=11, match=(("in_port", 2),),
                 actions=(("output", CONTROLLER),)),
        FlowSpec(cookie=forwarding_cookie(KIND_DST, 3), priority=10, match=(("eth_dst", mac_of(3)),),
                 actions=(("output", 3),)),  # s3 and s4 are now reached via s1
        FlowSpec(cookie=forwarding_cookie(KIND_DST, 4), priority=10, match=(("eth_dst", mac_of(4)),),
                 actions=(("output", 3),)),
    ]


def test_host_gone_diff_deletes_its_flow_by_cookie() -> None:
    topo = ring(5)
    before = forwarding_flows(topo, 1)
    topo.forget_host(mac_of(4))
    gone = FlowSpec(cookie=forwarding_cookie(KIND_DST, 4), priority=10, match=(("eth_dst", mac_of(4)),),
                    actions=(("output", 3),))
    assert diff_flows(before, forwarding_flows(topo, 1)) == [FlowDelete(cookie=gone.cookie, strict=gone)]


def test_cookies_are_unique_per_switch_and_tagged() -> None:
    flows = forwarding_flows(fat_tree_k4(), 21)
    cookies = [f.cookie for f in flows]
    assert len(cookies) == len(set(cookies))
    assert all(is_forwarding_cookie(c) for c in cookies)
    assert forwarding_cookie(KIND_DST, 0x0000000000AA) == FORWARDING_PREFIX | 3 << 48 | 0xAA
    assert not is_forwarding_cookie(0x5100000000000001)


def test_flood_ports_on_edge_and_tree() -> None:
    topo = ring(5)
    assert flood_ports(topo, 4, 1) == [2]
    assert flood_ports(topo, 4, 3) == []  # non-tree cable
    assert flood_ports(topo, 1, 2) == [1, 3]


# ---------------------------------------------------------------- before LLDP has spoken
def test_undiscovered_ring_cannot_storm() -> None:
    """Ring of 5 cabled, nothing discovered or learned: every port is unknown."""
    topo = ring(5, hosts=False)
    for (a, pa), _ in topo.links():
        topo.port_down(a, pa)  # forget the cables: LLDP has not reported them yet
    assert topo.links() == [] and topo.port_role(1, 2) == "unknown"
    cables = ring_cables(5)
    flows = tables(topo)
    # h1's first ARP: to the controller only, nothing flooded
    first = walk(topo, flows, 1, 1, BROADCAST, eth_type=0x0806, cables=cables)
    assert first.to_controller == [(1, 1)] and first.delivered == Counter()
    # the app learns h1 and sends the frame on: out of s1's other (unknown) ports
    assert packet_in(topo, 1, 1, mac_of(1), BROADCAST, 0x0806, "10.0.0.1") == [2, 3]
    flows = tables(topo)
    sent = walk(topo, flows, 1, 1, BROADCAST, eth_type=0x0806, cables=cables, packet_out=[2, 3])
    assert sent.to_controller == [(2, 3), (5, 2)] and not sent.looped  # stops at the neighbours
    # the copies coming back in over the uncharted cables are dropped, not re-sent
    assert packet_in(topo, 2, 3, mac_of(1), BROADCAST, 0x0806, "10.0.0.1") == []
    assert topo.host_by_mac(mac_of(1)).port == 1  # type: ignore[union-attr]


def test_after_discovery_broadcast_reaches_silent_hosts_once() -> None:
    topo = ring(5, hosts=False)
    topo.learn_host(mac_of(1), "10.0.0.1", 1, 1)
    result = walk(topo, tables(topo), 1, 1, BROADCAST)
    # hosts 2-5 never spoke: their ports are unknown, yet flooded to
    assert result.delivered == Counter({(2, 1): 1, (3, 1): 1, (4, 1): 1, (5, 1): 1})
    assert set(result.visits.values()) == {1}


def test_packet_in_decisions() -> None:
    topo = ring(5)
    # ARP from a host port: the flow only trapped it, so the app sends it on
    assert packet_in(topo, 2, 1, mac_of(2), mac_of(4), 0x0806, "10.0.0.2") == [2]
    # a broadcast copy from a host port: the flood flow already delivered it
    assert packet_in(topo, 2, 1, mac_of(2), BROADCAST, 0x0800) == []
    # anything from an inter-switch port, and LLDP: never forwarded, never learned
    assert packet_in(topo, 2, 2, mac_of(9), BROADCAST, 0x0806, "10.0.0.9") == []
    assert packet_in(topo, 2, 1, mac_of(9), BROADCAST, 0x88CC) == []
    assert topo.host_by_mac(mac_of(9)) is None
    # a new host on an unknown port: learned, and its first frame goes on
    topo.add_port(3, 4)
    assert packet_in(topo, 3, 4, mac_of(0x34), mac_of(1), 0x0800, "10.0.0.34") == [3]
    assert topo.port_role(3, 4) == "host"


def test_host_known_without_ip_has_its_ipv4_trapped_until_the_ip_is_seen() -> None:
    """First seen by IPv6 (router solicitation): MAC known, IP not. With a warm ARP cache its
    IPv4 would ride the unicast flows and never reach the controller; QoS paths naming it
    would stay pending forever (seen on Mininet after a controller restart)."""
    topo = ring(5, hosts=False)
    topo.learn_host(mac_of(1), "10.0.0.1", 1, 1)
    packet_in(topo, 4, 1, mac_of(4), "33:33:00:00:00:02", 0x86DD)  # h4's RS: no IPv4 sender
    trap = FlowSpec(cookie=forwarding_cookie(KIND_IP_TRAP, 1), priority=11,
                    match=(("in_port", 1), ("eth_type", 0x0800)), actions=(("output", CONTROLLER),))
    assert trap in forwarding_flows(topo, 4) and trap not in forwarding_flows(topo, 1)
    # h4 -> h1 over IPv4: trapped, so the app learns h4's IP and sends the packet on (toward s5)
    assert packet_in(topo, 4, 1, mac_of(4), mac_of(1), 0x0800, "10.0.0.4") == [2]
    assert topo.host_by_ip("10.0.0.4") == topo.host_by_mac(mac_of(4))
    assert trap not in forwarding_flows(topo, 4)
    # from now on IPv4 from that port is the flows' business: a flood copy is not sent twice
    assert packet_in(topo, 4, 1, mac_of(4), BROADCAST, 0x0800, "10.0.0.4") == []
