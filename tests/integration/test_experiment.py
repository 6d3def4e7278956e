"""README's first command, for real: `qos-experiment` on OpenFlow 1.0 and 1.3.

Runs the installed console script as a user would (a subprocess), on the
session's private OVS (exported in OVS_RUNDIR), and checks its exit code,
its results.json, the flows it saw on s1 and its chart.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from topologies.ovsenv import PrivateOvs

pytestmark = pytest.mark.integration


def run_scenario(ovs: PrivateOvs, outdir: Path, scenario: str,
                 seconds: float) -> tuple[subprocess.CompletedProcess[str], dict[str, Any], dict[tuple[str, str], float]]:
    """Run `qos-experiment --scenario S` as a user would; it must exit 0. Returns (process, results.json,
    {(phase, direction): Mbit/s})."""
    script = Path(sys.executable).with_name("qos-experiment")
    proc = subprocess.run([str(script), "--scenario", scenario, "--seconds", str(seconds), "--outdir", str(outdir)],
                          capture_output=True, text=True, timeout=240, env=ovs.env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    results = json.loads((outdir / "results.json").read_text())
    return proc, results, {(m["phase"], m["direction"]): m["mbps"] for m in results["measurements"]}


@pytest.mark.parametrize("openflow,action", [("10", "actions=enqueue:2:2"), ("13", "actions=set_queue:2,output:2")])
def test_seed_experiment(private_ovs: PrivateOvs, tmp_path: Path, openflow: str, action: str) -> None:
    script = Path(sys.executable).with_name("qos-experiment")
    proc = subprocess.run([str(script), "--openflow", openflow, "--seconds", "4", "--outdir", str(tmp_path)],
                          capture_output=True, text=True, timeout=240, env=private_ovs.env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    results = json.loads((tmp_path / "results.json").read_text())
    rates = {(m["phase"], m["direction"]): m["mbps"] for m in results["measurements"]}
    assert 1.7 <= rates[("after policies", "h1->h2")] <= 2.2
    assert rates[("after policies", "h2->h1")] >= 100
    assert rates[("before policies", "h1->h2")] >= 100  # the queue profile alone limits nothing
    assert results["ok"] is True and results["openflow"] == {"10": "1.0", "13": "1.3"}[openflow]
    flows = (tmp_path / "flows-s1.txt").read_text()
    assert "cookie=0x5100000000000001" in flows and action in flows
    assert (tmp_path / "throughput.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "PASS  h1->h2 limited" in proc.stdout


def test_meter_scenario(private_ovs: PrivateOvs, tmp_path: Path) -> None:
    """`qos-experiment --scenario meter`: the 2 Mbit/s held by a meter, UDP in band, TCP reported."""
    proc, results, rates = run_scenario(private_ovs, tmp_path, "meter", 4)
    assert 1.7 <= rates[("after policies", "h1->h2 UDP")] <= 2.2
    assert rates[("after policies", "h1->h2")] <= 2.2 and rates[("after policies", "h2->h1")] >= 100
    assert rates[("before policies", "h1->h2 UDP")] >= 8
    assert results["ok"] is True and results["scenario"] == "meter"
    assert "meter:1" in (tmp_path / "flows-s1.txt").read_text()
    assert "type=drop rate=2000 burst_size=256" in (tmp_path / "meters-s1.txt").read_text()
    assert (tmp_path / "throughput.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "PASS  h1->h2 UDP policed" in proc.stdout


def test_meter_scenario_refuses_openflow10(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("qos-experiment")
    proc = subprocess.run([str(script), "--scenario", "meter", "--openflow", "10", "--outdir", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "OpenFlow 1.0 has no meters" in proc.stdout, proc.stdout


def test_guarantee_scenario(private_ovs: PrivateOvs, tmp_path: Path) -> None:
    """`qos-experiment --scenario guarantee`: two TCP senders at once into a 10 Mbit/s port, each held
    to at least 0.9 x its queue's min-rate (8 and 1 Mbit/s), the rates read back from tc in the queue list."""
    proc, results, rates = run_scenario(private_ovs, tmp_path, "guarantee", 5)
    assert rates[("after policies", "h1->h2")] >= 7.2 and rates[("after policies", "h3->h2")] >= 0.9
    assert rates[("after policies", "h1->h2")] + rates[("after policies", "h3->h2")] >= 8.5
    assert rates[("before policies", "h1->h2")] + rates[("before policies", "h3->h2")] <= 10.5  # the port's 10M
    assert results["ok"] is True and results["scenario"] == "guarantee"
    assert len(results["series"]["after policies"]["h3->h2"]) >= 5  # the chart's points, every 0.5 s
    assert "applied (tc): port 10M; q0 min 12k max 10M; q1 min 8M max 10M; q2 min 1M max 10M" in \
        (tmp_path / "queues.txt").read_text()
    flows = (tmp_path / "flows-s2.txt").read_text()
    assert "nw_src=10.0.0.3,nw_dst=10.0.0.2 actions=set_queue:2,output:1" in flows
    assert (tmp_path / "throughput.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "PASS  h3->h2 gets queue 2's min-rate" in proc.stdout and "split h1->h2" in proc.stdout


def test_ipv6_scenario(private_ovs: PrivateOvs, tmp_path: Path) -> None:
    """`qos-experiment --scenario ipv6`: the seed's 2 Mbit/s on IPv6 hosts, by an ipv6-src policy and then by
    a QoS path between fc00::1 and fc00::2 (the controller learned both from neighbour discovery)."""
    proc, results, rates = run_scenario(private_ovs, tmp_path, "ipv6", 4)
    assert rates[("before policies", "h1->h2")] >= 100
    assert 1.7 <= rates[("after policies", "h1->h2")] <= 2.2 and 1.7 <= rates[("after path", "h1->h2")] <= 2.2
    assert rates[("after policies", "h2->h1")] >= 100 and rates[("after path", "h2->h1")] >= 100
    assert results["ok"] is True and results["scenario"] == "ipv6"
    assert "tcp6,in_port=1,ipv6_src=fc00::1 actions=set_queue:2,output:2" in (tmp_path / "flows-s1.txt").read_text()
    path_flows = (tmp_path / "flows-s1-path.txt").read_text()
    assert "ipv6_src=fc00::1,ipv6_dst=fc00::2" in path_flows and "cookie=0x50" in path_flows
    assert (tmp_path / "throughput.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "PASS  h1->h2 limited by the IPv6 QoS path" in proc.stdout
