"""Unit tests for qosapp.core.compiler: policy x switch x OpenFlow version -> exact flows.

The expected flows are written out by hand, so a change in encoding (ToS vs
DSCP, enqueue vs set_queue+output, a marking flow that does not go on to
forwarding) fails here first. OpenFlow 1.3 has two tables (policies in 0,
forwarding in 1, joined by a table-0 miss flow); OpenFlow 1.0 has one.
"""
from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from qosapp.core import compiler
from qosapp.core.compiler import (FORWARDING_COOKIE, FORWARDING_TABLE, NORMAL, OF10, OF13, PIPELINE_COOKIE,
                             POLICY_TABLE, FlowDelete, FlowSpec, compile_policy, delete_policy, forwarding_flows,
                             in_forwarding_table, pipeline_flows, unsupported)
from qosapp.core.cookies import POLICY_PREFIX as COOKIE_PREFIX, policy_cookie, policy_id_of
from qosapp.core.model import Policy, ValidationError, equal_ports_as_in_port, parse_policy

SERVICES = {"Best Effort": 0, "Voice": 46, "Video": 34, "Bulk": 8}
SEED_S1 = ('{"name": "Enqueue 2:2 s1", "protocol":"6","eth-type": "0x0800", "ingress-port": "1",'
           '"ip-src":"10.0.0.1", "sw": "00:00:00:00:00:00:00:01","queue":"2","enqueue-port":"2"}')
SEED_S2 = ('{"name": "Enqueue 1:2 s2", "protocol":"6","eth-type": "0x0800", "ingress-port": "1",'
           '"ip-src":"10.0.0.1", "sw": "00:00:00:00:00:00:00:02","queue":"2","enqueue-port":"1"}')
#: the seed's s2 policy has ingress-port == enqueue-port, which the API refuses (OpenFlow drops
#: such a packet); its compatibility clients send it as enqueue-port "in_port" (OpenFlow IN_PORT)
SEED_S2_IN_PORT = equal_ports_as_in_port(json.loads(SEED_S2))
SEED_MATCH = (("in_port", 1), ("eth_type", 0x0800), ("ip_proto", 6), ("ipv4_src", "10.0.0.1"))


def stored(data: dict[str, Any] | str, pid: int) -> Policy:
    """Parse a policy and give it the id the store would."""
    body = json.loads(data) if isinstance(data, str) else data
    return replace(parse_policy(body, SERVICES), id=pid)


# ---------------------------------------------------------------- cookies
def test_cookie_layout() -> None:
    assert COOKIE_PREFIX == 0x5100000000000000
    assert policy_cookie(1) == 0x5100000000000001
    assert policy_cookie(0xABCDEF) == 0x5100000000ABCDEF
    assert policy_cookie(2**56 - 2) == 0x51FFFFFFFFFFFFFE
    assert FORWARDING_COOKIE == COOKIE_PREFIX


@pytest.mark.parametrize("pid", [0, -1, 2**56 - 1, 2**56])
def test_cookie_rejects_ids_out_of_range(pid: int) -> None:
    with pytest.raises(ValueError):
        policy_cookie(pid)


@pytest.mark.parametrize("pid", [1, 2, 7, 12345, 2**56 - 2])
def test_policy_id_of_inverts_cookie(pid: int) -> None:
    assert policy_id_of(policy_cookie(pid)) == pid


@pytest.mark.parametrize("cookie", [0, FORWARDING_COOKIE, PIPELINE_COOKIE, 0x5200000000000001, 0x0000000000000001, 2**64 - 1])
def test_policy_id_of_foreign_cookies(cookie: int) -> None:
    assert policy_id_of(cookie) is None


# ---------------------------------------------------------------- queue policies
def test_seed_s1_of10_is_one_enqueue() -> None:
    policy = stored(SEED_S1, 1)
    assert compile_policy(policy, 1, OF10, SERVICES) == [
        FlowSpec(cookie=0x5100000000000001, priority=32767, match=SEED_MATCH, actions=(("enqueue", 2, 2),))]


def test_seed_s1_of13_is_set_queue_then_output() -> None:
    policy = stored(SEED_S1, 1)
    assert compile_policy(policy, 1, OF13, SERVICES) == [
        FlowSpec(cookie=0x5100000000000001, priority=32767, match=SEED_MATCH,
                 actions=(("set_queue", 2), ("output", 2)), table_id=0)]


def test_seed_s2_only_on_its_switch() -> None:
    policy = stored(SEED_S2_IN_PORT, 2)
    for version in (OF10, OF13):
        assert compile_policy(policy, 1, version, SERVICES) == []
        assert compile_policy(policy, 3, version, SERVICES) == []
    assert compile_policy(policy, 2, OF10, SERVICES)[0].actions == (("enqueue", "IN_PORT", 2),)
    assert compile_policy(policy, 2, OF13, SERVICES)[0].actions == (("set_queue", 2), ("output", "IN_PORT"))
    assert compile_policy(policy, 2, OF13, SERVICES)[0].cookie == 0x5100000000000002


def test_seed_s2_as_the_seed_wrote_it_is_refused() -> None:
    with pytest.raises(ValidationError) as err:
        parse_policy(json.loads(SEED_S2), SERVICES)
    assert err.value.field == "enqueue-port" and "in_port" in err.value.reason


# ---------------------------------------------------------------- queue policies that cannot black-hole
def test_queue_without_enqueue_port_sets_queue_then_forwarding_on_of13() -> None:
    policy = stored({"name": "h1 limited", "ip-src": "10.0.0.1", "queue": 2}, 3)
    assert compile_policy(policy, 7, OF13, SERVICES) == [
        FlowSpec(cookie=policy_cookie(3), priority=32767, match=(("eth_type", 0x0800), ("ipv4_src", "10.0.0.1")),
                 actions=(("set_queue", 2), ("goto_table", 1)))]
    assert "enqueue action needs a port" in (unsupported(policy, OF10) or "")
    assert unsupported(policy, OF13) is None
    assert delete_policy(policy, 7, OF10, SERVICES) == []


@pytest.mark.parametrize("version,companion", [
    (OF13, (("set_queue", 1), ("goto_table", 1))), (OF10, (("output", "NORMAL"),))])
def test_sw_all_enqueue_port_without_ingress_gets_a_flow_for_traffic_entering_there(
        version: int, companion: tuple[Any, ...]) -> None:
    policy = stored({"name": "to port 2", "ip-src": "10.0.0.1", "queue": 1, "enqueue-port": 2}, 5)
    main, entering = compile_policy(policy, 1, version, SERVICES)
    assert main.match == (("eth_type", 0x0800), ("ipv4_src", "10.0.0.1")) and main.priority == 32767
    assert entering.match == (("in_port", 2), ("eth_type", 0x0800), ("ipv4_src", "10.0.0.1"))
    assert (entering.priority, entering.actions, entering.cookie) == (32768, companion, main.cookie)
    # a policy for one named switch: its author chose that switch's port, no companion
    one = stored({"name": "s1 to port 2", "ip-src": "10.0.0.1", "queue": 1, "enqueue-port": 2, "sw": 1}, 6)
    assert len(compile_policy(one, 1, version, SERVICES)) == 1


def test_in_port_enqueue_compiles_to_in_port() -> None:
    policy = stored({"name": "hairpin", "ingress-port": 3, "queue": 1, "enqueue-port": "in_port"}, 9)
    assert compile_policy(policy, 1, OF13, SERVICES)[0].actions == (("set_queue", 1), ("output", "IN_PORT"))
    assert compile_policy(policy, 1, OF10, SERVICES) == [
        FlowSpec(cookie=policy_cookie(9), priority=32767, match=(("in_port", 3),),
                 actions=(("enqueue", "IN_PORT", 1),))]


def test_seed_s1_not_on_s2() -> None:
    assert compile_policy(stored(SEED_S1, 1), 2, OF13, SERVICES) == []


# ---------------------------------------------------------------- marking policies
@pytest.mark.parametrize("service,dscp,tos", [("Voice", 46, 0xB8), ("Video", 34, 0x88), ("Bulk", 8, 0x20),
                                              ("Best Effort", 0, 0)])
def test_marking_of10_sets_tos_byte_and_forwards(service: str, dscp: int, tos: int) -> None:
    policy = stored({"name": "m", "service": service, "ip-dst": "10.0.0.0/24"}, 5)
    assert compile_policy(policy, 9, OF10, SERVICES) == [
        FlowSpec(cookie=0x5100000000000005, priority=32767,
                 match=(("eth_type", 0x0800), ("ipv4_dst", "10.0.0.0/24")),
                 actions=(("set_nw_tos", tos), ("output", NORMAL)))]
    assert tos == dscp << 2


@pytest.mark.parametrize("service,dscp", [("Voice", 46), ("Video", 34), ("Bulk", 8), ("Best Effort", 0)])
def test_marking_of13_sets_dscp_and_forwards(service: str, dscp: int) -> None:
    policy = stored({"name": "m", "service": service, "ip-dst": "10.0.0.0/24"}, 5)
    assert compile_policy(policy, 9, OF13, SERVICES) == [
        FlowSpec(cookie=0x5100000000000005, priority=32767,
                 match=(("eth_type", 0x0800), ("ipv4_dst", "10.0.0.0/24")),
                 actions=(("set_field", "ip_dscp", dscp), ("goto_table", 1)), table_id=0)]


def test_ef_marking_values() -> None:
    policy = stored({"name": "voice", "service": "Voice", "ingress-port": 3}, 1)
    of10 = compile_policy(policy, 1, OF10, SERVICES)[0]
    of13 = compile_policy(policy, 1, OF13, SERVICES)[0]
    assert of10.actions[0] == ("set_nw_tos", 0xB8)
    assert of13.actions[0] == ("set_field", "ip_dscp", 46)
    # OF1.3 set_field ip_dscp needs eth_type 0x0800 in the match (OVS: OFPBAC_MATCH_INCONSISTENT).
    assert of13.match_dict() == {"in_port": 3, "eth_type": 0x0800}
    # Both go on to forwarding: OF1.0 by the switch's L2 logic, OF1.3 by the forwarding table.
    assert of10.actions[-1] == ("output", NORMAL)
    assert of13.actions[-1] == ("goto_table", 1)
    assert of10.table_id == of13.table_id == 0


def test_marking_uses_current_service_dscp() -> None:
    policy = stored({"name": "m", "service": "Voice"}, 1)
    assert compile_policy(policy, 1, OF13, {"Voice": 10})[0].actions[0] == ("set_field", "ip_dscp", 10)


def test_marking_with_unknown_service_is_an_error() -> None:
    policy = stored({"name": "m", "service": "Voice"}, 1)
    with pytest.raises(ValueError, match="Voice"):
        compile_policy(policy, 1, OF13, {})


# ---------------------------------------------------------------- match encoding
def test_full_match_order_and_values() -> None:
    policy = stored({"name": "full", "protocol": "17", "ingress-port": "3", "ip-src": "10.0.0.0/24",
                     "ip-dst": "10.0.1.7", "tos": "0xb8", "vlan-id": "10", "eth-src": "AA:BB:CC:DD:EE:01",
                     "eth-dst": "aa:bb:cc:dd:ee:02", "src-port": "5000", "dst-port": "53", "queue": 1,
                     "enqueue-port": 4, "priority": 100}, 3)
    expected = (("in_port", 3), ("eth_type", 0x0800), ("eth_src", "aa:bb:cc:dd:ee:01"),
                ("eth_dst", "aa:bb:cc:dd:ee:02"), ("vlan_vid", 10), ("ip_proto", 17),
                ("ipv4_src", "10.0.0.0/24"), ("ipv4_dst", "10.0.1.7"), ("ip_dscp", 46),
                ("tp_src", 5000), ("tp_dst", 53))
    for version in (OF10, OF13):
        [spec] = compile_policy(policy, 1, version, SERVICES)
        assert spec.match == expected
        assert spec.priority == 100


def test_empty_match_is_wildcard() -> None:
    policy = stored({"name": "all traffic", "queue": 0, "enqueue-port": 1, "priority": 1, "sw": 1}, 4)
    [spec] = compile_policy(policy, 1, OF13, SERVICES)
    assert spec.match == () and spec.match_dict() == {}
    assert spec.priority == 1


# ---------------------------------------------------------------- sw targeting
@pytest.mark.parametrize("version", [OF10, OF13])
def test_sw_none_installs_nothing(version: int) -> None:
    policy = stored({"name": "parked", "queue": 1, "enqueue-port": 1, "sw": "none"}, 1)
    for dpid in (0, 1, 2, 2**64 - 1):
        assert compile_policy(policy, dpid, version, SERVICES) == []
        assert delete_policy(policy, dpid, version, SERVICES) == []


@pytest.mark.parametrize("version", [OF10, OF13])
def test_sw_all_installs_everywhere(version: int) -> None:
    policy = stored({"name": "everywhere", "service": "Voice"}, 8)
    for dpid in (1, 2, 3, 0xDEADBEEF):
        [spec] = compile_policy(policy, dpid, version, SERVICES)
        assert spec.cookie == policy_cookie(8)


def test_sw_dpid_only_on_that_switch() -> None:
    policy = stored({"name": "s4", "service": "Voice", "sw": 4}, 2)
    assert [d for d in range(1, 9) if compile_policy(policy, d, OF13, SERVICES)] == [4]


def test_each_policy_has_its_own_cookie() -> None:
    policies = [stored({"name": f"p{i}", "queue": i, "enqueue-port": 1}, i) for i in range(1, 6)]
    cookies = [compile_policy(p, 1, OF13, SERVICES)[0].cookie for p in policies]
    assert cookies == [0x5100000000000000 + i for i in range(1, 6)]
    assert FORWARDING_COOKIE not in cookies


def test_policy_without_id_is_refused() -> None:
    with pytest.raises(ValueError, match="no id"):
        compile_policy(parse_policy({"name": "x", "queue": 1, "enqueue-port": 1}), 1, OF13, SERVICES)


@pytest.mark.parametrize("version", [0x02, 0x03, 0x05, 0x06, 0])
def test_unsupported_versions(version: int) -> None:
    with pytest.raises(ValueError, match="unsupported"):
        compile_policy(stored(SEED_S1, 1), 1, version, SERVICES)
    with pytest.raises(ValueError, match="unsupported"):
        forwarding_flows(version)


# ---------------------------------------------------------------- deletes
def test_delete_of13_by_exact_cookie() -> None:
    policy = stored(SEED_S1, 7)
    assert delete_policy(policy, 1, OF13, SERVICES) == [FlowDelete(cookie=0x5100000000000007, strict=None)]
    assert delete_policy(policy, 2, OF13, SERVICES) == []


def test_delete_of10_strict_by_match_and_priority() -> None:
    policy = stored(SEED_S1, 7)
    [op] = delete_policy(policy, 1, OF10, SERVICES)
    assert op.cookie == 0x5100000000000007
    assert op.strict == FlowSpec(cookie=0x5100000000000007, priority=32767, match=SEED_MATCH,
                                 actions=(("enqueue", 2, 2),))
    assert delete_policy(policy, 2, OF10, SERVICES) == []


def test_delete_of10_marking_keeps_priority() -> None:
    policy = stored({"name": "m", "service": "Voice", "priority": 12, "ip-src": "10.0.0.2"}, 3)
    [op] = delete_policy(policy, 1, OF10, SERVICES)
    assert op.strict is not None
    assert (op.strict.priority, op.strict.match) == (12, (("eth_type", 0x0800), ("ipv4_src", "10.0.0.2")))


# ---------------------------------------------------------------- forwarding and the pipeline
def test_tables_and_pipeline_cookie() -> None:
    assert (POLICY_TABLE, FORWARDING_TABLE) == (0, 1)
    assert PIPELINE_COOKIE == 0x51FFFFFFFFFFFFFF
    assert PIPELINE_COOKIE & 0xFF << 56 == COOKIE_PREFIX  # a qos-sdn cookie (flow stats filter by prefix)


def test_forwarding_table_miss_normal_of10_one_table() -> None:
    assert forwarding_flows(OF10) == [
        FlowSpec(cookie=0x5100000000000000, priority=0, match=(), actions=(("output", "NORMAL"),), table_id=0)]
    assert policy_id_of(forwarding_flows(OF10)[0].cookie) is None


def test_forwarding_table_miss_normal_of13_in_table_1() -> None:
    assert forwarding_flows(OF13) == [
        FlowSpec(cookie=0x5100000000000000, priority=0, match=(), actions=(("output", "NORMAL"),), table_id=1)]
    assert policy_id_of(forwarding_flows(OF13)[0].cookie) is None


def test_pipeline_of13_table0_miss_goes_to_table_1() -> None:
    assert pipeline_flows(OF13) == [
        FlowSpec(cookie=0x51FFFFFFFFFFFFFF, priority=0, match=(), actions=(("goto_table", 1),), table_id=0)]


def test_pipeline_of10_has_no_flow() -> None:
    assert pipeline_flows(OF10) == []


@pytest.mark.parametrize("version", [0x02, 0x05, 0])
def test_pipeline_unsupported_versions(version: int) -> None:
    with pytest.raises(ValueError, match="unsupported"):
        pipeline_flows(version)


def test_in_forwarding_table_moves_to_table_1_on_of13_only() -> None:
    specs = [FlowSpec(cookie=0x4600000000000000, priority=0, match=(), actions=(("output", "CONTROLLER"),)),
             FlowSpec(cookie=0x4602000000000001, priority=5, match=(("in_port", 1),), actions=(("output", 2),))]
    assert in_forwarding_table(specs, OF10) == specs
    assert in_forwarding_table(specs, OF13) == [replace(spec, table_id=1) for spec in specs]
    assert [spec.table_id for spec in specs] == [0, 0]  # the input is not changed


@pytest.mark.parametrize("version", [OF10, OF13])
def test_queue_policies_stay_in_table_0(version: int) -> None:
    for data, pid in ((SEED_S1, 1), ({"name": "m", "service": "Voice"}, 2)):
        [spec] = compile_policy(stored(data, pid), 1, version, SERVICES)
        assert spec.table_id == POLICY_TABLE


def test_supported_versions() -> None:
    assert compiler.SUPPORTED_VERSIONS == {0x01: "1.0", 0x04: "1.3"}
    assert (OF10, OF13) == (1, 4)
