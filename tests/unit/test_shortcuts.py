"""Unit tests for topology.Shortcuts: the per-added-link answer to "is there a shorter route now?".

The answer must be exactly what one search per path would say (checked
against brute force on random grids with random added cables), while the
number of BFS runs stays bounded by the added links, not by the paths.
"""
from __future__ import annotations

import random

from qosapp.core.paths import needs_reroute, plan_path
from qosapp.core.pathspec import PathSpec
from qosapp.core.topology import LINK_EVENTS_KEPT, SHORTCUT_ENDS_MAX, Shortcuts, Topology
from tests.unit.fabric_builders import cable, mac_of


def grid(n: int) -> Topology:
    """n x n grid, dpid = 1 + r*n + c; port 1 = host, 2..5 = N E S W; a host on every switch."""
    topo = Topology()
    for dpid in range(1, n * n + 1):
        topo.add_switch(dpid, [1, 2, 3, 4, 5] + list(range(10, 20)))
    for r in range(n):
        for c in range(n):
            here = 1 + r * n + c
            if c + 1 < n:
                cable(topo, here, 3, here + 1, 5)
            if r + 1 < n:
                cable(topo, here, 4, here + n, 2)
    for dpid in range(1, n * n + 1):
        topo.learn_host(mac_of(dpid), f"10.0.{dpid >> 8}.{dpid & 0xff}", dpid, 1)
    return topo


def brute_shorter(topo: Topology, src: int, dst: int, switches: int) -> bool:
    return len(topo.shortest_path(src, dst)) < switches


def test_matches_brute_force_on_random_shortcuts() -> None:
    rng = random.Random(7)
    for trial in range(20):
        topo = grid(6)
        planned = topo.version
        pairs = [(rng.randrange(1, 37), rng.randrange(1, 37)) for _ in range(30)]
        lengths = {p: len(topo.shortest_path(*p)) for p in pairs}
        next_port = 10
        for _ in range(rng.randrange(1, 4)):  # one to three new cables (both directions)
            a, b = rng.sample(range(1, 37), 2)
            cable(topo, a, next_port, b, next_port)
            next_port += 1
        shortcuts = Shortcuts(topo)
        for (src, dst), switches in lengths.items():
            assert shortcuts.shorter_exists(planned, src, dst, switches) == brute_shorter(topo, src, dst, switches), \
                (trial, src, dst)


def test_one_direction_of_a_cable_only_helps_that_direction() -> None:
    topo = grid(4)  # 1 .. 16; 1 -> 16 is 7 switches
    planned = topo.version
    topo.add_link(1, 10, 16, 10)  # LLDP saw 1 -> 16 only
    shortcuts = Shortcuts(topo)
    assert shortcuts.shorter_exists(planned, 1, 16, 7)
    assert not shortcuts.shorter_exists(planned, 16, 1, 7)


def test_searches_are_per_added_link_not_per_path() -> None:
    topo = grid(10)
    specs = [PathSpec(name=f"p{i}", src=f"10.0.0.{1 + i}", dst=f"10.0.0.{100 - i}", protocol=6, queue=1)
             for i in range(40)]
    states = {s.name: plan_path(s, topo) for s in specs}
    cable(topo, 1, 10, 100, 10)  # a cable across the grid: many routes get shorter
    shortcuts = Shortcuts(topo)
    rerouted = [s.name for s in specs if needs_reroute(s, states[s.name], topo, shortcuts)]
    # a few searches for single paths, then a BFS to/from each end serves the rest
    assert rerouted and shortcuts.end_searches <= 4 and shortcuts.path_searches < len(specs) // 4
    assert all(len(plan_path(s, topo).forward) < len(states[s.name].forward) for s in specs if s.name in rerouted)


def test_falls_back_to_a_search_per_path_when_much_was_added_or_forgotten() -> None:
    topo = grid(6)
    planned = topo.version
    for i in range(SHORTCUT_ENDS_MAX):  # more distinct ends than worth a BFS each
        cable(topo, 1 + i, 10 + i, 36 - i, 10 + i)
    shortcuts = Shortcuts(topo)
    assert shortcuts.shorter_exists(planned, 1, 36, 11) == brute_shorter(topo, 1, 36, 11)
    assert shortcuts.searches == 1  # one search for this path, no BFS per link end
    assert topo.links_added_since(planned) is not None
    for i in range(LINK_EVENTS_KEPT // 4 + 1):  # the log forgets the oldest link events (4 per round)
        topo.port_down(2, 10 + SHORTCUT_ENDS_MAX)
        cable(topo, 2, 10 + SHORTCUT_ENDS_MAX, 3, 10 + SHORTCUT_ENDS_MAX)
    assert topo.links_added_since(planned) is None
    assert Shortcuts(topo).shorter_exists(planned, 1, 36, 11) == brute_shorter(topo, 1, 36, 11)


def test_link_added_and_removed_again_is_no_shortcut() -> None:
    topo = grid(4)
    planned = topo.version
    cable(topo, 1, 10, 16, 10)
    topo.port_down(1, 10)
    assert topo.links_added_since(planned)
    assert not Shortcuts(topo).shorter_exists(planned, 1, 16, 7)
