"""Queue profiles: parsing, validation, port resolution and the per-port tc filters (no OVS)."""
from __future__ import annotations

from typing import Any

import pytest

from qosapp.core.model import Match, ValidationError, parse_policy
from qosapp.core.shaping import PortFilter
from qosapp.core.queues import (MAX_QUEUE_ID, QueueProfile, htb_classid, parse_port,
                           parse_queue_profile, parse_rate, resolve_ports,
                           resolve_targets)
from qosapp.adapters.tcbridge import filter_command, selectors, skip_reason

SEED = {"sw": "all", "port": "all", "max-rate": 10_000_000_000,
        "queues": {"0": {"max-rate": 10_000_000_000}, "1": {"max-rate": 20_000_000}, "2": {"max-rate": 2_000_000}}}


def profile(**changes: Any) -> QueueProfile:
    return parse_queue_profile({**SEED, **changes})


def rejected(data: Any) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        parse_queue_profile(data)
    return info.value


# ---------------------------------------------------------------- the seed
def test_seed_profile_parses_to_three_queues() -> None:
    seed = parse_queue_profile(SEED)
    assert seed.max_rate == 10**10
    assert [(q.id, q.min_rate, q.max_rate) for q in seed.queues] == [
        (0, None, 10**10), (1, None, 20_000_000), (2, None, 2_000_000)]
    assert seed.sw == "all" and seed.port == "all"


def test_seed_profile_with_suffixes_and_list_form_is_the_same_profile() -> None:
    text = parse_queue_profile({"max-rate": "10G", "queues": [
        {"id": 2, "max-rate": "2M"}, {"id": 0, "max-rate": "10g"}, {"id": "1", "max-rate": "20000k"}]})
    assert text == parse_queue_profile(SEED)


def test_to_dict_round_trips_and_is_normalised() -> None:
    seed = profile(sw="00:00:00:00:00:00:00:01", port="2")
    out = seed.to_dict()
    assert out == {"sw": "00:00:00:00:00:00:00:01", "port": 2, "max-rate": 10**10,
                   "queues": {"0": {"max-rate": 10**10}, "1": {"max-rate": 20_000_000}, "2": {"max-rate": 2_000_000}}}
    assert parse_queue_profile(out) == seed
    assert seed.key == ("00:00:00:00:00:00:00:01", "2")


def test_a_dscp_from_older_answers_is_accepted_and_means_nothing() -> None:
    """Profiles no longer give queues a DSCP (classification is per port, from the flows' matches)."""
    seed = profile()
    shown = seed.to_dict()
    assert "dscp" not in shown["queues"]["2"]
    shown["queues"]["2"]["dscp"] = 7
    assert parse_queue_profile(shown) == seed
    shown["queues"]["2"]["dscp"] = 64
    assert rejected(shown).field == "queues.2.dscp"


# ---------------------------------------------------------------- rates
@pytest.mark.parametrize(("text", "bits"), [
    ("2M", 2_000_000), ("2000k", 2_000_000), ("1.5M", 1_500_000), ("10G", 10**10), (" 20 M ", 20_000_000),
    ("12000", 12_000), (2_000_000, 2_000_000), (2e6, 2_000_000), ("2m", 2_000_000)])
def test_rates_accept_numbers_and_decimal_suffixes(text: Any, bits: int) -> None:
    assert parse_rate(text, "max-rate") == bits


@pytest.mark.parametrize("text", ["2 Mbps", "fast", "-2M", "1.5", "0x10", "2T", True, None, [1]])
def test_rates_refuse_other_shapes(text: Any) -> None:
    with pytest.raises(ValidationError) as info:
        parse_rate(text, "queues.1.max-rate")
    assert info.value.field == "queues.1.max-rate"


def test_rates_below_one_mtu_per_second_or_absurdly_high_are_refused() -> None:
    assert rejected({**SEED, "max-rate": 8000}).field == "max-rate"
    assert rejected({**SEED, "max-rate": "2T"}).field == "max-rate"
    assert rejected({**SEED, "max-rate": 10**13}).field == "max-rate"


# ---------------------------------------------------------------- rules
def test_queue_max_rate_above_port_rate_names_the_field() -> None:
    err = rejected({"max-rate": "1G", "queues": {"0": {}, "1": {}, "2": {"max-rate": "2G"}}})
    assert err.field == "queues.2.max-rate" and "exceeds the port's max-rate" in err.reason


def test_min_rate_above_max_rate_names_the_field() -> None:
    err = rejected({"max-rate": "1G", "queues": {"0": {}, "1": {"min-rate": "30M", "max-rate": "20M"}}})
    assert err.field == "queues.1.min-rate"


def test_min_rate_without_max_rate_is_bounded_by_the_port() -> None:
    ok = parse_queue_profile({"max-rate": "1G", "queues": {"0": {"min-rate": "1G"}}})
    assert ok.queues[0].min_rate == 10**9 and ok.queues[0].max_rate is None
    assert rejected({"max-rate": "1G", "queues": {"0": {"min-rate": "2G"}}}).field == "queues.0.min-rate"


def test_min_rate_zero_means_no_guarantee() -> None:
    assert parse_queue_profile({"max-rate": "1G", "queues": {"0": {"min-rate": 0}}}).queues[0].min_rate == 0


def test_guaranteed_rates_must_fit_in_the_port() -> None:
    err = rejected({"max-rate": "100M", "queues": {"0": {"min-rate": "60M"}, "1": {"min-rate": "60M"}}})
    assert err.field == "queues" and "add up to 120000000" in err.reason


def test_port_max_rate_and_queues_are_required() -> None:
    assert rejected({"queues": SEED["queues"]}).field == "max-rate"
    assert rejected({"max-rate": "1G"}).field == "queues"
    assert rejected({"max-rate": "1G", "queues": {}}).field == "queues"
    assert rejected({"max-rate": "1G", "queues": []}).field == "queues"


def test_queue_ids_are_zero_to_n_without_gaps() -> None:
    assert rejected({"max-rate": "1G", "queues": {"1": {}}}).field == "queues.0"
    err = rejected({"max-rate": "1G", "queues": {"0": {}, "2": {}}})
    assert err.field == "queues.1" and "without gaps" in err.reason


def test_queue_ids_stop_where_the_local_use_dscps_run_out() -> None:
    many = {str(i): {} for i in range(MAX_QUEUE_ID + 1)}
    assert len(parse_queue_profile({"max-rate": "1G", "queues": many}).queues) == 17
    many[str(MAX_QUEUE_ID + 1)] = {}
    assert rejected({"max-rate": "1G", "queues": many}).field == f"queues.{MAX_QUEUE_ID + 1}"


def test_queue_shape_errors_name_the_place() -> None:
    assert rejected({"max-rate": "1G", "queues": [{"max-rate": "1M"}]}).field == "queues[0].id"
    assert rejected({"max-rate": "1G", "queues": [{"id": 0}, {"id": "0"}]}).field == "queues.0"
    assert rejected({"max-rate": "1G", "queues": {"0": "fast"}}).field == "queues.0"
    assert rejected({"max-rate": "1G", "queues": ["fast"]}).field == "queues[0]"
    assert rejected({"max-rate": "1G", "queues": {"0": {"id": 1}}}).field == "queues.0.id"
    assert rejected({"max-rate": "1G", "queues": {"x": {}}}).field == "queues.x"
    assert rejected({"max-rate": "1G", "queues": "0"}).field == "queues"
    assert rejected({"max-rate": "1G", "queues": {"0": {"burst": 1}}}).field == "queues.0.burst"


def test_unknown_keys_and_non_objects_are_refused() -> None:
    assert rejected({**SEED, "rate": 1}).field == "rate"
    assert rejected([SEED]).field == "body"


def test_sw_is_all_or_a_dpid() -> None:
    assert profile(sw="1").sw == "00:00:00:00:00:00:00:01"
    assert profile(sw="00:00:00:00:00:00:00:0a").dpid() == 10
    assert profile().dpid() is None
    assert rejected({**SEED, "sw": "none"}).field == "sw"
    assert rejected({**SEED, "sw": "s1"}).field == "sw"


@pytest.mark.parametrize(("value", "port"), [("all", "all"), ("ALL", "all"), (2, 2), ("2", 2),
                                             ("s1-eth2", "s1-eth2"), (" s1-eth2 ", "s1-eth2")])
def test_ports_are_all_a_number_or_a_name(value: Any, port: Any) -> None:
    assert parse_port(value) == port


@pytest.mark.parametrize("value", [0, -1, "", "a b", "x/y", "sixteen-chars-xx", 1.5, None, True])
def test_port_values_that_cannot_name_a_linux_port_are_refused(value: Any) -> None:
    with pytest.raises(ValidationError) as info:
        parse_port(value)
    assert info.value.field == "port"


# ---------------------------------------------------------------- per-port classification
def test_htb_class_of_queue_n_is_hex_n_plus_one() -> None:
    assert [htb_classid(q) for q in (0, 1, 2, 9, 15)] == ["1:1", "1:2", "1:3", "1:a", "1:10"]


def test_filter_command_is_the_flows_own_match_to_the_queues_class() -> None:
    seed = parse_policy({"name": "s1", "protocol": "6", "ingress-port": "1", "ip-src": "10.0.0.1", "sw": 1,
                         "queue": 2, "enqueue-port": 2})
    item = PortFilter.of(2, seed.priority, seed.match)
    assert filter_command("s1-eth2", 1, item) == [
        "tc", "filter", "add", "dev", "s1-eth2", "parent", "1:0", "protocol", "ip", "prio", "1",
        "u32", "match", "ip", "src", "10.0.0.1/32", "match", "ip", "protocol", "6", "0xff", "flowid", "1:3"]
    assert selectors(seed.match)[2] == ["ingress-port"]  # on egress the in_port is gone


def test_every_match_field_u32_can_see() -> None:
    match = Match(eth_type=0x0800, eth_src="aa:bb:cc:dd:ee:01", eth_dst="aa:bb:cc:dd:ee:02", ip_proto=17,
                  ipv4_src="10.0.0.0/24", ipv4_dst="10.0.1.7", ip_dscp=46, tp_src=5000, tp_dst=53, vlan_vid=10)
    protocol, words, unexpressed = selectors(match)
    assert protocol == "ip" and unexpressed == ["vlan-id"]
    assert " ".join(words) == ("match ip src 10.0.0.0/24 match ip dst 10.0.1.7/32 match ip protocol 17 0xff "
                               "match ip tos 0xb8 0xfc match ip sport 5000 0xffff match ip dport 53 0xffff "
                               "match ether src aa:bb:cc:dd:ee:01 match ether dst aa:bb:cc:dd:ee:02")
    assert selectors(Match()) == ("all", ["match", "u32", "0", "0"], [])
    assert selectors(Match(eth_type=0x0806))[0] == "0x0806"


def test_port_filters_order_like_the_flows() -> None:
    low = PortFilter.of(1, 10, Match(ipv4_src="10.0.0.1"))
    high = PortFilter.of(2, 200, Match(ipv4_src="10.0.0.0/8"))
    assert sorted([low, high]) == [high, low] and high.priority == 200


def test_filters_are_skipped_off_the_userspace_datapath() -> None:
    reason = skip_reason("system")
    assert reason is not None and "not netdev" in reason
    assert skip_reason(None) is not None


# ---------------------------------------------------------------- targets
BRIDGES = {1: {1: "s1-eth1", 2: "s1-eth2", 65534: "s1"},
           2: {1: "s2-eth1", 2: "s2-eth2", 3: "s2-eth3", 0xFFFFFFFE: "s2"}}


def test_all_switches_all_ports_skips_the_local_port() -> None:
    assert resolve_ports(profile(), BRIDGES) == [
        (1, "s1-eth1"), (1, "s1-eth2"), (2, "s2-eth1"), (2, "s2-eth2"), (2, "s2-eth3")]


def test_a_port_number_on_every_switch() -> None:
    assert resolve_ports(profile(port=2), BRIDGES) == [(1, "s1-eth2"), (2, "s2-eth2")]


def test_a_port_name_on_one_switch_and_unknown_targets() -> None:
    assert resolve_ports(profile(sw="2", port="s2-eth3"), BRIDGES) == [(2, "s2-eth3")]
    assert resolve_ports(profile(sw="1", port="s2-eth3"), BRIDGES) == []
    assert resolve_ports(profile(sw="3"), BRIDGES) == []
    assert resolve_ports(profile(port=7), BRIDGES) == []


def test_the_most_specific_profile_wins_and_newer_breaks_ties() -> None:
    everywhere = profile()
    switch2 = profile(sw="2", **{"max-rate": "1G", "queues": {"0": {}}})
    port2 = profile(port=2, **{"max-rate": "100M", "queues": {"0": {}}})
    named = profile(port="s2-eth2", **{"max-rate": "50M", "queues": {"0": {}}})
    chosen = resolve_targets([named, port2, switch2, everywhere], BRIDGES)
    assert chosen[(1, "s1-eth1")] is everywhere
    assert chosen[(2, "s2-eth1")] is switch2
    assert chosen[(1, "s1-eth2")] is port2
    assert chosen[(2, "s2-eth2")] is port2  # same specificity as `named`, later in the list
    assert resolve_targets([port2, named], BRIDGES)[(2, "s2-eth2")] is named


def test_matches_tells_whether_a_reappearing_port_is_shaped() -> None:
    one = profile(sw="1", port="s1-eth2")
    assert one.matches(1, 2, "s1-eth2")
    assert not one.matches(2, 2, "s1-eth2")
    assert not profile().matches(1, 65534, "s1")
