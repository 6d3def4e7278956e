"""The QoS REST service: routes -> core calls; errors -> 4xx JSON.

Handlers stay thin: parse the body, call the service (`qosapp.service`,
which locks, runs `QosCore` and applies its effects), shape the answer. Every
rejection is a `ValidationError` (400/409 with `{"error", "field"}`) or
`NotFound` (404), raised before the store is touched, so bad input never
changes state (the shared answer/error helpers are in `qosapp.http.common`).
Routes are registered on Ryu's WSGI application; tests mount the same
controllers on a bare `WSGIApplication` without Ryu's manager.
"""
from __future__ import annotations

from typing import Any

import qosapp.main.compat  # noqa: F401  (must precede ryu.app.wsgi)
from ryu.app.wsgi import ControllerBase, Response, WSGIApplication, route
from webob import Request

from qosapp.core.model import ValidationError, parse_sw
from qosapp.core.queues import parse_port
from qosapp.http.common import (CORE_KEY, CoreController, error_response, handler, json_response, read_json,
                                url_name, wait_confirmed, wants_confirm, wants_force)
from qosapp.http.floodlight import FloodlightController
from qosapp.http.floodlight_net import FloodlightNetController
from qosapp.http.rest_qos import RestQosController
from qosapp.http.staticflows import StaticFlowController
from qosapp.http.guard import truncate
from qosapp.http.metrics import METRICS_KEY, Metrics, MetricsController
from qosapp.http.openapi_compat import document
from qosapp.http.ui import UiController
from qosapp.service import QosService


class QosController(CoreController):
    """/qos/...: the native API."""

    # tool
    @route("qos_status", "/qos/status", methods=["GET"])
    @handler
    def status(self, req: Request) -> Any:
        return self.core.status()

    @route("qos_enable", "/qos/enable", methods=["POST"])
    @handler
    def enable(self, req: Request) -> Any:
        return {"enabled": True, "changed": self.core.enable()}

    @route("qos_disable", "/qos/disable", methods=["POST"])
    @handler
    def disable(self, req: Request) -> Any:
        return {"enabled": False, "changed": self.core.disable()}

    # services
    @route("qos_services", "/qos/services", methods=["GET"])
    @handler
    def list_services(self, req: Request) -> Any:
        return [svc.to_dict() for svc in self.core.services.values()]

    @route("qos_services_add", "/qos/services", methods=["POST"])
    @handler
    def add_service(self, req: Request) -> Any:
        return json_response(self.core.add_service(read_json(req)).to_dict(), 201)

    @route("qos_service", "/qos/services/{name}", methods=["GET"])
    @handler
    def get_service(self, req: Request, name: str) -> Any:
        return self.core.get_service(url_name(name)).to_dict()

    @route("qos_service_delete", "/qos/services/{name}", methods=["DELETE"])
    @handler
    def delete_service(self, req: Request, name: str) -> Any:
        return self.core.delete_service(url_name(name)).to_dict()

    # meters (OpenFlow 1.3 policers)
    @route("qos_meters", "/qos/meters", methods=["GET"])
    @handler
    def list_meters(self, req: Request) -> Any:
        return [self.core.meter_view(m) for m in self.core.meters.values()]

    @route("qos_meters_add", "/qos/meters", methods=["POST"])
    @handler
    def add_meter(self, req: Request) -> Any:
        return json_response(self.core.meter_view(self.core.add_meter(read_json(req))), 201)

    @route("qos_meter", "/qos/meters/{name}", methods=["GET"])
    @handler
    def get_meter(self, req: Request, name: str) -> Any:
        return self.core.meter_view(self.core.get_meter(url_name(name)))

    @route("qos_meter_delete", "/qos/meters/{name}", methods=["DELETE"])
    @handler
    def delete_meter(self, req: Request, name: str) -> Any:
        return self.core.delete_meter(url_name(name)).to_dict()

    # policies
    @route("qos_policies", "/qos/policies", methods=["GET"])
    @handler
    def list_policies(self, req: Request) -> Any:
        return self.core.policy_views(self.core.policies.values())

    @route("qos_policies_add", "/qos/policies", methods=["POST"])
    @handler
    def add_policies(self, req: Request) -> Any:
        body = read_json(req)
        if isinstance(body, list):
            if not body:
                raise ValidationError("body", "empty list; expected at least one policy")
            policies = self.core.add_policies(body)
        else:
            policies = [self.core.add_policy(body)]
        views = self._added_views(req, policies, bulk=isinstance(body, list))
        return json_response(views if isinstance(body, list) else views[0], 201)

    def _added_views(self, req: Request, policies: list[Any], bulk: bool) -> list[dict[str, Any]]:
        """The views of the policies just added; with ?wait=confirm, once the switches confirmed them.

        A bulk's views (all but their install states) are made while the
        switch works on the flows, after letting the last of them go out.
        """
        if not wants_confirm(req):
            return self.core.policy_views(policies)
        bodies = None
        if bulk:
            self.core.pause()
            bodies = self.core.policy_bodies(policies)
        wait_confirmed(self.core, policies)
        return self.core.policy_views(policies, bodies)

    @route("qos_policies_delete", "/qos/policies", methods=["DELETE"])
    @handler
    def delete_policies(self, req: Request) -> Any:
        """Body {"names": [...]} or {"all": true}: one transaction, one flow batch per switch."""
        body = read_json(req)
        if isinstance(body, dict) and set(body) == {"all"} and body["all"] is True:
            names = None
        elif isinstance(body, dict) and set(body) == {"names"} and isinstance(body["names"], list) \
                and all(isinstance(n, str) for n in body["names"]):
            names = body["names"]
        else:
            raise ValidationError("body", 'expected {"names": ["policy", ...]} or {"all": true}')
        deleted = self.core.delete_policies(names)
        return {"deleted": len(deleted), "names": [p.name for p in deleted]}

    @route("qos_policy", "/qos/policies/{name}", methods=["GET"])
    @handler
    def get_policy(self, req: Request, name: str) -> Any:
        return self.core.policy_view(self.core.get_policy(url_name(name)))

    @route("qos_policy_put", "/qos/policies/{name}", methods=["PUT"])
    @handler
    def replace_policy(self, req: Request, name: str) -> Any:
        policy = self.core.replace_policy(url_name(name), read_json(req))
        if wants_confirm(req):
            wait_confirmed(self.core, [policy])
        return self.core.policy_view(policy)

    @route("qos_policy_delete", "/qos/policies/{name}", methods=["DELETE"])
    @handler
    def delete_policy(self, req: Request, name: str) -> Any:
        return self.core.delete_policy(url_name(name)).to_dict()

    # queue profiles
    @route("qos_queues", "/qos/queues", methods=["GET"])
    @handler
    def list_queues(self, req: Request) -> Any:
        return [self.core.queue_profile_view(p) for p in self.core.queue_profiles]

    @route("qos_queues_add", "/qos/queues", methods=["POST"])
    @handler
    def add_queues(self, req: Request) -> Any:
        profile, lost = self.core.add_queue_profile(read_json(req), wants_force(req))
        return json_response({**self.core.queue_profile_view(profile), **affected(lost)}, 201)

    @route("qos_queues_delete", "/qos/queues", methods=["DELETE"])
    @handler
    def delete_queues(self, req: Request) -> Any:
        """Body (or query) names the profile: {"sw": "all"|dpid, "port": "all"|name|number}."""
        force = wants_force(req)
        body = read_json(req) if req.body.strip() else {k: v for k, v in req.GET.items() if k != "force"}
        if not isinstance(body, dict):
            raise ValidationError("body", "expected a JSON object {\"sw\": ..., \"port\": ...}")
        sw = parse_sw(body.get("sw", "all"))
        port = str(parse_port(body.get("port", "all")))
        profile, lost = self.core.delete_queue_profile(sw, port, force)
        return {**profile.to_dict(), **affected(lost)}

    # paths (QoS along the route between two hosts)
    @route("qos_paths", "/qos/paths", methods=["GET"])
    @handler
    def list_paths(self, req: Request) -> Any:
        return [self.core.path_view(p) for p in self.core.fabric.paths.values()]

    @route("qos_paths_add", "/qos/paths", methods=["POST"])
    @handler
    def add_path(self, req: Request) -> Any:
        return json_response(self.core.path_view(self.core.add_path(read_json(req))), 201)

    @route("qos_path", "/qos/paths/{name}", methods=["GET"])
    @handler
    def get_path(self, req: Request, name: str) -> Any:
        return self.core.path_view(self.core.get_path(url_name(name)))

    @route("qos_path_delete", "/qos/paths/{name}", methods=["DELETE"])
    @handler
    def delete_path(self, req: Request, name: str) -> Any:
        return self.core.delete_path(url_name(name)).to_dict()

    @route("qos_stats_policies", "/qos/stats/policies", methods=["GET"])
    @handler
    def stats_policies(self, req: Request) -> Any:
        return self.core.policy_stats()

    @route("qos_stats_queues", "/qos/stats/queues", methods=["GET"])
    @handler
    def stats_queues(self, req: Request) -> Any:
        return self.core.queue_stats()

    @route("qos_stats_meters", "/qos/stats/meters", methods=["GET"])
    @handler
    def stats_meters(self, req: Request) -> Any:
        return self.core.meter_stats()

    @route("qos_topology", "/qos/topology", methods=["GET"])
    @handler
    def topology(self, req: Request) -> Any:
        return self.core.fabric.topology.to_dict()

    # switches
    @route("qos_switches", "/qos/switches", methods=["GET"])
    @handler
    def switches(self, req: Request) -> Any:
        return [info.to_dict() for _, info in sorted(self.core.switches.items())]

    @route("qos_cluster", "/qos/cluster", methods=["GET"])
    @handler
    def cluster(self, req: Request) -> Any:
        return self.core.cluster_view()

    # the API description
    @route("qos_openapi", "/qos/openapi.json", methods=["GET"])
    @handler
    def openapi(self, req: Request) -> Any:
        return document()


class MethodNotAllowed(ControllerBase):
    """Registered last: a known path with a method it does not take -> 405."""

    def __call__(self, req: Request) -> Response:
        allowed = self.data["allowed"].get(self.req.urlvars.get("path_template"), [])
        resp = error_response(405, f"method {req.method} not allowed here; allowed: {', '.join(allowed)}")
        resp.allow = allowed
        return resp


class UnknownPath(ControllerBase):
    """Registered last: anything else under /qos or /wm/qos -> JSON 404."""

    def __call__(self, req: Request) -> Response:
        path = req.environ.get("PATH_INFO", "").encode("latin-1", "replace").decode("utf-8", "replace")
        return error_response(404, f"no such resource: {truncate(path)}; see /qos/openapi.json", "path")


def routes_of(controller: type) -> list[tuple[str, list[str]]]:
    """(path, methods) of every @route on a controller class."""
    out = []
    for attr in vars(controller).values():
        info = getattr(attr, "routing_info", None)
        if info:
            out.append((info["path"], info["methods"] or []))
    return out


def route_requirements(controller: type) -> dict[str, dict[str, str]]:
    """path -> the regular expressions its variables must match (routes of one path share them)."""
    out: dict[str, dict[str, str]] = {}
    for attr in vars(controller).values():
        info = getattr(attr, "routing_info", None)
        if info and info.get("requirements"):
            out.setdefault(info["path"], {}).update(info["requirements"])
    return out


def register(wsgi: WSGIApplication, core: QosService, controllers: list[type] | None = None) -> Metrics:
    """Mount the QoS controllers, /metrics (and the 405 fallback) on Ryu's WSGI app.

    Returns the `Metrics` behind /metrics; its `middleware` counts and times
    requests (the front door wraps the application in it, `qosapp.main.frontdoor`).
    """
    controllers = [*(controllers or [QosController, FloodlightController, FloodlightNetController, RestQosController,
                                   StaticFlowController, UiController]),
                   MetricsController]
    metrics = Metrics(core)
    metrics.learn_routes(wsgi, controllers)
    allowed: dict[str, list[str]] = {}
    requirements: dict[str, dict[str, str]] = {}
    for controller in controllers:
        wsgi.register(controller, {CORE_KEY: core, METRICS_KEY: metrics})
        for path, methods in routes_of(controller):
            allowed.setdefault(path, []).extend(methods)
        requirements.update(route_requirements(controller))
    for path in allowed:  # a 405 only where the path is one of the route's: /qos/rules/zzz is a 404
        wsgi.mapper.connect(None, path, controller=MethodNotAllowed, path_template=path,
                            requirements=requirements.get(path, {}))
    wsgi.registory[MethodNotAllowed.__name__] = {"allowed": allowed}
    for prefix in ("/qos", "/wm", "/v1.0"):
        wsgi.mapper.connect(None, prefix + "/{tail}", controller=UnknownPath, requirements={"tail": r"[\s\S]*"})
    return metrics


def affected(lost: list[dict[str, Any]]) -> dict[str, Any]:
    """A forced queue change's answer lists the policies and paths that lost their queue (now missing-queue)."""
    return {"affected": lost} if lost else {}
