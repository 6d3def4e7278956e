"""IPv6 policies: parsing, OpenFlow 1.3 encoding (bytes equal Ryu's), OpenFlow 1.0 refused per switch."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import qosapp.main.compat  # noqa: F401
from ryu.ofproto import ofproto_v1_3, ofproto_v1_3_parser

from qosapp.core import compiler, cookies
from qosapp.core.compiler import OF10, OF13, FlowSpec
from qosapp.core.model import IPV6, Match, ValidationError, parse_ipv6, parse_policy
from qosapp.ofp import ofmsgs, ofwire
from tests.unit.fakeoftable import FakeSwitches
from tests.unit.serviceenv import make_service

S1, S3 = "00:00:00:00:00:00:00:01", "00:00:00:00:00:00:00:03"


def test_ipv6_fields_imply_eth_type_and_normalise() -> None:
    policy = parse_policy({"name": "v6", "ipv6-src": "FC00:0::1", "ipv6-dst": "fc00::1:2/64", "protocol": 17,
                           "dst-port": 5001, "tos": "EF", "queue": 1, "enqueue-port": 2, "ingress-port": 1})
    assert policy.match == Match(in_port=1, eth_type=IPV6, ip_proto=17, ip_dscp=46, tp_dst=5001,
                                 ipv6_src="fc00::1", ipv6_dst="fc00::/64")
    assert policy.to_dict()["ipv6-dst"] == "fc00::/64" and policy.to_dict()["eth-type"] == 0x86DD
    icmp6 = parse_policy({"name": "icmp6", "eth-type": "0x86dd", "protocol": 58, "service": "EF"}, {"EF": 46})
    assert icmp6.match == Match(eth_type=IPV6, ip_proto=58)


@pytest.mark.parametrize("body, field, words", [
    ({"ipv6-src": "10.0.0.1"}, "ipv6-src", "IPv6 address"),
    ({"ipv6-src": "fe80::1%eth0"}, "ipv6-src", "IPv6 address"),
    ({"ipv6-src": "fc00::/129"}, "ipv6-src", "IPv6 address"),
    ({"ipv6-src": "fc00::1", "ip-dst": "10.0.0.2"}, "ipv6-src", "IPv4"),
    ({"ipv6-src": "fc00::1", "eth-type": "0x0800"}, "eth-type", "0x86dd"),
    ({"ipv6-src": "fc00::1", "protocol": 58, "dst-port": 1}, "dst-port", "protocol 6"),
])
def test_bad_ipv6_policies_name_field(body: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse_policy({"name": "x", "queue": 1, "enqueue-port": 2, "ingress-port": 1, **body})
    assert err.value.field == field and words in err.value.reason


def test_parse_ipv6_forms() -> None:
    assert parse_ipv6(" fc00:0:0:0:0:0:0:1/128 ", "f") == "fc00::1"
    assert parse_ipv6("::", "f") == "::" and parse_ipv6("::/0", "f") == "::/0"
    with pytest.raises(ValidationError):
        parse_ipv6("::ffff:1.2.3.4", "f")  # embedded IPv4: say it in hex groups


class Dp:
    ofproto = ofproto_v1_3
    ofproto_parser = ofproto_v1_3_parser
    id = 1


@pytest.mark.parametrize("match", [
    (("eth_type", IPV6), ("ipv6_src", "fc00::1")),
    (("eth_type", IPV6), ("ip_proto", 6), ("ipv6_dst", "fc00::/64"), ("tp_dst", 80)),
    (("eth_type", IPV6), ("ip_dscp", 46), ("ip_proto", 58), ("ipv6_src", "2001:db8::/32")),
])
def test_ipv6_flow_bytes_equal_ryu(match: tuple[tuple[str, Any], ...]) -> None:
    spec = FlowSpec(cookie=cookies.policy_cookie(3), priority=100, match=match,
                    actions=(("set_field", "ip_dscp", 46), ("goto_table", 1)))
    msg = ofmsgs.to_message(Dp(), spec)
    msg.set_xid(9)
    msg.serialize()
    assert ofwire.encode(spec, 9) == bytes(msg.buf)


def test_openflow10_switch_refuses_ipv6_policy_per_switch(tmp_path: Path) -> None:
    sw = FakeSwitches()
    core = make_service(str(tmp_path / "state"), sw, forwarding="normal")
    core.enable()
    core.add_service({"name": "EF", "dscp": 46})
    core.switch_connected(1, OF13, {1: "s1-eth1"})
    core.switch_connected(3, OF10, {1: "s3-eth1"})
    core.add_policy({"name": "mark v6", "ipv6-src": "fc00::1", "service": "EF"})
    install = core.install_state(core.policies["mark v6"])
    assert install[S1]["state"] == "pending"
    assert install[S3]["state"] == "error" and "OpenFlow 1.0 cannot match IPv6" in install[S3]["reason"]
    (flow,) = sw.holding(1, cookies.policy_cookie(core.policies["mark v6"].id))
    assert flow.match == (("eth_type", IPV6), ("ipv6_src", "fc00::1"))
    assert flow.actions == (("set_field", "ip_dscp", 46), ("goto_table", 1))
    assert sw.holding(3, cookies.policy_cookie(core.policies["mark v6"].id)) == set()
    assert compiler.unsupported(core.policies["mark v6"], OF10) == compiler.OF10_NO_IPV6
    core.delete_policy("mark v6")  # nothing to delete on the 1.0 switch: no strict delete sent there
