"""Static flow entries: named flows for one switch, in Floodlight's field names and action syntax (pure).

Floodlight's static flow pusher (`POST /wm/staticflowentrypusher/json`) is
how circuitpusher.py puts a circuit on the switches:

    {"switch": "00:00:00:00:00:00:00:01", "name": "00:..:01.h1h4.f", "cookie": "0",
     "priority": "32768", "ingress-port": "1", "ether-type": "0x800",
     "src-ip": "10.0.0.1", "dst-ip": "10.0.0.4", "active": "true", "actions": "output=2"}

Here such an entry is a `StaticFlow`: validated (a `ValidationError`
naming the field and the reason, where Floodlight logged and skipped),
stored like a policy, and compiled per switch into one `FlowSpec` with a
cookie of the 'S' space (`qosapp.core.cookies.static_cookie`). Floodlight
ignored the body's `cookie` too (it computed its own); it is kept and
listed as given.

Where the flow goes: on OpenFlow 1.3 into the forwarding table (table 1),
so QoS policies and paths in table 0 classify first and a static flow then
forwards what they hand on (a queue policy's set_queue carries over); on
OpenFlow 1.0 into the one table, as Floodlight did. Match fields with IP
or L4 prerequisites get them checked (OpenFlow 1.3 switches reject a flow
without them; Floodlight only warned): IP fields imply ether-type 0x0800.

Actions (comma-separated, as Floodlight's `StaticFlowEntries.parseActionString`):
output=<port>|all|controller|local|ingress-port|normal|flood,
enqueue=<port>:<queue>, strip-vlan, set-vlan-id=<vid>,
set-vlan-priority=<pcp>, set-src-mac=<mac>, set-dst-mac=<mac>,
set-tos-bits=<tos byte>, set-src-ip=<ip>, set-dst-ip=<ip>,
set-src-port=<port>, set-dst-port=<port>. No action drops the packet.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, Mapping

from qosapp.core.compiler import FORWARDING_TABLE, NORMAL, OF10, Action, FlowDelete, FlowSpec, compile_match
from qosapp.core.cookies import static_cookie
from qosapp.core.model import (IPV4, L4_PROTOCOLS, MAX_PRIORITY, Match, ValidationError, format_dpid, parse_dpid,
                               parse_int, parse_ipv4, parse_mac, parse_match, parse_name, parse_tos)
from qosapp.core.ports import IN_PORT, MAX_PORT_NO

#: Floodlight's priority when none is given (OFFlowMod's default)
DEFAULT_STATIC_PRIORITY = 32768
#: Floodlight's match keys -> the policy model's keys (`qosapp.core.model.POLICY_MATCH_KEYS`)
MATCH_KEYS = {"ingress-port": "ingress-port", "src-mac": "eth-src", "dst-mac": "eth-dst", "vlan-id": "vlan-id",
              "ether-type": "eth-type", "tos-bits": "tos", "protocol": "protocol", "src-ip": "ip-src",
              "dst-ip": "ip-dst", "src-port": "src-port", "dst-port": "dst-port"}
STATIC_KEYS = set(MATCH_KEYS) | {"switch", "name", "cookie", "priority", "vlan-priority", "active", "actions",
                                 "id"}
#: output=<word> -> the port name flow specs use
OUTPUT_WORDS = {"all": "ALL", "controller": "CONTROLLER", "local": "LOCAL", "ingress-port": IN_PORT,
                "normal": NORMAL, "flood": "FLOOD"}
_NUMBER = r"(?:0x[0-9a-fA-F]+|[0-9]+)"
_MAC = r"[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}"
_IP = r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}"
#: action name -> the pattern of its argument (None: takes none)
ACTION_ARGS: dict[str, str | None] = {
    "output": rf"{_NUMBER}|{'|'.join(OUTPUT_WORDS)}", "enqueue": rf"{_NUMBER}:{_NUMBER}", "strip-vlan": None,
    "set-vlan-id": _NUMBER, "set-vlan-priority": _NUMBER, "set-src-mac": _MAC, "set-dst-mac": _MAC,
    "set-tos-bits": _NUMBER, "set-src-ip": _IP, "set-dst-ip": _IP, "set-src-port": _NUMBER,
    "set-dst-port": _NUMBER}


@dataclass(frozen=True)
class StaticFlow:
    """One named flow for one switch: a match, a priority and Floodlight-style actions."""

    name: str
    dpid: int
    match: Match
    #: the actions as parsed, version-neutral: ("output", port), ("enqueue", port, queue),
    #: ("strip_vlan",), ("set_vlan_vid", v), ("set_vlan_pcp", p), ("set_eth_src", mac),
    #: ("set_eth_dst", mac), ("set_dscp", dscp), ("set_ipv4_src", ip), ("set_ipv4_dst", ip),
    #: ("set_tp_src", n), ("set_tp_dst", n)
    actions: tuple[Action, ...] = ()
    priority: int = DEFAULT_STATIC_PRIORITY
    #: the match's VLAN priority (PCP), which policies do not match
    vlan_pcp: int | None = None
    active: bool = True
    #: the body's cookie, kept as given (the switch gets the 'S' cookie)
    user_cookie: int = 0
    #: the action string as given, normalised (what the list shows)
    action_text: str = ""
    id: int | None = None

    @property
    def switch(self) -> str:
        return format_dpid(self.dpid)

    @property
    def cookie(self) -> int:
        if self.id is None:
            raise ValueError(f"static flow {self.name!r} has no id; store it first")
        return static_cookie(self.id)

    def match_fields(self) -> tuple[tuple[str, Any], ...]:
        """OXM-style match pairs, the VLAN priority after the VLAN id."""
        fields = list(compile_match(self.match))
        if self.vlan_pcp is not None:
            fields.append(("vlan_pcp", self.vlan_pcp))
        return tuple(fields)

    def enqueues(self) -> list[tuple[int, int]]:
        """(port, queue) of every enqueue action (where tc must classify this flow's packets)."""
        return [(a[1], a[2]) for a in self.actions if a[0] == "enqueue"]

    def to_dict(self) -> dict[str, Any]:
        """The stored and listed form, in Floodlight's key names."""
        out: dict[str, Any] = {"switch": self.switch, "name": self.name, "cookie": str(self.user_cookie),
                               "priority": self.priority}
        for key, attr in (("ingress-port", "in_port"), ("src-mac", "eth_src"), ("dst-mac", "eth_dst"),
                          ("vlan-id", "vlan_vid"), ("ether-type", "eth_type"), ("tos-bits", "ip_dscp"),
                          ("protocol", "ip_proto"), ("src-ip", "ipv4_src"), ("dst-ip", "ipv4_dst"),
                          ("src-port", "tp_src"), ("dst-port", "tp_dst")):
            value = getattr(self.match, attr)
            if value is not None:
                out[key] = f"{value:#06x}" if attr == "eth_type" else value << 2 if attr == "ip_dscp" else value
        if self.vlan_pcp is not None:
            out["vlan-priority"] = self.vlan_pcp
        out["active"] = self.active
        out["actions"] = self.action_text
        return out


def _flag(value: Any, field_name: str) -> bool:
    """Floodlight's Boolean.valueOf: "true" (any case) is true; qos-sdn refuses what is neither."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValidationError(field_name, f"expected true or false, got {str(value)[:40]!r}")


def parse_static_flow(data: Any) -> StaticFlow:
    """Validate a static flow entry in Floodlight's JSON shape: 400 naming the field and the reason.

    As Floodlight did, a field given as "" is left out. Unlike Floodlight,
    unknown keys and actions it could not parse are refused, not skipped.
    """
    if not isinstance(data, Mapping):
        raise ValidationError("body", "a static flow entry must be a JSON object")
    unknown = set(data) - STATIC_KEYS
    if unknown:
        raise ValidationError(str(sorted(unknown, key=str)[0]),
                              f"unknown key; allowed: {', '.join(sorted(STATIC_KEYS - {'id'}))}")
    data = {k: v for k, v in data.items() if v != ""}
    name = parse_name(data.get("name"))
    if data.get("switch") is None:
        raise ValidationError("switch", "required: the dpid of the switch the flow is for")
    dpid = parse_dpid(data["switch"], "switch")
    match = _parse_static_match(data)
    vlan_pcp = parse_int(data["vlan-priority"], "vlan-priority", 0, 7) if "vlan-priority" in data else None
    if vlan_pcp is not None and match.vlan_vid is None:
        raise ValidationError("vlan-priority", "needs vlan-id (a VLAN priority is only in a VLAN tag)")
    priority = parse_int(data.get("priority", DEFAULT_STATIC_PRIORITY), "priority", 0, MAX_PRIORITY)
    cookie = parse_int(data.get("cookie", 0), "cookie", 0, 2**64 - 1)
    active = _flag(data.get("active", True), "active")
    text = data.get("actions", "")
    if not isinstance(text, str):
        raise ValidationError("actions", "expected Floodlight's action string, e.g. \"output=2\" or "
                              "\"enqueue=2:1\"")
    actions = parse_actions(text, match)
    return StaticFlow(name=name, dpid=dpid, match=match, actions=actions, priority=priority, vlan_pcp=vlan_pcp,
                      active=active, user_cookie=cookie, action_text=",".join(text.replace(" ", "").split(",")))


def _parse_static_match(data: Mapping[str, Any]) -> Match:
    """The match, by the policy model's rules (prerequisites checked, field names Floodlight's)."""
    renamed = {MATCH_KEYS[k]: v for k, v in data.items() if k in MATCH_KEYS}
    back = {v: k for k, v in MATCH_KEYS.items()}
    try:
        return parse_match(renamed)
    except ValidationError as err:
        field = back.get(err.field, err.field)
        reason = err.reason
        for ours, theirs in back.items():
            reason = reason.replace(ours, theirs)
        raise ValidationError(field, reason, status=err.status) from None


def parse_actions(text: str, match: Match) -> tuple[Action, ...]:
    """Floodlight's action string -> version-neutral actions (see `StaticFlow.actions`)."""
    out: list[Action] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, _, arg = part.partition("=")
        name = name.strip().lower()
        if name not in ACTION_ARGS:
            raise ValidationError("actions", f"unknown action {part[:40]!r}; known: {', '.join(ACTION_ARGS)}")
        pattern = ACTION_ARGS[name]
        if pattern is None:
            if arg:
                raise ValidationError("actions", f"{name} takes no value, got {part[:40]!r}")
        elif not re.fullmatch(pattern, arg.strip().lower() if name == "output" else arg.strip()):
            raise ValidationError("actions", f"bad value in {part[:40]!r}")
        out.append(_action(name, arg.strip(), match))
    return tuple(out)


def _action(name: str, arg: str, match: Match) -> Action:
    if name == "output":
        word = arg.lower()
        return ("output", OUTPUT_WORDS[word] if word in OUTPUT_WORDS else _port(arg, "output"))
    if name == "enqueue":
        port, queue = arg.split(":")
        return ("enqueue", _port(port, "enqueue"), parse_int(queue, "actions", 0, 0xFFFFFFFE))
    if name == "strip-vlan":
        return ("strip_vlan",)
    if name == "set-vlan-id":
        return ("set_vlan_vid", parse_int(arg, "actions", 0, 4095))
    if name == "set-vlan-priority":
        return ("set_vlan_pcp", parse_int(arg, "actions", 0, 7))
    if name in ("set-src-mac", "set-dst-mac"):
        return ("set_eth_src" if name == "set-src-mac" else "set_eth_dst", parse_mac(arg, "actions"))
    _needs_ipv4(name, match)
    if name == "set-tos-bits":
        return ("set_dscp", parse_tos(arg, "actions"))
    if name in ("set-src-ip", "set-dst-ip"):
        ip = parse_ipv4(arg, "actions")
        return ("set_ipv4_src" if name == "set-src-ip" else "set_ipv4_dst", ip)
    if match.ip_proto not in L4_PROTOCOLS:
        raise ValidationError("actions", f"{name} needs protocol 6 (TCP) or 17 (UDP) in the match")
    return ("set_tp_src" if name == "set-src-port" else "set_tp_dst", parse_int(arg, "actions", 0, 65535))


def _needs_ipv4(name: str, match: Match) -> None:
    if match.eth_type != IPV4:
        raise ValidationError("actions", f"{name} rewrites an IPv4 header: the match needs ether-type 0x0800 "
                              "(or an IPv4 field)")


def _port(text: str, field: str) -> int:
    try:
        return parse_int(text, "actions", 1, MAX_PORT_NO)
    except ValidationError as err:
        raise ValidationError("actions", f"{field} port: {err.reason}") from None


def compile_static(flow: StaticFlow, version: int) -> FlowSpec:
    """The flow for its switch: table 1 on OpenFlow 1.3 (after QoS in table 0), table 0 on 1.0."""
    actions: list[Action] = []
    for action in flow.actions:
        actions += _encode(action, flow, version)
    spec = FlowSpec(cookie=flow.cookie, priority=flow.priority, match=flow.match_fields(), actions=tuple(actions))
    return spec if version == OF10 else replace(spec, table_id=FORWARDING_TABLE)


def _encode(action: Action, flow: StaticFlow, version: int) -> list[Action]:
    kind = action[0]
    if kind == "output":
        return [action]
    if kind == "enqueue":
        return [action] if version == OF10 else [("set_queue", action[2]), ("output", action[1])]
    if version == OF10:  # OpenFlow 1.0 has an action of its own for each rewrite (`qosapp.ofp.ofmsgs`)
        return [("set_nw_tos", action[1] << 2)] if kind == "set_dscp" else [action]
    if kind == "strip_vlan":
        return [("pop_vlan",)]
    if kind == "set_vlan_vid":  # OpenFlow 1.0 tags an untagged packet; 1.3 needs the tag pushed first
        tag = [("push_vlan", 0x8100)] if flow.match.vlan_vid is None else []
        return tag + [("set_field", "vlan_vid", action[1])]
    if kind == "set_tp_src" or kind == "set_tp_dst":
        proto = L4_PROTOCOLS[flow.match.ip_proto or 0]
        return [("set_field", f"{proto}_{'src' if kind == 'set_tp_src' else 'dst'}", action[1])]
    field = {"set_vlan_pcp": "vlan_pcp", "set_eth_src": "eth_src", "set_eth_dst": "eth_dst", "set_dscp": "ip_dscp",
             "set_ipv4_src": "ipv4_src", "set_ipv4_dst": "ipv4_dst"}[kind]
    return [("set_field", field, action[1])]


def delete_static(flow: StaticFlow, version: int) -> FlowDelete:
    """Remove exactly this flow: by its cookie on OpenFlow 1.3, strictly by match and priority on 1.0."""
    return FlowDelete(cookie=flow.cookie) if version != OF10 else \
        FlowDelete(cookie=flow.cookie, strict=compile_static(flow, version))


def same_flow_key(flow: StaticFlow) -> tuple[int, Match, int | None, int]:
    """Two static flows with this key would be one flow on the switch (the second overwrites the first)."""
    return (flow.dpid, flow.match, flow.vlan_pcp, flow.priority)
