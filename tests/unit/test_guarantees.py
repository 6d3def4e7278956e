"""Guarantees: min-rate validated as OVS's linux-htb applies it, and the applied rates read back and compared."""
from __future__ import annotations

from typing import Any

import pytest

from qosapp.adapters.tcbridge import parse_class_rates
from qosapp.core.model import ValidationError
from qosapp.core.queues import QueueProfile, ovs_rates, parse_queue_profile, rate_differences
from qosapp.core.shaping import Shaping

GUARANTEE = {"sw": "1", "port": "s1-eth3", "max-rate": "10M",
             "queues": {"0": {}, "1": {"min-rate": "8M", "max-rate": "10M"}, "2": {"min-rate": "1M", "max-rate": "10M"}}}
#: `tc class show dev s1-eth3` as OVS 3.1's linux-htb leaves it for GUARANTEE (leaf qdiscs shortened)
TC_SHOW = """class htb 1:1 parent 1:fffe leaf 8001: prio 0 rate 12Kbit ceil 10Mbit burst 1563b cburst 1563b
class htb 1:fffe root rate 10Mbit ceil 10Mbit burst 1250b cburst 1250b
class htb 1:2 parent 1:fffe leaf 8002: prio 0 rate 8Mbit ceil 10Mbit burst 1563b cburst 1563b
class htb 1:3 parent 1:fffe leaf 8003: prio 0 rate 1Mbit ceil 10Mbit burst 1563b cburst 1563b
"""


def rejected(body: dict[str, Any]) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        parse_queue_profile(body)
    return info.value


def test_min_rate_below_what_ovs_applies_is_refused_naming_the_field() -> None:
    err = rejected({"max-rate": "10M", "queues": {"0": {"min-rate": 5000}}})
    assert err.field == "queues.0.min-rate" and "below 12000" in err.reason
    assert parse_queue_profile({"max-rate": "10M", "queues": {"0": {"min-rate": 0}}}).queues[0].min_rate == 0


def test_a_rate_that_is_not_whole_bytes_is_refused_with_what_ovs_would_apply() -> None:
    err = rejected({"max-rate": "10M", "queues": {"0": {}, "1": {"max-rate": 2_000_001}}})
    assert err.field == "queues.1.max-rate" and "2000000" in err.reason
    assert rejected({"max-rate": "10M", "queues": {"0": {"min-rate": "1.5"}}}).field == "queues.0.min-rate"


def test_min_le_max_le_port_each_names_its_field() -> None:
    assert rejected({**GUARANTEE, "queues": {"0": {"min-rate": "9M", "max-rate": "8M"}}}).field == "queues.0.min-rate"
    assert rejected({**GUARANTEE, "queues": {"0": {"max-rate": "11M"}}}).field == "queues.0.max-rate"
    assert rejected({**GUARANTEE, "queues": {"0": {"min-rate": "11M"}}}).field == "queues.0.min-rate"


def test_ovs_rates_follow_linux_htb() -> None:
    assert ovs_rates(parse_queue_profile(GUARANTEE)) == {
        "0": {"min-rate": 12_000, "max-rate": 10_000_000},
        "1": {"min-rate": 8_000_000, "max-rate": 10_000_000},
        "2": {"min-rate": 1_000_000, "max-rate": 10_000_000}}


def test_tc_class_show_is_read_as_rate_and_ceil_per_queue() -> None:
    rates = parse_class_rates(TC_SHOW + "class htb 2:5 root rate 1Gbit ceil 1Gbit burst 1b cburst 1b\n")
    assert rates["max-rate"] == 10_000_000
    assert rates["queues"]["1"] == {"min-rate": 8_000_000, "max-rate": 10_000_000}
    assert rates["queues"]["0"] == {"min-rate": 12_000, "max-rate": 10_000_000}
    assert set(rates["queues"]) == {"0", "1", "2"}  # 2:5 is no class of OVS's
    assert parse_class_rates("class htb 1:3 parent 1:fffe prio 0 rate 1500Kbit ceil 2Gbit burst 1b cburst 1b")[
        "queues"]["2"] == {"min-rate": 1_500_000, "max-rate": 2_000_000_000}


def test_differences_name_the_queue_and_rate() -> None:
    profile = parse_queue_profile(GUARANTEE)
    assert rate_differences(profile, parse_class_rates(TC_SHOW)) == []
    lowered = parse_class_rates(TC_SHOW.replace("rate 8Mbit", "rate 12Kbit"))
    assert rate_differences(profile, lowered) == ["queue 1 min-rate: applied 12000, asked 8000000"]
    assert rate_differences(profile, {"queues": {}})[0] == "queue 0: no class on the port"


class ReadingBackend:
    def __init__(self, text: str) -> None:
        self.text = text

    def apply(self, dpid: int, port_name: str, profile: QueueProfile) -> str | None:
        return None

    def rates(self, dpid: int, port_name: str) -> dict[str, Any] | None:
        if not self.text:
            raise RuntimeError("tc: no such device")
        return {"source": "tc", **parse_class_rates(self.text)}

    def clear(self, dpid: int, port_name: str) -> None:
        pass


def test_the_profile_answer_shows_the_rates_read_back_and_their_differences() -> None:
    profile = parse_queue_profile(GUARANTEE)
    shaping = Shaping(ReadingBackend(TC_SHOW.replace("rate 1Mbit", "rate 12Kbit")))
    shaping.put(profile)
    shaping.sync({1: {3: "s1-eth3"}})
    state = shaping.view(profile)["applied"]["00:00:00:00:00:00:00:01/s1-eth3"]
    assert state["state"] == "applied" and state["rates"]["queues"]["1"]["min-rate"] == 8_000_000
    assert state["rates-note"] == "queue 2 min-rate: applied 12000, asked 1000000"
    failing = Shaping(ReadingBackend(""))
    failing.put(profile)
    failing.sync({1: {3: "s1-eth3"}})
    state = failing.state[(1, "s1-eth3")]
    assert state["state"] == "applied" and state["rates-error"] == "tc: no such device"
