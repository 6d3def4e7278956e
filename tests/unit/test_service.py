"""qosapp.service: one lock per request or event, effects applied in order, confirm waits outside the lock."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ryu.lib import hub

from qosapp.core.compiler import OF13, FlowSpec
from qosapp.core.cookies import policy_cookie
from qosapp.core.model import ValidationError
from qosapp.core.queues import QueueProfile
from tests.unit.fakeoftable import FakeSwitches
from tests.unit.serviceenv import make_service

PROFILE = {"sw": "all", "port": "all", "max-rate": "10M", "queues": {"0": {}, "1": {"max-rate": "2M"}}}


class SlowQueues:
    """A queue backend whose OVSDB work yields to other green threads, as the real one does."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.on_first_apply: Any = None

    def apply(self, dpid: int, port_name: str, profile: QueueProfile) -> str | None:
        self.calls.append(f"apply {dpid} {port_name}")
        if self.on_first_apply is not None:
            start, self.on_first_apply = self.on_first_apply, None
            start()
        hub.sleep(0.01)
        return None

    def rates(self, dpid: int, port_name: str) -> None:
        return None

    def clear(self, dpid: int, port_name: str) -> None:
        self.calls.append(f"clear {dpid} {port_name}")


def test_a_request_does_not_run_in_the_middle_of_a_cold_start(tmp_path: Path) -> None:
    """While a connecting switch's queue sync yields, a REST request waits for the lock."""
    switches, queues = FakeSwitches(), SlowQueues()
    core = make_service(str(tmp_path), switches, queues=queues, green=True)
    core.enable()
    core.add_queue_profile(PROFILE)
    order: list[str] = []
    real_send = core.send

    def send(dpid: int, ops: list[Any]) -> None:
        order.append("policy" if any(isinstance(op, FlowSpec) and op.cookie == policy_cookie(1) for op in ops)
                     else "connect")
        real_send(dpid, ops)

    core.send = send
    threads = []
    queues.on_first_apply = lambda: threads.append(hub.spawn(core.add_policy, {"name": "p", "queue": 1,
                                                                               "enqueue-port": 1}))
    core.switch_connected(1, OF13, {1: "s1-eth1"})
    order.append("connected")
    hub.joinall(threads)
    assert queues.calls == ["apply 1 s1-eth1"] and len(threads) == 1
    assert order == ["connect", "connected", "policy"]  # the whole cold start first, then the request
    assert switches.holding(1, policy_cookie(1))


def test_a_rejected_request_releases_the_lock(tmp_path: Path) -> None:
    core = make_service(str(tmp_path), FakeSwitches())
    with pytest.raises(ValidationError):
        core.add_policy({"name": "bad", "queue": "many"})
    assert core.add_policy({"name": "good", "queue": 1, "enqueue-port": 1}).name == "good"


def test_reads_go_to_the_core(tmp_path: Path) -> None:
    core = make_service(str(tmp_path))
    assert core.status() == core.core.status() and core.services is core.core.services


def test_a_big_bulk_is_parsed_in_slices_with_yields_and_checked_again_under_the_lock(tmp_path: Path) -> None:
    from qosapp.service import PARSE_SLICE
    svc = make_service(str(tmp_path))
    svc.add_service({"name": "gold", "dscp": 46})
    yields: list[int] = []
    svc.pause = lambda: yields.append(len(svc.core.policies))
    n = 2 * PARSE_SLICE + 7
    items = [{"name": f"b{i}", "ip-src": f"10.{i >> 8 & 255}.{i & 255}.1", "sw": "all", "queue": 1}
             for i in range(n)]
    assert len(svc.add_policies(items)) == n
    assert yields == [0, 0, 0]  # a yield after each slice, all before anything was stored
    assert len(svc.core.policies) == n

    bad = [{**item, "name": f"c{i}", "priority": 7} for i, item in enumerate(items)]
    bad[PARSE_SLICE + 3]["queue"] = "x"
    with pytest.raises(ValidationError) as err:
        svc.add_policies(bad)
    assert (err.value.field, err.value.index) == ("queue", PARSE_SLICE + 3)  # the index in the whole request

    marked = [{"name": f"m{i}", "ip-src": f"10.9.{i >> 8 & 255}.{i & 255}", "sw": "all", "service": "gold"}
              for i in range(n)]
    slices: list[int] = []

    def meanwhile() -> None:  # the service goes after the last slice was parsed, before the add
        slices.append(1)
        if len(slices) == 3:
            svc.core.services.pop("gold")
    svc.pause = meanwhile
    with pytest.raises(ValidationError) as err:
        svc.add_policies(marked)
    assert (err.value.field, err.value.status, err.value.index) == ("service", 409, 0)
    assert not any(name.startswith(("c", "m")) for name in svc.core.policies)
    assert len(svc.core.store.policies()) == n  # the store holds only the first bulk


def test_policy_views_of_many_equal_each_policy_view(tmp_path: Path) -> None:
    svc = make_service(str(tmp_path))
    items = [{"name": "all", "ip-src": "10.0.0.1", "sw": "all", "queue": 1},
             {"name": "two", "ip-src": "10.0.0.2", "sw": "00:00:00:00:00:00:00:02", "queue": 2, "enqueue-port": 1},
             {"name": "none", "ip-src": "10.0.0.3", "sw": "none", "queue": 1}]
    svc.add_policies(items)
    disabled = svc.core.policy_views(svc.core.policies.values())
    assert disabled == [svc.core.policy_view(p) for p in svc.core.policies.values()]
    assert disabled[0]["install"] == {}  # no switch yet
    svc.enable()
    for dpid in (3, 1, 2):
        svc.switch_connected(dpid, OF13, {1: f"s{dpid}-eth1"})
    views = svc.core.policy_views(svc.core.policies.values())
    assert views == [svc.core.policy_view(p) for p in svc.core.policies.values()]
    assert [list(v) for v in views] == [list(svc.core.policy_view(p)) for p in svc.core.policies.values()]
    assert list(views[0]["install"]) == ["00:00:00:00:00:00:00:01", "00:00:00:00:00:00:00:02",
                                         "00:00:00:00:00:00:00:03"]
    assert list(views[1]["install"]) == ["00:00:00:00:00:00:00:02"] and views[2]["install"] == {}
