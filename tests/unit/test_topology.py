"""Unit tests for qosapp.core.topology: discovered graph -> hops, spanning tree, hosts.

Topologies come from tests/unit/fabric_builders.py, whose port numbering is
written out there, so every expected hop below can be checked by hand.
"""
from __future__ import annotations

import networkx as nx
import pytest

from qosapp.core.topology import Hop, Host, NoPath, Topology, UnknownHost
from tests.unit.fabric_builders import cable, fat_tree_k4, mac_of, ring


# ---------------------------------------------------------------- ring of 5
def test_ring5_hops_both_ways_have_the_right_ports() -> None:
    topo = ring(5)
    assert topo.hops("10.0.0.1", "10.0.0.3") == [Hop(1, 1, 2), Hop(2, 3, 2), Hop(3, 3, 1)]
    assert topo.hops("10.0.0.3", "10.0.0.1") == [Hop(3, 1, 3), Hop(2, 2, 3), Hop(1, 2, 1)]
    # the other way round the ring is the short one for 1 -> 4
    assert topo.hops("10.0.0.1", "10.0.0.4") == [Hop(1, 1, 3), Hop(5, 2, 3), Hop(4, 2, 1)]
    assert topo.hops("10.0.0.4", "10.0.0.1") == [Hop(4, 1, 2), Hop(5, 3, 2), Hop(1, 3, 1)]


def test_ring5_hosts_on_the_same_switch_is_one_hop() -> None:
    topo = ring(5)
    topo.add_port(2, 4)
    topo.learn_host(mac_of(0x22), "10.0.0.22", 2, 4)
    assert topo.hops("10.0.0.2", "10.0.0.22") == [Hop(2, 1, 4)]


def test_ring5_shortest_path_dpids() -> None:
    topo = ring(5)
    assert topo.shortest_path(1, 3) == [1, 2, 3]
    assert topo.shortest_path(1, 4) == [1, 5, 4]
    assert topo.shortest_path(2, 2) == [2]


def test_ring5_spanning_tree_has_n_minus_1_links_and_no_cycle() -> None:
    topo = ring(5)
    tree = topo.tree_links()
    assert tree == [((1, 2), (2, 3)), ((1, 3), (5, 2)), ((2, 2), (3, 3)), ((4, 2), (5, 3))]
    graph = nx.Graph((a[0], b[0]) for a, b in tree)
    assert graph.number_of_nodes() == 5 and nx.is_tree(graph)
    # the cable 3:2 <-> 4:3 is the one left out: neither end floods
    assert topo.spanning_tree_ports() == {1: {1, 2, 3}, 2: {1, 2, 3}, 3: {1, 3}, 4: {1, 2}, 5: {1, 2, 3}}


def test_ring5_link_down_gives_the_long_way_round() -> None:
    topo = ring(5)
    before = topo.version
    assert topo.port_down(2, 2)  # the cable 2:2 <-> 3:3, both directions
    assert topo.version > before
    assert not topo.has_link(2, 2, 3, 3) and not topo.has_link(3, 3, 2, 2)
    assert topo.hops("10.0.0.1", "10.0.0.3") == [Hop(1, 1, 3), Hop(5, 2, 3), Hop(4, 2, 3), Hop(3, 2, 1)]
    assert topo.tree_links() == [((1, 2), (2, 3)), ((1, 3), (5, 2)), ((3, 2), (4, 3)), ((4, 2), (5, 3))]


def test_one_direction_down_still_routes_the_other() -> None:
    topo = ring(5)
    assert topo.remove_link(2, 2, 3, 3)
    assert topo.has_link(3, 3, 2, 2)
    assert topo.shortest_path(3, 1) == [3, 2, 1]
    assert topo.shortest_path(1, 3) == [1, 5, 4, 3]


def test_stale_link_delete_for_a_recabled_port_is_ignored() -> None:
    topo = ring(5)
    assert not topo.remove_link(2, 2, 4, 3)  # 2:2 goes to 3:3, not 4:3
    assert topo.has_link(2, 2, 3, 3)


# ---------------------------------------------------------------- fat-tree k=4
def test_fat_tree_k4_shape() -> None:
    topo = fat_tree_k4()
    assert len(topo) == 20
    assert len(topo.links()) == 64  # 32 cables, each direction
    assert len(topo.hosts()) == 16
    assert len(topo.tree_links()) == 19
    assert nx.is_tree(nx.Graph((a[0], b[0]) for a, b in topo.tree_links()))


def test_fat_tree_k4_hops_concrete() -> None:
    topo = fat_tree_k4()
    assert topo.hops("10.0.0.2", "10.3.1.3") == [Hop(21, 1, 3), Hop(11, 1, 3), Hop(1, 1, 4),
                                                 Hop(17, 3, 2), Hop(28, 3, 2)]
    assert topo.hops("10.0.0.2", "10.0.1.2") == [Hop(21, 1, 3), Hop(11, 1, 2), Hop(22, 3, 1)]
    assert topo.hops("10.0.0.2", "10.0.0.3") == [Hop(21, 1, 2)]


def test_fat_tree_k4_every_pair_is_a_valid_shortest_route() -> None:
    """All 240 ordered host pairs: ends at the hosts, cables exist, 1/3/5 switches."""
    topo = fat_tree_k4()
    hosts = topo.hosts()
    for src in hosts:
        for dst in hosts:
            if src == dst:
                continue
            hops = topo.hops(src.ip, dst.ip)  # type: ignore[arg-type]
            assert (hops[0].dpid, hops[0].in_port) == (src.dpid, src.port)
            assert (hops[-1].dpid, hops[-1].out_port) == (dst.dpid, dst.port)
            for a, b in zip(hops, hops[1:]):
                assert topo.has_link(a.dpid, a.out_port, b.dpid, b.in_port)
            same_edge, same_pod = src.dpid == dst.dpid, (src.dpid - 21) // 2 == (dst.dpid - 21) // 2
            assert len(hops) == (1 if same_edge else 3 if same_pod else 5)


def test_fat_tree_k4_core_down_reroutes_via_another_core() -> None:
    topo = fat_tree_k4()
    topo.remove_switch(1)
    hops = topo.hops("10.0.0.2", "10.3.1.3")
    assert hops == [Hop(21, 1, 3), Hop(11, 1, 4), Hop(2, 1, 4), Hop(17, 4, 2), Hop(28, 3, 2)]
    assert 1 not in topo.switches
    assert not any(1 in (s[0], d[0]) for s, d in topo.links())


# ---------------------------------------------------------------- hosts
def test_host_is_not_learned_on_an_inter_switch_port() -> None:
    topo = ring(3, hosts=False)
    version = topo.version
    assert not topo.learn_host(mac_of(9), "10.0.0.9", 2, 2)  # 2:2 is the cable to 3
    assert not topo.learn_host(mac_of(9), "10.0.0.9", 3, 3)  # and its other end
    assert topo.hosts() == [] and topo.version == version
    assert topo.learn_host(mac_of(9), "10.0.0.9", 2, 1)
    assert topo.hosts() == [Host(mac_of(9), "10.0.0.9", 2, 1)]


def test_host_learned_before_lldp_is_dropped_when_the_link_appears() -> None:
    topo = Topology()
    topo.add_switch(1, [1, 2])
    topo.add_switch(2, [1, 2])
    topo.learn_host(mac_of(7), "10.0.0.7", 1, 2)  # crossed the cable before LLDP saw it
    assert topo.host_by_ip("10.0.0.7") == Host(mac_of(7), "10.0.0.7", 1, 2)
    cable(topo, 1, 2, 2, 2)
    assert topo.host_by_ip("10.0.0.7") is None and topo.hosts() == []


def test_host_ignores_broadcast_multicast_and_reserved_ports() -> None:
    topo = ring(3, hosts=False)
    assert not topo.learn_host("ff:ff:ff:ff:ff:ff", None, 1, 1)
    assert not topo.learn_host("01:00:5e:00:00:01", "10.0.0.1", 1, 1)
    assert not topo.learn_host(mac_of(1), "10.0.0.1", 1, 0xFFFFFFFE)  # LOCAL (1.3)
    assert not topo.learn_host(mac_of(1), "10.0.0.1", 1, 0xFFFE)  # LOCAL (1.0)
    assert topo.hosts() == []


def test_host_move_ip_keep_and_ip_takeover() -> None:
    topo = ring(3, hosts=False)
    assert topo.learn_host("00:00:00:00:00:AA", "10.0.0.1", 1, 1)
    assert not topo.learn_host("00:00:00:00:00:aa", None, 1, 1)  # same place, IP kept
    assert topo.host_by_mac("00:00:00:00:00:aa") == Host("00:00:00:00:00:aa", "10.0.0.1", 1, 1)
    topo.learn_host("00:00:00:00:00:cc", None, 2, 1)
    assert topo.learn_host("00:00:00:00:00:aa", None, 2, 1)  # moved (to a host port), IP kept
    assert topo.host_by_ip("10.0.0.1") == Host("00:00:00:00:00:aa", "10.0.0.1", 2, 1)
    assert topo.learn_host("00:00:00:00:00:bb", "10.0.0.1", 3, 1)  # another MAC takes the IP
    assert topo.host_by_ip("10.0.0.1") == Host("00:00:00:00:00:bb", "10.0.0.1", 3, 1)
    assert topo.host_by_mac("00:00:00:00:00:aa") == Host("00:00:00:00:00:aa", None, 2, 1)


def test_port_down_forgets_hosts_behind_it() -> None:
    topo = ring(3)
    assert topo.port_down(2, 1)
    assert topo.host_by_ip("10.0.0.2") is None
    assert 1 in topo.ports(2)  # the port is still known, only down


def test_unknown_host_and_no_path_errors_name_the_problem() -> None:
    topo = ring(3)
    with pytest.raises(UnknownHost) as err:
        topo.hops("10.0.0.1", "10.9.9.9")
    assert err.value.ip == "10.9.9.9"
    topo.add_switch(9, [1])
    topo.learn_host(mac_of(9), "10.0.0.9", 9, 1)
    with pytest.raises(NoPath, match="no path from 00:00:00:00:00:00:00:01 to 00:00:00:00:00:00:00:09"):
        topo.hops("10.0.0.1", "10.0.0.9")


# ---------------------------------------------------------------- versions and views
def test_version_and_grown_since() -> None:
    topo = ring(5)
    v0 = topo.version
    assert not topo.add_link(1, 2, 2, 3)  # already known: no change
    assert topo.version == v0
    topo.port_down(2, 2)
    v1 = topo.version
    assert v1 > v0 and not topo.grown_since(v0)  # something went away, nothing came
    topo.learn_host(mac_of(0x33), "10.0.0.33", 3, 1)
    assert topo.version > v1 and not topo.grown_since(v0)  # hosts never shorten a route
    cable(topo, 2, 2, 3, 3)
    assert topo.grown_since(v1)


def test_mutators_say_whether_anything_changed() -> None:
    topo = Topology()
    assert topo.add_switch(1, [1, 2]) and topo.add_switch(2, [1, 2])
    assert not topo.add_switch(1, [2])  # nothing new
    assert topo.add_switch(1, [3])  # a new port
    assert topo.add_link(1, 2, 2, 2)
    assert not topo.add_link(1, 2, 2, 2)
    assert not topo.add_link(1, 1, 1, 2)  # a switch looped to itself is not a link
    assert topo.learn_host(mac_of(1), "10.0.0.1", 1, 1)
    assert not topo.learn_host(mac_of(1), "10.0.0.1", 1, 1)
    assert topo.remove_link(1, 2, 2, 2) and not topo.remove_link(1, 2, 2, 2)
    assert topo.remove_port(1, 3) and not topo.remove_port(1, 3)
    assert topo.forget_host(mac_of(1)) and not topo.forget_host(mac_of(1))
    assert topo.remove_switch(2) and not topo.remove_switch(2)
    assert topo.switches == {1: frozenset({1, 2})}


def test_recabling_a_port_replaces_its_old_link() -> None:
    topo = ring(3, hosts=False)
    topo.add_switch(9, [1])
    assert topo.add_link(1, 2, 9, 1)  # 1:2 used to go to 2:3
    assert topo.links()[:2] == [((1, 2), (9, 1)), ((1, 3), (3, 2))]
    assert not topo.has_link(1, 2, 2, 3)
    assert topo.has_link(2, 3, 1, 2)  # the other direction waits for its own LLDP timeout
    assert topo.peer(1, 2) == (9, 1) and topo.peer(2, 3) == (1, 2) and topo.peer(1, 1) is None


def test_parallel_cables_use_the_lowest_port_and_survive_one_loss() -> None:
    topo = Topology()
    topo.add_switch(1, [1, 5, 6])
    topo.add_switch(2, [1, 7, 8])
    cable(topo, 1, 6, 2, 8)
    cable(topo, 1, 5, 2, 7)
    topo.learn_host(mac_of(1), "10.0.0.1", 1, 1)
    topo.learn_host(mac_of(2), "10.0.0.2", 2, 1)
    assert topo.hops("10.0.0.1", "10.0.0.2") == [Hop(1, 1, 5), Hop(2, 7, 1)]
    assert topo.tree_links() == [((1, 5), (2, 7))]
    assert topo.spanning_tree_ports() == {1: {1, 5}, 2: {1, 7}}
    topo.port_down(1, 5)
    assert topo.hops("10.0.0.1", "10.0.0.2") == [Hop(1, 1, 6), Hop(2, 8, 1)]


def test_next_hops_to_ring5() -> None:
    topo = ring(5)
    assert topo.next_hops_to(1) == {2: 3, 5: 2, 3: 3, 4: 2}
    assert topo.next_hops_to(3) == {2: 2, 4: 3, 1: 2, 5: 3}
    assert topo.next_hops_to(99) == {}
    topo.port_down(2, 2)
    assert topo.next_hops_to(3) == {4: 3, 5: 3, 1: 3, 2: 3}  # cache dropped with the link


def test_port_roles() -> None:
    topo = ring(3, hosts=False)
    topo.learn_host(mac_of(1), "10.0.0.1", 1, 1)
    assert [topo.port_role(1, p) for p in (1, 2, 3)] == ["host", "link", "link"]
    assert topo.port_role(2, 1) == "unknown"
    assert topo.port_role(7, 7) == "unknown"


def test_known_host_is_not_moved_to_an_unknown_port() -> None:
    """A copy that crossed a cable LLDP has not reported must not move the host."""
    topo = Topology()
    topo.add_switch(1, [1, 2])
    topo.add_switch(2, [1, 2, 3])
    topo.learn_host(mac_of(1), "10.0.0.1", 1, 1)
    assert not topo.learn_host(mac_of(1), "10.0.0.1", 2, 2)  # 2:2 is really the cable to 1:2
    assert topo.host_by_mac(mac_of(1)) == Host(mac_of(1), "10.0.0.1", 1, 1)
    topo.learn_host(mac_of(5), "10.0.0.5", 2, 3)
    assert topo.learn_host(mac_of(1), "10.0.0.1", 2, 3)  # to a port where hosts live: a real move
    assert topo.host_by_mac(mac_of(1)) == Host(mac_of(1), "10.0.0.1", 2, 3)
    topo.port_down(2, 3)
    assert topo.learn_host(mac_of(1), "10.0.0.1", 2, 1)  # after its port went down: anywhere


def test_to_dict_lists_switches_links_hosts() -> None:
    topo = ring(3)
    body = topo.to_dict()
    assert body["version"] == topo.version
    assert body["switches"][0] == {"dpid": "00:00:00:00:00:00:00:01", "ports": [1, 2, 3]}
    assert len(body["links"]) == 6
    assert body["links"][0] == {"src": {"dpid": "00:00:00:00:00:00:00:01", "port": 2},
                                "dst": {"dpid": "00:00:00:00:00:00:00:02", "port": 3}}
    assert body["hosts"][2] == {"mac": "00:00:00:00:00:03", "ip": "10.0.0.3",
                                "dpid": "00:00:00:00:00:00:00:03", "port": 1}
