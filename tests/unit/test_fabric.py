"""QoS paths and learned forwarding through the core: topology events in, flow operations out.

A ring is built only with the calls the Ryu shell makes (`switch_connected`,
`link_added` for each direction, `packet_in` for ARP), `send` is a recorder
and the store is a real SQLite file, so what is checked is exactly what a
switch would be sent. No Ryu, no OVS.

Ring numbering (as tests/unit/fabric_builders.py): switch i has host i on
port 1 (10.0.0.i, MAC 00:00:00:00:00:0i), port 2 to switch i+1's port 3.
On ring(5) the route 10.0.0.1 -> 10.0.0.3 is s1 (in 1, out 2), s2 (3, 2),
s3 (3, 1); without the s1-s2 cable it is s1 (1, 3), s5 (2, 3), s4 (2, 3),
s3 (2, 1).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from qosapp.core import forwarding
from qosapp.core.compiler import OF10, OF13, FlowDelete, FlowSpec
from qosapp.core.controller import WIPE
from qosapp.service import QosService
from tests.unit.fakeoftable import FakeSwitches
from tests.unit.serviceenv import make_service
from qosapp.core.forwarding import BROADCAST, CONTROLLER, ETH_TYPE_ARP, ETH_TYPE_LLDP
from qosapp.core.model import ValidationError, format_dpid
from qosapp.core.cookies import path_cookie
from qosapp.core.queues import QueueProfile
from tests.unit.fabric_builders import mac_of

IPV4 = 0x0800
PATH = {"name": "h1-h3", "src": "10.0.0.1", "dst": "10.0.0.3", "protocol": 6, "dst-port": 5001, "queue": 2}
COOKIE1 = 0x5000000000000001
#: ring(5) hops for 10.0.0.1 <-> 10.0.0.3 as (dpid, in, out), before and after the s1-s2 cable goes
SHORT_FWD = [(1, 1, 2), (2, 3, 2), (3, 3, 1)]
SHORT_REV = [(3, 1, 3), (2, 2, 3), (1, 2, 1)]
LONG_FWD = [(1, 1, 3), (5, 2, 3), (4, 2, 3), (3, 2, 1)]
LONG_REV = [(3, 1, 2), (4, 3, 2), (5, 3, 2), (1, 3, 1)]


class Recorder(FakeSwitches):
    """Stands in for the Ryu shell's send: every (dpid, ops) call, and each switch's table after them."""


class QueueRecorder:
    """A queue backend that applies nothing for real and keeps the calls."""

    def __init__(self) -> None:
        self.applied: list[tuple[int, str, QueueProfile]] = []
        self.cleared: list[tuple[int, str]] = []
        self.classified: list[tuple[int, str, tuple[Any, ...]]] = []

    def apply(self, dpid: int, port_name: str, profile: QueueProfile) -> str | None:
        self.applied.append((dpid, port_name, profile))
        return None

    def rates(self, dpid: int, port_name: str) -> None:
        return None

    def clear(self, dpid: int, port_name: str) -> None:
        self.cleared.append((dpid, port_name))

    def classify(self, dpid: int, port_name: str, filters: tuple[Any, ...]) -> str | None:
        self.classified.append((dpid, port_name, filters))
        return None


@pytest.fixture
def state_dir(tmp_path: Path) -> str:
    return str(tmp_path / "state")


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


@pytest.fixture
def core(state_dir: str, rec: Recorder) -> QosService:
    return make_service(state_dir, rec)


# ---------------------------------------------------------------- builders
def ports_of(i: int) -> dict[int, str]:
    return {p: f"s{i}-eth{p}" for p in (1, 2, 3)}


def connect_ring(core: QosService, n: int, version: int = OF13, skip: tuple[int, ...] = ()) -> None:
    """Switches 1..n connect, then LLDP reports every cable in both directions."""
    for i in range(1, n + 1):
        if i not in skip:
            core.switch_connected(i, version, ports_of(i))
    for i in range(1, n + 1):
        nxt = i % n + 1
        core.link_added(i, 2, nxt, 3)
        core.link_added(nxt, 3, i, 2)


def arp_from(core: QosService, i: int, dst_mac: str = BROADCAST) -> list[int]:
    """Host i sends an ARP frame into its switch's port 1 and the table traps it (packet-in)."""
    return core.packet_in(i, 1, mac_of(i), dst_mac, ETH_TYPE_ARP, f"10.0.0.{i}")


def ring_with_hosts(core: QosService, n: int = 5, hosts: tuple[int, ...] = (1, 3), version: int = OF13) -> None:
    connect_ring(core, n, version)
    for i in hosts:
        arp_from(core, i)


def queue_flow(dpid_in_out: tuple[int, int, int], reverse: bool, queue: int = 2, cookie: int = COOKIE1,
               version: int = OF13) -> FlowSpec:
    """One hop's flow of PATH: in_port + the 5-tuple (mirrored for the reverse), then the queue."""
    _dpid, in_port, out_port = dpid_in_out
    src, dst = ("10.0.0.3", "10.0.0.1") if reverse else ("10.0.0.1", "10.0.0.3")
    l4 = ("tp_src", 5001) if reverse else ("tp_dst", 5001)
    actions = (("enqueue", out_port, queue),) if version == OF10 else (("set_queue", queue), ("output", out_port))
    return FlowSpec(cookie=cookie, priority=32767,
                    match=(("in_port", in_port), ("eth_type", IPV4), ("ip_proto", 6), ("ipv4_src", src),
                           ("ipv4_dst", dst), l4),
                    actions=actions, table_id=0)


def expected_path_flows(fwd: list[tuple[int, int, int]], rev: list[tuple[int, int, int]],
                        **kwargs: Any) -> dict[int, list[FlowSpec]]:
    """{dpid: [forward flow, reverse flow]} as the core sends them (forward rules first)."""
    out: dict[int, list[FlowSpec]] = {}
    for hop in fwd:
        out.setdefault(hop[0], []).append(queue_flow(hop, False, **kwargs))
    for hop in rev:
        out.setdefault(hop[0], []).append(queue_flow(hop, True, **kwargs))
    return out


def with_cookie(calls: list[tuple[int, list[Any]]], cookie: int) -> list[tuple[int, list[Any]]]:
    """Only the operations carrying `cookie`, per call, in order (calls without any left out)."""
    out = []
    for dpid, ops in calls:
        mine = [op for op in ops if op.cookie == cookie]
        if mine:
            out.append((dpid, mine))
    return out


def hops(view: dict[str, Any], key: str = "hops") -> list[tuple[int, int, int]]:
    return [(int(h["dpid"].replace(":", ""), 16), h["in-port"], h["out-port"]) for h in view["status"][key]]


# ---------------------------------------------------------------- packet-in
def test_arp_from_a_host_port_is_sent_on_along_the_tree(core: QosService) -> None:
    connect_ring(core, 5)
    # first ARP of h1: port 1 is unknown, the host is learned and the broadcast goes out of the tree ports
    assert arp_from(core, 1) == [2, 3]
    assert core.fabric.topology.host_by_ip("10.0.0.1").port == 1  # type: ignore[union-attr]
    # now a host port: its ARP is only trapped by the flows, so the controller still sends it on
    assert arp_from(core, 1) == [2, 3]
    # the spanning tree (BFS from s1) leaves out the s3-s4 cable: s4 floods toward s5 only
    assert arp_from(core, 4) == [2]
    # an ARP reply (unicast to the known h1) from h3 goes toward h1 only: s3 -> s2 via port 3
    assert arp_from(core, 3, dst_mac=mac_of(1)) == [3]
    # a frame for a host behind its own in_port is not sent back out of it
    assert arp_from(core, 1, dst_mac=mac_of(1)) == []
    # an ARP copy arriving over a cable was already forwarded by the flows: dropped, nothing learned
    assert core.packet_in(1, 2, mac_of(2), mac_of(1), ETH_TYPE_ARP, "10.0.0.2") == []
    assert core.fabric.topology.host_by_mac(mac_of(2)) is None


def test_packet_in_drops_what_the_flows_already_forwarded(core: QosService) -> None:
    connect_ring(core, 3)
    arp_from(core, 1)
    assert core.packet_in(1, 1, mac_of(1), BROADCAST, IPV4, "10.0.0.1") == []  # host port, not ARP: flows flooded it
    assert core.packet_in(1, 2, mac_of(9), BROADCAST, ETH_TYPE_ARP, "10.0.0.9") == []  # from a link
    assert core.packet_in(1, 1, mac_of(1), forwarding.LLDP_MAC_NEAREST_BRIDGE, ETH_TYPE_LLDP, None) == []
    assert core.fabric.topology.host_by_mac(mac_of(9)) is None


def test_learning_a_host_sends_its_flows_in_the_forwarding_table(core: QosService, rec: Recorder) -> None:
    connect_ring(core, 3)
    rec.take()
    arp_from(core, 1)
    calls = dict(rec.take())
    assert sorted(calls) == [1, 2, 3]
    to_h1 = forwarding.forwarding_cookie(forwarding.KIND_DST, 1)
    outs = {dpid: [op.actions for op in ops if op.cookie == to_h1] for dpid, ops in calls.items()}
    assert outs == {1: [(("output", 1),)], 2: [(("output", 3),)], 3: [(("output", 2),)]}
    arp_trap = FlowSpec(cookie=forwarding.forwarding_cookie(forwarding.KIND_ARP, 1), priority=11,
                        match=(("in_port", 1), ("eth_type", ETH_TYPE_ARP)), actions=(("output", CONTROLLER),),
                        table_id=1)
    assert arp_trap in calls[1]
    assert all(op.table_id == 1 for ops in calls.values() for op in ops if isinstance(op, FlowSpec))
    # the port is a host port now: its unknown-port trap goes (deleted strictly, from table 1)
    gone = [op for op in calls[1] if isinstance(op, FlowDelete)]
    assert [(op.cookie, op.strict.table_id if op.strict else None) for op in gone] == \
        [(forwarding.forwarding_cookie(forwarding.KIND_UNKNOWN, 1), 1)]


def test_host_port_down_forgets_the_host_and_deletes_its_flows(core: QosService, rec: Recorder) -> None:
    connect_ring(core, 3)
    arp_from(core, 1)
    rec.take()
    core.port_state(1, 1, live=False)
    to_h1 = forwarding.forwarding_cookie(forwarding.KIND_DST, 1)
    deleted = {dpid for dpid, ops in rec.take() for op in ops if isinstance(op, FlowDelete) and op.cookie == to_h1}
    assert deleted == {1, 2, 3}
    assert core.fabric.topology.host_by_ip("10.0.0.1") is None


# ---------------------------------------------------------------- installing a path
def test_add_path_enabled_installs_every_hop_both_directions(core: QosService, rec: Recorder) -> None:
    ring_with_hosts(core)
    core.enable()
    rec.take()
    path = core.add_path(PATH)
    assert path.id == 1 and path_cookie(path.id) == COOKIE1
    expected = expected_path_flows(SHORT_FWD, SHORT_REV)
    assert rec.take() == [(1, expected[1]), (2, expected[2]), (3, expected[3])]
    view = core.path_view(path)
    assert view["status"]["state"] == "installed" and view["installed"] is True
    assert view["cookie"] == "0x5000000000000001"
    assert hops(view) == SHORT_FWD and hops(view, "reverse-hops") == SHORT_REV


def test_add_path_of10_uses_enqueue(core: QosService, rec: Recorder) -> None:
    ring_with_hosts(core, version=OF10)
    core.enable()
    rec.take()
    core.add_path(PATH)
    expected = expected_path_flows(SHORT_FWD, SHORT_REV, version=OF10)
    assert rec.take() == [(1, expected[1]), (2, expected[2]), (3, expected[3])]


def test_service_path_marks_and_outputs_on_the_route_port(core: QosService, rec: Recorder) -> None:
    core.add_service({"name": "Voice", "dscp": "EF"})
    ring_with_hosts(core)
    core.enable()
    rec.take()
    core.add_path({"name": "voice", "src": "10.0.0.1", "dst": "10.0.0.3", "service": "Voice",
                   "direction": "forward"})
    calls = rec.take()
    assert [(dpid, [op.actions for op in ops]) for dpid, ops in calls] == [
        (1, [(("set_field", "ip_dscp", 46), ("output", 2))]),
        (2, [(("set_field", "ip_dscp", 46), ("output", 2))]),
        (3, [(("set_field", "ip_dscp", 46), ("output", 1))])]
    assert [op.table_id for _d, ops in calls for op in ops] == [0, 0, 0]


def test_add_path_disabled_stores_but_sends_nothing(core: QosService, rec: Recorder) -> None:
    ring_with_hosts(core)
    rec.take()
    path = core.add_path(PATH)
    assert rec.calls == []
    assert core.path_view(path)["status"]["state"] == "installed"
    assert core.path_view(path)["installed"] is False
    assert [(pid, name) for pid, name, _b in core.store.paths()] == [(1, "h1-h3")]


def test_service_used_by_a_path_cannot_be_deleted(core: QosService) -> None:
    core.add_service({"name": "Voice", "dscp": "EF"})
    core.add_path({"name": "voice", "src": "10.0.0.1", "dst": "10.0.0.3", "service": "Voice"})
    with pytest.raises(ValidationError) as info:
        core.delete_service("Voice")
    assert (info.value.status, info.value.field) == (409, "name")
    assert "path voice" in info.value.reason
    core.delete_path("voice")
    core.delete_service("Voice")
    assert "Voice" not in core.services


def test_status_counts_paths(core: QosService) -> None:
    core.add_path(PATH)
    core.add_path({**PATH, "name": "second", "dst": "10.0.0.2"})
    assert core.status()["paths"] == 2
    core.delete_path("second")
    assert core.status()["paths"] == 1


def test_add_path_rejections_change_nothing(core: QosService, rec: Recorder) -> None:
    ring_with_hosts(core)
    core.enable()
    core.add_path(PATH)
    rec.take()
    for bad, status in (({**PATH, "queue": 1}, 409), ({**PATH, "name": "x", "queue": None, "service": "Gold"}, 409),
                        ({**PATH, "name": "x", "dst": "10.0.0.0/24"}, 400)):
        with pytest.raises(ValidationError) as info:
            core.add_path(bad)
        assert info.value.status == status
    assert [name for _i, name, _b in core.store.paths()] == ["h1-h3"]
    assert list(core.fabric.paths) == ["h1-h3"]
    assert rec.calls == []


# ---------------------------------------------------------------- topology changes
def test_link_down_on_the_route_reroutes(core: QosService, rec: Recorder) -> None:
    ring_with_hosts(core)
    core.enable()
    path = core.add_path(PATH)
    rec.take()
    core.link_removed(1, 2, 2, 3)
    long = expected_path_flows(LONG_FWD, LONG_REV)
    delete = FlowDelete(cookie=COOKIE1)
    assert with_cookie(rec.take(), COOKIE1) == [
        (1, [delete, *long[1]]), (2, [delete]), (3, [delete, *long[3]]), (4, long[4]), (5, long[5])]
    view = core.path_view(path)
    assert view["status"]["state"] == "installed"
    assert hops(view) == LONG_FWD and hops(view, "reverse-hops") == LONG_REV
    # the other direction of the dead cable: the new route does not use it, nothing moves
    core.link_removed(2, 3, 1, 2)
    assert with_cookie(rec.take(), COOKIE1) == []
    assert hops(core.path_view(path)) == LONG_FWD


def test_link_down_on_the_route_of10_deletes_strictly(core: QosService, rec: Recorder) -> None:
    ring_with_hosts(core, version=OF10)
    core.enable()
    core.add_path(PATH)
    rec.take()
    core.link_removed(1, 2, 2, 3)
    short = expected_path_flows(SHORT_FWD, SHORT_REV, version=OF10)
    long = expected_path_flows(LONG_FWD, LONG_REV, version=OF10)
    strict = {d: [FlowDelete(cookie=COOKIE1, strict=f) for f in flows] for d, flows in short.items()}
    assert with_cookie(rec.take(), COOKIE1) == [
        (1, [*strict[1], *long[1]]), (2, strict[2]), (3, [*strict[3], *long[3]]), (4, long[4]), (5, long[5])]


def test_link_down_elsewhere_does_not_touch_the_path(core: QosService, rec: Recorder) -> None:
    ring_with_hosts(core)
    core.enable()
    core.add_path(PATH)
    rec.take()
    core.link_removed(4, 2, 5, 3)
    core.link_removed(5, 3, 4, 2)
    assert with_cookie(rec.take(), COOKIE1) == []


def test_cable_back_restores_the_short_route(core: QosService, rec: Recorder) -> None:
    ring_with_hosts(core)
    core.enable()
    path = core.add_path(PATH)
    core.link_removed(1, 2, 2, 3)
    core.link_removed(2, 3, 1, 2)
    rec.take()
    core.link_added(1, 2, 2, 3)
    core.link_added(2, 3, 1, 2)
    short = expected_path_flows(SHORT_FWD, SHORT_REV)
    delete = FlowDelete(cookie=COOKIE1)
    assert with_cookie(rec.take(), COOKIE1) == [
        (1, [delete, *short[1]]), (2, short[2]), (3, [delete, *short[3]]), (4, [delete]), (5, [delete])]
    assert hops(core.path_view(path)) == SHORT_FWD


def test_host_port_down_makes_the_path_pending_and_removes_it(core: QosService, rec: Recorder) -> None:
    ring_with_hosts(core)
    core.enable()
    path = core.add_path(PATH)
    rec.take()
    core.port_state(3, 1, live=False)
    delete = FlowDelete(cookie=COOKIE1)
    assert with_cookie(rec.take(), COOKIE1) == [(1, [delete]), (2, [delete]), (3, [delete])]
    status = core.path_view(path)["status"]
    assert status["state"] == "pending"
    assert status["reason"] == "unknown host 10.0.0.3: waiting to see its traffic"
    assert core.path_view(path)["installed"] is False
    core.port_state(3, 1, live=True)
    arp_from(core, 3)
    expected = expected_path_flows(SHORT_FWD, SHORT_REV)
    assert with_cookie(rec.take(), COOKIE1) == [(1, expected[1]), (2, expected[2]), (3, expected[3])]


def test_switch_on_the_route_disconnecting_reroutes(core: QosService, rec: Recorder) -> None:
    ring_with_hosts(core)
    core.enable()
    path = core.add_path(PATH)
    rec.take()
    core.core.switch_disconnected(2, now=100.0)
    for a, b in ((1, 2), (2, 1)):  # what Ryu's LLDP service says when a switch leaves
        core.link_removed(a, 2 if a == 1 else 3, b, 3 if a == 1 else 2)
    # within the grace period s2 keeps its place: nothing is re-planned, no neighbour's flow changes
    assert rec.take() == []
    assert hops(core.path_view(path)) == SHORT_FWD
    assert core.core.expire_absent(now=100.0 + core.switch_grace - 1).flows == []
    core.apply(core.core.expire_absent(now=100.0 + core.switch_grace))
    long = expected_path_flows(LONG_FWD, LONG_REV)
    delete = FlowDelete(cookie=COOKIE1)
    # s2 is gone: nothing is sent to it; s1 and s3 swap their flows, s4 and s5 get theirs
    assert with_cookie(rec.take(), COOKIE1) == [
        (1, [delete, *long[1]]), (3, [delete, *long[3]]), (4, long[4]), (5, long[5])]
    assert hops(core.path_view(path)) == LONG_FWD
    assert core.absent == {}


def test_switch_that_lost_its_connection_keeps_forwarding_through_it(core: QosService, rec: Recorder) -> None:
    """Neighbours keep their flows towards the hosts behind it; it comes back to a cold start."""
    ring_with_hosts(core)
    rec.take()
    core.switch_disconnected(1)
    core.link_removed(1, 2, 2, 3)
    core.link_removed(5, 2, 1, 3)
    assert rec.take() == []  # no neighbour loses its flows towards 10.0.0.1 (behind s1)
    assert core.fabric.topology.host_by_ip("10.0.0.1") is not None
    core.expire_absent()  # well within the grace period: nothing
    assert rec.take() == [] and list(core.absent) == [1]
    core.switch_connected(1, OF13, ports_of(1))
    calls = rec.take()
    assert calls[0][0] == 1 and calls[0][1][0] == WIPE  # its cold start
    assert {dpid for dpid, _ops in calls} == {1}  # and nobody else's flows changed
    assert core.absent == {}


def test_a_cable_really_down_while_its_switch_is_away_is_re_planned(core: QosService, rec: Recorder) -> None:
    ring_with_hosts(core)
    core.enable()
    path = core.add_path(PATH)
    rec.take()
    core.switch_disconnected(2)
    core.port_state(1, 2, live=False)  # s1 sees its port to s2 go down: that cable is gone
    assert hops(core.path_view(path)) == LONG_FWD


# ---------------------------------------------------------------- enable / disable / delete
def test_disable_deletes_path_flows_enable_puts_them_back(core: QosService, rec: Recorder) -> None:
    ring_with_hosts(core)
    core.enable()
    path = core.add_path(PATH)
    rec.take()
    core.disable()
    delete = FlowDelete(cookie=COOKIE1)
    assert rec.take() == [(1, [delete]), (2, [delete]), (3, [delete])]
    assert not any(rec.holding(dpid, COOKIE1) for dpid in range(1, 6))
    assert core.path_view(path)["installed"] is False
    assert core.path_view(path)["status"]["state"] == "installed"  # the plan stays
    core.enable()
    expected = expected_path_flows(SHORT_FWD, SHORT_REV)
    assert rec.take() == [(1, expected[1]), (2, expected[2]), (3, expected[3])]
    assert {dpid: rec.holding(dpid, COOKIE1) for dpid in range(1, 6)} == \
        {1: set(expected[1]), 2: set(expected[2]), 3: set(expected[3]), 4: set(), 5: set()}
    assert core.path_view(path)["installed"] is True


def test_topology_change_while_disabled_sends_no_path_flows(core: QosService, rec: Recorder) -> None:
    ring_with_hosts(core)
    path = core.add_path(PATH)
    core.link_removed(1, 2, 2, 3)
    assert with_cookie(rec.take(), COOKIE1) == []
    assert hops(core.path_view(path)) == LONG_FWD
    core.enable()
    long = expected_path_flows(LONG_FWD, LONG_REV)
    assert rec.take() == [(1, long[1]), (3, long[3]), (4, long[4]), (5, long[5])]


def test_delete_path_deletes_exactly_its_cookie(core: QosService, rec: Recorder) -> None:
    ring_with_hosts(core, hosts=(1, 3, 4))
    core.enable()
    first = core.add_path(PATH)
    second = core.add_path({**PATH, "name": "h1-h4", "dst": "10.0.0.4"})
    assert (first.id, second.id) == (1, 2)
    rec.take()
    gone = core.delete_path("h1-h3")
    assert gone == first
    delete = FlowDelete(cookie=COOKIE1)
    assert rec.take() == [(1, [delete]), (2, [delete]), (3, [delete])]
    assert list(core.fabric.paths) == ["h1-h4"] and "h1-h3" not in core.fabric.plans
    assert [name for _i, name, _b in core.store.paths()] == ["h1-h4"]
    assert core.fabric.holding("h1-h4", core.switches)  # the other path's flows are still there
    assert hops(core.path_view(second)) == [(1, 1, 3), (5, 2, 3), (4, 2, 1)]
    core.delete_path("h1-h4")
    delete2 = FlowDelete(cookie=path_cookie(2))
    assert rec.take() == [(1, [delete2]), (4, [delete2]), (5, [delete2])]
    assert not any(rec.holding(dpid, cookie) for dpid in range(1, 6) for cookie in (COOKIE1, path_cookie(2)))
    assert core.fabric.paths == {} and not any(sw.paths for sw in core.switches.values())


def test_delete_pending_path_sends_nothing(core: QosService, rec: Recorder) -> None:
    connect_ring(core, 3)
    core.enable()
    core.add_path(PATH)
    rec.take()
    core.delete_path("h1-h3")
    assert rec.calls == []
    assert core.store.paths() == []


# ---------------------------------------------------------------- pending paths
def test_path_with_unknown_hosts_is_pending_until_packet_in_learns_them(core: QosService, rec: Recorder) -> None:
    connect_ring(core, 5)
    core.enable()
    rec.take()
    path = core.add_path(PATH)
    assert rec.calls == []
    status = core.path_view(path)["status"]
    assert (status["state"], status["reason"]) == ("pending", "unknown host 10.0.0.1: waiting to see its traffic")
    assert core.path_view(path)["installed"] is False
    arp_from(core, 1)
    assert with_cookie(rec.take(), COOKIE1) == []
    assert core.path_view(path)["status"]["reason"] == "unknown host 10.0.0.3: waiting to see its traffic"
    arp_from(core, 3)
    expected = expected_path_flows(SHORT_FWD, SHORT_REV)
    assert with_cookie(rec.take(), COOKIE1) == [(1, expected[1]), (2, expected[2]), (3, expected[3])]
    assert core.path_view(path)["status"]["state"] == "installed"
    assert core.path_view(path)["installed"] is True


def test_path_between_unconnected_islands_is_pending_until_a_cable_joins_them(core: QosService, rec: Recorder) -> None:
    for i in (1, 2, 3):
        core.switch_connected(i, OF13, ports_of(i))
    core.link_added(1, 2, 2, 3)
    core.link_added(2, 3, 1, 2)
    arp_from(core, 1)
    arp_from(core, 3)
    core.enable()
    path = core.add_path(PATH)
    assert core.path_view(path)["status"]["state"] == "pending"
    rec.take()
    core.link_added(2, 2, 3, 3)
    core.link_added(3, 3, 2, 2)
    expected = expected_path_flows(SHORT_FWD, SHORT_REV)
    assert with_cookie(rec.take(), COOKIE1) == [(1, expected[1]), (2, expected[2]), (3, expected[3])]


# ---------------------------------------------------------------- restart
def test_restart_keeps_paths_and_installs_them_again(state_dir: str, core: QosService, rec: Recorder) -> None:
    ring_with_hosts(core)
    core.enable()
    core.add_path(PATH)
    core.add_path({**PATH, "name": "gone", "dst": "10.0.0.2"})
    core.delete_path("gone")
    core.store.close()
    rec.take()

    again = make_service(state_dir, rec)
    assert list(again.fabric.paths) == ["h1-h3"]
    path = again.get_path("h1-h3")
    assert path.id == 1 and path.queue == 2 and path.dst_port == 5001
    assert again.path_view(path)["status"]["state"] == "pending"  # nothing discovered yet
    ring_with_hosts(again)
    expected = expected_path_flows(SHORT_FWD, SHORT_REV)
    assert with_cookie(rec.take(), COOKIE1) == [(1, expected[1]), (2, expected[2]), (3, expected[3])]
    # ids are never reused: the next path gets a new cookie
    assert again.add_path({**PATH, "name": "next", "dst": "10.0.0.2"}).id == 3
    again.store.close()


# ---------------------------------------------------------------- queues
SEED_QUEUES = {"sw": "all", "port": "all", "max-rate": "10M", "queues": {"0": {}, "1": {"max-rate": "2M"}}}


def test_missing_queue_reports_ports_and_installs_nothing(state_dir: str, rec: Recorder) -> None:
    queues = QueueRecorder()
    core = make_service(state_dir, rec, queues=queues)
    core.add_queue_profile(SEED_QUEUES)  # queues 0 and 1, the path wants 2
    ring_with_hosts(core)
    assert {(dpid, name) for dpid, name, _p in queues.applied} == {(i, f"s{i}-eth{p}") for i in range(1, 6)
                                                                   for p in (1, 2, 3)}
    core.enable()
    rec.take()
    path = core.add_path(PATH)
    assert with_cookie(rec.take(), COOKIE1) == []
    view = core.path_view(path)
    assert view["status"]["state"] == "missing-queues"
    missing = [(int(m["dpid"].replace(":", ""), 16), m["port"]) for m in view["status"]["missing-queues"]]
    assert missing == [(1, 1), (1, 2), (2, 2), (2, 3), (3, 1), (3, 3)]
    assert view["status"]["reason"].startswith("queue 2 does not exist on 00:00:00:00:00:00:00:01 port 1, ")
    assert hops(view) == SHORT_FWD  # the route is known, only the queue is not
    assert view["installed"] is False
    # a profile with queue 2 arrives: the path goes in
    core.add_queue_profile({**SEED_QUEUES, "queues": {"0": {}, "1": {"max-rate": "2M"}, "2": {"max-rate": "1M"}}})
    expected = expected_path_flows(SHORT_FWD, SHORT_REV)
    assert with_cookie(rec.take(), COOKIE1) == [(1, expected[1]), (2, expected[2]), (3, expected[3])]
    assert core.path_view(path)["status"]["state"] == "installed"


def test_queue_only_on_some_ports_names_the_others(state_dir: str, rec: Recorder) -> None:
    queues = QueueRecorder()
    core = make_service(state_dir, rec, queues=queues)
    three = {"max-rate": "10M", "queues": {"0": {}, "1": {}, "2": {"max-rate": "1M"}}}
    core.add_queue_profile({**three, "sw": "00:00:00:00:00:00:00:02"})  # s2 has queue 2 on every port
    ring_with_hosts(core)
    core.enable()
    rec.take()
    path = core.add_path(PATH)
    assert with_cookie(rec.take(), COOKIE1) == []
    missing = core.path_view(path)["status"]["missing-queues"]
    assert missing == [{"dpid": "00:00:00:00:00:00:00:01", "port": 1}, {"dpid": "00:00:00:00:00:00:00:01", "port": 2},
                       {"dpid": "00:00:00:00:00:00:00:03", "port": 1}, {"dpid": "00:00:00:00:00:00:00:03", "port": 3}]


def test_without_a_queue_backend_every_queue_exists(core: QosService) -> None:
    ring_with_hosts(core)
    assert core.queue_exists(1, 2, 7) is True
    assert core.path_view(core.add_path({**PATH, "queue": 7}))["status"]["state"] == "installed"


# ---------------------------------------------------------------- bugs found while writing these tests
def test_reconnect_without_disconnect_reinstalls_path_flows(core: QosService, rec: Recorder) -> None:
    """A cold start wipes every table of the switch, so its path flows must come back.

    A switch may reconnect without a disconnect event first (see the policy
    test of the same name in test_core.py); the topology does not change, so
    no re-route happens, and only the connect itself can put them back.
    """
    ring_with_hosts(core)
    core.enable()
    core.add_path(PATH)
    rec.take()
    core.switch_connected(2, OF13, ports_of(2))
    calls = rec.take()
    assert calls[0][0] == 2 and calls[0][1][0] == WIPE
    expected = expected_path_flows(SHORT_FWD, SHORT_REV)
    sent_to_s2 = [op for dpid, ops in calls if dpid == 2 for op in ops if op.cookie == COOKIE1]
    assert sent_to_s2 == expected[2]


def test_route_through_a_switch_the_core_has_not_seen_connect(core: QosService, rec: Recorder) -> None:
    """LLDP (or a late link event) can name a switch that is not connected to the core.

    `Fabric.path_updates` means to give flows to connected switches only;
    the other hops get theirs when their switch connects.
    """
    for i in (1, 3):
        core.switch_connected(i, OF13, ports_of(i))
    for a, pa, b, pb in ((1, 2, 2, 3), (2, 2, 3, 3)):  # s2 is only known from links
        core.link_added(a, pa, b, pb)
        core.link_added(b, pb, a, pa)
    arp_from(core, 1)
    arp_from(core, 3)
    core.enable()
    rec.take()
    core.add_path(PATH)
    expected = expected_path_flows(SHORT_FWD, SHORT_REV)
    assert with_cookie(rec.take(), COOKIE1) == [(1, expected[1]), (3, expected[3])]
    core.switch_connected(2, OF13, ports_of(2))
    sent_to_s2 = [op for dpid, ops in rec.take() if dpid == 2 for op in ops if op.cookie == COOKIE1]
    assert sent_to_s2 == expected[2]


def test_new_port_gets_forwarding_flows_at_once(core: QosService, rec: Recorder) -> None:
    """A port added to a switch (OFPPR_ADD -> `port_changed`) must get its port flow (an unknown port's trap).

    Until it has one, a broadcast entering there misses into the table-miss
    and the other host ports do not flood to it (a silent host there never
    hears an ARP request).
    """
    connect_ring(core, 3)
    arp_from(core, 1)
    rec.take()
    core.port_changed(1, 4, "s1-eth4")
    core.port_state(1, 4, live=True)  # the shell sends both for an added port
    ops = [op for dpid, items in rec.take() if dpid == 1 for op in items]
    trap4 = FlowSpec(cookie=forwarding.forwarding_cookie(forwarding.KIND_UNKNOWN, 4), priority=11,
                     match=(("in_port", 4),), actions=(("output", CONTROLLER),), table_id=1)
    assert trap4 in ops  # (unknown yet: everything that comes in there goes to the controller first)
    # h1's broadcasts now reach port 4 too
    host_flood = [op for op in ops if op.cookie == forwarding.forwarding_cookie(forwarding.KIND_FLOOD, 1)]
    assert host_flood and ("output", 4) in host_flood[0].actions


def test_deleted_port_on_the_route_reroutes(core: QosService, rec: Recorder) -> None:
    """A port deleted from a switch (OFPPR_DELETE -> `port_changed(..., None)`) takes its cable along."""
    ring_with_hosts(core)
    core.enable()
    path = core.add_path(PATH)
    rec.take()
    core.port_changed(2, 3, None)
    assert hops(core.path_view(path)) == LONG_FWD
    delete = FlowDelete(cookie=COOKIE1)
    long = expected_path_flows(LONG_FWD, LONG_REV)
    assert with_cookie(rec.take(), COOKIE1) == [
        (1, [delete, *long[1]]), (2, [delete]), (3, [delete, *long[3]]), (4, long[4]), (5, long[5])]


def test_path_install_state_follows_barrier_and_switch_errors(core: QosService, rec: Recorder) -> None:
    ring_with_hosts(core)
    core.enable()
    path = core.add_path(PATH)
    view = core.path_view(path)
    assert view["install"] == {format_dpid(d): {"state": "pending"} for d in (1, 2, 3)}
    core.flows_confirmed(1, [COOKIE1])
    core.flows_confirmed(2, [COOKIE1])
    core.flow_error(3, COOKIE1, "OFPET_BAD_ACTION/OFPBAC_BAD_QUEUE")
    install = core.path_view(path)["install"]
    assert install[format_dpid(1)] == {"state": "installed"} and install[format_dpid(2)] == {"state": "installed"}
    assert install[format_dpid(3)] == {"state": "error", "reason": "OFPET_BAD_ACTION/OFPBAC_BAD_QUEUE"}
    core.disable()
    assert core.path_view(path)["install"] == {}
    core.enable()
    core.delete_path(PATH["name"])
    assert core.path_installs() == {}


# ---------------------------------------------------------------- coalesced topology work (the Ryu shell's mode)
def test_coalesced_topology_work_leaves_the_switches_as_event_by_event_does(tmp_path: Path) -> None:
    """With `later`, events only mark the topology work due; one flush per burst ends in the same tables."""
    direct_rec, deferred_rec = Recorder(), Recorder()
    direct = make_service(str(tmp_path / "a"), direct_rec)
    deferred_core = make_service(str(tmp_path / "b"), deferred_rec).core
    queued: list[Any] = []
    deferred = QosService(deferred_core, send=deferred_rec, later=queued.append)
    for service in (direct, deferred):
        service.enable()
        service.add_path(PATH)
    ring_with_hosts(direct)
    ring_with_hosts(deferred)
    assert len(queued) == 1  # the whole burst (5 connects, 10 links, 2 hosts) scheduled one flush
    assert not deferred_rec.holding(2, COOKIE1)  # nothing of the path yet: its work is still due
    queued.pop()()
    for dpid in range(1, 6):
        assert deferred_rec.holding(dpid) == direct_rec.holding(dpid), f"s{dpid} differs"
    assert deferred_rec.holding(2, COOKIE1) == {queue_flow(SHORT_FWD[1], False), queue_flow(SHORT_REV[1], True)}
    deferred.port_state(1, 2, live=False)  # the s1-s2 cable goes: one more flush re-routes the path
    direct.port_state(1, 2, live=False)
    assert len(queued) == 1
    queued.pop()()
    assert deferred_rec.holding(5, COOKIE1) == direct_rec.holding(5, COOKIE1) != set()
