"""A real Prometheus scrapes a real controller during the seed's 2 Mbit/s run.

Private OVS (userspace), qos-controller with an API token that reads need
too, Mininet linear,4 on OpenFlow 1.3, the seed's queue profile and its s1
policy (h1->h2 into queue 2, 2 Mbit/s). Debian's prometheus runs on
loopback with its own data dir, scraping /metrics every second with the
token. While iperf3 sends h1->h2, PromQL's rate() of the policy's bytes must
agree with iperf3's measured rate within 10 %, and `promtool check metrics`
must find nothing wrong with a scrape taken meanwhile.
"""
from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from topologies.controller import ControllerProcess
from topologies.experiment import SEED_POLICIES, SEED_QUEUES, wait_installed, wait_queues_applied
from topologies.network import start_network, stop_network
from topologies.ovsenv import PrivateOvs
from topologies.promenv import PROMTOOL, PrometheusProcess
from topologies.traffic import iperf3, wait_reachable

pytestmark = pytest.mark.integration

TOKEN = "prometheus-scrapes-with-this-token"
POLICY = "Enqueue 2:2 s1"
SECONDS = 12  # iperf3 -t (the first second is omitted from its result)
WINDOW = 8  # seconds of rate() inside the iperf3 run
TOLERANCE = 0.10


def scrape(ctl: ControllerProcess, token: str | None) -> tuple[int, str]:
    req = urllib.request.Request(ctl.url + "/metrics",
                                 headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_promql_rate_of_the_limited_policy_agrees_with_iperf3(private_ovs: PrivateOvs, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    ctl = ControllerProcess(tmp_path / "state", ovsdb=private_ovs.db_remote,
                            extra_args=["--token-file", str(token_file), "--token-for-reads"])
    ctl.headers = {"Authorization": f"Bearer {TOKEN}"}
    net = None
    with ctl:
        try:
            net = start_network("linear,4", controller=("127.0.0.1", ctl.ofp_port), protocols="OpenFlow13")
            h1, h2 = net.get("h1"), net.get("h2")
            wait_reachable([h1, h2], timeout=30)
            assert ctl.request("POST", "/qos/queues", SEED_QUEUES)[0] == 201
            wait_queues_applied(ctl)
            assert ctl.request("POST", "/qos/enable")[0] == 200
            code, answer = ctl.request("POST", "/qos/policies", json.loads(SEED_POLICIES[0]))
            assert code == 201, answer
            wait_installed(ctl, [POLICY])

            assert scrape(ctl, None)[0] == 401  # reads need the token: /metrics too
            with PrometheusProcess(tmp_path / "prometheus", f"127.0.0.1:{ctl.rest_port}", interval=1.0,
                                   token_file=token_file) as prom:
                prom.wait_target_up()
                started = time.time()
                result = iperf3(h1, h2, seconds=SECONDS)
                ended = time.time()
                code, text = scrape(ctl, TOKEN)
                assert code == 200
                (tmp_path / "scrape.txt").write_text(text)
                lint = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True)
                assert lint.returncode == 0 and not (lint.stdout + lint.stderr).strip(), lint.stdout + lint.stderr

                time.sleep(3)  # the last polls (every 2 s) reach Prometheus
                at = ended - 1.0
                assert at - WINDOW > started + 2.0  # the window lies inside the measured part of the run
                promql = f'rate(qos_policy_bytes_total{{policy="{POLICY}",dp_id="0x1"}}[{WINDOW}s]) * 8'
                vector = prom.query(promql, at=at)
                assert len(vector) == 1, vector
                prom_mbps = float(vector[0]["value"][1]) / 1e6
                print(f"\niperf3 h1->h2: {result.mbps:.3f} Mbit/s; PromQL {promql}: {prom_mbps:.3f} Mbit/s "
                      f"(ratio {prom_mbps / result.mbps:.3f})")
                assert 1.7 <= result.mbps <= 2.2, f"the seed's limit does not hold: {result.mbps} Mbit/s"
                assert abs(prom_mbps - result.mbps) <= TOLERANCE * result.mbps, (prom_mbps, result.mbps)

                # the controller-wide families are there, and Prometheus stored them
                up = prom.query('up{job="qos-sdn"}')
                assert [v["value"][1] for v in up] == ["1"]
                assert float(prom.query("qos_switches_connected")[0]["value"][1]) == 4
                assert float(prom.query('sum(qos_of_flowmods_sent_total)')[0]["value"][1]) > 0
                assert float(prom.query('sum(qos_of_packet_ins_total)')[0]["value"][1]) > 0
                assert float(prom.query("qos_store_commits_total")[0]["value"][1]) >= 3
                state = prom.query(f'qos_policy_install_state{{policy="{POLICY}"}}')
                assert [(v["metric"]["dp_id"], v["metric"]["state"]) for v in state] == [("0x1", "installed")]
                queues = prom.query('rate(qos_queue_tx_bytes_total{dp_id="0x1",port="2",queue="2"}[8s]) * 8')
                assert len(queues) == 1 and float(queues[0]["value"][1]) > 1e6, queues
                routes = prom.query('sum by (route) (qos_rest_requests_total{status="200"})')
                assert {"/metrics", "/qos/policies"} <= {v["metric"]["route"] for v in routes}, routes
                assert prom.query('qos_rest_request_duration_seconds_count{route="/metrics"}')
        finally:
            if net is not None:
                stop_network(net)
