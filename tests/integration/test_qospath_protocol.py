"""qospath2.py's protocol (with circuitpusher.py and qosmanager2.py) on Mininet linear,4, one bed for the module.

Re-created request by request: circuitpusher asks for the two hosts
(`GET /wm/device/?ipv4=`) and the route between their attachment points
(`GET /wm/topology/route/<dpid>/<port>/<dpid>/<port>/json`, origin form, as
curl sends it); qospath2 then has qosmanager2 add one policy per switch of
the route (`sw`, `name` "<path>.<dpid>", `ip-src`, `ip-dst`, `enqueue-port`
the route's out port, the user's `{"queue": "2"}`), POSTed as Python 2's
httplib does (absolute-form request line); deleting lists the policies
and deletes those whose name contains the path's by `policy-id`. With the
seed's queue profile (queue 2: 2 Mbit/s) iperf3 h1 -> h4 is held at ~2 Mbit/s,
and runs free once the path is deleted.

The seed's apps/qos copy of circuitpusher.py only prints its static flow
pushes (qospath2 uses it for the route); the stand-alone
apps/circuitpusher/circuitpusher.py sends them. The second test replays
that one with qospath2: per hop four `curl -s -d` POSTs to
/wm/staticflowentrypusher/json (forward and reverse IPv4 and ARP entries,
"<dpid>.<name>.f|farp|r|rarp", `output=<port>`), the check
`GET /wm/core/switch/all/flow/json`, and on delete four `curl -X DELETE -d
{"name", "switch"}`. The static flows alone carry h1 -> h4 (their counters
move), the QoS policies then hold it at ~2 Mbit/s, and deleting both frees it.
"""
from __future__ import annotations

import http.client
import json
import time
from typing import Any, Iterator

import pytest

from tests.integration.test_floodlight_clients import Py2HttpLib
from topologies.controller import ControllerProcess
from topologies.experiment import SEED_QUEUES, wait_installed, wait_queues_applied
from topologies.network import start_network, stop_network
from topologies.ovsenv import PrivateOvs
from topologies.traffic import iperf3, wait_reachable

pytestmark = pytest.mark.integration

SRC, DST = "10.0.0.1", "10.0.0.4"


class Bed:
    def __init__(self, ctl: ControllerProcess, net: Any) -> None:
        self.ctl, self.net = ctl, net
        self.h1, self.h4 = net.get("h1", "h4")
        self.base = f"http://127.0.0.1:{ctl.rest_port}"


@pytest.fixture(scope="module")
def bed(private_ovs: PrivateOvs, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    ctl = ControllerProcess(tmp_path_factory.mktemp("qospath") / "state", ovsdb=private_ovs.db_remote).start()
    net = None
    try:
        net = start_network("linear,4", controller=("127.0.0.1", ctl.ofp_port), protocols="OpenFlow13",
                            wait_connected=30)
        assert ctl.request("POST", "/qos/queues", SEED_QUEUES)[0] == 201
        wait_queues_applied(ctl, timeout=60)
        wait_reachable(net.hosts)  # circuitpusher: "the end points must already be known" (a ping)
        yield Bed(ctl, net)
    finally:
        if net is not None:
            stop_network(net)
        ctl.stop()


def curl(bed: Bed, method: str, path: str, body: str | None = None) -> tuple[int, Any]:
    """`curl -s [-X METHOD] [-d BODY] URL`: origin form, a form-urlencoded body, one connection per call."""
    conn = http.client.HTTPConnection("127.0.0.1", bed.ctl.rest_port, timeout=10)
    try:
        headers = {"User-Agent": "curl/7.88.1", "Accept": "*/*"}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"null")
    finally:
        conn.close()


def circuit(bed: Bed, name: str) -> list[dict[str, Any]]:
    """circuitpusher.py --type ip --src SRC --dst DST --add --name NAME: device lookups, then the route."""
    aps = []
    for ip in (SRC, DST):
        code, devices = curl(bed, "GET", f"/wm/device/?ipv4={ip}")
        assert code == 200 and len(devices) == 1, devices
        aps.append((devices[0]["attachmentPoint"][0]["switchDPID"], devices[0]["attachmentPoint"][0]["port"]))
    code, route = curl(bed, "GET", f"/wm/topology/route/{aps[0][0]}/{aps[0][1]}/{aps[1][0]}/{aps[1][1]}/json")
    assert code == 200 and len(route) == 8, route
    return [{"name": name, "Dpid": route[i]["switch"], "inPort": route[i]["port"], "outPort": route[i + 1]["port"]}
            for i in range(0, len(route), 2)]


def static_entries(hop: dict[str, Any], name: str) -> list[str]:
    """The four bodies circuitpusher.py's `curl -s -d '...'` sends for one hop, as its format strings make them."""
    dpid, inp, out = hop["Dpid"], hop["inPort"], hop["outPort"]
    ip = ('{"switch": "%s", "name":"%s", "src-ip":"%s", "dst-ip":"%s", "ether-type":"%s", "cookie":"0", '
          '"priority":"32768", "ingress-port":"%s","active":"true", "actions":"output=%s"}')
    arp = ('{"switch": "%s", "name":"%s", "ether-type":"%s", "cookie":"0", "priority":"32768", '
           '"ingress-port":"%s","active":"true", "actions":"output=%s"}')
    return [ip % (dpid, f"{dpid}.{name}.f", SRC, DST, "0x800", inp, out),
            arp % (dpid, f"{dpid}.{name}.farp", "0x806", inp, out),
            ip % (dpid, f"{dpid}.{name}.r", DST, SRC, "0x800", out, inp),
            arp % (dpid, f"{dpid}.{name}.rarp", "0x806", out, inp)]


def add_qos_policies(bed: Bed, http: Py2HttpLib, hops: list[dict[str, Any]], name: str) -> None:
    """qospath2.py --add ... --json '{"queue": "2"}': one qosmanager2 policy per hop (absolute-form POSTs)."""
    for hop in hops:
        policy = {"queue": "2", "sw": hop["Dpid"], "name": f"{name}.{hop['Dpid']}", "ip-src": SRC,
                  "ip-dst": DST, "enqueue-port": str(hop["outPort"])}
        code, answer = http.json("POST", f"{bed.base}/wm/qos/policy/json", json.dumps(policy, indent=3))
        assert code == 200 and answer["status"] == f"Trying to Policy: {name}.{hop['Dpid']}", answer
    wait_installed(bed.ctl, [f"{name}.{hop['Dpid']}" for hop in hops])


def delete_qos_policies(bed: Bed, http: Py2HttpLib, name: str) -> None:
    """qospath2.py --delete: list, then delete each policy whose name contains the path's, by policy-id."""
    code, policies = http.json("GET", f"{bed.base}/wm/qos/policy/json")
    ids = [p["policyid"] for p in policies if name in p["name"]]
    assert code == 200 and len(ids) == 4
    for pid in ids:
        code, answer = http.json("DELETE", f"{bed.base}/wm/qos/policy/json", '{"policy-id":"%s"}' % pid)
        assert code == 200 and answer["status"].startswith(f"Policy-ID: {pid} Deleted"), answer
    assert bed.ctl.request("GET", "/qos/policies")[1] == []


def test_qospath2_adds_a_2_mbit_path_h1_h4_and_deleting_frees_it(bed: Bed) -> None:
    http = Py2HttpLib(bed.ctl.rest_port)
    try:
        assert http.json("GET", f"{bed.base}/wm/qos/tool/enable/json")[0] == 200
        hops = circuit(bed, "h1h4")
        add_qos_policies(bed, http, hops, "h1h4")
        limited = iperf3(bed.h1, bed.h4, seconds=5)
        delete_qos_policies(bed, http, "h1h4")
    finally:
        http.close()
    freed = iperf3(bed.h1, bed.h4, seconds=3)
    print(f"\nqospath2 protocol, linear,4, h1 -> h4 TCP: with the path {limited.mbps:.2f} Mbit/s, "
          f"after deleting it {freed.mbps:.1f} Mbit/s")
    assert 0.85 * 2 <= limited.mbps <= 1.10 * 2, limited
    assert freed.mbps >= 20, freed


def forward_packets(bed: Bed, names: set[str]) -> dict[str, int | None]:
    """packetCount of each named static entry's flow, from /wm/core/switch/all/flow/json (by its cookie)."""
    code, listing = curl(bed, "GET", "/wm/staticflowentrypusher/list/all/json")
    assert code == 200
    cookies = {entry["cookie"]: entry_name for per_switch in listing.values()
               for entry_name, entry in per_switch.items() if entry_name in names}
    code, flows = curl(bed, "GET", "/wm/core/switch/all/flow/json")
    assert code == 200
    return {cookies[f["cookie"]]: f["packetCount"] for per_switch in flows.values() for f in per_switch
            if f["cookie"] in cookies}


def test_circuitpusher_static_flows_carry_the_circuit_qospath2_shapes_it_deleting_both_frees_it(bed: Bed) -> None:
    name = "h1h4s"
    hops = circuit(bed, name)
    for hop in hops:
        for body in static_entries(hop, name):
            assert curl(bed, "POST", "/wm/staticflowentrypusher/json", body) == (200, {"status": "Entry pushed"})
    code, flows = curl(bed, "GET", "/wm/core/switch/all/flow/json")  # circuitpusher's check (it prints it)
    names = {f"{hop['Dpid']}.{name}.f" for hop in hops}
    assert code == 200 and len(forward_packets(bed, names)) == 4
    deadline = time.monotonic() + 15
    while any(v["install"]["state"] != "installed" for v in bed.ctl.request("GET", "/qos/static-flows")[1]):
        assert time.monotonic() < deadline, bed.ctl.request("GET", "/qos/static-flows")[1]
        time.sleep(0.2)
    circuit_only = iperf3(bed.h1, bed.h4, seconds=3)
    deadline = time.monotonic() + 10  # the flow counters are polled every 2 s while someone reads them
    while not all(forward_packets(bed, names).values()):
        assert time.monotonic() < deadline, forward_packets(bed, names)
        time.sleep(0.5)
    counted = forward_packets(bed, names)
    http = Py2HttpLib(bed.ctl.rest_port)
    try:
        assert http.json("GET", f"{bed.base}/wm/qos/tool/enable/json")[0] == 200
        add_qos_policies(bed, http, hops, name)
        limited = iperf3(bed.h1, bed.h4, seconds=5)
        # qospath2.py --delete: circuitpusher --delete first (four DELETEs per hop), then the policies
        for hop in hops:
            for kind in ("f", "farp", "r", "rarp"):
                entry = f"{hop['Dpid']}.{name}.{kind}"
                body = '{"name":"%s", "switch":"%s"}' % (entry, hop["Dpid"])
                assert curl(bed, "DELETE", "/wm/staticflowentrypusher/json", body) == \
                    (200, {"status": f"Entry {entry} deleted"})
        delete_qos_policies(bed, http, name)
    finally:
        http.close()
    assert curl(bed, "GET", "/wm/staticflowentrypusher/list/all/json") == (200, {})
    freed = iperf3(bed.h1, bed.h4, seconds=3)
    print(f"\ncircuitpusher static flows + qospath2, linear,4, h1 -> h4 TCP: circuit only {circuit_only.mbps:.1f} "
          f"Mbit/s (forward entries' packets {sorted(counted.values())}), with the QoS path {limited.mbps:.2f} "
          f"Mbit/s, after deleting both {freed.mbps:.1f} Mbit/s")
    assert circuit_only.mbps >= 20, circuit_only
    assert 0.85 * 2 <= limited.mbps <= 1.10 * 2, limited
    assert freed.mbps >= 20, freed
