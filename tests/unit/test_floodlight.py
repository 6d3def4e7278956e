"""The /wm/qos protocol as Floodlight's QoS module spoke it to the seed's clients.

Request bodies and the answers the clients read are re-created from
qospusher.py / qosmanager2.py / qospath2.py (wallnerryan/floodlight,
apps/qos) and Floodlight's QoS*Resource.java: 200 and a `status` text for
everything, errors included; policies with the 18 QoSPolicy fields.
"""
from __future__ import annotations

import json
from typing import Any

import pytest
import qosapp.main.compat  # noqa: F401
from ryu.app.wsgi import WSGIApplication
from webob import Request

from qosapp.http import rest
from qosapp.http.floodlight import floodlight_int, java_ipv4
from tests.unit.serviceenv import make_service

#: the seed's two `qospusher.py add policy` bodies, byte for byte as the blog shows them
SEED_S1 = (' {"name": "Enqueue 2:2 s1", "protocol":"6","eth-type": "0x0800", "ingress-port": "1",'
           '"ip-src":"10.0.0.1", "sw": "00:00:00:00:00:00:00:01","queue":"2","enqueue-port":"2"}')
SEED_S2 = (' {"name": "Enqueue 1:2 s2", "protocol":"6","eth-type": "0x0800", "ingress-port": "1",'
           '"ip-src":"10.0.0.1", "sw": "00:00:00:00:00:00:00:02","queue":"2","enqueue-port":"1"}')
FIELDS = ["policyid", "name", "ethtype", "protocol", "ingressport", "ipdst", "ipsrc", "tos", "vlanid", "ethsrc",
          "ethdst", "tcpudpsrcport", "tcpudpdstport", "sw", "queue", "enqueueport", "service", "priority"]


class Http:
    """The clients' httpHelper.request: Content-Type application/json, a str body, read status + text."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, method: str, path: str, body: str | None = None) -> tuple[int, Any]:
        req = Request.blank(path, method=method)
        req.headers["Content-Type"] = "application/json"
        if body is not None:
            req.body = body.encode()
        resp = req.get_response(self.app)
        return resp.status_int, json.loads(resp.body)


@pytest.fixture
def fl(tmp_path):
    core = make_service(str(tmp_path), lambda dpid, ops: None, green=True)
    app = WSGIApplication()
    rest.register(app, core)
    return Http(app), core


def test_tool_enable_status_disable(fl):
    http, core = fl
    assert http("GET", "/wm/qos/tool/status/json") == (200, False)
    assert http("GET", "/wm/qos/tool/enable/json") == (200, {"status": "success", "details": "QoS Enabled"})
    assert http("GET", "/wm/qos/tool/status/json") == (200, True)
    assert http("GET", "/wm/qos/tool/disable/json") == (200, {"status": "success", "details": "QoS Disabled"})
    code, answer = http("GET", "/wm/qos/tool/reboot/json")
    assert code == 200 and answer["status"] == "failure" and answer["details"] == "Invalid Operation"
    assert answer["field"] == "op" and core.enabled is False


def test_the_seeds_two_add_policy_lines(fl):
    http, core = fl
    http("GET", "/wm/qos/tool/enable/json")
    assert http("POST", "/wm/qos/policy/json", SEED_S1) == (200, {"status": "Trying to Policy: Enqueue 2:2 s1"})
    code, answer = http("POST", "/wm/qos/policy/json", SEED_S2)
    assert code == 200 and answer["status"] == "Trying to Policy: Enqueue 1:2 s2"
    # equal ingress and enqueue ports go to the switch as OpenFlow IN_PORT
    assert core.policies["Enqueue 1:2 s2"].to_dict()["enqueue-port"] == "in_port"
    code, policies = http("GET", "/wm/qos/policy/json")
    assert code == 200 and [list(p) for p in policies] == [FIELDS, FIELDS]
    assert policies[0] == {"policyid": 1, "name": "Enqueue 2:2 s1", "ethtype": 2048, "protocol": 6,
                           "ingressport": 1, "ipdst": -1, "ipsrc": 167772161, "tos": -1, "vlanid": -1,
                           "ethsrc": None, "ethdst": None, "tcpudpsrcport": -1, "tcpudpdstport": -1,
                           "sw": "00:00:00:00:00:00:00:01", "queue": 2, "enqueueport": 2, "service": None,
                           "priority": 32767}


def test_policies_are_stored_while_disabled_and_the_text_says_so(fl):
    http, core = fl
    code, answer = http("POST", "/wm/qos/policy/json", SEED_S1)
    assert code == 200 and "QoS is disabled" in answer["status"] and "Enqueue 2:2 s1" in core.policies


def test_services_binary_and_decimal_tos(fl):
    http, core = fl
    # qospusher's usage text: "{'name': 'Express Fowarding', 'tos': '101000'}" -> binary 40
    assert http("POST", "/wm/qos/service/json", '{"name": "Express Fowarding", "tos": "101000"}') == \
        (200, {"status": "Adding Type Of Service: Express Fowarding 40"})
    assert core.services["Express Fowarding"].dscp == 40
    http("POST", "/wm/qos/service/json", '{"name": "Assured", "tos": "10"}')
    assert core.services["Assured"].dscp == 2  # Floodlight: parseInt("10", 2)
    http("POST", "/wm/qos/service/json", '{"name": "EF", "tos": "46"}')
    assert core.services["EF"].dscp == 46  # not binary: decimal
    code, services = http("GET", "/wm/qos/service/json")
    assert {s["name"]: s["tos"] for s in services} == {"Best Effort": 0, "Express Fowarding": 40, "Assured": 2,
                                                         "EF": 46}
    sid = next(s["sid"] for s in services if s["name"] == "Assured")
    # qosmanager2 --delete --type service --json '{"sid": "<sid>"}'
    assert http("DELETE", "/wm/qos/service/json", json.dumps({"sid": str(sid)})) == \
        (200, {"status": f"Type Of Service Service-ID: {sid} Deleted"})
    assert "Assured" not in core.services


def test_errors_are_200_with_floodlights_text_and_the_reason(fl):
    http, core = fl
    http("POST", "/wm/qos/service/json", '{"name": "Gold", "tos": "46"}')
    code, answer = http("POST", "/wm/qos/service/json", '{"name": "Gold", "tos": "46"}')
    assert code == 200 and answer["status"].startswith("Error!, This service already exists!")
    code, answer = http("POST", "/wm/qos/service/json", '{"name": "Big", "tos": "99"}')
    assert code == 200 and answer["status"].startswith("Error!") and "out of range" in answer["status"]
    assert answer["field"] == "dscp"
    code, answer = http("POST", "/wm/qos/policy/json", '{"name": "m", "ip-src": "10.0.0.1", "service": "Nope"}')
    assert answer["status"].startswith("Service Policy or a Queuing Policy not defined") and "Nope" in answer["status"]
    code, answer = http("POST", "/wm/qos/policy/json", "{not json")
    assert code == 200 and answer["status"].startswith("Error!") and answer["field"] == "body"
    http("POST", "/wm/qos/policy/json", SEED_S1)
    code, answer = http("POST", "/wm/qos/policy/json", SEED_S1)
    assert answer["status"].startswith("Error!, This policy already exists!")
    code, answer = http("DELETE", "/wm/qos/policy/json", '{"policy-id": "999"}')
    assert code == 200 and answer["status"].startswith("Error! Cannot delete a rule with this ID or NAME")
    assert set(core.services) == {"Best Effort", "Gold"} and list(core.policies) == ["Enqueue 2:2 s1"]


def test_qos_sdn_refusals_where_floodlight_would_lose_data(fl):
    http, core = fl
    http("POST", "/wm/qos/service/json", '{"name": "Gold", "tos": "46"}')
    http("POST", "/wm/qos/policy/json", '{"name": "mark", "ip-src": "10.0.0.1", "service": "Gold"}')
    sid = core.services["Gold"].id
    code, answer = http("DELETE", "/wm/qos/service/json", json.dumps({"sid": sid}))
    assert code == 200 and answer["status"].startswith("Error!") and "mark" in answer["status"]
    assert "Gold" in core.services
    # the same match and priority on one switch: the switch would keep one flow only
    code, answer = http("POST", "/wm/qos/policy/json",
                        '{"name": "mark2", "ip-src": "10.0.0.1", "service": "Gold"}')
    assert code == 200 and answer["status"].startswith("Error!") and "mark2" not in core.policies


def test_delete_policy_as_qosmanager2_and_qospath2_do(fl):
    http, core = fl
    http("POST", "/wm/qos/policy/json", SEED_S1)
    _, policies = http("GET", "/wm/qos/policy/json")
    pid = policies[0]["policyid"]
    assert http("DELETE", "/wm/qos/policy/json", '{"policy-id":"%s"}' % pid) == \
        (200, {"status": f"Policy-ID: {pid} Deleted (Enqueue 2:2 s1)"})
    assert core.policies == {}


def test_qospath2_policy_body(fl):
    """qospath2 adds sw, name, ip-src, ip-dst and enqueue-port to the user's JSON, indented by simplejson."""
    http, core = fl
    body = json.dumps({"queue": "2", "sw": "00:00:00:00:00:00:00:02", "name": "h1h4.00:00:00:00:00:00:00:02",
                       "ip-src": "10.0.0.1", "ip-dst": "10.0.0.4", "enqueue-port": "3"}, indent=3)
    code, answer = http("POST", "/wm/qos/policy/json", body)
    assert code == 200 and answer["status"] == "Trying to Policy: h1h4.00:00:00:00:00:00:00:02" + \
        " (stored; QoS is disabled: enable it to install)"
    _, policies = http("GET", "/wm/qos/policy/json")
    assert policies[0]["ipdst"] == 167772164 and policies[0]["ethtype"] == 2048  # implied by ip-dst


def test_policy_tos_binary_and_blank_fields(fl):
    http, core = fl
    code, answer = http("POST", "/wm/qos/policy/json",
                        '{"name": "t", "tos": "101000", "vlan-id": "", "queue": "1", "enqueue-port": "2"}')
    assert answer["status"].startswith("Trying to Policy: t"), answer
    _, policies = http("GET", "/wm/qos/policy/json")
    assert policies[0]["tos"] == 40 and policies[0]["vlanid"] == -1


@pytest.mark.parametrize("value,expected", [("101000", 40), ("10", 2), ("0", 0), ("1", 1), (10, 2), ("46", "46"),
                                            (46, 46), ("EF", "EF"), ("0x10", "0x10"), (True, True)])
def test_floodlight_int(value, expected):
    assert floodlight_int(value, "tos") == expected


def test_java_ipv4_is_a_signed_int():
    assert java_ipv4("10.0.0.1") == 167772161
    assert java_ipv4("192.168.0.1") == -1062731775
    assert java_ipv4("10.0.0.0/24") == 167772160


def test_devices_and_route_as_circuitpusher_reads_them(fl):
    """circuitpusher.py: GET /wm/device/?ipv4=, then /wm/topology/route/<dpid>/<port>/<dpid>/<port>/json."""
    http, core = fl
    for dpid in (1, 2, 3):
        core.switch_connected(dpid, 4, {1: f"s{dpid}-eth1", 2: f"s{dpid}-eth2", 3: f"s{dpid}-eth3"})
    core.link_added(1, 2, 2, 2)
    core.link_added(2, 2, 1, 2)
    core.link_added(2, 3, 3, 2)
    core.link_added(3, 2, 2, 3)
    core.packet_in(1, 1, "00:00:00:00:00:01", "ff:ff:ff:ff:ff:ff", 0x0806, "10.0.0.1")
    core.packet_in(3, 1, "00:00:00:00:00:03", "ff:ff:ff:ff:ff:ff", 0x0806, "10.0.0.3")
    code, devices = http("GET", "/wm/device/?ipv4=10.0.0.1")
    assert code == 200 and devices == [{"entityClass": "DefaultEntityClass", "mac": ["00:00:00:00:00:01"],
                                        "ipv4": ["10.0.0.1"], "vlan": [], "attachmentPoint": [
                                            {"switchDPID": "00:00:00:00:00:00:00:01", "port": 1,
                                             "errorStatus": None}]}]
    assert http("GET", "/wm/device/?ipv4=10.0.0.9") == (200, [])
    code, hops = http("GET", "/wm/topology/route/00:00:00:00:00:00:00:01/1/00:00:00:00:00:00:00:03/1/json")
    assert code == 200 and hops == [{"switch": "00:00:00:00:00:00:00:01", "port": 1},
                                    {"switch": "00:00:00:00:00:00:00:01", "port": 2},
                                    {"switch": "00:00:00:00:00:00:00:02", "port": 2},
                                    {"switch": "00:00:00:00:00:00:00:02", "port": 3},
                                    {"switch": "00:00:00:00:00:00:00:03", "port": 2},
                                    {"switch": "00:00:00:00:00:00:00:03", "port": 1}]
    code, err = http("GET", "/wm/topology/route/00:00:00:00:00:00:00:09/1/00:00:00:00:00:00:00:03/1/json")
    assert code == 404 and err["field"] == "src-dpid"
    assert http("GET", "/wm/device/?ipv4=nope")[0] == 400
