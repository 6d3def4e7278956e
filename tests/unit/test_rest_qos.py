"""Ryu's rest_qos / rest_conf_switch API with the Ryu book's request bodies (en/source/rest_qos.rst)."""
from __future__ import annotations

import json
from typing import Any

import pytest
import qosapp.main.compat  # noqa: F401
from ryu.app.wsgi import WSGIApplication
from webob import Request

from qosapp.http import rest
from tests.unit.serviceenv import make_service

S1 = "0000000000000001"
#: the book's curl -d bodies, verbatim
OVSDB_ADDR = '"tcp:127.0.0.1:6632"'
QUEUE = ('{"port_name": "s1-eth1", "type": "linux-htb", "max_rate": "1000000", "queues": '
         '[{"max_rate": "500000"}, {"min_rate": "800000"}]}')
RULE = '{"match": {"nw_dst": "10.0.0.1", "nw_proto": "UDP", "tp_dst": "5002"}, "actions":{"queue": "1"}}'
MARK = ('{"match": {"nw_dst": "172.16.20.10", "nw_proto": "UDP", "tp_dst": "5002"}, "actions":{"mark": "26"}}')
DSCP_RULE = '{"match": {"ip_dscp": "26"}, "actions":{"queue": "1"}}'


class Curl:
    """curl -X METHOD -d BODY: Content-Type application/x-www-form-urlencoded, as the book's lines send."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, method: str, path: str, body: str | None = None) -> tuple[int, Any]:
        req = Request.blank(path, method=method)
        if body is not None:
            req.body = body.encode()
            req.content_type = "application/x-www-form-urlencoded"
        resp = req.get_response(self.app)
        return resp.status_int, json.loads(resp.body) if resp.body else None


@pytest.fixture
def ryu(tmp_path):
    core = make_service(str(tmp_path), lambda dpid, ops: None, green=True)
    core.switch_connected(1, 4, {1: "s1-eth1", 2: "s1-eth2"})
    app = WSGIApplication()
    rest.register(app, core)
    return Curl(app), core


def test_the_books_per_flow_example(ryu):
    curl, core = ryu
    assert curl("PUT", f"/v1.0/conf/switches/{S1}/ovsdb_addr", OVSDB_ADDR) == (201, None)
    assert curl("GET", f"/v1.0/conf/switches/{S1}/ovsdb_addr") == (200, "tcp:127.0.0.1:6632")
    assert curl("GET", "/v1.0/conf/switches") == (200, [S1])
    assert curl("POST", f"/qos/queue/{S1}", QUEUE) == (200, [{"switch_id": S1, "command_result": {
        "result": "success", "details": {"0": {"config": {"max-rate": "500000"}},
                                         "1": {"config": {"min-rate": "800000"}}}}}])
    profile = core.queue_profiles[0]
    assert (profile.sw, profile.port, profile.max_rate) == ("00:00:00:00:00:00:00:01", "s1-eth1", 1000000)
    code, answer = curl("POST", f"/qos/rules/{S1}", RULE)
    qos_id = core.policies["rest_qos-0000000000000001-1"].id
    assert (code, answer) == (200, [{"switch_id": S1, "command_result": [
        {"result": "success", "details": f"QoS added. : qos_id={qos_id}"}]}])
    assert curl("GET", f"/qos/rules/{S1}") == (200, [{"switch_id": S1, "command_result": [{"qos": [
        {"priority": 1, "qos_id": qos_id, "dl_type": "IPv4", "nw_proto": "UDP", "nw_dst": "10.0.0.1",
         "tp_dst": 5002, "actions": [{"queue": "1"}]}]}]}])
    # the rule is a stored policy, visible natively: set_queue 1 without an enqueue port
    view = curl("GET", "/qos/policies/rest_qos-0000000000000001-1")[1]
    assert view["queue"] == 1 and view["enqueue-port"] == "any" and view["sw"] == "00:00:00:00:00:00:00:01"
    assert curl("GET", f"/qos/queue/{S1}")[1][0]["command_result"]["details"]["s1-eth1"]["1"] == \
        {"config": {"min-rate": "800000"}}
    assert curl("GET", "/qos/rules/all")[1][0]["switch_id"] == S1
    assert curl("DELETE", f"/qos/rules/{S1}", '{"qos_id": "%d"}' % qos_id) == (200, [{"switch_id": S1, "command_result": [
        {"result": "success", "details": f" deleted. : QoS ID={qos_id}"}]}])
    assert core.policies == {}
    code, answer = curl("DELETE", f"/qos/rules/{S1}", '{"qos_id": "all"}')
    assert code == 404 and answer["command_result"][0]["details"] == "QoS rule is not exist."
    assert curl("DELETE", f"/qos/queue/{S1}") == (200, [{"switch_id": S1, "command_result": "success"}])
    assert core.queue_profiles == []


def test_mark_becomes_a_service_and_dscp_matches_tos(ryu):
    curl, core = ryu
    code, answer = curl("POST", f"/qos/rules/{S1}", MARK)
    assert code == 200 and answer[0]["command_result"][0]["result"] == "success"
    policy = core.policies["rest_qos-0000000000000001-1"]
    assert core.services[policy.service].dscp == 26
    assert curl("GET", f"/qos/rules/{S1}")[1][0]["command_result"][0]["qos"][0]["actions"] == [{"mark": "26"}]
    assert curl("POST", f"/qos/rules/{S1}", DSCP_RULE)[0] == 200
    rule = curl("GET", f"/qos/rules/{S1}")[1][0]["command_result"][0]["qos"][1]
    assert rule["ip_dscp"] == 26 and rule["actions"] == [{"queue": "1"}]


def test_vlan_scoped_rules(ryu):
    curl, core = ryu
    code, answer = curl("POST", f"/qos/rules/{S1}/110", RULE)
    assert code == 200 and answer[0]["command_result"][0]["vlan_id"] == 110
    curl("POST", f"/qos/rules/{S1}", RULE.replace("5002", "5003"))
    assert core.policies["rest_qos-0000000000000001-1"].match.vlan_vid == 110
    code, answer = curl("GET", f"/qos/rules/{S1}/110")
    assert answer[0]["command_result"] == [{"vlan_id": 110, "qos": [answer[0]["command_result"][0]["qos"][0]]}]
    assert len(curl("GET", f"/qos/rules/{S1}/all")[1][0]["command_result"]) == 2
    code, answer = curl("DELETE", f"/qos/rules/{S1}/110", '{"qos_id": "all"}')
    assert code == 200 and answer[0]["command_result"][0]["vlan_id"] == 110
    assert list(core.policies) == ["rest_qos-0000000000000001-2"]


def test_refusals_name_the_field_and_change_nothing(ryu):
    curl, core = ryu
    for body, field in (('{"match": {"nw_dst": "10.0.0.300"}, "actions": {"queue": "1"}}', "ip-dst"),
                        ('{"match": {"ipv6_dst": "::1"}, "actions": {"queue": "1"}}', "match.ipv6_dst"),
                        ('{"match": {"tp_dst": "80"}, "actions": {"queue": "1"}}', "dst-port"),
                        ('{"match": {}, "actions": {"mark": "26", "queue": "1"}}', "actions"),
                        ('{"match": {}, "actions": {"mark": "99"}}', "actions.mark"),
                        ("{nope", "body")):
        code, answer = curl("POST", f"/qos/rules/{S1}", body)
        assert 400 <= code < 500 and answer["field"] == field, (body, answer)
        assert answer["command_result"][0]["result"] == "failure" and answer["switch_id"] == S1
    code, answer = curl("POST", f"/qos/queue/{S1}", '{"port_name": "s1-eth1", "max_rate": "1000000", '
                                                    '"queues": [{"max_rate": "5000000"}]}')
    assert code == 400 and "exceeds" in answer["command_result"][0]["details"] and "exceeds" in answer["error"]
    assert curl("PUT", f"/v1.0/conf/switches/{S1}/ovsdb_addr", '"nowhere"')[0] == 400
    assert core.policies == {} and core.queue_profiles == [] and set(core.services) == {"Best Effort"}
    # a mark rule refused after its service was made (same match and priority twice) takes the service back
    assert curl("POST", f"/qos/rules/{S1}", MARK)[0] == 200
    assert curl("POST", f"/qos/rules/{S1}", MARK.replace('"26"', '"18"'))[0] == 409
    assert set(core.services) == {"Best Effort", "DSCP 26"}


#: the book's meter example (its DSCP_REMARK band), and the same with the drop band qos-sdn's meters have
BOOK_METER = '{"meter_id": "1", "flags": "KBPS", "bands":[{"type":"DSCP_REMARK", "rate": "400", "prec_level": "1"}]}'
DROP_METER = BOOK_METER.replace('"DSCP_REMARK"', '"DROP"')
METER_RULE = '{"match": {"ip_dscp": "10"}, "actions":{"meter": "1"}}'


def test_the_books_meter_example_maps_onto_native_meters(ryu):
    curl, core = ryu
    code, answer = curl("POST", f"/qos/meter/{S1}", BOOK_METER)
    assert code == 501 and answer["field"] == "bands[0].type" and "DROP" in answer["command_result"][0]["details"]
    assert core.meters == {}
    code, answer = curl("POST", f"/qos/rules/{S1}", METER_RULE)  # before its meter: refused, saying why
    assert code == 409 and answer["field"] == "actions.meter" and core.policies == {}
    assert curl("POST", f"/qos/meter/{S1}", DROP_METER) == (200, [{"switch_id": S1, "command_result": [
        {"result": "success", "details": "Meter added. : Meter ID=1"}]}])
    meter = core.meters["rest_qos-0000000000000001-meter-1"]
    assert (meter.rate, meter.burst) == (400_000, 40_000)
    assert curl("POST", f"/qos/meter/{S1}", DROP_METER)[0] == 409
    assert curl("POST", f"/qos/rules/{S1}", METER_RULE)[0] == 200
    policy = core.policies["rest_qos-0000000000000001-1"]
    assert policy.meter == meter.name and policy.match.ip_dscp == 10 and policy.sw == "00:00:00:00:00:00:00:01"
    code, rules = curl("GET", f"/qos/rules/{S1}")
    assert rules[0]["command_result"][0]["qos"] == [{"priority": 1, "qos_id": policy.id, "dl_type": "IPv4",
                                                     "ip_dscp": 10, "actions": [{"meter": "1"}]}]
    code, meters = curl("GET", f"/qos/meter/{S1}")
    assert code == 200 and meters[0]["command_result"][0]["meter_id"] == 1
    assert meters[0]["command_result"][0]["flow_count"] == 1
    assert curl("DELETE", f"/qos/meter/{S1}", '{"meter_id": "1"}')[0] == 409  # a rule uses it
    assert curl("DELETE", f"/qos/rules/{S1}", '{"qos_id": "all"}')[0] == 200
    assert curl("DELETE", f"/qos/meter/{S1}", '{"meter_id": "1"}') == (200, [{"switch_id": S1, "command_result": [
        {"result": "success", "details": "Meter deleted. : Meter ID=1"}]}])
    assert core.meters == {} and curl("DELETE", f"/qos/meter/{S1}", '{"meter_id": "1"}')[0] == 404


@pytest.mark.parametrize("body, field", [
    ('{"meter_id": "0", "flags": "KBPS", "bands": [{"type": "DROP", "rate": "400"}]}', "meter_id"),
    ('{"meter_id": "1", "flags": "PKTPS", "bands": [{"type": "DROP", "rate": "400"}]}', "flags"),
    ('{"meter_id": "1", "flags": "KBPS", "bands": []}', "bands"),
    ('{"meter_id": "1", "flags": "KBPS", "bands": [{"type": "DROP", "rate": "x"}]}', "bands[0].rate"),
    ('{"meter_id": "1", "flags": "KBPS", "bands": [{"type": "BOGUS", "rate": "4"}]}', "bands[0].type"),
    ('{"meter_id": "1", "flags": "KBPS", "bands": [{"type": "DROP", "rate": "4"}], "x": 1}', "x"),
])
def test_bad_meters_are_4xx_naming_the_field(ryu, body, field):
    curl, core = ryu
    code, answer = curl("POST", f"/qos/meter/{S1}", body)
    assert code == 400 and answer["field"] == field and answer["command_result"][0]["result"] == "failure"
    assert core.meters == {}


def test_native_routes_unchanged(ryu):
    curl, _ = ryu
    assert curl("GET", "/qos/queues")[0] == 200
    code, answer = curl("GET", "/qos/rules/zzz")  # not a switch: no route's path, so 404 (not 405)
    assert code == 404 and answer["field"] == "path"
    code, answer = curl("PUT", f"/qos/rules/{S1}")  # a route's path, a method it does not take
    assert code == 405 and "GET" in answer["error"]
    assert curl("GET", "/v1.0/nothing")[0] == 404
