"""End state, not batch boundaries: what each switch holds after a sequence of events and requests.

The service sends into `FakeSwitches` (tests/unit/fakeoftable.py), which
applies every operation as the switch would; the assertions are about the
tables. Also: the fake table's own semantics, and the core's returned
`Effects` as plain values.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from qosapp.core.compiler import OF10, OF13, FlowDelete, FlowSpec
from qosapp.core.controller import WIPE, QosCore
from qosapp.core.cookies import is_forwarding_cookie, path_cookie, policy_cookie
from qosapp.core.effects import Effects
from qosapp.adapters.store import Store
from tests.unit.fakeoftable import FakeSwitches, FakeTable
from tests.unit.serviceenv import make_service
from tests.unit.test_fabric import PATH, connect_ring, expected_path_flows, arp_from, SHORT_FWD, SHORT_REV

A = FlowSpec(cookie=0x5100000000000001, priority=10, match=(("in_port", 1),), actions=(("output", 2),))
B = FlowSpec(cookie=0x5100000000000002, priority=10, match=(("in_port", 2),), actions=(("output", 1),))


def test_fake_table_add_replaces_same_match_and_priority() -> None:
    table = FakeTable(OF13)
    table.apply([A, B, FlowSpec(cookie=A.cookie, priority=10, match=A.match, actions=(("output", 3),))])
    assert len(table.flows) == 2 and ("output", 3) in next(iter(table.holding(A.cookie))).actions


def test_fake_table_deletes_by_cookie_on_of13_and_strictly_on_of10() -> None:
    of13 = FakeTable(OF13)
    of13.apply([A, B, FlowDelete(cookie=A.cookie)])
    assert of13.holding() == {B}
    of10 = FakeTable(OF10)
    of10.apply([A, B, FlowDelete(cookie=A.cookie, strict=A)])
    assert of10.holding() == {B}
    with pytest.raises(AssertionError, match="no delete by cookie"):
        of10.apply([FlowDelete(cookie=B.cookie)])
    of10.apply([WIPE])
    assert of10.holding() == set()


def test_core_returns_effects_and_sends_nothing_itself(tmp_path: Path) -> None:
    """The core is a value-returning function of its state: no send, no queue backend."""
    core = QosCore(Store(str(tmp_path)), forwarding="normal")
    fx = core.switch_connected(1, OF13, {1: "s1-eth1"})
    assert isinstance(fx, Effects) and fx.sync_queues and [d for d, _ in fx.flows] == [1]
    assert fx.flows[0][1][0] == WIPE
    changed, fx = core.enable()
    assert changed is True and fx.flows == []  # no policies yet
    policy, fx = core.add_policy({"name": "p", "queue": 1, "enqueue-port": 1})
    assert fx.by_dpid()[1][0].cookie == policy_cookie(1) and fx.confirm is False
    assert core.pending([policy])
    fx = core.flows_confirmed(1, [policy_cookie(1)])
    assert fx.confirm and not core.pending([policy])


def test_a_day_of_a_ring_ends_with_exactly_the_right_flows(tmp_path: Path) -> None:
    """Connect, learn, enable, policies, a path, a reconnect, a delete: the tables, not the messages."""
    switches = FakeSwitches()
    core = make_service(str(tmp_path), switches)
    connect_ring(core, 5)
    for i in (1, 3):
        arp_from(core, i)
    core.enable()
    core.add_service({"name": "Voice", "dscp": "EF"})
    voice = core.add_policy({"name": "voice", "service": "Voice", "protocol": 17, "dst-port": 5060})
    path = core.add_path(PATH)
    assert path.id is not None and voice.id is not None
    expected = expected_path_flows(SHORT_FWD, SHORT_REV)
    for dpid in range(1, 6):
        assert switches.holding(dpid, path_cookie(path.id)) == set(expected.get(dpid, []))
        assert len(switches.holding(dpid, policy_cookie(voice.id))) == 1
    before = {dpid: switches.holding(dpid) for dpid in range(1, 6)}
    core.switch_connected(2, OF13, {p: f"s2-eth{p}" for p in (1, 2, 3)})  # a reconnect: wipe, then all of it again
    assert switches.holding(2) == before[2]
    core.delete_policy("voice")
    core.delete_path(PATH["name"])
    for dpid in range(1, 6):
        left = switches.holding(dpid)
        assert left and all(is_forwarding_cookie(f.cookie) or f.table_id == 0 and f.priority == 0 for f in left)
