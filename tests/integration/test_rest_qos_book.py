"""The Ryu book's QoS chapter, per-flow example, against a real qos-controller on Mininet.

Bed like the book's (`mn --mac --switch ovsk --controller remote`: one
switch s1, h1 on s1-eth1, h2 on s1-eth2, OpenFlow 1.3, here the userspace
datapath). Its curl bodies, verbatim, sent with http.client as curl -d sends
them (form Content-Type): ovsdb_addr, the queue on s1-eth1 (port 1 Mbit/s,
q0 max 500 kbit/s, q1 min 800 kbit/s), the rule nw_dst 10.0.0.1 UDP
tp_dst 5002 -> queue 1. Then the book's iperf: h2 sends 1 Mbit/s UDP to
h1:5001 and h1:5002 at once; 5001 (queue 0) is held to ~500 kbit/s, 5002
(queue 1) gets its guaranteed ~800+ kbit/s. The book saw 482 and 929 kbit/s
(5001 alone, 5002 while 5001 ran: 35 kbit/s).
"""
from __future__ import annotations

import http.client
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from mininet.topo import SingleSwitchTopo

from topologies.controller import ControllerProcess
from topologies.experiment import wait_queues_applied
from topologies.network import start_network, stop_network
from topologies.ovsenv import PrivateOvs
from topologies.traffic import IperfResult, iperf3, wait_reachable

pytestmark = pytest.mark.integration

DPID = "0000000000000001"
BOOK_OVSDB_ADDR = '"tcp:127.0.0.1:6632"'
BOOK_QUEUE = ('{"port_name": "s1-eth1", "type": "linux-htb", "max_rate": "1000000", "queues": '
              '[{"max_rate": "500000"}, {"min_rate": "800000"}]}')
BOOK_RULE = '{"match": {"nw_dst": "10.0.0.1", "nw_proto": "UDP", "tp_dst": "5002"}, "actions":{"queue": "1"}}'


def curl(port: int, method: str, path: str, body: str | None = None) -> tuple[int, Any]:
    """curl -X METHOD -d BODY http://localhost:PORT/PATH (curl -d's Content-Type)."""
    conn = http.client.HTTPConnection("localhost", port, timeout=10)
    try:
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, json.loads(raw) if raw else None
    finally:
        conn.close()


def test_book_per_flow_example(private_ovs: PrivateOvs, tmp_path: Path) -> None:
    ctl = ControllerProcess(tmp_path / "state", ovsdb=private_ovs.db_remote).start()
    net = None
    try:
        net = start_network(SingleSwitchTopo(k=2), controller=("127.0.0.1", ctl.ofp_port), protocols="OpenFlow13",
                            wait_connected=30)
        port = ctl.rest_port
        assert curl(port, "PUT", f"/v1.0/conf/switches/{DPID}/ovsdb_addr", BOOK_OVSDB_ADDR) == (201, None)
        code, answer = curl(port, "POST", f"/qos/queue/{DPID}", BOOK_QUEUE)
        assert code == 200 and answer == [{"switch_id": DPID, "command_result": {"result": "success", "details": {
            "0": {"config": {"max-rate": "500000"}}, "1": {"config": {"min-rate": "800000"}}}}}], answer
        wait_queues_applied(ctl, timeout=60)
        code, answer = curl(port, "POST", f"/qos/rules/{DPID}", BOOK_RULE)
        assert code == 200 and answer[0]["command_result"][0]["details"].startswith("QoS added. : qos_id="), answer
        code, rules = curl(port, "GET", f"/qos/rules/{DPID}")
        rule = rules[0]["command_result"][0]["qos"][0]
        assert (rule["nw_dst"], rule["nw_proto"], rule["tp_dst"], rule["actions"]) == \
            ("10.0.0.1", "UDP", 5002, [{"queue": "1"}])
        # the rule is a durable policy the switch confirmed
        policies = ctl.request("GET", "/qos/policies")[1]
        assert [p["install"] for p in policies] == [{"00:00:00:00:00:00:00:01": {"state": "installed"}}] or \
            all(s["state"] == "installed" for p in policies for s in p["install"].values()), policies
        h1, h2 = net.get("h1", "h2")
        wait_reachable([h1, h2])

        alone = iperf3(h2, h1, seconds=5, port=5001, udp=True, bitrate="1M")
        results: dict[int, IperfResult] = {}

        def run(dst_port: int) -> None:
            results[dst_port] = iperf3(h2, h1, seconds=6, port=dst_port, udp=True, bitrate="1M")

        threads = [threading.Thread(target=run, args=(p,)) for p in (5001, 5002)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(40)
        print(f"\nbook per-flow example, h2 -> h1 UDP 1 Mbit/s each: 5001 alone {alone.mbps * 1000:.0f} kbit/s; "
              f"together 5001 {results[5001].mbps * 1000:.0f} kbit/s, 5002 {results[5002].mbps * 1000:.0f} kbit/s "
              "(book: 482 alone; 35 and 929 together)")
        evidence = (f"\nflows: {net.get('s1').cmd('ovs-ofctl -O OpenFlow13 dump-flows s1')}"
                    f"\ntc: {net.get('s1').cmd('tc -s class show dev s1-eth1; tc -s qdisc show dev s1-eth1')}")
        assert alone.mbps <= 0.55, (alone, evidence)  # queue 0: max 500 kbit/s
        assert results[5002].mbps >= 0.75, (results, evidence)  # queue 1: min 800 kbit/s
        assert results[5001].mbps <= 0.55, (results, evidence)
        assert results[5001].mbps + results[5002].mbps <= 1.1, results  # the port's 1 Mbit/s
    finally:
        if net is not None:
            stop_network(net)
        ctl.stop()
