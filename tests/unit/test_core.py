"""Unit tests for qosapp.core.controller: requests -> store -> exactly the right flow operations.

`send` is a recorder, the store is a real SQLite file in tmp_path. Each test
asserts the exact operations each switch receives, and that the store is
untouched whenever a request is rejected.

Most tests are about policies, so the `core` fixture runs in "normal"
forwarding mode (one NORMAL table-miss flow), which keeps the expected
connect sequences short: OF1.3 [WIPE, PIPE, FWD13, *policies], OF1.0
[WIPE, FWD10, *policies]. The default "learned" mode's connect sequence is
tested on its own at the end; topology and paths are in test_fabric.py.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest

from qosapp.core import compiler
from qosapp.core import cookies
from qosapp.core import forwarding
from qosapp.core.compiler import NORMAL, OF10, OF13, FlowDelete, FlowSpec
from qosapp.core.controller import WIPE, NotFound
from qosapp.service import QosService
from tests.unit.fakeoftable import FakeSwitches
from tests.unit.serviceenv import make_service
from qosapp.core.model import equal_ports_as_in_port, format_dpid, Service, ValidationError

SEED_S1 = json.loads('{"name": "Enqueue 2:2 s1", "protocol":"6","eth-type": "0x0800", "ingress-port": "1",'
                     '"ip-src":"10.0.0.1", "sw": "00:00:00:00:00:00:00:01","queue":"2","enqueue-port":"2"}')
#: the seed's s2 policy (ingress-port 1, enqueue-port 1) as its compatibility clients send it:
#: OpenFlow drops a packet sent out of its in-port, so the API takes "in_port" (IN_PORT) there
SEED_S2 = equal_ports_as_in_port(json.loads(
    '{"name": "Enqueue 1:2 s2", "protocol":"6","eth-type": "0x0800", "ingress-port": "1",'
    '"ip-src":"10.0.0.1", "sw": "00:00:00:00:00:00:00:02","queue":"2","enqueue-port":"1"}'))
MARK_ALL = {"name": "voice everywhere", "service": "Voice", "protocol": 17, "dst-port": 5060}
SEED_MATCH = (("in_port", 1), ("eth_type", 0x0800), ("ip_proto", 6), ("ipv4_src", "10.0.0.1"))
MARK_MATCH = (("eth_type", 0x0800), ("ip_proto", 17), ("tp_dst", 5060))
# "normal" forwarding: the NORMAL table-miss, in table 1 on OF1.3 behind the table-0 pipeline flow.
FWD10 = FlowSpec(cookie=0x5100000000000000, priority=0, match=(), actions=(("output", NORMAL),), table_id=0)
FWD13 = FlowSpec(cookie=0x5100000000000000, priority=0, match=(), actions=(("output", NORMAL),), table_id=1)
PIPE = FlowSpec(cookie=0x51FFFFFFFFFFFFFF, priority=0, match=(), actions=(("goto_table", 1),), table_id=0)
C1, C2, C3 = 0x5100000000000001, 0x5100000000000002, 0x5100000000000003

# Expected flows, written out (cookie = 'Q' << 56 | policy id).
S1_OF13 = FlowSpec(cookie=C1, priority=32767, match=SEED_MATCH, actions=(("set_queue", 2), ("output", 2)))
S2_OF10 = FlowSpec(cookie=C2, priority=32767, match=SEED_MATCH, actions=(("enqueue", "IN_PORT", 2),))
S2_OF13 = FlowSpec(cookie=C2, priority=32767, match=SEED_MATCH, actions=(("set_queue", 2), ("output", "IN_PORT")))
MARK_OF13 = FlowSpec(cookie=C3, priority=32767, match=MARK_MATCH,
                     actions=(("set_field", "ip_dscp", 46), ("goto_table", 1)))
MARK_OF10 = FlowSpec(cookie=C3, priority=32767, match=MARK_MATCH,
                     actions=(("set_nw_tos", 0xB8), ("output", NORMAL)))
DPID1, DPID2, DPID3 = 1, 2, 3


class Recorder(FakeSwitches):
    """Stands in for the Ryu shell's send: every (dpid, ops) call, and each switch's table after them."""


@pytest.fixture
def state_dir(tmp_path: Path) -> str:
    return str(tmp_path / "state")


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


@pytest.fixture
def core(state_dir: str, rec: Recorder) -> QosService:
    return make_service(state_dir, rec, forwarding="normal")


@pytest.fixture
def learned(state_dir: str, rec: Recorder) -> QosService:
    """The default forwarding mode (topology-computed)."""
    return make_service(state_dir, rec)


def policy_ops(calls: list[tuple[int, list[Any]]]) -> list[tuple[int, list[Any]]]:
    """Only the operations on policy cookies ('Q' prefix, not forwarding or pipeline), per call."""
    out = []
    for dpid, ops in calls:
        mine = [op for op in ops if cookies.policy_id_of(op.cookie) is not None and op.cookie != compiler.PIPELINE_COOKIE]
        if mine:
            out.append((dpid, mine))
    return out


def with_voice(core: QosService) -> QosService:
    core.add_service({"name": "Voice", "dscp": "EF"})
    return core


def seeded(core: QosService) -> QosService:
    """Voice service + the seed's two policies + a marking policy for all switches (ids 1, 2, 3)."""
    with_voice(core)
    core.add_policies([SEED_S1, SEED_S2, MARK_ALL])
    return core


def snapshot(core: QosService) -> tuple[Any, ...]:
    """Everything durable plus the core's in-memory view."""
    return (core.store.services(), core.store.policies(), core.store.get_setting("enabled"),
            dict(core.services), dict(core.policies), dict(core.policies_by_id))


# ---------------------------------------------------------------- start state
def test_starts_disabled_with_best_effort(core: QosService, rec: Recorder) -> None:
    assert core.enabled is False
    assert core.services == {"Best Effort": Service(name="Best Effort", dscp=0, id=1)}
    assert core.store.services() == [(1, "Best Effort", 0)]
    assert core.status() == {"enabled": False, "services": 1, "policies": 0, "switches": 0, "queues": 0,
                             "paths": 0, "meters": 0}
    assert rec.calls == []


def test_disabled_stores_but_installs_nothing(core: QosService, rec: Recorder) -> None:
    core.switch_connected(DPID1, OF13)
    assert rec.take() == [(DPID1, [WIPE, PIPE, FWD13])]
    policy = core.add_policy(SEED_S1)
    assert policy.id == 1
    assert rec.calls == []
    assert [name for _i, name, _b in core.store.policies()] == ["Enqueue 2:2 s1"]
    assert core.install_state(policy) == {"00:00:00:00:00:00:00:01": {"state": "not-installed",
                                                                     "reason": "QoS is disabled"}}


def test_wipe_is_cookie_zero_delete_everything() -> None:
    assert WIPE == FlowDelete(cookie=0, strict=None)


# ---------------------------------------------------------------- enable / disable
def test_enable_installs_each_switch_its_policies(core: QosService, rec: Recorder) -> None:
    core.switch_connected(DPID1, OF13)
    core.switch_connected(DPID2, OF10)
    core.switch_connected(DPID3, OF13)
    seeded(core)
    rec.take()
    assert core.enable() is True
    assert core.enabled is True
    assert core.store.get_setting("enabled") == "true"
    assert rec.take() == [
        (DPID1, [S1_OF13, MARK_OF13]),
        (DPID2, [FlowSpec(cookie=C2, priority=32767, match=SEED_MATCH, actions=(("enqueue", "IN_PORT", 2),)), MARK_OF10]),
        (DPID3, [MARK_OF13]),
    ]
    # what each switch ends up holding, however the operations were batched
    assert rec.holding(DPID1) == {PIPE, FWD13, S1_OF13, MARK_OF13}
    assert rec.holding(DPID2) == {FWD10, S2_OF10, MARK_OF10}
    assert rec.holding(DPID3) == {PIPE, FWD13, MARK_OF13}
    assert core.enable() is False
    assert rec.calls == []


def test_enable_without_switches_sends_nothing(core: QosService, rec: Recorder) -> None:
    seeded(core)
    assert core.enable() is True
    assert rec.calls == []
    core.switch_connected(DPID2, OF13)
    assert rec.take() == [(DPID2, [WIPE, PIPE, FWD13, S2_OF13, MARK_OF13])]


def test_disable_removes_policy_flows_but_not_forwarding(core: QosService, rec: Recorder) -> None:
    core.switch_connected(DPID1, OF13)
    core.switch_connected(DPID2, OF10)
    seeded(core)
    core.enable()
    rec.take()
    assert core.disable() is True
    assert core.enabled is False
    assert core.store.get_setting("enabled") == "false"
    assert rec.take() == [
        (DPID1, [FlowDelete(cookie=C1), FlowDelete(cookie=C3)]),
        (DPID2, [FlowDelete(cookie=C2, strict=S2_OF10), FlowDelete(cookie=C3, strict=MARK_OF10)]),
    ]
    assert core.policy_installs() == {}
    assert rec.holding(DPID1) == {PIPE, FWD13} and rec.holding(DPID2) == {FWD10}  # forwarding stays
    assert core.disable() is False
    assert rec.calls == []
    assert len(core.policies) == 3  # disabling keeps the policies


def test_sw_none_never_installed(core: QosService, rec: Recorder) -> None:
    core.switch_connected(DPID1, OF13)
    core.enable()
    rec.take()
    parked = core.add_policy({"name": "parked", "queue": 1, "enqueue-port": 1, "sw": "none"})
    assert rec.calls == []
    assert core.install_state(parked) == {}
    core.switch_connected(DPID1, OF13)
    assert rec.take() == [(DPID1, [WIPE, PIPE, FWD13])]
    core.disable()
    assert rec.calls == []


# ---------------------------------------------------------------- switch connect
def test_reconnect_is_cold_start_with_its_policies(core: QosService, rec: Recorder) -> None:
    seeded(core)
    core.enable()
    core.switch_connected(DPID1, OF13)
    core.switch_connected(DPID1, OF13)  # reconnect without a disconnect event
    core.switch_connected(7, OF10)
    assert rec.take() == [
        (DPID1, [WIPE, PIPE, FWD13, S1_OF13, MARK_OF13]),
        (DPID1, [WIPE, PIPE, FWD13, S1_OF13, MARK_OF13]),
        (7, [WIPE, FWD10, MARK_OF10]),
    ]


def test_connect_while_disabled_gets_only_forwarding(core: QosService, rec: Recorder) -> None:
    seeded(core)
    core.switch_connected(DPID1, OF10)
    core.switch_connected(DPID2, OF13)
    assert rec.take() == [(DPID1, [WIPE, FWD10]), (DPID2, [WIPE, PIPE, FWD13])]


def test_disconnect_forgets_switch_and_state(core: QosService, rec: Recorder) -> None:
    seeded(core)
    core.enable()
    core.switch_connected(DPID1, OF13, {1: "s1-eth1"}, "127.0.0.1:5555")
    core.switch_disconnected(DPID1)
    assert core.switches == {}
    assert not any(dpid == DPID1 for _pid, dpid in core.policy_installs())
    rec.take()
    core.disable()
    core.enable()
    assert rec.calls == []
    core.switch_disconnected(99)  # unknown: no error


def test_switch_info_and_ports(core: QosService) -> None:
    core.switch_connected(DPID1, OF13, {2: "s1-eth2", 1: "s1-eth1"}, "127.0.0.1:40000")
    assert core.switches[DPID1].to_dict() == {
        "dpid": "00:00:00:00:00:00:00:01", "openflow": "1.3", "address": "127.0.0.1:40000",
        "ports": [{"port": 1, "name": "s1-eth1"}, {"port": 2, "name": "s1-eth2"}]}
    core.port_changed(DPID1, 3, "s1-eth3")
    core.port_changed(DPID1, 1, None)
    assert core.switches[DPID1].ports == {2: "s1-eth2", 3: "s1-eth3"}
    core.port_changed(42, 1, "nope")
    assert 42 not in core.switches
    assert core.status()["switches"] == 1


# ---------------------------------------------------------------- add / replace / delete
def test_add_while_enabled_goes_only_where_it_applies(core: QosService, rec: Recorder) -> None:
    with_voice(core)
    core.enable()
    core.switch_connected(DPID1, OF13)
    core.switch_connected(DPID2, OF10)
    rec.take()
    core.add_policy(SEED_S2)
    assert rec.take() == [(DPID2, [FlowSpec(cookie=C1, priority=32767, match=SEED_MATCH,
                                            actions=(("enqueue", "IN_PORT", 2),))])]
    core.add_policy(MARK_ALL)
    calls = rec.take()
    assert [dpid for dpid, _ops in calls] == [DPID1, DPID2]
    assert calls[0][1][0].actions == (("set_field", "ip_dscp", 46), ("goto_table", 1))
    assert calls[1][1][0].actions == (("set_nw_tos", 0xB8), ("output", NORMAL))
    assert calls[0][1][0].cookie == calls[1][1][0].cookie == C2


def test_batch_add_sends_one_message_list_per_switch(core: QosService, rec: Recorder) -> None:
    with_voice(core)
    core.enable()
    core.switch_connected(DPID1, OF13)
    rec.take()
    added = core.add_policies([SEED_S1, SEED_S2, MARK_ALL])
    assert [p.id for p in added] == [1, 2, 3]
    assert rec.take() == [(DPID1, [S1_OF13, MARK_OF13])]


def test_replace_keeps_id_and_reinstalls(core: QosService, rec: Recorder) -> None:
    seeded(core)
    core.enable()
    core.switch_connected(DPID1, OF13)
    core.switch_connected(DPID2, OF10)
    rec.take()
    new = core.replace_policy("voice everywhere", {"service": "Best Effort", "ip-dst": "10.0.0.9", "priority": 5})
    assert (new.id, new.name, new.service, new.priority) == (3, "voice everywhere", "Best Effort", 5)
    new_match = (("eth_type", 0x0800), ("ipv4_dst", "10.0.0.9"))
    assert rec.take() == [
        (DPID1, [FlowDelete(cookie=C3)]),
        (DPID2, [FlowDelete(cookie=C3, strict=MARK_OF10)]),  # OF1.0: the *old* match and priority
        (DPID1, [FlowSpec(cookie=C3, priority=5, match=new_match,
                          actions=(("set_field", "ip_dscp", 0), ("goto_table", 1)))]),
        (DPID2, [FlowSpec(cookie=C3, priority=5, match=new_match, actions=(("set_nw_tos", 0), ("output", NORMAL)))]),
    ]
    assert core.store.policies()[2][0:2] == (3, "voice everywhere")
    assert core.store.policies()[2][2]["ip-dst"] == "10.0.0.9"
    assert core.policies_by_id[3] is core.policies["voice everywhere"] is new


def test_replace_narrowing_sw(core: QosService, rec: Recorder) -> None:
    seeded(core)
    core.enable()
    core.switch_connected(DPID1, OF13)
    core.switch_connected(DPID2, OF13)
    rec.take()
    core.replace_policy("voice everywhere", {**MARK_ALL, "sw": "00:00:00:00:00:00:00:02"})
    assert rec.take() == [(DPID1, [FlowDelete(cookie=C3)]), (DPID2, [FlowDelete(cookie=C3)]),
                          (DPID2, [MARK_OF13])]


def test_replace_can_rename_but_not_onto_another(core: QosService, rec: Recorder) -> None:
    seeded(core)
    before = snapshot(core)
    with pytest.raises(ValidationError) as info:
        core.replace_policy("Enqueue 2:2 s1", {**SEED_S1, "name": "Enqueue 1:2 s2"})
    assert (info.value.status, info.value.field) == (409, "name")
    assert snapshot(core) == before
    renamed = core.replace_policy("Enqueue 2:2 s1", {**SEED_S1, "name": "s1 limited"})
    assert renamed.id == 1
    assert "Enqueue 2:2 s1" not in core.policies and core.policies["s1 limited"].id == 1
    assert [(pid, name) for pid, name, _b in core.store.policies()][0] == (1, "s1 limited")
    with pytest.raises(NotFound):
        core.get_policy("Enqueue 2:2 s1")


def test_replace_unknown_is_not_found(core: QosService) -> None:
    with pytest.raises(NotFound):
        core.replace_policy("ghost", SEED_S1)


def test_delete_sends_exact_delete(core: QosService, rec: Recorder) -> None:
    seeded(core)
    core.enable()
    core.switch_connected(DPID1, OF13)
    core.switch_connected(DPID2, OF10)
    rec.take()
    gone = core.delete_policy("Enqueue 1:2 s2")
    assert gone.id == 2
    assert rec.take() == [(DPID2, [FlowDelete(cookie=C2, strict=S2_OF10)])]
    assert [pid for pid, _n, _b in core.store.policies()] == [1, 3]
    assert core.policy_by_cookie(C2) is None
    assert core.policy_by_cookie(C1) is core.policies["Enqueue 2:2 s1"]
    assert not any(pid == 2 for pid, _dpid in core.policy_installs())
    with pytest.raises(NotFound):
        core.delete_policy("Enqueue 1:2 s2")
    assert core.delete_policy_by_id(3).name == "voice everywhere"
    assert rec.take() == [(DPID1, [FlowDelete(cookie=C3)]), (DPID2, [FlowDelete(cookie=C3, strict=MARK_OF10)])]
    with pytest.raises(NotFound):
        core.delete_policy_by_id(3)


def test_delete_while_disabled_sends_nothing(core: QosService, rec: Recorder) -> None:
    seeded(core)
    core.switch_connected(DPID1, OF13)
    rec.take()
    core.delete_policy("Enqueue 2:2 s1")
    assert rec.calls == []
    assert len(core.store.policies()) == 2


def test_policy_by_cookie_ignores_foreign_cookies(core: QosService) -> None:
    seeded(core)
    assert core.policy_by_cookie(0) is None
    assert core.policy_by_cookie(0x5100000000000000) is None
    assert core.policy_by_cookie(0x5200000000000001) is None
    assert core.policy_by_cookie(0x5100000000000063) is None


# ---------------------------------------------------------------- batch all-or-nothing
def test_batch_bad_item_in_middle_changes_nothing(core: QosService, rec: Recorder) -> None:
    with_voice(core)
    core.enable()
    core.switch_connected(DPID1, OF13)
    core.add_policy({"name": "existing", "queue": 1, "enqueue-port": 1})
    rec.take()
    before = snapshot(core)
    bad = {"name": "bad", "queue": 1, "enqueue-port": 1, "src-port": 80}
    with pytest.raises(ValidationError) as info:
        core.add_policies([SEED_S1, bad, MARK_ALL])
    assert (info.value.index, info.value.field, info.value.status) == (1, "src-port", 400)
    assert info.value.to_dict()["index"] == 1
    assert snapshot(core) == before
    assert rec.calls == []


def test_batch_duplicate_names(core: QosService, rec: Recorder) -> None:
    seeded(core)
    before = snapshot(core)
    with pytest.raises(ValidationError) as info:
        core.add_policies([{"name": "a", "queue": 1, "enqueue-port": 1}, {"name": "b", "queue": 1, "enqueue-port": 1, "priority": 7},
                           {"name": "a", "queue": 2, "enqueue-port": 1, "priority": 8}])
    assert (info.value.index, info.value.status, info.value.field) == (2, 409, "name")
    with pytest.raises(ValidationError) as info:
        core.add_policies([{**SEED_S1, "priority": 1}])
    assert (info.value.index, info.value.status) == (0, 409)
    assert snapshot(core) == before


def test_single_add_error_has_no_index(core: QosService) -> None:
    core.add_policy(SEED_S1)
    with pytest.raises(ValidationError) as info:
        core.add_policy(SEED_S1)
    assert (info.value.index, info.value.status) == (None, 409)
    assert "index" not in info.value.to_dict()


def test_empty_batch(core: QosService, rec: Recorder) -> None:
    assert core.add_policies([]) == []
    assert core.store.policies() == [] and rec.calls == []


# ---------------------------------------------------------------- rejections leave the store unchanged
REJECTIONS: list[tuple[str, Callable[[QosService], Any], type[Exception], int | None]] = [
    ("bad ip", lambda c: c.add_policy({"name": "x", "ip-src": "10.0.0.300", "queue": 1, "enqueue-port": 1}),
     ValidationError, 400),
    ("unknown service", lambda c: c.add_policy({"name": "x", "service": "Gold"}), ValidationError, 409),
    ("queue and service", lambda c: c.add_policy({"name": "x", "service": "Voice", "queue": 1, "enqueue-port": 1}),
     ValidationError, 400),
    ("unknown key", lambda c: c.add_policy({"name": "x", "queue": 1, "enqueue-port": 1, "qeue": 2}),
     ValidationError, 400),
    ("duplicate policy", lambda c: c.add_policy(SEED_S2), ValidationError, 409),
    ("not an object", lambda c: c.add_policy(["x"]), ValidationError, 400),
    ("bad replace", lambda c: c.replace_policy("Enqueue 2:2 s1", {"queue": 1, "enqueue-port": 0}), ValidationError, 400),
    ("replace missing", lambda c: c.replace_policy("nope", SEED_S1), NotFound, None),
    ("delete missing", lambda c: c.delete_policy("nope"), NotFound, None),
    ("duplicate service", lambda c: c.add_service({"name": "Voice", "dscp": 1}), ValidationError, 409),
    ("bad dscp", lambda c: c.add_service({"name": "Hot", "dscp": 64}), ValidationError, 400),
    ("service in use", lambda c: c.delete_service("Voice"), ValidationError, 409),
    ("delete missing service", lambda c: c.delete_service("Gold"), NotFound, None),
]


@pytest.mark.parametrize("label,call,exc,status", REJECTIONS, ids=[r[0] for r in REJECTIONS])
def test_rejection_leaves_store_unchanged(core: QosService, rec: Recorder, label: str,
                                          call: Callable[[QosService], Any], exc: type[Exception],
                                          status: int | None) -> None:
    seeded(core)
    core.enable()
    core.switch_connected(DPID1, OF13)
    rec.take()
    before = snapshot(core)
    with pytest.raises(exc) as info:
        call(core)
    if status is not None:
        assert info.value.status == status  # type: ignore[attr-defined]
        assert info.value.field and info.value.reason  # type: ignore[attr-defined]
    assert snapshot(core) == before
    assert rec.calls == []


# ---------------------------------------------------------------- services
def test_services_add_get_delete(core: QosService) -> None:
    voice = core.add_service({"name": "Voice", "dscp": "EF"})
    assert voice == Service(name="Voice", dscp=46, id=2)
    assert core.get_service("Voice") is voice
    assert core.store.services() == [(1, "Best Effort", 0), (2, "Voice", 46)]
    assert core.service_dscps() == {"Best Effort": 0, "Voice": 46}
    assert core.delete_service("Voice") == voice
    assert core.store.services() == [(1, "Best Effort", 0)]
    with pytest.raises(NotFound):
        core.get_service("Voice")


def test_service_used_by_policy_cannot_be_deleted(core: QosService) -> None:
    seeded(core)
    with pytest.raises(ValidationError) as info:
        core.delete_service("Voice")
    assert info.value.status == 409
    assert "voice everywhere" in info.value.reason
    core.delete_policy("voice everywhere")
    core.delete_service("Voice")
    assert "Voice" not in core.services


# ---------------------------------------------------------------- restart
def test_restart_keeps_everything(state_dir: str, core: QosService, rec: Recorder) -> None:
    seeded(core)
    core.add_service({"name": "Bulk", "dscp": "CS1"})
    core.delete_policy("Enqueue 1:2 s2")
    core.enable()
    before = (dict(core.services), dict(core.policies))
    core.store.close()

    again = make_service(state_dir, rec, forwarding="normal")
    assert again.enabled is True
    assert (dict(again.services), dict(again.policies)) == before
    assert again.services["Best Effort"] == Service("Best Effort", 0, 1)
    assert again.services["Bulk"] == Service("Bulk", 8, 3)
    assert sorted(again.policies_by_id) == [1, 3]
    assert again.store.services() == [(1, "Best Effort", 0), (2, "Voice", 46), (3, "Bulk", 8)]
    # ids are never reused: a new policy gets a new cookie.
    assert again.add_policy({"name": "new", "queue": 1, "enqueue-port": 1, "sw": DPID1}).id == 4
    rec.take()
    again.switch_connected(DPID1, OF13)
    assert rec.take() == [(DPID1, [WIPE, PIPE, FWD13, S1_OF13, MARK_OF13,
                                   FlowSpec(cookie=0x5100000000000004, priority=32767, match=(),
                                            actions=(("set_queue", 1), ("output", 1)))])]
    again.store.close()


def test_restart_disabled_stays_disabled(state_dir: str, core: QosService, rec: Recorder) -> None:
    seeded(core)
    core.enable()
    core.disable()
    core.store.close()
    again = make_service(state_dir, rec, forwarding="normal")
    assert again.enabled is False
    assert len(again.services) == 2 and len(again.policies) == 3
    rec.take()
    again.switch_connected(DPID1, OF13)
    assert rec.take() == [(DPID1, [WIPE, PIPE, FWD13])]
    again.store.close()


# ---------------------------------------------------------------- install state
def test_install_state_pending_confirmed_error(core: QosService, rec: Recorder) -> None:
    seeded(core)
    core.switch_connected(DPID1, OF13)
    core.switch_connected(DPID2, OF13)
    core.enable()
    s1 = core.get_policy("Enqueue 2:2 s1")
    mark = core.get_policy("voice everywhere")
    assert core.install_state(s1) == {"00:00:00:00:00:00:00:01": {"state": "pending"}}
    core.flows_confirmed(DPID1, [C1, C3, 0x5100000000000000, 0])
    assert core.install_state(s1) == {"00:00:00:00:00:00:00:01": {"state": "installed"}}
    assert core.install_state(mark) == {"00:00:00:00:00:00:00:01": {"state": "installed"},
                                        "00:00:00:00:00:00:00:02": {"state": "pending"}}
    core.flow_error(DPID2, C3, "OFPBAC_BAD_QUEUE")
    core.flows_confirmed(DPID2, [C3])  # a barrier after an error does not hide it
    assert core.install_state(mark)["00:00:00:00:00:00:00:02"] == {"state": "error", "reason": "OFPBAC_BAD_QUEUE"}
    view = core.policy_view(mark)
    assert view["cookie"] == "0x5100000000000003"
    assert view["name"] == "voice everywhere" and view["id"] == 3
    assert view["install"]["00:00:00:00:00:00:00:02"]["state"] == "error"
    # Reconnect clears the error: a cold start installs again.
    core.switch_connected(DPID2, OF13)
    assert core.install_state(mark)["00:00:00:00:00:00:00:02"] == {"state": "pending"}


def test_flow_error_for_unknown_cookies_is_ignored(core: QosService) -> None:
    seeded(core)
    core.switch_connected(DPID1, OF13)
    core.enable()
    before = dict(core.policy_installs())
    core.flow_error(DPID1, 0x5100000000000000, "forwarding")
    core.flow_error(DPID1, 0x5100000000000063, "deleted policy")
    core.flow_error(DPID1, 0x1234, "someone else's flow")
    assert core.policy_installs() == before


def test_confirm_before_enable_does_nothing(core: QosService) -> None:
    seeded(core)
    core.switch_connected(DPID1, OF13)
    core.flows_confirmed(DPID1, [C1])
    assert core.policy_installs() == {}
    assert core.install_state(core.get_policy("Enqueue 2:2 s1")) == {
        "00:00:00:00:00:00:00:01": {"state": "not-installed", "reason": "QoS is disabled"}}


def test_same_match_and_priority_on_a_shared_switch_is_409(core: QosService, rec: Recorder) -> None:
    core.add_policy(SEED_S1)
    before = snapshot(core)
    for clash in ({**SEED_S1, "name": "twin"}, {**SEED_S1, "name": "twin", "sw": "all"}):
        with pytest.raises(ValidationError) as info:
            core.add_policy(clash)
        assert (info.value.status, info.value.field) == (409, "priority")
    with pytest.raises(ValidationError) as info:
        core.add_policies([{"name": "x", "queue": 1, "enqueue-port": 1}, {"name": "y", "queue": 2, "enqueue-port": 1}])
    assert (info.value.index, info.value.field) == (1, "priority")
    assert snapshot(core) == before
    # another switch, another priority, or sw none do not clash
    core.add_policy({**SEED_S1, "name": "s2", "sw": "00:00:00:00:00:00:00:02"})
    core.add_policy({**SEED_S1, "name": "p", "priority": 100})
    core.add_policy({**SEED_S1, "name": "parked", "sw": "none"})
    # replacing a policy with its own match is not a clash with itself
    core.replace_policy(SEED_S1["name"], {**SEED_S1, "queue": 1})


def test_best_effort_cannot_be_deleted(core: QosService) -> None:
    with pytest.raises(ValidationError) as info:
        core.delete_service("Best Effort")
    assert info.value.status == 409
    assert "Best Effort" in core.services


# ---------------------------------------------------------------- learned forwarding (the default)
def fwd_flow(kind: int, value: int, priority: int, match: tuple[Any, ...], actions: tuple[Any, ...],
             table: int) -> FlowSpec:
    return FlowSpec(cookie=0x4600000000000000 | kind << 48 | value, priority=priority, match=match,
                    actions=actions, table_id=table)


def base_forwarding(table: int, ports: list[int]) -> list[FlowSpec]:
    """LLDP trap, table-miss to the controller, and per unknown port a trap above the unicast flows."""
    lldp = fwd_flow(1, 0, 65535, (("eth_type", 0x88CC), ("eth_dst", "01:80:c2:00:00:0e")),
                    (("output", "CONTROLLER"),), table)
    miss = fwd_flow(0, 0, 0, (), (("output", "CONTROLLER"),), table)
    floods = [fwd_flow(6, p, 11, (("in_port", p),), (("output", "CONTROLLER"),), table) for p in ports]
    return [lldp, miss, *floods]


def test_default_forwarding_mode_is_learned(learned: QosService) -> None:
    assert learned.fabric.mode == "learned"


def test_unknown_forwarding_mode_is_refused(state_dir: str) -> None:
    with pytest.raises(ValueError, match="forwarding mode"):
        make_service(state_dir, forwarding="flood")


def test_learned_connect_of13_sequence(learned: QosService, rec: Recorder) -> None:
    learned.switch_connected(DPID1, OF13, {1: "s1-eth1", 2: "s1-eth2"})
    assert rec.take() == [(DPID1, [WIPE, PIPE, *base_forwarding(1, [1, 2])])]


def test_learned_connect_of10_sequence_one_table_no_pipeline(learned: QosService, rec: Recorder) -> None:
    learned.switch_connected(DPID1, OF10, {2: "s1-eth2", 1: "s1-eth1"})
    assert rec.take() == [(DPID1, [WIPE, *base_forwarding(0, [1, 2])])]


def test_learned_connect_reserved_ports_get_no_flood_flow(learned: QosService, rec: Recorder) -> None:
    learned.switch_connected(DPID1, OF13, {1: "s1-eth1", 0xFFFE: "s1"})
    assert rec.take() == [(DPID1, [WIPE, PIPE, *base_forwarding(1, [1])])]


def test_learned_connect_enabled_appends_policies(learned: QosService, rec: Recorder) -> None:
    seeded(learned)
    learned.enable()
    learned.switch_connected(DPID1, OF13, {1: "s1-eth1"})
    learned.switch_connected(DPID2, OF10, {1: "s2-eth1"})
    assert rec.take() == [(DPID1, [WIPE, PIPE, *base_forwarding(1, [1]), S1_OF13, MARK_OF13]),
                          (DPID2, [WIPE, *base_forwarding(0, [1]), S2_OF10])]
    # OF1.0 marking could only forward by NORMAL, which storms loops: not installed, and said why
    mark = next(p for p in learned.policies.values() if p.service is not None)
    state = learned.install_state(mark)[format_dpid(DPID2)]
    assert state["state"] == "error" and "OpenFlow 1.0" in state["reason"]


def test_learned_link_sends_forwarding_diffs_not_policies(learned: QosService, rec: Recorder) -> None:
    seeded(learned)
    learned.enable()
    learned.switch_connected(DPID1, OF13, {1: "s1-eth1", 2: "s1-eth2"})
    learned.switch_connected(DPID2, OF13, {1: "s2-eth1", 2: "s2-eth2"})
    rec.take()
    learned.link_added(DPID1, 2, DPID2, 2)
    # port 2 became a (tree) link on both ends: its unknown-port trap goes, a broadcast coming in there
    # floods to the other ports
    trap = fwd_flow(6, 2, 11, (("in_port", 2),), (("output", "CONTROLLER"),), 1)
    assert rec.take() == [(dpid, [FlowDelete(cookie=trap.cookie, strict=trap),
                                  fwd_flow(2, 2, 5, (("in_port", 2),), (("output", 1),), 1)])
                          for dpid in (DPID1, DPID2)]
    learned.link_added(DPID2, 2, DPID1, 2)  # the other direction of the same cable changes no flow
    learned.link_added(DPID2, 2, DPID1, 2)  # a repeat is not a change
    assert rec.calls == []


def test_flows_on_of13_sit_in_their_table(learned: QosService, rec: Recorder) -> None:
    """Policies and the pipeline in table 0, every forwarding flow in table 1; OF1.0 all in table 0."""
    seeded(learned)
    learned.enable()
    learned.switch_connected(DPID1, OF13, {1: "s1-eth1", 2: "s1-eth2"})
    learned.switch_connected(DPID2, OF10, {1: "s2-eth1", 2: "s2-eth2"})
    learned.link_added(DPID1, 2, DPID2, 2)
    learned.link_added(DPID2, 2, DPID1, 2)
    learned.packet_in(DPID1, 1, "00:00:00:00:00:01", "ff:ff:ff:ff:ff:ff", 0x0806, "10.0.0.1")
    learned.add_policy({"name": "late", "service": "Voice", "ip-src": "10.0.0.7"})
    specs = [(dpid, op) for dpid, ops in rec.take() for op in ops if isinstance(op, FlowSpec)]
    assert {cookies.is_forwarding_cookie(op.cookie) for _d, op in specs} == {True, False}
    for dpid, op in specs:
        if dpid == DPID2:
            assert op.table_id == 0, op
        elif cookies.is_forwarding_cookie(op.cookie):
            assert op.table_id == compiler.FORWARDING_TABLE, op
        else:
            assert op.table_id == compiler.POLICY_TABLE, op
            assert op.cookie == compiler.PIPELINE_COOKIE or cookies.policy_id_of(op.cookie) is not None


def test_normal_mode_ignores_packet_in_and_sends_no_forwarding_diffs(core: QosService, rec: Recorder) -> None:
    core.switch_connected(DPID1, OF13, {1: "s1-eth1", 2: "s1-eth2"})
    core.switch_connected(DPID2, OF13, {1: "s2-eth1", 2: "s2-eth2"})
    rec.take()
    core.link_added(DPID1, 2, DPID2, 2)
    core.link_added(DPID2, 2, DPID1, 2)
    assert core.packet_in(DPID1, 1, "00:00:00:00:00:01", "ff:ff:ff:ff:ff:ff", 0x0806, "10.0.0.1") == []
    assert core.fabric.topology.hosts() == []
    assert rec.calls == []


def test_policy_ops_filter_keeps_only_policy_cookies(learned: QosService, rec: Recorder) -> None:
    """Enable in learned mode sends policies only: no forwarding flow is re-sent."""
    learned.switch_connected(DPID1, OF13, {1: "s1-eth1"})
    seeded(learned)
    rec.take()
    learned.enable()
    calls = rec.take()
    assert calls == policy_ops(calls) == [(DPID1, [S1_OF13, MARK_OF13])]


def test_pipeline_and_forwarding_cookies_are_not_policies(core: QosService) -> None:
    seeded(core)
    core.switch_connected(DPID1, OF13)
    core.enable()
    before = dict(core.policy_installs())
    core.flow_error(DPID1, compiler.PIPELINE_COOKIE, "pipeline")
    core.flow_error(DPID1, forwarding.forwarding_cookie(forwarding.KIND_MISS), "forwarding")
    core.flows_confirmed(DPID1, [compiler.PIPELINE_COOKIE, forwarding.forwarding_cookie(forwarding.KIND_LLDP)])
    assert core.policy_installs() == before
    assert core.policy_by_cookie(forwarding.forwarding_cookie(forwarding.KIND_DST, 1)) is None
