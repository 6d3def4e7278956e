"""qospath2.py's protocol (with circuitpusher.py and qosmanager2.py) on Mininet linear,4.

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
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.test_floodlight_clients import Py2HttpLib
from topologies.controller import ControllerProcess
from topologies.experiment import SEED_QUEUES, wait_installed, wait_queues_applied
from topologies.network import start_network, stop_network
from topologies.ovsenv import PrivateOvs
from topologies.traffic import iperf3, wait_reachable

pytestmark = pytest.mark.integration


def test_qospath2_adds_a_2_mbit_path_h1_h4_and_deleting_frees_it(private_ovs: PrivateOvs, tmp_path: Path) -> None:
    ctl = ControllerProcess(tmp_path / "state", ovsdb=private_ovs.db_remote).start()
    net = None
    try:
        net = start_network("linear,4", controller=("127.0.0.1", ctl.ofp_port), protocols="OpenFlow13",
                            wait_connected=30)
        assert ctl.request("POST", "/qos/queues", SEED_QUEUES)[0] == 201
        wait_queues_applied(ctl, timeout=60)
        h1, h4 = net.get("h1", "h4")
        wait_reachable(net.hosts)  # circuitpusher: "the end points must already be known" (a ping)
        base = f"http://127.0.0.1:{ctl.rest_port}"
        http = Py2HttpLib(ctl.rest_port)
        try:
            assert http.json("GET", f"{base}/wm/qos/tool/enable/json")[0] == 200
            # circuitpusher.py --controller=127.0.0.1:PORT --type ip --src 10.0.0.1 --dst 10.0.0.4 --add --name h1h4
            aps = []
            for ip in ("10.0.0.1", "10.0.0.4"):
                code, devices = ctl.request("GET", f"/wm/device/?ipv4={ip}")
                assert code == 200 and len(devices) == 1, devices
                aps.append((devices[0]["attachmentPoint"][0]["switchDPID"], devices[0]["attachmentPoint"][0]["port"]))
            code, route = ctl.request("GET", f"/wm/topology/route/{aps[0][0]}/{aps[0][1]}/{aps[1][0]}/{aps[1][1]}/json")
            assert code == 200 and len(route) == 8, route
            circuit = [{"name": "h1h4", "Dpid": route[i]["switch"], "inPort": route[i]["port"],
                        "outPort": route[i + 1]["port"]} for i in range(0, len(route), 2)]
            # qospath2.py --add --name h1h4 --src-ip 10.0.0.1 --dest-ip 10.0.0.4 --json '{"queue": "2"}'
            for hop in circuit:
                policy = {"queue": "2", "sw": hop["Dpid"], "name": f"h1h4.{hop['Dpid']}", "ip-src": "10.0.0.1",
                          "ip-dst": "10.0.0.4", "enqueue-port": str(hop["outPort"])}
                code, answer = http.json("POST", f"{base}/wm/qos/policy/json", json.dumps(policy, indent=3))
                assert code == 200 and answer["status"] == f"Trying to Policy: h1h4.{hop['Dpid']}", answer
            wait_installed(ctl, [f"h1h4.{hop['Dpid']}" for hop in circuit])
            limited = iperf3(h1, h4, seconds=5)
            # qospath2.py --delete --name h1h4: list, then delete each "<path>." policy by its policy-id
            code, policies = http.json("GET", f"{base}/wm/qos/policy/json")
            ids = [p["policyid"] for p in policies if "h1h4" in p["name"]]
            assert len(ids) == 4
            for pid in ids:
                code, answer = http.json("DELETE", f"{base}/wm/qos/policy/json", '{"policy-id":"%s"}' % pid)
                assert code == 200 and answer["status"].startswith(f"Policy-ID: {pid} Deleted"), answer
            assert ctl.request("GET", "/qos/policies")[1] == []
        finally:
            http.close()
        freed = iperf3(h1, h4, seconds=3)
        print(f"\nqospath2 protocol, linear,4, h1 -> h4 TCP: with the path {limited.mbps:.2f} Mbit/s, "
              f"after deleting it {freed.mbps:.1f} Mbit/s")
        assert 0.85 * 2 <= limited.mbps <= 1.10 * 2, limited
        assert freed.mbps >= 20, freed
    finally:
        if net is not None:
            stop_network(net)
        ctl.stop()
