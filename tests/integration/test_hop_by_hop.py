"""QoS that holds hop by hop, on real OVS (userspace) + Mininet + iperf3 + the controller (issue 11).

One linear,3 network per OpenFlow version (h1-s1-s2-s3-h3, h2 on s2; port 1
of each switch is its host, s1:2-s2:2, s2:3-s3:2), learned forwarding, secure
fail mode, the seed's queue profile (q2 = 2 Mbit/s) on every port, QoS on.
Each test is one of the issue's cases, and fails on the code before it:

- a policy whose queue is not on its port says missing-queue (it said installed);
- deleting a profile under a live policy is 409 naming it, --force lists it
  and changes its state (it answered 200, the policy stayed "installed");
- a queue policy without enqueue-port on sw all shapes h1->h2 and h1->h3 with
  TCP working (OF1.3), or says why not (OF1.0); sw all + enqueue-port without
  ingress-port does not black-hole traffic entering on that port;
- qospusher/qospath exit 1 when a switch or port failed (they exited 0);
- a queue applies only on the port a flow enqueues into, at that port's rate,
  and the packet keeps its own ToS (the old DSCP carrier leaked downstream);
- TCP across a switch whose controller connection is down for 5 s keeps flowing;

iperf3 runs are short (4 s) and TCP: the point is "TCP works" and "shaped".
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote

import pytest

from topologies.controller import ControllerProcess
from topologies.experiment import SEED_QUEUES, in_band
from topologies.netutil import free_tcp_port, wait_until
from topologies.network import start_network, stop_network
from topologies.ovsenv import PrivateOvs
from topologies.traffic import iperf3, stop_process, wait_reachable
from tests.integration.test_paths import Bed, running_bed

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
S1, S2, S3 = (f"00:00:00:00:00:00:00:0{i}" for i in (1, 2, 3))
H1_TCP = {"ip-src": "10.0.0.1", "protocol": 6}


@pytest.fixture(scope="class", params=["OpenFlow13", "OpenFlow10"])
def bed(request: pytest.FixtureRequest, private_ovs: PrivateOvs,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    with running_bed(private_ovs, tmp_path_factory.mktemp("hop"), "linear,3", request.param) as bed:
        wait_reachable(bed.net.hosts, timeout=30)
        yield bed


def cli(bed: Bed, tool: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / tool), "--port", str(bed.ctl.rest_port), *argv, "--state",
                           str(bed.state_dir / "cli.json")], capture_output=True, text=True, timeout=60)


def view(bed: Bed, name: str) -> dict[str, Any]:
    return bed.call("GET", "/qos/policies/" + quote(name, safe=""), expect=200)


def delete_policies(bed: Bed) -> None:
    bed.call("DELETE", "/qos/policies", {"all": True}, expect=200)
    for name in [p["name"] for p in bed.call("GET", "/qos/paths")]:
        bed.call("DELETE", "/qos/paths/" + quote(name, safe=""), expect=200)


def of13(bed: Bed) -> bool:
    return bed.protocols == "OpenFlow13"


@pytest.mark.usefixtures("bed")
class TestHopByHop:
    @pytest.fixture(autouse=True)
    def _no_policies_left(self, bed: Bed) -> Iterator[None]:
        """Every test ends with no policies or paths, passed or not: one failure stays one failure."""
        yield
        delete_policies(bed)

    def test_queue_missing_on_the_enqueue_port_is_missing_queue_and_the_cli_exits_1(self, bed: Bed) -> None:
        """Queue 5 on a port with queues 0-2: not installed, the state names port and queue."""
        policy = {"name": "to q5", **H1_TCP, "ingress-port": 1, "sw": S1, "queue": 5, "enqueue-port": 2}
        added = cli(bed, "qospusher", "add", "policy", json.dumps(policy))
        assert added.returncode == 1, added.stdout + added.stderr
        assert "'to q5' on 00:00:00:00:00:00:00:01: missing-queue" in added.stderr
        state = view(bed, "to q5")["install"][S1]
        assert state["state"] == "missing-queue" and state["missing-queues"] == [{"port": 2, "queue": 5}], state
        assert "cookie=" + view(bed, "to q5")["cookie"] not in bed.flows("s1")
        listed = cli(bed, "qospusher", "list", "policies")
        assert listed.returncode == 1 and "missing-queue" in listed.stderr
        # the same fact for a path, and qospath says so by its exit code too
        path = cli(bed, "qospath", "add", "h1-h3 q5", "--src", "10.0.0.1", "--dst", "10.0.0.3", "--queue", "5")
        assert path.returncode == 1 and "'h1-h3 q5': missing-queues" in path.stderr, path.stdout + path.stderr
        assert cli(bed, "qospath", "list").returncode == 1
        # a profile that has queue 5 on s1's port 2 puts the policy in
        bed.call("POST", "/qos/queues", {**SEED_QUEUES, "sw": S1, "port": 2,
                                         "queues": {str(q): {} for q in range(6)}}, expect=201)
        wait_until(lambda: view(bed, "to q5")["install"][S1]["state"] == "installed", 15, "to q5 installed")
        forced = bed.call("DELETE", "/qos/queues?force=true", {"sw": S1, "port": 2}, expect=200)
        assert {"policy": "to q5", "dpid": S1, "port": 2, "queue": 5} in forced["affected"]
        assert view(bed, "to q5")["install"][S1]["state"] == "missing-queue"
        delete_policies(bed)

    def test_deleting_a_profile_live_policies_use_is_refused_then_forced(self, bed: Bed) -> None:
        policy = {"name": "h1 q2", **H1_TCP, "ingress-port": 1, "sw": S1, "queue": 2, "enqueue-port": 2}
        bed.call("POST", "/qos/policies?wait=confirm", policy, expect=201)
        assert view(bed, "h1 q2")["install"][S1]["state"] == "installed"
        code, err = bed.ctl.request("DELETE", "/qos/queues", {"sw": "all", "port": "all"})
        assert code == 409 and err["field"] == "force" and "'h1 q2'" in err["error"], err
        assert err["in-use"] == [{"policy": "h1 q2", "dpid": S1, "port": 2, "queue": 2}]
        refused = cli(bed, "qospusher", "queue", "delete")
        assert refused.returncode == 1 and "HTTP 409" in refused.stderr and "h1 q2" in refused.stderr
        shrink = cli(bed, "qospusher", "queue", "set", json.dumps({**SEED_QUEUES, "queues": {"0": {}, "1": {}}}))
        assert shrink.returncode == 1 and "HTTP 409" in shrink.stderr
        assert len(bed.call("GET", "/qos/queues")) == 1 and view(bed, "h1 q2")["install"][S1]["state"] == "installed"
        forced = cli(bed, "qospusher", "queue", "delete", "--force")
        assert forced.returncode == 0, forced.stderr
        assert "Forced: policy 'h1 q2' lost queue 2 on 00:00:00:00:00:00:00:01 port 2" in forced.stdout
        assert view(bed, "h1 q2")["install"][S1]["state"] == "missing-queue"
        assert "set_queue" not in bed.flows("s1") and "enqueue" not in bed.flows("s1")
        # the profile comes back: so does the policy
        bed.call("POST", "/qos/queues", SEED_QUEUES, expect=201)
        wait_until(lambda: view(bed, "h1 q2")["install"][S1]["state"] == "installed", 20, "h1 q2 back")
        delete_policies(bed)

    def test_queue_without_enqueue_port_shapes_everywhere_on_of13_and_says_why_not_on_of10(self, bed: Bed) -> None:
        policy = {"name": "h1 limited", **H1_TCP, "queue": 2}
        bed.call("POST", "/qos/policies?wait=confirm", policy, expect=201)
        states = view(bed, "h1 limited")["install"]
        if not of13(bed):
            assert {s["state"] for s in states.values()} == {"error"}, states
            assert all("enqueue action needs a port" in s["reason"] for s in states.values())
            assert cli(bed, "qospusher", "list", "policies").returncode == 1
            delete_policies(bed)
            return
        assert {s["state"] for s in states.values()} == {"installed"}, states
        to_h2, to_h3 = bed.rate("h1", "h2"), bed.rate("h1", "h3")
        assert in_band(to_h2) and in_band(to_h3), (to_h2, to_h3)
        delete_policies(bed)

    def test_sw_all_enqueue_port_without_ingress_port_does_not_black_hole(self, bed: Bed) -> None:
        """enqueue-port 2 on every switch: h1->h3 traffic enters s2 and s3 on port 2 (was dropped)."""
        policy = {"name": "to port 2", **H1_TCP, "queue": 2, "enqueue-port": 2}
        bed.call("POST", "/qos/policies?wait=confirm", policy, expect=201)
        states = view(bed, "to port 2")["install"]
        if not of13(bed):  # OF1.0 could only send it on by NORMAL, which storms loops: refused, said why
            assert {s["state"] for s in states.values()} == {"error"}, states
            assert all("enters on enqueue-port 2" in s["reason"] for s in states.values())
            delete_policies(bed)
            return
        assert {s["state"] for s in states.values()} == {"installed"}, states
        to_h3, to_h2 = bed.rate("h1", "h3"), bed.rate("h1", "h2")
        assert in_band(to_h3) and in_band(to_h2), (to_h3, to_h2)
        delete_policies(bed)

    def test_equal_ingress_and_enqueue_port_is_refused_in_port_accepted(self, bed: Bed) -> None:
        code, err = bed.ctl.request("POST", "/qos/policies", {"name": "x", "ingress-port": 2, "sw": S2,
                                                               "queue": 2, "enqueue-port": 2})
        assert code == 400 and err["field"] == "enqueue-port", err
        assert bed.call("GET", "/qos/policies") == []
        # the seed's own command line (ingress-port 1, enqueue-port 1 on s2) goes out as in_port
        seed = cli(bed, "qospusher", "add", "policy",
                   '{"name": "Enqueue 1:2 s2", "protocol":"6","eth-type": "0x0800", "ingress-port": "1",'
                   '"ip-src":"10.0.0.1", "sw": "00:00:00:00:00:00:00:02","queue":"2","enqueue-port":"1"}')
        assert seed.returncode == 0, seed.stdout + seed.stderr
        assert view(bed, "Enqueue 1:2 s2")["enqueue-port"] == "in_port"
        wait_until(lambda: view(bed, "Enqueue 1:2 s2")["install"][S2]["state"] == "installed", 10, "installed")
        assert ("IN_PORT" if of13(bed) else "enqueue:IN_PORT:2") in bed.flows("s2")
        delete_policies(bed)

    def test_a_queue_applies_only_where_a_flow_enqueues_and_the_packet_keeps_its_tos(self, bed: Bed) -> None:
        """q2 is 2 Mbit/s everywhere but 5 Mbit/s on s1-eth2; a policy enqueues h1's TCP there only.

        Before (each queue stamped its DSCP, one filter per DSCP on every port)
        the DSCP s1 wrote picked q2 again on s2-eth3 and s3-eth1: 1.87 Mbit/s,
        ToS 0x1c at h3, and h2's own ToS 0x1c traffic shaped by no policy.
        """
        five = {**SEED_QUEUES, "sw": S1, "port": 2, "queues": {**SEED_QUEUES["queues"], "2": {"max-rate": 5_000_000}}}
        bed.call("POST", "/qos/queues", five, expect=201)
        s1_only = {"name": "h1 q2 on s1", **H1_TCP, "ingress-port": 1, "sw": S1, "queue": 2, "enqueue-port": 2}
        bed.call("POST", "/qos/policies?wait=confirm", s1_only, expect=201)
        try:
            h3 = bed.net.get("h3")
            dump = h3.popen(["tcpdump", "-l", "-n", "-v", "-c", "5", "-i", "h3-eth0",
                             "tcp and src host 10.0.0.1 and greater 1000"])
            try:
                time.sleep(0.5)  # tcpdump listening
                one_hop = iperf3(bed.net.get("h1"), h3, seconds=4, tos=0x20).mbps
                raw, _ = dump.communicate(timeout=10)
                out = raw.decode(errors="replace")
            finally:
                stop_process(dump)
            print(f"h1->h3, queue 2 only on s1-eth2 (5 Mbit/s): {one_hop:.2f} Mbit/s; at h3: "
                  f"{sorted(set(re.findall(r'tos 0x[0-9a-f]+', out)))}")
            assert 0.85 * 5 <= one_hop <= 1.10 * 5, one_hop
            assert re.findall(r"tos (0x[0-9a-f]+)", out) and set(re.findall(r"tos (0x[0-9a-f]+)", out)) == {"0x20"}, out
            # the profile's answer shows each port's classification, and what it cannot see
            [shaped] = [p for p in bed.call("GET", "/qos/queues") if p["sw"] == S1]
            port_state = shaped["applied"][f"{S1}/s1-eth2"]
            assert port_state["filters"] == 1 and "ingress-port" in port_state["filter-note"], port_state
            # a second hop enqueues too (s2 towards s3, 2 Mbit/s there): now that hop's rate is the limit
            s2_too = {"name": "h1 q2 on s2", **H1_TCP, "ingress-port": 2, "sw": S2, "queue": 2, "enqueue-port": 3}
            bed.call("POST", "/qos/policies?wait=confirm", s2_too, expect=201)
            two_hops = bed.rate("h1", "h3")
            assert in_band(two_hops), two_hops
            # a host that sends the ToS the old scheme used for queue 2 is not shaped by any policy
            own_tos = iperf3(bed.net.get("h2"), h3, seconds=4, tos=0x1c).mbps
            print(f"two hops (5 then 2 Mbit/s): {two_hops:.2f} Mbit/s; h2->h3 with ToS 0x1c, no policy: "
                  f"{own_tos:.0f} Mbit/s")
            assert own_tos > 100, own_tos
        finally:
            delete_policies(bed)
            bed.call("DELETE", "/qos/queues", {"sw": S1, "port": 2}, expect=200)

    def test_tcp_across_a_switch_whose_controller_connection_is_down_for_5_s(self, bed: Bed) -> None:
        """s1 (h1's switch) is pointed at a dead controller for 5 s; TCP h3->h1 across it keeps flowing.

        Fail-secure OVS keeps s1's flows; before, the controller removed s1 from
        the topology at once, with h1, and took the neighbours' flows towards
        h1 away: h3's data went to the controller, which dropped it, and h1,
        a receiver with nothing to receive, never sent the packet that would
        have let it be learned again (TCP stalled until s1 was back).
        """
        target = bed.ovs.vsctl("get-controller", "s1").strip()
        dead = f"tcp:127.0.0.1:{free_tcp_port()}"
        result: dict[str, Any] = {}
        runner = threading.Thread(target=lambda: result.update(
            run=iperf3(bed.net.get("h3"), bed.net.get("h1"), seconds=9)))
        runner.start()
        try:
            time.sleep(1.5)
            bed.ovs.vsctl("set-controller", "s1", dead)
            wait_until(lambda: not switch_connected(bed, S1), 10, "s1 to lose its controller connection")
            time.sleep(5)
        finally:
            bed.ovs.vsctl("set-controller", "s1", target)
            runner.join(timeout=30)
        wait_until(lambda: switch_connected(bed, S1), 20, "s1 to come back")
        intervals = [i["sum"]["bits_per_second"] / 1e6 for i in result["run"].raw["intervals"]
                     if not i["sum"].get("omitted")]
        print("iperf3 h3->h1 per second, s1 away from ~0.5 s to ~5.5 s:", [round(m, 1) for m in intervals])
        assert len(intervals) >= 8 and min(intervals) > 10, intervals  # not one second without traffic
        assert bed.rate("h3", "h1") > 100  # and after its cold start


def switch_connected(bed: Bed, dpid: str) -> bool:
    return any(sw["dpid"] == dpid for sw in bed.call("GET", "/qos/switches"))


def test_queue_set_exits_1_when_every_port_failed(private_ovs: PrivateOvs, tmp_path: Path) -> None:
    """No OVSDB behind the controller: each port's profile is an error, and the CLI says so by its exit code."""
    dead = f"tcp:127.0.0.1:{free_tcp_port()}"
    with ControllerProcess(tmp_path / "state", ovsdb=dead) as ctl:
        net = start_network("linear,1", controller=("127.0.0.1", ctl.ofp_port), wait_connected=30)
        try:
            done = subprocess.run([str(BIN / "qospusher"), "--port", str(ctl.rest_port), "--timeout", "60", "queue", "set",
                                   json.dumps(SEED_QUEUES), "--state", str(tmp_path / "cli.json")],
                                  capture_output=True, text=True, timeout=120)
            assert done.returncode == 1, done.stdout + done.stderr
            assert "queue profile all/all on 00:00:00:00:00:00:00:01/s1-eth1: error" in done.stderr, done.stderr
            listed = subprocess.run([str(BIN / "qospusher"), "--port", str(ctl.rest_port), "queue", "list"],
                                    capture_output=True, text=True, timeout=60)
            assert listed.returncode == 1 and "error" in listed.stderr
        finally:
            stop_network(net)
