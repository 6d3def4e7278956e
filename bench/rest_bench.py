"""Benchmark: qos-sdn's REST push path side by side with Ryu's own rest_qos.

Not a test: it prints a table and one JSON line and never asserts on time.

One run, one machine, one private Open vSwitch (userspace datapath), one
bridge `br-bench` re-made for each controller, one controller at a time:
  1. Ryu 4.34 `ryu.app.rest_qos` (+ rest_conf_switch + a table-1 forwarder),
     from bench/.venv-ryu (created on first use), and
  2. `qos-controller --no-queues` with QoS enabled,
both on 127.0.0.1 and free ports, driven by the same light client
(`http.client`, keep-alive). For each N (default 1,000 and 20,000) and each
controller it measures
  seq     N POSTs of one rule, one connection: rules/s, p50, p99, and the time
          until `dump-aggregate` shows all N flows on the switch
  conc    the same with 8 clients (8 connections)
  bulk    qos-sdn only: one POST with the list of N policies, until the
          switch holds all flows (Ryu has no bulk call; compared with its
          sequential rate)
  get     GET all rules with N installed (the answer is checked to hold N)
  del1    DELETE one rule with N installed (median of several)
  delall  DELETE all N, until the switch holds none of them
  rss     controller VmRSS with N installed (after the POSTs and a GET all),
          and the peak (VmHWM)
and prints each of qos-sdn's figures as a ratio to Ryu's.

`--src [LABEL=]DIR` (repeatable) runs other qos-sdn source trees, e.g. main
with proposed patches, as extra columns of the same run. Everything runs in a
private network namespace (see `netns_argv`); bench/.venv-ryu is created on
first use (needs PyPI), before entering it.

qos-sdn's POSTs carry `?wait=confirm`, which asks the controller to answer
only once the switch confirmed (barrier reply); the table says how many
answers did say "installed", so a controller that ignores the option shows
up as "not confirmed" rather than as a faster number.

Run as root (Open vSwitch):  .venv/bin/python bench/rest_bench.py [--quick] [--n 1000,20000]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import goals  # noqa: E402
from bench.bridge import BenchBridge  # noqa: E402
from bench.httpload import median_ms, run_calls  # noqa: E402
from bench.ryuenv import ensure_ryu_venv  # noqa: E402
from bench.targets import Controller, QosSdn, RyuRestQos  # noqa: E402
from topologies.ovsenv import PrivateOvs  # noqa: E402

#: a 100,000-policy bulk POST is ~15 MB of JSON, near the default 16 MiB body cap
SCALE_ARGS = ["--max-body", str(64 * 1024 * 1024)]
RYU, QOS = "ryu", "qos"  # --only choices; results are keyed by RYU and by variant label
Row = dict[str, Any]


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- phases
def flow_timeout(n: int) -> float:
    return max(30.0, n / 200)


def phase_add(ctl: Controller, bridge: BenchBridge, indices: list[int], base: int, workers: int) -> Row:
    """POST one rule per call over `workers` connections; then wait for the switch."""
    calls = [ctl.add_call(i) for i in indices]
    cpu = ctl.cpu_s()
    start = time.perf_counter()
    result = run_calls(ctl.rest_port, calls, workers=workers, check=ctl.add_error, keep_answers=True)
    cpu = ctl.cpu_s() - cpu
    switch_s = bridge.wait_flow_count(base + len(indices), start, flow_timeout(len(indices)))
    refs = [ctl.rule_ref(i, a.body) for i, a in zip(indices, result.answers)]
    row = {**result.summary(), "switch_s": _round(switch_s), "workers": workers,
           "cpu_ms_per_rule": round(cpu * 1000 / len(indices), 3),
           "confirmed": sum(ctl.confirmed(a.body) for a in result.answers)}
    return {"row": row, "refs": refs}


def phase_bulk(ctl: Controller, bridge: BenchBridge, indices: list[int], base: int) -> Row:
    """One POST with every policy; time to the answer and until the switch holds all flows."""
    cpu = ctl.cpu_s()
    start = time.perf_counter()
    result = run_calls(ctl.rest_port, [ctl.bulk_call(indices)], check=ctl.add_error, keep_answers=True)
    cpu = ctl.cpu_s() - cpu
    switch_s = bridge.wait_flow_count(base + len(indices), start, flow_timeout(len(indices)))
    answer = result.answers[0]
    done_s = switch_s if switch_s is not None else result.wall_s
    return {"count": len(indices), "answer_s": round(result.wall_s, 3), "switch_s": _round(switch_s),
            "rate_per_s": round(len(indices) / max(done_s, result.wall_s), 1), "errors": len(result.errors),
            "cpu_s": round(cpu, 3),
            "first_error": result.errors[0] if result.errors else None,
            "confirmed": len(answer.body) if ctl.confirmed(answer.body) else 0}


def phase_get(ctl: Controller, expected: int, reps: int) -> Row:
    """GET all rules `reps` times on one connection; every answer must hold `expected` rules."""
    calls = [ctl.list_call()] * reps
    result = run_calls(ctl.rest_port, calls, keep_answers=True)
    counts = [ctl.count_rules(a.body) for a in result.answers]
    return {"reps": reps, "median_s": round(median_ms(result.latencies) / 1000, 4),
            "max_s": round(max(result.latencies), 4), "rules_returned": counts,
            "complete": all(c == expected for c in counts)}


def phase_delete_one(ctl: Controller, bridge: BenchBridge, refs: list[Any], count: int, base: int) -> Row:
    """DELETE `count` rules spread over the installed ones, one at a time; check the switch lost them."""
    step = max(1, len(refs) // count)
    victims = refs[::step][:count]
    gone = set(victims)
    result = run_calls(ctl.rest_port, [ctl.delete_call(ref) for ref in victims], check=ctl.delete_error)
    start = time.perf_counter()
    settled = bridge.wait_flow_count(base + len(refs) - len(victims), start, 30)
    summary = result.summary()
    return {"row": {"count": len(victims), "median_ms": median_ms(result.latencies), "p99_ms": summary["p99_ms"],
                    "max_ms": summary["max_ms"], "errors": summary["errors"], "first_error": summary["first_error"],
                    "switch_ok": settled is not None},
            "left": [r for r in refs if r not in gone]}


def phase_delete_all(ctl: Controller, bridge: BenchBridge, refs: list[Any], base: int) -> Row:
    """Delete every rule (the controller's own way); time the answers and until the switch is empty."""
    start = time.perf_counter()
    result, how = ctl.delete_all(refs)
    switch_s = bridge.wait_flow_count(base, start, flow_timeout(len(refs)))
    return {"count": len(refs), "how": how, "answer_s": round(result.wall_s, 3), "switch_s": _round(switch_s),
            "requests": len(result.latencies), "errors": len(result.errors),
            "first_error": result.errors[0] if result.errors else None}


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def memory_mb(ctl: Controller) -> dict[str, float]:
    mem = ctl.memory()
    return {"rss_mb": round(mem["VmRSS"] / 1024, 1), "peak_mb": round(mem["VmHWM"] / 1024, 1)}


# ---------------------------------------------------------------- one controller, one N
def session(ctl: Controller, bridge: BenchBridge, n: int, phases: Callable[[Row, int], None]) -> Row:
    """Start the controller, give it a fresh br-bench, run `phases(out, base_flows)`; stop it whatever happens."""
    out: Row = {"controller": ctl.name, "n": n, "load_before": os.getloadavg()[0]}
    started = time.perf_counter()
    ctl.start()
    try:
        bridge.reset(ctl.ofp_port)  # after the controller listens: no reconnect back-off to wait out
        out["connect_s"] = round(ctl.wait_switch(), 3)
        ctl.prepare()
        phases(out, bridge.settle())
        out["switch_connects"] = bridge.connects(ctl.ofp_port)
        out["reconnected"] = out["switch_connects"] != 1
    except Exception as err:
        out["failed"] = f"{type(err).__name__}: {err}"
        log(f"{ctl.name} N={n:,} FAILED: {out['failed']}\n{ctl.log_tail()}")
    finally:
        ctl.stop()
        bridge.remove()
    out["load_after"] = os.getloadavg()[0]
    out["elapsed_s"] = round(time.perf_counter() - started, 1)
    return out


def run_controller(ctl: Controller, bridge: BenchBridge, n: int, workers: int, deletes: int, get_reps: int) -> Row:
    """Every phase against one controller at size n."""
    indices = list(range(1, n + 1))

    def phases(out: Row, base: int) -> None:
        out["base_flows"] = base
        out["rss_idle_mb"] = memory_mb(ctl)["rss_mb"]
        log(f"{ctl.name} N={n}: switch connected, {base} flows of its own; sequential POSTs ...")
        seq = phase_add(ctl, bridge, indices, base, 1)
        out["seq"] = seq["row"]
        log(f"{ctl.name} N={n}: seq {seq['row']['rate_per_s']}/s; GET all ...")
        out["get"] = phase_get(ctl, n, get_reps)
        out["rss_n"] = memory_mb(ctl)
        log(f"{ctl.name} N={n}: GET {out['get']['median_s']} s; DELETE one x{deletes} ...")
        del1 = phase_delete_one(ctl, bridge, seq["refs"], deletes, base)
        out["del1"] = del1["row"]
        log(f"{ctl.name} N={n}: DELETE one {del1['row']['median_ms']} ms; DELETE all ...")
        out["delall"] = phase_delete_all(ctl, bridge, del1["left"], base)
        log(f"{ctl.name} N={n}: DELETE all {out['delall']['switch_s']} s; {workers} clients ...")
        conc = phase_add(ctl, bridge, indices, base, workers)
        out["conc"] = conc["row"]
        out["cleanup_conc"] = phase_delete_all(ctl, bridge, conc["refs"], base)
        if ctl.has_bulk:
            log(f"{ctl.name} N={n}: {workers} clients {conc['row']['rate_per_s']}/s; bulk ...")
            out["bulk"] = phase_bulk(ctl, bridge, indices, base)
            out["rss_bulk"] = memory_mb(ctl)
            out["cleanup_bulk"] = phase_delete_all(ctl, bridge, [ctl.rule_ref(i, None) for i in indices], base)
        out["peak_mb"] = memory_mb(ctl)["peak_mb"]

    return session(ctl, bridge, n, phases)


def run_scale(ctl: Controller, bridge: BenchBridge, n: int) -> Row:
    """qos-sdn alone with n policies: one bulk POST (stored and confirmed), GET all, RSS."""
    indices = list(range(1, n + 1))

    def phases(out: Row, base: int) -> None:
        log(f"{ctl.name} N={n:,}: one bulk POST ...")
        out["bulk"] = phase_bulk(ctl, bridge, indices, base)
        log(f"{ctl.name} N={n:,}: bulk answered in {out['bulk']['answer_s']} s; GET all ...")
        out["get"] = phase_get(ctl, n, 2)
        out["rss_n"] = memory_mb(ctl)
        out["peak_mb"] = out["rss_n"]["peak_mb"]

    return session(ctl, bridge, n, phases)


def print_scale(rows: list[Row]) -> list[Row]:
    """The 100,000-policy table (qos-sdn alone) and its targets; returns the targets."""
    found = []
    for row in rows:
        print(f"\n{row['controller']} alone, N = {row['n']:,} (one bulk POST ?wait=confirm)")
        if "failed" in row:
            print(f"  FAILED: {row['failed']}")
        else:
            bulk = row["bulk"]
            print(f"  bulk POST answered (stored, {bulk['confirmed']:,}/{bulk['count']:,} confirmed) "
                  f"{bulk['answer_s']} s; switch holds all {bulk['switch_s']} s; controller CPU {bulk['cpu_s']} s")
            print(f"  GET all {row['get']['median_s']} s (returned {row['get']['rules_returned']}); "
                  f"RSS {row['rss_n']['rss_mb']} MB, peak {row['peak_mb']} MB; "
                  f"load avg {row['load_before']:.2f}->{row['load_after']:.2f}")
        targets_found = scale_targets(row)
        found += targets_found
        print("  targets:")
        print_targets(targets_found)
    return found


# ---------------------------------------------------------------- comparison
Metric = tuple[str, str, Callable[[Row], float | None], str]
#: (label, unit, value getter, better): "higher" = a rate, "lower" = a time or a size
METRICS: list[Metric] = [
    ("POST seq rules/s", "/s", lambda r: r["seq"]["rate_per_s"], "higher"),
    ("POST seq p50 ms", "ms", lambda r: r["seq"]["p50_ms"], "lower"),
    ("POST seq p99 ms", "ms", lambda r: r["seq"]["p99_ms"], "lower"),
    ("POST seq until switch holds all s", "s", lambda r: r["seq"]["switch_s"], "lower"),
    ("POST seq controller CPU ms/rule", "ms", lambda r: r["seq"]["cpu_ms_per_rule"], "lower"),
    ("POST 8 clients rules/s", "/s", lambda r: r["conc"]["rate_per_s"], "higher"),
    ("POST 8 clients p99 ms", "ms", lambda r: r["conc"]["p99_ms"], "lower"),
    ("bulk push until switch holds all s", "s", lambda r: r.get("bulk", {}).get("switch_s"), "lower"),
    ("GET all s", "s", lambda r: r["get"]["median_s"], "lower"),
    ("DELETE one ms (median)", "ms", lambda r: r["del1"]["median_ms"], "lower"),
    ("DELETE all until switch empty s", "s", lambda r: r["delall"]["switch_s"], "lower"),
    ("RSS with N rules MB", "MB", lambda r: r["rss_n"]["rss_mb"], "lower"),
    ("peak RSS MB", "MB", lambda r: r["peak_mb"], "lower"),
]


def value(row: Row | None, getter: Callable[[Row], float | None]) -> float | None:
    if row is None or "failed" in row:
        return None
    try:
        return getter(row)
    except (KeyError, TypeError):
        return None


def ratio(ours: float | None, theirs: float | None, better: str) -> float | None:
    """How many times better qos-sdn is: rates ours/theirs, times and sizes theirs/ours."""
    if ours is None or theirs is None or ours == 0 or theirs == 0:
        return None
    return ours / theirs if better == "higher" else theirs / ours


def targets(n: int, ryu: Row | None, qos: Row | None, variant: str) -> list[Row]:
    """The issue's side-by-side targets for one qos-sdn variant (bench/goals.py), each as a measured ratio.

    The POST targets hold at any N; the others are stated for N = 20,000
    (at other sizes they are printed as indicative, not judged).
    """
    def get(row: Row | None, fn: Callable[[Row], Any]) -> Any:
        return value(row, fn)

    def clean(row: Row | None, phase: str) -> Any:
        """A phase's figure only if every one of its answers was what was asked for (else no ratio)."""
        return get(row, lambda r: None if r[phase].get("errors") else r[phase])
    ryu_seq = get(ryu, lambda r: r["seq"]["rate_per_s"])
    bulk_rate = get(qos, lambda r: r["bulk"]["rate_per_s"] if r["bulk"]["switch_s"] is not None else None)
    measured = {
        goals.POST_SEQ: (ratio(get(qos, lambda r: r["seq"]["rate_per_s"]), ryu_seq, "higher"),
                         get(qos, lambda r: r["seq"]["confirmed"] == r["seq"]["count"])),
        goals.POST_CONC: (ratio(get(qos, lambda r: r["conc"]["rate_per_s"]),
                                get(ryu, lambda r: r["conc"]["rate_per_s"]), "higher"),
                          get(qos, lambda r: r["conc"]["confirmed"] == r["conc"]["count"])),
        goals.BULK: (ratio(bulk_rate, ryu_seq, "higher"), None),
        goals.DELETE_ONE: (ratio(get(clean(qos, "del1"), lambda d: d["median_ms"]),
                                 get(clean(ryu, "del1"), lambda d: d["median_ms"]), "lower"), None),
        goals.GET_ALL: (ratio(get(qos, lambda r: r["get"]["median_s"] if r["get"]["complete"] else None),
                              get(ryu, lambda r: r["get"]["median_s"] if r["get"]["complete"] else None),
                              "lower"), None),
        goals.MEMORY: (ratio(get(qos, lambda r: r["rss_n"]["rss_mb"]),
                             get(ryu, lambda r: r["rss_n"]["rss_mb"]), "lower"), None),
    }
    rows = []
    for goal in goals.REST:
        got, confirmed = measured[goal]
        verdict = goals.judge(goal, got, confirmed)
        applies = goal in goals.REST_ANY_N or n == goals.REST_N
        rows.append({"n": n, "variant": variant, **verdict,
                     "met": verdict["met"] if applies else None, "indicative": not applies})
    return rows


def scale_targets(row: Row) -> list[Row]:
    """The 100,000-policy targets (absolute limits, qos-sdn alone); indicative at another N."""
    def get(fn: Callable[[Row], Any]) -> Any:
        return value(row, fn)
    bulk = row.get("bulk") or {}
    confirmed = None if "failed" in row else bulk.get("confirmed") == bulk.get("count")
    measured = {goals.SCALE_BULK: (get(lambda r: r["bulk"]["answer_s"]), confirmed),
                goals.SCALE_GET: (get(lambda r: r["get"]["median_s"]), None),
                goals.SCALE_RSS: (get(lambda r: r["rss_n"]["rss_mb"]), None)}
    out = []
    for goal in goals.SCALE:
        verdict = goals.judge(goal, *measured[goal])
        applies = row["n"] == goals.SCALE_N
        out.append({"n": row["n"], "variant": row["controller"], **verdict,
                    "met": verdict["met"] if applies else None, "indicative": not applies})
    return out


def print_targets(found: list[Row]) -> None:
    for t in found:
        size = goals.REST_N if t["kind"] == "ratio" else goals.SCALE_N
        print(f"    {goals.line(t, note=f'(target is for N = {size:,})' if t['indicative'] else None)}")


def fmt(x: float | None, unit: str = "") -> str:
    if x is None:
        return "-"
    if unit == "/s" or abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.3g}" if abs(x) < 10 else f"{x:.1f}"


fmt_ratio = goals.fmt_ratio


def notes(row: Row) -> str:
    """One line of what the table cannot show: confirmations, completeness, errors, load, reconnects."""
    if "failed" in row:
        return f"FAILED: {row['failed']}"
    out = [f"GET returned {row['get']['rules_returned']}", f"delete all: {row['delall']['how']}",
           f"load avg {row['load_before']:.2f}->{row['load_after']:.2f}"]
    if row["controller"] != RyuRestQos.name:
        out.insert(0, f"confirmed answers: seq {row['seq']['confirmed']}/{row['seq']['count']}, "
                      f"8 clients {row['conc']['confirmed']}/{row['conc']['count']}")
    errors = sum(row[k].get("errors", 0) for k in ("seq", "conc", "del1", "delall", "bulk") if k in row)
    if errors:
        first = next(row[k]["first_error"] for k in ("seq", "conc", "del1", "delall", "bulk")
                     if k in row and row[k].get("first_error"))
        out.append(f"{errors} error answers (first: {first})")
    if row.get("reconnected"):
        out.append(f"THE SWITCH RECONNECTED during the run ({row.get('switch_connects')} connects)")
    if "bulk" in row:
        out.append(f"bulk: answer {row['bulk']['answer_s']} s, switch {row['bulk']['switch_s']} s, "
                   f"{row['bulk']['rate_per_s']:,.0f} policies/s")
    return "; ".join(out)


def print_table(results: dict[int, dict[str, Row]]) -> list[Row]:
    """The side-by-side table on stdout (Ryu, then each qos-sdn variant and its ratio); returns the targets."""
    all_targets = []
    for n, rows in sorted(results.items()):
        ryu = rows.get(RYU)
        variants = [name for name in rows if name != RYU]
        print(f"\nN = {n:,}")
        header = f"{'':<36}{'Ryu rest_qos':>13}" + "".join(f"{name[:12]:>13}{'ratio':>9}" for name in variants)
        print(header)
        print("-" * len(header))
        for label, unit, getter, better in METRICS:
            theirs = value(ryu, getter)
            line = f"{label:<36}{fmt(theirs, unit):>13}"
            for name in variants:
                ours = value(rows[name], getter)
                line += f"{fmt(ours, unit):>13}{fmt_ratio(ratio(ours, theirs, better)):>9}"
            print(line)
        for name, row in rows.items():
            print(f"  {'Ryu rest_qos' if name == RYU else name}: {notes(row)}")
        for name in variants:
            found = targets(n, ryu, rows[name], name)
            all_targets += found
            print(f"  targets ({name}):")
            print_targets(found)
    print("ratio: rates qos-sdn/Ryu, times and memory Ryu/qos-sdn (> 1 means qos-sdn is better)")
    return all_targets


# ---------------------------------------------------------------- the run
def machine() -> Row:
    def first(cmd: list[str]) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "?")
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
            "os": first(["sh", "-c", ". /etc/os-release; echo $PRETTY_NAME"]), "python": platform.python_version(),
            "ovs": first(["ovs-vswitchd", "--version"]),
            "mem_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)}


def parse_variants(specs: list[str] | None) -> list[tuple[str, Path | None]]:
    """[LABEL=]DIR per --src; no --src means the installed qos-sdn, labelled 'qos-sdn'."""
    if not specs:
        return [("qos-sdn", None)]
    out = []
    for spec in specs:
        label, _, path = spec.rpartition("=")
        out.append((label or Path(path).name, Path(path).resolve()))
    return out


def source_commit(src: Path) -> str:
    proc = subprocess.run(["git", "-C", str(src), "describe", "--always", "--dirty"], capture_output=True, text=True)
    return proc.stdout.strip() or "(not a git tree)"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", default="1000,20000", help="comma-separated sizes (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="N = 1,000 only (and --scale 2000)")
    parser.add_argument("--scale", type=int, default=None,
                        help=f"qos-sdn alone with this many policies: one bulk POST, GET all, RSS "
                             f"(default: {goals.SCALE_N:,}, --quick 2,000; 0 = skip)")
    parser.add_argument("--only", choices=(RYU, QOS), help="one controller only (no ratios)")
    parser.add_argument("--workers", type=int, default=8, help="concurrent clients (default: %(default)s)")
    parser.add_argument("--deletes", type=int, default=0,
                        help="single DELETEs timed per N (default: 20 at N <= 1,000, else 5)")
    parser.add_argument("--src", action="append", default=None, metavar="[LABEL=]DIR",
                        help="qos-sdn source tree to run, repeatable: one column each, measured in the "
                             "same run (default: the installed one, i.e. this repo)")
    parser.add_argument("--query", default="wait=confirm",
                        help="query string on qos-sdn's POSTs (default: %(default)s; '' for none)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep OVS, state and logs here (default: a temporary directory, removed "
                             "afterwards unless something failed)")
    parser.add_argument("--json-out", type=Path, default=None, help="also write the JSON line to this file")
    parser.add_argument("--no-netns", action="store_true",
                        help="stay in this network namespace (default: run in a private one, see netns_argv)")
    parser.add_argument("--in-netns", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def netns_argv(argv: list[str]) -> list[str]:
    """This same command, re-run in a fresh network namespace (`unshare --net`).

    Why: the userspace datapath makes a tap device named `ovs-netdev` in its
    network namespace, so two private OVS instances in one namespace (this
    benchmark and anyone's test run) collide with "Device or resource busy".
    In a namespace of its own the benchmark's OVS, controllers and client
    share a private loopback and disturb nobody.
    """
    return ["unshare", "--net", "--", sys.executable, str(Path(__file__).resolve()), *argv, "--in-netns"]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = [1000] if args.quick else [int(s) for s in args.n.split(",") if s.strip()]
    if os.geteuid() != 0:
        print("rest_bench: needs root (it starts a private Open vSwitch)", file=sys.stderr)
        return 2
    ryu_python = ensure_ryu_venv(log) if args.only != QOS else None  # before unshare: pip needs the network
    if not args.in_netns and not args.no_netns:
        return subprocess.run(netns_argv(sys.argv[1:] if argv is None else argv)).returncode
    if args.in_netns:
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="qos-rest-bench-"))
    variants = parse_variants(args.src)
    started = time.perf_counter()
    results: dict[int, dict[str, Row]] = {}
    scale = args.scale if args.scale is not None else (2000 if args.quick else goals.SCALE_N)
    scaled: list[Row] = []
    with PrivateOvs(workdir / "ovs") as ovs:
        bridge = BenchBridge(ovs)
        for n in sizes:
            deletes = args.deletes or (20 if n <= 1000 else 5)
            get_reps = 3 if n <= 1000 else 2
            results[n] = {}
            if args.only != QOS:
                ryu = RyuRestQos(ryu_python, workdir / f"ryu-{n}")  # type: ignore[arg-type]
                results[n][RYU] = run_controller(ryu, bridge, n, args.workers, deletes, get_reps)
            if args.only != RYU:
                for label, src in variants:
                    qos = QosSdn(workdir / f"{label}-{n}", src, args.query, label)
                    results[n][label] = run_controller(qos, bridge, n, args.workers, deletes, get_reps)
        if args.only != RYU and scale:
            for label, src in variants:
                qos = QosSdn(workdir / f"{label}-scale", src, args.query, label, extra_args=SCALE_ARGS)
                scaled.append(run_scale(qos, bridge, scale))
    target_rows = print_table(results)
    target_rows += print_scale(scaled)
    report = {"bench": "rest", "machine": machine(),
              "qos_sdn": {label: {"source": str(src or REPO), "commit": source_commit(src or REPO)}
                          for label, src in variants},
              "query": args.query, "workers": args.workers,
              "total_s": round(time.perf_counter() - started, 1), "workdir": str(workdir),
              "results": {str(n): pair for n, pair in results.items()}, "scale": scaled, "targets": target_rows}
    line = json.dumps(report)
    print(line)
    if args.json_out:
        args.json_out.write_text(line + "\n")
    failed = any("failed" in row for rows in results.values() for row in rows.values()) or \
        any("failed" in row for row in scaled)
    if args.workdir is None and not failed:  # logs and state are kept only when asked for, or on failure
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
