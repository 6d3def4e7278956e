"""IPv6 policies on the wire: qos-controller process, private OVS (userspace datapath), Mininet, iperf3, tcpdump.

linear,2 (h1 - s1 - s2 - h2) on OpenFlow 1.3 with --forwarding normal (the
switches' L2 learning forwards neighbour discovery), the seed's queue
profile, h1 = fc00::1 and h2 = fc00::2. A queue-2 policy matching
ipv6-src fc00::1 holds h1 -> h2 TCP at 0.85-1.10 x 2 Mbit/s; a marking
policy on IPv6 sets the DSCP in the traffic class (tcpdump on h2 sees
class 0xb8); an OpenFlow 1.0 switch refuses the IPv6 policy with the reason.
"""
from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from topologies.controller import ControllerProcess
from topologies.experiment import SEED_QUEUES, in_band, wait_installed, wait_queues_applied
from topologies.netutil import wait_until
from topologies.network import start_network, stop_network
from topologies.ovsenv import PrivateOvs
from topologies.traffic import iperf3, wait_reachable

pytestmark = pytest.mark.integration

S1, S2 = "00:00:00:00:00:00:00:01", "00:00:00:00:00:00:00:02"
V6 = {"h1": "fc00::1", "h2": "fc00::2"}


class Bed:
    def __init__(self, ovs: PrivateOvs, state_dir: Path) -> None:
        self.ovs = ovs
        self.ctl = ControllerProcess(state_dir, ovsdb=ovs.db_remote, extra_args=["--forwarding", "normal"]).start()
        self.net: Any = None

    def call(self, method: str, path: str, body: Any = None, expect: int | None = None) -> Any:
        code, answer = self.ctl.request(method, path, body)
        if expect is not None:
            assert code == expect, f"{method} {path} -> {code} {answer}"
        return answer

    def tcp6(self, seconds: float = 4.0) -> float:
        return iperf3(self.net.get("h1"), self.net.get("h2"), seconds=seconds, server_ip=V6["h2"]).mbps

    def ping6(self, count: int = 3) -> str:
        return self.net.get("h1").cmd(f"ping -6 -n -c {count} -W 1 -i 0.2 {V6['h2']}")


def add_v6(net: Any) -> None:
    for name, address in V6.items():
        host = net.get(name)
        host.cmd(f"sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.{name}-eth0.disable_ipv6=0")
        host.cmd(f"ip -6 addr add {address}/64 dev {name}-eth0 nodad")


@pytest.fixture(scope="module")
def bed(private_ovs: PrivateOvs, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    bed = Bed(private_ovs, tmp_path_factory.mktemp("state"))
    try:
        bed.net = start_network("linear,2", controller=("127.0.0.1", bed.ctl.ofp_port), protocols="OpenFlow13")
        wait_reachable([bed.net.get("h1"), bed.net.get("h2")], timeout=30)
        add_v6(bed.net)
        wait_until(lambda: " 0% packet loss" in bed.ping6(1), 15, "h1 to reach fc00::2")
        bed.call("POST", "/qos/queues", SEED_QUEUES, expect=201)
        wait_queues_applied(bed.ctl)
        bed.call("POST", "/qos/enable", expect=200)
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


def test_ipv6_queue_policy_holds_h1_to_h2(clean: Bed) -> None:
    before = clean.tcp6()
    assert before > 100, before
    clean.call("POST", "/qos/policies", {"name": "v6 q2", "ipv6-src": "fc00::1/128", "ipv6-dst": "fc00::/64",
                                         "protocol": 6, "ingress-port": 1, "sw": S1, "queue": 2,
                                         "enqueue-port": 2}, expect=201)
    wait_installed(clean.ctl, ["v6 q2"])
    flows = clean.ovs.ofctl("-O", "OpenFlow13", "dump-flows", "s1")
    assert "ipv6_src=fc00::1" in flows and "ipv6_dst=fc00::/64" in flows and "set_queue:2" in flows, flows
    limited = clean.tcp6()
    print(f"\nIPv6 queue 2: h1->h2 TCP {limited:.2f} Mbit/s (before {before:.1f})")
    assert in_band(limited, 2.0), limited
    v4 = iperf3(clean.net.get("h1"), clean.net.get("h2"), seconds=3).mbps
    assert v4 > 100, v4  # the IPv6 policy leaves IPv4 alone


def test_ipv6_marking_sets_the_traffic_class(clean: Bed) -> None:
    if "EF voice" not in {s["name"] for s in clean.call("GET", "/qos/services")}:
        clean.call("POST", "/qos/services", {"name": "EF voice", "dscp": "EF"}, expect=201)
    clean.call("POST", "/qos/policies", {"name": "v6 mark", "ipv6-src": "fc00::1", "protocol": 58,
                                         "service": "EF voice"}, expect=201)
    wait_installed(clean.ctl, ["v6 mark"])
    assert "set_field:46->ip_dscp" in clean.ovs.ofctl("-O", "OpenFlow13", "dump-flows", "s1")
    h2 = clean.net.get("h2")
    capture = h2.popen(["tcpdump", "-i", "h2-eth0", "-nn", "-v", "-l", "-c", "3",
                        "icmp6 and src fc00::1 and ip6[40] == 128"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        time.sleep(1.0)
        assert " 0% packet loss" in clean.ping6(3)
        out, _ = capture.communicate(timeout=10)
    finally:
        if capture.poll() is None:
            capture.kill()
            capture.wait()
    classes = re.findall(r"class (0x[0-9a-f]+)", out)
    print(f"\nIPv6 marking: traffic classes seen on h2: {classes}")
    assert classes and all(int(c, 16) == 0xB8 for c in classes), out


def test_openflow10_switch_refuses_ipv6_policy(clean: Bed) -> None:
    clean.ovs.vsctl("set", "bridge", "s2", "protocols=OpenFlow10")
    try:
        wait_until(lambda: any(s["dpid"] == S2 and s["openflow"] == "1.0" for s in clean.call("GET", "/qos/switches")),
                   20, "s2 to reconnect on OpenFlow 1.0")
        clean.call("POST", "/qos/policies", {"name": "v6 any", "ipv6-dst": "fc00::2", "queue": 1}, expect=201)
        wait_until(lambda: clean.call("GET", "/qos/policies/v6%20any")["install"].get(S1, {}).get("state")
                   in ("installed", "missing-queue"), 10, "s1's verdict")
        state = clean.call("GET", "/qos/policies/v6%20any")["install"][S2]
        assert state["state"] == "error" and "OpenFlow 1.0 cannot match IPv6" in state["reason"], state
    finally:
        clean.ovs.vsctl("set", "bridge", "s2", "protocols=OpenFlow13")
        wait_until(lambda: any(s["dpid"] == S2 and s["openflow"] == "1.3" for s in clean.call("GET", "/qos/switches")),
                   20, "s2 back on OpenFlow 1.3")
