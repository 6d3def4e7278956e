"""QoS paths and loop-free forwarding for real: qos-controller, private OVS (userspace), Mininet, iperf3.

The controller discovers links by LLDP, learns hosts from packet-ins and
computes forwarding itself ("learned" mode); the switches run in secure fail
mode, so nothing moves that the controller did not decide. Loopy topologies
(a ring, a fat-tree) are the point: with flooding done wrong they storm.

One network at a time may exist on the machine (``topologies.network`` holds a
lock), so each network belongs to one test class and is torn down when the
class is done: ring,6 on OpenFlow 1.3 (paths, link failure, controller
restart), ring,5 on OpenFlow 1.0, and a k=4 fat-tree.

Two tests pin controller bugs found here and since fixed: a second path with
the same match is refused (409), and an OpenFlow 1.0 marking policy, which
could only forward by NORMAL and stormed a ring, is not installed in learned
mode (each switch reports why) instead.
"""
from __future__ import annotations

import re
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import quote

import pytest

from topologies.controller import ControllerProcess
from topologies.experiment import SEED_QUEUES, in_band, wait_queues_applied
from topologies.netutil import wait_until
from topologies.network import start_network, stop_network
from topologies.ovsenv import PrivateOvs
from topologies.traffic import iperf3, ping, rate_series, stop_process, wait_reachable

pytestmark = pytest.mark.integration

LIMIT_MBPS = 2.0  # queue 2 of the seed's profile
UNSHAPED_MBPS = 100.0
IPERF_SECONDS = 4.0


@dataclass
class Bed:
    """One network with its own controller, QoS enabled and the seed's queues on every port."""

    ovs: PrivateOvs
    ctl: ControllerProcess
    net: Any
    state_dir: Path
    protocols: str
    downed: list[tuple[str, str]] = field(default_factory=list)

    def call(self, method: str, path: str, body: Any = None, expect: int | None = None) -> Any:
        code, answer = self.ctl.request(method, path, body)
        if expect is not None:
            assert code == expect, f"{method} {path} -> {code} {answer}"
        return answer

    def rate(self, src: str, dst: str) -> float:
        """Receiver-side iperf3 Mbit/s from host src to host dst (printed: pytest shows it on failure)."""
        result = iperf3(self.net.get(src), self.net.get(dst), seconds=IPERF_SECONDS)
        seconds = " ".join(f"{mbps:.2f}" for _, mbps in rate_series(result))
        print(f"iperf3 {src}->{dst}: {result.mbps:.2f} Mbit/s, {result.retransmits} retransmits; "
              f"received per second: {seconds}")
        return result.mbps

    def path(self, name: str) -> dict[str, Any]:
        return self.call("GET", "/qos/paths/" + quote(name, safe=""), expect=200)

    def flows(self, bridge: str) -> str:
        return self.ovs.ofctl("-O", self.protocols, "dump-flows", bridge)

    def link_down(self, a: str, b: str) -> None:
        """Take the cable between switches a and b down (both ends), remembering it for `restore_links`."""
        self.downed.append((a, b))
        self.net.configLinkStatus(a, b, "down")

    def restore_links(self, cables: int) -> None:
        """Bring every downed cable up and wait until LLDP reports all `cables` again (each way)."""
        while self.downed:
            self.net.configLinkStatus(*self.downed.pop(), "up")
        wait_until(lambda: len(self.call("GET", "/qos/topology")["links"]) == 2 * cables, 20,
                 f"LLDP to report all {cables} cables")

    def evidence(self) -> str:
        """What to look at when a check fails: topology, paths, the controller's last words."""
        return (f"\ntopology: {self.call('GET', '/qos/topology')}\npaths: {self.call('GET', '/qos/paths')}"
                f"\ncontroller log ({self.ctl.log_path}):\n{self.ctl.log_tail(40)}")


def hop_dpids(hops: list[dict[str, Any]]) -> list[int]:
    return [int(hop["dpid"].replace(":", ""), 16) for hop in hops]


def start_controller(ovs: PrivateOvs, state_dir: Path, rest_port: int | None = None,
                     ofp_port: int | None = None) -> ControllerProcess:
    return ControllerProcess(state_dir, rest_port=rest_port, ofp_port=ofp_port, ovsdb=ovs.db_remote).start()


@contextmanager
def running_bed(ovs: PrivateOvs, state_dir: Path, topo: str, protocols: str) -> Iterator[Bed]:
    """Controller, network (secure fail mode), the seed's queues on every port, QoS enabled."""
    bed = Bed(ovs, start_controller(ovs, state_dir), None, state_dir, protocols)
    try:
        bed.net = start_network(topo, controller=("127.0.0.1", bed.ctl.ofp_port), protocols=protocols,
                                wait_connected=30)
        bed.call("POST", "/qos/queues", SEED_QUEUES, expect=201)
        wait_queues_applied(bed.ctl, timeout=60)
        bed.call("POST", "/qos/enable", expect=200)
        yield bed
    finally:
        if bed.net is not None:
            stop_network(bed.net)
        bed.ctl.stop()  # the one running now: a test may have restarted it


_FLOOD_COUNTERS = re.compile(r"cookie=0x4602[0-9a-f]{12}, .*?n_packets=(\d+)")


def flood_packets(bed: Bed) -> int:
    """Packets the broadcast (spanning-tree) flows of every switch have handled so far."""
    return sum(int(n) for sw in bed.net.switches for n in _FLOOD_COUNTERS.findall(bed.flows(sw.name)))


def assert_pingall_without_storm(bed: Bed, converge: float = 30.0) -> None:
    """Every pair answers (after learning), then again at once, and broadcasts die out.

    The second round must be perfect: the first may lose a probe while hosts
    are still being learned, a settled network may not. On a loop, a
    broadcast not confined to a tree circulates forever (thousands of packets
    a second); the start-up chatter (IPv6 router solicitations, MLD, of the
    hosts and of the switch-side veths) is a few dozen and stops.
    """
    hosts = bed.net.hosts
    try:
        wait_reachable(hosts, timeout=converge)
    except Exception as err:
        raise AssertionError(f"{err}{bed.evidence()}") from err
    failed = [f"{r.src}->{r.dst}" for r in ping_all_once(hosts) if not r.ok]
    assert not failed, f"second pingall lost {failed}{bed.evidence()}"
    quiet = 5 * len(bed.net.switches)  # flood-flow hits per second
    rates: list[int] = []

    def settled() -> bool:
        before = flood_packets(bed)
        time.sleep(1.0)
        rates.append(flood_packets(bed) - before)
        return rates[-1] < quiet
    try:
        wait_until(settled, 25, "broadcasts to die out")
    except AssertionError as err:
        raise AssertionError(f"{err}; flood-flow hits per second: {rates}") from None
    print(f"flood-flow hits per second until quiet: {rates}")


def ping_all_once(hosts: list[Any]) -> list[Any]:
    return [ping(src, dst, count=1, timeout=1.0) for src in hosts for dst in hosts if dst is not src]


def assert_secure(bed: Bed) -> None:
    """The switches really are what the test claims: secure fail mode, the one OpenFlow version."""
    for sw in bed.net.switches:
        assert bed.ovs.vsctl("get", "Bridge", sw.name, "fail_mode").strip() == "secure"
        assert bed.ovs.vsctl("get", "Bridge", sw.name, "protocols").strip() == f"[{bed.protocols}]"


def host_with_ip(bed: Bed, ip: str) -> Any:
    return next(host for host in bed.net.hosts if host.IP() == ip)


def add_path(bed: Bed, body: dict[str, Any], timeout: float = 20.0) -> dict[str, Any]:
    """POST a path, let its hosts talk (that is how the controller finds them), wait until installed."""
    bed.call("POST", "/qos/paths", body, expect=201)
    assert ping(host_with_ip(bed, body["src"]), body["dst"], count=2).ok, body
    return wait_installed(bed, body["name"], timeout)


def wait_installed(bed: Bed, name: str, timeout: float = 20.0,
                   accept: Callable[[dict[str, Any]], bool] = lambda view: True) -> dict[str, Any]:
    view: dict[str, Any] = {}

    def ready() -> bool:
        nonlocal view
        view = bed.path(name)
        # every switch of the route confirmed the flows (barrier reply), none rejected them
        confirmed = {hop["dpid"] for hop in view["status"].get("hops", [])} == set(view.get("install", {})) and \
            all(state["state"] == "installed" for state in view["install"].values())
        return view["status"]["state"] == "installed" and view["installed"] and confirmed and accept(view)
    try:
        wait_until(ready, timeout, f"path {name!r} to be installed")
    except AssertionError as err:
        raise AssertionError(f"{err}: {view}{bed.evidence()}") from None
    return view


def forward_and_back(bed: Bed, a: str, b: str) -> tuple[float, float]:
    return bed.rate(a, b), bed.rate(b, a)


def switches_with_cookie(bed: Bed, cookie: str) -> list[str]:
    """Bridges that hold at least one flow with this cookie (a path's flows all share one)."""
    return [sw.name for sw in bed.net.switches if f"cookie={cookie}," in bed.flows(sw.name)]


def answered_while(bed: Bed, src: str, dst: str, event: Callable[[], None], count: int = 40,
                   interval: float = 0.1) -> tuple[set[int], int]:
    """Ping continuously from src to dst, run `event` one second in; (answered icmp_seq, sent)."""
    proc = bed.net.get(src).popen(["ping", "-n", "-c", str(count), "-i", str(interval), "-W", "1",
                                   bed.net.get(dst).IP()], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        time.sleep(1.0)
        event()
        out, _ = proc.communicate(timeout=count * interval + 10)
    finally:
        stop_process(proc)
    return {int(n) for n in re.findall(rb"icmp_seq=(\d+) ", out)}, count


@pytest.fixture(scope="class")
def ring(private_ovs: PrivateOvs, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    with running_bed(private_ovs, tmp_path_factory.mktemp("ring13"), "ring,6", "OpenFlow13") as bed:
        yield bed


@pytest.fixture(scope="class")
def ring10(private_ovs: PrivateOvs, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    with running_bed(private_ovs, tmp_path_factory.mktemp("ring10"), "ring,5", "OpenFlow10") as bed:
        yield bed


@pytest.fixture(scope="class")
def fattree(private_ovs: PrivateOvs, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    with running_bed(private_ovs, tmp_path_factory.mktemp("fattree"), "fattree,4", "OpenFlow13") as bed:
        yield bed


# ---------------------------------------------------------------- ring,6 on OpenFlow 1.3
#: h1 -> h4 on ring,6: s1 s2 s3 s4 or s1 s6 s5 s4, four switches, three cables either way.
PATH_H1_H4 = {"name": "h1<->h4 q2", "src": "10.0.0.1", "dst": "10.0.0.4", "queue": 2, "direction": "both"}


class TestRingOpenFlow13:
    @pytest.fixture()
    def clean(self, ring: Bed) -> Iterator[Bed]:
        """Each test starts and ends with no paths and every cable up."""
        yield ring
        ring.restore_links(cables=6)
        for path in ring.call("GET", "/qos/paths"):
            ring.call("DELETE", "/qos/paths/" + quote(path["name"], safe=""), expect=200)

    def test_pingall_with_qos_enabled_and_no_storm(self, clean: Bed) -> None:
        assert_secure(clean)
        assert clean.call("GET", "/qos/status")["enabled"] is True
        assert_pingall_without_storm(clean)
        topology = clean.call("GET", "/qos/topology")
        assert len(topology["links"]) == 12, topology  # six cables, each direction
        assert sorted(h["ip"] for h in topology["hosts"]) == [f"10.0.0.{i}" for i in range(1, 7)]

    def test_queue_path_both_ways_limits_that_pair_only(self, clean: Bed) -> None:
        view = add_path(clean, PATH_H1_H4)
        hops, back = view["status"]["hops"], view["status"]["reverse-hops"]
        assert len(hops) == 4 and hop_dpids(hops)[0] == 1 and hop_dpids(hops)[-1] == 4, view
        assert hop_dpids(back) == hop_dpids(hops)[::-1]
        for hop in hops:
            flows = clean.flows(f"s{hop_dpids([hop])[0]}")
            assert f"in_port={hop['in-port']},nw_src=10.0.0.1,nw_dst=10.0.0.4 " \
                   f"actions=set_queue:2,output:{hop['out-port']}" in flows, flows
        there, back_rate = forward_and_back(clean, "h1", "h4")
        assert in_band(there) and in_band(back_rate), (there, back_rate)
        # Same source over the same cables, and another pair crossing them: not shaped.
        assert clean.rate("h1", "h3") > UNSHAPED_MBPS
        assert clean.rate("h2", "h4") > UNSHAPED_MBPS
        assert switches_with_cookie(clean, view["cookie"]) == ["s1", "s2", "s3", "s4"]
        clean.call("DELETE", "/qos/paths/" + quote(PATH_H1_H4["name"], safe=""), expect=200)
        wait_until(lambda: not switches_with_cookie(clean, view["cookie"]), 10, "the path's flows to go")

    def test_forward_path_limits_one_direction(self, clean: Bed) -> None:
        add_path(clean, {"name": "h2->h5", "src": "10.0.0.2", "dst": "10.0.0.5", "queue": 2,
                         "direction": "forward"})
        assert "reverse-hops" not in clean.path("h2->h5")["status"]
        there, back = forward_and_back(clean, "h2", "h5")
        assert in_band(there) and back > UNSHAPED_MBPS, (there, back)

    def test_link_down_reroutes_and_the_limit_follows(self, clean: Bed) -> None:
        view = add_path(clean, PATH_H1_H4)
        before = view["status"]
        dpids = hop_dpids(before["hops"])
        middle = (f"s{dpids[1]}", f"s{dpids[2]}")  # a cable inside the route, not a host's
        answered, sent = answered_while(clean, "h1", "h4", lambda: clean.link_down(*middle))
        print(f"pings answered across the link failure: {len(answered)}/{sent}")
        # The pings go on across the failure: a few may be lost while the controller re-routes, then none.
        assert set(range(sent - 10, sent + 1)) <= answered and len(answered) >= sent - 10, sorted(answered)
        after = wait_installed(clean, PATH_H1_H4["name"], timeout=15,
                               accept=lambda v: hop_dpids(v["status"]["hops"]) != dpids)["status"]
        new = hop_dpids(after["hops"])
        assert new[0] == 1 and new[-1] == 4 and not {dpids[1], dpids[2]} & set(new), (before, after)
        assert hop_dpids(after["reverse-hops"]) == new[::-1]
        # The path's flows moved with it: none left on the switches it no longer crosses.
        assert switches_with_cookie(clean, view["cookie"]) == sorted(f"s{d}" for d in new)
        assert_pingall_without_storm(clean, converge=15)
        there, back = forward_and_back(clean, "h1", "h4")
        assert in_band(there) and in_band(back), (there, back)

    def test_a_second_path_with_the_same_match_is_refused(self, clean: Bed) -> None:
        add_path(clean, PATH_H1_H4)
        code, answer = clean.ctl.request("POST", "/qos/paths", {**PATH_H1_H4, "name": "same match", "queue": 1})
        assert code == 409, (code, answer)

    def test_controller_restart_brings_paths_back_without_cli(self, clean: Bed) -> None:
        add_path(clean, PATH_H1_H4)
        assert in_band(clean.rate("h1", "h4"))
        old = clean.ctl
        old.kill()
        clean.ctl = start_controller(clean.ovs, clean.state_dir, old.rest_port, old.ofp_port)
        wait_until(lambda: len(clean.call("GET", "/qos/switches")) == 6, 30, "all six switches to reconnect")
        wait_until(lambda: len(clean.call("GET", "/qos/topology")["links"]) == 12, 20, "LLDP to find the cables")
        h1, h4 = clean.net.get("h1", "h4")
        with warm_arp_caches(h1, h4):
            # The new controller meets h1 and h4 first by IPv6 (as at boot: router solicitations, ND),
            # so it knows their MACs but not their IPs, and their ARP caches need no ARP at all.
            for host in (h1, h4):
                host.cmd(f"ping6 -c 1 -W 1 ff02::1%{host.defaultIntf().name}")
            wait_until(lambda: {"00:00:00:00:00:01", "00:00:00:00:00:04"} <= known_macs(clean), 10,
                     "h1 and h4 to be learned from IPv6")
            # Their own traffic, not a CLI call, brings the path back.
            assert ping(h1, h4, count=3).ok
            wait_installed(clean, PATH_H1_H4["name"], timeout=10)
        assert_pingall_without_storm(clean)
        there, back = forward_and_back(clean, "h1", "h4")
        assert in_band(there) and in_band(back), (there, back)
        assert clean.rate("h2", "h4") > UNSHAPED_MBPS


def known_macs(bed: Bed) -> set[str]:
    return {host["mac"] for host in bed.call("GET", "/qos/topology")["hosts"]}


@contextmanager
def warm_arp_caches(a: Any, b: Any) -> Iterator[None]:
    """Pin each host's ARP entry for the other (hosts that talked a minute ago need no ARP)."""
    pairs = ((a, b), (b, a))
    for host, peer in pairs:
        host.cmd(f"ip neigh replace {peer.IP()} lladdr {peer.MAC()} dev {host.defaultIntf().name} nud permanent")
    try:
        yield
    finally:
        for host, peer in pairs:
            host.cmd(f"ip neigh del {peer.IP()} dev {host.defaultIntf().name}")


# ---------------------------------------------------------------- ring,5 on OpenFlow 1.0
class TestRingOpenFlow10:
    def test_pingall_with_qos_enabled_on_openflow10(self, ring10: Bed) -> None:
        assert_secure(ring10)
        assert all(s["openflow"] == "1.0" for s in ring10.call("GET", "/qos/switches"))
        assert_pingall_without_storm(ring10)

    def test_queue_path_on_openflow10_enqueues_and_limits(self, ring10: Bed) -> None:
        view = add_path(ring10, {"name": "h1->h3", "src": "10.0.0.1", "dst": "10.0.0.3", "queue": 2,
                                 "direction": "forward"})
        assert hop_dpids(view["status"]["hops"]) == [1, 2, 3], view
        assert "nw_src=10.0.0.1,nw_dst=10.0.0.3 actions=enqueue:2:2" in ring10.flows("s1")
        there, back = forward_and_back(ring10, "h1", "h3")
        assert in_band(there) and back > UNSHAPED_MBPS, (there, back)
        ring10.call("DELETE", "/qos/paths/h1-%3Eh3", expect=200)
        wait_until(lambda: not switches_with_cookie(ring10, view["cookie"]), 10, "the path's flows to go")

    def test_marking_policy_on_openflow10_does_not_storm(self, ring10: Bed) -> None:
        if "EF voice" not in {s["name"] for s in ring10.call("GET", "/qos/services")}:
            ring10.call("POST", "/qos/services", {"name": "EF voice", "dscp": "EF"}, expect=201)
        code, answer = ring10.ctl.request("POST", "/qos/policies", {"name": "mark", "ip-src": "10.0.0.1",
                                                                     "ip-dst": "10.0.0.3", "service": "EF voice"})
        try:
            assert code in (201, 400, 409), (code, answer)  # refusing it would be honest too
            if code != 201:
                return
            install = ring10.call("GET", "/qos/policies/mark")["install"]
            assert install and all(s["state"] == "error" and "OpenFlow 1.0" in s["reason"]
                                   for s in install.values()), install
            time.sleep(1.0)
            proc = ring10.net.get("h1").popen(["ping", "-n", "-c", "3", "-i", "0.3", "-W", "1", "10.0.0.3"],
                                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            out, _ = proc.communicate(timeout=15)
            assert b"3 received" in out and b"duplicates" not in out, out.decode(errors="replace")[-400:]
        finally:
            if code == 201:
                ring10.call("DELETE", "/qos/policies/mark", expect=200)


# ---------------------------------------------------------------- fat-tree, k=4
class TestFatTree:
    def test_pingall_with_qos_enabled_on_a_fat_tree(self, fattree: Bed) -> None:
        assert_secure(fattree)
        assert len(fattree.net.switches) == 20 and len(fattree.net.hosts) == 16
        assert_pingall_without_storm(fattree, converge=45)
        links = {(link["src"]["dpid"][-2:], link["src"]["port"], link["dst"]["dpid"][-2:], link["dst"]["port"])
                 for link in fattree.call("GET", "/qos/topology")["links"]}
        assert len(links) == 64  # 32 cables, each direction
        # topos.py's port plan as LLDP saw it: edge s7 port 3 -> agg s5 port 1; s5 port 3 -> core s1
        # port 1; edge s20 (0x14) port 4 -> agg s18 (0x12) port 2
        assert {("07", 3, "05", 1), ("05", 3, "01", 1), ("14", 4, "12", 2)} <= links, sorted(links)

    def test_path_across_pods_is_five_switches_and_limited(self, fattree: Bed) -> None:
        view = add_path(fattree, {"name": "pod0->pod3", "src": "10.0.0.1", "dst": "10.0.0.16", "queue": 2,
                                  "direction": "forward"})
        assert len(view["status"]["hops"]) == 5, view  # edge, agg, core, agg, edge
        assert in_band(fattree.rate("h1", "h16"))
