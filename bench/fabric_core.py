"""Benchmark: bench/fabric.py's restart and re-route without switches: the core alone, fed the events.

Not a test: it prints the controller core's CPU seconds for what the
100-switch fabric bench measures on real OVS, so the core's own share can be
profiled and bounded without Mininet (and without the lock on the data
plane). The events are those a restarted controller gets, in the order they
arrive on the fabric: switches connect; the hosts' pings bring their ARP
frames, copies of which cross not-yet-discovered cables; LLDP reports the
links one direction at a time. How the deferred topology work is flushed:

  default    events 10 ms apart on a simulated clock, flushes spaced as the
             controller spaces them (`QosService._flush_wait`);
  --trickle  a flush after every event, unspaced (the worst case: what the
             controller did before the spacing);
  --burst    one flush at the end (the best case).

At the end every switch's table (applied by a fake flow table) is compared
with what a controller that met the finished fabric at once gives it (path
flows: with its own plans, checked to be shortest); they must be equal, or
the run says so and exits 1. Then the first hot path's cable is pulled.

    .venv/bin/python bench/fabric_core.py [--quick] [--trickle | --burst] [--profile out.txt]
"""
from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import goals  # noqa: E402
from qosapp.adapters.store import Store  # noqa: E402
from qosapp.core import paths  # noqa: E402
from qosapp.core.compiler import OF13, FlowSpec  # noqa: E402
from qosapp.core.cookies import path_id_of  # noqa: E402
from qosapp.core.controller import WIPE, QosCore  # noqa: E402
from qosapp.core.forwarding import BROADCAST, ETH_TYPE_ARP  # noqa: E402
from qosapp.service import QosService  # noqa: E402

Row = dict[str, Any]


class Tables:
    """Per switch, the flows it holds after the ops sent (OFPFC_ADD replaces by (table, priority, match))."""

    def __init__(self) -> None:
        self.flows: dict[int, dict[tuple[Any, ...], FlowSpec]] = {}
        self.ops = 0

    def __call__(self, dpid: int, ops: list[Any]) -> None:
        self.ops += len(ops)
        table = self.flows.setdefault(dpid, {})
        for op in ops:
            if op == WIPE:
                table.clear()
            elif isinstance(op, FlowSpec):
                table[(op.table_id, op.priority, op.match)] = op
            elif getattr(op, "cookie", None) is not None and not hasattr(op, "meter_id"):
                for key in [k for k, f in table.items() if f.cookie == op.cookie]:
                    del table[key]

    def held(self) -> dict[int, set[FlowSpec]]:
        return {dpid: set(table.values()) for dpid, table in self.flows.items()}


class LeafSpine:
    """LeafSpineTopo's numbering (topologies/topos.py): spines 1..S, leaf L = S + l, one host per leaf."""

    def __init__(self, spines: int, leaves: int) -> None:
        self.spines, self.leaves = spines, leaves
        self.leaf_ids = [spines + n for n in range(1, leaves + 1)]

    def ports(self, dpid: int) -> dict[int, str]:
        count = self.leaves if dpid <= self.spines else 1 + self.spines
        return {p: f"s{dpid}-eth{p}" for p in range(1, count + 1)}

    def cables(self) -> list[tuple[int, int, int, int]]:
        """(leaf, port, spine, port) of every cable."""
        return [(leaf, 1 + j, j, leaf - self.spines) for leaf in self.leaf_ids for j in range(1, self.spines + 1)]

    @staticmethod
    def mac(leaf: int) -> str:
        return f"00:00:00:00:{leaf >> 8:02x}:{leaf & 0xff:02x}"

    def ip(self, leaf: int) -> str:
        n = leaf - self.spines
        return f"10.0.{n >> 8}.{n & 0xff}"


def stored_state(state: Path, fab: LeafSpine, policies: int, paths: int, hot: int) -> None:
    """What the fabric bench stores: policies spread over the switches, QoS paths (hot ones between two leaves)."""
    core = QosCore(Store(str(state)))
    core.enable()
    switches = list(range(1, fab.spines + fab.leaves + 1))
    core.add_policies([{"name": f"fab-{i}", "protocol": "6", "eth-type": "0x0800",
                        "ip-src": f"172.{16 + (i >> 16) % 16}.{(i >> 8) & 0xff}.{i & 0xff}",
                        "sw": f"{switches[i % len(switches)]:016x}", "queue": "1", "enqueue-port": "1"}
                       for i in range(policies)])
    ips = [fab.ip(leaf) for leaf in fab.leaf_ids]
    rng = random.Random(14)
    for k in range(paths):
        src, dst = (ips[0], ips[-1]) if k < hot else rng.sample(ips, 2)
        core.add_path({"name": f"p-{k}", "src": src, "dst": dst, "protocol": "6", "dst-port": 10000 + k, "queue": 1})
    core.store.sync()


def restart_events(fab: LeafSpine, svc: QosService, rng: random.Random) -> list[Callable[[], None]]:
    """The events a restarted controller gets on the fabric, in arrival order."""
    events: list[Callable[[], None]] = []
    dpids = list(range(1, fab.spines + fab.leaves + 1))
    for dpid in dpids:
        events.append(lambda d=dpid: svc.switch_connected(d, OF13, fab.ports(d)))
    linked: set[tuple[int, int]] = set()

    def arp(leaf: int) -> None:
        svc.packet_in(leaf, 1, fab.mac(leaf), BROADCAST, ETH_TYPE_ARP, fab.ip(leaf))
        for spine in range(1, fab.spines + 1):  # the flooded copy reaches each spine on a cable LLDP may not know yet
            if (spine, leaf - fab.spines) not in linked:
                svc.packet_in(spine, leaf - fab.spines, fab.mac(leaf), BROADCAST, ETH_TYPE_ARP, fab.ip(leaf))

    for leaf in fab.leaf_ids:
        events.append(lambda d=leaf: arp(d))
    directions = [(a, pa, b, pb) for leaf, lp, spine, sp in fab.cables()
                  for a, pa, b, pb in ((leaf, lp, spine, sp), (spine, sp, leaf, lp))]
    rng.shuffle(directions)

    def link(a: int, pa: int, b: int, pb: int) -> None:
        linked.add((a, pa))
        svc.link_added(a, pa, b, pb)

    for n, (a, pa, b, pb) in enumerate(directions):
        events.append(lambda a=a, pa=pa, b=b, pb=pb: link(a, pa, b, pb))
        if n % 40 == 39:  # pings go on meanwhile: a host LLDP moved off a cable end is learned again
            for leaf in fab.leaf_ids:
                events.append(lambda d=leaf: arp(d))
    for leaf in fab.leaf_ids:
        events.append(lambda d=leaf: arp(d))
    return events


class Clock:
    """Simulated time: events arrive EVENT_GAP apart, a flush takes the CPU time it really takes."""

    def __init__(self) -> None:
        self.now = 0.0
        self.timers: list[tuple[float, int, Callable[[], None]]] = []

    def after(self, delay: float, fn: Callable[[], None]) -> None:
        self.timers.append((self.now + delay, len(self.timers), fn))

    def due(self) -> list[Callable[[], None]]:
        ready = sorted(t for t in self.timers if t[0] <= self.now)
        self.timers = [t for t in self.timers if t[0] > self.now]
        return [fn for _, _, fn in ready]


#: seconds between two events of the restart (LLDP's pace: a frame every 10 ms)
EVENT_GAP = 0.01


def service(state: Path, tables: Tables, clock: Clock | None = None) -> tuple[QosService, list[Callable[[], None]]]:
    """A controller on the stored state, topology work deferred as the Ryu shell does it (spaced, with a clock)."""
    queued: list[Callable[[], None]] = []
    if clock is None:
        return QosService(QosCore(Store(str(state))), send=tables, later=queued.append), queued
    return QosService(QosCore(Store(str(state))), send=tables, later=lambda fn: clock.after(0.0, fn),
                      later_after=clock.after, clock=lambda: clock.now), queued


def same_tables(tables: Tables, svc: QosService, fresh: Tables) -> bool:
    """Do the switches hold what a controller that met the finished fabric at once gives them?

    Path flows are compared with the controller's own plans instead: of
    equal-cost routes, the one chosen depends on the order the links came
    in, so they are checked to be shortest, and held exactly, instead.
    """
    core = svc.core
    versions = {dpid: s.version for dpid, s in core.switches.items()}
    wanted: dict[int, set[FlowSpec]] = {dpid: set() for dpid in versions}
    for name, plan in core.fabric.plans.items():
        path = core.fabric.paths[name]
        if plan.state == "installed":
            if len(plan.forward) != len(core.fabric.topology.shortest_path(plan.forward[0].dpid, plan.forward[-1].dpid)):
                return False
            for dpid, flows in paths.path_flows(plan, path.id or 0, versions.__getitem__, core.service_dscps()).items():
                wanted[dpid] |= set(flows)
    held, other = tables.held(), fresh.held()
    for dpid in set(held) | set(other):
        mine = {f for f in held.get(dpid, set()) if path_id_of(f.cookie) is None}
        theirs = {f for f in other.get(dpid, set()) if path_id_of(f.cookie) is None}
        if mine != theirs or {f for f in held.get(dpid, set()) if path_id_of(f.cookie) is not None} != wanted[dpid]:
            return False
    return True


def run(args: argparse.Namespace, workdir: Path) -> Row:
    fab = LeafSpine(args.spines, args.leaves)
    state = workdir / "state"
    stored_state(state, fab, args.policies, args.paths, args.hot)
    tables = Tables()
    clock = None if args.trickle or args.burst else Clock()
    svc, queued = service(state, tables, clock)
    flushes = 0

    def drain(final: bool = False) -> None:
        nonlocal flushes
        if clock is not None:
            if final:
                clock.now += 1.0
            for fn in clock.due():
                began = time.process_time()
                fn()
                clock.now += time.process_time() - began
                flushes += 1
        while queued:
            queued.pop(0)()
            flushes += 1

    events = restart_events(fab, svc, random.Random(14))
    profiler = cProfile.Profile() if args.profile else None
    cpu, wall = time.process_time(), time.perf_counter()
    if profiler:
        profiler.enable()
    for event in events:
        event()
        if clock is not None:
            clock.now += EVENT_GAP
        if not args.burst:
            drain()
    drain(final=True)
    restart_cpu = time.process_time() - cpu
    if profiler:
        profiler.disable()
    out: Row = {"switches": args.spines + args.leaves, "policies": args.policies, "paths": args.paths,
                "events": len(events), "flushes": flushes, "restart_cpu_s": round(restart_cpu, 2),
                "restart_wall_s": round(time.perf_counter() - wall, 2), "restart_ops": tables.ops}
    installed = sum(1 for p in svc.core.fabric.plans.values() if p.state == "installed")
    out["paths_installed"] = installed
    # the same fabric met at once by a fresh controller: the tables must be the same
    fresh_tables = Tables()
    fresh, fresh_queued = service(state, fresh_tables)
    for event in restart_events(fab, fresh, random.Random(14)):
        event()
    while fresh_queued:
        fresh_queued.pop(0)()
    out["tables_equal_from_scratch"] = same_tables(tables, svc, fresh_tables)
    # re-route: the first hot path's first cable down at both ends
    first = svc.core.fabric.plans["p-0"].forward[0]
    leaf, port = first.dpid, first.out_port
    spine, spine_port = port - 1, leaf - fab.spines
    tables.ops = 0
    cpu = time.process_time()
    if profiler:
        profiler.enable()
    if clock is not None:
        clock.now += 1.0  # a quiet second before the cable is pulled
    svc.port_state(leaf, port, live=False)
    svc.port_state(spine, spine_port, live=False)
    drain()
    drain(final=True)
    if profiler:
        profiler.disable()
    out["reroute_cpu_s"] = round(time.process_time() - cpu, 3)
    out["reroute_ops"] = tables.ops
    if profiler:
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(45)
        Path(args.profile).write_text(text.getvalue())
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    goals.add_fabric_size(parser)
    parser.add_argument("--burst", action="store_true", help="flush once at the end instead of after each event")
    parser.add_argument("--trickle", action="store_true",
                        help="flush after every event, unspaced (default: events 10 ms apart, flushes spaced "
                             "as the controller spaces them)")
    parser.add_argument("--profile", default=None, help="write cProfile's top functions here")
    return goals.fabric_size(parser.parse_args(argv))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="qos-fabric-core-") as tmp:
        row = run(args, Path(tmp))
    print(row)
    return 0 if row["tables_equal_from_scratch"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
