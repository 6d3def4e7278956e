"""Meters (OpenFlow 1.3 policers): validation, per-switch ids, compiled meter_mods and flows, errors, REST.

The core runs over a real SQLite store with a fake switch table that
behaves like OVS for meters (an ADD of an existing id fails, OpenFlow 1.0
has none), so the tests assert what each switch ends up holding.
"""
from __future__ import annotations

import struct
from pathlib import Path
from typing import Any
from dataclasses import replace

import pytest

import qosapp.main.compat  # noqa: F401
from ryu.ofproto import ofproto_v1_3, ofproto_v1_3_parser

from qosapp.core import compiler, cookies
from qosapp.core.compiler import OF10, OF13, FlowSpec
from qosapp.core.meters import WIPE_METERS, Meter, MeterMod, MeterTable, meter_add, meter_delete, parse_meter
from qosapp.core.model import ValidationError, parse_policy
from qosapp.ofp import ofmsgs, ofwire
from qosapp.service import QosService
from tests.unit.fakeoftable import FakeSwitches
from tests.unit.serviceenv import make_service

CAP = {"name": "cap-2M", "rate": "2M", "burst": "256k"}
POLICE = {"name": "police h1", "ip-src": "10.0.0.1", "meter": "cap-2M"}
S1 = "00:00:00:00:00:00:00:01"


# ---------------------------------------------------------------- model
def test_meter_parses_rates_and_burst() -> None:
    assert parse_meter(CAP) == Meter(name="cap-2M", rate=2_000_000, burst=256_000)
    assert parse_meter({"name": "m", "rate": 5_000_000}).burst == 500_000  # 100 ms of the rate
    assert parse_meter({"name": "m", "rate": " 1G ", "burst": "0010k"}) == Meter("m", 10**9, 10_000)
    assert parse_meter({"name": "m", "rate": 2e6}).rate == 2_000_000


@pytest.mark.parametrize("body, field, words", [
    ({"rate": "2M"}, "name", "non-empty"),
    ({"name": "m"}, "rate", "required"),
    ({"name": "m", "rate": "fast"}, "rate", "whole bits"),
    ({"name": "m", "rate": "2.5M"}, "rate", "whole bits"),
    ({"name": "m", "rate": 1500}, "rate", "whole number of kbit"),
    ({"name": "m", "rate": 999}, "rate", "out of range"),
    ({"name": "m", "rate": 10**13}, "rate", "out of range"),
    ({"name": "m", "rate": True}, "rate", "integer"),
    ({"name": "m", "rate": "2M", "burst": "1500"}, "burst", "kbit"),
    ({"name": "m", "rate": "2M", "bands": []}, "bands", "unknown key"),
    ([], "body", "JSON object"),
])
def test_bad_meters_name_field_and_reason(body: Any, field: str, words: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse_meter(body)
    assert err.value.field == field and words in err.value.reason and err.value.status == 400


def test_policy_takes_a_meter_alone_or_with_queue_or_service() -> None:
    meters = {"cap-2M": 1}
    assert parse_policy(POLICE, meters=meters).meter == "cap-2M"
    assert parse_policy({**POLICE, "queue": 1, "enqueue-port": 2}, meters=meters).queue == 1
    marked = parse_policy({**POLICE, "service": "EF"}, {"EF": 46}, meters)
    assert (marked.meter, marked.service, marked.action) == ("cap-2M", "EF", "service")
    assert parse_policy(POLICE, meters=meters).to_dict()["meter"] == "cap-2M"
    with pytest.raises(ValidationError) as err:
        parse_policy({**POLICE, "meter": "nope"}, meters=meters)
    assert (err.value.field, err.value.status) == ("meter", 409) and "unknown meter 'nope'" in err.value.reason
    with pytest.raises(ValidationError) as err:
        parse_policy({**POLICE, "enqueue-port": 2}, meters=meters)
    assert err.value.field == "enqueue-port"


def test_meter_table_gives_lowest_free_id_per_switch() -> None:
    table = MeterTable()
    assert [table.allocate(1, n) for n in "abc"] == [1, 2, 3]
    assert table.allocate(2, "c") == 1 and table.allocate(1, "a") == 1
    assert table.free(1, "b") == 2 and table.allocate(1, "d") == 2
    assert table.name_of(1, 3) == "c" and table.switches_of("c") == [1, 2]
    table.forget_switch(1)
    assert table.ids(1) == {} and table.switches_of("c") == [2]


# ---------------------------------------------------------------- compiler and wire
def test_compiled_actions_police_first() -> None:
    policy = parse_policy({**POLICE, "queue": 2, "enqueue-port": 3}, meters={"cap-2M": 1})
    policy = replace(policy, id=7)
    spec, entering = compiler.compile_policy(policy, 1, OF13, {}, {"cap-2M": 4})
    assert spec.actions == (("meter", 4), ("set_queue", 2), ("output", 3))
    # the companion flow for traffic entering on the enqueue port is policed too
    assert entering.actions == (("meter", 4), ("set_queue", 2), ("goto_table", 1))
    assert compiler.unsupported(policy, OF10) == compiler.OF10_NO_METERS
    alone = replace(policy, queue=None, enqueue_port=None)
    assert compiler.compile_policy(alone, 1, OF13, {}, {"cap-2M": 4})[0].actions == (("meter", 4), ("goto_table", 1))
    with pytest.raises(ValueError):
        compiler.compile_policy(alone, 1, OF10, {}, {"cap-2M": 4})


class Dp:
    ofproto = ofproto_v1_3
    ofproto_parser = ofproto_v1_3_parser
    id = 1


def ryu_bytes(op: Any, xid: int) -> bytes:
    msg = ofmsgs.to_message(Dp(), op)
    msg.set_xid(xid)
    msg.serialize()
    return bytes(msg.buf)


@pytest.mark.parametrize("op", [
    meter_add(Meter("m", 2_000_000, 256_000, id=3), 5), meter_delete(Meter("m", 2_000_000, 256_000, id=3), 5),
    WIPE_METERS,
    FlowSpec(cookie=1, priority=9, match=(("eth_type", 0x800),), actions=(("meter", 5), ("goto_table", 1))),
    FlowSpec(cookie=1, priority=9, match=(), actions=(("meter", 5), ("set_field", "ip_dscp", 46), ("goto_table", 1))),
    FlowSpec(cookie=1, priority=9, match=(), actions=(("meter", 2), ("set_queue", 1), ("output", 2))),
])
def test_meter_bytes_equal_ryu(op: Any) -> None:
    assert ofwire.encode(op, 42) == ryu_bytes(op, 42)


def test_meter_mod_carries_kbps_and_kbit() -> None:
    op = meter_add(Meter("m", 2_000_000, 256_000, id=3), 5)
    assert (op.command, op.meter_id, op.rate_kbps, op.burst_kb) == ("add", 5, 2000, 256)
    assert cookies.meter_id_of(op.cookie) == 3 and cookies.policy_id_of(op.cookie) is None
    wire = ofwire.encode(op, 42)
    # header, command ADD, flags KBPS|BURST|STATS, meter id, one drop band: type, len, rate, burst
    assert struct.unpack("!BBHIHHIHHII", wire[:28]) == (4, 29, 32, 42, 0, 1 | 4 | 8, 5, 1, 16, 2000, 256)


# ---------------------------------------------------------------- the core
@pytest.fixture
def sw() -> FakeSwitches:
    return FakeSwitches()


@pytest.fixture
def core(tmp_path: Path, sw: FakeSwitches) -> QosService:
    service = make_service(str(tmp_path / "state"), sw, forwarding="normal")
    service.enable()
    return service


def meters_on(sw: FakeSwitches, dpid: int) -> dict[int, tuple[int, int]]:
    return {mid: (op.rate_kbps, op.burst_kb) for mid, op in sw.tables[dpid].meters.items()}


def policy_flow(sw: FakeSwitches, dpid: int, core: QosService, name: str) -> set[FlowSpec]:
    return sw.holding(dpid, cookies.policy_cookie(core.policies[name].id))


def test_meter_goes_on_every_of13_switch_and_policy_uses_its_id(core: QosService, sw: FakeSwitches) -> None:
    core.switch_connected(1, OF13, {1: "s1-eth1"})
    core.switch_connected(2, OF13, {1: "s2-eth1"})
    core.switch_connected(3, OF10, {1: "s3-eth1"})
    core.add_meter({"name": "first", "rate": "1M"})
    core.add_meter(CAP)
    assert meters_on(sw, 1) == {1: (1000, 100), 2: (2000, 256)}
    assert meters_on(sw, 2) == meters_on(sw, 1) and sw.tables[3].meters == {}
    core.add_policy(POLICE)
    (flow,) = policy_flow(sw, 1, core, "police h1")
    assert flow.actions == (("meter", 2), ("goto_table", 1))
    install = core.install_state(core.policies["police h1"])
    assert install["00:00:00:00:00:00:00:03"]["state"] == "error"
    assert "OpenFlow 1.0 has no meters" in install["00:00:00:00:00:00:00:03"]["reason"]
    assert policy_flow(sw, 3, core, "police h1") == set()
    view = core.meter_view(core.meters["cap-2M"])
    assert view["policies"] == ["police h1"] and view["switches"][S1]["meter-id"] == 2
    assert view["switches"]["00:00:00:00:00:00:00:03"]["state"] == "error"


def test_delete_in_use_is_409_naming_policies_then_frees_ids(core: QosService, sw: FakeSwitches) -> None:
    core.switch_connected(1, OF13, {1: "s1-eth1"})
    core.add_meter(CAP)
    core.add_policy(POLICE)
    core.add_policy({**POLICE, "name": "second", "ip-src": "10.0.0.2"})
    before = core.store.meters()
    with pytest.raises(ValidationError) as err:
        core.delete_meter("cap-2M")
    assert err.value.status == 409 and "police h1, second" in err.value.reason
    assert core.store.meters() == before and meters_on(sw, 1) == {1: (2000, 256)}
    core.delete_policies(None)
    core.delete_meter("cap-2M")
    assert core.store.meters() == [] and sw.tables[1].meters == {} and core.meter_table.ids(1) == {}
    core.add_meter({"name": "again", "rate": "3M"})
    assert meters_on(sw, 1) == {1: (3000, 300)}


def test_duplicate_and_bad_meters_leave_store_unchanged(core: QosService) -> None:
    core.add_meter(CAP)
    before = core.store.meters()
    for body, status in ((CAP, 409), ({"name": "x", "rate": "1.5k"}, 400)):
        with pytest.raises(ValidationError) as err:
            core.add_meter(body)
        assert err.value.status == status
    assert core.store.meters() == before


def test_cold_start_wipes_and_reinstalls_meters_then_flows(tmp_path: Path, sw: FakeSwitches) -> None:
    core = make_service(str(tmp_path / "state"), sw, forwarding="normal")
    core.enable()
    core.add_meter(CAP)
    core.add_policy({**POLICE, "service": "Best Effort"})
    sw.take()
    core.switch_connected(1, OF13, {1: "s1-eth1"})
    (dpid, ops), *_ = sw.take()
    kinds = [type(op).__name__ for op in ops]
    assert ops[kinds.index("MeterMod")] == WIPE_METERS
    assert kinds.index("MeterMod") < max(i for i, k in enumerate(kinds) if k == "FlowSpec")
    assert meters_on(sw, 1) == {1: (2000, 256)}
    # a restarted controller reads meters and policies back and puts both on the switch again
    again = FakeSwitches()
    restarted = make_service(str(tmp_path / "state"), again, forwarding="normal")
    assert restarted.meters["cap-2M"].rate == 2_000_000
    restarted.switch_connected(1, OF13, {1: "s1-eth1"})
    (flow,) = policy_flow(again, 1, restarted, "police h1")
    assert flow.actions == (("meter", 1), ("set_field", "ip_dscp", 0), ("goto_table", 1))
    restarted.switch_disconnected(1)
    assert restarted.meter_table.ids(1) == {}


def test_meter_mod_error_marks_the_meter_and_its_policies(core: QosService, sw: FakeSwitches) -> None:
    core.switch_connected(1, OF13, {1: "s1-eth1"})
    core.add_meter(CAP)
    core.add_policy(POLICE)
    cookie = cookies.meter_cookie(core.meters["cap-2M"].id)
    core.flow_error(1, cookie, "OFPET_METER_MOD_FAILED: OFPMMFC_OUT_OF_METERS")
    state = core.install_state(core.policies["police h1"])[S1]
    assert state == {"state": "error", "reason": "meter 'cap-2M': OFPET_METER_MOD_FAILED: OFPMMFC_OUT_OF_METERS"}
    assert core.meter_view(core.meters["cap-2M"])["switches"][S1]["state"] == "error"


def test_meter_stats_by_name(core: QosService) -> None:
    core.switch_connected(1, OF13, {1: "s1-eth1"})
    core.add_meter(CAP)
    core.meter_counters(1, 10.0, [(1, 100, 150_000, 40, 60_000), (9, 1, 1, 0, 0)])
    core.meter_counters(1, 12.0, [(1, 300, 450_000, 140, 210_000)])
    (row,) = core.meter_stats()["meters"]
    (switch,) = row["switches"]
    assert switch["meter-id"] == 1 and switch["packets-in"] == 300 and switch["dropped-packets"] == 140
    assert switch["bps-in"] == 1_200_000 and switch["bps-dropped"] == 600_000 and switch["bps-passed"] == 600_000


def test_rest_meter_routes(tmp_path: Path) -> None:
    from ryu.app.wsgi import WSGIApplication

    from qosapp.http import rest
    from tests.unit.test_rest import Client
    service = make_service(str(tmp_path), lambda dpid, ops: None, green=True)
    app = WSGIApplication()
    rest.register(app, service)
    client = Client(app)
    assert client.call("POST", "/qos/meters", CAP)[0] == 201
    code, err = client.call("POST", "/qos/meters", {"name": "x", "rate": "2M", "burst": 7})
    assert code == 400 and err["field"] == "burst"
    assert client.call("GET", "/qos/meters")[1][0]["rate"] == 2_000_000
    assert client.call("POST", "/qos/policies", POLICE)[0] == 201
    code, err = client.call("DELETE", "/qos/meters/cap-2M")
    assert code == 409 and "police h1" in err["error"]
    assert client.call("GET", "/qos/meters/nope")[0] == 404
    assert client.call("GET", "/qos/stats/meters")[1]["meters"][0]["name"] == "cap-2M"
    assert client.call("DELETE", "/qos/policies/police%20h1")[0] == 200
    assert client.call("DELETE", "/qos/meters/cap-2M") == (200, {"name": "cap-2M", "rate": 2_000_000,
                                                                   "burst": 256_000, "id": 1})


def test_meter_mod_types_are_flow_ops() -> None:
    assert isinstance(WIPE_METERS, MeterMod) and WIPE_METERS.meter_id == 0 and WIPE_METERS.command == "delete"


# ---------------------------------------------------------------- qospusher: the state file and sync
def test_sync_plans_meters_before_policies_and_prunes_them_after() -> None:
    from pusher.sync import diff_meters, diff_policies, diff_services, plan_push
    services = diff_services([], [])
    policies = diff_policies([POLICE], [{"name": "old", "meter": "gone", "sw": "all", "priority": 1}])
    meters = diff_meters([CAP, {"name": "changed", "rate": 3_000_000}],
                         [{"name": "changed", "rate": 2_000_000, "burst": 300_000, "id": 2, "policies": [],
                           "switches": {}},
                          {"name": "gone", "rate": "1M", "burst": 100_000, "id": 3}])
    assert [m["name"] for m in meters.missing] == ["cap-2M"] and [c.name for c in meters.changed] == ["changed"]
    steps = [(s.method, s.path) for s in plan_push(services, policies, prune=True, meters=meters)]
    assert steps == [("POST", "/qos/meters"), ("DELETE", "/qos/meters/changed"), ("POST", "/qos/meters"),
                     ("POST", "/qos/policies"), ("DELETE", "/qos/policies/old"), ("DELETE", "/qos/meters/gone")]
    assert diff_meters([{"name": "cap-2M", "rate": 2_000_000, "burst": "256k"}],
                       [{**CAP, "rate": 2_000_000, "burst": 256_000, "id": 1}]).in_sync


def test_state_file_entry_with_a_bad_meter_is_named() -> None:
    from pusher.sync import LocalEntryError, diff_meters
    with pytest.raises(LocalEntryError) as err:
        diff_meters([{"name": "x", "rate": "2M", "colour": "red"}], [])
    assert "meters[0] 'x': colour: unknown key" in str(err.value)


def test_a_switch_whose_meter_features_report_none_shows_error_for_meter_policies(core: QosService,
                                                                                   sw: FakeSwitches) -> None:
    core.switch_connected(1, OF13, {1: "s1-eth1"})
    core.switch_connected(2, OF13, {1: "s2-eth1"})
    core.add_meter(CAP)
    core.add_policy(POLICE)
    core.add_policy({"name": "queue only", "ip-src": "10.0.0.9", "queue": 1, "enqueue-port": 1})
    core.meter_features(2, 8)  # meters there: nothing changes
    core.meter_features(1, 0)
    install = core.install_state(core.policies["police h1"])
    assert install[S1]["state"] == "error" and "max_meter 0" in install[S1]["reason"]
    assert install["00:00:00:00:00:00:00:02"]["state"] == "pending"
    assert policy_flow(sw, 1, core, "police h1") == set() and policy_flow(sw, 1, core, "queue only")
    assert core.meter_view(core.meters["cap-2M"])["switches"][S1]["reason"].startswith("not installed: the switch")
    core.add_meter({"name": "later", "rate": "1M"})
    assert 2 not in sw.tables[1].meters  # no more meter_mods to it
    core.add_policy({**POLICE, "name": "after", "ip-src": "10.0.0.3"})
    assert core.install_state(core.policies["after"])[S1]["state"] == "error"
