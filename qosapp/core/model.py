"""The QoS policy model: services, policies and their validation (pure).

Everything a user sends (REST, CLI, the Floodlight-compatible routes) is
parsed here into frozen dataclasses, or rejected with a `ValidationError`
naming the field and the reason. Nothing here imports Ryu, so the rules are
tested without a switch.

DSCP and the ToS byte are kept apart on purpose: the seed's Floodlight module
mixed them. A service carries a DSCP (0-63); the ToS byte is DSCP << 2 and is
only produced where OpenFlow 1.0 needs it (`nw_tos`).
"""
from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass, field, fields, replace
from typing import Any, Mapping

from qosapp.core.ports import IN_PORT

DEFAULT_PRIORITY = 32767
MAX_PRIORITY = 65535
BEST_EFFORT = "Best Effort"

#: DiffServ code point names (RFC 2474, 2597, 3246) -> DSCP value.
DSCP_NAMES: dict[str, int] = {"BE": 0, "DF": 0, "EF": 46, "VA": 44}
DSCP_NAMES.update({f"CS{i}": i * 8 for i in range(8)})
DSCP_NAMES.update({f"AF{c}{d}": c * 8 + d * 2 for c in range(1, 5) for d in range(1, 4)})


class ValidationError(ValueError):
    """A rejected input: which field, and why (becomes HTTP 400/409)."""

    def __init__(self, field_name: str, reason: str, status: int = 400,
                 index: int | None = None, extra: Mapping[str, Any] | None = None) -> None:
        super().__init__(f"{field_name}: {reason}")
        self.field = field_name
        self.reason = reason
        self.status = status
        self.index = index
        #: more of the answer (e.g. "in-use": which policies and paths a 409 protects)
        self.extra = dict(extra or {})

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {**self.extra, "error": self.reason, "field": self.field}
        if self.index is not None:
            out["index"] = self.index
        return out


# ---------------------------------------------------------------- scalars
def parse_int(value: Any, field_name: str, lo: int, hi: int) -> int:
    """Accept a JSON number or a decimal / 0x-hex string, within [lo, hi].

    The seed sends every number as a string ("queue": "2",
    "eth-type": "0x0800"), so strings are first-class input.
    """
    if type(value) is int and lo <= value <= hi:  # the common case first (bulk POSTs parse 5 per policy)
        return value
    if isinstance(value, bool):
        raise ValidationError(field_name, f"expected an integer, got {_brief(value)}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        number = _int_text(value, field_name)
    else:
        raise ValidationError(field_name, f"expected an integer, got {_brief(value)}")
    if not lo <= number <= hi:
        shown = number if number.bit_length() <= 128 else "the number"
        raise ValidationError(field_name, f"{shown} is out of range {lo}-{hi}")
    return number


_INT_TEXT = re.compile(r"[+-]?[0-9]{1,40}|0[xX][0-9a-fA-F]{1,32}")


@functools.lru_cache(maxsize=4096)
def _int_text(value: str, field_name: str) -> int:
    """The number a string spells; cached, as the seed's "queue": "2", "eth-type": "0x0800" repeat.

    ASCII digits only and bounded length: int() alone would take '1_0',
    Arabic-Indic digits, and raise a non-validation ValueError on strings
    past Python's 4300-digit limit.
    """
    text = value.strip()
    if not _INT_TEXT.fullmatch(text):
        raise ValidationError(field_name, f"expected an integer (decimal or 0x hex), got {_brief(value)}")
    return int(text, 16) if text[:2].lower() == "0x" else int(text, 10)


def _brief(value: Any) -> str:
    """repr() cut short, so a huge bad value cannot bloat the error answer."""
    try:
        text = repr(value)
    except ValueError:  # an int past Python's 4300-digit str() limit
        return f"a {type(value).__name__} too large to show"
    return text if len(text) <= 64 else text[:60] + "..."


def parse_name(value: Any, field_name: str = "name") -> str:
    """A policy/service name: 1-128 printable characters, no slash.

    Names appear in URLs (/qos/policies/{name}), hence no '/'.
    """
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field_name, "must be a non-empty string")
    name = value.strip()
    if len(name) > 128:
        raise ValidationError(field_name, "must be at most 128 characters")
    if "/" in name or not name.isprintable():
        raise ValidationError(field_name, "must be printable and contain no '/'")
    return name


def parse_dscp(value: Any, field_name: str = "dscp") -> int:
    """A DSCP as a number 0-63 or a DiffServ name (EF, AF41, CS1, BE...)."""
    if isinstance(value, str) and value.strip().upper() in DSCP_NAMES:
        return DSCP_NAMES[value.strip().upper()]
    try:
        return parse_int(value, field_name, 0, 63)
    except ValidationError as err:
        raise ValidationError(field_name, err.reason + " (or a DiffServ name such as EF, AF11, CS1, BE)") from None


def parse_tos(value: Any, field_name: str = "tos") -> int:
    """The ToS byte to match, returned as the DSCP it carries.

    Accepts the byte (0-255, ECN bits must be 0) or a DiffServ name, which is
    the DSCP by definition.
    """
    if isinstance(value, str) and value.strip().upper() in DSCP_NAMES:
        return DSCP_NAMES[value.strip().upper()]
    tos = parse_int(value, field_name, 0, 255)
    if tos & 0x3:
        raise ValidationError(field_name, f"ToS byte {tos:#04x} has ECN bits set; only DSCP (tos & 0xfc) can be matched")
    return tos >> 2


def parse_dpid(value: Any, field_name: str = "sw") -> int:
    """A datapath id: an integer or 16 hex digits, with or without colons."""
    if isinstance(value, bool):
        raise ValidationError(field_name, f"expected a dpid, got {_brief(value)}")
    if isinstance(value, (int, float)):  # 1.0 is the integer 1 in JSON
        return parse_int(value, field_name, 0, 2**64 - 1)
    if isinstance(value, str):
        text = value.strip().lower()
        hexdigits = text.replace(":", "")
        if text.startswith("0x"):
            return parse_int(text, field_name, 0, 2**64 - 1)
        if re.fullmatch(r"[0-9a-f]{16}", hexdigits) and (":" not in text or re.fullmatch(r"([0-9a-f]{2}:){7}[0-9a-f]{2}", text)):
            return int(hexdigits, 16)
        if text.isdigit():
            return parse_int(text, field_name, 0, 2**64 - 1)
    raise ValidationError(field_name, f"expected 'all', 'none' or a dpid (16 hex digits such as 00:00:00:00:00:00:00:01, or an integer), got {_brief(value)}")


@functools.lru_cache(maxsize=4096)
def format_dpid(dpid: int) -> str:
    """00:00:00:00:00:00:00:01, the form the seed and Floodlight print.

    Cached: every policy view and every parsed `sw` formats the same few
    dpids (14% of a 20,000-policy bulk POST before the cache).
    """
    text = f"{dpid:016x}"
    return ":".join(text[i:i + 2] for i in range(0, 16, 2))


@functools.lru_cache(maxsize=65536)
def _sw_dpid(sw: str) -> int | None:
    """`Policy.dpid` of a stored `sw` text. Cached: a switch connecting asks it of every policy."""
    return None if sw in ("all", "none") else int(sw.replace(":", ""), 16)


def parse_sw(value: Any, field_name: str = "sw") -> str:
    """'all' (default), 'none' or a dpid, normalised to the colon form."""
    if isinstance(value, str):
        return _parse_sw_text(value, field_name)
    return format_dpid(parse_dpid(value, field_name))


@functools.lru_cache(maxsize=4096)
def _parse_sw_text(value: str, field_name: str) -> str:
    """Cached: a bulk POST names the same few switches in every policy (the dpid check is two regexes)."""
    if value.strip().lower() in ("all", "none"):
        return value.strip().lower()
    return format_dpid(parse_dpid(value, field_name))


#: the octets of a plain address in the form ipaddress prints: 0-255, no leading zeros
_OCTETS = frozenset(str(i) for i in range(256))


def _dotted_quad(text: str) -> bool:
    """Is `text` a plain address in the form ipaddress prints (four such octets)? Four set lookups, no regex."""
    octets = text.split(".")
    return len(octets) == 4 and octets[0] in _OCTETS and octets[1] in _OCTETS and octets[2] in _OCTETS \
        and octets[3] in _OCTETS


def parse_ipv4(value: Any, field_name: str) -> str:
    """An IPv4 address or prefix, normalised ('10.0.0.1' or '10.0.0.0/24')."""
    if not isinstance(value, str):
        raise ValidationError(field_name, f"expected an IPv4 address or prefix as a string, got {_brief(value)}")
    text = value.strip()
    if _dotted_quad(text):  # already normal form; ipaddress would cost 3x more (bulk POSTs)
        return text
    try:
        net = ipaddress.IPv4Network(text, strict=True)
    except ValueError as err:
        raise ValidationError(field_name, f"invalid IPv4 address or prefix {_brief(value)}: {str(err)[:100]}") from None
    return str(net.network_address) if net.prefixlen == 32 else str(net)


_H = "[0-9a-fA-F]{1,4}"
#: an IPv6 address in hex groups (no embedded IPv4, no zone), optionally /0-128: what parse_ipv6 takes;
#: the OpenAPI document uses the same expression
_IPV6_ADDRESS = (rf"(({_H}:){{7}}{_H}|({_H}:){{1,7}}:|({_H}:){{1,6}}:{_H}|({_H}:){{1,5}}(:{_H}){{1,2}}"
                 rf"|({_H}:){{1,4}}(:{_H}){{1,3}}|({_H}:){{1,3}}(:{_H}){{1,4}}|({_H}:){{1,2}}(:{_H}){{1,5}}"
                 rf"|{_H}:(:{_H}){{1,6}}|:((:{_H}){{1,7}}|:))")
IPV6_TEXT = rf"{_IPV6_ADDRESS}(/0*(12[0-8]|1[01][0-9]|[1-9]?[0-9]))?"
#: one IPv6 host (a QoS path's end): an address, /128 at most
IPV6_HOST_TEXT = rf"{_IPV6_ADDRESS}(/0*128)?"
_IPV6_RE = re.compile(IPV6_TEXT)


def parse_ipv6(value: Any, field_name: str) -> str:
    """An IPv6 address or prefix, normalised ('fc00::1', 'fc00::/64').

    A prefix's host bits are cleared ('fc00::1/64' is 'fc00::/64', shown so
    in the answer): writing the prefix of the host one has in mind is how
    IPv6 prefixes are usually given.
    """
    if not isinstance(value, str) or not _IPV6_RE.fullmatch(value.strip()):
        raise ValidationError(field_name, f"expected an IPv6 address or prefix in hex groups such as fc00::1 or "
                              f"fc00::/64, got {_brief(value)}")
    try:
        net = ipaddress.IPv6Network(value.strip(), strict=False)
    except ValueError as err:
        raise ValidationError(field_name, f"invalid IPv6 address or prefix {_brief(value)}: {str(err)[:100]}") from None
    return str(net.network_address) if net.prefixlen == 128 else str(net)


def parse_mac(value: Any, field_name: str) -> str:
    """A MAC address, normalised to lower-case colon form."""
    if isinstance(value, str):
        text = value.strip().lower().replace("-", ":")
        if re.fullmatch(r"([0-9a-f]{2}:){5}[0-9a-f]{2}", text):
            return text
    raise ValidationError(field_name, f"invalid MAC address {_brief(value)} (expected aa:bb:cc:dd:ee:ff)")


# ---------------------------------------------------------------- services
@dataclass(frozen=True)
class Service:
    """A named DSCP class that marking policies refer to."""

    name: str
    dscp: int
    id: int | None = None

    @property
    def tos(self) -> int:
        """The ToS byte (DSCP << 2), what OpenFlow 1.0's nw_tos carries."""
        return self.dscp << 2

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dscp": self.dscp, "tos": self.tos, "id": self.id}


SERVICE_KEYS = {"name", "dscp", "tos", "id", "sid", "service"}


def parse_service(data: Any) -> Service:
    """Validate a service: {"name": ..., "dscp": 46 | "EF"} (or the seed's "tos").

    "tos" is accepted for Floodlight compatibility and is the ToS byte.
    """
    if not isinstance(data, Mapping):
        raise ValidationError("body", "a service must be a JSON object")
    unknown = set(data) - SERVICE_KEYS
    if unknown:
        raise ValidationError(str(sorted(unknown, key=str)[0]), f"unknown key; allowed: {', '.join(sorted(SERVICE_KEYS - {'id', 'sid'}))}")
    name = parse_name(data.get("name", data.get("service")))
    if "dscp" in data and "tos" in data:
        raise ValidationError("tos", "give either dscp or tos, not both")
    if "dscp" in data:
        dscp = parse_dscp(data["dscp"])
    elif "tos" in data:
        dscp = parse_tos(data["tos"])
    else:
        raise ValidationError("dscp", "required (0-63 or a DiffServ name such as EF)")
    return Service(name=name, dscp=dscp)


# ---------------------------------------------------------------- policies
@dataclass(frozen=True, slots=True)
class Match:
    """Header fields a policy matches; None means wildcard.

    Field names follow OpenFlow 1.3 OXM; the compiler maps them to 1.0.
    """

    in_port: int | None = None
    eth_type: int | None = None
    eth_src: str | None = None
    eth_dst: str | None = None
    vlan_vid: int | None = None
    ip_proto: int | None = None
    ipv4_src: str | None = None
    ipv4_dst: str | None = None
    ip_dscp: int | None = None
    tp_src: int | None = None
    tp_dst: int | None = None
    ipv6_src: str | None = None
    ipv6_dst: str | None = None

    def items(self) -> list[tuple[str, Any]]:
        """The set fields, in declaration order (stable flow specs)."""
        return [(name, value) for name in _MATCH_FIELDS if (value := getattr(self, name)) is not None]


@dataclass(frozen=True, slots=True)
class Policy:
    """A match plus an action: a queue or a service (marking), a meter (policing), or a meter
    with one of the two (police first, then queue or mark)."""

    name: str
    match: Match = field(default_factory=Match)
    sw: str = "all"
    queue: int | None = None
    #: a port number, IN_PORT ("in_port": back out of the port it came in by) or, with a
    #: queue, None: set the queue and let forwarding choose the port (OpenFlow 1.3 only), the
    #: queue needed on every port; ENQUEUE_ANY ("any"): the same, the queue applying on the
    #: ports that have it and the others sending unshaped (Ryu rest_qos's set_queue)
    enqueue_port: int | str | None = None
    service: str | None = None
    priority: int = DEFAULT_PRIORITY
    id: int | None = None
    #: the name of a meter (`qosapp.core.meters`) that polices the traffic first
    meter: str | None = None
    #: FALLBACK_METER: where a switch cannot enqueue (the queue is not on the port, or the switch
    #: rejects the flow), police at the queue's max-rate with a meter instead (OpenFlow 1.3)
    fallback: str | None = None

    @property
    def action(self) -> str:
        """queue, service or meter (a meter with a queue or service is that queue's or service's)."""
        return "queue" if self.queue is not None else "service" if self.service is not None else "meter"

    def dpid(self) -> int | None:
        """The one switch this policy targets, or None for 'all'/'none'."""
        return _sw_dpid(self.sw)

    def applies_to(self, dpid: int) -> bool:
        return self.sw == "all" or self.dpid() == dpid

    def to_dict(self) -> dict[str, Any]:
        """The normalised JSON form, in the seed's key names."""
        out: dict[str, Any] = {"name": self.name}
        for key, attr in POLICY_MATCH_KEYS.items():
            value = getattr(self.match, attr)
            if value is not None:
                out[key] = value if attr != "ip_dscp" else value << 2
        out["sw"] = self.sw
        if self.queue is not None:
            out["queue"] = self.queue
            if self.enqueue_port is not None:
                out["enqueue-port"] = ENQUEUE_IN_PORT if self.enqueue_port == IN_PORT else self.enqueue_port
        if self.service is not None:
            out["service"] = self.service
        if self.meter is not None:
            out["meter"] = self.meter
        if self.fallback is not None:
            out["fallback"] = self.fallback
        out["priority"] = self.priority
        if self.id is not None:
            out["id"] = self.id
        return out


#: Match's field names in declaration order (`dataclasses.fields()` builds them anew on every call)
_MATCH_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Match))

#: seed JSON key -> Match attribute
POLICY_MATCH_KEYS: dict[str, str] = {
    "ingress-port": "in_port",
    "eth-type": "eth_type",
    "eth-src": "eth_src",
    "eth-dst": "eth_dst",
    "vlan-id": "vlan_vid",
    "protocol": "ip_proto",
    "ip-src": "ipv4_src",
    "ip-dst": "ipv4_dst",
    "tos": "ip_dscp",
    "src-port": "tp_src",
    "dst-port": "tp_dst",
    "ipv6-src": "ipv6_src",
    "ipv6-dst": "ipv6_dst",
}
POLICY_KEYS = set(POLICY_MATCH_KEYS) | {"name", "sw", "queue", "enqueue-port", "service", "meter", "fallback",
                                        "priority", "id"}
#: a queue policy's opt-in "fallback": a meter at the queue's max-rate where the switch cannot enqueue
FALLBACK_METER = "meter"
IPV4 = 0x0800
IPV6 = 0x86DD
#: the eth-types whose IP header fields (protocol, DSCP, L4 ports) OpenFlow can match and set
IP_ETH_TYPES = {IPV4: "IPv4", IPV6: "IPv6"}
#: how a policy names OpenFlow's IN_PORT as its enqueue-port
ENQUEUE_IN_PORT = "in_port"
#: set_queue, forwarding picks the port; ports without the queue send unshaped (rest_qos's rules)
ENQUEUE_ANY = "any"
L4_PROTOCOLS = {6: "tcp", 17: "udp"}


def parse_match(data: Mapping[str, Any]) -> Match:
    """Field-by-field parsing, then the cross-field rules of OpenFlow prerequisites."""
    values: dict[str, Any] = {}
    if "ingress-port" in data:
        values["in_port"] = parse_int(data["ingress-port"], "ingress-port", 1, 0xFFFFFF00)
    if "eth-type" in data:
        values["eth_type"] = parse_int(data["eth-type"], "eth-type", 0, 0xFFFF)
    for key, attr in (("eth-src", "eth_src"), ("eth-dst", "eth_dst")):
        if key in data:
            values[attr] = parse_mac(data[key], key)
    if "vlan-id" in data:
        values["vlan_vid"] = parse_int(data["vlan-id"], "vlan-id", 0, 4095)
    if "protocol" in data:
        values["ip_proto"] = parse_int(data["protocol"], "protocol", 0, 255)
    for key, attr in (("ip-src", "ipv4_src"), ("ip-dst", "ipv4_dst")):
        if key in data:
            values[attr] = parse_ipv4(data[key], key)
    if "tos" in data:
        values["ip_dscp"] = parse_tos(data["tos"], "tos")
    for key, attr in (("src-port", "tp_src"), ("dst-port", "tp_dst")):
        if key in data:
            values[attr] = parse_int(data[key], key, 0, 65535)
    for key, attr in (("ipv6-src", "ipv6_src"), ("ipv6-dst", "ipv6_dst")):
        if key in data:
            values[attr] = parse_ipv6(data[key], key)

    v4_fields = [k for k in ("ip-src", "ip-dst") if k in data]
    v6_fields = [k for k in ("ipv6-src", "ipv6-dst") if k in data]
    if v4_fields and v6_fields:
        raise ValidationError(v6_fields[0], f"an IPv6 field cannot go with {v4_fields[0]} (IPv4) in one policy")
    if v4_fields or v6_fields:
        want = IPV6 if v6_fields else IPV4
        if values.get("eth_type", want) != want:
            raise ValidationError("eth-type", f"{(v4_fields or v6_fields)[0]} needs eth-type {want:#06x} "
                                  f"({IP_ETH_TYPES[want]}), got {values['eth_type']:#06x}")
        values["eth_type"] = want
    ip_fields = [k for k in ("protocol", "tos", "src-port", "dst-port") if k in data]
    if ip_fields:
        if values.get("eth_type", IPV4) not in IP_ETH_TYPES:
            raise ValidationError("eth-type", f"{ip_fields[0]} needs eth-type 0x0800 (IPv4) or 0x86dd (IPv6), "
                                  f"got {values['eth_type']:#06x}")
        values.setdefault("eth_type", IPV4)
    l4_fields = [k for k in ("src-port", "dst-port") if k in data]
    if l4_fields and values.get("ip_proto") not in L4_PROTOCOLS:
        raise ValidationError(l4_fields[0], "L4 ports need protocol 6 (TCP) or 17 (UDP)")
    return Match(**values)


def _marking_match(match: Match) -> Match:
    """A marking (service) policy rewrites the IP DSCP, so it must match IPv4 or IPv6.

    OpenFlow 1.3 `set_field ip_dscp` has the prerequisite eth_type 0x0800 or
    0x86dd (the DSCP bits of IPv6's traffic class); Open vSwitch rejects the
    flow (OFPBAC_MATCH_INCONSISTENT) without it. So eth-type is inferred as
    0x0800 when absent and anything but IPv4 or IPv6 is refused.
    """
    if match.eth_type is None:
        return replace(match, eth_type=IPV4)
    if match.eth_type not in IP_ETH_TYPES:
        raise ValidationError("eth-type", "a service (DSCP marking) needs eth-type 0x0800 (IPv4) or 0x86dd (IPv6), "
                              f"got {match.eth_type:#06x}")
    return match


def parse_policy(data: Any, services: Mapping[str, Any] | None = None,
                 meters: Mapping[str, Any] | None = None) -> Policy:
    """Validate a policy in the seed's JSON shape.

    `services` and `meters` are the known service and meter names (None
    skips that check, e.g. when re-reading the store).
    """
    if type(data) is not dict and not isinstance(data, Mapping):  # typing.Mapping's check is slow
        raise ValidationError("body", "a policy must be a JSON object")
    unknown = set(data) - POLICY_KEYS
    if unknown:
        raise ValidationError(str(sorted(unknown, key=str)[0]), f"unknown key; allowed: {', '.join(sorted(POLICY_KEYS - {'id'}))}")
    name = parse_name(data.get("name"))
    match = parse_match(data)
    sw = parse_sw(data.get("sw", "all"))
    priority = parse_int(data.get("priority", DEFAULT_PRIORITY), "priority", 0, MAX_PRIORITY)

    has_queue = data.get("queue") is not None
    has_service = data.get("service") is not None
    meter = _parse_meter_ref(data.get("meter"), meters)
    if has_queue and has_service:
        raise ValidationError("service", "a policy takes exactly one action: queue or service, not both")
    if meter is not None and not has_queue and not has_service:
        if data.get("fallback") is not None:
            raise ValidationError("fallback", "only valid together with queue")
        if data.get("enqueue-port") is not None:
            raise ValidationError("enqueue-port", "only valid together with queue")
        return Policy(name=name, match=match, sw=sw, meter=meter, priority=priority)
    if not has_queue and not has_service:
        raise ValidationError("queue", "a policy needs an action: queue (optionally with enqueue-port), service or meter")
    queue = enqueue_port = service = None
    if has_service:
        match = _marking_match(match)
    if has_queue:
        queue = parse_int(data["queue"], "queue", 0, 0xFFFFFFFE)
        enqueue_port = _parse_enqueue_port(data.get("enqueue-port"), match, sw, priority)
    else:
        if data.get("enqueue-port") is not None:
            raise ValidationError("enqueue-port", "only valid together with queue")
        service = parse_name(data["service"], "service")
        if services is not None and service not in services:
            # 409: the body is well formed; it names something the store does not have (yet)
            raise ValidationError("service", f"unknown service {service!r}; known: {', '.join(sorted(services))}",
                                  status=409)
    return Policy(name=name, match=match, sw=sw, queue=queue, enqueue_port=enqueue_port,
                  service=service, priority=priority, meter=meter, fallback=_parse_fallback(data, meter))


def _parse_fallback(data: Mapping[str, Any], meter: str | None) -> str | None:
    """"fallback": "meter" on a queue policy without a meter of its own (a flow has one meter instruction)."""
    value = data.get("fallback")
    if value is None:
        return None
    if value != FALLBACK_METER:
        raise ValidationError("fallback", f"the only fallback is {FALLBACK_METER!r} (police at the queue's max-rate "
                              f"where the switch cannot enqueue), got {_brief(value)}")
    if data.get("queue") is None:
        raise ValidationError("fallback", "only valid together with queue")
    if meter is not None:
        raise ValidationError("fallback", "a policy with its own meter cannot fall back to another one "
                              "(a flow takes one meter)")
    return FALLBACK_METER


def _parse_meter_ref(value: Any, meters: Mapping[str, Any] | None) -> str | None:
    """A policy's "meter": the name of a stored meter (409 when there is none by that name)."""
    if value is None:
        return None
    name = parse_name(value, "meter")
    if meters is not None and name not in meters:
        known = ", ".join(sorted(meters)) or "none"
        raise ValidationError("meter", f"unknown meter {name!r}; known: {known}", status=409)
    return name


def _parse_enqueue_port(value: Any, match: Match, sw: str, priority: int) -> int | str | None:
    """A queue policy's port: a number, "in_port", "any" or absent (forwarding chooses, OpenFlow 1.3).

    A number equal to the matched ingress-port is refused: OpenFlow never
    sends a packet out of the port it came in by unless told IN_PORT, so OVS
    drops it (a silent black hole). With `sw` "all", a number without
    ingress-port gets a companion flow for traffic entering on that very port (see
    `qosapp.core.compiler.compile_policy`), one priority higher, so the
    policy's priority must leave room for it.
    """
    if value is None:
        return None
    if isinstance(value, str) and value.strip().lower() == ENQUEUE_IN_PORT:
        return IN_PORT
    if isinstance(value, str) and value.strip().lower() == ENQUEUE_ANY:
        return ENQUEUE_ANY
    port = parse_int(value, "enqueue-port", 1, 0xFFFFFF00)
    if match.in_port == port:
        raise ValidationError("enqueue-port", f"equals ingress-port {port}: a packet is never sent out of the port "
                              "it came in by (the switch drops it). Use \"enqueue-port\": \"in_port\" to send it back "
                              "out of that port, or leave enqueue-port out to set the queue and let forwarding "
                              "choose the port (OpenFlow 1.3)")
    if match.in_port is None and sw == "all" and priority >= MAX_PRIORITY:
        raise ValidationError("priority", f"an enqueue-port without ingress-port needs a priority below {MAX_PRIORITY}: "
                              f"traffic entering on port {port} gets a flow one priority higher so it is not dropped")
    return port


def equal_ports_as_in_port(data: Any) -> Any:
    """The seed's policies with ingress-port == enqueue-port, as the form this API accepts.

    The seed (Floodlight) accepted `"ingress-port": "1", "enqueue-port": "1"`
    (its `Enqueue 1:2 s2` policy); OpenFlow drops such a packet. The
    compatibility clients (`qospusher`, the /wm/qos routes) send it as
    `"enqueue-port": "in_port"` (OpenFlow IN_PORT), which is what a switch
    can do with it; the native API refuses the equal numbers. Anything else
    is returned unchanged.
    """
    if not isinstance(data, Mapping) or data.get("queue") is None:
        return data
    try:
        ingress = parse_int(data.get("ingress-port"), "ingress-port", 1, 0xFFFFFF00)
        enqueue = parse_int(data.get("enqueue-port"), "enqueue-port", 1, 0xFFFFFF00)
    except ValidationError:
        return data
    return {**data, "enqueue-port": ENQUEUE_IN_PORT} if ingress == enqueue else data
