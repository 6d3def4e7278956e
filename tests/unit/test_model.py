"""Unit tests for qosapp.core.model: parsing and validation of services and policies.

The seed's JSON is the contract: its keys verbatim, numbers as strings or
JSON numbers, decimal or 0x hex. Every rejection must name a field and a
reason, and no input, however strange, may raise anything but
ValidationError (the REST layer turns only that into a 400/409).
"""
from __future__ import annotations

import json
from typing import Any

import pytest

from qosapp.core.ports import IN_PORT
from qosapp.core.model import (BEST_EFFORT, equal_ports_as_in_port, DEFAULT_PRIORITY, DSCP_NAMES, POLICY_KEYS, Match, Policy,
                          Service, ValidationError, format_dpid, parse_dpid, parse_dscp, parse_int,
                          parse_ipv4, parse_mac, parse_name, parse_policy, parse_service, parse_sw,
                          parse_tos)

SEED_S1 = ('{"name": "Enqueue 2:2 s1", "protocol":"6","eth-type": "0x0800", "ingress-port": "1",'
           '"ip-src":"10.0.0.1", "sw": "00:00:00:00:00:00:00:01","queue":"2","enqueue-port":"2"}')
SEED_S2 = ('{"name": "Enqueue 1:2 s2", "protocol":"6","eth-type": "0x0800", "ingress-port": "1",'
           '"ip-src":"10.0.0.1", "sw": "00:00:00:00:00:00:00:02","queue":"2","enqueue-port":"1"}')
SERVICES = {BEST_EFFORT: 0, "Gold": 46}


def queue_policy(**extra: Any) -> dict[str, Any]:
    """A minimal valid queue policy, plus `extra` keys."""
    return {"name": "p", "queue": 1, "enqueue-port": 2, **extra}


def mark_policy(**extra: Any) -> dict[str, Any]:
    """A minimal valid marking policy, plus `extra` keys."""
    return {"name": "m", "service": "Gold", **extra}


def rejected(data: Any, services: Any = SERVICES) -> ValidationError:
    """Parse `data`, expecting a ValidationError, and return it."""
    with pytest.raises(ValidationError) as info:
        parse_policy(data, services)
    return info.value


# ---------------------------------------------------------------- the seed
def test_seed_policy_s1_verbatim() -> None:
    policy = parse_policy(json.loads(SEED_S1), SERVICES)
    assert policy == Policy(name="Enqueue 2:2 s1",
                            match=Match(in_port=1, eth_type=0x0800, ip_proto=6, ipv4_src="10.0.0.1"),
                            sw="00:00:00:00:00:00:00:01", queue=2, enqueue_port=2, priority=32767)
    assert policy.action == "queue"
    assert policy.dpid() == 1


def test_seed_policy_s2_verbatim_is_refused_naming_enqueue_port() -> None:
    """ingress-port 1, enqueue-port 1: OpenFlow drops a packet sent out of its in-port."""
    err = rejected(json.loads(SEED_S2))
    assert err.field == "enqueue-port" and "equals ingress-port 1" in err.reason and '"in_port"' in err.reason


def test_seed_policy_s2_as_the_compatibility_clients_send_it() -> None:
    body = equal_ports_as_in_port(json.loads(SEED_S2))
    assert body["enqueue-port"] == "in_port"
    policy = parse_policy(body, SERVICES)
    assert policy.name == "Enqueue 1:2 s2"
    assert policy.sw == "00:00:00:00:00:00:00:02"
    assert (policy.queue, policy.enqueue_port) == (2, IN_PORT)
    assert policy.match == Match(in_port=1, eth_type=2048, ip_proto=6, ipv4_src="10.0.0.1")
    assert policy.applies_to(2) and not policy.applies_to(1)
    assert policy.to_dict()["enqueue-port"] == "in_port"
    # anything else passes unchanged
    for other in (json.loads(SEED_S1), mark_policy(), {"queue": 1, "ingress-port": "x", "enqueue-port": "x"}, []):
        assert equal_ports_as_in_port(other) is other


def test_seed_policy_to_dict_is_normalised() -> None:
    policy = parse_policy(json.loads(SEED_S1), SERVICES)
    assert policy.to_dict() == {"name": "Enqueue 2:2 s1", "ingress-port": 1, "eth-type": 2048,
                                "protocol": 6, "ip-src": "10.0.0.1", "sw": "00:00:00:00:00:00:00:01",
                                "queue": 2, "enqueue-port": 2, "priority": 32767}
    assert list(policy.to_dict())[0] == "name"


def test_json_numbers_and_strings_are_equivalent() -> None:
    as_strings = parse_policy(json.loads(SEED_S1))
    as_numbers = parse_policy({"name": "Enqueue 2:2 s1", "protocol": 6, "eth-type": 2048, "ingress-port": 1,
                               "ip-src": "10.0.0.1", "sw": 1, "queue": 2, "enqueue-port": 2})
    assert as_strings == as_numbers


def test_all_seed_keys_accepted_together() -> None:
    data = {"name": "full", "protocol": "17", "eth-type": "0x0800", "ingress-port": "3",
            "ip-src": "10.0.0.0/24", "ip-dst": "10.0.1.7", "tos": "0xb8", "vlan-id": "10",
            "eth-src": "AA:BB:CC:DD:EE:01", "eth-dst": "aa-bb-cc-dd-ee-02", "src-port": "5000",
            "dst-port": "0x50", "sw": "all", "queue": "0", "enqueue-port": "4", "priority": "0x100"}
    policy = parse_policy(data, SERVICES)
    assert policy.match == Match(in_port=3, eth_type=0x0800, eth_src="aa:bb:cc:dd:ee:01",
                                 eth_dst="aa:bb:cc:dd:ee:02", vlan_vid=10, ip_proto=17,
                                 ipv4_src="10.0.0.0/24", ipv4_dst="10.0.1.7", ip_dscp=46,
                                 tp_src=5000, tp_dst=80)
    assert (policy.sw, policy.queue, policy.enqueue_port, policy.priority) == ("all", 0, 4, 256)
    assert set(data) | {"service", "meter", "ipv6-src", "ipv6-dst", "fallback"} == POLICY_KEYS - {"id"}


@pytest.mark.parametrize("data", [
    json.loads(SEED_S1),
    equal_ports_as_in_port(json.loads(SEED_S2)),
    queue_policy(**{"enqueue-port": None, "ip-src": "10.0.0.1"}),
    mark_policy(tos=184, sw="none", priority=1),
    queue_policy(**{"ip-dst": "192.168.0.0/16", "protocol": 17, "dst-port": 53, "vlan-id": 0}),
    queue_policy(**{"eth-type": "0x0806", "eth-src": "00:00:00:00:00:01"}),
])
def test_to_dict_round_trips(data: dict[str, Any]) -> None:
    policy = parse_policy(data, SERVICES)
    again = parse_policy(json.loads(json.dumps(policy.to_dict())), SERVICES)
    assert again == policy


# ---------------------------------------------------------------- numbers
@pytest.mark.parametrize("value,expected", [
    (2, 2), ("2", 2), (" 2 ", 2), ("0x0800", 2048), ("0X1f", 31), ("010", 10), ("+5", 5), (3.0, 3),
])
def test_parse_int_accepts(value: Any, expected: int) -> None:
    assert parse_int(value, "f", 0, 65535) == expected


@pytest.mark.parametrize("value", [
    True, False, None, 2.5, float("nan"), float("inf"), "", "0x", "0xg", "two", "1e3", "1_0", "\u0663",
    "-0x1", "1.0", [1], {"v": 1}, "9" * 5000, "0x" + "f" * 5000,
])
def test_parse_int_rejects_non_integers(value: Any) -> None:
    with pytest.raises(ValidationError) as info:
        parse_int(value, "queue", 0, 10)
    assert info.value.field == "queue"
    assert "integer" in info.value.reason
    assert len(str(info.value)) < 300


@pytest.mark.parametrize("value", [-1, 11, "11", "0xb", 2**64, 10**400, 2**20000, 1e308],
                         ids=["neg", "11", "s11", "hex", "2^64", "10^400", "2^20000", "1e308"])
def test_parse_int_rejects_out_of_range(value: Any) -> None:
    with pytest.raises(ValidationError) as info:
        parse_int(value, "queue", 0, 10)
    assert info.value.field == "queue"
    assert "out of range 0-10" in info.value.reason


# ---------------------------------------------------------------- sw / dpid
@pytest.mark.parametrize("value,expected", [
    ("all", "all"), ("ALL", "all"), (" none ", "none"), ("00:00:00:00:00:00:00:01", "00:00:00:00:00:00:00:01"),
    ("00:00:00:00:00:00:00:0A", "00:00:00:00:00:00:00:0a"), ("000000000000000a", "00:00:00:00:00:00:00:0a"),
    (1, "00:00:00:00:00:00:00:01"), ("0x1f", "00:00:00:00:00:00:00:1f"), ("17", "00:00:00:00:00:00:00:11"),
    (2**64 - 1, "ff:ff:ff:ff:ff:ff:ff:ff"), (1.0, "00:00:00:00:00:00:00:01"),  # 1.0 is the JSON integer 1
])
def test_parse_sw_normalises(value: Any, expected: str) -> None:
    assert parse_sw(value) == expected


@pytest.mark.parametrize("value", [
    "", "some", "00:00:00:00:00:00:01", "00:00:00:00:00:00:00:0g", "0000:0000:0000:0001",
    "00:00:00:00:00:00:00:00:01", -1, 2**64, True, 1.5, None, [1], "0x1" + "0" * 16,
])
def test_parse_sw_rejects(value: Any) -> None:
    with pytest.raises(ValidationError) as info:
        parse_sw(value)
    assert info.value.field == "sw"


def test_sw_defaults_to_all_and_none_is_kept() -> None:
    assert parse_policy(queue_policy()).sw == "all"
    none = parse_policy(queue_policy(sw="none"))
    assert none.sw == "none" and none.dpid() is None
    assert not any(none.applies_to(d) for d in (0, 1, 2, 2**64 - 1))
    assert all(parse_policy(queue_policy()).applies_to(d) for d in (0, 1, 7))


def test_dpid_helpers() -> None:
    assert parse_dpid("00:00:00:00:00:00:01:00") == 256
    assert format_dpid(256) == "00:00:00:00:00:00:01:00"
    assert format_dpid(parse_dpid("de:ad:be:ef:00:00:00:01")) == "de:ad:be:ef:00:00:00:01"


# ---------------------------------------------------------------- addresses
@pytest.mark.parametrize("value,expected", [
    ("10.0.0.1", "10.0.0.1"), ("10.0.0.1/32", "10.0.0.1"), ("10.0.0.0/24", "10.0.0.0/24"),
    (" 10.0.0.0/8 ", "10.0.0.0/8"), ("10.0.0.0/255.255.255.0", "10.0.0.0/24"), ("0.0.0.0/0", "0.0.0.0/0"),
])
def test_parse_ipv4(value: str, expected: str) -> None:
    assert parse_ipv4(value, "ip-src") == expected


@pytest.mark.parametrize("value", [
    "10.0.0.256", "10.0.0", "10.0.0.0/33", "10.0.0.1/24", "::1", "10.0.0.0/-1", "", 167772161, None, ["10.0.0.1"],
])
def test_parse_ipv4_rejects(value: Any) -> None:
    with pytest.raises(ValidationError) as info:
        parse_ipv4(value, "ip-dst")
    assert info.value.field == "ip-dst"


@pytest.mark.parametrize("value,expected", [
    ("AA:BB:CC:DD:EE:FF", "aa:bb:cc:dd:ee:ff"), ("00-11-22-33-44-55", "00:11:22:33:44:55"),
])
def test_parse_mac(value: str, expected: str) -> None:
    assert parse_mac(value, "eth-src") == expected


@pytest.mark.parametrize("value", ["aa:bb:cc:dd:ee", "aa:bb:cc:dd:ee:fg", "aabbccddeeff", "", 1, None])
def test_parse_mac_rejects(value: Any) -> None:
    with pytest.raises(ValidationError) as info:
        parse_mac(value, "eth-dst")
    assert info.value.field == "eth-dst"
    assert "MAC" in info.value.reason


# ---------------------------------------------------------------- ranges per key
@pytest.mark.parametrize("key,ok,bad", [
    ("src-port", [0, 65535], [-1, 65536]),
    ("dst-port", [0, "65535"], ["-1", "0x10000"]),
    ("vlan-id", [0, 4095], [-1, 4096]),
    ("priority", [0, 65535], [-1, 65536]),
    ("protocol", [6, 17], [-1, 256]),
    ("ingress-port", [1, 0xFFFFFF00], [0, 0xFFFFFF01]),
    ("enqueue-port", [1, 0xFFFFFF00], [0, 0xFFFFFF01]),
    ("queue", [0, 0xFFFFFFFE], [-1, 0xFFFFFFFF]),
    ("eth-type", ["0x0800", 0], [-1, 0x10000]),
])
def test_numeric_ranges(key: str, ok: list[Any], bad: list[Any]) -> None:
    extra: dict[str, Any] = {"protocol": 6} if key in ("src-port", "dst-port") else {}
    if key == "priority":
        extra["sw"] = 1  # sw all + enqueue-port without ingress-port needs priority < 65535 (own test)
    for value in ok:
        parse_policy(queue_policy(**{**extra, key: value}))
    for value in bad:
        err = rejected(queue_policy(**{**extra, key: value}))
        assert err.field == key, (key, value)
        assert "out of range" in err.reason


def test_priority_defaults_to_32767() -> None:
    assert DEFAULT_PRIORITY == 32767
    assert parse_policy(queue_policy()).priority == 32767
    assert parse_policy(queue_policy(priority="100")).priority == 100


# ---------------------------------------------------------------- cross-field rules
@pytest.mark.parametrize("key", ["src-port", "dst-port"])
def test_l4_ports_need_tcp_or_udp(key: str) -> None:
    assert rejected(queue_policy(**{key: 80})).field == key
    err = rejected(queue_policy(**{key: 80, "protocol": 1}))
    assert err.field == key and "protocol 6" in err.reason
    assert getattr(parse_policy(queue_policy(**{key: 80, "protocol": "17"})).match,
                   "tp_src" if key == "src-port" else "tp_dst") == 80


@pytest.mark.parametrize("key,value", [
    ("protocol", 6), ("ip-src", "10.0.0.1"), ("ip-dst", "10.0.0.0/24"), ("tos", 184),
])
def test_ip_fields_infer_ipv4(key: str, value: Any) -> None:
    assert parse_policy(queue_policy(**{key: value})).match.eth_type == 0x0800


@pytest.mark.parametrize("key,value", [("ip-src", "10.0.0.1"), ("ip-dst", "10.0.0.0/24")])
def test_ipv4_fields_with_non_ipv4_eth_type_rejected(key: str, value: Any) -> None:
    err = rejected(queue_policy(**{key: value, "eth-type": "0x86dd"}))
    assert err.field == "eth-type"
    assert "0x86dd" in err.reason and key in err.reason


@pytest.mark.parametrize("key,value", [("protocol", 6), ("tos", 184), ("ipv6-src", "fc00::1")])
def test_ip_fields_with_non_ip_eth_type_rejected(key: str, value: Any) -> None:
    err = rejected(queue_policy(**{key: value, "eth-type": "0x0806"}))
    assert err.field == "eth-type" and "0x0806" in err.reason and key in err.reason


def test_non_ip_eth_type_alone_is_fine() -> None:
    policy = parse_policy(queue_policy(**{"eth-type": "0x0806"}))
    assert policy.match == Match(eth_type=0x0806)


def test_match_without_ip_fields_has_no_eth_type() -> None:
    policy = parse_policy(queue_policy(**{"ingress-port": 1}))
    assert policy.match == Match(in_port=1)


def test_marking_policy_infers_ipv4() -> None:
    # OF1.3 set_field ip_dscp needs eth_type=0x0800 in the match, or OVS rejects the flow.
    assert parse_policy(mark_policy(**{"ingress-port": 1}), SERVICES).match == Match(in_port=1, eth_type=0x0800)
    err = rejected(mark_policy(**{"eth-type": "0x0806"}))
    assert err.field == "eth-type" and "0x0806" in err.reason


def test_queue_without_enqueue_port_lets_forwarding_choose() -> None:
    assert parse_policy({"name": "p", "queue": 1}).enqueue_port is None
    assert parse_policy({"name": "p", "queue": 1, "enqueue-port": None}).to_dict() == {
        "name": "p", "sw": "all", "queue": 1, "priority": 32767}


@pytest.mark.parametrize("spelling", ["in_port", "IN_PORT", " In_Port "])
def test_enqueue_port_in_port_is_openflow_in_port(spelling: str) -> None:
    assert parse_policy(queue_policy(**{"enqueue-port": spelling, "ingress-port": 2})).enqueue_port == IN_PORT


def test_enqueue_port_equal_to_ingress_port_is_refused() -> None:
    err = rejected(queue_policy(**{"ingress-port": "2", "enqueue-port": 2}))
    assert err.field == "enqueue-port" and "equals ingress-port 2" in err.reason


def test_sw_all_enqueue_port_without_ingress_port_needs_room_above_its_priority() -> None:
    err = rejected(queue_policy(priority=65535))
    assert err.field == "priority" and "one priority higher" in err.reason
    parse_policy(queue_policy(priority=65535, sw=1))  # one named switch: no companion flow
    parse_policy(queue_policy(priority=65535, **{"ingress-port": 1}))
    parse_policy(queue_policy(priority=65534))


def test_enqueue_port_needs_queue() -> None:
    assert rejected(mark_policy(**{"enqueue-port": 2})).field == "enqueue-port"


def test_queue_and_service_together_rejected() -> None:
    err = rejected(queue_policy(service="Gold"))
    assert err.field == "service"
    assert "not both" in err.reason


def test_policy_needs_an_action() -> None:
    assert rejected({"name": "p", "ingress-port": 1}).field == "queue"
    assert rejected({"name": "p", "queue": None, "service": None}).field == "queue"


def test_unknown_service_rejected_and_known_accepted() -> None:
    err = rejected(mark_policy(service="Platinum"))
    assert err.field == "service"
    assert "Platinum" in err.reason and "Gold" in err.reason
    policy = parse_policy(mark_policy(), SERVICES)
    assert (policy.service, policy.queue, policy.enqueue_port, policy.action) == ("Gold", None, None, "service")
    assert parse_policy(mark_policy(service="Platinum"), None).service == "Platinum"


@pytest.mark.parametrize("key", ["bogus", "ip_src", "Name", "dscp", "enqueue_port"])
def test_unknown_keys_rejected(key: str) -> None:
    err = rejected(queue_policy(**{key: 1}))
    assert err.field == key
    assert "unknown key" in err.reason


def test_id_key_is_ignored() -> None:
    assert parse_policy(queue_policy(id=99)).id is None


def test_non_string_keys_do_not_crash() -> None:
    err = rejected({1: 2, "a": 3, None: 4})
    assert "unknown key" in err.reason


@pytest.mark.parametrize("name", [None, "", "   ", 5, "a/b", "x" * 129, "tab\there", "nul\x00"])
def test_bad_names_rejected(name: Any) -> None:
    data = queue_policy(name=name)
    assert rejected(data).field == "name"
    assert rejected({k: v for k, v in data.items() if k != "name"}).field == "name"


def test_names_are_trimmed_and_may_be_unicode() -> None:
    assert parse_name("  Enqueue 2:2 s1 ") == "Enqueue 2:2 s1"
    assert parse_name("Vídeo ☎") == "Vídeo ☎"
    assert parse_name("x" * 128) == "x" * 128


@pytest.mark.parametrize("body", [None, [], "policy", 5, [SEED_S1]])
def test_body_must_be_an_object(body: Any) -> None:
    err = rejected(body)
    assert err.field == "body"


def test_tos_match_is_byte_in_dscp_out() -> None:
    assert parse_policy(queue_policy(tos="0xb8")).match.ip_dscp == 46
    assert parse_policy(queue_policy(tos="EF")).match.ip_dscp == 46
    assert parse_policy(queue_policy(tos=184)).to_dict()["tos"] == 184
    err = rejected(queue_policy(tos=46))  # 46 = 0b101110: ECN bits set, not a ToS byte
    assert err.field == "tos" and "ECN" in err.reason
    assert rejected(queue_policy(tos=256)).field == "tos"


# ---------------------------------------------------------------- services
def test_dscp_names_table() -> None:
    assert DSCP_NAMES["EF"] == 46
    assert DSCP_NAMES["BE"] == 0
    assert {f"CS{i}": DSCP_NAMES[f"CS{i}"] for i in range(8)} == {f"CS{i}": 8 * i for i in range(8)}
    for c in range(1, 5):
        for d in range(1, 4):
            assert DSCP_NAMES[f"AF{c}{d}"] == 8 * c + 2 * d
    assert (DSCP_NAMES["AF11"], DSCP_NAMES["AF41"], DSCP_NAMES["AF43"]) == (10, 34, 38)


@pytest.mark.parametrize("value,expected", [
    (0, 0), (63, 63), ("46", 46), ("0x2e", 46), ("EF", 46), ("ef", 46), (" AF11 ", 10), ("AF43", 38),
    ("CS0", 0), ("CS7", 56), ("BE", 0),
])
def test_parse_dscp(value: Any, expected: int) -> None:
    assert parse_dscp(value) == expected


@pytest.mark.parametrize("value", [64, -1, "AF44", "AF5", "CS8", "gold", None, True, 4.5])
def test_parse_dscp_rejects(value: Any) -> None:
    with pytest.raises(ValidationError) as info:
        parse_dscp(value)
    assert info.value.field == "dscp"
    assert "DiffServ" in info.value.reason


def test_parse_tos() -> None:
    assert parse_tos(0xb8) == 46
    assert parse_tos("AF41") == 34
    assert parse_tos(0) == 0
    with pytest.raises(ValidationError):
        parse_tos(0xb9)


def test_service_dscp_and_tos_kept_apart() -> None:
    service = parse_service({"name": "Voice", "dscp": "EF"})
    assert service == Service(name="Voice", dscp=46)
    assert service.tos == 0xb8
    assert service.to_dict() == {"name": "Voice", "dscp": 46, "tos": 184, "id": None}
    assert parse_service({"name": "Voice", "tos": 184}).dscp == 46
    assert parse_service({"name": "Bulk", "dscp": 8}).tos == 32
    assert parse_service({"service": "Old", "dscp": 0}).name == "Old"


@pytest.mark.parametrize("data,field_name", [
    ({"name": "x"}, "dscp"),
    ({"name": "x", "dscp": 64}, "dscp"),
    ({"name": "x", "dscp": "XX"}, "dscp"),
    ({"name": "x", "dscp": 46, "tos": 184}, "tos"),
    ({"name": "x", "tos": 185}, "tos"),
    ({"dscp": 1}, "name"),
    ({"name": "", "dscp": 1}, "name"),
    ({"name": "x", "dscp": 1, "colour": "red"}, "colour"),
    (["x", 1], "body"),
])
def test_parse_service_rejects(data: Any, field_name: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_service(data)
    assert info.value.field == field_name
    assert info.value.reason


def test_validation_error_shape() -> None:
    err = ValidationError("queue", "bad", status=409, index=3)
    assert (err.field, err.reason, err.status, err.index) == ("queue", "bad", 409, 3)
    assert err.to_dict() == {"error": "bad", "field": "queue", "index": 3}
    assert ValidationError("f", "r").to_dict() == {"error": "r", "field": "f"}
    assert ValidationError("f", "r").status == 400
    assert isinstance(err, ValueError)


# ---------------------------------------------------------------- fuzz-ish
class _Weird:
    """An object whose repr is itself hostile."""

    def __repr__(self) -> str:
        return "weird" * 1000


NASTY: list[Any] = [
    None, True, False, 0, -1, 2**31, 2**64, 10**400, 2**20000, -(2**70), 0.5, -0.0, 1e308, float("nan"),
    float("inf"), float("-inf"), "", " ", "\x00", "\n", "é", "名前", "💥", "\u0663", "\u00b2", "0x", "0x-1",
    "1e3", "1_0", "9" * 5000, "0x" + "f" * 5000, "a" * 10000, "../etc", "a/b", "all", "none", "ALL",
    "10.0.0.1/24", "256.1.1.1", "::1", "aa:bb:cc:dd:ee", "00:00:00:00:00:00:00:01:02", "EF", "AF44",
    [], [1], ["10.0.0.1"], {}, {"a": 1}, {"$gt": ""}, (1, 2), set(), b"bytes", bytearray(b"x"), object(),
    _Weird(), 3 + 4j,
]
BASES: list[dict[str, Any]] = [queue_policy(), mark_policy(), queue_policy(protocol=6, **{"dst-port": 80})]


@pytest.mark.parametrize("key", sorted(POLICY_KEYS))
def test_fuzz_every_key_only_raises_validation_error(key: str) -> None:
    accepted = 0
    for base in BASES:
        for value in NASTY:
            try:
                policy = parse_policy({**base, key: value}, SERVICES)
            except ValidationError as err:
                assert isinstance(err.field, str) and err.field
                assert isinstance(err.reason, str) and err.reason
                assert err.status in (400, 409)
                json.dumps(err.to_dict())
                assert len(str(err)) < 2000
            else:
                accepted += 1
                assert isinstance(policy, Policy)
                json.dumps(policy.to_dict())
    if key == "id":  # accepted and ignored, so a GET body can be PUT back
        assert accepted == len(BASES) * len(NASTY)
    else:
        assert accepted < len(BASES) * len(NASTY)  # each key rejects something


@pytest.mark.parametrize("value", NASTY, ids=[f"nasty{i}" for i in range(len(NASTY))])
def test_fuzz_whole_body_and_services(value: Any) -> None:
    for call in (lambda: parse_policy(value, SERVICES), lambda: parse_service(value),
                 lambda: parse_service({"name": "s", "dscp": value}),
                 lambda: parse_service({"name": "s", "tos": value}),
                 lambda: parse_service({"name": value, "dscp": 1}),
                 lambda: parse_policy({"name": value, "queue": 1, "enqueue-port": 1})):
        try:
            result = call()
        except ValidationError as err:
            assert err.field and err.reason
        else:
            assert isinstance(result, (Policy, Service))
