"""Issue #14's performance targets, in one place, and how a measurement is judged against one.

Two kinds of target:
  "ratio"  qos-sdn against Ryu's rest_qos in the same run; `want` is the
           least ratio (rates ours/theirs, times and sizes theirs/ours);
  "limit"  an absolute bound (seconds, milliseconds, MB); the printed ratio is
           limit / measured, so > 1 is met here too.
The benchmarks (rest_bench, paths, fabric) print every target they cover as
"met" or "MISSED" with that ratio; none asserts on time.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Goal:
    key: str
    label: str
    want: float
    kind: str = "ratio"  # "ratio" (>= want x Ryu) or "limit" (measured <= want, in `unit`)
    unit: str = "x"


# ------------------------------------------------ REST, side by side with Ryu (bench/rest_bench.py)
POST_SEQ = Goal("post_seq", "single POST sequential, durable and confirmed", 1.0)
POST_CONC = Goal("post_conc", "single POST, 8 clients, durable and confirmed", 1.0)
BULK = Goal("bulk", "bulk push until switch holds all vs Ryu sequential rate", 10.0)
DELETE_ONE = Goal("delete_one", "DELETE one with N installed, x faster", 100.0)
GET_ALL = Goal("get_all", "GET all with N installed, x faster", 10.0)
MEMORY = Goal("memory", "memory with N policies (Ryu / ours >= 1)", 1.0)
#: the POST targets hold at every N; the others are stated for this N
REST_N = 20000
REST_ANY_N = (POST_SEQ, POST_CONC)
REST = (POST_SEQ, POST_CONC, BULK, DELETE_ONE, GET_ALL, MEMORY)

# ------------------------------------------------ 100,000 policies, qos-sdn alone (bench/rest_bench.py)
SCALE_N = 100000
SCALE_BULK = Goal("scale_bulk", "one bulk POST of 100,000 stored and confirmed", 10.0, "limit", "s")
SCALE_GET = Goal("scale_get", "GET all 100,000", 2.0, "limit", "s")
SCALE_RSS = Goal("scale_rss", "RSS with 100,000 policies", 400.0, "limit", "MB")
SCALE = (SCALE_BULK, SCALE_GET, SCALE_RSS)

# ------------------------------------------------ path computation at 10,000 switches (bench/paths.py)
PATHS_SWITCHES = 10000
PATH_P99 = Goal("path_ms_p99", "path p99", 5.0, "limit", "ms")
REROUTE_DOWN = Goal("reroute_down_ms", "link down re-plans 1,000 paths", 100.0, "limit", "ms")
REROUTE_UP = Goal("reroute_up_ms", "link up re-plans 1,000 paths", 100.0, "limit", "ms")
PATHS = (PATH_P99, REROUTE_DOWN, REROUTE_UP)

# ------------------------------------------------ a real fabric of ~100 OVS switches (bench/fabric.py)
FABRIC_SWITCHES = 100
FABRIC_RESTART = Goal("restart_s", "controller restart until every switch holds its flows", 10.0, "limit", "s")
FABRIC_REROUTE = Goal("reroute_s", "link of 100 paths down until their flows are re-routed", 1.0, "limit", "s")
FABRIC = (FABRIC_RESTART, FABRIC_REROUTE)
#: the fabric both fabric benches build (bench/fabric.py on OVS, bench/fabric_core.py without switches):
#: a leaf-spine of FABRIC_SWITCHES, the policies and paths, and the paths whose routes share one cable
FABRIC_SIZE = {"spines": 2, "leaves": 98, "policies": 10000, "paths": 1000, "hot": 100}
FABRIC_QUICK = {"spines": 2, "leaves": 6, "policies": 400, "paths": 40, "hot": 10}


def add_fabric_size(parser: argparse.ArgumentParser) -> None:
    """--spines, --leaves, --policies, --paths, --hot and --quick, with FABRIC_SIZE as defaults."""
    for name, default in FABRIC_SIZE.items():
        parser.add_argument(f"--{name}", type=int, default=default,
                            help="paths whose routes share one link" if name == "hot" else None)
    parser.add_argument("--quick", action="store_true", help="2 spines + 6 leaves, 400 policies, 40 paths (10 hot)")


def fabric_size(args: argparse.Namespace) -> argparse.Namespace:
    """`args` with FABRIC_QUICK's sizes when --quick was given."""
    if args.quick:
        vars(args).update(FABRIC_QUICK)
    return args


def judge(goal: Goal, got: float | None, confirmed: bool | None = None) -> dict[str, Any]:
    """One target's verdict: the ratio (> 1 better than wanted for limits), met or not (None: no figure)."""
    if got is None:
        ratio = None
    elif goal.kind == "ratio":
        ratio = got
    else:
        ratio = goal.want / got if got > 0 else float("inf")
    if ratio is None:
        met = None
    elif goal.kind == "ratio":
        met = ratio >= goal.want and confirmed is not False
    else:
        met = got <= goal.want and confirmed is not False  # type: ignore[operator]
    return {"target": goal.label, "key": goal.key, "kind": goal.kind, "want": goal.want, "unit": goal.unit,
            "got": None if got is None else round(got, 4),
            "ratio": None if ratio is None else round(ratio, 2), "confirmed": confirmed, "met": met}


def state(verdict: dict[str, Any]) -> str:
    met = verdict["met"]
    return "n/a" if met is None else ("met" if met else "MISSED")


def line(verdict: dict[str, Any], width: int = 58, note: str | None = None) -> str:
    """'<target>  want ...  got ... (<ratio>)  met|MISSED' for the printed table (`note` instead of the verdict)."""
    if verdict["kind"] == "ratio":
        want = f"want >= {verdict['want']:g}x"
        got = "got -" if verdict["ratio"] is None else f"got {fmt_ratio(verdict['ratio'])}"
    else:
        want = f"want < {verdict['want']:g} {verdict['unit']}"
        got = "got -" if verdict["got"] is None else \
            f"got {verdict['got']:.3g} {verdict['unit']} ({fmt_ratio(verdict['ratio'])})"
    extra = "" if verdict["confirmed"] in (None, True) else " (answers not confirmed)"
    return f"{verdict['target']:<{width}} {want:<15} {got:<26} {note or state(verdict)}{extra}"


def fmt_ratio(r: float | None) -> str:
    return "-" if r is None else (f"{r:.2f}x" if r < 100 else f"{r:,.0f}x")
