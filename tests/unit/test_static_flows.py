"""Static flow entries: Floodlight's static flow pusher protocol, stored, compiled per switch, re-installed.

The request bodies are circuitpusher.py's (wallnerryan/floodlight,
apps/circuitpusher), field names and action syntax Floodlight's
`StaticFlowEntries` parser; the answers are what its clients read.
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import qosapp.main.compat  # noqa: F401
from ryu.app.wsgi import WSGIApplication
from ryu.ofproto import ofproto_v1_0, ofproto_v1_0_parser, ofproto_v1_3, ofproto_v1_3_parser

from qosapp.core.compiler import OF10, OF13, FlowSpec
from qosapp.core.converge import Held, diff
from qosapp.core.cookies import counted, static_cookie, static_id_of
from qosapp.core.model import ValidationError
from qosapp.core.staticflows import compile_static, parse_static_flow
from qosapp.core.storeapi import read_tables
from qosapp.http import rest
from qosapp.ofp import ofmsgs
from tests.unit.fakeoftable import FakeSwitches
from tests.unit.serviceenv import make_service
from tests.unit.test_floodlight import Http

DPID1 = "00:00:00:00:00:00:00:01"
PORTS = {1: "s1-eth1", 2: "s1-eth2", 3: "s1-eth3"}


def circuit_body(kind: str, name: str = "h1h4") -> str:
    """circuitpusher.py's four curl -d bodies for switch 1 (in port 1, out port 2), verbatim in form."""
    if kind == "f":
        return ('{"switch": "%s", "name":"%s", "src-ip":"10.0.0.1", "dst-ip":"10.0.0.4", "ether-type":"0x800", '
                '"cookie":"0", "priority":"32768", "ingress-port":"1","active":"true", "actions":"output=2"}'
                % (DPID1, f"{DPID1}.{name}.f"))
    if kind == "farp":
        return ('{"switch": "%s", "name":"%s", "ether-type":"0x806", "cookie":"0", "priority":"32768", '
                '"ingress-port":"1","active":"true", "actions":"output=2"}' % (DPID1, f"{DPID1}.{name}.farp"))
    if kind == "r":
        return ('{"switch": "%s", "name":"%s", "src-ip":"10.0.0.4", "dst-ip":"10.0.0.1", "ether-type":"0x800", '
                '"cookie":"0", "priority":"32768", "ingress-port":"2","active":"true", "actions":"output=1"}'
                % (DPID1, f"{DPID1}.{name}.r"))
    return ('{"switch": "%s", "name":"%s", "ether-type":"0x806", "cookie":"0", "priority":"32768", '
            '"ingress-port":"2","active":"true", "actions":"output=1"}' % (DPID1, f"{DPID1}.{name}.rarp"))


@pytest.fixture
def env(tmp_path: Path):
    switches = FakeSwitches()
    core = make_service(str(tmp_path), send=switches, green=True)
    app = WSGIApplication()
    rest.register(app, core)
    return Http(app), core, switches


# ---------------------------------------------------------------- the model
def test_parse_circuitpusher_forward_entry() -> None:
    flow = parse_static_flow(json.loads(circuit_body("f")))
    assert (flow.name, flow.dpid, flow.priority, flow.active, flow.user_cookie) == (f"{DPID1}.h1h4.f", 1, 32768,
                                                                                    True, 0)
    assert flow.match.items() == [("in_port", 1), ("eth_type", 0x800), ("ipv4_src", "10.0.0.1"),
                                  ("ipv4_dst", "10.0.0.4")]
    assert flow.actions == (("output", 2),)
    assert parse_static_flow(flow.to_dict()) == flow  # the stored form reads back to the same entry


def test_actions_in_floodlight_syntax_compile_for_each_version() -> None:
    flow = replace(parse_static_flow({"switch": "1", "name": "a", "protocol": "6", "src-ip": "10.0.0.0/8",
                                      "vlan-id": "7", "actions": "enqueue=2:1,set-tos-bits=0xb8,"
                                      "set-dst-port=8080,set-src-mac=00:00:00:00:00:0A,output=flood"}), id=5)
    of13 = compile_static(flow, OF13)
    assert of13.table_id == 1 and of13.cookie == static_cookie(5)
    assert of13.actions == (("set_queue", 1), ("output", 2), ("set_field", "ip_dscp", 46),
                            ("set_field", "tcp_dst", 8080), ("set_field", "eth_src", "00:00:00:00:00:0a"),
                            ("output", "FLOOD"))
    of10 = compile_static(flow, OF10)
    assert of10.table_id == 0
    assert of10.actions == (("enqueue", 2, 1), ("set_nw_tos", 0xb8), ("set_tp_dst", 8080),
                            ("set_eth_src", "00:00:00:00:00:0a"), ("output", "FLOOD"))
    # both encode to wire messages (OF1.0 through Ryu's parser, OF1.3 packed or through Ryu)
    for ofp, parser, spec in ((ofproto_v1_0, ofproto_v1_0_parser, of10), (ofproto_v1_3, ofproto_v1_3_parser, of13)):
        datapath = FakeDatapath(ofp, parser)
        assert len(ofmsgs.to_bytes(datapath, spec, 7)) > 0


def test_vlan_actions_on_openflow_13_push_a_tag_when_the_match_has_none() -> None:
    flow = replace(parse_static_flow({"switch": "1", "name": "v", "actions": "set-vlan-id=5,output=2"}), id=1)
    assert compile_static(flow, OF13).actions == (("push_vlan", 0x8100), ("set_field", "vlan_vid", 5),
                                                  ("output", 2))
    tagged = replace(parse_static_flow({"switch": "1", "name": "v", "vlan-id": "3", "vlan-priority": "2",
                                        "actions": "strip-vlan,output=2"}), id=1)
    assert compile_static(tagged, OF13).actions == (("pop_vlan",), ("output", 2))
    assert ("vlan_pcp", 2) in compile_static(tagged, OF13).match
    datapath = FakeDatapath(ofproto_v1_3, ofproto_v1_3_parser)
    assert ofmsgs.to_bytes(datapath, compile_static(flow, OF13), 1)
    assert ofmsgs.to_bytes(FakeDatapath(ofproto_v1_0, ofproto_v1_0_parser), compile_static(tagged, OF10), 1)


@pytest.mark.parametrize("body, field", [
    ({"name": "a"}, "switch"),
    ({"switch": "1"}, "name"),
    ({"switch": "nope", "name": "a"}, "switch"),
    ({"switch": "1", "name": "a", "actions": "outptu=2"}, "actions"),
    ({"switch": "1", "name": "a", "actions": "output=two"}, "actions"),
    ({"switch": "1", "name": "a", "actions": "enqueue=2"}, "actions"),
    ({"switch": "1", "name": "a", "actions": "set-src-ip=10.0.0.1"}, "actions"),
    ({"switch": "1", "name": "a", "ether-type": "0x800", "actions": "set-dst-port=80"}, "actions"),
    ({"switch": "1", "name": "a", "ether-type": "0x806", "src-ip": "10.0.0.1"}, "ether-type"),
    ({"switch": "1", "name": "a", "src-port": "80"}, "src-port"),
    ({"switch": "1", "name": "a", "vlan-priority": "3"}, "vlan-priority"),
    ({"switch": "1", "name": "a", "priority": "70000"}, "priority"),
    ({"switch": "1", "name": "a", "active": "maybe"}, "active"),
    ({"switch": "1", "name": "a", "wildcards": "0"}, "wildcards"),
])
def test_bad_entries_name_the_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse_static_flow(body)
    assert err.value.field == field and err.value.status == 400


def test_static_cookie_space_is_its_own_and_counted() -> None:
    cookie = static_cookie(9)
    assert static_id_of(cookie) == 9 and counted(cookie)
    from qosapp.core.cookies import path_id_of, policy_id_of
    assert policy_id_of(cookie) is None and path_id_of(cookie) is None


# ---------------------------------------------------------------- the Floodlight routes
def test_circuitpusher_add_list_switch_flows_delete(env) -> None:
    http, core, switches = env
    core.switch_connected(1, OF13, PORTS)
    for kind in ("f", "farp", "r", "rarp"):
        assert http("POST", "/wm/staticflowentrypusher/json", circuit_body(kind)) == (200, {"status": "Entry pushed"})
    held = {f.cookie: f for f in switches.holding(1)}
    flows = core.static_flows_of(1)
    assert [f.name for f in flows] == [f"{DPID1}.h1h4.{k}" for k in ("f", "farp", "r", "rarp")]
    for flow in flows:
        assert held[flow.cookie] == compile_static(flow, OF13)
    code, listing = http("GET", "/wm/staticflowentrypusher/list/all/json")
    assert code == 200 and list(listing) == [DPID1] and len(listing[DPID1]) == 4
    forward = listing[DPID1][f"{DPID1}.h1h4.f"]
    assert forward["match"]["inputPort"] == 1 and forward["match"]["networkSource"] == "10.0.0.1"
    assert forward["match"]["dataLayerType"] == "0x0800" and forward["priority"] == 32768
    assert forward["actions"] == [{"type": "OUTPUT", "port": 2, "maxLength": 32767}]
    code, switch_flows = http("GET", "/wm/core/switch/all/flow/json")
    assert code == 200 and {f["cookie"] for f in switch_flows[DPID1]} >= {f.cookie for f in flows}
    assert http("GET", f"/wm/core/switch/{DPID1}/flow/json")[1] == switch_flows
    code, view = http("GET", f"/qos/static-flows/{DPID1}.h1h4.f")
    assert code == 200 and view["install"]["state"] == "pending" and view["switch-cookie"] == hex(flows[0].cookie)
    # circuitpusher --delete: one DELETE per entry, with name and switch
    for kind in ("f", "farp", "r", "rarp"):
        name = f"{DPID1}.h1h4.{kind}"
        assert http("DELETE", "/wm/staticflowentrypusher/json", json.dumps({"name": name, "switch": DPID1})) == \
            (200, {"status": f"Entry {name} deleted"})
    assert switches.holding(1) and not any(static_id_of(f.cookie) for f in switches.holding(1))
    assert http("GET", "/wm/staticflowentrypusher/list/all/json") == (200, {})


def test_refusals_are_4xx_with_status_field_and_reason_store_unchanged(env) -> None:
    http, core, _ = env
    code, answer = http("POST", "/wm/staticflowentrypusher/json", '{"switch": "1", "name": "x", "actions": "jump"}')
    assert code == 400 and answer["field"] == "actions" and answer["status"].startswith("Error! actions: ")
    code, answer = http("DELETE", "/wm/staticflowentrypusher/json", '{"switch": "1"}')
    assert code == 400 and answer["field"] == "name"
    code, answer = http("DELETE", "/wm/staticflowentrypusher/json", '{"name": "ghost"}')
    assert code == 404 and "ghost" in answer["status"]
    assert http("POST", "/wm/staticflowentrypusher/json", circuit_body("f"))[0] == 200
    code, answer = http("DELETE", "/wm/staticflowentrypusher/json",
                        json.dumps({"name": f"{DPID1}.h1h4.f", "switch": "00:00:00:00:00:00:00:02"}))
    assert code == 404 and answer["field"] == "switch"
    # another name with the same switch, match and priority would overwrite the flow on the switch
    clash = json.loads(circuit_body("f"))
    clash["name"] = "copy"
    code, answer = http("POST", "/wm/staticflowentrypusher/json", json.dumps(clash))
    assert code == 409 and answer["field"] == "priority"
    code, answer = http("GET", "/wm/staticflowentrypusher/list/zz/json")
    assert code == 400 and answer["field"] == "switch"
    assert [f.name for f in core.static_flows_of(None)] == [f"{DPID1}.h1h4.f"]
    assert [name for _, name, _ in core.store.static_flows()] == [f"{DPID1}.h1h4.f"]


def test_same_name_replaces_the_entry_and_its_flow(env) -> None:
    http, core, switches = env
    core.switch_connected(1, OF10, PORTS)
    switches.version_of = lambda dpid: OF10
    switches.tables.clear()
    core.switch_connected(1, OF10, PORTS)
    assert http("POST", "/wm/staticflowentrypusher/json", circuit_body("f"))[0] == 200
    moved = json.loads(circuit_body("f"))
    moved["actions"] = "output=3"
    moved["priority"] = "100"
    assert http("POST", "/qos/static-flows", json.dumps(moved))[0] == 200  # replaced: 200, not 201
    flow = core.get_static_flow(f"{DPID1}.h1h4.f")
    mine = switches.holding(1, flow.cookie)
    assert mine == {compile_static(flow, OF10)} and flow.actions == (("output", 3),)
    assert len(core.store.static_flows()) == 1


def test_stored_entries_survive_a_restart_and_a_reconnect_reinstalls_them(tmp_path: Path) -> None:
    switches = FakeSwitches()
    core = make_service(str(tmp_path), send=switches)
    core.push_static_flow(json.loads(circuit_body("f")))
    core.push_static_flow({**json.loads(circuit_body("r")), "active": "false"})
    assert switches.holding(1) == set()  # not connected: stored only
    core.core.store.close()
    again = make_service(str(tmp_path), send=switches)
    assert sorted(again.static_flows) == [f"{DPID1}.h1h4.f", f"{DPID1}.h1h4.r"]
    again.switch_connected(1, OF13, PORTS)
    forward = again.get_static_flow(f"{DPID1}.h1h4.f")
    assert switches.holding(1, forward.cookie) == {compile_static(forward, OF13)}
    assert switches.holding(1, again.get_static_flow(f"{DPID1}.h1h4.r").cookie) == set()  # inactive
    view = again.static_view(again.get_static_flow(f"{DPID1}.h1h4.r"))
    assert view["install"]["state"] == "not-installed" and "inactive" in view["install"]["reason"]
    again.switch_connected(1, OF13, PORTS)  # a reconnect: cold start wipes and puts it back
    assert switches.holding(1, forward.cookie) == {compile_static(forward, OF13)}


def test_clear_by_switch_and_all(env) -> None:
    http, core, _ = env
    for kind in ("f", "r"):
        http("POST", "/wm/staticflowentrypusher/json", circuit_body(kind))
    other = {"switch": "2", "name": "s2.x", "ether-type": "0x806", "actions": "output=1"}
    http("POST", "/wm/staticflowentrypusher/json", json.dumps(other))
    code, answer = http("GET", f"/wm/staticflowentrypusher/clear/{DPID1}/json")
    assert code == 200 and sorted(answer["deleted"]) == [f"{DPID1}.h1h4.f", f"{DPID1}.h1h4.r"]
    assert [f.name for f in core.static_flows_of(None)] == ["s2.x"]
    assert http("GET", "/wm/staticflowentrypusher/clear/all/json")[1]["deleted"] == ["s2.x"]
    assert core.store.static_flows() == []


def test_enqueue_entry_gets_a_tc_filter_on_its_port_even_with_qos_disabled(tmp_path: Path) -> None:
    core = make_service(str(tmp_path), send=FakeSwitches())
    core.core.shaping.managed = True
    core.switch_connected(1, OF13, PORTS)
    core.core.queue_exists = lambda dpid, port, queue: True  # as OVSDB reports once a profile gives port 2 queue 1
    flow, _ = core.push_static_flow({"switch": DPID1, "name": "q", "ether-type": "0x800", "src-ip": "10.0.0.1",
                                     "actions": "enqueue=2:1"})
    wanted = core.wanted_filters()
    assert list(wanted) == [(1, "s1-eth2")]
    assert [(f.queue, f.match) for f in wanted[(1, "s1-eth2")]] == [(1, flow.match)]


def test_converge_takes_static_entries_written_elsewhere(tmp_path: Path) -> None:
    a = make_service(str(tmp_path), forwarding="normal")
    switches = FakeSwitches()
    b = make_service(str(tmp_path), send=switches, forwarding="normal")
    b.switch_connected(1, OF13, PORTS)
    a.push_static_flow(json.loads(circuit_body("f")))
    assert b.converge(lambda: read_tables(b.core.store))
    flow = b.get_static_flow(f"{DPID1}.h1h4.f")
    assert switches.holding(1, flow.cookie) == {compile_static(flow, OF13)}
    assert not b.converge(lambda: read_tables(b.core.store))  # nothing more
    a.delete_static_flows([flow.name])
    assert b.converge(lambda: read_tables(b.core.store))
    assert switches.holding(1, flow.cookie) == set() and not b.static_flows
    assert diff(read_tables(a.core.store), Held(services={"Best Effort": (1, 0)})).static_added == []


class FakeDatapath:
    """What `ofmsgs.to_bytes` reads of a Ryu datapath."""

    def __init__(self, ofp: Any, parser: Any) -> None:
        self.ofproto, self.ofproto_parser = ofp, parser
        self.xid = 0

    def set_xid(self, msg: Any) -> None:  # pragma: no cover - Ryu calls it only on send
        msg.set_xid(1)


def test_flow_spec_of_static_entry_is_a_plain_flowspec() -> None:
    flow = replace(parse_static_flow(json.loads(circuit_body("farp"))), id=2)
    assert isinstance(compile_static(flow, OF13), FlowSpec)
