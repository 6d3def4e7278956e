"""Install states that tell the truth about queues, and queue profiles that live policies use.

A queue policy whose queue is not on the port it enqueues to is `missing-queue`
on that switch (port and queue named) and sends nothing, the same fact a path
reports as `missing-queues`; it goes in when a profile gives the queue and out
again when the queue goes. Deleting or shrinking a profile that live policies
or paths use is 409 naming them, unless forced; then their states change and
the answer lists them. The store is a real SQLite file, the queue backend a
recorder, `send` a fake switch table.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from qosapp.core.compiler import OF10, OF13, FlowDelete, FlowSpec
from qosapp.core.cookies import policy_cookie
from qosapp.core.model import ValidationError
from qosapp.core.shaping import PortFilter
from qosapp.service import QosService
from tests.unit.serviceenv import make_service
from tests.unit.test_fabric import PATH, QueueRecorder, Recorder, ring_with_hosts

THREE = {"sw": "all", "port": "all", "max-rate": "10M", "queues": {"0": {}, "1": {"max-rate": "5M"},
                                                                 "2": {"max-rate": "2M"}}}
S1 = "00:00:00:00:00:00:00:01"
TO_PORT_2 = {"name": "to port 2", "ingress-port": 1, "ip-src": "10.0.0.1", "sw": S1, "queue": 2, "enqueue-port": 2}


@pytest.fixture
def core(tmp_path: Path) -> QosService:
    service = make_service(str(tmp_path / "state"), Recorder(), queues=QueueRecorder(), forwarding="normal")
    service.enable()
    return service


def ports(dpid: int) -> dict[int, str]:
    return {p: f"s{dpid}-eth{p}" for p in (1, 2, 3)}


def state_on(core: QosService, name: str, dpid: str = S1) -> dict[str, Any]:
    return core.policy_view(core.get_policy(name))["install"][dpid]


def policy_ops(core: QosService, name: str) -> list[Any]:
    """The flow ops sent for `name`'s cookie since the last call."""
    cookie = policy_cookie(core.get_policy(name).id or 0)
    rec: Recorder = core.send  # type: ignore[assignment]
    return [op for _dpid, ops in rec.take() for op in ops if op.cookie == cookie]


def test_queue_not_on_the_enqueue_port_is_missing_queue_naming_port_and_queue(core: QosService) -> None:
    core.add_queue_profile(THREE)
    core.switch_connected(1, OF13, ports(1))
    core.add_policy({**TO_PORT_2, "queue": 5})
    state = state_on(core, "to port 2")
    assert state["state"] == "missing-queue"
    assert state["missing-queues"] == [{"port": 2, "queue": 5}]
    assert "queue 5 does not exist on 00:00:00:00:00:00:00:01 port 2" in state["reason"]
    assert policy_ops(core, "to port 2") == []  # nothing enqueues into nothing


def test_no_profile_at_all_is_missing_queue(core: QosService) -> None:
    core.switch_connected(1, OF13, ports(1))
    core.add_policy(TO_PORT_2)
    assert state_on(core, "to port 2")["state"] == "missing-queue"


def test_the_queue_arrives_the_policy_goes_in_and_out_again_when_forced_away(core: QosService) -> None:
    core.switch_connected(1, OF13, ports(1))
    core.add_policy({**TO_PORT_2, "queue": 5})
    policy_ops(core, "to port 2")
    six = {**THREE, "queues": {str(q): {} for q in range(6)}}
    core.add_queue_profile(six)
    [flow] = policy_ops(core, "to port 2")
    assert isinstance(flow, FlowSpec) and flow.actions == (("set_queue", 5), ("output", 2))
    assert state_on(core, "to port 2")["state"] == "pending"
    (_profile, lost) = core.add_queue_profile(THREE, force=True)
    assert lost == [{"policy": "to port 2", "dpid": S1, "port": 2, "queue": 5}]
    assert policy_ops(core, "to port 2") == [FlowDelete(cookie=flow.cookie)]
    assert state_on(core, "to port 2")["state"] == "missing-queue"


def test_deleting_a_profile_live_policies_use_is_409_naming_them(core: QosService) -> None:
    core.add_queue_profile(THREE)
    core.switch_connected(1, OF13, ports(1))
    core.add_policy(TO_PORT_2)
    before = core.store.queue_profiles()
    with pytest.raises(ValidationError) as err:
        core.delete_queue_profile("all", "all")
    assert err.value.status == 409 and err.value.field == "force"
    assert "'to port 2'" in err.value.reason and "force=true" in err.value.reason
    assert err.value.to_dict()["in-use"] == [{"policy": "to port 2", "dpid": S1, "port": 2, "queue": 2}]
    assert core.store.queue_profiles() == before and len(core.queue_profiles) == 1
    assert state_on(core, "to port 2")["state"] == "pending"


def test_forced_delete_lists_them_and_their_state_changes(core: QosService) -> None:
    core.add_queue_profile(THREE)
    core.switch_connected(1, OF13, ports(1))
    core.add_policy(TO_PORT_2)
    policy_ops(core, "to port 2")
    profile, lost = core.delete_queue_profile("all", "all", force=True)
    assert profile.port == "all" and lost == [{"policy": "to port 2", "dpid": S1, "port": 2, "queue": 2}]
    assert core.store.queue_profiles() == []
    assert state_on(core, "to port 2")["state"] == "missing-queue"
    assert len(policy_ops(core, "to port 2")) == 1  # its flow deleted


def test_shrinking_a_profile_is_409_but_growing_is_not(core: QosService) -> None:
    core.add_queue_profile(THREE)
    core.switch_connected(1, OF13, ports(1))
    core.add_policy(TO_PORT_2)
    with pytest.raises(ValidationError) as err:
        core.add_queue_profile({**THREE, "queues": {"0": {}, "1": {}}})
    assert err.value.status == 409 and "to port 2" in err.value.reason
    _profile, lost = core.add_queue_profile({**THREE, "queues": {str(q): {} for q in range(4)}})
    assert lost == []
    # a more specific profile without the queue, on the port the policy uses, shrinks it too
    with pytest.raises(ValidationError):
        core.add_queue_profile({**THREE, "sw": S1, "port": 2, "queues": {"0": {}}})
    core.add_queue_profile({**THREE, "sw": S1, "port": 3, "queues": {"0": {}}})  # another port: fine


def test_unused_profiles_and_disabled_qos_are_no_users(core: QosService) -> None:
    core.add_queue_profile(THREE)
    core.switch_connected(1, OF13, ports(1))
    core.add_policy({**TO_PORT_2, "sw": "none"})
    core.add_policy({"name": "marks", "service": "Best Effort", "sw": S1})
    assert core.queue_users_lost([]) == []
    core.disable()
    core.add_policy({**TO_PORT_2, "name": "other", "ip-src": "10.0.0.9"})
    core.delete_queue_profile("all", "all")  # nothing installed while disabled


def test_paths_that_use_the_queue_are_named_too(tmp_path: Path) -> None:
    core = make_service(str(tmp_path / "state"), Recorder(), queues=QueueRecorder())
    core.add_queue_profile(THREE)
    ring_with_hosts(core)
    core.enable()
    core.add_path(PATH)
    with pytest.raises(ValidationError) as err:
        core.delete_queue_profile("all", "all")
    users = err.value.to_dict()["in-use"]
    assert {u["path"] for u in users} == {"h1-h3"} and {(u["dpid"], u["port"]) for u in users} >= {(S1, 2), (S1, 1)}
    _profile, lost = core.delete_queue_profile("all", "all", force=True)
    assert lost == users
    assert core.path_view(core.get_path("h1-h3"))["status"]["state"] == "missing-queues"


def test_queue_policy_without_enqueue_port_needs_the_queue_on_every_port(core: QosService) -> None:
    core.add_queue_profile({**THREE, "sw": S1, "port": 1})
    core.add_queue_profile({**THREE, "sw": S1, "port": 2})
    core.switch_connected(1, OF13, ports(1))
    core.add_policy({"name": "h1", "ip-src": "10.0.0.1", "queue": 2})
    state = state_on(core, "h1")
    assert state["state"] == "missing-queue" and state["missing-queues"] == [{"port": 3, "queue": 2}]
    core.add_queue_profile({**THREE, "sw": S1, "port": 3})
    [flow] = policy_ops(core, "h1")
    assert isinstance(flow, FlowSpec) and flow.actions == (("set_queue", 2), ("goto_table", 1))


def test_queue_policy_without_enqueue_port_is_an_error_on_openflow10(core: QosService) -> None:
    core.add_queue_profile(THREE)
    core.switch_connected(1, OF10, ports(1))
    core.add_policy({"name": "h1", "ip-src": "10.0.0.1", "queue": 2})
    state = state_on(core, "h1")
    assert state["state"] == "error" and "enqueue action needs a port" in state["reason"]
    assert policy_ops(core, "h1") == []
    core.delete_policy("h1")  # nothing to delete on the switch, and no crash compiling it


@pytest.mark.parametrize("forwarding,state", [("learned", "error"), ("normal", "pending")])
def test_sw_all_enqueue_port_without_ingress_port_on_openflow10(tmp_path: Path, forwarding: str, state: str) -> None:
    """The companion flow for traffic entering on the enqueue port can only be NORMAL on OpenFlow 1.0."""
    core = make_service(str(tmp_path / "state"), Recorder(), queues=QueueRecorder(), forwarding=forwarding)
    core.enable()
    core.add_queue_profile(THREE)
    core.switch_connected(1, OF10, ports(1))
    core.add_policy({"name": "to 2", "ip-src": "10.0.0.1", "queue": 2, "enqueue-port": 2})
    got = state_on(core, "to 2")
    assert got["state"] == state
    if state == "error":
        assert "enters on enqueue-port 2" in got["reason"]


def test_in_port_enqueue_checks_the_ingress_port(core: QosService) -> None:
    core.add_queue_profile({**THREE, "sw": S1, "port": 2})
    core.switch_connected(1, OF13, ports(1))
    core.add_policy({"name": "hairpin", "ingress-port": 1, "queue": 2, "enqueue-port": "in_port", "sw": S1})
    assert state_on(core, "hairpin")["missing-queues"] == [{"port": 1, "queue": 2}]


def test_enqueue_port_any_installs_where_some_port_has_the_queue(core: QosService) -> None:
    """rest_qos's set_queue: the queue applies on the ports that have it, the others send unshaped."""
    core.switch_connected(1, OF13, ports(1))
    core.add_policy({"name": "h1", "ip-src": "10.0.0.1", "queue": 2, "enqueue-port": "any", "sw": S1})
    assert state_on(core, "h1")["state"] == "missing-queue"  # no port has queue 2 at all
    core.add_queue_profile({**THREE, "sw": S1, "port": 1})
    [flow] = policy_ops(core, "h1")
    assert isinstance(flow, FlowSpec) and flow.actions == (("set_queue", 2), ("goto_table", 1))
    assert core.get_policy("h1").to_dict()["enqueue-port"] == "any"


# ---------------------------------------------------------------- per-port classification
def test_each_port_is_classified_by_the_flows_that_enqueue_there_only(core: QosService) -> None:
    backend: QueueRecorder = core.queues  # type: ignore[assignment]
    core.add_queue_profile(THREE)
    core.switch_connected(1, OF13, ports(1))
    core.switch_connected(2, OF13, ports(2))
    policy = core.add_policy(TO_PORT_2)
    item = PortFilter.of(2, 32767, policy.match)
    assert core.wanted_filters() == {(1, "s1-eth2"): (item,)}  # s1's port 2 only: not s2, not s1's others
    assert backend.classified[-1] == (1, "s1-eth2", (item,))
    assert core.queue_profile_view(core.queue_profiles[0])["applied"]["00:00:00:00:00:00:00:01/s1-eth2"][
        "filters"] == 1
    core.add_policy({"name": "h1 anywhere", "ip-src": "10.0.0.1", "queue": 1, "sw": S1})  # forwarding chooses
    assert set(core.wanted_filters()) == {(1, "s1-eth1"), (1, "s1-eth2"), (1, "s1-eth3")}
    core.disable()
    assert core.wanted_filters() == {}
    assert backend.classified[-1][2] == ()  # the filters went with the flows


def test_a_rewritten_profile_gets_its_filters_again(core: QosService) -> None:
    backend: QueueRecorder = core.queues  # type: ignore[assignment]
    core.add_queue_profile(THREE)
    core.switch_connected(1, OF13, ports(1))
    core.add_policy(TO_PORT_2)
    before = len(backend.classified)
    core.add_queue_profile({**THREE, "queues": {**THREE["queues"], "2": {"max-rate": "3M"}}})  # OVS rebuilds the qdisc
    assert len(backend.classified) == before + 1 and backend.classified[-1][1] == "s1-eth2"
