"""Shaping: which profile is applied where, and what a failing backend leaves behind."""
from __future__ import annotations

from qosapp.core.queues import QueueProfile, parse_queue_profile
from qosapp.core.shaping import Shaping

SEED = {"sw": "all", "port": "all", "max-rate": "10G",
        "queues": {"0": {"max-rate": "10G"}, "1": {"max-rate": "20M"}, "2": {"max-rate": "2M"}}}
PORTS = {1: {1: "s1-eth1", 2: "s1-eth2"}}


class Backend:
    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[tuple[str, int, str]] = []
        self.fail_on = fail_on

    def apply(self, dpid: int, port_name: str, profile: QueueProfile) -> str | None:
        self.calls.append(("apply", dpid, port_name))
        if port_name == self.fail_on:
            raise RuntimeError(f"no port {port_name!r} in OVSDB")
        return None

    def rates(self, dpid: int, port_name: str) -> None:
        return None

    def clear(self, dpid: int, port_name: str) -> None:
        self.calls.append(("clear", dpid, port_name))


def test_sync_applies_once_and_reports_changes() -> None:
    backend = Backend()
    shaping = Shaping(backend)
    shaping.put(parse_queue_profile(SEED))
    assert shaping.sync(PORTS) is True
    assert backend.calls == [("apply", 1, "s1-eth1"), ("apply", 1, "s1-eth2")]
    assert shaping.sync(PORTS) is False and len(backend.calls) == 2  # nothing new to do
    assert shaping.has_queue((1, "s1-eth2"), 2) and not shaping.has_queue((1, "s1-eth2"), 3)


def test_a_failed_apply_is_shown_and_its_queues_do_not_count() -> None:
    shaping = Shaping(Backend(fail_on="s1-eth2"))
    profile = parse_queue_profile(SEED)
    shaping.put(profile)
    shaping.sync(PORTS)
    assert shaping.state[(1, "s1-eth2")] == {"state": "error", "reason": "no port 's1-eth2' in OVSDB"}
    assert not shaping.has_queue((1, "s1-eth2"), 2) and shaping.has_queue((1, "s1-eth1"), 2)
    assert shaping.view(profile)["applied"]["00:00:00:00:00:00:00:01/s1-eth2"]["state"] == "error"


def test_forget_makes_the_next_sync_apply_again_and_removal_clears() -> None:
    backend = Backend()
    shaping = Shaping(backend)
    profile = parse_queue_profile(SEED)
    shaping.put(profile)
    shaping.sync(PORTS)
    shaping.forget(lambda target: target == (1, "s1-eth1"))
    shaping.sync(PORTS)
    assert backend.calls[-1] == ("apply", 1, "s1-eth1")
    shaping.remove(profile)
    assert shaping.sync(PORTS) is True
    assert sorted(backend.calls[-2:]) == [("clear", 1, "s1-eth1"), ("clear", 1, "s1-eth2")]
    assert shaping.applied == {} and shaping.state == {}


def test_without_a_backend_nothing_is_applied() -> None:
    shaping = Shaping(None)
    shaping.put(parse_queue_profile(SEED))
    assert shaping.sync(PORTS) is False and shaping.applied == {}


def test_put_replaces_the_same_sw_and_port() -> None:
    shaping = Shaping(None)
    shaping.put(parse_queue_profile(SEED))
    shaping.put(parse_queue_profile({**SEED, "max-rate": "1G", "queues": {"0": {"max-rate": "1G"}}}))
    assert len(shaping.profiles) == 1 and shaping.find("all", "all").max_rate == 10**9


def test_leaf_queues_hold_about_50_ms_at_the_ceiling() -> None:
    from qosapp.adapters.tcbridge import leaf_command, leaf_limit
    assert leaf_limit(500_000) == 16 and leaf_limit(2_000_000) == 16  # the floor
    assert leaf_limit(20_000_000) == 83 and leaf_limit(10_000_000_000) == 1000  # the kernel default at most
    assert leaf_command("s1-eth1", 1, 16) == ["tc", "qdisc", "replace", "dev", "s1-eth1", "parent", "1:2",
                                              "pfifo", "limit", "16"]
