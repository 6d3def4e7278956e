"""Capability fallback: a queue policy with "fallback": "meter" is policed at the queue's max-rate where a
switch cannot enqueue, and goes back to its queue when the queue is there; the install state says which."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from qosapp.core import cookies
from qosapp.core.compiler import OF10, OF13
from qosapp.core.model import ValidationError, parse_policy
from qosapp.core.queues import QueueProfile
from qosapp.service import QosService
from tests.unit.fakeoftable import FakeSwitches
from tests.unit.serviceenv import make_service

S1, S2 = "00:00:00:00:00:00:00:01", "00:00:00:00:00:00:00:02"
PORTS = {1: "eth1", 2: "eth2"}
QUEUES_S2 = {"sw": S2, "port": "all", "max-rate": "10M", "queues": {"0": {}, "1": {}, "2": {"max-rate": "2M"}}}
POLICY = {"name": "h1 2M", "sw": S1, "ip-src": "10.0.0.1", "queue": 2, "enqueue-port": 2, "fallback": "meter"}


class Rows:
    """A queue backend that applies everything (OVSDB rows and tc as a recorder)."""

    def apply(self, dpid: int, port_name: str, profile: QueueProfile) -> str | None:
        return None

    def rates(self, dpid: int, port_name: str) -> None:
        return None

    def clear(self, dpid: int, port_name: str) -> None:
        pass

    def classify(self, dpid: int, port_name: str, filters: tuple[Any, ...]) -> str | None:
        return None


@pytest.fixture
def sw() -> FakeSwitches:
    return FakeSwitches()


@pytest.fixture
def core(tmp_path: Path, sw: FakeSwitches) -> QosService:
    service = make_service(str(tmp_path / "state"), sw, queues=Rows(), forwarding="normal")
    service.enable()
    for dpid in (1, 2):
        service.switch_connected(dpid, OF13, {no: f"s{dpid}-{name}" for no, name in PORTS.items()})
    service.add_queue_profile(QUEUES_S2)
    return service


def state(core: QosService, name: str, dpid: str = S1) -> dict[str, Any]:
    return core.install_state(core.policies[name])[dpid]


def flows(sw: FakeSwitches, core: QosService, name: str, dpid: int = 1) -> list[Any]:
    return sorted(f.actions for f in sw.holding(dpid, cookies.policy_cookie(core.policies[name].id)))


def test_no_queue_on_the_port_falls_back_to_a_meter_at_the_queues_max_rate(core: QosService, sw: FakeSwitches) -> None:
    core.add_policy(POLICY)
    here = state(core, "h1 2M")
    assert here["state"] == "pending" and here["mechanism"] == "meter-fallback"
    assert "queue 2 does not exist on 00:00:00:00:00:00:00:01 port 2" in here["reason"]
    assert "policed by a meter at 2000000 bits/s" in here["reason"]
    assert {mid: (op.rate_kbps, op.burst_kb) for mid, op in sw.tables[1].meters.items()} == {1: (2000, 200)}
    assert flows(sw, core, "h1 2M") == [(("meter", 1), ("goto_table", 1))]
    core.add_policy({**POLICY, "name": "no fallback", "ip-src": "10.0.0.3", "fallback": None})
    assert state(core, "no fallback")["state"] == "missing-queue" and "mechanism" not in state(core, "no fallback")


def test_the_queue_arriving_takes_over_and_leaving_falls_back_again(core: QosService, sw: FakeSwitches) -> None:
    core.add_policy(POLICY)
    core.add_queue_profile({**QUEUES_S2, "sw": S1})
    assert state(core, "h1 2M")["mechanism"] == "queue" and "reason" not in state(core, "h1 2M")
    assert flows(sw, core, "h1 2M") == [(("set_queue", 2), ("output", 2))]
    assert sw.tables[1].meters == {} and core.meter_table.ids(1) == {}
    core.delete_queue_profile(S1, "all", force=True)
    assert state(core, "h1 2M")["mechanism"] == "meter-fallback"
    assert flows(sw, core, "h1 2M") == [(("meter", 1), ("goto_table", 1))] and 1 in sw.tables[1].meters
    core.delete_policy("h1 2M")
    assert sw.tables[1].meters == {} and core.meter_table.ids(1) == {}


def test_a_switch_rejecting_the_queue_flow_falls_back(core: QosService, sw: FakeSwitches) -> None:
    core.add_policy({**POLICY, "sw": S2})
    assert state(core, "h1 2M", S2)["mechanism"] == "queue"
    core.flow_error(2, cookies.policy_cookie(core.policies["h1 2M"].id), "OFPET_BAD_ACTION: OFPBAC_BAD_QUEUE")
    after = state(core, "h1 2M", S2)
    assert after["mechanism"] == "meter-fallback" and after["reason"].startswith("OFPET_BAD_ACTION: OFPBAC_BAD_QUEUE;")
    assert flows(sw, core, "h1 2M", 2) == [(("meter", 1), ("goto_table", 1))]


def test_openflow10_cannot_fall_back(tmp_path: Path) -> None:
    sw = FakeSwitches()
    core = make_service(str(tmp_path / "state"), sw, queues=Rows(), forwarding="normal")
    core.enable()
    core.switch_connected(1, OF10, {no: f"s1-{name}" for no, name in PORTS.items()})
    core.add_queue_profile(QUEUES_S2)
    core.add_policy(POLICY)
    assert state(core, "h1 2M")["state"] == "missing-queue"


@pytest.mark.parametrize("changes, reason", [
    ({"fallback": "queue"}, "the only fallback is 'meter'"),
    ({"queue": None, "enqueue-port": None, "service": "EF"}, "only valid together with queue"),
    ({"meter": "cap"}, "cannot fall back to another one"),
])
def test_bad_fallbacks_name_the_field(changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse_policy({**POLICY, **changes}, {"EF": 46}, {"cap": 1})
    assert err.value.field == "fallback" and reason in err.value.reason


def test_fallback_is_kept_in_the_policys_json() -> None:
    assert parse_policy(POLICY).to_dict()["fallback"] == "meter" and "fallback" not in \
        parse_policy({**POLICY, "fallback": None}).to_dict()
