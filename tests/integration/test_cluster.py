"""A controller cluster end to end: three etcd members, three qos-controllers, ten OVS switches.

Everything real, on loopback (`topologies.clusterenv`): a three-member etcd
cluster (own data dirs and ports, stopped by PID), three `qos-controller
--store etcd://...` instances, Mininet linear,10 on the userspace datapath
with every bridge connected to all three (OVS with three controllers), the
seed's queue profile and its s1 policy (h1->h2 TCP into a 2 Mbit/s queue),
iperf3 between the hosts.

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
from typing import Any, Iterator

import pytest

from topologies.clusterenv import ClusterBed
from topologies.controller import ControllerProcess
from topologies.experiment import LIMIT_BAND, LIMIT_MBPS, SEED_QUEUES
from topologies.netutil import wait_until
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


class Bed(ClusterBed):
    #: names of every policy whose write was acknowledged (2xx)
    acknowledged: list[str]

    def post_policy(self, ctl: ControllerProcess, body: dict[str, Any]) -> int:
        """POST one policy; its cookie."""
        code, answer = ctl.request("POST", "/qos/policies", body)
        assert code == 201, (code, answer)
        self.acknowledged.append(body["name"])
        return int((answer[0] if isinstance(answer, list) else answer)["cookie"], 16)


@pytest.fixture(scope="module")
def bed(private_ovs: PrivateOvs, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    bed = Bed(tmp_path_factory.mktemp("cluster"), private_ovs, size=3, switches=SWITCHES)
    bed.acknowledged = []
    try:
        bed.start()
        first = bed.ctls[0]
        code, answer = first.request("POST", "/qos/queues", SEED_QUEUES)
        assert code == 201, answer
        assert first.request("POST", "/qos/enable")[0] == 200
        bed.post_policy(first, SEED_S1)
        yield bed
    finally:
        bed.stop()


def installed_at(ctl: ControllerProcess, name: str, dpid: str) -> bool:
    code, view = ctl.request("GET", "/qos/policies/" + name.replace(" ", "%20"))
    return code == 200 and view["install"].get(dpid, {}).get("state") == "installed"


def test_switches_are_split_by_openflow_roles(bed: Bed) -> None:
    view = bed.cluster(bed.ctls[0])
    counts = sorted(m["masters"] for m in view["members"])
    assert counts == [3, 3, 4], view["members"]
    assert bed.etcd is not None
    assert {e["endpoint"] for e in view["endpoints"] if e["ok"]} == set(bed.etcd.endpoints)
    ports = {f"c{i}": c.ofp_port for i, c in enumerate(bed.ctls)}
    for number, dpid in enumerate(DPIDS, start=1):
        master = view["switches"][number - 1]["master"]
        assert view["switches"][number - 1]["dpid"] == dpid
        # OVS itself says: exactly the mastership key's holder is master, the two others are slaves
        wait_until(lambda: bed.ovs_roles(f"s{number}")[ports[master]] == "master" and
                   sorted(bed.ovs_roles(f"s{number}").values()) == ["master", "slave", "slave"],
                   12, f"OVS: s{number}'s master is {master}, the others slaves")
    # the generation ids are the keys' etcd revisions: distinct, positive
    generations = [s["generation"] for s in view["switches"]]
    assert all(g > 0 for g in generations) and len(set(generations)) == SWITCHES


def test_a_policy_posted_to_one_instance_reaches_switches_the_others_master(bed: Bed) -> None:
    writer = bed.ctls[1]
    cookie = bed.post_policy(writer, {"name": "voice-mark", "ip-dst": "10.0.0.99", "protocol": 17, "queue": 1})
    owners = bed.masters(writer)
    others = [dpid for dpid, member in owners.items() if member != "c1"]
    assert others, owners
    for number in range(1, SWITCHES + 1):
        wait_until(lambda: cookie in bed.flow_cookies(f"s{number}"), 10, f"the policy's flow on s{number}")
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
    owners = bed.masters(bed.ctls[0])
    victim = str(owners[S1])
    route = [d for d in (S1, S2) if owners[d] == victim]
    victim_switches = [d for d, m in owners.items() if m == victim]
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
        killed_at = bed.kill(victim)
        remastered: dict[str, float] = {}
        flow_confirmed: float | None = None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and (len(remastered) < len(victim_switches) or flow_confirmed is None):
            remastered = {**bed.remastered(victim_switches, victim), **remastered}
            new_master = remastered and bed.masters(bed.live()[0]).get(S1)
            if flow_confirmed is None and new_master and new_master != victim and \
                    installed_at(bed.by_member(str(new_master)), SEED_S1["name"], S1):
                flow_confirmed = time.time()
            time.sleep(0.1)
        _communicate(client, IPERF_SECONDS + 20, "iperf3 client")
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
    around = [(end, mbps) for end, mbps in intervals if 2 < end <= IPERF_SECONDS]  # past slow start
    assert len(around) >= IPERF_SECONDS - 3, intervals
    assert all(low <= mbps <= high for _, mbps in around), (kill_second, around)
    # OVS agrees: s1's master is a survivor now
    new_master = str(bed.masters(bed.live()[0])[S1])
    assert new_master != victim
    wait_until(lambda: bed.ovs_roles("s1")[bed.by_member(new_master).ofp_port] == "master", 12,
               f"OVS: s1's master is {new_master}")


def test_an_etcd_member_killed_the_cluster_keeps_working(bed: Bed) -> None:
    assert bed.etcd is not None
    writer = bed.live()[0]
    leader = next(e["endpoint"] for e in bed.cluster(writer)["endpoints"] if e.get("is-leader"))
    member = next(m for m in bed.etcd.members if m.endpoint == leader)  # the worst case: the raft leader
    before = bed.flow_cookies("s1")
    member.kill()
    killed_at = time.monotonic()
    try:
        body = {"name": "after-etcd-loss", "ip-dst": "10.0.0.98", "protocol": 6, "queue": 1}
        refused = 0
        while True:  # until the two others elected a leader: 503 naming the store, nothing half-written
            code, answer = writer.request("POST", "/qos/policies", body)
            if code != 503 or time.monotonic() - killed_at > 20:
                break
            assert answer["field"] == "store", answer
            refused += 1
            time.sleep(0.2)
        # 409: an earlier attempt that timed out had been applied after all (the 503 said it may have been)
        assert code in (201, 409), (code, answer)
        bed.acknowledged.append(body["name"])
        print(f"\n[cluster] etcd leader {member.name} killed: first write accepted after "
              f"{time.monotonic() - killed_at:.1f}s ({refused} answered 503 during the election)")
        code, view = writer.request("GET", "/qos/policies/after-etcd-loss")
        cookie = int(view["cookie"], 16)
        for number in range(1, SWITCHES + 1):
            wait_until(lambda: cookie in bed.flow_cookies(f"s{number}"), 10, f"the new policy on s{number}")
        assert before <= bed.flow_cookies("s1")  # nothing the switches held went away

        def health() -> dict[str, bool]:
            return {e["endpoint"]: e["ok"] for e in bed.cluster(writer)["endpoints"]}
        wait_until(lambda: health()[member.endpoint] is False and sum(health().values()) == 2, 5,
                   "GET /qos/cluster: the killed member down, the two others up")
        wait_until(lambda: bed.settled(2), 15, "every switch still mastered")
    finally:
        bed.etcd.restart(member)


def test_the_killed_instance_rejoins_and_takes_a_share_back(bed: Bed) -> None:
    assert bed.killed is not None
    index = bed.killed
    back = bed.restart()
    me = f"c{index}"
    # OVS reconnects to a controller it lost with a backoff (up to 8 s): then the share moves back
    took = wait_until(lambda: bed.settled(3) and list(bed.masters(back).values()).count(me) >= 3, 40,
                      f"{me} back with a share of the switches, every switch mastered")
    print(f"\n[cluster] {me} restarted: masters its share again after {took:.1f}s")
    view = bed.cluster(back)
    mine = [s["dpid"] for s in view["switches"] if s["master"] == me]
    for dpid in mine:
        bridge = f"s{DPIDS.index(dpid) + 1}"
        wait_until(lambda: bed.ovs_roles(bridge)[back.ofp_port] == "master", 12, f"OVS: {bridge}'s master is {me}")
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
    for policy in bed.ctls[0].request("GET", "/qos/policies")[1]:
        cookie = int(policy["cookie"], 16)
        bridges = ["s1"] if policy["name"] == SEED_S1["name"] else [f"s{n}" for n in range(1, SWITCHES + 1)]
        for bridge in bridges:
            assert cookie in bed.flow_cookies(bridge), (policy["name"], bridge)
