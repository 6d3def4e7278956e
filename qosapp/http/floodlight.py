"""Floodlight's QoS module (/wm/qos/...), as it answered the seed's clients.

The seed's Python 2 tools (qospusher.py, qosmanager2.py, qospath2.py) read
every answer as `{"status": "<text>"}` with HTTP 200 and turn anything else
into "Could Not Complete Request", so this surface answers as Floodlight's
QoSResource / QoSTypeOfServiceResource / QoSPoliciesResource did:

- 200 and Floodlight's status texts, errors included; an error's text says
  why (the reason and field of qos-sdn's own validation follow Floodlight's
  words, and the body also carries `"error"` and `"field"`);
- policies listed with Floodlight's 18 QoSPolicy fields (unset: -1 or null,
  `ipsrc`/`ipdst` as the signed 32-bit integers Java's int gave, `ethtype`
  as a number), services as `{"sid", "name", "tos"}`;
- a `tos` written in 0s and 1s is binary, as Floodlight's
  `Integer.parseInt(text, 2)` read it first ("101000" is 40, "10" is 2);
  any other number is decimal. On these routes a service's `tos` is its
  DSCP (the seed's services stored the DSCP in a field called "tos") and a
  policy's `tos` is the ToS byte it matches;
- fields given as "" are unset (Floodlight skipped them);
- a policy whose ingress port is also its enqueue port is sent on as
  `"enqueue-port": "in_port"` (OpenFlow's IN_PORT), the only way a switch
  sends a packet back out of the port it came in on.

Where Floodlight would have lost or corrupted data, qos-sdn's refusal is
kept and its text says why: deleting a service that policies use, two flows
with the same match and priority on one switch, unknown keys, values out of
range. Deliberate difference: qos-sdn stores while QoS is disabled (and
lists), so nothing is refused with "Please enable Quality of Service".
The native /qos/* routes keep real status codes.
"""
from __future__ import annotations

import functools
import ipaddress
import re
from typing import Any, Callable, Mapping

from ryu.app.wsgi import Response, route
from webob import Request

from qosapp.core.controller import NotFound
from qosapp.core.model import Policy, Service, ValidationError, equal_ports_as_in_port, parse_int
from qosapp.http.common import BadMediaType, CoreController, error_body, handler, json_response, read_json
from qosapp.http.guard import truncate

#: native (seed) key -> Floodlight's QoSPolicy field name, in QoSPolicy's order
POLICY_FIELDS = {"name": "name", "eth-type": "ethtype", "protocol": "protocol",
                 "ingress-port": "ingressport", "ip-dst": "ipdst", "ip-src": "ipsrc", "tos": "tos",
                 "vlan-id": "vlanid", "eth-src": "ethsrc", "eth-dst": "ethdst",
                 "src-port": "tcpudpsrcport", "dst-port": "tcpudpdstport", "sw": "sw",
                 "queue": "queue", "enqueue-port": "enqueueport", "service": "service",
                 "priority": "priority"}
#: QoSPolicy's string fields: unset is null; every other unset field is -1
STRING_FIELDS = {"name", "ethsrc", "ethdst", "sw", "service"}
BINARY = re.compile(r"[01]+")

# Floodlight's status texts (QoSResource, QoSTypeOfServiceResource, QoSPoliciesResource)
ENABLED = {"status": "success", "details": "QoS Enabled"}
DISABLED = {"status": "success", "details": "QoS Disabled"}
INVALID_OPERATION = {"status": "failure", "details": "Invalid Operation"}
NOT_FOUND = "Error! Cannot delete a rule with this ID or NAME, does not exist."
SERVICE_EXISTS = "Error!, This service already exists!"
POLICY_EXISTS = "Error!, This policy already exists!"
NO_ACTION = "Service Policy or a Queuing Policy not defined. Check if Service Exists"


def floodlight_int(value: Any, field: str) -> Any:
    """Floodlight's reading of a ToS: binary when it is all 0s and 1s, else the value as given."""
    text = str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else None
    if text is not None and BINARY.fullmatch(text) and len(text) <= 32:
        return int(text, 2)
    return value


def java_ipv4(text: str) -> int:
    """IPv4.toIPv4Address: the address as Java's signed 32-bit int (a prefix gives its network address)."""
    value = int(ipaddress.ip_network(text, strict=False).network_address)
    return value - 2**32 if value >= 2**31 else value


def policy_to_floodlight(policy: Policy) -> dict[str, Any]:
    """One QoSPolicy as Floodlight's Jackson serialised it: all 18 fields."""
    native = policy.to_dict()
    out: dict[str, Any] = {"policyid": policy.id}
    for key, fl_key in POLICY_FIELDS.items():
        value = native.get(key)
        if value is None:
            value = None if fl_key in STRING_FIELDS else -1
        elif key in ("ip-src", "ip-dst"):
            value = java_ipv4(value)
        out[fl_key] = value
    return out


def service_to_floodlight(service: Service) -> dict[str, Any]:
    return {"sid": service.id, "name": service.name, "tos": service.dscp, "dscp": service.dscp}


def _unset_blanks(data: Any) -> Any:
    """Floodlight skipped a field whose text was empty."""
    if isinstance(data, Mapping):
        return {k: v for k, v in data.items() if v != ""}
    return data


def service_from_floodlight(data: Any) -> Any:
    """The seed's service body ({"name", "tos": <DSCP, binary or decimal>}) in native form."""
    data = _unset_blanks(data)
    if isinstance(data, Mapping):
        data = {k: v for k, v in data.items() if k != "sid"}
        if "tos" in data and "dscp" not in data:
            data = {("dscp" if k == "tos" else k): (floodlight_int(v, k) if k == "tos" else v)
                    for k, v in data.items()}
    return data


def policy_from_floodlight(data: Any) -> Any:
    """The seed's policy body in native form: binary ToS, blanks unset, equal ports as in_port."""
    data = _unset_blanks(data)
    if not isinstance(data, Mapping):
        return data
    data = dict(data)
    if "tos" in data:
        data["tos"] = floodlight_int(data["tos"], "tos")
    return equal_ports_as_in_port(data)


def status(text: str, **extra: Any) -> Response:
    return json_response({"status": text, **extra}, 200)


def failure(prefix: str, err: ValidationError | NotFound | BadMediaType) -> Response:
    """A refusal in Floodlight's shape (200 + status) that still says why, and which field."""
    if isinstance(err, ValidationError):
        body = error_body(err)
    elif isinstance(err, NotFound):
        body = {"error": truncate(str(err)), "field": err.field}
    else:
        body = {"error": truncate(str(err)), "field": "Content-Type"}
    return status(f"{prefix} ({body['field']}: {body['error']})" if prefix else
                  f"Error! {body['field']}: {body['error']}", **body)


def floodlight_answers(prefix: Callable[[ValidationError | NotFound | BadMediaType], str]
                       ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Turn qos-sdn's rejections into Floodlight's 200 + status text (`prefix` picks Floodlight's words)."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapper(self: CoreController, req: Request, **kwargs: Any) -> Any:
            try:
                return func(self, req, **kwargs)
            except (ValidationError, NotFound, BadMediaType) as err:
                return failure(prefix(err), err)

        return wrapper

    return decorate


def _service_error(err: Any) -> str:
    if isinstance(err, ValidationError) and err.status == 409 and err.field == "name" and "exists" in err.reason:
        return SERVICE_EXISTS
    if isinstance(err, NotFound):
        return NOT_FOUND
    return ""


def _policy_error(err: Any) -> str:
    if isinstance(err, ValidationError) and err.status == 409 and err.field == "name" and "exists" in err.reason:
        return POLICY_EXISTS
    if isinstance(err, ValidationError) and err.field in ("service", "queue") and (
            err.status == 409 or "needs an action" in err.reason):
        return NO_ACTION
    if isinstance(err, NotFound):
        return NOT_FOUND
    return ""


class FloodlightController(CoreController):
    """/wm/qos/...: the seed controller's REST API on top of the same service."""

    @route("fl_tool", "/wm/qos/tool/{op}/json", methods=["GET"])
    @handler
    def tool(self, req: Request, op: str) -> Any:
        op = op.lower()  # Floodlight compared with equalsIgnoreCase
        if op == "enable":
            self.core.enable()
            return ENABLED
        if op == "disable":
            self.core.disable()
            return DISABLED
        if op == "status":
            return self.core.enabled
        return {**INVALID_OPERATION, "error": f"unknown operation {truncate(op, 50)!r}; "
                                              "use enable, disable or status", "field": "op"}

    @route("fl_services", "/wm/qos/service/json", methods=["GET"])
    @handler
    def fl_list_services(self, req: Request) -> Any:
        return [service_to_floodlight(s) for s in self.core.services.values()]

    @route("fl_services_add", "/wm/qos/service/json", methods=["POST"])
    @handler
    @floodlight_answers(_service_error)
    def fl_add_service(self, req: Request) -> Any:
        service = self.core.add_service(service_from_floodlight(read_json(req)))
        return status(f"Adding Type Of Service: {service.name} {service.dscp}")

    @route("fl_services_delete", "/wm/qos/service/json", methods=["DELETE"])
    @handler
    @floodlight_answers(_service_error)
    def fl_delete_service(self, req: Request) -> Any:
        body = read_json(req)
        sid = parse_int(body.get("sid") if isinstance(body, Mapping) else None, "sid", 1, 2**63)
        for service in self.core.services.values():
            if service.id == sid:
                self.core.delete_service(service.name)
                return status(f"Type Of Service Service-ID: {sid} Deleted")
        raise NotFound(f"no service with sid {sid}", "sid")

    @route("fl_policies", "/wm/qos/policy/json", methods=["GET"])
    @handler
    def fl_list_policies(self, req: Request) -> Any:
        return [policy_to_floodlight(p) for p in self.core.policies.values()]

    @route("fl_policies_add", "/wm/qos/policy/json", methods=["POST"])
    @handler
    @floodlight_answers(_policy_error)
    def fl_add_policy(self, req: Request) -> Any:
        policy = self.core.add_policy(policy_from_floodlight(read_json(req)))
        note = "" if self.core.enabled else " (stored; QoS is disabled: enable it to install)"
        return status(f"Trying to Policy: {policy.name}{note}")

    @route("fl_policies_delete", "/wm/qos/policy/json", methods=["DELETE"])
    @handler
    @floodlight_answers(_policy_error)
    def fl_delete_policy(self, req: Request) -> Any:
        body = read_json(req)
        if not isinstance(body, Mapping):
            raise ValidationError("body", "expected a JSON object with policy-id")
        pid = parse_int(body.get("policy-id", body.get("policyid")), "policy-id", 1, 2**56 - 1)
        policy = self.core.delete_policy_by_id(pid)
        return status(f"Policy-ID: {pid} Deleted ({policy.name})")
