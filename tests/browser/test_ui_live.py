"""The web page against a live network: does it show whether QoS *works*?

A real controller with a private Open vSwitch (userspace datapath) and a
Mininet linear,2 on OpenFlow 1.3, the seed's queue profile applied. In the
browser: the switches, the applied queue profile, a policy added through
the form reaching "installed", and — when the controller offers policy
statistics — the live chart showing the measured rate of real iperf3
traffic next to the queue's 2 Mbit/s max-rate.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import BrowserPage
from tests.browser.test_ui import fill_policy_form, policy_row
from topologies.controller import ControllerProcess
from topologies.experiment import SEED_QUEUES, wait_queues_applied
from topologies.network import start_network, stop_network
from topologies.ovsenv import PrivateOvs
from topologies.traffic import IperfResult, iperf3, wait_reachable

pytestmark = [pytest.mark.browser, pytest.mark.integration]

S1 = "00:00:00:00:00:00:00:01"
#: h1 -> h2 enters s1 on port 1 and leaves on port 2 (towards s2): queue 2 there is 2 Mbit/s.
SHAPED = {"name": "h1 to h2 in queue 2", "ip-src": "10.0.0.1", "protocol": "6", "ingress-port": "1",
          "sw": S1, "queue": "2", "enqueue-port": "2"}
RATE_UNITS = {"bit/s": 1, "kbit/s": 1e3, "Mbit/s": 1e6, "Gbit/s": 1e9}


@dataclass
class Live:
    ovs: PrivateOvs
    ctl: ControllerProcess
    net: Any


@pytest.fixture(scope="module")
def live(private_ovs: PrivateOvs, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """The session's private OVS + controller + linear,2, the seed's queues applied, QoS enabled."""
    work = tmp_path_factory.mktemp("live")
    ovs = private_ovs
    ctl = ControllerProcess(work / "controller", ovsdb=ovs.db_remote).start()
    net = None
    try:
        net = start_network("linear,2", controller=("127.0.0.1", ctl.ofp_port), protocols="OpenFlow13")
        wait_reachable([net.get("h1"), net.get("h2")], timeout=30)
        assert ctl.request("POST", "/qos/queues", SEED_QUEUES)[0] == 201
        wait_queues_applied(ctl)
        assert ctl.request("POST", "/qos/enable")[0] == 200
        yield Live(ovs, ctl, net)
    finally:
        if net is not None:
            stop_network(net)
        ctl.stop()


@pytest.fixture()
def controller(live: Live) -> Iterator[ControllerProcess]:
    """The page under test talks to the live network's controller; policies are removed afterwards."""
    yield live.ctl
    for policy in live.ctl.request("GET", "/qos/policies")[1]:
        live.ctl.request("DELETE", "/qos/policies/" + quote(policy["name"], safe=""))


def parse_rate(text: str) -> float:
    """'1.95 Mbit/s' (as the page writes it) -> 1950000.0."""
    match = re.search(r"([\d.]+) (bit/s|kbit/s|Mbit/s|Gbit/s)", text)
    assert match, f"no rate in {text!r}"
    return float(match.group(1)) * RATE_UNITS[match.group(2)]


def test_live_network_on_the_page(live: Live, browser_page: BrowserPage, tmp_path: Path) -> None:
    bp, page = browser_page, browser_page.page
    bp.open_ui()
    expect(page.locator("#status-text")).to_contain_text("Enabled")
    expect(page.locator("#status-text")).to_contain_text("2 switches")
    switches = page.locator("#switch-table tbody tr")
    expect(switches).to_have_count(2)
    expect(switches.first).to_contain_text(S1)
    expect(switches.first).to_contain_text("1.3")
    expect(switches.first).to_contain_text("s1-eth1")
    profiles = page.locator("#queue-profiles")
    expect(profiles).to_contain_text("q2 ≤ 2 Mbit/s")
    expect(profiles.locator(".badge", has_text="01 s1-eth2: applied")).to_have_count(1)

    fill_policy_form(bp, SHAPED)
    page.get_by_role("button", name="Add policy").click()
    row = policy_row(bp, SHAPED["name"])
    expect(row.locator(".badge")).to_have_text(["01: installed"], timeout=15_000)

    # on the map: the switch the policy is installed on, and the cable of its enqueue port
    page.locator("#route-select").select_option(f"policy:{SHAPED['name']}")
    expect(page.locator("#route-text")).to_have_text(f"Policy {SHAPED['name']}: queue 2 on port 2 · s1 installed")
    marked = page.evaluate("""() => ({
        installed: window.qosNetwork.nodes('.installed-here').map((n) => n.data('label')),
        cables: window.qosNetwork.edges('.on-route').map((e) => [e.source().data('label'), e.target().data('label'),
                                                                 e.classes().includes('to-target')])})""")
    assert marked == {"installed": ["s1"], "cables": [["s1", "s2", True]]}, marked

    offers_stats = "/qos/stats/policies" in live.ctl.request("GET", "/qos/openapi.json")[1]["paths"]
    if not offers_stats:
        expect(page.locator("#rates-note")).to_have_text("Policy statistics: not available on this controller.")
        page.screenshot(path=str(tmp_path / "qos-ui-live.png"), full_page=True)
        assert bp.unexpected_errors() == []
        return

    result: list[IperfResult] = []
    traffic = threading.Thread(target=lambda: result.append(
        iperf3(live.net.get("h1"), live.net.get("h2"), seconds=10)), daemon=True)
    traffic.start()
    chart = page.locator(f"#charts figure[data-policy='{SHAPED['name']}']")
    expect(chart.locator(".chart-max")).to_have_text("max-rate 2 Mbit/s")
    # While iperf3 runs, the measured rate climbs to about the queue's limit.
    expect(chart.locator(".chart-now")).to_have_text(re.compile(r"^[12](\.\d+)? Mbit/s$"), timeout=12_000)
    shown = parse_rate(chart.locator(".chart-now").inner_text())
    page.screenshot(path=str(tmp_path / "qos-ui-live.png"), full_page=True)
    traffic.join(30)
    assert result, "iperf3 did not finish"
    measured = result[0].mbps * 1e6
    assert 0.5 * measured <= shown <= 1.5 * measured, (shown, measured)
    assert shown <= 2.4e6

    # a meter policing h1's UDP: the Meters table shows what reached it and what its band dropped
    assert live.ctl.request("POST", "/qos/meters", {"name": "cap-1M", "rate": "1M"})[0] == 201
    policed = {"name": "police h1 UDP", "ip-src": "10.0.0.1", "protocol": 17, "meter": "cap-1M"}
    assert live.ctl.request("POST", "/qos/policies?wait=confirm", policed)[0] == 201
    iperf3(live.net.get("h1"), live.net.get("h2"), seconds=3, udp=True, bitrate="5M")
    meter_row = page.locator("#meter-stats tbody tr", has_text="cap-1M").filter(has_text="01")
    expect(meter_row.locator("td").nth(7)).not_to_have_text(re.compile(r"^(0|–)$"), timeout=10_000)
    cells = meter_row.locator("td").all_inner_texts()
    assert cells[0] == "cap-1M" and int(cells[4].replace(",", "")) > int(cells[7].replace(",", "")) > 0, cells
    assert bp.unexpected_errors() == []
