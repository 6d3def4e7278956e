"""GET /metrics in-process: the exposition read back with prometheus-client's parser, and promtool's check."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import qosapp.main.compat  # noqa: F401
from prometheus_client.parser import text_string_to_metric_families
from ryu.app.wsgi import WSGIApplication
from webob import Request

from qosapp.core.compiler import OF13
from qosapp.core.cookies import path_cookie, policy_cookie
from qosapp.http import rest
from qosapp.http.guard import Guard, GuardConfig
from qosapp.http.metrics import UNROUTED, metrics_of
from qosapp.http.openapi_compat import document
from qosapp.service import QosService
from tests.unit.fakeoftable import FakeSwitches
from tests.unit.serviceenv import make_service

SEED_S1 = {"name": "Enqueue 2:2 s1", "protocol": "6", "eth-type": "0x0800", "ingress-port": "1",
           "ip-src": "10.0.0.1", "sw": "00:00:00:00:00:00:00:01", "queue": "2", "enqueue-port": "2"}
TOKEN = "metrics-token"


class Scraper:
    """The controller's WSGI stack as `qosapp.main.frontdoor` builds it: metrics(guard(app))."""

    def __init__(self, core: QosService, config: GuardConfig | None = None) -> None:
        app = WSGIApplication()
        self.metrics = rest.register(app, core)
        assert metrics_of(app) is self.metrics
        self.app = self.metrics.middleware(Guard(app, config))

    def call(self, method: str, path: str, **headers: str) -> Any:
        req = Request.blank(path, method=method)
        req.headers["Host"] = "127.0.0.1:8080"
        req.headers.update(headers)
        return req.get_response(self.app)

    def scrape(self, **headers: str) -> str:
        resp = self.call("GET", "/metrics", **headers)
        assert resp.status_int == 200, resp.body
        assert resp.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        return resp.body.decode()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} of an exposition."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(text: str, name: str, **labels: str) -> float | None:
    return samples(text).get((name, tuple(sorted(labels.items()))))


@pytest.fixture
def core(tmp_path: Path) -> QosService:
    return make_service(str(tmp_path), FakeSwitches(), green=True)


def test_policy_path_queue_and_controller_families(core: QosService) -> None:
    scraper = Scraper(core)
    core.switch_connected(1, OF13, {1: "s1-eth1", 2: "s1-eth2"})
    core.enable()
    policy = core.add_policy(SEED_S1)
    path = core.add_path({"name": "h1-h4", "src": "10.0.0.1", "dst": "10.0.0.4", "queue": 1})
    core.flows_confirmed(1, [policy_cookie(policy.id)])
    stats = core.stats
    stats.record_flows(1, 10.0, [(policy_cookie(policy.id), 5, 5000), (path_cookie(path.id), 2, 300)])
    stats.record_flows(1, 12.0, [(policy_cookie(policy.id), 9, 9000), (path_cookie(path.id), 3, 450)])
    stats.record_queues(1, 12.0, [(2, 2, 40, 60000, 1)])
    stats.messages.errors[1] += 2
    stats.messages.packet_ins[1] += 7
    text = scraper.scrape()

    name = "Enqueue 2:2 s1"
    assert value(text, "qos_policy_bytes_total", policy=name, dp_id="0x1") == 9000
    assert value(text, "qos_policy_packets_total", policy=name, dp_id="0x1") == 9
    assert value(text, "qos_policy_install_state", policy=name, dp_id="0x1", state="installed") == 1
    assert value(text, "qos_path_bytes_total", path="h1-h4", dp_id="0x1") == 450
    assert value(text, "qos_path_packets_total", path="h1-h4", dp_id="0x1") == 3
    queue = {"dp_id": "0x1", "port": "2", "port_name": "s1-eth2", "queue": "2"}
    assert value(text, "qos_queue_tx_bytes_total", **queue) == 60000
    assert value(text, "qos_queue_tx_packets_total", **queue) == 40
    assert value(text, "qos_queue_tx_errors_total", **queue) == 1
    assert value(text, "qos_switches_connected") == 1
    assert value(text, "qos_enabled") == 1
    assert value(text, "qos_policies") == 1 and value(text, "qos_paths") == 1
    assert value(text, "qos_store_commits_total") == core.store.commits >= 3  # enable, policy, path
    # the fake switch got the cold start, the policy and the path (the shell counts; here nothing did)
    assert value(text, "qos_of_errors_total", dp_id="0x1") == 2
    assert value(text, "qos_of_packet_ins_total", dp_id="0x1") == 7
    # one series per install state: a pending policy is pending, not installed
    other = core.add_policy({**SEED_S1, "name": "other", "ip-src": "10.0.0.2"})
    text = scraper.scrape()
    assert value(text, "qos_policy_install_state", policy="other", dp_id="0x1", state="pending") == 1
    assert value(text, "qos_policy_install_state", policy="other", dp_id="0x1", state="installed") is None
    core.delete_policy(other.name)
    assert "other" not in scraper.scrape()


def test_meter_counters_per_switch(core: QosService) -> None:
    """Per meter and switch: bytes and packets in, and what the drop band dropped."""
    scraper = Scraper(core)
    core.stats.record_meters(1, 10.0, [("two-mbit", 100, 150000, 20, 30000)])
    core.stats.messages.meter_mods[1] += 1
    text = scraper.scrape()
    labels = {"meter": "two-mbit", "dp_id": "0x1"}
    assert value(text, "qos_meter_bytes_total", **labels) == 150000
    assert value(text, "qos_meter_packets_total", **labels) == 100
    assert value(text, "qos_meter_band_dropped_bytes_total", **labels) == 30000
    assert value(text, "qos_meter_band_dropped_packets_total", **labels) == 20
    assert value(text, "qos_of_metermods_sent_total", dp_id="0x1") == 1


def test_disabled_policies_are_not_installed(core: QosService) -> None:
    scraper = Scraper(core)
    core.switch_connected(1, OF13, {1: "s1-eth1"})
    core.add_policy(SEED_S1)
    text = scraper.scrape()
    assert value(text, "qos_enabled") == 0
    assert value(text, "qos_policy_install_state", policy="Enqueue 2:2 s1", dp_id="0x1", state="not-installed") == 1


def test_switch_counters_carry_the_poll_time(core: QosService) -> None:
    """Sample timestamps are the Unix time of the poll the value came from, not of the scrape."""
    import time
    scraper = Scraper(core)
    core.switch_connected(1, OF13, {2: "s1-eth2"})
    policy = core.add_policy(SEED_S1)
    polled = time.monotonic() - 5.0
    core.stats.record_flows(1, polled, [(policy_cookie(policy.id), 1, 100)])
    core.stats.record_queues(1, polled, [(2, 0, 1, 100, 0)])
    stamps = {s.name: s.timestamp for family in text_string_to_metric_families(scraper.scrape())
              for s in family.samples if s.timestamp is not None}
    assert set(stamps) == {"qos_policy_bytes_total", "qos_policy_packets_total", "qos_queue_tx_bytes_total",
                           "qos_queue_tx_packets_total", "qos_queue_tx_errors_total"}
    for stamp in stamps.values():
        assert abs(float(stamp) - (time.time() - 5.0)) < 1.0


def test_a_scrape_keeps_the_flow_counters_polled(core: QosService) -> None:
    assert not core.stats.flows_watched(0.0)
    Scraper(core).scrape()
    import time
    assert core.stats.flows_watched(time.monotonic())


def test_rest_requests_by_route_method_status_and_latency(core: QosService) -> None:
    scraper = Scraper(core, GuardConfig(token=TOKEN))
    for _ in range(3):
        scraper.call("GET", "/qos/status")
    scraper.call("GET", "/qos/policies/nope%20here")
    scraper.call("POST", "/qos/enable")  # no token: 401 from the front door, before any route
    scraper.call("PATCH", "/qos/status", Authorization=f"Bearer {TOKEN}")
    scraper.call("GET", "/qos/no/such/thing")
    text = scraper.scrape()
    count = "qos_rest_requests_total"
    assert value(text, count, route="/qos/status", method="GET", status="200") == 3
    assert value(text, count, route="/qos/policies/{name}", method="GET", status="404") == 1
    assert value(text, count, route=UNROUTED, method="POST", status="401") == 1
    assert value(text, count, route="/qos/status", method="PATCH", status="405") == 1
    assert value(text, count, route=UNROUTED, method="GET", status="404") == 1
    hist = "qos_rest_request_duration_seconds"
    assert value(text, f"{hist}_count", route="/qos/status", method="GET") == 3
    assert value(text, f"{hist}_bucket", route="/qos/status", method="GET", le="+Inf") == 3
    assert 0 < value(text, f"{hist}_sum", route="/qos/status", method="GET") < 3  # type: ignore[operator]
    # the scrape itself is counted (after its answer: it sees the earlier ones only)
    assert value(scraper.scrape(), count, route="/metrics", method="GET", status="200") == 1
    assert "nope" not in text  # names never become labels


def test_metrics_need_the_token_when_reads_are_protected(core: QosService) -> None:
    scraper = Scraper(core, GuardConfig(token=TOKEN, token_for_reads=True))
    resp = scraper.call("GET", "/metrics")
    assert resp.status_int == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert scraper.scrape(Authorization=f"Bearer {TOKEN}").startswith("# HELP")
    # with a token for writes only, reads (and /metrics) stay open as before
    assert Scraper(core, GuardConfig(token=TOKEN)).scrape().startswith("# HELP")


def test_metrics_refuse_other_methods_and_foreign_hosts(core: QosService) -> None:
    scraper = Scraper(core)
    assert scraper.call("POST", "/metrics").status_int == 405
    assert scraper.call("GET", "/metrics", Host="evil.example").status_int == 403


def test_openapi_describes_metrics() -> None:
    get = document()["paths"]["/metrics"]["get"]
    assert "text/plain" in get["responses"]["200"]["content"]


def test_promtool_finds_nothing_to_complain_about(core: QosService) -> None:
    """Debian's promtool (setup.sh installs it) lints a scrape with every family filled."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: run ./setup.sh"
    scraper = Scraper(core)
    core.switch_connected(1, OF13, {1: "s1-eth1", 2: "s1-eth2"})
    core.enable()
    policy = core.add_policy(SEED_S1)
    core.stats.record_flows(1, 1.0, [(policy_cookie(policy.id), 1, 100)])
    core.stats.record_queues(1, 1.0, [(2, 0, 1, 100, 0)])
    core.stats.messages.flow_mods[1] += 1
    core.stats.messages.meter_mods[1] += 1
    core.stats.record_meters(1, 1.0, [("m", 1, 100, 0, 0)])
    scraper.call("GET", "/qos/status")
    run = subprocess.run([promtool, "check", "metrics"], input=scraper.scrape(), capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout.strip() == "" and run.stderr.strip() == "", run.stdout + run.stderr
