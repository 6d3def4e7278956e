"""Benchmark: a qos-sdn cluster on etcd (three members, three instances, linear,10 on OVS).

Not a test: it prints numbers and never asserts on time. The issue's target
is a failover under 5 s. Three measurements on one bed (`topologies.clusterenv`):

  failover - `--kills` times (default 10): kill -9 the instance that masters
             s1, time from the kill to the first role reply of the new master
             of each of its switches (the last of them counts), then restart it
             and wait until it holds its share again; median and max;
  bulk     - one POST of `--bulk` policies (default 20,000, one etcd
             transaction) to one instance, time until every switch holds
             them all (ovs-ofctl dump-aggregate on every bridge);
  writes   - `--writes` single-policy POSTs (default 200) through etcd, and the
             same against a standalone instance on the SQLite store; median and
             p95 latency each.

Needs root (a private Open vSwitch, Mininet). Run under the data-plane lock:
  flock /tmp/qos-dataplane.lock .venv/bin/python bench/cluster.py [--kills 10] [--bulk 20000]
The last line is the results as JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from topologies.clusterenv import ClusterBed  # noqa: E402
from topologies.controller import ControllerProcess  # noqa: E402
from topologies.netutil import free_tcp_port  # noqa: E402
from topologies.ovsenv import PrivateOvs  # noqa: E402

S1 = "00:00:00:00:00:00:00:01"


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def failovers(bed: ClusterBed, kills: int) -> list[float]:
    """Seconds from kill -9 of s1's master to the last of its switches' new role replies, per kill."""
    out = []
    for round_no in range(1, kills + 1):
        owners = bed.masters(bed.live()[0])
        victim = str(owners[S1])
        theirs = [d for d, m in owners.items() if m == victim]
        killed_at = bed.kill(victim)
        seen: dict[str, float] = {}
        deadline = time.monotonic() + 30
        while len(seen) < len(theirs) and time.monotonic() < deadline:
            seen = {**bed.remastered(theirs, victim), **seen}
            time.sleep(0.05)
        if len(seen) < len(theirs):
            raise RuntimeError(f"kill {round_no}: {sorted(set(theirs) - set(seen))} not remastered within 30 s")
        took = max(seen.values()) - killed_at
        out.append(took)
        log(f"kill {round_no}: {victim} (master of {len(theirs)} switches) -> remastered after {took:.2f} s")
        back = bed.restart()
        me = f"c{bed.ctls.index(back)}"
        bed.wait(lambda: bed.settled(bed.size) and list(bed.masters(back).values()).count(me) >= 1, 60,
                 f"{me} back with a share")
    return out


def bulk(bed: ClusterBed, n: int) -> dict[str, float]:
    """One POST of n policies (sw all) through etcd; seconds to the answer and until every switch holds them."""
    writer = bed.live()[0]
    before = {b: bed.policy_flow_count(b) for b in (f"s{i}" for i in range(1, bed.switches + 1))}
    body = [{"name": f"bulk-{i}", "ip-src": f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}", "protocol": 6,
             "dst-port": 5001, "priority": 100, "service": "Best Effort"} for i in range(n)]
    started = time.perf_counter()
    code, answer = writer.request("POST", "/qos/policies", body, timeout=600)
    answered = time.perf_counter() - started
    if code != 201:
        raise RuntimeError(f"bulk POST: {code} {str(answer)[:300]}")
    log(f"bulk: {n} policies answered after {answered:.1f} s")
    pending = dict(before)
    held_at: dict[str, float] = {}
    deadline = time.monotonic() + 900
    while pending and time.monotonic() < deadline:
        for bridge in list(pending):
            if bed.policy_flow_count(bridge) >= before[bridge] + n:
                held_at[bridge] = time.perf_counter() - started
                del pending[bridge]
        time.sleep(0.5)
    if pending:
        raise RuntimeError(f"bulk: {sorted(pending)} do not hold all {n} policies after 900 s")
    everywhere = max(held_at.values())
    log(f"bulk: every switch holds them after {everywhere:.1f} s")
    code, _ = writer.request("DELETE", "/qos/policies", {"names": [p["name"] for p in body]}, timeout=600)
    return {"answered_s": round(answered, 2), "every_switch_s": round(everywhere, 2),
            "first_switch_s": round(min(held_at.values()), 2)}


def write_latency(ctl: ControllerProcess, n: int, prefix: str) -> dict[str, float]:
    """Sequential single-policy POSTs; median and p95 in ms."""
    times = []
    for i in range(n):
        started = time.perf_counter()
        body = {"name": f"{prefix}-{i}", "ip-dst": f"10.9.{i // 256}.{i % 256}", "protocol": 17,
                "service": "Best Effort"}
        code, answer = ctl.request("POST", "/qos/policies", body)
        times.append((time.perf_counter() - started) * 1000)
        if code != 201:
            raise RuntimeError(f"write {i} on {ctl.url}: {code} {answer}")
    times.sort()
    return {"median_ms": round(statistics.median(times), 2), "p95_ms": round(times[int(0.95 * (len(times) - 1))], 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--bulk", type=int, default=20000)
    parser.add_argument("--writes", type=int, default=200)
    parser.add_argument("--switches", type=int, default=10)
    parser.add_argument("--workdir", type=Path, help="keep logs and state here (default: a temp dir, removed)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("cluster bench: needs root (a private Open vSwitch, Mininet)", file=sys.stderr)
        return 2
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="qos-cluster-bench-"))
    results: dict[str, Any] = {"bench": "cluster", "switches": args.switches, "instances": 3, "etcd_members": 3}
    with PrivateOvs(workdir / "ovs", ovsdb_tcp_port=free_tcp_port()) as ovs, ovs.exported():
        bed = ClusterBed(workdir / "bed", ovs, switches=args.switches)
        try:
            log("starting 3 etcd members, 3 instances, linear,%d" % args.switches)
            bed.start()
            bed.ctls[0].request("POST", "/qos/enable")
            if args.kills:
                times = failovers(bed, args.kills)
                results["failover"] = {"kills": len(times), "median_s": round(statistics.median(times), 2),
                                       "max_s": round(max(times), 2), "all_s": [round(t, 2) for t in times],
                                       "lease_ttl_s": bed.lease_ttl, "target_s": 5.0}
            if args.writes:
                results["writes_etcd"] = write_latency(bed.live()[0], args.writes, "lat-etcd")
            if args.bulk:
                results["bulk"] = {"policies": args.bulk, **bulk(bed, args.bulk)}
        finally:
            bed.stop()
        if args.writes:
            solo = ControllerProcess(workdir / "sqlite", extra_args=["--no-queues"]).start()
            try:
                solo.request("POST", "/qos/enable")
                results["writes_sqlite"] = write_latency(solo, args.writes, "lat-sqlite")
            finally:
                solo.stop()
    print_table(results)
    print(json.dumps(results))
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def print_table(results: dict[str, Any]) -> None:
    rows = []
    if "failover" in results:
        f = results["failover"]
        rows.append(f"failover over {f['kills']} kills (lease TTL {f['lease_ttl_s']} s): median {f['median_s']} s, "
                    f"max {f['max_s']} s (target < {f['target_s']} s)")
    if "bulk" in results:
        b = results["bulk"]
        rows.append(f"bulk {b['policies']} policies through etcd: answered {b['answered_s']} s, first switch "
                    f"{b['first_switch_s']} s, every switch {b['every_switch_s']} s")
    for key, label in (("writes_etcd", "etcd (3 members)"), ("writes_sqlite", "SQLite (one instance)")):
        if key in results:
            w = results[key]
            rows.append(f"single-policy POST, {label}: median {w['median_ms']} ms, p95 {w['p95_ms']} ms")
    for row in rows:
        print(row)


if __name__ == "__main__":
    sys.exit(main())
