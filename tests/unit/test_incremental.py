"""Incremental topology work gives what a computation from scratch gives.

The core follows topology changes (`qosapp.core.nexthops.NextHops`,
`Fabric._observe`) and sends only the flows a change touches. These tests
play random event sequences (links up and down in any order, parallel
cables, hosts moving, switches leaving and coming back) and check after
each event that

- every destination's next hops equal `Topology.next_hops_to` from scratch;
- every switch *holds* (a fake flow table applying what was sent) exactly
  the forwarding flows `forwarding.forwarding_flows` computes from scratch;
- every path's plan is intact and shortest on the topology now, and the
  switches hold exactly its flows.

If the bounding missed a switch, a MAC, a destination or a path, one of
these differs.
"""
from __future__ import annotations

import random
from pathlib import Path

import pytest

from qosapp.core import compiler, forwarding, paths
from qosapp.core.compiler import OF13, FlowSpec
from qosapp.core.cookies import path_id_of
from qosapp.core.forwarding import BROADCAST, ETH_TYPE_ARP
from qosapp.core.nexthops import NextHops
from qosapp.core.pathspec import INSTALLED
from qosapp.core.topology import Topology
from qosapp.service import QosService
from tests.unit.fabric_builders import fat_tree_k4, ring
from tests.unit.fakeoftable import FakeSwitches
from tests.unit.serviceenv import make_service

Cable = tuple[int, int, int, int]


def leaf_spine_cables(spines: int, leaves: int) -> list[Cable]:
    """topologies.topos.LeafSpineTopo's numbering: leaf S+l port 1 = host, port 1+j = spine j; spine j port l."""
    return [(spines + leaf, 1 + j, j, leaf) for leaf in range(1, leaves + 1) for j in range(1, spines + 1)]


def scratch(topo: Topology) -> dict[int, dict[int, int]]:
    return {dst: dict(topo.next_hops_to(dst)) for dst in topo}


# ---------------------------------------------------------------- next hops
@pytest.mark.parametrize("seed", range(6))
def test_next_hops_follow_links_as_from_scratch(seed: int) -> None:
    """Random adds and removes (parallel cables too): after each update, the tables and the reported changes are exact."""
    rng = random.Random(seed)
    topo = ring(6, hosts=False) if seed % 2 else fat_tree_k4(hosts=False)
    ends = sorted({end for link in topo.links() for end in link})
    candidates = [(a, b) for a in ends for b in ends if a[0] != b[0]]
    extra = [((1, 9), (4, 9)), ((4, 9), (1, 9)), ((2, 8), (3, 8))]  # parallel / shortcut cables
    nh = NextHops()
    held: dict[int, dict[int, int]] = {}
    for step in range(60):
        if step:
            src, dst = rng.choice(candidates + extra)
            if topo.has_link(*src, *dst) or rng.random() < 0.4:
                topo.remove_link(*src, *dst) if topo.has_link(*src, *dst) else topo.port_down(*src)
            else:
                topo.add_link(*src, *dst)
        destinations = list(topo) if step % 7 else [d for d in topo if d % 2]
        changes = nh.update(dict(topo.links()), destinations)
        expected = {d: t for d, t in scratch(topo).items() if d in destinations}
        assert {d: dict(nh.toward(d)) for d in destinations} == expected, f"step {step}"
        for d in destinations:  # the changes reported are exactly the entries that differ from before
            before, now = held.get(d, {}), expected[d]
            moved = {s for s in set(before) | set(now) if before.get(s) != now.get(s)}
            assert changes.get(d, set()) == moved, f"step {step}, destination {d}"
        held = expected


def test_a_link_as_short_as_the_current_one_needs_no_search() -> None:
    """The second spine's cables change no distance: they are followed without a BFS from scratch."""
    topo = Topology()
    for leaf, port, spine, sport in leaf_spine_cables(2, 4):
        if spine == 1:
            topo.add_link(leaf, port, spine, sport)
            topo.add_link(spine, sport, leaf, port)
    nh = NextHops()
    nh.update(dict(topo.links()), list(topo))
    searches = nh.full_searches
    for leaf, port, spine, sport in leaf_spine_cables(2, 4):
        if spine == 2:
            topo.add_link(leaf, port, spine, sport)
            topo.add_link(spine, sport, leaf, port)
            nh.update(dict(topo.links()), list(topo))
    assert nh.full_searches - searches == 1  # only the new switch 2 as a destination
    assert {d: dict(nh.toward(d)) for d in topo} == scratch(topo)


# ---------------------------------------------------------------- the core, end to end
SPINES, LEAVES = 2, 5


def mac(leaf: int) -> str:
    return f"00:00:00:00:01:{leaf:02x}"


def ip(leaf: int) -> str:
    return f"10.0.1.{leaf}"


def ports(dpid: int) -> dict[int, str]:
    count = LEAVES if dpid <= SPINES else 1 + SPINES
    return {p: f"s{dpid}-eth{p}" for p in range(1, count + 1)}


def check_switches(svc: QosService, rec: FakeSwitches, label: str) -> None:
    """What each switch holds equals the from-scratch forwarding plus exactly its paths' plan flows."""
    core = svc.core
    topo = core.fabric.topology
    versions = {dpid: info.version for dpid, info in core.switches.items()}
    wanted_paths: dict[int, set[FlowSpec]] = {dpid: set() for dpid in versions}
    for name, plan in core.fabric.plans.items():
        if plan.state != INSTALLED:
            continue
        for dpid, flows in paths.path_flows(plan, core.fabric.paths[name].id or 0,
                                            lambda d: versions.get(d, OF13), core.service_dscps()).items():
            if dpid in versions:
                wanted_paths[dpid] |= set(flows)
    for dpid, version in versions.items():
        held = rec.holding(dpid)
        fwd = {f for f in held if f.table_id == compiler.FORWARDING_TABLE}
        scratch_fwd = set(compiler.in_forwarding_table(forwarding.forwarding_flows(topo, dpid), version))
        assert fwd == scratch_fwd, f"{label}: s{dpid} forwarding differs from scratch"
        assert {f for f in held if path_id_of(f.cookie) is not None} == wanted_paths[dpid], \
            f"{label}: s{dpid} path flows differ from the plans"


def plan_is_current(svc: QosService, label: str) -> None:
    """Each stored path's plan is what planning from scratch would say of it: same state and reason, a
    route as short, every cable of it there."""
    topo = svc.core.fabric.topology
    for name, plan in svc.core.fabric.plans.items():
        path = svc.core.fabric.paths[name]
        fresh = paths.plan_path(path, topo)
        assert (fresh.state, fresh.reason) == (plan.state, plan.reason), f"{label}: {name}"
        assert len(plan.forward) == len(fresh.forward), f"{label}: {name} is not on a shortest route"
        for a, b in zip(plan.forward, plan.forward[1:]):
            assert topo.has_link(a.dpid, a.out_port, b.dpid, b.in_port), f"{label}: {name}'s route is broken"


@pytest.mark.parametrize("seed", range(4))
def test_the_switches_hold_what_a_from_scratch_computation_gives(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    rec = FakeSwitches()
    svc = make_service(str(tmp_path / "state"), rec)
    svc.enable()
    leaves = [SPINES + n for n in range(1, LEAVES + 1)]
    for k in range(8):
        src, dst = rng.sample(leaves, 2)
        svc.add_path({"name": f"p{k}", "src": ip(src), "dst": ip(dst), "protocol": 6, "dst-port": 5000 + k,
                      "queue": 1})
    cables = leaf_spine_cables(SPINES, LEAVES)
    events = [("connect", d) for d in range(1, SPINES + LEAVES + 1)]
    events += [("link", c, way) for c in cables for way in (0, 1)]
    events += [("host", leaf, 1) for leaf in leaves]
    rng.shuffle(events)
    events += [("down", rng.choice(cables)), ("host", leaves[0], 1), ("disconnect", 1), ("connect", 1),
               ("move", leaves[1]), ("cable", rng.choice(cables)), ("down", rng.choice(cables))]
    for number, event in enumerate(events):
        kind = event[0]
        if kind == "connect":
            svc.switch_connected(event[1], OF13, ports(event[1]))
        elif kind == "disconnect":
            svc.switch_disconnected(event[1])
            svc.apply(svc.core.expire_absent(now=1e12))  # (past the grace period)
        elif kind == "link":
            leaf, lp, spine, sp = event[1]
            svc.link_added(*((leaf, lp, spine, sp) if event[2] == 0 else (spine, sp, leaf, lp)))
        elif kind == "cable":
            leaf, lp, spine, sp = event[1]
            svc.port_state(leaf, lp, True)
            svc.port_state(spine, sp, True)
            svc.link_added(leaf, lp, spine, sp)
            svc.link_added(spine, sp, leaf, lp)
        elif kind == "down":
            leaf, lp, spine, sp = event[1]
            svc.port_state(leaf, lp, False)
        elif kind == "host":
            svc.packet_in(event[1], event[2], mac(event[1]), BROADCAST, ETH_TYPE_ARP, ip(event[1]))
        elif kind == "move":  # host of leaf x unplugged and plugged into leaf 1's spare port (a new port 9)
            leaf = event[1]
            svc.port_state(leaf, 1, False)
            svc.port_changed(leaves[0], 9, "spare")
            svc.packet_in(leaves[0], 9, mac(leaf), BROADCAST, ETH_TYPE_ARP, ip(leaf))
        check_switches(svc, rec, f"event {number} {event}")
        plan_is_current(svc, f"event {number} {event}")
    assert any(p.state == INSTALLED for p in svc.core.fabric.plans.values())


def test_deferred_flushes_end_where_from_scratch_does(tmp_path: Path) -> None:
    """The Ryu shell's mode: events only mark the work due, flushes come now and then; same tables in the end."""
    rng = random.Random(7)
    rec = FakeSwitches()
    core = make_service(str(tmp_path / "state"), rec).core
    queued: list = []
    svc = QosService(core, send=rec, later=queued.append)
    rec.version_of = lambda dpid: core.switches[dpid].version
    svc.enable()
    leaves = [SPINES + n for n in range(1, LEAVES + 1)]
    for k in range(6):
        svc.add_path({"name": f"p{k}", "src": ip(leaves[k % LEAVES]), "dst": ip(leaves[(k + 2) % LEAVES]),
                      "protocol": 6, "dst-port": 6000 + k, "queue": 1})
    events: list = [lambda d=d: svc.switch_connected(d, OF13, ports(d)) for d in range(1, SPINES + LEAVES + 1)]
    for leaf, lp, spine, sp in leaf_spine_cables(SPINES, LEAVES):
        events.append(lambda a=(leaf, lp, spine, sp): svc.link_added(*a))
        events.append(lambda a=(spine, sp, leaf, lp): svc.link_added(*a))
    for leaf in leaves:
        events.append(lambda leaf=leaf: svc.packet_in(leaf, 1, mac(leaf), BROADCAST, ETH_TYPE_ARP, ip(leaf)))
    rng.shuffle(events)
    for event in events:
        event()
        if queued and rng.random() < 0.3:
            queued.pop()()
    while queued:
        queued.pop()()
    check_switches(svc, rec, "after the last flush")
    plan_is_current(svc, "after the last flush")
    assert all(p.state == INSTALLED for p in core.fabric.plans.values())
