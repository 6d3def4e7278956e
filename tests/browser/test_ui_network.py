"""The network map and the rate charts against a live ring with a QoS path.

A real controller, the session's private Open vSwitch (userspace datapath),
Mininet ring,5 on OpenFlow 1.3 with the seed's queue profile, and a QoS path
h1 <-> h3 in queue 2 (2 Mbit/s), whose route s1 -> s2 -> s3 is the one
shortest way round the ring. In Chromium: cytoscape.js draws every switch,
cable and host; selecting the path highlights its switches in hop order and
its cables, with an arrow each way; while iperf3 sends h1 -> h3, the path's
uPlot chart and the queue chart show the limited rate. The screenshot goes
to results/screenshots/ (and the test's tmp dir).
"""
from __future__ import annotations

import re
import shutil
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import BrowserPage
from tests.browser.test_ui_live import parse_rate
from topologies.controller import ControllerProcess
from topologies.experiment import SEED_QUEUES, wait_queues_applied
from topologies.netutil import wait_until
from topologies.network import start_network, stop_network
from topologies.ovsenv import PrivateOvs
from topologies.traffic import IperfResult, iperf3, wait_reachable

pytestmark = [pytest.mark.browser, pytest.mark.integration]

RING = 5
PATH = {"name": "h1-h3", "src": "10.0.0.1", "dst": "10.0.0.3", "queue": 2, "protocol": 6}
#: ring,n: s_i port 1 = h_i, port 2 = s_(i+1), port 3 = s_(i-1)
FORWARD_TEXT = "forward 10.0.0.1 → 10.0.0.3: s1 (1→2) → s2 (3→2) → s3 (3→1)"
REVERSE_TEXT = "reverse 10.0.0.3 → 10.0.0.1: s3 (1→3) → s2 (2→3) → s1 (2→1)"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "results" / "screenshots"


@pytest.fixture(scope="module")
def ring(private_ovs: PrivateOvs, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ControllerProcess, Any]]:
    work = tmp_path_factory.mktemp("ring-ui")
    ctl = ControllerProcess(work / "controller", ovsdb=private_ovs.db_remote).start()
    net = None
    try:
        net = start_network(f"ring,{RING}", controller=("127.0.0.1", ctl.ofp_port), protocols="OpenFlow13",
                            wait_connected=30)
        assert ctl.request("POST", "/qos/queues", SEED_QUEUES)[0] == 201
        wait_queues_applied(ctl, timeout=60)
        assert ctl.request("POST", "/qos/enable")[0] == 200
        wait_reachable(net.hosts, timeout=60)  # every host talks: the controller knows them all

        def mapped() -> bool:
            topo = ctl.request("GET", "/qos/topology")[1]
            return len(topo["links"]) == 2 * RING and len(topo["hosts"]) == RING
        wait_until(mapped, 30, f"{RING} cables and {RING} hosts in /qos/topology")
        assert ctl.request("POST", "/qos/paths", PATH)[0] == 201

        def installed() -> bool:
            view = ctl.request("GET", "/qos/paths/" + PATH["name"])[1]
            return view["status"]["state"] == "installed" and len(view["install"]) == 3 and all(
                s["state"] == "installed" for s in view["install"].values())
        wait_until(installed, 20, "the path installed on s1, s2, s3")
        yield ctl, net
    finally:
        if net is not None:
            stop_network(net)
        ctl.stop()


@pytest.fixture()
def controller(ring: tuple[ControllerProcess, Any]) -> ControllerProcess:
    return ring[0]


def graph(page: Any) -> dict[str, Any]:
    """What cytoscape.js holds and where it drew it (rendered boxes, in the container's pixels)."""
    return page.evaluate("""() => {
        const cy = window.qosNetwork;
        const inside = (e) => { const b = e.renderedBoundingBox(); return b.x1 >= 0 && b.y1 >= 0
            && b.x2 <= cy.width() && b.y2 <= cy.height(); };
        const nodes = cy.nodes().map((n) => ({ id: n.id(), kind: n.data('kind'), label: n.data('label'),
            routeLabel: n.data('routeLabel'), classes: n.classes(), visible: n.visible() && inside(n) }));
        const edges = cy.edges().map((e) => ({ id: e.id(), kind: e.data('kind'),
            ends: [e.source().data('label'), e.target().data('label')], classes: e.classes(),
            visible: e.visible() && inside(e) }));
        return { nodes, edges, width: cy.width(), height: cy.height() };
    }""")


def test_ring_drawn_with_the_path_route_and_its_limited_rate(ring: tuple[ControllerProcess, Any],
                                                            browser_page: BrowserPage, tmp_path: Path) -> None:
    ctl, net = ring
    bp, page = browser_page, browser_page.page
    bp.open_ui()
    page.wait_for_function("window.qosNetwork && window.qosNetwork.nodes().length === 10")
    drawn = graph(page)
    switches = sorted(n["label"] for n in drawn["nodes"] if n["kind"] == "switch")
    hosts = sorted(n["label"] for n in drawn["nodes"] if n["kind"] == "host")
    cables = sorted(tuple(sorted(e["ends"])) for e in drawn["edges"] if e["kind"] == "link")
    host_links = sorted(tuple(e["ends"]) for e in drawn["edges"] if e["kind"] == "hostlink")
    assert switches == [f"s{i}" for i in range(1, RING + 1)]
    assert hosts == [f"10.0.0.{i}" for i in range(1, RING + 1)]
    assert cables == sorted(tuple(sorted((f"s{i}", f"s{i % RING + 1}"))) for i in range(1, RING + 1))
    assert host_links == [(f"10.0.0.{i}", f"s{i}") for i in range(1, RING + 1)]
    assert all(x["visible"] for x in drawn["nodes"] + drawn["edges"]), drawn  # inside the drawing, not off-screen
    expect(page.locator("#topology-graph")).to_have_attribute(
        "aria-label", f"Network: {RING} switches, {RING} links between them, {RING} hosts")

    # select the path: its route lights up, hop by hop, both ways
    page.locator("#route-select").select_option(f"path:{PATH['name']}")
    expect(page.locator("#route-text [data-way='forward']")).to_have_text(FORWARD_TEXT)
    expect(page.locator("#route-text [data-way='reverse']")).to_have_text(REVERSE_TEXT)
    drawn = graph(page)
    on_route = {n["label"]: n for n in drawn["nodes"] if "on-route" in n["classes"]}
    assert set(on_route) == {"s1", "s2", "s3", "10.0.0.1", "10.0.0.3"}
    assert [on_route[s]["routeLabel"] for s in ("s1", "s2", "s3")] == ["1: s1", "2: s2", "3: s3"]
    assert all("installed-here" in on_route[s]["classes"] for s in ("s1", "s2", "s3"))
    route_edges = {tuple(sorted(e["ends"])): e["classes"] for e in drawn["edges"] if "on-route" in e["classes"]}
    assert set(route_edges) == {("10.0.0.1", "s1"), ("s1", "s2"), ("s2", "s3"), ("10.0.0.3", "s3")}
    assert all({"to-source", "to-target"} <= set(c) for c in route_edges.values()), route_edges  # both directions
    assert not any("on-route" in n["classes"] for n in drawn["nodes"] if n["label"] in ("s4", "s5"))

    # traffic along the path: its chart and the queue chart show the 2 Mbit/s limit
    result: list[IperfResult] = []
    traffic = threading.Thread(target=lambda: result.append(iperf3(net.get("h1"), net.get("h3"), seconds=14)),
                               daemon=True)
    traffic.start()
    chart = page.locator(f"#charts figure[data-path='{PATH['name']}']")
    expect(chart.locator(".chart-max")).to_have_text("max-rate 2 Mbit/s")
    expect(chart.locator(".chart-now")).to_have_text(re.compile(r"^(1\.[5-9]\d*|2(\.[0-3]\d*)?) Mbit/s$"),
                                                     timeout=14_000)
    page.wait_for_timeout(6000)  # a few more points on the line (the queue chart's own history lags a poll)
    shown = parse_rate(chart.locator(".chart-now").inner_text())
    plotted = chart.evaluate("f => f.qosPlot.data[1].filter((v) => v !== null).slice(-2)")
    queues = page.locator("#charts figure[data-queues='all']")
    expect(queues.locator(".u-legend .u-series .u-label", has_text="s1-eth2 q2")).to_have_count(1)
    queue_plot = queues.evaluate("""f => { const i = f.qosPlot.series.findIndex((s) => s.label === 's1-eth2 q2');
                                       return f.qosPlot.data[i].filter((v) => v !== null).slice(-2); }""")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#network").scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "qos-ui-network.png"), full_page=True)
    shutil.copy(tmp_path / "qos-ui-network.png", SCREENSHOTS / "qos-ui-network.png")
    traffic.join(40)
    assert result, "iperf3 did not finish"
    measured = result[0].mbps * 1e6
    print(f"\niperf3 h1->h3 {measured / 1e6:.2f} Mbit/s; page: path {shown / 1e6:.2f} Mbit/s, "
          f"last points {[round(v / 1e6, 2) for v in plotted]}, queue s1-eth2 q2 "
          f"{[round(v / 1e6, 2) for v in queue_plot]} Mbit/s")
    assert 1.7e6 <= measured <= 2.2e6
    for value in (shown, *plotted, *queue_plot):
        assert 0.8 * measured <= value <= 1.25 * measured, (value, measured, shown, plotted, queue_plot)
    assert bp.unexpected_errors() == []
    assert bp.foreign_requests == []
