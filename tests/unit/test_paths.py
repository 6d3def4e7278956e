"""Unit tests for qosapp.core.paths: path body -> per-hop policies -> flows, and re-routing.

Ring and fat-tree numbering: tests/unit/fabric_builders.py. On ring(5) the
route 10.0.0.1 -> 10.0.0.3 is s1 (in 1, out 2), s2 (in 3, out 2), s3 (in 3, out 1).
"""
from __future__ import annotations

from typing import Any

import pytest

from qosapp.core.compiler import OF10, OF13, FlowDelete, FlowSpec
from qosapp.core.model import Match, Policy, ValidationError
from qosapp.core.cookies import path_cookie, path_id_of
from qosapp.core.paths import compile_path, needs_reroute, path_flows, plan_path, reinstall_ops
from qosapp.core.pathspec import INSTALLED, MISSING_QUEUES, PENDING, PathSpec, clashing_path, parse_path
from qosapp.core.topology import Hop, Topology
from tests.unit.fabric_builders import cable, fat_tree_k4, mac_of, ring

SERVICES = {"Best Effort": 0, "Voice": 46}
IPERF = {"name": "h1-h3", "src": "10.0.0.1", "dst": "10.0.0.3", "protocol": "6", "dst-port": "5001",
         "queue": "2"}
FWD_13 = [Hop(1, 1, 2), Hop(2, 3, 2), Hop(3, 3, 1)]
REV_31 = [Hop(3, 1, 3), Hop(2, 2, 3), Hop(1, 2, 1)]


def path(**changes: Any) -> PathSpec:
    return parse_path({**IPERF, **changes}, SERVICES)


# ---------------------------------------------------------------- parsing
def test_parse_normalises_and_defaults() -> None:
    spec = path()
    assert spec == PathSpec(name="h1-h3", src="10.0.0.1", dst="10.0.0.3", protocol=6, dst_port=5001,
                            queue=2, direction="both", priority=32767)
    assert spec.to_dict() == {"name": "h1-h3", "src": "10.0.0.1", "dst": "10.0.0.3", "protocol": 6,
                              "dst-port": 5001, "queue": 2, "direction": "both", "priority": 32767}


@pytest.mark.parametrize("changes, field, reason", [
    ({"src": "10.0.0.0/24"}, "src", "must be one host address, not the prefix 10.0.0.0/24"),
    ({"src": None}, "src", "required: the host's IPv4 or IPv6 address"),
    ({"dst": "10.0.0.1"}, "dst", "must differ from src (10.0.0.1)"),
    ({"protocol": None}, "dst-port", "L4 ports need protocol 6 (TCP) or 17 (UDP)"),
    ({"direction": "backward"}, "direction", "must be 'both' or 'forward', got 'backward'"),
    ({"service": "Voice"}, "service", "a path takes exactly one action: queue or service, not both"),
    ({"queue": None}, "queue", "a path needs an action: queue or service"),
    ({"queue": None, "service": "Gold"}, "service", "unknown service 'Gold'; known: Best Effort, Voice"),
    ({"sw": "all"}, "sw", "unknown key; allowed: direction, dst, dst-port, name, priority, protocol, "
                          "queue, service, src, src-port"),
    ({"priority": 70000}, "priority", "70000 is out of range 0-65535"),
])
def test_parse_rejects_with_field_and_reason(changes: dict[str, Any], field: str, reason: str) -> None:
    with pytest.raises(ValidationError) as err:
        path(**changes)
    assert (err.value.field, err.value.reason) == (field, reason)


# ---------------------------------------------------------------- compiling
def test_both_directions_on_ring5_concrete_policies() -> None:
    policies = compile_path(path(), ring(5))
    assert [p.name for p in policies] == [
        "path:h1-h3:fwd:0000000000000001", "path:h1-h3:fwd:0000000000000002", "path:h1-h3:fwd:0000000000000003",
        "path:h1-h3:rev:0000000000000003", "path:h1-h3:rev:0000000000000002", "path:h1-h3:rev:0000000000000001"]
    assert policies[1] == Policy(
        name="path:h1-h3:fwd:0000000000000002", sw="00:00:00:00:00:00:00:02", queue=2, enqueue_port=2,
        match=Match(in_port=3, eth_type=0x0800, ip_proto=6, ipv4_src="10.0.0.1", ipv4_dst="10.0.0.3", tp_dst=5001))
    # reverse: IPs and L4 ports swapped, in/out swapped, same cables
    assert policies[4] == Policy(
        name="path:h1-h3:rev:0000000000000002", sw="00:00:00:00:00:00:00:02", queue=2, enqueue_port=3,
        match=Match(in_port=2, eth_type=0x0800, ip_proto=6, ipv4_src="10.0.0.3", ipv4_dst="10.0.0.1", tp_src=5001))
    ins_outs = [(p.dpid(), p.match.in_port, p.enqueue_port) for p in policies]
    assert ins_outs == [(1, 1, 2), (2, 3, 2), (3, 3, 1), (3, 1, 3), (2, 2, 3), (1, 2, 1)]


def test_forward_only_has_no_reverse_policies() -> None:
    state = plan_path(path(direction="forward"), ring(5))
    assert state.state == INSTALLED
    assert list(state.forward) == FWD_13 and state.reverse == ()
    assert [p.name.split(":")[2] for p in state.policies()] == ["fwd", "fwd", "fwd"]


def test_fat_tree_path_reverse_is_the_same_cables() -> None:
    state = plan_path(path(src="10.0.0.2", dst="10.3.1.3"), fat_tree_k4())
    assert list(state.forward) == [Hop(21, 1, 3), Hop(11, 1, 3), Hop(1, 1, 4), Hop(17, 3, 2), Hop(28, 3, 2)]
    assert list(state.reverse) == [Hop(28, 2, 3), Hop(17, 2, 3), Hop(1, 4, 1), Hop(11, 3, 1), Hop(21, 3, 1)]


def test_service_path_marks_and_outputs_on_the_path_port_not_normal() -> None:
    state = plan_path(path(queue=None, service="Voice", direction="forward"), ring(5))
    flows = path_flows(state, 7, lambda dpid: OF13 if dpid != 2 else OF10, SERVICES)
    cookie = 0x5000000000000007
    match_s2 = (("in_port", 3), ("eth_type", 0x0800), ("ip_proto", 6), ("ipv4_src", "10.0.0.1"),
                ("ipv4_dst", "10.0.0.3"), ("tp_dst", 5001))
    assert flows[2] == [FlowSpec(cookie=cookie, priority=32767, match=match_s2,
                                 actions=(("set_nw_tos", 46 << 2), ("output", 2)))]
    assert flows[3][0].actions == (("set_field", "ip_dscp", 46), ("output", 1))


def test_queue_path_flows_of10_enqueue_of13_set_queue() -> None:
    state = plan_path(path(), ring(5))
    flows = path_flows(state, 1, lambda dpid: OF10 if dpid == 1 else OF13, SERVICES)
    assert sorted(flows) == [1, 2, 3]
    assert [f.actions for f in flows[1]] == [(("enqueue", 2, 2),), (("enqueue", 1, 2),)]
    assert [f.actions for f in flows[2]] == [(("set_queue", 2), ("output", 2)), (("set_queue", 2), ("output", 3))]
    assert {f.cookie for fl in flows.values() for f in fl} == {0x5000000000000001}


def test_path_cookie_roundtrip_and_foreign_cookies() -> None:
    assert path_cookie(5) == 0x5000000000000005
    assert path_id_of(path_cookie(5)) == 5
    assert path_id_of(0x5100000000000005) is None  # a policy's cookie
    assert path_id_of(0x5000000000000000) is None
    with pytest.raises(ValueError):
        path_cookie(0)


# ---------------------------------------------------------------- states
def test_pending_until_the_host_is_seen_then_installed() -> None:
    topo = ring(5, hosts=False)
    topo.learn_host(mac_of(1), "10.0.0.1", 1, 1)
    spec = path()
    state = plan_path(spec, topo)
    assert state.state == PENDING
    assert state.reason == "unknown host 10.0.0.3: waiting to see its traffic"
    assert state.policies() == [] and state.to_dict()["hops"] == []
    assert not needs_reroute(spec, state, topo)  # nothing changed yet
    topo.learn_host(mac_of(3), "10.0.0.3", 3, 1)
    assert needs_reroute(spec, state, topo)
    state = plan_path(spec, topo)
    assert state.state == INSTALLED and list(state.forward) == FWD_13 and list(state.reverse) == REV_31


def test_pending_when_switches_are_not_connected() -> None:
    topo = Topology()
    topo.add_switch(1, [1])
    topo.add_switch(2, [1])
    topo.learn_host(mac_of(1), "10.0.0.1", 1, 1)
    topo.learn_host(mac_of(3), "10.0.0.3", 2, 1)
    state = plan_path(path(), topo)
    assert (state.state, state.reason) == (PENDING, "no path from 00:00:00:00:00:00:00:01 to 00:00:00:00:00:00:00:02")
    cable(topo, 1, 2, 2, 2)
    assert needs_reroute(path(), state, topo)
    assert list(plan_path(path(), topo).forward) == [Hop(1, 1, 2), Hop(2, 2, 1)]


def test_missing_queue_is_reported_with_its_ports() -> None:
    def exists(dpid: int, port: int, queue: int) -> bool:
        return queue == 2 and (dpid, port) != (2, 2)

    state = plan_path(path(), ring(5), exists)
    assert state.state == MISSING_QUEUES
    assert state.missing == ((2, 2),)
    assert state.policies() == []
    assert list(state.forward) == FWD_13  # the route is still shown
    assert state.to_dict()["missing-queues"] == [{"dpid": "00:00:00:00:00:00:00:02", "port": 2}]
    assert state.reason == "queue 2 does not exist on 00:00:00:00:00:00:00:02 port 2"


def test_missing_queues_cover_the_reverse_out_ports() -> None:
    forward_ports = {(h.dpid, h.out_port) for h in FWD_13}
    state = plan_path(path(), ring(5), lambda d, p, q: (d, p) in forward_ports)
    assert state.missing == ((1, 1), (2, 3), (3, 3))
    assert plan_path(path(direction="forward"), ring(5), lambda d, p, q: (d, p) in forward_ports).state == INSTALLED


def test_service_path_needs_no_queue() -> None:
    state = plan_path(path(queue=None, service="Voice"), ring(5), lambda d, p, q: False)
    assert state.state == INSTALLED and len(state.policies()) == 6


def test_state_to_dict_shows_the_hops() -> None:
    body = plan_path(path(), ring(5)).to_dict()
    assert body["state"] == "installed"
    assert body["hops"][1] == {"dpid": "00:00:00:00:00:00:00:02", "in-port": 3, "out-port": 2}
    assert body["reverse-hops"][0] == {"dpid": "00:00:00:00:00:00:00:03", "in-port": 1, "out-port": 3}


# ---------------------------------------------------------------- re-routing
def test_link_down_on_the_route_reroutes_the_long_way() -> None:
    topo, spec = ring(5), path()
    state = plan_path(spec, topo)
    topo.port_down(2, 2)
    assert needs_reroute(spec, state, topo)
    new = plan_path(spec, topo)
    assert list(new.forward) == [Hop(1, 1, 3), Hop(5, 2, 3), Hop(4, 2, 3), Hop(3, 2, 1)]
    assert [(p.dpid(), p.match.in_port, p.enqueue_port) for p in new.policies()][:4] == [
        (1, 1, 3), (5, 2, 3), (4, 2, 3), (3, 2, 1)]


def test_link_down_elsewhere_does_not_reroute() -> None:
    topo, spec = ring(5), path()
    state = plan_path(spec, topo)
    topo.port_down(4, 2)
    assert topo.version != state.version
    assert not needs_reroute(spec, state, topo)


def test_shorter_path_appearing_reroutes_equal_one_does_not() -> None:
    topo, spec = ring(5), path()
    topo.port_down(2, 2)
    state = plan_path(spec, topo)
    assert len(state.forward) == 4
    cable(topo, 2, 2, 3, 3)  # the short way is back
    assert needs_reroute(spec, state, topo)
    state = plan_path(spec, topo)
    assert list(state.forward) == FWD_13
    topo.add_port(1, 9)
    topo.add_port(3, 9)
    cable(topo, 1, 9, 3, 9)  # a direct cable: 2 switches instead of 3
    assert needs_reroute(spec, state, topo)
    assert list(plan_path(spec, topo).forward) == [Hop(1, 1, 9), Hop(3, 9, 1)]


def test_equal_length_alternative_does_not_flap() -> None:
    topo = fat_tree_k4()
    spec = path(src="10.0.0.2", dst="10.3.1.3")
    state = plan_path(spec, topo)
    topo.add_switch(99, [1, 2])
    topo.add_port(21, 5)
    topo.add_port(1, 5)
    cable(topo, 21, 5, 99, 1)  # edge 21 -> new switch 99 -> core 1: as long as via agg 11
    cable(topo, 99, 2, 1, 5)
    assert topo.grown_since(state.version)
    assert len(topo.hops("10.0.0.2", "10.3.1.3")) == len(state.forward) == 5
    assert not needs_reroute(spec, state, topo)


def test_host_moving_reroutes() -> None:
    topo, spec = ring(5), path()
    state = plan_path(spec, topo)
    topo.learn_host(mac_of(3), "10.0.0.3", 4, 1)
    assert needs_reroute(spec, state, topo)
    assert list(plan_path(spec, topo).forward) == [Hop(1, 1, 3), Hop(5, 2, 3), Hop(4, 2, 1)]


def test_reinstall_ops_touch_only_changed_switches() -> None:
    topo, spec = ring(5), path(direction="forward")
    old = path_flows(plan_path(spec, topo), 3, lambda d: OF13, SERVICES)
    topo.port_down(2, 2)
    new = path_flows(plan_path(spec, topo), 3, lambda d: OF13, SERVICES)
    ops = reinstall_ops(old, new, lambda d: OF13 if d != 3 else OF10)
    assert sorted(ops) == [1, 2, 3, 4, 5]
    cookie = path_cookie(3)
    assert ops[2] == [FlowDelete(cookie=cookie)]  # s2 is off the route now
    assert ops[5] == new[5]  # s5 is new: adds only
    assert ops[3] == [FlowDelete(cookie=cookie, strict=old[3][0]), new[3][0]]  # OF1.0: strict delete
    assert ops[1] == [FlowDelete(cookie=cookie), new[1][0]]
    assert reinstall_ops(new, new, lambda d: OF13) == {}


def test_paths_matching_the_same_traffic_at_the_same_priority_clash() -> None:
    """The switch keeps one flow per match+priority: deleting either path would strip the other."""
    both = parse_path({"name": "a", "src": "10.0.0.1", "dst": "10.0.0.4", "queue": 2})
    back = parse_path({"name": "b", "src": "10.0.0.4", "dst": "10.0.0.1", "queue": 1, "direction": "forward"})
    assert clashing_path(back, [both]) == both
    assert clashing_path(both, [both]) is None  # itself, by name
    other = [parse_path({"name": "c", "src": "10.0.0.4", "dst": "10.0.0.1", "queue": 1,
                         "direction": "forward", "priority": 100}),
             parse_path({"name": "d", "src": "10.0.0.1", "dst": "10.0.0.4", "queue": 1, "protocol": 6})]
    assert clashing_path(both, other) is None
