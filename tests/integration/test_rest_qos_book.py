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

The book's meter example (bed like the book's qos_sample_topology.py: h1-s1,
h2-s2, h3-s3, s1-s2, s1-s3): on s1 a queue per class on h1's port (1 Mbit/s;
BE 80, AF12 120, AF11 800 kbit/s guaranteed) and the book's six rules
(ip_dscp + in_port -> queue) verbatim; on s2 and s3 the book's meter
(AF11 400 kbit/s) and its rule `{"ip_dscp": "10"} -> meter 1` verbatim. The
book's meter has a DSCP_REMARK band (excess AF11 re-marked AF12): refused
with 501 and the reason (qos-sdn's meters drop; so does OVS's userspace
datapath, which refuses the band itself); the same body with "DROP" is
taken. AF11 beyond 400 kbit/s is then dropped at s3 instead of re-marked:
h3's 600 kbit/s AF11 arrives at ~400 while h2's best effort gets the rest of
h1's 1 Mbit/s (book, re-marking: AF11 600, BE 449); AF11 within the contract
(300 kbit/s) arrives whole (book: 400 sent, 384 received, 0% lost).
"""
from __future__ import annotations

import http.client
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from mininet.topo import SingleSwitchTopo, Topo

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


#: the book's meter example, its curl -d bodies verbatim
BOOK_S1_RULES = [('{"match": {"ip_dscp": "%s", "in_port": "%s"}, "actions":{"queue": "%s"}}' % (dscp, port, queue))
                 for port in (2, 3) for dscp, queue in (("0", "1"), ("10", "3"), ("12", "2"))]
BOOK_METER = ('{"meter_id": "1", "flags": "KBPS", "bands":[{"type":"DSCP_REMARK", "rate": "400", '
              '"prec_level": "1"}]}')
BOOK_METER_RULE = '{"match": {"ip_dscp": "10"}, "actions":{"meter": "1"}}'
#: s1's queues as the book's qos_sample_topology.py sets them (dpctl queue-mod 1 <q> <min per mille of 1 Mbit/s>)
S1_QUEUES = ('{"port_name": "s1-eth1", "type": "linux-htb", "max_rate": "1000000", "queues": [{"max_rate": '
             '"1000000"}, {"min_rate": "80000"}, {"min_rate": "120000"}, {"min_rate": "800000"}]}')
AF11_TOS = 0x28


class BookMeterTopo(Topo):
    """qos_sample_topology.py: h1-s1, h2-s2, h3-s3, s1-s2, s1-s3 (s1 port 2 towards s2, port 3 towards s3)."""

    def build(self) -> None:  # type: ignore[override]
        h1, h2, h3 = (self.addHost(f"h{i}") for i in (1, 2, 3))
        s1, s2, s3 = (self.addSwitch(f"s{i}") for i in (1, 2, 3))
        for a, b in ((h1, s1), (h2, s2), (h3, s3), (s1, s2), (s1, s3)):
            self.addLink(a, b)


def test_book_meter_example(private_ovs: PrivateOvs, tmp_path: Path) -> None:
    ctl = ControllerProcess(tmp_path / "state", ovsdb=private_ovs.db_remote).start()
    net = None
    try:
        net = start_network(BookMeterTopo(), controller=("127.0.0.1", ctl.ofp_port), protocols="OpenFlow13",
                            wait_connected=30)
        port = ctl.rest_port
        s1, s2, s3 = (f"{i:016x}" for i in (1, 2, 3))
        assert curl(port, "POST", f"/qos/queue/{s1}", S1_QUEUES)[0] == 200
        wait_queues_applied(ctl, timeout=60)
        for rule in BOOK_S1_RULES:
            code, answer = curl(port, "POST", f"/qos/rules/{s1}", rule)
            assert code == 200 and answer[0]["command_result"][0]["result"] == "success", answer
        for sw in (s2, s3):
            code, answer = curl(port, "POST", f"/qos/meter/{sw}", BOOK_METER)  # verbatim: a DSCP_REMARK band
            assert code == 501 and answer["field"] == "bands[0].type", answer
            assert "DROP" in answer["command_result"][0]["details"], answer
            assert curl(port, "POST", f"/qos/meter/{sw}", BOOK_METER.replace("DSCP_REMARK", "DROP")) == \
                (200, [{"switch_id": sw, "command_result": [{"result": "success",
                                                             "details": "Meter added. : Meter ID=1"}]}])
            code, answer = curl(port, "POST", f"/qos/rules/{sw}", BOOK_METER_RULE)
            assert code == 200 and answer[0]["command_result"][0]["result"] == "success", answer
            code, rules = curl(port, "GET", f"/qos/rules/{sw}")
            rule = rules[0]["command_result"][0]["qos"][0]
            assert (rule["dl_type"], rule["ip_dscp"], rule["actions"]) == ("IPv4", 10, [{"meter": "1"}]), rules
        # OVS's own answer to the book's band, on this bed: the userspace datapath has drop bands only
        refused = net.get("s2").cmd("ovs-ofctl -O OpenFlow13 add-meter s2 "
                                    "meter=9,kbps,band=type=dscp_remark,rate=400,prec_level=1 2>&1")
        deadline = time.monotonic() + 15
        while not all(s["state"] == "installed" for p in ctl.request("GET", "/qos/policies")[1]
                      for s in p["install"].values()):
            assert time.monotonic() < deadline, ctl.request("GET", "/qos/policies")[1]
            time.sleep(0.2)
        h1, h2, h3 = net.get("h1", "h2", "h3")
        wait_reachable([h1, h2, h3])
        results: dict[str, IperfResult] = {}

        def run(label: str, client: Any, dst_port: int, rate: str, tos: int | None) -> None:
            results[label] = iperf3(client, h1, seconds=6, port=dst_port, udp=True, bitrate=rate, tos=tos)

        threads = [threading.Thread(target=run, args=("BE", h2, 5001, "800K", None)),
                   threading.Thread(target=run, args=("AF11", h3, 5002, "600K", AF11_TOS))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(40)
        within = iperf3(h3, h1, seconds=5, port=5003, udp=True, bitrate="300K", tos=AF11_TOS)
        meters = curl(port, "GET", f"/qos/meter/{s3}")[1][0]["command_result"]
        print(f"\nbook meter example (drop band), UDP to h1: h2 BE 800 kbit/s -> {results['BE'].mbps * 1000:.0f}, "
              f"h3 AF11 600 kbit/s -> {results['AF11'].mbps * 1000:.0f} kbit/s at once; AF11 300 kbit/s alone -> "
              f"{within.mbps * 1000:.0f} kbit/s ({within.lost_percent:.1f}% lost); s3 meter {meters} "
              f"(book, re-marking: BE 449, AF11 600; 400 sent -> 384, 0% lost); OVS on dscp_remark: {refused.strip()}")
        assert 0.85 * 0.4 <= results["AF11"].mbps <= 1.10 * 0.4, results  # the meter's 400 kbit/s
        assert results["BE"].mbps >= 0.3, results  # best effort gets the rest of h1's port
        assert results["BE"].mbps + results["AF11"].mbps <= 1.1, results  # h1's 1 Mbit/s
        assert within.mbps >= 0.9 * 0.3 and within.lost_percent <= 5, within  # within the contract: not dropped
        assert meters and meters[0]["band_stats"][0]["packet_band_count"] > 0, meters
        assert "error" in refused.lower() or "unsupported" in refused.lower() or "bad" in refused.lower(), refused
    finally:
        if net is not None:
            stop_network(net)
        ctl.stop()
