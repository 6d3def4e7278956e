"""Meters on the wire: qos-controller process, private OVS (userspace datapath, OpenFlow 1.3 meters), Mininet, iperf3.

One linear,2 network (h1 - s1 - s2 - h2) on OpenFlow 1.3 serves the module.
A 2 Mbit/s meter polices h1 -> h2: UDP offered at 10 Mbit/s must arrive at
0.85-1.10 x 2 Mbit/s (TCP is printed, not judged: a drop band's bursts cost
TCP more than a queue does); with marking, tcpdump on h2 sees the DSCP; an
OpenFlow 1.0 switch reports the policy as error with the reason.
"""
from __future__ import annotations

import re
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from topologies.controller import ControllerProcess
from topologies.experiment import in_band, wait_installed
from topologies.netutil import wait_until
from topologies.network import start_network, stop_network
from topologies.ovsenv import PrivateOvs
from topologies.traffic import iperf3, ping, wait_reachable

pytestmark = pytest.mark.integration

S1, S2 = "00:00:00:00:00:00:00:01", "00:00:00:00:00:00:00:02"
CAP = {"name": "cap-2M", "rate": "2M", "burst": "256k"}
H1_TO_H2 = {"ip-src": "10.0.0.1", "ip-dst": "10.0.0.2"}
UDP_OFFERED = "10M"


class Bed:
    def __init__(self, ovs: PrivateOvs, state_dir: Path) -> None:
        self.ovs = ovs
        self.state_dir = state_dir
        self.ctl = ControllerProcess(state_dir, ovsdb=ovs.db_remote).start()
        self.net: Any = None

    def call(self, method: str, path: str, body: Any = None, expect: int | None = None) -> Any:
        code, answer = self.ctl.request(method, path, body)
        if expect is not None:
            assert code == expect, f"{method} {path} -> {code} {answer}"
        return answer

    def udp(self, seconds: float = 4.0) -> float:
        return iperf3(self.net.get("h1"), self.net.get("h2"), seconds=seconds, udp=True, bitrate=UDP_OFFERED).mbps

    def tcp(self, seconds: float = 4.0) -> float:
        return iperf3(self.net.get("h1"), self.net.get("h2"), seconds=seconds).mbps

    def meters(self, bridge: str = "s1") -> str:
        return self.ovs.ofctl("-O", "OpenFlow13", "dump-meters", bridge)


@pytest.fixture(scope="module")
def bed(private_ovs: PrivateOvs, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    bed = Bed(private_ovs, tmp_path_factory.mktemp("state"))
    try:
        bed.net = start_network("linear,2", controller=("127.0.0.1", bed.ctl.ofp_port), protocols="OpenFlow13")
        wait_reachable([bed.net.get("h1"), bed.net.get("h2")], timeout=30)
        out = private_ovs.ofctl("-O", "OpenFlow13", "meter-features", "s1")
        assert re.search(r"max_meter:\s*[1-9]", out) and "drop" in out, out  # the datapath has meters
        bed.call("POST", "/qos/enable", expect=200)
        bed.call("POST", "/qos/meters", CAP, expect=201)
        yield bed
    finally:
        if bed.net is not None:
            stop_network(bed.net)
        bed.ctl.stop()


@pytest.fixture()
def clean(bed: Bed) -> Iterator[Bed]:
    yield bed
    for policy in bed.call("GET", "/qos/policies"):
        bed.call("DELETE", "/qos/policies/" + policy["name"].replace(" ", "%20"))


def test_meter_holds_udp_to_its_rate_and_counts_drops(clean: Bed) -> None:
    before_udp, before_tcp = clean.udp(), clean.tcp()
    assert before_udp > 8.0 and before_tcp > 50.0, (before_udp, before_tcp)
    view = clean.call("POST", "/qos/policies", {"name": "police", **H1_TO_H2, "meter": "cap-2M"}, expect=201)
    wait_installed(clean.ctl, ["police"])
    meters = clean.meters()
    assert re.search(r"meter=1 kbps burst stats bands=\s*type=drop rate=2000 burst_size=256", meters), meters
    flows = clean.ovs.ofctl("-O", "OpenFlow13", "dump-flows", "s1")
    assert f"cookie={view['cookie']}" in flows and "meter:1" in flows, flows
    udp, tcp = clean.udp(), clean.tcp()
    print(f"\nmeter 2 Mbit/s: UDP {udp:.2f} Mbit/s (offered {UDP_OFFERED}), TCP {tcp:.2f} Mbit/s; "
          f"before: UDP {before_udp:.2f}, TCP {before_tcp:.2f}")
    assert in_band(udp, 2.0), udp
    assert tcp < 2.2, tcp  # TCP under a drop band stays below the rate (reported, not banded)

    def dropped() -> bool:
        rows = {r["name"]: r for r in clean.call("GET", "/qos/stats/meters")["meters"]}
        s1 = [s for s in rows["cap-2M"]["switches"] if s["dpid"] == S1]
        return bool(s1) and s1[0]["dropped-packets"] > 0 and s1[0]["packets-in"] > s1[0]["dropped-packets"]
    wait_until(dropped, 10, "meter stats with band drops in /qos/stats/meters")

    # the same counters in /metrics (GET /qos/stats/meters above keeps them current, as a scrape does)
    with urllib.request.urlopen(clean.ctl.url + "/metrics", timeout=10) as resp:
        families = {s.name: s for f in text_string_to_metric_families(resp.read().decode()) for s in f.samples
                    if s.labels.get("meter") == "cap-2M" and s.labels.get("dp_id") == "0x1"}
    assert families["qos_meter_band_dropped_packets_total"].value > 0, families
    assert families["qos_meter_packets_total"].value > families["qos_meter_band_dropped_packets_total"].value
    assert families["qos_meter_bytes_total"].value > families["qos_meter_band_dropped_bytes_total"].value > 0


def test_meter_and_marking_together(clean: Bed) -> None:
    if "EF voice" not in {s["name"] for s in clean.call("GET", "/qos/services")}:
        clean.call("POST", "/qos/services", {"name": "EF voice", "dscp": "EF"}, expect=201)
    clean.call("POST", "/qos/policies", {"name": "police+mark", **H1_TO_H2, "meter": "cap-2M",
                                         "service": "EF voice"}, expect=201)
    wait_installed(clean.ctl, ["police+mark"])
    flows = clean.ovs.ofctl("-O", "OpenFlow13", "dump-flows", "s1")
    assert "meter:1,set_field:46->ip_dscp" in flows.replace(" ", ""), flows
    h1, h2 = clean.net.get("h1"), clean.net.get("h2")
    capture = h2.popen(["tcpdump", "-i", "h2-eth0", "-nn", "-v", "-l", "-c", "3", "icmp and src 10.0.0.1"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        time.sleep(1.0)
        assert ping(h1, h2, count=3).ok
        out, _ = capture.communicate(timeout=10)
    finally:
        if capture.poll() is None:
            capture.kill()
            capture.wait()
    tos = re.findall(r"tos (0x[0-9a-f]+)", out)
    assert tos and all(int(t, 16) == 0xB8 for t in tos), out
    udp = clean.udp()
    print(f"\nmeter 2 Mbit/s + EF marking: UDP {udp:.2f} Mbit/s")
    assert in_band(udp, 2.0), udp


def test_meter_in_use_is_409_and_delete_frees_the_id(clean: Bed) -> None:
    clean.call("POST", "/qos/meters", {"name": "spare", "rate": "5M"}, expect=201)
    clean.call("POST", "/qos/policies", {"name": "uses spare", **H1_TO_H2, "meter": "spare"}, expect=201)
    wait_installed(clean.ctl, ["uses spare"])
    assert "meter=2" in clean.meters()
    err = clean.call("DELETE", "/qos/meters/spare", expect=409)
    assert "uses spare" in err["error"]
    clean.call("DELETE", "/qos/policies/uses%20spare", expect=200)
    clean.call("DELETE", "/qos/meters/spare", expect=200)
    wait_until(lambda: "meter=2" not in clean.meters(), 10, "meter 2 to go from s1")
    assert "meter=1" in clean.meters()


def test_controller_restart_reinstalls_meters(clean: Bed) -> None:
    clean.call("POST", "/qos/policies", {"name": "police", **H1_TO_H2, "meter": "cap-2M"}, expect=201)
    wait_installed(clean.ctl, ["police"])
    old = clean.ctl
    old.kill()
    clean.ovs.ofctl("-O", "OpenFlow13", "del-flows", "s1")
    clean.ovs.ofctl("-O", "OpenFlow13", "del-meters", "s1")
    clean.ctl = ControllerProcess(clean.state_dir, rest_port=old.rest_port, ofp_port=old.ofp_port,
                                  ovsdb=clean.ovs.db_remote).start()
    wait_installed(clean.ctl, ["police"], timeout=30)
    assert "rate=2000 burst_size=256" in clean.meters()
    assert in_band(clean.udp(), 2.0)


def test_openflow10_switch_reports_the_meter_policy_as_error(clean: Bed) -> None:
    clean.ovs.vsctl("set", "bridge", "s2", "protocols=OpenFlow10")
    try:
        wait_until(lambda: any(s["dpid"] == S2 and s["openflow"] == "1.0" for s in clean.call("GET", "/qos/switches")),
                   20, "s2 to reconnect on OpenFlow 1.0")
        clean.call("POST", "/qos/policies", {"name": "police", **H1_TO_H2, "meter": "cap-2M"}, expect=201)
        wait_until(lambda: clean.call("GET", "/qos/policies/police")["install"].get(S1, {}).get("state") == "installed",
                   10, "s1 to confirm")
        state = clean.call("GET", "/qos/policies/police")["install"][S2]
        assert state["state"] == "error" and "OpenFlow 1.0 has no meters" in state["reason"], state
        meter = clean.call("GET", "/qos/meters/cap-2M")
        assert meter["switches"][S2]["state"] == "error" and meter["switches"][S1]["meter-id"] == 1, meter
    finally:
        clean.ovs.vsctl("set", "bridge", "s2", "protocols=OpenFlow13")
        wait_until(lambda: any(s["dpid"] == S2 and s["openflow"] == "1.3" for s in clean.call("GET", "/qos/switches")),
                   20, "s2 back on OpenFlow 1.3")


def test_fallback_meter_where_the_queue_is_missing_then_the_queue_itself(clean: Bed) -> None:
    """"fallback": "meter": s1 has no queue 2 (only s2's ports do), so s1 polices h1 -> h2 with a meter at
    queue 2's max-rate; once a profile gives s1 the queue, the queue holds the limit and the meter goes."""
    profile = {"port": "all", "max-rate": "10G", "queues": {"0": {}, "1": {}, "2": {"max-rate": "2M"}}}
    clean.call("POST", "/qos/queues", {**profile, "sw": S2}, expect=201)
    policy = {"name": "fallback", "sw": S1, **H1_TO_H2, "queue": 2, "enqueue-port": 2, "fallback": "meter"}
    view = clean.call("POST", "/qos/policies?wait=confirm", policy, expect=201)
    try:
        assert view["install"][S1]["state"] == "installed" and view["install"][S1]["mechanism"] == "meter-fallback"
        assert "policed by a meter at 2000000 bits/s" in view["install"][S1]["reason"]
        meters = clean.meters()
        assert re.search(r"meter=2 kbps burst stats bands=\s*type=drop rate=2000 burst_size=200", meters), meters
        udp, tcp = clean.udp(), clean.tcp()
        print(f"\nfallback meter (queue 2, 2 Mbit/s, missing on s1): UDP {udp:.2f} Mbit/s, TCP {tcp:.2f} Mbit/s")
        assert in_band(udp, 2.0), udp

        clean.call("POST", "/qos/queues", {**profile, "sw": S1}, expect=201)

        def by_queue() -> bool:
            state = clean.call("GET", "/qos/policies/fallback")["install"][S1]
            return state["state"] == "installed" and state.get("mechanism") == "queue"
        wait_until(by_queue, 15, "the policy's limit held by its queue once s1 has it")
        assert "meter=2 " not in clean.meters()
        queued = clean.tcp()
        print(f"queue 2 on s1 itself: TCP {queued:.2f} Mbit/s")
        assert in_band(queued, 2.0), queued
    finally:
        clean.call("DELETE", "/qos/policies/fallback")
        for sw in (S1, S2):
            clean.call("DELETE", "/qos/queues?force=true", {"sw": sw, "port": "all"})
