"""Converging to the store: the pure row diff, and two instances on one store (SQLite here, etcd in a cluster).

Instance A takes requests; instance B has a switch and only ever converges
(`QosService.converge`, reading the shared store). B's switch table (a
`FakeSwitches`) must end up as if the requests had been made on B; an
instance's own writes converge to nothing.
"""
from __future__ import annotations

from pathlib import Path

from qosapp.core.compiler import OF13, FlowSpec
from qosapp.core.converge import Held, diff
from qosapp.core.cookies import policy_cookie
from qosapp.core.storeapi import Tables, read_tables
from qosapp.service import QosService
from tests.unit.fakeoftable import FakeSwitches
from tests.unit.serviceenv import make_service
from tests.unit.test_core import SEED_MATCH, SEED_S1, SEED_S2

PORTS = {1: "s1-eth1", 2: "s1-eth2"}
S1_FLOW = FlowSpec(cookie=policy_cookie(1), priority=32767, match=SEED_MATCH,
                   actions=(("set_queue", 2), ("output", 2)))


def pair(tmp_path: Path) -> tuple[QosService, QosService, FakeSwitches]:
    """A (writer, no switch) and B (switch s1, converges), on one store."""
    a = make_service(str(tmp_path), forwarding="normal")
    switches = FakeSwitches()
    b = make_service(str(tmp_path), send=switches, forwarding="normal")
    b.switch_connected(1, OF13, PORTS)
    switches.take()
    return a, b, switches


def converge(b: QosService) -> bool:
    return b.converge(lambda: read_tables(b.core.store))


# ---------------------------------------------------------------- the pure diff
def test_diff_names_each_kind_of_change() -> None:
    held = Held(enabled=False, services={"Best Effort": (1, 0), "Gold": (2, 10)},
                policies={1: ("a", {"name": "a", "sw": "all"}), 2: ("b", {"name": "b"}), 3: ("c", {"name": "c"})},
                paths={1: ("p", {"name": "p"})},
                queue_profiles={("all", "all"): {"sw": "all", "port": "all", "max-rate": 1}})
    tables = Tables(settings={"enabled": "true"},
                    services=[(1, "Best Effort", 0), (3, "Voice", 46)],
                    policies=[(1, "a", {"name": "a", "sw": "all"}), (2, "b2", {"name": "b2"}), (4, "d", {"name": "d"})],
                    paths=[(2, "q", {"name": "q"})],
                    queue_profiles=[(5, {"sw": "all", "port": "all", "max-rate": 2}),
                                    (6, {"sw": "1", "port": "s1-eth2", "max-rate": 3})])
    change = diff(tables, held)
    assert change.enabled is True
    assert change.services_added == [(3, "Voice", 46)] and change.services_removed == ["Gold"]
    assert change.policies_added == [(4, "d", {"name": "d"})]
    assert change.policies_changed == [(2, "b2", {"name": "b2"})]
    assert change.policies_removed == [3]
    assert change.paths_added == [(2, "q", {"name": "q"})] and change.paths_removed == [1]
    assert [b["max-rate"] for b in change.queues_put] == [2, 3] and change.queues_removed == []
    assert not change.empty()


def test_diff_of_equal_rows_is_empty() -> None:
    held = Held(enabled=True, services={"Best Effort": (1, 0)}, policies={7: ("x", {"name": "x"})})
    tables = Tables(settings={"enabled": "true"}, services=[(1, "Best Effort", 0)], policies=[(7, "x", {"name": "x"})])
    change = diff(tables, held)
    assert change.empty() and change.summary() == "nothing"


# ---------------------------------------------------------------- two instances, one store
def test_policies_written_elsewhere_reach_this_instances_switch(tmp_path: Path) -> None:
    a, b, switches = pair(tmp_path)
    a.enable()
    a.add_policies([SEED_S1, SEED_S2])
    assert converge(b)
    assert b.core.enabled and set(b.core.policies) == {"Enqueue 2:2 s1", "Enqueue 1:2 s2"}
    assert switches.holding(1, policy_cookie(1)) == {S1_FLOW}
    assert switches.holding(1, policy_cookie(2)) == set()  # SEED_S2 is for s2 only
    assert not converge(b)  # nothing new: nothing sent
    assert switches.take() != [] and switches.take() == []

    # a PUT elsewhere: same id and cookie, new body
    a.replace_policy("Enqueue 2:2 s1", {**SEED_S1, "queue": "1"})
    assert converge(b)
    (flow,) = switches.holding(1, policy_cookie(1))
    assert flow.actions == (("set_queue", 1), ("output", 2))

    # a delete elsewhere removes exactly its flows
    a.delete_policy("Enqueue 2:2 s1")
    assert converge(b)
    assert switches.holding(1, policy_cookie(1)) == set() and set(b.core.policies) == {"Enqueue 1:2 s2"}


def test_enable_and_disable_elsewhere(tmp_path: Path) -> None:
    a, b, switches = pair(tmp_path)
    a.add_policies([SEED_S1])  # disabled: stored, not installed
    assert converge(b) and switches.holding(1, policy_cookie(1)) == set()
    a.enable()
    assert converge(b) and switches.holding(1, policy_cookie(1)) == {S1_FLOW}
    a.disable()
    a.delete_policy("Enqueue 2:2 s1")  # both in one round: the flow must still go
    assert converge(b)
    assert not b.core.enabled and switches.holding(1, policy_cookie(1)) == set() and not b.core.policies


def test_services_queues_and_paths_follow(tmp_path: Path) -> None:
    a, b, _ = pair(tmp_path)
    a.add_service({"name": "Voice", "dscp": "EF"})
    a.add_queue_profile({"sw": "all", "port": "all", "max-rate": 10_000_000,
                         "queues": {"0": {"max-rate": 10_000_000}, "1": {"max-rate": 2_000_000}}})
    a.add_path({"name": "h1-h2", "src": "10.0.0.1", "dst": "10.0.0.2", "service": "Voice"})
    assert converge(b)
    assert b.core.services["Voice"].dscp == 46
    assert [p.key for p in b.core.queue_profiles] == [("all", "all")]
    assert set(b.core.fabric.paths) == {"h1-h2"}
    a.delete_path("h1-h2")
    a.delete_queue_profile("all", "all")
    assert converge(b)
    assert not b.core.fabric.paths and not b.core.queue_profiles
    a.delete_service("Voice")
    assert converge(b) and "Voice" not in b.core.services


def test_own_writes_converge_to_nothing(tmp_path: Path) -> None:
    a, _, _ = pair(tmp_path)
    a.enable()
    a.add_policies([SEED_S1, SEED_S2])
    a.replace_policy("Enqueue 1:2 s2", {**SEED_S2, "priority": 100})
    a.add_queue_profile({"sw": "all", "port": "all", "max-rate": 10_000_000, "queues": {"0": {"max-rate": 1_000_000}}})
    assert not converge(a)


def test_a_read_that_is_not_ready_changes_nothing(tmp_path: Path) -> None:
    a, b, switches = pair(tmp_path)
    a.enable()
    assert not b.converge(lambda: None)
    assert not b.core.enabled and switches.take() == []


def test_meters_follow_before_the_policies_that_use_them(tmp_path: Path) -> None:
    a, b, switches = pair(tmp_path)
    a.enable()
    a.add_meter({"name": "2M", "rate": "2M", "burst": "200k"})
    a.add_policies([{**SEED_S1, "meter": "2M"}])
    assert converge(b)
    assert set(b.core.meters) == {"2M"} and b.core.policies["Enqueue 2:2 s1"].meter == "2M"
    (flow,) = switches.holding(1, policy_cookie(1))
    assert any(action[0] == "meter" for action in flow.actions)
    a.delete_policy("Enqueue 2:2 s1")
    a.delete_meter("2M")
    assert converge(b)
    assert not b.core.meters and switches.holding(1, policy_cookie(1)) == set()
