"""A controller cluster end to end: three etcd members, three qos-controllers, ten OVS switches.

Everything real, on loopback: a three-member etcd cluster (own data dirs and
ports, stopped by PID), three `qos-controller --store etcd://...` instances,
Mininet linear,10 on the userspace datapath with every bridge connected to
all three (OVS with three controllers), the seed's queue profile and its s1
policy (h1->h2 TCP into a 2 Mbit/s queue), iperf3 between the hosts.

One bed for the module; the tests run in order and build on each other:
mastership split by OpenFlow roles; a policy POSTed to one instance on the
switches the others master; kill -9 of the instance mastering the measured
route while iperf3 runs (remastered, limit held, within 5 s); an etcd member
killed; the killed instance restarted (takes a share back); every
acknowledged write on every instance.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest

from topologies.controller import ControllerProcess
from topologies.etcdenv import EtcdCluster
from topologies.experiment import LIMIT_BAND, LIMIT_MBPS, SEED_QUEUES
from topologies.netutil import wait_until
from topologies.network import start_network, stop_network
from topologies.ovsenv import PrivateOvs
from topologies.traffic import _communicate, stop_process, wait_listening, wait_reachable

pytestmark = pytest.mark.integration

SWITCHES = 10
DPIDS = [f"00:00:00:00:00:00:00:{i:02x}" for i in range(1, SWITCHES + 1)]
S1, S2 = DPIDS[0], DPIDS[1]
#: the seed's s1 policy: h1->h2 TCP into queue 2 (2 Mbit/s) on the port towards s2
SEED_S1 = {"name": "Enqueue 2:2 s1", "protocol": "6", "eth-type": "0x0800", "ingress-port": "1",
           "ip-src": "10.0.0.1", "sw": S1, "queue": "2", "enqueue-port": "2"}
#: the failover must be over within this (the issue's requirement)
FAILOVER_LIMIT_S = 5.0
IPERF_SECONDS = 16
KILL_AFTER_S = 6.0


@dataclass
class Bed:
    workdir: Path
    ovs: PrivateOvs
    etcd: EtcdCluster
    ctls: list[ControllerProcess] = field(default_factory=list)
    net: Any = None
    #: names of every policy whose write was acknowledged (2xx)
    acknowledged: list[str] = field(default_factory=list)
    killed: int | None = None

    def instance(self, index: int, rest_port: int | None = None, ofp_port: int | None = None) -> ControllerProcess:
        return ControllerProcess(
            self.workdir / f"c{index}", rest_port=rest_port, ofp_port=ofp_port, ovsdb=self.ovs.db_remote,
            log_path=self.workdir / f"c{index}.log",
            extra_args=["--store", self.etcd.url, "--forwarding", "normal", "--member-id", f"c{index}",
                        "--lease-ttl", "2"])

    def live(self) -> list[ControllerProcess]:
        return [c for i, c in enumerate(self.ctls) if i != self.killed]

    def by_member(self, member: str) -> ControllerProcess:
        return self.ctls[int(member[1:])]

    def post_policy(self, ctl: ControllerProcess, body: dict[str, Any]) -> dict[str, Any]:
        code, answer = ctl.request("POST", "/qos/policies", body)
        assert code == 201, (code, answer)
        self.acknowledged.append(body["name"])
        return answer


def cluster(ctl: ControllerProcess) -> dict[str, Any]:
    code, view = ctl.request("GET", "/qos/cluster")
    assert code == 200, view
    return view


def masters(ctl: ControllerProcess) -> dict[str, str | None]:
    """dpid -> master member, as this instance sees the keys."""
    return {s["dpid"]: s["master"] for s in cluster(ctl)["switches"]}


def settled(bed: Bed, members: int) -> bool:
    """Every switch has a master that confirmed its MASTER role, and every live instance agrees."""
    views = [cluster(c) for c in bed.live()]
    if any(len(v["members"]) != members for v in views):
        return False
    seen = [{s["dpid"]: s["master"] for s in v["switches"]} for v in views]
    if any(set(m) != set(DPIDS) or None in m.values() for m in seen) or any(m != seen[0] for m in seen):
        return False
    for dpid, member in seen[0].items():
        own = {s["dpid"]: s for s in cluster(bed.by_member(str(member)))["switches"]}
        if own[dpid]["role-confirmed"] != "master":
            return False
    return True


def ovs_roles(ovs: PrivateOvs, bridge: str) -> dict[int, str]:
    """The bridge's controllers as OVS sees them: controller port -> role (master / slave / other).

    ovs-vswitchd writes these status columns to OVSDB every few seconds, not at once: callers wait."""
    uuids = ovs.vsctl("get", "Bridge", bridge, "controller").strip().strip("[]").replace(" ", "").split(",")
    out = {}
    for uuid in uuids:
        target = ovs.vsctl("get", "Controller", uuid, "target").strip().strip('"')
        role = ovs.vsctl("get", "Controller", uuid, "role").strip()
        out[int(target.rsplit(":", 1)[1])] = role
    return out


def flow_cookies(ovs: PrivateOvs, bridge: str) -> set[int]:
    out = set()
    for line in ovs.ofctl("-O", "OpenFlow13", "dump-flows", bridge).splitlines():
        for word in line.replace(",", " ").split():
            if word.startswith("cookie="):
                out.add(int(word.split("=", 1)[1], 16))
    return out


def cookie_of(view: dict[str, Any]) -> int:
    return int(view["cookie"], 16)


@pytest.fixture(scope="module")
def bed(private_ovs: PrivateOvs, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    workdir = tmp_path_factory.mktemp("cluster")
    etcd = EtcdCluster(workdir / "etcd", size=3).start()
    bed = Bed(workdir, private_ovs, etcd)
    try:
        bed.ctls = [bed.instance(i) for i in range(3)]
        for ctl in bed.ctls:
            ctl.start()
        bed.net = start_network(f"linear,{SWITCHES}", controller=[("127.0.0.1", c.ofp_port) for c in bed.ctls],
                                protocols="OpenFlow13", wait_connected=30)
        wait_until(lambda: settled(bed, 3), 30, "three members, every switch mastered")
        first = bed.ctls[0]
        code, answer = first.request("POST", "/qos/queues", SEED_QUEUES)
        assert code == 201, answer
        assert first.request("POST", "/qos/enable")[0] == 200
        bed.post_policy(first, SEED_S1)
        yield bed
    finally:
        if bed.net is not None:
            stop_network(bed.net)
        for ctl in bed.ctls:
            ctl.stop()
        etcd.stop()


def installed_at(ctl: ControllerProcess, name: str, dpid: str) -> bool:
    code, view = ctl.request("GET", "/qos/policies/" + name.replace(" ", "%20"))
    return code == 200 and view["install"].get(dpid, {}).get("state") == "installed"


def test_switches_are_split_by_openflow_roles(bed: Bed) -> None:
    view = cluster(bed.ctls[0])
    counts = sorted(m["masters"] for m in view["members"])
    assert counts == [3, 3, 4], view["members"]
    assert {e["endpoint"] for e in view["endpoints"] if e["ok"]} == set(bed.etcd.endpoints)
    ports = {f"c{i}": c.ofp_port for i, c in enumerate(bed.ctls)}
    for number, dpid in enumerate(DPIDS, start=1):
        master = view["switches"][number - 1]["master"]
        assert view["switches"][number - 1]["dpid"] == dpid
        # OVS itself says: exactly the mastership key's holder is master, the two others are slaves
        wait_until(lambda: ovs_roles(bed.ovs, f"s{number}")[ports[master]] == "master" and
                   sorted(ovs_roles(bed.ovs, f"s{number}").values()) == ["master", "slave", "slave"],
                   12, f"OVS: s{number}'s master is {master}, the others slaves")
    # the generation ids are the keys' etcd revisions: distinct, positive
    generations = [s["generation"] for s in view["switches"]]
    assert all(g > 0 for g in generations) and len(set(generations)) == SWITCHES


def test_a_policy_posted_to_one_instance_reaches_switches_the_others_master(bed: Bed) -> None:
    writer = bed.ctls[1]
    answer = bed.post_policy(writer, {"name": "voice-mark", "ip-dst": "10.0.0.99", "protocol": 17, "queue": 1})
    cookie = cookie_of(answer[0] if isinstance(answer, list) else answer)
    owners = masters(writer)
    others = [dpid for dpid, member in owners.items() if member != "c1"]
    assert others, owners
    for dpid in DPIDS:
        bridge = f"s{DPIDS.index(dpid) + 1}"
        wait_until(lambda: cookie in flow_cookies(bed.ovs, bridge), 10, f"the policy's flow on {bridge}")
    # each master reports it installed on its own switches; the writer says "peer" for the others'
    for dpid in others:
        master = bed.by_member(str(owners[dpid]))
        wait_until(lambda: installed_at(master, "voice-mark", dpid), 10, f"installed on {dpid} by its master")
    code, view = writer.request("GET", "/qos/policies/voice-mark")
    assert view["install"][others[0]]["state"] == "peer", view["install"]


def iperf_intervals(server_json: str) -> list[tuple[float, float]]:
    """(end second, Mbit/s received) of each 1-s interval of the iperf3 server's report."""
    report = json.loads(server_json)
    return [(round(i["sum"]["end"], 1), i["sum"]["bits_per_second"] / 1e6) for i in report.get("intervals", [])]


def test_kill_the_route_master_remastered_and_limit_held_within_5s(bed: Bed) -> None:
    owners = masters(bed.ctls[0])
    victim = str(owners[S1])
    route = [d for d in (S1, S2) if owners[d] == victim]
    victim_switches = [d for d, m in owners.items() if m == victim]
    survivors = [c for i, c in enumerate(bed.ctls) if f"c{i}" != victim]
    wait_until(lambda: installed_at(bed.by_member(victim), SEED_S1["name"], S1), 15, "the seed policy on s1")
    h1, h2 = bed.net.get("h1"), bed.net.get("h2")
    wait_reachable([h1, h2], timeout=15)
    port = 5301
    server = h2.popen(["iperf3", "-s", "-1", "-p", str(port), "-J", "-i", "1"])
    try:
        wait_listening(h2, port, proc=server)
        client = h1.popen(["iperf3", "-c", h2.IP(), "-p", str(port), "-t", str(IPERF_SECONDS), "-J",
                           "--connect-timeout", "3000"])
        started = time.time()
        time.sleep(KILL_AFTER_S)
        killed_at = time.time()
        bed.by_member(victim).kill()
        bed.killed = int(victim[1:])
        remastered: dict[str, float] = {}
        flow_confirmed: float | None = None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and (len(remastered) < len(victim_switches) or flow_confirmed is None):
            for ctl in survivors:
                try:
                    view = cluster(ctl)
                except OSError:
                    continue
                for s in view["switches"]:
                    if s["dpid"] in victim_switches and s["master"] == view["me"] and s["role-confirmed"] == "master":
                        remastered.setdefault(s["dpid"], float(s["role-reply-at"]))
                if flow_confirmed is None and installed_at(ctl, SEED_S1["name"], S1) and \
                        masters(ctl).get(S1) == view["me"]:
                    flow_confirmed = time.time()
            time.sleep(0.1)
        out, err = _communicate(client, IPERF_SECONDS + 20, "iperf3 client")
        srv_out, _ = _communicate(server, 20, "iperf3 server")
    finally:
        stop_process(server)
    assert sorted(remastered) == sorted(victim_switches), (remastered, victim_switches)
    failover = max(remastered[d] for d in route) - killed_at
    everything = max(remastered.values()) - killed_at
    assert flow_confirmed is not None
    intervals = iperf_intervals(srv_out)
    kill_second = killed_at - started
    print(f"\n[cluster] killed {victim} (master of {len(victim_switches)} switches, route {route}) at "
          f"t={kill_second:.1f}s; first role reply on the route after {failover:.2f}s, all its switches after "
          f"{everything:.2f}s, the seed policy confirmed on s1 by the new master after "
          f"{flow_confirmed - killed_at:.2f}s (polled)")
    print("[cluster] iperf3 h1->h2 per second (Mbit/s): " + " ".join(f"{mbps:.2f}" for _, mbps in intervals))
    assert failover < FAILOVER_LIMIT_S, failover
    assert everything < FAILOVER_LIMIT_S, everything
    low, high = LIMIT_BAND[0] * LIMIT_MBPS, LIMIT_BAND[1] * LIMIT_MBPS
    around = [(end, mbps) for end, mbps in intervals if end > 2 and end <= IPERF_SECONDS]  # past slow start
    assert len(around) >= IPERF_SECONDS - 3, intervals
    assert all(low <= mbps <= high for _, mbps in around), (kill_second, around)
    # OVS agrees: s1's master is a survivor now
    new_master = str(masters(survivors[0])[S1])
    assert new_master != victim
    wait_until(lambda: ovs_roles(bed.ovs, "s1")[bed.by_member(new_master).ofp_port] == "master", 12,
               f"OVS: s1's master is {new_master}")


def test_an_etcd_member_killed_the_cluster_keeps_working(bed: Bed) -> None:
    member = bed.etcd.members[0]  # every instance's first endpoint
    member.kill()
    try:
        writer = bed.live()[0]
        before = flow_cookies(bed.ovs, "s1")
        answer = bed.post_policy(writer, {"name": "after-etcd-loss", "ip-dst": "10.0.0.98", "protocol": 6,
                                          "queue": 1})
        cookie = cookie_of(answer[0] if isinstance(answer, list) else answer)
        for number in range(1, SWITCHES + 1):
            wait_until(lambda: cookie in flow_cookies(bed.ovs, f"s{number}"), 10, f"the new policy on s{number}")
        assert before <= flow_cookies(bed.ovs, "s1")  # nothing the switches held went away
        health = {e["endpoint"]: e["ok"] for e in cluster(writer)["endpoints"]}
        assert health[member.endpoint] is False and sum(health.values()) == 2, health
        wait_until(lambda: settled(bed, 2), 10, "every switch still mastered")
    finally:
        bed.etcd.restart(member)


def test_the_killed_instance_rejoins_and_takes_a_share_back(bed: Bed) -> None:
    assert bed.killed is not None
    index = bed.killed
    old = bed.ctls[index]
    bed.ctls[index] = bed.instance(index, rest_port=old.rest_port, ofp_port=old.ofp_port).start()
    bed.killed = None
    me = f"c{index}"
    # OVS reconnects to a controller it lost with a backoff (up to 8 s): then the share moves back
    took = wait_until(lambda: settled(bed, 3) and list(masters(bed.ctls[index]).values()).count(me) >= 3, 40,
                      f"{me} back with a share of the switches, every switch mastered")
    print(f"\n[cluster] {me} restarted: masters its share again after {took:.1f}s")
    view = cluster(bed.ctls[index])
    mine = [s["dpid"] for s in view["switches"] if s["master"] == me]
    port = bed.ctls[index].ofp_port
    for dpid in mine:
        bridge = f"s{DPIDS.index(dpid) + 1}"
        wait_until(lambda: ovs_roles(bed.ovs, bridge)[port] == "master", 12, f"OVS: {bridge}'s master is c{index}")
    assert sorted(m["masters"] for m in view["members"]) == [3, 3, 4], view["members"]


def test_every_acknowledged_write_is_on_every_instance(bed: Bed) -> None:
    assert len(bed.acknowledged) == 3
    for ctl in bed.ctls:
        def holds_all(ctl: ControllerProcess = ctl) -> bool:
            code, items = ctl.request("GET", "/qos/policies")
            return code == 200 and sorted(p["name"] for p in items) == sorted(bed.acknowledged)
        wait_until(holds_all, 10, f"every acknowledged policy on {ctl.url}")
    views = [sorted((p["name"], p["cookie"]) for p in ctl.request("GET", "/qos/policies")[1]) for ctl in bed.ctls]
    assert views[0] == views[1] == views[2]
    # and on the switches: every policy's flow where it applies (the seed's on s1, the others everywhere)
    for ctl_view in bed.ctls[0].request("GET", "/qos/policies")[1]:
        cookie = cookie_of(ctl_view)
        bridges = ["s1"] if ctl_view["name"] == SEED_S1["name"] else [f"s{n}" for n in range(1, SWITCHES + 1)]
        for bridge in bridges:
            assert cookie in flow_cookies(bed.ovs, bridge), (ctl_view["name"], bridge)
