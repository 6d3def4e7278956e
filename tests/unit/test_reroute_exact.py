"""The route search and the re-plan check against networkx, on random fabrics that change at random.

`Topology.search` must return a shortest route; `needs_reroute` must say yes
exactly when the stored route broke or a strictly shorter one appeared, even
though it looks only at the links changed since the plan (the link log), and
`Shortcuts` only at cables that were not there when the route was chosen.
Brute force here: a networkx graph rebuilt from `Topology.links()` and a
hop-by-hop walk of the route. Each test that takes `search` runs twice: with
the Python search, and with every search handed to scipy's C BFS
(`qosapp.core.csgraph`, which a real fabric only uses above
`COMPILED_MIN_EDGES`).
"""
from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from qosapp.core import topology as topology_module
from qosapp.core.csgraph import CompiledGraph
from qosapp.core.paths import PathState, needs_reroute, plan_path
from qosapp.core.pathspec import INSTALLED, PathSpec
from qosapp.core.topology import LINK_EVENTS_KEPT, NoPath, Shortcuts, Topology
from tests.unit.fabric_builders import cable, mac_of

SWITCHES = 30


@pytest.fixture(params=["python", "compiled"])
def search(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """"compiled": every fabric counts as big and the Python search gives up at once."""
    if request.param == "compiled":
        monkeypatch.setattr(topology_module, "COMPILED_MIN_EDGES", 0)
        monkeypatch.setattr(topology_module, "C_SEARCH_RATIO", 10**9)
    return str(request.param)


def random_fabric(rng: random.Random) -> tuple[Topology, list[tuple[int, int, int, int]]]:
    """30 switches, ~45 random cables (port 1 = the host, cables from port 2 up); a host on every switch."""
    topo = Topology()
    next_port = dict.fromkeys(range(1, SWITCHES + 1), 2)
    cables = []
    for a, b in sorted(nx.gnm_random_graph(SWITCHES, 45, seed=rng.randrange(10**6)).edges()):
        a, b = a + 1, b + 1
        cables.append((a, next_port[a], b, next_port[b]))
        next_port[a] += 1
        next_port[b] += 1
    for dpid in range(1, SWITCHES + 1):
        topo.add_switch(dpid, range(1, 40))
    for a, pa, b, pb in cables:
        cable(topo, a, pa, b, pb)
    for dpid in range(1, SWITCHES + 1):
        topo.learn_host(mac_of(dpid), f"10.0.0.{dpid}", dpid, 1)
    return topo, cables


def graph_of(topo: Topology) -> nx.DiGraph:
    graph = nx.DiGraph()
    graph.add_nodes_from(topo.switches)
    graph.add_edges_from((src[0], dst[0]) for src, dst in topo.links())
    return graph


def distance(graph: nx.DiGraph, src: int, dst: int) -> int | None:
    try:
        return int(nx.shortest_path_length(graph, src, dst))
    except nx.NetworkXNoPath:
        return None


def should_reroute(topo: Topology, state: PathState) -> bool:
    """The long way: walk every hop, and compare with networkx's shortest length."""
    if topo.version == state.version:
        return False
    if state.state != INSTALLED:
        return True
    hops = state.forward
    if not all(topo.has_link(a.dpid, a.out_port, b.dpid, b.in_port) and topo.has_link(b.dpid, b.in_port, a.dpid, a.out_port)
               for a, b in zip(hops, hops[1:])):
        return True
    best = distance(graph_of(topo), hops[0].dpid, hops[-1].dpid)
    return best is not None and best + 1 < len(hops)


def change_at_random(topo: Topology, rng: random.Random, cables: list[tuple[int, int, int, int]],
                     down: list[tuple[int, int, int, int]]) -> None:
    """One of: a cable down, a cable that was down back, a new cable, one direction of a cable gone."""
    kind = rng.randrange(4)
    if kind == 0 and cables:
        gone = cables.pop(rng.randrange(len(cables)))
        topo.port_down(gone[0], gone[1])
        down.append(gone)
    elif kind == 1 and down:
        back = down.pop(rng.randrange(len(down)))
        cable(topo, *back)
        cables.append(back)
    elif kind == 2:
        a, b = rng.sample(range(1, SWITCHES + 1), 2)
        ports = (20 + len(cables) + len(down), 20 + len(cables) + len(down))
        if not topo.is_link_port(a, ports[0]) and not topo.is_link_port(b, ports[1]):
            cable(topo, a, ports[0], b, ports[1])
            cables.append((a, ports[0], b, ports[1]))
    elif cables:
        one_way = rng.choice(cables)
        topo.remove_link(one_way[0], one_way[1], one_way[2], one_way[3])


def test_every_route_is_as_short_as_networkx_says(search: str) -> None:
    rng = random.Random(11)
    for _ in range(10):
        topo, cables = random_fabric(rng)
        for a, pa, _b, _pb in rng.sample(cables, 5):  # some cables one way only
            topo.remove_link(a, pa)
        graph = graph_of(topo)
        for src in range(1, SWITCHES + 1):
            for dst in range(1, SWITCHES + 1):
                best = distance(graph, src, dst)
                try:
                    route = topo.shortest_path(src, dst)
                except NoPath:
                    assert best is None, (src, dst)
                    continue
                assert len(route) == best + 1, (src, dst, route)
                assert all(graph.has_edge(a, b) for a, b in zip(route, route[1:]))
                assert route == topo.shortest_path(src, dst)  # the same among equals every time
        assert (topo._csr is not None) == (search == "compiled")


def test_the_patched_array_is_the_rebuilt_one() -> None:
    """Edge changes patched in from the link log give the very array a fresh build gives (same row order)."""
    rng = random.Random(2)
    topo, cables = random_fabric(rng)
    down: list[tuple[int, int, int, int]] = []
    compiled = CompiledGraph(topo._graph._succ, topo.version)
    for _ in range(30):
        before = topo.version
        change_at_random(topo, rng, cables, down)
        changes = topo.edges_changed_since(before)
        assert changes is not None and compiled.update(changes, topo.version)
        fresh = CompiledGraph(topo._graph._succ, topo.version)
        assert np.array_equal(compiled._indptr, fresh._indptr) and np.array_equal(compiled._indices, fresh._indices)
        src, dst = rng.sample(range(1, SWITCHES + 1), 2)
        assert compiled.route(src, dst) == fresh.route(src, dst)
        assert compiled.distances(src) == fresh.distances(src) == dict(nx.single_source_shortest_path_length(
            graph_of(topo), src))


def test_needs_reroute_is_exact_while_the_fabric_changes(search: str) -> None:
    rng = random.Random(5)
    for _ in range(12):
        topo, cables = random_fabric(rng)
        down: list[tuple[int, int, int, int]] = []
        specs = [PathSpec(name=f"p{i}", src=f"10.0.0.{s}", dst=f"10.0.0.{d}", protocol=6)
                 for i, (s, d) in enumerate(rng.sample(range(1, SWITCHES + 1), 2) for _ in range(25))]
        states = {spec.name: plan_path(spec, topo) for spec in specs}
        for _round in range(8):  # plans of different ages pile up: some kept for several rounds
            for _ in range(rng.randrange(1, 4)):
                change_at_random(topo, rng, cables, down)
            shortcuts = Shortcuts(topo)
            for spec in specs:
                state = states[spec.name]
                assert needs_reroute(spec, state, topo, shortcuts) == should_reroute(topo, state), (spec, state)
                if should_reroute(topo, state):
                    states[spec.name] = plan_path(spec, topo)


def test_a_forgotten_log_falls_back_to_the_long_check(search: str) -> None:
    rng = random.Random(3)
    topo, cables = random_fabric(rng)
    specs = [PathSpec(name=f"p{d}", src="10.0.0.1", dst=f"10.0.0.{d}", protocol=6) for d in range(2, SWITCHES + 1)]
    states = {spec.name: plan_path(spec, topo) for spec in specs}
    version = topo.version
    victim = next(s for s in states.values() if len(s.forward) > 2).forward[0]
    topo.port_down(victim.dpid, victim.out_port)
    for _ in range(LINK_EVENTS_KEPT // 2):  # a far cable flapping pushes the route's removal out of the log
        a, pa, b, pb = cables[-1]
        topo.port_down(a, pa)
        cable(topo, a, pa, b, pb)
    assert topo.links_removed_since(version) is None and topo.edges_new_since(version) is None
    shortcuts = Shortcuts(topo)
    for spec in specs:
        assert needs_reroute(spec, states[spec.name], topo, shortcuts) == should_reroute(topo, states[spec.name])


def test_a_cable_back_up_costs_no_search_for_the_paths_planned_before_it_went_down(search: str) -> None:
    rng = random.Random(8)
    topo, cables = random_fabric(rng)
    specs = [PathSpec(name=f"p{d}", src="10.0.0.1", dst=f"10.0.0.{d}", protocol=6) for d in range(2, SWITCHES + 1)]
    states = {spec.name: plan_path(spec, topo) for spec in specs}
    victim = next(s for s in states.values() if len(s.forward) > 2).forward[0]
    peer = topo.peer(victim.dpid, victim.out_port)
    assert peer is not None
    topo.port_down(victim.dpid, victim.out_port)
    shortcuts = Shortcuts(topo)
    detoured = {spec.name for spec in specs if needs_reroute(spec, states[spec.name], topo, shortcuts)}
    assert detoured
    for name in detoured:
        states[name] = plan_path(next(s for s in specs if s.name == name), topo)
    cable(topo, victim.dpid, victim.out_port, *peer)
    shortcuts = Shortcuts(topo)
    back = {spec.name for spec in specs if needs_reroute(spec, states[spec.name], topo, shortcuts)}
    assert back == {name for name in detoured if should_reroute(topo, states[name])}
    assert shortcuts.searches <= len(detoured)  # the others were planned with the cable there: nothing to search


def test_a_small_fabric_never_loads_numpy_or_scipy() -> None:
    """They cost ~40 MB and 0.5 s to import: only a fabric past COMPILED_MIN_EDGES pays that."""
    code = ("import sys; from tests.unit.fabric_builders import fat_tree_k4; topo = fat_tree_k4(); "
            "topo.shortest_path(21, 28); topo.distances_to(1); "
            "print(sorted(m for m in ('numpy', 'scipy', 'qosapp.core.csgraph') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "[]", out.stderr
