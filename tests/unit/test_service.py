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
