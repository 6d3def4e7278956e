"""The OpenAPI description of the compatibility routes other than /wm/qos: static flow entries, devices, routes.

Kept apart from `qosapp.http.openapi` (the native and /wm/qos routes) so that
each document part stays readable; `document()` here is the whole document
the controller serves at /qos/openapi.json. Built from the same field tables as the validation
(`qosapp.core.staticflows`).
"""
from __future__ import annotations

from typing import Any

from qosapp.core.staticflows import ACTION_ARGS
from qosapp.http import openapi
from qosapp.http.openapi import (ERRORS, IPV4_TEXT, MAC_TEXT, NAME, NAME_PARAM, NOT_FOUND, PORT_NO, TOS, answer,
                                 array, body, int_field, op, ref)

#: a dpid as parse_dpid takes it (no 'all'/'none': a static entry is for one switch)
ONE_DPID_TEXT = (r"^\s*(([0-9a-fA-F]{2}:){7}[0-9a-fA-F]{2}|[0-9a-fA-F]{16}|[0-9]{1,40}|0[xX][0-9a-fA-F]{1,32})\s*$")
ONE_DPID = {"anyOf": [{"type": "string", "pattern": ONE_DPID_TEXT},
                      {"type": "integer", "minimum": 0, "maximum": 2**64 - 1}]}
BLANK = {"const": ""}


def _blank_or(schema: dict[str, Any], description: str) -> dict[str, Any]:
    """Floodlight skipped a field given as "": so does qos-sdn."""
    return {"description": description + "; \"\" is unset", "anyOf": [*schema.get("anyOf", [schema]), BLANK]}


_STRING_IPV4 = {"type": "string", "pattern": IPV4_TEXT}
_STRING_MAC = {"type": "string", "pattern": MAC_TEXT}
_ETH_IPV4 = {"anyOf": [{"const": 0x0800}, {"type": "string", "pattern": r"^\s*(0*2048|0[xX]0*800)\s*$"}]}
_L4 = {"anyOf": [{"enum": [6, 17]}, {"type": "string", "pattern": r"^\s*(0*6|0*17|0[xX]0*6|0[xX]0*11)\s*$"}]}
STATIC_PROPERTIES: dict[str, Any] = {
    "switch": {**ONE_DPID, "description": "the switch's dpid (00:00:00:00:00:00:00:01, 16 hex digits, or a number)"},
    "name": {**NAME, "description": "unique across switches (as in Floodlight); pushing a name again replaces it"},
    "cookie": _blank_or(int_field(0, 2**64 - 1, ""), "kept and listed as given; the switch gets the entry's "
                        "'S' cookie (Floodlight ignored it too)"),
    "priority": _blank_or(int_field(0, 65535, ""), "0-65535, default 32768"),
    "ingress-port": _blank_or(int_field(1, PORT_NO, ""), "OpenFlow port number"),
    "src-mac": _blank_or(_STRING_MAC, "MAC address"),
    "dst-mac": _blank_or(_STRING_MAC, "MAC address"),
    "vlan-id": _blank_or(int_field(0, 4095, ""), "0-4095"),
    "vlan-priority": _blank_or(int_field(0, 7, ""), "0-7; needs vlan-id"),
    "ether-type": _blank_or(int_field(0, 0xFFFF, ""), "0-0xffff; IP fields imply 0x0800"),
    "tos-bits": _blank_or(TOS, "the ToS byte to match (ECN bits 0)"),
    "protocol": _blank_or(int_field(0, 255, ""), "IP protocol"),
    "src-ip": _blank_or(_STRING_IPV4, "IPv4 address or prefix"),
    "dst-ip": _blank_or(_STRING_IPV4, "IPv4 address or prefix"),
    "src-port": _blank_or(int_field(0, 65535, ""), "L4 port; needs protocol 6 or 17"),
    "dst-port": _blank_or(int_field(0, 65535, ""), "L4 port; needs protocol 6 or 17"),
    "active": {"description": "default true; false: stored, not installed",
               "anyOf": [{"type": "boolean"}, {"type": "string", "pattern": r"^\s*([tT][rR][uU][eE]|[fF][aA][lL][sS][eE])\s*$"},
                         BLANK]},
    "actions": {"type": "string", "description": "Floodlight's action string, comma-separated: "
                + ", ".join(f"{name}=..." if arg else name for name, arg in ACTION_ARGS.items())
                + " (output: a port, all, controller, local, ingress-port, normal or flood; enqueue=<port>:<queue>); "
                  "none: drop. Rewrites of IPv4 fields need an IPv4 match, of L4 ports protocol 6 or 17"},
    "id": {"description": "ignored"},
}
_PREREQ = {**{key: {"properties": {"ether-type": {"anyOf": [*_ETH_IPV4["anyOf"], BLANK]}}}
              for key in ("src-ip", "dst-ip", "protocol", "tos-bits")},
           **{key: {"required": ["protocol"], "properties": {"protocol": _L4}} for key in ("src-port", "dst-port")},
           "vlan-priority": {"required": ["vlan-id"], "properties": {"vlan-id": int_field(0, 4095, "")}}}
_STORED = {"type": "object", "required": ["switch", "name", "cookie", "priority", "active", "actions"],
           "properties": {"switch": {"type": "string"}, "name": {"type": "string"}, "cookie": {"type": "string"},
                          "priority": {"type": "integer"}, "active": {"type": "boolean"},
                          "actions": {"type": "string"}}}
SCHEMAS: dict[str, Any] = {
    "StaticFlowInput": {"type": "object", "required": ["switch", "name"], "additionalProperties": False,
                        "properties": STATIC_PROPERTIES, "dependentSchemas": _PREREQ},
    "StaticFlowStored": _STORED,
    "StaticFlowView": {"allOf": [{"$ref": "#/components/schemas/StaticFlowStored"}, {
        "type": "object", "required": ["id", "switch-cookie", "install"], "properties": {
            "id": {"type": "integer"}, "switch-cookie": {"type": "string"},
            "install": {"type": "object", "required": ["state"], "description": "on its switch: installed, "
                        "pending, error (with the switch's reason) or not-installed (inactive, switch not "
                        "connected)", "properties": {"state": {"type": "string"}, "reason": {"type": "string"}}}}}]},
    "FloodlightFlowStatus": {"type": "object", "required": ["status"], "properties": {
        "status": {"type": "string", "description": "'Entry pushed', 'Entry <name> deleted', or a refusal: "
                                                    "'Error! <field>: <reason>'"},
        "error": {"type": "string"}, "field": {"type": "string"},
        "deleted": {"type": "array", "items": {"type": "string"}}}},
}
SWITCH_PARAM = [{"name": "switch", "in": "path", "required": True, "schema": {
    "type": "string", "pattern": r"^\s*(([0-9a-fA-F]{2}:){7}[0-9a-fA-F]{2}|[0-9a-fA-F]{16}|[aA][lL][lL])\s*$"},
    "description": "'all' or a dpid (00:00:00:00:00:00:00:01 or 16 hex digits)"}]


def static_flow_paths() -> dict[str, Any]:
    """Floodlight's static flow pusher and switch flow list, and the native /qos/static-flows."""
    fl_status = ref("FloodlightFlowStatus")
    refused = {"400": answer("invalid entry: status 'Error! <field>: <reason>', error, field", fl_status),
               "415": answer("body is not JSON", fl_status)}
    per_switch = {"type": "object", "additionalProperties": {"type": "object"}}
    return {
        "/wm/staticflowentrypusher/json": {
            "post": op({"200": answer("stored (a name already taken is replaced) and installed on its switch "
                                      "when connected", fl_status), **refused,
                        "409": answer("another entry has this switch, match and priority", fl_status)},
                       write=True, requestBody=body(ref("StaticFlowInput"))),
            "delete": op({"200": answer("deleted from the store and its switch", fl_status), **refused,
                          "404": answer("no entry by that name (or it is for another switch)", fl_status)},
                         write=True, requestBody=body({"type": "object", "required": ["name"], "properties": {
                             "name": {"type": "string", "minLength": 1}, "switch": {}}}))},
        "/wm/staticflowentrypusher/list/{switch}/json": {
            "parameters": SWITCH_PARAM,
            "get": op({"200": answer("{dpid: {name: flow-mod as Floodlight listed an OFFlowMod}}", per_switch),
                       "400": answer("not 'all' or a dpid", ref("Error"))})},
        "/wm/staticflowentrypusher/clear/{switch}/json": {
            "parameters": SWITCH_PARAM,
            "get": op({"200": answer("the entries of that switch (or all) deleted", fl_status),
                       "400": answer("not 'all' or a dpid", ref("Error"))}, write=True,
                      description="deletes, though a GET: it gets the write checks (token, cross-site)")},
        "/wm/core/switch/{switch}/flow/json": {
            "parameters": SWITCH_PARAM,
            "get": op({"200": answer("{dpid: [flow statistics in Floodlight's OFFlowStatisticsReply shape]}: the "
                                     "flows the controller holds on each connected switch; packetCount and "
                                     "byteCount as last polled, null when not known per flow", {
                                         "type": "object", "additionalProperties": {"type": "array"}}),
                       "400": answer("not 'all' or a dpid", ref("Error")),
                       "404": answer("that switch is not connected", ref("Error"))})},
        "/qos/static-flows": {
            "get": op({"200": answer("every static flow entry with its state on its switch",
                                     array("StaticFlowView"))}),
            "post": op({"201": answer("stored and installed when its switch is connected", ref("StaticFlowView")),
                        "200": answer("replaced the entry of that name", ref("StaticFlowView")), **ERRORS,
                        "409": answer("another entry has this switch, match and priority", ref("Error"))},
                       write=True, requestBody=body(ref("StaticFlowInput")))},
        "/qos/static-flows/{name}": {
            "parameters": NAME_PARAM,
            "get": op({"200": answer("the entry", ref("StaticFlowView")), **NOT_FOUND}),
            "delete": op({"200": answer("deleted from the store and its switch", ref("StaticFlowStored")),
                          **NOT_FOUND}, write=True)},
    }


#: {switchid} of rest_qos's routes: 16 hex digits or 'all' (ryu.lib.dpid's pattern)
RQ_SWITCH = [{"name": "switchid", "in": "path", "required": True,
              "schema": {"type": "string", "pattern": r"^([0-9a-fA-F]{16}|all)$"},
              "description": "16 hex digits, or 'all' (every connected switch)"}]
RQ_VLAN = {"name": "vlanid", "in": "path", "required": True,
           "schema": {"type": "string", "pattern": r"^(0{0,3}[1-9]|0{0,2}[1-9][0-9]|0?[1-9][0-9]{2}|[1-3][0-9]{3}"
                                                   r"|40[0-8][0-9]|409[0-4]|all)$"},
           "description": "1-4094 or 'all'"}
RQ_DPID = [{"name": "dpid", "in": "path", "required": True,
            "schema": {"type": "string", "pattern": r"^[0-9a-fA-F]{16}$"}}]
_RQ_ANSWER = {"type": "array", "items": {"type": "object", "required": ["switch_id", "command_result"], "properties": {
    "switch_id": {"type": "string"}, "command_result": {}}}}
#: a refusal: qos-sdn's error and field, and rest_qos's switch_id and failed command_result (a path that is no
#: route's, e.g. a switch id that is not 16 hex digits, is the plain JSON 404 of every unknown path)
_RQ_ERROR = {"type": "object", "required": ["error"], "properties": {
    "error": {"type": "string"}, "field": {"type": "string"}, "switch_id": {"type": "string"},
    "command_result": {"type": "array"}}}


def _rq(description: str, write: bool = False, body_schema: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """One rest_qos operation: rest_qos's answer shape, its refusals as 4xx with qos-sdn's error and field."""
    responses = {"200": answer(description, _RQ_ANSWER),
                 "400": answer("invalid input: error, field, and a failed command_result", _RQ_ERROR),
                 "404": answer("no such rule, meter or connected switch", _RQ_ERROR), **(extra or {})}
    if body_schema is not None:
        responses["415"] = answer("body is not JSON", _RQ_ERROR)
        return op(responses, write=write, requestBody=body(body_schema))
    return op(responses, write=write)


_CONFLICT = {"409": answer("a conflict with what is stored (named in the error)", _RQ_ERROR)}
RULE_BODY = {"type": "object", "description": "{match: {in_port, dl_src, dl_dst, dl_type, nw_src, nw_dst, "
             "nw_proto, tp_src, tp_dst, ip_dscp}, actions: {queue|mark|meter}, priority}"}
DELETE_RULE = {"type": "object", "required": ["qos_id"], "properties": {"qos_id": {}}}
QUEUE_BODY = {"type": "object", "description": "{port_name, type: linux-htb, max_rate, queues: [{max_rate|min_rate}]}"}
METER_BODY = {"type": "object", "description": "{meter_id, flags: KBPS (BURST, STATS), bands: [{type: DROP, rate "
              "(kbit/s), burst_size (kbit)}]}; a DSCP_REMARK or EXPERIMENTER band is 501"}
NOT_IMPLEMENTED = {"501": answer("a DSCP_REMARK or EXPERIMENTER band: qos-sdn's meters drop", _RQ_ERROR)}


def rest_qos_paths() -> dict[str, Any]:
    """Ryu's rest_qos and rest_conf_switch (qosapp.http.rest_qos)."""
    rules = {"parameters": RQ_SWITCH,
             "get": _rq("the switch's rules (policies) in rest_qos's shape, grouped by vlan_id"),
             "post": _rq("the rule is stored as a policy on that switch", True, RULE_BODY, _CONFLICT),
             "delete": _rq("those rules deleted", True, DELETE_RULE)}
    vlan_rules = {**rules, "parameters": [*RQ_SWITCH, RQ_VLAN]}
    dpid_ops = {"parameters": RQ_DPID}
    return {
        "/qos/rules/{switchid}": rules,
        "/qos/rules/{switchid}/{vlanid}": vlan_rules,
        "/qos/queue/{switchid}": {
            "parameters": RQ_SWITCH,
            "get": _rq("the queue profiles that shape the switch, in rest_qos's details shape"),
            "post": _rq("a queue profile for the switch and port_name", True, QUEUE_BODY, _CONFLICT),
            "delete": _rq("the switch's queue profiles deleted", True, extra=_CONFLICT)},
        "/qos/queue/status/{switchid}": {"parameters": RQ_SWITCH, "get": _rq("queue counters per port and queue")},
        "/qos/meter/{switchid}": {
            "parameters": RQ_SWITCH,
            "get": _rq("the switch's rest_qos meters in rest_qos's meter-stats shape"),
            "post": _rq("a native meter rest_qos-<switch>-meter-<id>", True, METER_BODY,
                        {**_CONFLICT, **NOT_IMPLEMENTED}),
            "delete": _rq("the meter deleted", True, {"type": "object", "required": ["meter_id"]}, _CONFLICT)},
        "/v1.0/conf/switches": {"get": op({"200": answer("connected switches (16 hex digits)",
                                                         {"type": "array", "items": {"type": "string"}})})},
        "/v1.0/conf/switches/{dpid}": {**dpid_ops, "get": op({
            "200": answer("the keys set for the switch", {"type": "array", "items": {"type": "string"}}),
            "400": answer("not a dpid", _RQ_ERROR), "404": answer("not 16 hex digits", _RQ_ERROR)})},
        "/v1.0/conf/switches/{dpid}/ovsdb_addr": {
            **dpid_ops,
            "put": op({"201": {"description": "kept for the switch"},
                       "400": answer("not an OVSDB address", _RQ_ERROR), "415": answer("body is not JSON", _RQ_ERROR),
                       "404": answer("not 16 hex digits", _RQ_ERROR)},
                      write=True, requestBody=body({"type": "string",
                                                    "pattern": r"^((tcp|ssl):[^:]+:[0-9]{1,5}|unix:/\S+)$"})),
            "get": op({"200": answer("the address", {"type": "string"}), "400": answer("not a dpid", _RQ_ERROR),
                       "404": answer("none set", _RQ_ERROR)}),
            "delete": op({"200": {"description": "forgotten"}, "400": answer("not a dpid", _RQ_ERROR),
                          "404": answer("none set", _RQ_ERROR)}, write=True)},
    }


_FL_DPID = {"type": "string", "pattern": r"^\s*(([0-9a-fA-F]{2}:){7}[0-9a-fA-F]{2}|[0-9a-fA-F]{16})\s*$"}
_FL_PORT = {"type": "integer", "minimum": 1, "maximum": PORT_NO}


def floodlight_net_paths() -> dict[str, Any]:
    """Floodlight's device manager and route (circuitpusher.py's reads; qosapp.http.floodlight_net)."""
    params = [{"name": name, "in": "path", "required": True, "schema": schema}
              for name, schema in (("src", _FL_DPID), ("src_port", _FL_PORT), ("dst", _FL_DPID),
                                   ("dst_port", _FL_PORT))]
    return {
        "/wm/device/": {"get": op({
            "200": answer("the learned hosts as Floodlight's devices (mac, ipv4, vlan, attachmentPoint "
                          "[{switchDPID, port, errorStatus}]); none: []", {"type": "array", "items": {"type": "object"}}),
            **ERRORS}, parameters=[
                {"name": "ipv4", "in": "query", "required": False, "schema": {"type": "string", "pattern": IPV4_TEXT}},
                {"name": "mac", "in": "query", "required": False, "schema": {"type": "string", "pattern": MAC_TEXT}}])},
        "/wm/topology/route/{src}/{src_port}/{dst}/{dst_port}/json": {
            "parameters": params,
            "get": op({"200": answer("the shortest route: [{switch, port}], in then out port per switch",
                                     {"type": "array", "items": {"type": "object"}}),
                       "400": answer("not a dpid or port", ref("Error")),
                       "404": answer("a switch that is not in the topology", ref("Error")),
                       "409": answer("no route between them", ref("Error"))})},
    }


def compat_paths() -> dict[str, Any]:
    return {**static_flow_paths(), **rest_qos_paths(), **floodlight_net_paths()}


def document() -> dict[str, Any]:
    """`qosapp.http.openapi.document` with these paths and schemas added."""
    doc = openapi.document()
    doc["paths"].update(compat_paths())
    doc["components"]["schemas"] = {**doc["components"]["schemas"], **SCHEMAS}
    return doc
