"""The OpenAPI 3 description of the REST service, served at /qos/openapi.json.

Built from the model's own key tables so that the document and the
validation cannot drift apart; `tests/unit/test_rest.py` checks that every
route is documented and every documented path is routed.
"""
from __future__ import annotations

from typing import Any

from qosapp.core.model import DEFAULT_PRIORITY, DSCP_NAMES, IPV6_HOST_TEXT, IPV6_TEXT
from qosapp.http.numtext import int_text_pattern, range_regex, values_text_pattern

#: what parse_int accepts as text: decimal or 0x hex, surrounding whitespace ignored
INT_TEXT = r"^\s*([+-]?[0-9]{1,40}|0[xX][0-9a-fA-F]{1,32})\s*$"
#: a name as parse_name takes it: 1-128 characters once stripped, no '/' (and printable)
NAME_PATTERN = r"^\s*[^\s/\x00-\x1f\x7f-\x9f]([^/\x00-\x1f\x7f-\x9f]{0,126}[^\s/\x00-\x1f\x7f-\x9f])?\s*$"
NAME = {"type": "string", "pattern": NAME_PATTERN,
        "description": "1-128 printable characters after trimming spaces, no '/'"}
DPID_TEXT = (r"^\s*(([0-9a-fA-F]{2}:){7}[0-9a-fA-F]{2}|[0-9a-fA-F]{16}|[0-9]{1,40}|0[xX][0-9a-fA-F]{1,32}"
             r"|[aA][lL][lL]|[nN][oO][nN][eE])\s*$")
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"


def _prefixes() -> str:
    """Every a.b.c.d/len with its host bits zero (ipaddress strict=True), one alternative per length."""
    out = []
    for length in range(33):
        octets = []
        for k in range(4):
            bits = max(0, min(8, length - 8 * k))
            if bits == 8:
                octets.append(_OCTET)
            elif bits == 0:
                octets.append("0")
            else:
                octets.append("(" + "|".join(str(v) for v in range(0, 256, 2 ** (8 - bits))) + ")")
        out.append(r"\.".join(octets) + f"/{length}")
    return "|".join(out)


#: an address, or a prefix whose host bits are zero (what parse_ipv4 takes)
IPV4_TEXT = rf"^\s*({_OCTET}(\.{_OCTET}){{3}}|{_prefixes()})\s*$"
#: one host (paths)
HOST_TEXT = rf"^\s*({_OCTET}(\.{_OCTET}){{3}}(/32)?|{IPV6_HOST_TEXT})\s*$"
MAC_TEXT = r"^\s*[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}\s*$"


def int_field(lo: int, hi: int, description: str) -> dict[str, Any]:
    """A JSON integer in [lo, hi], or the same number as decimal / 0x-hex text (the seed sends strings)."""
    return {"description": description, "anyOf": [
        {"type": "integer", "minimum": lo, "maximum": hi},
        {"type": "string", "pattern": int_text_pattern(lo, hi), "description": f"decimal or 0x hex, {lo}-{hi}"}]}


#: DSCPs a service may mark with: all of 0-63 (queues no longer select by DSCP)
SERVICE_DSCPS = list(range(64))
SERVICE_DSCP = {"description": "0-63 or a DiffServ name",
                "anyOf": [{"type": "integer", "enum": SERVICE_DSCPS},
                          {"type": "string", "pattern": values_text_pattern(SERVICE_DSCPS)},
                          {"type": "string", "enum": sorted(DSCP_NAMES)}]}
SERVICE_TOS = {"description": "ToS byte (DSCP << 2) of a service DSCP", "anyOf": [
    {"type": "integer", "enum": [d << 2 for d in SERVICE_DSCPS]},
    {"type": "string", "pattern": values_text_pattern([d << 2 for d in SERVICE_DSCPS])},
    {"type": "string", "enum": sorted(DSCP_NAMES)}]}
DSCP = {"description": "0-63 or a DiffServ name", "anyOf": [
    {"type": "integer", "minimum": 0, "maximum": 63},
    {"type": "string", "pattern": int_text_pattern(0, 63)},
    {"type": "string", "enum": sorted(DSCP_NAMES)}]}
TOS = {"description": "ToS byte to match (DSCP << 2, ECN bits 0) or a DiffServ name", "anyOf": [
    {"type": "integer", "minimum": 0, "maximum": 252, "multipleOf": 4},
    {"type": "string", "pattern": values_text_pattern(list(range(0, 256, 4)))},
    {"type": "string", "enum": sorted(DSCP_NAMES)}]}
SW = {"description": "'all' (default), 'none' (stored, not installed) or a dpid (16 hex digits, colons optional)",
      "anyOf": [{"type": "string", "pattern": DPID_TEXT}, {"type": "integer", "minimum": 0, "maximum": 2**64 - 1}]}
PORT_NO = 0xFFFFFF00
#: eth-type 0x0800 in any spelling (IP fields and DSCP marking need it)
ETH_IPV4 = {"anyOf": [{"const": 0x0800}, {"type": "string", "pattern": values_text_pattern([0x0800])}]}
ETH_IPV6 = {"anyOf": [{"const": 0x86DD}, {"type": "string", "pattern": values_text_pattern([0x86DD])}]}
#: IPv4 or IPv6 (protocol, DSCP, L4 ports and marking need one of them)
ETH_IP = {"anyOf": [{"enum": [0x0800, 0x86DD]}, {"type": "string", "pattern": values_text_pattern([0x0800, 0x86DD])}]}
#: protocol TCP or UDP in any spelling (L4 ports need it)
L4_PROTOCOL = {"anyOf": [{"enum": [6, 17]}, {"type": "string", "pattern": values_text_pattern([6, 17])}]}
#: OpenFlow prerequisites the validation enforces: IP fields imply IPv4, L4 ports imply TCP/UDP
PREREQUISITES = {
    **{key: {"properties": {"eth-type": ETH_IPV4, "ipv6-src": False, "ipv6-dst": False}} for key in ("ip-src", "ip-dst")},
    **{key: {"properties": {"eth-type": ETH_IPV6, "ip-src": False, "ip-dst": False}} for key in ("ipv6-src", "ipv6-dst")},
    **{key: {"properties": {"eth-type": ETH_IP}} for key in ("protocol", "tos")},
    **{key: {"required": ["protocol"], "properties": {"eth-type": ETH_IP, "protocol": L4_PROTOCOL}}
       for key in ("src-port", "dst-port")},
}
#: a queue profile's port: 'all', a port number, or an interface name (not all digits, <= 15 bytes)
QUEUE_PORT = {"anyOf": [
    {"type": "integer", "minimum": 1, "maximum": 0xFFFFFF00},
    {"type": "string", "pattern": rf"^\s*([aA][lL][lL]|0*{range_regex(1, 0xFFFFFF00)}|[^\s/]*[^\s/0-9][^\s/]*)\s*$"}]}

POLICY_PROPERTIES: dict[str, Any] = {
    "name": NAME,
    "protocol": int_field(0, 255, "IP protocol 0-255 (6 TCP, 17 UDP)"),
    "eth-type": int_field(0, 0xFFFF, "0-0xffff; 0x0800 is inferred when IP fields are given"),
    "ingress-port": int_field(1, PORT_NO, "OpenFlow port number"),
    "ip-src": {"type": "string", "pattern": IPV4_TEXT, "description": "IPv4 address or prefix (10.0.0.0/24)"},
    "ip-dst": {"type": "string", "pattern": IPV4_TEXT, "description": "IPv4 address or prefix"},
    "ipv6-src": {"type": "string", "pattern": rf"^\s*{IPV6_TEXT}\s*$",
                 "description": "IPv6 address or prefix in hex groups (fc00::1, fc00::/64; host bits cleared); "
                                "implies eth-type 0x86dd; not with ip-src/ip-dst; OpenFlow 1.0 switches refuse it"},
    "ipv6-dst": {"type": "string", "pattern": rf"^\s*{IPV6_TEXT}\s*$", "description": "IPv6 address or prefix"},
    "tos": TOS,
    "vlan-id": int_field(0, 4095, "0-4095"),
    "eth-src": {"type": "string", "pattern": MAC_TEXT, "description": "MAC address"},
    "eth-dst": {"type": "string", "pattern": MAC_TEXT, "description": "MAC address"},
    "src-port": int_field(0, 65535, "L4 port 0-65535; needs protocol 6 or 17"),
    "dst-port": int_field(0, 65535, "L4 port 0-65535; needs protocol 6 or 17"),
    "sw": SW,
    "queue": {**int_field(0, 0xFFFFFFFE, "queue id; excludes service"),
              "anyOf": [*int_field(0, 0xFFFFFFFE, "")["anyOf"], {"type": "null"}]},
    "enqueue-port": {**int_field(1, PORT_NO, "port whose queue the packets enter; only with queue. "
                                 "'in_port': back out of the port they came in by (OpenFlow IN_PORT). Absent: "
                                 "set the queue and let forwarding choose the port (OpenFlow 1.3; a 1.0 switch "
                                 "reports error), the queue needed on every port; 'any': the same, ports "
                                 "without the queue send unshaped (Ryu rest_qos's set_queue). A number equal to ingress-port is refused (the switch would "
                                 "drop the packet); with sw 'all' and no ingress-port, priority must be below "
                                 "65535 (traffic entering on that port gets a flow one priority higher)"),
                     "anyOf": [*int_field(1, PORT_NO, "")["anyOf"], {"type": "null"},
                               {"type": "string", "pattern": r"^\s*[iI][nN]_[pP][oO][rR][tT]\s*$"},
                               {"type": "string", "pattern": r"^\s*[aA][nN][yY]\s*$"}]},
    "service": {"anyOf": [NAME, {"type": "null"}], "description": "name of a service (DSCP marking); excludes queue"},
    "meter": {"anyOf": [NAME, {"type": "null"}],
              "description": "name of a meter (OpenFlow 1.3 policer), alone or with queue or service: police, "
                             "then queue or mark; an unknown meter is 409"},
    "fallback": {"anyOf": [{"const": "meter"}, {"type": "null"}],
                 "description": "'meter', with queue and without meter: where a switch cannot enqueue (the queue "
                                "is not on the port, or the switch rejects the flow), police at the queue's "
                                "max-rate with a meter instead (OpenFlow 1.3; install shows mechanism "
                                "meter-fallback)"},
    "priority": int_field(0, 65535, f"0-65535, default {DEFAULT_PRIORITY}"),
    "id": {"description": "ignored on input (the controller assigns ids)"},
}
#: a fallback meter is the flow's one meter instruction: not with a meter of the policy's own
FALLBACK_RULE = {"if": {"required": ["fallback"], "properties": {"fallback": {"const": "meter"}}},
                 "then": {"required": ["queue"], "properties": {"meter": {"type": "null"}, "queue": {"not": {"type": "null"}}}}}
#: one action: a queue (with its port) or a service, either with or without a meter; or a meter alone
POLICY_ACTION = {"oneOf": [
    {"required": ["meter"], "properties": {
        "meter": {"not": {"type": "null"}}, "queue": {"type": "null"}, "enqueue-port": {"type": "null"},
        "service": {"type": "null"}}},
    {"required": ["queue"], "properties": {
        "queue": {"not": {"type": "null"}}, "service": {"type": "null"}}},
    {"required": ["service"], "properties": {
        "service": {"not": {"type": "null"}}, "queue": {"type": "null"}, "enqueue-port": {"type": "null"},
        "eth-type": ETH_IP}}]}

#: a service's class: dscp or tos, exactly one
ONE_OF_DSCP_TOS = {"oneOf": [{"required": ["dscp"]}, {"required": ["tos"]}]}

#: ?wait=confirm on policy writes (any other value: answer at once)
WAIT_PARAM = [{"name": "wait", "in": "query", "required": False, "schema": {"type": "string"},
               "description": "'confirm': answer only once every switch confirmed (barrier reply) or rejected "
                              "the flows; any other value answers at once"}]
RATE = {"description": "bits/s: integer 12000..10^12 or text such as '10G', '20M', '2000k'",
        "anyOf": [{"type": "integer", "minimum": 12_000, "maximum": 10**12}, {"type": "string", "minLength": 1}]}
#: a meter's rate (bits/s) or burst (bits): 1000..10^12, whole kbit; integer or text with k/M/G (decimal)
_KILO, _MEGA, _GIGA = range_regex(1, 10**9), range_regex(1, 10**6), range_regex(1, 1000)
METER_RATE_TEXT = rf"^\s*0*({_KILO}000|{_KILO}[kK]|{_MEGA}[mM]|{_GIGA}[gG])\s*$"
METER_RATE_WORDS = "1000..10^12, a whole number of kbit: an integer (multiple of 1000) or text such as '2M', '256k'"
METER_RATE: dict[str, Any] = {"description": METER_RATE_WORDS, "anyOf": [
                  {"type": "integer", "minimum": 1000, "maximum": 10**12, "multipleOf": 1000},
                  {"type": "string", "pattern": METER_RATE_TEXT}]}
INSTALL = {"type": "object", "description": "per dpid: {state: installed|pending|error|missing-queue|"
                                           "not-installed, reason, missing-queues: [{port, queue}], mechanism: "
                                           "queue|meter-fallback (policies with a fallback)}",
           "additionalProperties": {"type": "object", "required": ["state"], "properties": {
               "state": {"type": "string"}, "reason": {"type": "string"}, "mechanism": {"type": "string"},
               "missing-queues": {"type": "array", "items": {"type": "object"}}}}}
#: ?force=true on queue profile writes that take a queue away from live policies or paths
FORCE_PARAM = [{"name": "force", "in": "query", "required": False,
                "schema": {"type": "string", "enum": ["true", "false", "1", "0", "yes", "no", ""]},
                "description": "'true': go ahead although live policies or paths use a queue this write takes "
                               "away; their state becomes missing-queue and the answer lists them under "
                               "'affected'. Without it, that is 409 listing them under 'in-use'"}]

#: Floodlight's QoSPolicy fields, in its order (qosapp.http.floodlight lists policies with all of them)
FLOODLIGHT_POLICY_FIELDS = ["policyid", "name", "ethtype", "protocol", "ingressport", "ipdst", "ipsrc", "tos",
                            "vlanid", "ethsrc", "ethdst", "tcpudpsrcport", "tcpudpdstport", "sw", "queue",
                            "enqueueport", "service", "priority"]
SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error"], "properties": {
        "error": {"type": "string", "description": "the reason; echoed input is cut to 200 characters"},
        "field": {"type": "string", "description": "the field, header or 'body'/'path' that was refused"},
        "index": {"type": "integer", "description": "position of the bad item in a batch"},
        "in-use": {"type": "array", "items": {"type": "object"},
                   "description": "409 on a queue profile write: the live policies and paths (policy or path, "
                                  "dpid, port, queue) that would lose their queue"},
        "limit": {"type": "integer", "description": "the body cap, on 413"},
        "request-id": {"type": "string", "description": "also in X-Request-Id; the log carries the same id"}}},
    "ServiceInput": {"type": "object", "additionalProperties": False, "properties": {
        "name": NAME, "service": {"description": "alias of name when name is absent"}, "dscp": SERVICE_DSCP,
        "tos": {**SERVICE_TOS, "description": "ToS byte (DSCP << 2); alternative to dscp"},
        "id": {"description": "ignored"}, "sid": {"description": "ignored"}},
        "allOf": [{"anyOf": [{"required": ["name"]}, {"required": ["service"], "properties": {"service": NAME}}]},
                  ONE_OF_DSCP_TOS]},
    "Service": {"type": "object", "required": ["name", "dscp", "tos", "id"], "additionalProperties": False,
                "properties": {"name": {"type": "string"}, "dscp": {"type": "integer", "minimum": 0, "maximum": 63},
                               "tos": {"type": "integer", "description": "ToS byte (DSCP << 2)"},
                               "id": {"type": "integer"}}},
    "Policy": {"type": "object", "required": ["name"], "additionalProperties": False,
               "properties": POLICY_PROPERTIES, **POLICY_ACTION, **FALLBACK_RULE, "dependentSchemas": PREREQUISITES},
    "PolicyReplace": {"type": "object", "additionalProperties": False, "properties": POLICY_PROPERTIES,
                      **POLICY_ACTION, **FALLBACK_RULE, "dependentSchemas": PREREQUISITES,
                      "description": "as Policy; name defaults to the one in the URL (another name renames)"},
    "PolicyStored": {"type": "object", "required": ["name", "sw", "priority"], "properties": {
        "name": {"type": "string"}, "sw": {"type": "string"}, "priority": {"type": "integer"},
        "queue": {"type": "integer"}, "enqueue-port": {"anyOf": [{"type": "integer"}, {"enum": ["in_port", "any"]}]},
        "service": {"type": "string"}, "meter": {"type": "string"}, "fallback": {"type": "string"},
        "id": {"type": "integer"}}},
    "PolicyView": {"allOf": [{"$ref": "#/components/schemas/PolicyStored"}, {"type": "object",
                   "required": ["id", "cookie", "install"], "properties": {
                       "id": {"type": "integer"}, "cookie": {"type": "string"}, "install": INSTALL}}]},
    "MeterInput": {"type": "object", "required": ["name", "rate"], "additionalProperties": False, "properties": {
        "name": NAME, "rate": {**METER_RATE, "description": "bits/s; " + METER_RATE_WORDS},
        "burst": {"anyOf": [*METER_RATE["anyOf"], {"type": "null"}],
                  "description": "bits; " + METER_RATE_WORDS + "; default: 100 ms of the rate"},
        "id": {"description": "ignored"}}},
    "Meter": {"type": "object", "required": ["name", "rate", "burst", "id"], "properties": {
        "name": {"type": "string"}, "rate": {"type": "integer", "description": "bits/s"},
        "burst": {"type": "integer", "description": "bits"}, "id": {"type": "integer"}}},
    "MeterView": {"allOf": [{"$ref": "#/components/schemas/Meter"}, {"type": "object",
                  "required": ["policies", "switches"], "properties": {
                      "policies": {"type": "array", "items": {"type": "string"}},
                      "switches": {"type": "object", "description": "per dpid: {meter-id, state: installed|pending|"
                                   "error, reason}; OpenFlow 1.0 switches show error"}}}]},
    "QueueInput": {"type": "object", "required": ["max-rate", "queues"], "additionalProperties": False, "properties": {
        "sw": {"description": "'all' (default) or a dpid", "anyOf": SW["anyOf"]},
        "port": {"description": "'all' (default), a port name or number", **QUEUE_PORT},
        "max-rate": RATE,
        "queues": {"description": "queue id -> {min-rate, max-rate}; ids 0..N without gaps (N <= 16), "
                                  "0 is the default class; min-rates at most the port's max-rate",
                   "anyOf": [{"type": "object", "minProperties": 1}, {"type": "array", "minItems": 1}]},
        "id": {"description": "ignored"}}},
    "QueueProfile": {"type": "object", "required": ["sw", "port", "max-rate", "queues"], "properties": {
        "sw": {"type": "string"}, "port": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        "max-rate": {"type": "integer"},
        "queues": {"type": "object", "additionalProperties": {"type": "object", "properties": {
            "min-rate": {"type": "integer"}, "max-rate": {"type": "integer"}, "dscp": {"type": "integer"}}}},
        "applied": {"type": "object", "description": "'dpid/port' -> {state: applied|error, reason, note, filters, "
                    "filter-note, filter-error, rates: the rates the port really applies, read back from tc (or "
                    "OVSDB) {source, max-rate, queues: {id: {min-rate, max-rate}}}, rates-note where they differ "
                    "from the profile}"},
        "affected": {"type": "array", "items": {"type": "object"},
                     "description": "with ?force=true: the live policies and paths that lost their queue by this "
                                    "write (now missing-queue)"}}},
    "Path": {"type": "object", "required": ["name", "src", "dst"], "additionalProperties": False, "properties": {
        "name": NAME, "src": {"type": "string", "pattern": HOST_TEXT, "description": "source host, IPv4 or IPv6"},
        "dst": {"type": "string", "pattern": HOST_TEXT,
                "description": "destination host, IPv4 or IPv6 as src (the same family, not src)"},
        "protocol": int_field(0, 255, "IP protocol"), "src-port": int_field(0, 65535, "needs protocol 6 or 17"),
        "dst-port": int_field(0, 65535, "needs protocol 6 or 17"),
        "queue": {"description": "queue id on every out-port of the route; excludes service",
                  "anyOf": [*int_field(0, 0xFFFFFFFE, "")["anyOf"], {"type": "null"}]},
        "service": {"anyOf": [NAME, {"type": "null"}], "description": "DSCP marking; excludes queue"},
        "direction": {"type": "string", "enum": ["both", "forward"], "description": "default both"},
        "priority": int_field(0, 65535, "0-65535"), "id": {"description": "ignored"}},
        "oneOf": [{"required": ["queue"], "properties": {"queue": {"not": {"type": "null"}},
                                                          "service": {"type": "null"}}},
                  {"required": ["service"], "properties": {"service": {"not": {"type": "null"}},
                                                            "queue": {"type": "null"}}}],
        "dependentSchemas": {key: {"required": ["protocol"], "properties": {"protocol": L4_PROTOCOL}}
                             for key in ("src-port", "dst-port")}},
    "PathStored": {"type": "object", "required": ["name", "src", "dst", "direction", "priority"], "properties": {
        "name": {"type": "string"}, "src": {"type": "string"}, "dst": {"type": "string"},
        "direction": {"type": "string", "enum": ["both", "forward"]}, "priority": {"type": "integer"},
        "queue": {"type": "integer"}, "service": {"type": "string"}, "id": {"type": "integer"}}},
    "PathView": {"allOf": [{"$ref": "#/components/schemas/PathStored"}, {"type": "object",
                 "required": ["id", "cookie", "status", "installed", "install"], "properties": {
                     "id": {"type": "integer"}, "cookie": {"type": "string"}, "installed": {"type": "boolean"},
                     "install": INSTALL,
                     "status": {"type": "object", "required": ["state"], "description":
                                "state installed|pending|missing-queues, hops, reverse-hops, reason, missing-queues",
                                "properties": {"state": {"type": "string"}, "hops": {"type": "array"}}}}}]},
    "Status": {"type": "object", "required": ["enabled", "services", "policies", "switches", "queues", "paths"],
               "properties": {"enabled": {"type": "boolean"}, "services": {"type": "integer"},
                              "meters": {"type": "integer"},
                              "policies": {"type": "integer"}, "switches": {"type": "integer"},
                              "queues": {"type": "integer"}, "paths": {"type": "integer"}}},
    "Toggle": {"type": "object", "required": ["enabled", "changed"], "additionalProperties": False,
               "properties": {"enabled": {"type": "boolean"}, "changed": {"type": "boolean"}}},
    "Cluster": {"type": "object", "required": ["cluster", "store"], "description":
                "a cluster on etcd: this member, the live members, who masters which switch (generation: "
                "the OpenFlow role requests' generation id, the mastership key's etcd revision) and the "
                "etcd endpoints' health; on the SQLite store only {cluster: false, store: sqlite}", "properties": {
                    "cluster": {"type": "boolean"}, "store": {"type": "string", "enum": ["sqlite", "etcd"]},
                    "me": {"type": "string"}, "lease": {"type": ["string", "null"]}, "ttl": {"type": "integer"},
                    "takeovers": {"type": "integer"},
                    "members": {"type": "array", "items": {"type": "object", "required": ["id"], "properties": {
                        "id": {"type": "string"}, "switches": {"type": "integer"}, "masters": {"type": "integer"},
                        "rest": {"type": ["string", "null"]}, "since": {"type": ["number", "null"]}}}},
                    "switches": {"type": "array", "items": {"type": "object", "required": ["dpid"], "properties": {
                        "dpid": {"type": "string"}, "master": {"type": ["string", "null"]},
                        "generation": {"type": ["integer", "null"]}, "connected": {"type": "boolean"},
                        "role": {"type": ["string", "null"]}, "role-confirmed": {"type": ["string", "null"]},
                        "role-sent-at": {"type": ["number", "null"]}, "role-reply-at": {"type": ["number", "null"]},
                        "role-error": {"type": "string"}}}},
                    "endpoints": {"type": "array", "items": {"type": "object", "required": ["endpoint", "ok"],
                                                             "properties": {"endpoint": {"type": "string"},
                                                                            "ok": {"type": "boolean"}}}}}},
    "Switch": {"type": "object", "properties": {
        "dpid": {"type": "string"}, "openflow": {"type": "string"}, "address": {"type": ["string", "null"]},
        "ports": {"type": "array", "items": {"type": "object"}}}},
    "FloodlightStatus": {"type": "object", "required": ["status"], "properties": {
        "status": {"type": "string", "description": "Floodlight's text; a refusal's text starts with Floodlight's "
                                                    "words ('Error!...') and ends with the field and the reason"},
        "details": {"type": "string"}, "error": {"type": "string"}, "field": {"type": "string"},
        "policyid": {"type": "integer"}}},
    "FloodlightService": {"type": "object", "required": ["sid", "name", "tos", "dscp"], "properties": {
        "sid": {"type": "integer"}, "name": {"type": "string"}, "tos": {"type": "integer", "description": "the DSCP"},
        "dscp": {"type": "integer"}}},
    "FloodlightPolicy": {"type": "object", "required": FLOODLIGHT_POLICY_FIELDS, "properties": {
        **{k: {"type": "integer", "description": "-1 when unset"} for k in FLOODLIGHT_POLICY_FIELDS},
        "ipsrc": {"type": "integer", "description": "the address as Java's signed 32-bit int; -1 when unset"},
        "ipdst": {"type": "integer", "description": "the address as Java's signed 32-bit int; -1 when unset"},
        "enqueueport": {"type": ["integer", "string"], "description": "-1 when unset; 'in_port' for IN_PORT"},
        **{k: {"type": ["string", "null"]} for k in ("name", "ethsrc", "ethdst", "sw", "service")}}},
}

def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def answer(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    if schema is None:
        return {"description": description}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def array(item: str) -> dict[str, Any]:
    return {"type": "array", "items": ref(item)}


ERRORS = {"400": answer("invalid input; names the field and the reason", ref("Error")),
          "415": answer("body is not JSON", ref("Error"))}
NOT_FOUND = {"404": answer("no such object", ref("Error"))}
#: every answer may be one of these (the front door: qosapp.http.guard)
FRONT_DOOR = {"400": answer("path not UTF-8, or invalid input", ref("Error")),
              "403": answer("Host not this controller, or a cross-site write (Origin, Sec-Fetch-Site, Referer)",
                            ref("Error"))}
WRITE_DOOR = {"401": answer("API token missing or wrong (only when the controller has one)", ref("Error")),
              "413": answer("body over the controller's --max-body", ref("Error"))}
NAME_PARAM = [{"name": "name", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1},
               "description": "percent-encoded once, decoded once"}]
STATUS = ref("FloodlightStatus")
BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]


def op(responses: dict[str, Any], write: bool = False, **extra: Any) -> dict[str, Any]:
    """One operation with the front door's answers; writes take the token when one is configured."""
    out: dict[str, Any] = {"responses": {**FRONT_DOOR, **(WRITE_DOOR if write else {}), **responses}}
    if write:
        out["security"] = BEARER
    out.update(extra)
    return out


def native_paths() -> dict[str, Any]:
    toggle = {"post": op({"200": answer("new state; changed says whether it was different", ref("Toggle"))},
                         write=True)}
    queue_selector = {"type": "object", "additionalProperties": False, "properties": {
        "sw": {"anyOf": SW["anyOf"]}, "port": QUEUE_PORT}}
    return {
        "/qos/status": {"get": op({"200": answer("tool state", ref("Status"))})},
        "/qos/enable": toggle,
        "/qos/disable": toggle,
        "/qos/services": {
            "get": op({"200": answer("all services", array("Service"))}),
            "post": op({"201": answer("created", ref("Service")), **ERRORS,
                        "409": answer("duplicate name", ref("Error"))},
                       write=True, requestBody=body(ref("ServiceInput")))},
        "/qos/services/{name}": {
            "parameters": NAME_PARAM,
            "get": op({"200": answer("the service", ref("Service")), **NOT_FOUND}),
            "delete": op({"200": answer("deleted", ref("Service")), **NOT_FOUND,
                          "409": answer("used by a policy or path", ref("Error"))}, write=True)},
        "/qos/meters": {
            "get": op({"200": answer("all meters, with their ids and state per switch", array("MeterView"))}),
            "post": op({"201": answer("stored; put on every OpenFlow 1.3 switch", ref("MeterView")), **ERRORS,
                        "409": answer("duplicate name", ref("Error"))},
                       write=True, requestBody=body(ref("MeterInput")))},
        "/qos/meters/{name}": {
            "parameters": NAME_PARAM,
            "get": op({"200": answer("the meter", ref("MeterView")), **NOT_FOUND}),
            "delete": op({"200": answer("deleted from the store and the switches", ref("Meter")), **NOT_FOUND,
                          "409": answer("used by policies (named in the error)", ref("Error"))}, write=True)},
        "/qos/policies": {
            "get": op({"200": answer("all policies", array("PolicyView"))}),
            "post": op({"201": answer("created: the policy, or the list (all-or-nothing)", {
                            "anyOf": [ref("PolicyView"), array("PolicyView")]}), **ERRORS,
                        "409": answer("duplicate name, or unknown service or meter", ref("Error"))},
                       write=True, parameters=WAIT_PARAM,
                       requestBody=body({"anyOf": [ref("Policy"), {"type": "array", "minItems": 1,
                                                                   "items": ref("Policy")}]})),
            "delete": op({"200": answer("deleted, in one transaction and one flow batch per switch", {
                              "type": "object", "required": ["deleted", "names"], "properties": {
                                  "deleted": {"type": "integer"},
                                  "names": {"type": "array", "items": {"type": "string"}}}}),
                          **ERRORS, **NOT_FOUND}, write=True,
                         requestBody=body({"oneOf": [
                             {"type": "object", "required": ["names"], "additionalProperties": False,
                              "properties": {"names": {"type": "array", "items": {"type": "string"}}}},
                             {"type": "object", "required": ["all"], "additionalProperties": False,
                              "properties": {"all": {"const": True}}}]}))},
        "/qos/policies/{name}": {
            "parameters": NAME_PARAM,
            "get": op({"200": answer("the policy", ref("PolicyView")), **NOT_FOUND}),
            "put": op({"200": answer("replaced", ref("PolicyView")), **ERRORS, **NOT_FOUND,
                       "409": answer("the new name is taken, or unknown service or meter", ref("Error"))},
                      write=True, parameters=WAIT_PARAM, requestBody=body(ref("PolicyReplace"))),
            "delete": op({"200": answer("deleted", ref("PolicyStored")), **NOT_FOUND}, write=True)},
        "/qos/queues": {
            "get": op({"200": answer("queue profiles with where they are applied", array("QueueProfile"))}),
            "post": op({"201": answer("stored and applied", ref("QueueProfile")), **ERRORS,
                        "409": answer("live policies or paths would lose a queue (without force)", ref("Error"))},
                       write=True, parameters=FORCE_PARAM, requestBody=body(ref("QueueInput"))),
            "delete": op({"200": answer("deleted; its QoS/Queue rows removed", ref("QueueProfile")),
                          **ERRORS, **NOT_FOUND,
                          "409": answer("live policies or paths use its queues (without force)", ref("Error"))},
                         write=True, parameters=FORCE_PARAM,
                         description="the profile is named by the body or, without a body, the query",
                         requestBody=body(queue_selector, required=False))},
        "/qos/paths": {
            "get": op({"200": answer("paths with their hops and state", array("PathView"))}),
            "post": op({"201": answer("stored; installed when both hosts are known", ref("PathView")),
                        **ERRORS, "409": answer("duplicate name or match, or unknown service", ref("Error"))},
                       write=True, requestBody=body(ref("Path")))},
        "/qos/paths/{name}": {
            "parameters": NAME_PARAM,
            "get": op({"200": answer("the path", ref("PathView")), **NOT_FOUND}),
            "delete": op({"200": answer("deleted; its flows removed", ref("PathStored")), **NOT_FOUND},
                         write=True)},
        "/qos/stats/policies": {"get": op({"200": answer(
            "per policy and per QoS path: packets, bytes, bit rate per switch, recent history; policies also "
            "the queue's max-rate (polled every interval seconds; a rate spans at least 5 s of polls, as OVS "
            "updates flow counters every 0.5 s)", {
                "type": "object", "required": ["interval", "clock", "policies", "paths"], "properties": {
                    "interval": {"type": "number"},
                    "clock": {"type": "number", "description": "this answer's time on the clock of the "
                                                               "history's times (seconds, monotonic)"},
                    "policies": {"type": "array", "items": {"type": "object"}},
                    "paths": {"type": "array", "items": {"type": "object"}}}})})},
        "/qos/stats/queues": {"get": op({"200": answer(
            "per switch/port/queue: tx bytes, tx packets, tx errors, bit rate", {
                "type": "object", "required": ["interval", "queues"], "properties": {
                    "interval": {"type": "number"}, "queues": {"type": "array", "items": {"type": "object"}}}})})},
        "/qos/stats/meters": {"get": op({"200": answer(
            "per meter and switch: packets-in, bytes-in, dropped-packets, dropped-bytes (the drop band), bps-in, "
            "bps-dropped, bps-passed", {
                "type": "object", "required": ["interval", "meters"], "properties": {
                    "interval": {"type": "number"}, "meters": {"type": "array", "items": {"type": "object"}}}})})},
        "/qos/topology": {"get": op({"200": answer("discovered switches, links and hosts", {
            "type": "object", "required": ["switches", "links", "hosts"], "properties": {
                "version": {"type": "integer"}, "switches": {"type": "array"}, "links": {"type": "array"},
                "hosts": {"type": "array"}}})})},
        "/qos/switches": {"get": op({"200": answer("connected switches", array("Switch"))})},
        "/qos/cluster": {"get": op({"200": answer("cluster members, switch mastership, store health",
                                                  ref("Cluster"))})},
        "/qos/openapi.json": {"get": op({"200": answer("this document", {"type": "object"})})},
        "/metrics": {"get": op({"200": {
            "description": "the controller in the Prometheus text exposition format (version 0.0.4): qos_* "
                           "families, see README (Metrics); behind the token when reads are protected",
            "content": {"text/plain": {"schema": {"type": "string"}}}}})},
    }


def floodlight_paths() -> dict[str, Any]:
    """Floodlight answered everything with 200 and a status text; so do these routes (errors included).

    Only the front door (403, 401, 413, a path that is not UTF-8) answers with other codes.
    """
    status = answer("Floodlight status text: success, or a refusal that names its field and reason "
                    "(Floodlight's clients read only 200 answers)", STATUS)
    fl_service = {"type": "object", "properties": {
        "name": NAME, "tos": {"description": "the DSCP; all 0s and 1s is binary ('101000' is 40), "
                                             "as Floodlight read it"}, "sid": {}}}
    return {
        "/wm/qos/tool/{op}/json": {
            "parameters": [{"name": "op", "in": "path", "required": True,
                            "schema": {"type": "string", "enum": ["enable", "disable", "status"]}}],
            "get": op({"200": answer("enable/disable: a Floodlight status object; status: whether QoS is on "
                                     "(a bare boolean, as the seed's controller answered); another op: "
                                     "status 'failure', details 'Invalid Operation'",
                                     {"anyOf": [STATUS, {"type": "boolean"}]})},
                      write=True, security=[{}, *BEARER],
                      description="enable and disable change state: they get the write checks (token, "
                                  "cross-site); status does not")},
        "/wm/qos/service/json": {
            "get": op({"200": answer("services as Floodlight lists them", array("FloodlightService"))}),
            "post": op({"200": status}, write=True, requestBody=body(fl_service)),
            "delete": op({"200": status}, write=True,
                         requestBody=body({"type": "object", "required": ["sid"], "properties": {
                             "sid": int_field(1, 2**63, "the service id")}}))},
        "/wm/qos/policy/json": {
            "get": op({"200": answer("policies as Floodlight lists them: all 18 QoSPolicy fields",
                                     array("FloodlightPolicy"))}),
            "post": op({"200": status}, write=True, requestBody=body(ref("Policy")),
                       description="the native policy's keys; a tos of 0s and 1s is binary; '' is unset; "
                                   "ingress-port == enqueue-port is sent as enqueue-port in_port"),
            "delete": op({"200": status}, write=True,
                         requestBody=body({"type": "object", "properties": {
                             "policy-id": int_field(1, 2**56 - 1, "the policy id"),
                             "policyid": int_field(1, 2**56 - 1, "the policy id (Floodlight's name)")},
                             "anyOf": [{"required": ["policy-id"]}, {"required": ["policyid"]}]}))},
    }


def document() -> dict[str, Any]:
    """The native and /wm/qos routes (`qosapp.http.openapi_compat.document` adds the other compatibility routes)."""
    return {"openapi": "3.1.0",
            "info": {"title": "qos-sdn QoS service", "version": "0.1.0",
                     "description": "Policies, services and switches of the qos-sdn controller. Writes need "
                                    "'Authorization: Bearer <token>' when the controller was started with "
                                    "--token-file (reads too with --token-for-reads); a write from another "
                                    "site's page (Origin, Sec-Fetch-Site, Referer) or a Host that is not this "
                                    "controller is refused with 403. Every answer carries X-Request-Id."},
            "paths": {**native_paths(), **floodlight_paths()},
            "components": {"schemas": SCHEMAS, "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer",
                               "description": "the token of qos-controller --token-file / $QOS_SDN_TOKEN"}}}}
