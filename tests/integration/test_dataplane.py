"""The data plane for real: qos-controller process, private OVS (userspace), Mininet, iperf3.

One linear,4 network on OpenFlow 1.3 with the seed's queue profile serves
the module; each test adds its own policies and removes them again. The
seed experiment itself (OF1.0 and OF1.3) runs in test_experiment.py.
"""
from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote

import pytest

from topologies.controller import ControllerProcess
from topologies.experiment import SEED_QUEUES, in_band, wait_installed, wait_queues_applied
from topologies.netutil import wait_until
from topologies.network import start_network, stop_network
from topologies.ovsenv import PrivateOvs
from topologies.traffic import iperf3, ping, wait_reachable

pytestmark = pytest.mark.integration

S1 = "00:00:00:00:00:00:00:01"
#: h1 -> h2 enters s1 on port 1 (h1) and leaves on port 2 (towards s2).
H1_TO_H2_ON_S1 = {"protocol": "6", "eth-type": "0x0800", "ingress-port": "1", "ip-src": "10.0.0.1",
                  "sw": S1, "enqueue-port": "2"}
UNSHAPED_MBPS = 100.0


@dataclass
class Bed:
    ovs: PrivateOvs
    ctl: ControllerProcess
    net: Any
    state_dir: Path

    def call(self, method: str, path: str, body: Any = None, expect: int | None = None) -> Any:
        code, answer = self.ctl.request(method, path, body)
        if expect is not None:
            assert code == expect, f"{method} {path} -> {code} {answer}"
        return answer

    def rate(self, src: str = "h1", dst: str = "h2", seconds: float = 4.0) -> float:
        return iperf3(self.net.get(src), self.net.get(dst), seconds=seconds).mbps

    def flows(self, bridge: str = "s1") -> str:
        return self.ovs.ofctl("-O", "OpenFlow13", "dump-flows", bridge)


def start_controller(bed_ovs: PrivateOvs, state_dir: Path, rest_port: int | None = None,
                     ofp_port: int | None = None) -> ControllerProcess:
    return ControllerProcess(state_dir, rest_port=rest_port, ofp_port=ofp_port,
                             ovsdb=bed_ovs.db_remote).start()


@pytest.fixture(scope="module")
def bed(private_ovs: PrivateOvs, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    state_dir = tmp_path_factory.mktemp("state")
    bed = Bed(private_ovs, start_controller(private_ovs, state_dir), None, state_dir)
    try:
        bed.net = start_network("linear,4", controller=("127.0.0.1", bed.ctl.ofp_port), protocols="OpenFlow13")
        wait_reachable([bed.net.get("h1"), bed.net.get("h2")], timeout=30)
        bed.call("POST", "/qos/queues", SEED_QUEUES, expect=201)
        wait_queues_applied(bed.ctl)
        bed.call("POST", "/qos/enable", expect=200)
        yield bed
    finally:
        if bed.net is not None:
            stop_network(bed.net)
        bed.ctl.stop()  # the restart test replaces bed.ctl: stop whichever runs now


@pytest.fixture()
def clean(bed: Bed) -> Iterator[Bed]:
    """Each test starts and ends with no policies and QoS enabled."""
    yield bed
    for policy in bed.call("GET", "/qos/policies"):
        bed.call("DELETE", "/qos/policies/" + quote(policy["name"], safe=""))
    bed.call("POST", "/qos/enable")


def add_policy(bed: Bed, body: dict[str, Any]) -> dict[str, Any]:
    view = bed.call("POST", "/qos/policies", body, expect=201)
    wait_installed(bed.ctl, [body["name"]])
    return view


def test_queue_profile_rows_and_filters_exist(clean: Bed) -> None:
    profiles = clean.call("GET", "/qos/queues")
    applied = profiles[0]["applied"]
    assert f"{S1}/s1-eth2" in applied and applied[f"{S1}/s1-eth2"]["state"] == "applied"
    rates = applied[f"{S1}/s1-eth2"]["rates"]  # read back from the port's HTB classes
    assert rates["source"] == "tc" and rates["max-rate"] == 10**10 and "rates-note" not in applied[f"{S1}/s1-eth2"]
    assert rates["queues"]["2"] == {"min-rate": 12_000, "max-rate": 2_000_000}
    classes = subprocess.run(["tc", "class", "show", "dev", "s1-eth2"], capture_output=True, text=True).stdout
    assert "1:3" in classes and "rate 2Mbit" in classes.replace("ceil", "rate").replace("2000Kbit", "2Mbit")
    filters = subprocess.run(["tc", "filter", "show", "dev", "s1-eth2"], capture_output=True, text=True).stdout
    assert "flowid" not in filters  # no flow enqueues here yet: no classification (queues are per port)


def test_a_queue_policy_classifies_on_its_enqueue_port_only(clean: Bed) -> None:
    add_policy(clean, {"name": "q2", "queue": "2", **H1_TO_H2_ON_S1})

    def shown(port: str) -> str:
        return subprocess.run(["tc", "filter", "show", "dev", port], capture_output=True, text=True).stdout
    wait_until(lambda: "flowid 1:3" in shown("s1-eth2"), 5, "the filter on s1-eth2")
    assert "match 0a000001/ffffffff at 12" in shown("s1-eth2")  # ip src 10.0.0.1
    assert all("flowid" not in shown(port) for port in ("s1-eth1", "s2-eth1", "s2-eth2", "s2-eth3"))


def test_queue2_policy_limits_h1_to_h2_only(clean: Bed) -> None:
    assert clean.rate() > UNSHAPED_MBPS
    view = add_policy(clean, {"name": "q2", "queue": "2", **H1_TO_H2_ON_S1})
    flows = clean.flows()
    assert f"cookie={view['cookie']}" in flows and "set_queue:2,output:2" in flows
    limited = clean.rate()
    assert in_band(limited, 2.0), limited
    assert clean.rate("h2", "h1") > UNSHAPED_MBPS


def test_queue1_policy_limits_to_20_mbit(clean: Bed) -> None:
    add_policy(clean, {"name": "q1", "queue": 1, **H1_TO_H2_ON_S1})
    limited = clean.rate()
    assert in_band(limited, 20.0), limited


def test_delete_restores_and_disable_enable_toggles(clean: Bed) -> None:
    add_policy(clean, {"name": "q2", "queue": 2, **H1_TO_H2_ON_S1})
    assert in_band(clean.rate(), 2.0)
    clean.call("POST", "/qos/disable", expect=200)
    wait_until(lambda: "set_queue" not in clean.flows(), 10, "policy flows to go on disable")
    flows = clean.flows()  # forwarding stays: table 0 hands over to table 1's learned flows
    assert "goto_table:1" in flows and "dl_dst=00:00:00:00:00:02 actions=output" in flows, flows
    assert clean.rate() > UNSHAPED_MBPS
    clean.call("POST", "/qos/enable", expect=200)
    wait_installed(clean.ctl, ["q2"])
    assert in_band(clean.rate(), 2.0)
    clean.call("DELETE", "/qos/policies/q2", expect=200)
    wait_until(lambda: "set_queue" not in clean.flows(), 10, "policy flows to go on delete")
    assert clean.rate() > UNSHAPED_MBPS


def test_marking_policy_sets_dscp_on_the_wire_and_still_forwards(clean: Bed) -> None:
    if "EF voice" not in {s["name"] for s in clean.call("GET", "/qos/services")}:
        clean.call("POST", "/qos/services", {"name": "EF voice", "dscp": "EF"}, expect=201)
    add_policy(clean, {"name": "mark", "ip-src": "10.0.0.1", "ip-dst": "10.0.0.2", "service": "EF voice"})
    assert "set_field:46->ip_dscp" in clean.flows()
    h1, h2 = clean.net.get("h1"), clean.net.get("h2")
    capture = h2.popen(["tcpdump", "-i", "h2-eth0", "-nn", "-v", "-l", "-c", "3", "icmp and src 10.0.0.1"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        time.sleep(1.0)  # tcpdump needs a moment to open the socket
        assert ping(h1, h2, count=3).ok
        out, _ = capture.communicate(timeout=10)
    finally:
        if capture.poll() is None:
            capture.kill()
            capture.wait()
    tos = re.findall(r"tos (0x[0-9a-f]+)", out)
    assert tos and all(int(t, 16) == 0xB8 for t in tos), out
    assert clean.rate() > UNSHAPED_MBPS  # marked traffic still forwarded, unshaped


def test_controller_killed_and_restarted_reinstalls_without_cli(clean: Bed) -> None:
    add_policy(clean, {"name": "q2", "queue": 2, **H1_TO_H2_ON_S1})
    old = clean.ctl
    old.kill()
    # While it is down, the switch loses the flows and the port its QoS rows:
    clean.ovs.ofctl("-O", "OpenFlow13", "del-flows", "s1")
    clean.ovs.vsctl("clear", "Port", "s1-eth2", "qos")
    clean.ctl = start_controller(clean.ovs, clean.state_dir, old.rest_port, old.ofp_port)
    wait_installed(clean.ctl, ["q2"], timeout=30)
    wait_queues_applied(clean.ctl)
    assert "set_queue:2" in clean.flows()
    assert in_band(clean.rate(), 2.0)


def test_switch_reconnect_gets_new_state_without_duplicates(clean: Bed) -> None:
    add_policy(clean, {"name": "old", "queue": 2, **H1_TO_H2_ON_S1})
    target = clean.ovs.vsctl("get-controller", "s1").strip()
    clean.ovs.vsctl("del-controller", "s1")
    wait_until(lambda: len(clean.call("GET", "/qos/switches")) == 3, 15, "s1 to disconnect")
    clean.call("DELETE", "/qos/policies/old", expect=200)
    clean.call("POST", "/qos/policies", {"name": "new", "queue": 1, **H1_TO_H2_ON_S1}, expect=201)
    clean.ovs.vsctl("set-controller", "s1", target)
    wait_until(lambda: len(clean.call("GET", "/qos/switches")) == 4, 20, "s1 to reconnect")
    wait_installed(clean.ctl, ["new"])
    flows = clean.flows()
    cookies = re.findall(r"cookie=(0x[0-9a-f]+)", flows)
    assert len(cookies) == len(set(cookies)), flows
    assert "set_queue:2" not in flows and "set_queue:1,output:2" in flows
    assert in_band(clean.rate(), 20.0)


def test_switch_rejection_is_reported_per_policy(clean: Bed) -> None:
    """s1's table 0 is made full (OVS Flow_Table flow_limit, overflow refused): the switch rejects the flow."""
    held = len([line for line in clean.flows().splitlines() if "table=0" in line])
    clean.ovs.vsctl("--", "--id=@ft", "create", "Flow_Table", f"flow_limit={held}", "overflow_policy=refuse",
                    "--", "set", "Bridge", "s1", "flow_tables:0=@ft")
    try:
        view = clean.call("POST", "/qos/policies", {"name": "no room", "queue": 2, **H1_TO_H2_ON_S1}, expect=201)
        assert view["name"] == "no room"

        def errored() -> bool:
            state = clean.call("GET", "/qos/policies/no%20room")["install"].get(S1, {})
            return state.get("state") == "error"
        wait_until(errored, 10, "the switch's OFPT_ERROR to show up")
        reason = clean.call("GET", "/qos/policies/no%20room")["install"][S1]["reason"]
        assert reason.startswith("OFPET_"), reason
    finally:
        clean.ovs.vsctl("clear", "Bridge", "s1", "flow_tables")


def test_a_port_that_does_not_exist_is_missing_queue_not_sent(clean: Bed) -> None:
    """Its queue cannot be there: the controller says so itself instead of letting the switch guess."""
    clean.call("POST", "/qos/policies", {"name": "bad port", "queue": 2, **H1_TO_H2_ON_S1,
                                         "enqueue-port": 0xFFFFFF00}, expect=201)
    state = clean.call("GET", "/qos/policies/bad%20port")["install"][S1]
    assert state["state"] == "missing-queue" and state["missing-queues"] == [{"port": 0xFFFFFF00, "queue": 2}]


def test_deleting_the_queue_profile_leaves_no_rows_or_filters(clean: Bed) -> None:
    assert "linux-htb" in clean.ovs.vsctl("--columns=type", "list", "QoS")
    deleted = clean.call("DELETE", "/qos/queues", {"sw": "all", "port": "all"}, expect=200)
    assert deleted["queues"]["2"]["max-rate"] == 2_000_000
    try:
        assert clean.ovs.vsctl("--columns=_uuid", "list", "QoS").strip() == ""
        assert clean.ovs.vsctl("--columns=_uuid", "list", "Queue").strip() == ""
        assert clean.ovs.vsctl("get", "Port", "s1-eth2", "qos").strip() == "[]"
        filters = subprocess.run(["tc", "filter", "show", "dev", "s1-eth2"], capture_output=True, text=True).stdout
        assert "flowid 1:3" not in filters
        assert clean.call("GET", "/qos/queues") == []
    finally:  # the module's other tests expect the seed profile
        clean.call("POST", "/qos/queues", SEED_QUEUES, expect=201)
        wait_queues_applied(clean.ctl)
