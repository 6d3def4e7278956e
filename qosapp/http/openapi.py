"""The OpenAPI 3 description of the REST service, served at /qos/openapi.json.

Built from the model's own key tables so that the document and the
validation cannot drift apart; `tests/unit/test_rest.py` checks that every
route is documented and every documented path is routed.
"""
from __future__ import annotations

from typing import Any

from qosapp.core.model import DEFAULT_PRIORITY, DSCP_NAMES

INT_OR_STRING = {"oneOf": [{"type": "integer"}, {"type": "string", "description": "decimal or 0x hex"}]}
DSCP = {"oneOf": [{"type": "integer", "minimum": 0, "maximum": 63},
                  {"type": "string", "enum": sorted(DSCP_NAMES)}]}

POLICY_PROPERTIES: dict[str, Any] = {
    "name": {"type": "string", "maxLength": 128, "description": "unique; no '/'"},
    "protocol": {**INT_OR_STRING, "description": "IP protocol 0-255 (6 TCP, 17 UDP)"},
    "eth-type": {**INT_OR_STRING, "description": "0-0xffff; 0x0800 is inferred when IP fields are given"},
    "ingress-port": {**INT_OR_STRING, "description": "OpenFlow port number"},
    "ip-src": {"type": "string", "description": "IPv4 address or prefix (10.0.0.0/24)"},
    "ip-dst": {"type": "string", "description": "IPv4 address or prefix"},
    "tos": {**INT_OR_STRING, "description": "ToS byte to match (DSCP << 2, ECN bits 0) or a DiffServ name"},
    "vlan-id": {**INT_OR_STRING, "description": "0-4095"},
    "eth-src": {"type": "string", "description": "MAC address"},
    "eth-dst": {"type": "string", "description": "MAC address"},
    "src-port": {**INT_OR_STRING, "description": "L4 port 0-65535; needs protocol 6 or 17"},
    "dst-port": {**INT_OR_STRING, "description": "L4 port 0-65535; needs protocol 6 or 17"},
    "sw": {"description": "'all' (default), 'none' (stored, not installed) or a dpid",
           "oneOf": [{"type": "string"}, {"type": "integer"}]},
    "queue": {**INT_OR_STRING, "description": "queue id; needs enqueue-port; excludes service"},
    "enqueue-port": {**INT_OR_STRING, "description": "port whose queue the packets enter"},
    "service": {"type": "string", "description": "name of a service (DSCP marking); excludes queue"},
    "priority": {**INT_OR_STRING, "description": f"0-65535, default {DEFAULT_PRIORITY}"},
}

#: ?wait=confirm on policy writes
WAIT_PARAM = [{"name": "wait", "in": "query", "required": False, "schema": {"enum": ["confirm"]},
               "description": "answer only once every switch confirmed (barrier reply) or rejected the flows"}]

SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error"], "properties": {
        "error": {"type": "string"}, "field": {"type": "string"},
        "index": {"type": "integer", "description": "position of the bad item in a batch"}}},
    "Service": {"type": "object", "required": ["name"], "additionalProperties": False, "properties": {
        "name": {"type": "string"}, "dscp": DSCP,
        "tos": {"type": "integer", "description": "ToS byte (DSCP << 2); alternative to dscp"}}},
    "Policy": {"type": "object", "required": ["name"], "additionalProperties": False,
               "properties": POLICY_PROPERTIES},
    "PolicyView": {"allOf": [{"$ref": "#/components/schemas/Policy"}, {"type": "object", "properties": {
        "id": {"type": "integer"}, "cookie": {"type": "string"},
        "install": {"type": "object", "description": "per dpid: {state: installed|pending|error|not-installed, reason}"}}}]},
    "QueueProfile": {"type": "object", "required": ["max-rate", "queues"], "properties": {
        "sw": {"description": "'all' (default) or a dpid", "oneOf": [{"type": "string"}, {"type": "integer"}]},
        "port": {"description": "'all' (default), a port name or number",
                 "oneOf": [{"type": "string"}, {"type": "integer"}]},
        "max-rate": {"description": "port rate, bits/s; integer or '10G', '20M', '2000k'",
                     "oneOf": [{"type": "integer"}, {"type": "string"}]},
        "queues": {"description": "queue id -> {min-rate, max-rate}; ids 0..N (N <= 16), 0 is the default class",
                   "oneOf": [{"type": "object"}, {"type": "array"}]},
        "applied": {"type": "object", "readOnly": True,
                    "description": "'dpid/port' -> {state: applied|error, reason, note}"}}},
    "Path": {"type": "object", "required": ["name", "src", "dst"], "properties": {
        "name": {"type": "string"}, "src": {"type": "string", "description": "source host IPv4"},
        "dst": {"type": "string", "description": "destination host IPv4"},
        "protocol": INT_OR_STRING, "src-port": INT_OR_STRING, "dst-port": INT_OR_STRING,
        "queue": {**INT_OR_STRING, "description": "queue id on every out-port of the route; excludes service"},
        "service": {"type": "string", "description": "DSCP marking; excludes queue"},
        "direction": {"type": "string", "enum": ["both", "forward"], "description": "default both"},
        "priority": INT_OR_STRING}},
    "PathView": {"allOf": [{"$ref": "#/components/schemas/Path"}, {"type": "object", "properties": {
        "id": {"type": "integer"}, "cookie": {"type": "string"}, "installed": {"type": "boolean"},
        "install": {"type": "object", "description": "per dpid on the route: {state: pending|installed|error, "
                                                      "reason} as the switch confirmed (barrier) or rejected"},
        "status": {"type": "object", "description": "state installed|pending|missing-queues, hops, "
                                                     "reverse-hops, reason, missing-queues"}}}]},
    "Status": {"type": "object", "properties": {
        "enabled": {"type": "boolean"}, "services": {"type": "integer"},
        "policies": {"type": "integer"}, "switches": {"type": "integer"},
        "queues": {"type": "integer"}, "paths": {"type": "integer"}}},
    "Switch": {"type": "object", "properties": {
        "dpid": {"type": "string"}, "openflow": {"type": "string"}, "address": {"type": "string"},
        "ports": {"type": "array", "items": {"type": "object"}}}},
}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def answer(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    if schema is None:
        return {"description": description}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


ERRORS = {"400": answer("invalid input; names the field", ref("Error")),
          "415": answer("body is not JSON", ref("Error"))}
NOT_FOUND = {"404": answer("no such object", ref("Error"))}
NAME_PARAM = [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}]


def native_paths() -> dict[str, Any]:
    toggle = {"post": {"responses": {"200": answer("new state", {"type": "object"})}}}
    return {
        "/qos/status": {"get": {"responses": {"200": answer("tool state", ref("Status"))}}},
        "/qos/enable": toggle,
        "/qos/disable": toggle,
        "/qos/services": {
            "get": {"responses": {"200": answer("all services", {"type": "array", "items": ref("Service")})}},
            "post": {"requestBody": body(ref("Service")),
                     "responses": {"201": answer("created", ref("Service")), **ERRORS,
                                   "409": answer("duplicate name", ref("Error"))}}},
        "/qos/services/{name}": {
            "parameters": NAME_PARAM,
            "get": {"responses": {"200": answer("the service", ref("Service")), **NOT_FOUND}},
            "delete": {"responses": {"200": answer("deleted", ref("Service")), **NOT_FOUND,
                                     "409": answer("used by a policy", ref("Error"))}}},
        "/qos/policies": {
            "get": {"responses": {"200": answer("all policies", {"type": "array", "items": ref("PolicyView")})}},
            "post": {"requestBody": body({"oneOf": [ref("Policy"), {"type": "array", "items": ref("Policy")}]}),
                     "parameters": WAIT_PARAM,
                     "responses": {"201": answer("created (one, or the list, all-or-nothing)"), **ERRORS,
                                   "409": answer("duplicate name", ref("Error"))}},
            "delete": {"requestBody": body({"oneOf": [
                {"type": "object", "required": ["names"], "properties": {
                    "names": {"type": "array", "items": {"type": "string"}}}},
                {"type": "object", "required": ["all"], "properties": {"all": {"const": True}}}]}),
                "responses": {"200": answer("deleted, in one transaction and one flow batch per switch"),
                              **ERRORS, **NOT_FOUND}}},
        "/qos/policies/{name}": {
            "parameters": NAME_PARAM,
            "get": {"responses": {"200": answer("the policy", ref("PolicyView")), **NOT_FOUND}},
            "put": {"requestBody": body(ref("Policy")), "parameters": WAIT_PARAM,
                    "responses": {"200": answer("replaced", ref("PolicyView")), **ERRORS, **NOT_FOUND}},
            "delete": {"responses": {"200": answer("deleted", ref("Policy")), **NOT_FOUND}}},
        "/qos/queues": {
            "get": {"responses": {"200": answer("queue profiles with where they are applied",
                                                {"type": "array", "items": ref("QueueProfile")})}},
            "post": {"requestBody": body(ref("QueueProfile")),
                     "responses": {"201": answer("stored and applied", ref("QueueProfile")), **ERRORS}},
            "delete": {"requestBody": body({"type": "object", "properties": {
                "sw": {"type": "string"}, "port": {"oneOf": [{"type": "string"}, {"type": "integer"}]}}}),
                "responses": {"200": answer("deleted; its QoS/Queue rows removed", ref("QueueProfile")),
                              **ERRORS, **NOT_FOUND}}},
        "/qos/paths": {
            "get": {"responses": {"200": answer("paths with their hops and state",
                                                {"type": "array", "items": ref("PathView")})}},
            "post": {"requestBody": body(ref("Path")),
                     "responses": {"201": answer("stored; installed when both hosts are known", ref("PathView")),
                                   **ERRORS, "409": answer("duplicate name", ref("Error"))}}},
        "/qos/paths/{name}": {
            "parameters": NAME_PARAM,
            "get": {"responses": {"200": answer("the path", ref("PathView")), **NOT_FOUND}},
            "delete": {"responses": {"200": answer("deleted; its flows removed", ref("Path")), **NOT_FOUND}}},
        "/qos/stats/policies": {"get": {"responses": {"200": answer(
            "per policy and per QoS path: packets, bytes, bit rate per switch, recent history; policies also "
            "the queue's max-rate (polled every interval seconds)", {"type": "object", "properties": {
                "interval": {"type": "number"}, "policies": {"type": "array", "items": {"type": "object"}},
                "paths": {"type": "array", "items": {"type": "object"}}}})}}},
        "/qos/stats/queues": {"get": {"responses": {"200": answer(
            "per switch/port/queue: tx bytes, tx packets, tx errors, bit rate", {"type": "object", "properties": {
                "interval": {"type": "number"}, "queues": {"type": "array", "items": {"type": "object"}}}})}}},
        "/qos/topology": {"get": {"responses": {"200": answer(
            "discovered switches, links and hosts", {"type": "object"})}}},
        "/qos/switches": {"get": {"responses": {"200": answer("connected switches",
                                                               {"type": "array", "items": ref("Switch")})}}},
        "/qos/openapi.json": {"get": {"responses": {"200": answer("this document", {"type": "object"})}}},
    }


def floodlight_paths() -> dict[str, Any]:
    status = answer("Floodlight-style status", {"type": "object"})
    return {
        "/wm/qos/tool/{op}/json": {
            "parameters": [{"name": "op", "in": "path", "required": True,
                            "schema": {"type": "string", "enum": ["enable", "disable", "status"]}}],
            "get": {"responses": {"200": status, **NOT_FOUND}}},
        "/wm/qos/service/json": {
            "get": {"responses": {"200": answer("services as Floodlight lists them")}},
            "post": {"requestBody": body({"type": "object"}), "responses": {"201": status, **ERRORS}},
            "delete": {"requestBody": body({"type": "object", "properties": {"sid": {"type": "integer"}}}),
                       "responses": {"200": status, **ERRORS, **NOT_FOUND}}},
        "/wm/qos/policy/json": {
            "get": {"responses": {"200": answer("policies as Floodlight lists them")}},
            "post": {"requestBody": body(ref("Policy")), "responses": {"201": status, **ERRORS}},
            "delete": {"requestBody": body({"type": "object", "properties": {"policy-id": {"type": "integer"}}}),
                       "responses": {"200": status, **ERRORS, **NOT_FOUND}}},
    }


def document() -> dict[str, Any]:
    return {"openapi": "3.0.3",
            "info": {"title": "qos-sdn QoS service", "version": "0.1.0",
                     "description": "Policies, services and switches of the qos-sdn controller."},
            "paths": {**native_paths(), **floodlight_paths()},
            "components": {"schemas": SCHEMAS}}
