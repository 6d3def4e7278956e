"""Benchmark: path computation and re-route on fabrics of 100 to 10,000 switches.

Not a test: it prints numbers and never asserts on time. The issue's target
is <= 5 ms per path at 10,000 switches.

For each fabric kind and size it builds a `Topology` through the same calls
the controller makes (add_switch, add_link per LLDP direction, learn_host),
then measures
  path   - `Topology.hops(src_ip, dst_ip)` for random host pairs (median, p99;
           "cpu p99": the same calls' own CPU time, without the waits for a CPU
           that other processes on a shared machine cause; the target is judged
           on the wall-clock p99)
  plan   - `plan_path` (route both directions + per-hop policies) per path
  down   - a link on a stored path goes down; every stored path is checked
           with `needs_reroute` and the affected ones re-planned (total ms)
  up     - the link comes back: every path is checked for a shorter route
           (`Shortcuts`, as `Fabric.reroute` does it) and the shorter re-planned (total ms)
  new    - a cable never seen before joins the ends of the longest stored
           route: the same check and re-plan (not a target; shows the bound)
  tree   - the spanning tree for loop-free flooding, recomputed after a change

Fabrics: fat-tree (k chosen so 5k^2/4 is near the size), leaf-spine (16
spines at most, every leaf to every spine), random 4-regular (a WAN-like
mesh with longer routes) and a 2-D torus (long routes: the hardest case for
BFS). Run: .venv/bin/python bench/paths.py [--sizes 100,1000,10000] [--quick]
"""
from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

import networkx as nx

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import goals  # noqa: E402
from qosapp.core.paths import needs_reroute, plan_path  # noqa: E402
from qosapp.core.pathspec import PathSpec  # noqa: E402
from qosapp.core.topology import Shortcuts, Topology  # noqa: E402

Cable = tuple[int, int, int, int]  # (a, port on a, b, port on b)


# ---------------------------------------------------------------- fabric generators
def _numbered(pairs: list[tuple[int, int]]) -> Iterator[Cable]:
    """Give each switch's cables consecutive port numbers from 2 (port 1 is its host)."""
    next_port: dict[int, int] = {}
    for a, b in pairs:
        pa = next_port[a] = next_port.get(a, 1) + 1
        pb = next_port[b] = next_port.get(b, 1) + 1
        yield a, pa, b, pb


def fat_tree(n: int) -> tuple[int, list[Cable], list[int]]:
    """k-ary fat-tree with 5k^2/4 switches near n; hosts on edge switches."""
    k = max(4, 2 * round(math.sqrt(4 * n / 5) / 2))
    half = k // 2
    core = [1 + i for i in range(half * half)]
    pairs: list[tuple[int, int]] = []
    edges: list[int] = []
    base = len(core) + 1
    for pod in range(k):
        aggs = [base + pod * k + i for i in range(half)]
        edge = [base + pod * k + half + i for i in range(half)]
        edges += edge
        pairs += [(e, a) for e in edge for a in aggs]
        pairs += [(a, core[i * half + j]) for i, a in enumerate(aggs) for j in range(half)]
    count = len(core) + k * k
    return count, list(_numbered(pairs)), edges


def leaf_spine(n: int) -> tuple[int, list[Cable], list[int]]:
    spines = min(16, max(2, n // 16))
    leaves = list(range(spines + 1, n + 1))
    pairs = [(leaf, spine) for leaf in leaves for spine in range(1, spines + 1)]
    return n, list(_numbered(pairs)), leaves


def random_regular(n: int) -> tuple[int, list[Cable], list[int]]:
    graph = nx.random_regular_graph(4, n, seed=7)
    pairs = sorted((a + 1, b + 1) for a, b in graph.edges())
    return n, list(_numbered(pairs)), list(range(1, n + 1))


def torus(n: int) -> tuple[int, list[Cable], list[int]]:
    side = max(3, round(math.sqrt(n)))
    def sw(r: int, c: int) -> int:
        return r * side + c + 1
    pairs = []
    for r in range(side):
        for c in range(side):
            pairs.append((sw(r, c), sw(r, (c + 1) % side)))
            pairs.append((sw(r, c), sw((r + 1) % side, c)))
    return side * side, list(_numbered(pairs)), list(range(1, side * side + 1))


FABRICS: dict[str, Callable[[int], tuple[int, list[Cable], list[int]]]] = {
    "fat-tree": fat_tree, "leaf-spine": leaf_spine, "random-4-regular": random_regular, "torus": torus,
}


def build(count: int, cables: list[Cable], host_switches: list[int]) -> Topology:
    """Feed the topology the way the controller would: switches, LLDP both ways, hosts."""
    topo = Topology()
    ports: dict[int, list[int]] = {dpid: [1] for dpid in range(1, count + 1)}
    for a, pa, b, pb in cables:
        ports[a].append(pa)
        ports[b].append(pb)
    for dpid, plist in ports.items():
        topo.add_switch(dpid, plist)
    for a, pa, b, pb in cables:
        topo.add_link(a, pa, b, pb)
        topo.add_link(b, pb, a, pa)
    for i, dpid in enumerate(host_switches):
        topo.learn_host(f"02:00:{i >> 24 & 0xff:02x}:{i >> 16 & 0xff:02x}:{i >> 8 & 0xff:02x}:{i & 0xff:02x}",
                        host_ip(i), dpid, 1)
    return topo


def host_ip(i: int) -> str:
    return f"10.{i >> 16 & 0xff}.{i >> 8 & 0xff}.{i & 0xff}"


# ---------------------------------------------------------------- measurements
def ms(ns: int) -> float:
    return ns / 1e6


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def pairs_of(hosts: int, count: int, rng: random.Random) -> list[tuple[str, str]]:
    out = []
    while len(out) < count:
        a, b = rng.randrange(hosts), rng.randrange(hosts)
        if a != b:
            out.append((host_ip(a), host_ip(b)))
    return out


def time_each(fn: Callable[[], object]) -> float:
    start = time.perf_counter_ns()
    fn()
    return ms(time.perf_counter_ns() - start)


def time_both(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall-clock ms, this thread's CPU ms) of one call."""
    start, cpu = time.perf_counter_ns(), time.thread_time_ns()
    fn()
    return ms(time.perf_counter_ns() - start), ms(time.thread_time_ns() - cpu)


def run_one(kind: str, size: int, samples: int, stored: int, rng: random.Random) -> dict[str, object]:
    t0 = time.perf_counter_ns()
    count, cables, host_switches = FABRICS[kind](size)
    topo = build(count, cables, host_switches)
    build_ms = ms(time.perf_counter_ns() - t0)
    hosts = len(host_switches)

    for s, d in pairs_of(hosts, 20, rng):  # warm-up: first calls pay for imports and caches
        topo.hops(s, d)
    timed = [time_both(lambda s=s, d=d: topo.hops(s, d)) for s, d in pairs_of(hosts, samples, rng)]
    path_ms, path_cpu_ms = [wall for wall, _ in timed], [cpu for _, cpu in timed]
    specs = [PathSpec(name=f"p{i}", src=s, dst=d, queue=1)
             for i, (s, d) in enumerate(pairs_of(hosts, stored, rng))]
    states = {}
    plan_ms = []
    for spec in specs:
        start = time.perf_counter_ns()
        states[spec.name] = plan_path(spec, topo)
        plan_ms.append(ms(time.perf_counter_ns() - start))

    # a link of the first multi-switch route goes down (both directions: port down)
    victim = next(s for s in states.values() if len(s.forward) > 1).forward[0]
    peer = topo.peer(victim.dpid, victim.out_port)
    assert peer is not None
    topo.port_down(victim.dpid, victim.out_port)
    down_ms, rerouted_down = reroute_all(specs, states, topo)
    topo.add_link(victim.dpid, victim.out_port, *peer)
    topo.add_link(*peer, victim.dpid, victim.out_port)
    up_ms, rerouted_up = reroute_all(specs, states, topo)
    # a cable never seen before, between the ends of the longest stored route: every path may use it
    longest = max(states.values(), key=lambda state: len(state.forward))
    a, b = longest.forward[0].dpid, longest.forward[-1].dpid
    port = max(max(topo.ports(a)), max(topo.ports(b))) + 1
    topo.add_port(a, port)
    topo.add_port(b, port)
    topo.add_link(a, port, b, port)
    topo.add_link(b, port, a, port)
    new_ms, rerouted_new = reroute_all(specs, states, topo)
    tree_ms = time_each(topo.spanning_tree_ports)

    return {"fabric": kind, "switches": count, "links": len(cables) * 2, "hosts": hosts,
            "build_ms": round(build_ms, 1),
            "path_ms_median": round(statistics.median(path_ms), 4), "path_ms_p99": round(percentile(path_ms, 0.99), 4),
            "path_cpu_ms_p99": round(percentile(path_cpu_ms, 0.99), 4),
            "plan_ms_median": round(statistics.median(plan_ms), 4), "paths_stored": len(specs),
            "reroute_down_ms": round(down_ms, 2), "rerouted_down": rerouted_down,
            "reroute_up_ms": round(up_ms, 2), "rerouted_up": rerouted_up,
            "new_cable_ms": round(new_ms, 2), "rerouted_new": rerouted_new,
            "tree_ms": round(tree_ms, 2)}


def reroute_all(specs: list[PathSpec], states: dict, topo: Topology) -> tuple[float, int]:
    """What the controller does on a topology event (`Fabric.reroute`): check every path
    with one shared `Shortcuts`, re-plan the affected."""
    start = time.perf_counter_ns()
    rerouted = 0
    shortcuts = Shortcuts(topo)
    for spec in specs:
        if needs_reroute(spec, states[spec.name], topo, shortcuts):
            states[spec.name] = plan_path(spec, topo)
            rerouted += 1
    return ms(time.perf_counter_ns() - start), rerouted


def print_targets(rows: list[dict]) -> None:
    """met/MISSED per fabric for the 10,000-switch targets (bench/goals.py); ratio = limit / measured."""
    big = [row for row in rows if row["switches"] >= goals.PATHS_SWITCHES * 0.95]
    if not big:
        print(f"targets: for {goals.PATHS_SWITCHES:,} switches (run without --quick)")
        return
    print(f"targets ({goals.PATHS_SWITCHES:,} switches):")
    for row in big:
        for goal in goals.PATHS:
            print(f"  {row['fabric']:<17}{goals.line(goals.judge(goal, row[goal.key]), width=32)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--fabrics", default=",".join(FABRICS))
    parser.add_argument("--samples", type=int, default=300, help="random host pairs timed per fabric")
    parser.add_argument("--paths", type=int, default=1000, help="stored paths re-routed per fabric")
    parser.add_argument("--quick", action="store_true", help="100 and 1,000 switches only")
    args = parser.parse_args(argv)
    sizes = [100, 1000] if args.quick else [int(s) for s in args.sizes.split(",")]
    rng = random.Random(42)
    rows = []
    header = (f"{'fabric':<17}{'switches':>9}{'links':>9}{'build ms':>10}{'path med':>10}{'path p99':>10}"
              f"{'cpu p99':>9}{'plan med':>10}{'paths':>7}{'down ms':>9}{'#':>5}{'up ms':>9}{'#':>5}{'new ms':>9}{'#':>5}{'tree ms':>9}")
    print(header)
    print("-" * len(header))
    for size in sizes:
        for kind in args.fabrics.split(","):
            row = run_one(kind, size, args.samples, args.paths, rng)
            rows.append(row)
            print(f"{row['fabric']:<17}{row['switches']:>9}{row['links']:>9}{row['build_ms']:>10}"
                  f"{row['path_ms_median']:>10.3f}{row['path_ms_p99']:>10.3f}{row['path_cpu_ms_p99']:>9.3f}"
                  f"{row['plan_ms_median']:>10.3f}"
                  f"{row['paths_stored']:>7}{row['reroute_down_ms']:>9}{row['rerouted_down']:>5}"
                  f"{row['reroute_up_ms']:>9}{row['rerouted_up']:>5}{row['new_cable_ms']:>9}{row['rerouted_new']:>5}"
                  f"{row['tree_ms']:>9}", flush=True)
    print("path/plan: ms per path; down/up/new: ms to check all stored paths and re-plan '#' of them"
          " (new: a cable never seen before, across the longest stored route)")
    print_targets(rows)
    print(json.dumps({"bench": "paths", "python": sys.version.split()[0], "networkx": nx.__version__,
                      "results": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
