"""Floodlight-compatible routes (/wm/qos/...), so the seed's tools keep working.

Same paths and JSON shapes as the seed's Floodlight QoS module, with two
deliberate differences: errors get real 4xx codes (the body still carries
a "status" text as Floodlight's did), and services keep DSCP and the ToS
byte apart. The seed's services stored the DSCP value in a field called
"tos" (0-63); on these routes "tos" keeps that meaning, while the native
/qos/services takes "dscp".
"""
from __future__ import annotations

from typing import Any, Mapping

from ryu.app.wsgi import route
from webob import Request

from qosapp.core.controller import NotFound
from qosapp.core.model import Policy, Service, ValidationError, equal_ports_as_in_port, parse_int
from qosapp.http.common import CoreController, handler, json_response, read_json

#: native (seed) key -> Floodlight's QoSPolicy field name
POLICY_FIELDS = {"name": "name", "eth-type": "ethtype", "protocol": "protocol",
                 "ingress-port": "ingressport", "ip-dst": "ipdst", "ip-src": "ipsrc", "tos": "tos",
                 "vlan-id": "vlanid", "eth-src": "ethsrc", "eth-dst": "ethdst",
                 "src-port": "tcpudpsrcport", "dst-port": "tcpudpdstport", "sw": "sw",
                 "queue": "queue", "enqueue-port": "enqueueport", "service": "service",
                 "priority": "priority"}


def policy_to_floodlight(policy: Policy) -> dict[str, Any]:
    native = policy.to_dict()
    out: dict[str, Any] = {"policyid": policy.id}
    for key, fl_key in POLICY_FIELDS.items():
        if key in native:
            out[fl_key] = native[key]
    return out


def service_to_floodlight(service: Service) -> dict[str, Any]:
    return {"sid": service.id, "name": service.name, "tos": service.dscp, "dscp": service.dscp}


def service_from_floodlight(data: Any) -> Any:
    """Map the seed's service body ({"name", "tos": <DSCP>}) to the native one."""
    if isinstance(data, Mapping) and "tos" in data and "dscp" not in data:
        data = {("dscp" if k == "tos" else k): v for k, v in data.items()}
    if isinstance(data, Mapping):
        data = {k: v for k, v in data.items() if k != "sid"}
    return data


def status(text: str, code: int = 200) -> Any:
    return json_response({"status": text}, code)


class FloodlightController(CoreController):
    """/wm/qos/...: the seed controller's REST API on top of the same core."""

    @route("fl_tool", "/wm/qos/tool/{op}/json", methods=["GET"])
    @handler
    def tool(self, req: Request, op: str) -> Any:
        if op == "enable":
            self.core.enable()
            return {"status": "success", "details": "QoS Enabled"}
        if op == "disable":
            self.core.disable()
            return {"status": "success", "details": "QoS Disabled"}
        if op == "status":
            return self.core.enabled
        return json_response({"status": "failure", "details": "invalid operation",
                              "error": f"unknown operation {op!r}; use enable, disable or status",
                              "field": "op"}, 404)

    @route("fl_services", "/wm/qos/service/json", methods=["GET"])
    @handler
    def fl_list_services(self, req: Request) -> Any:
        return [service_to_floodlight(s) for s in self.core.services.values()]

    @route("fl_services_add", "/wm/qos/service/json", methods=["POST"])
    @handler
    def fl_add_service(self, req: Request) -> Any:
        service = self.core.add_service(service_from_floodlight(read_json(req)))
        return status(f"Type Of Service: {service.name} Added", 201)

    @route("fl_services_delete", "/wm/qos/service/json", methods=["DELETE"])
    @handler
    def fl_delete_service(self, req: Request) -> Any:
        body = read_json(req)
        sid = parse_int(body.get("sid") if isinstance(body, Mapping) else None, "sid", 1, 2**63)
        for service in self.core.services.values():
            if service.id == sid:
                self.core.delete_service(service.name)
                return status(f"Type Of Service: {service.name} Deleted")
        raise NotFound(f"no service with sid {sid}")

    @route("fl_policies", "/wm/qos/policy/json", methods=["GET"])
    @handler
    def fl_list_policies(self, req: Request) -> Any:
        return [policy_to_floodlight(p) for p in self.core.policies.values()]

    @route("fl_policies_add", "/wm/qos/policy/json", methods=["POST"])
    @handler
    def fl_add_policy(self, req: Request) -> Any:
        policy = self.core.add_policy(equal_ports_as_in_port(read_json(req)))
        return status(f"Trying to Policy: {policy.name}", 201)

    @route("fl_policies_delete", "/wm/qos/policy/json", methods=["DELETE"])
    @handler
    def fl_delete_policy(self, req: Request) -> Any:
        body = read_json(req)
        if not isinstance(body, Mapping):
            raise ValidationError("body", "expected a JSON object with policy-id")
        pid = parse_int(body.get("policy-id", body.get("policyid")), "policy-id", 1, 2**56 - 1)
        policy = self.core.delete_policy_by_id(pid)
        return status(f"Policy {policy.name} Deleted")
