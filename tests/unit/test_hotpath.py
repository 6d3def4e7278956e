"""The hot routes (qosapp.http.hotpath) answer exactly as Ryu's application does, behind the same front door."""
from __future__ import annotations

import json
from typing import Any

import pytest
import qosapp.main.compat  # noqa: F401
from ryu.app.wsgi import ControllerBase, Response, WSGIApplication, route
from webob import Request

from qosapp.http import rest
from qosapp.http.guard import Guard, GuardConfig
from qosapp.http.hotpath import HotRoutes, hot_routes
from tests.unit.serviceenv import make_service

POLICY = {"name": "p1", "ip-src": "10.0.0.1", "protocol": 6, "sw": "none", "queue": 1, "enqueue-port": 2}

#: (method, path, body or raw bytes, content type, extra headers): hot and not, valid and not
CALLS: list[tuple[str, str, Any, str | None, dict[str, str]]] = [
    ("POST", "/qos/policies", POLICY, "application/json", {}),
    ("POST", "/qos/policies", {**POLICY, "name": "p2", "ip-src": "10.0.0.2"}, "application/json; charset=utf-8", {}),
    ("POST", "/qos/policies?wait=confirm", {**POLICY, "name": "a.b~c", "ip-src": "10.0.0.3"}, None, {}),
    ("POST", "/qos/policies", POLICY, "application/json", {}),  # 409: the name is taken
    ("POST", "/qos/policies", {**POLICY, "name": "p9", "queue": "x"}, "application/json", {}),  # 400 naming queue
    ("POST", "/qos/policies", b"{not json", "application/json", {}),
    ("POST", "/qos/policies", b"", "application/json", {}),
    ("POST", "/qos/policies", b"[]", "application/json", {}),
    ("POST", "/qos/policies", b"[" * 200 + b"]" * 200, "application/json", {}),
    ("POST", "/qos/policies", POLICY, "text/html", {}),  # 415
    ("POST", "/qos/policies", POLICY, "application/json ; charset=utf-8", {}),  # 415, as WebOb reads it
    ("POST", "/qos/policies", [{**POLICY, "name": "b1", "ip-src": "10.0.1.1"},
                               {**POLICY, "name": "b2", "ip-src": "10.0.1.2"}], "application/json", {}),
    ("POST", "/qos/policies", {**POLICY, "name": "p5", "ip-src": "10.0.0.5"}, "application/x-www-form-urlencoded", {}),
    ("POST", "/qos/policies?wait=confirm&x=1", {**POLICY, "name": "q1", "ip-src": "10.0.2.1"}, None, {}),  # not plain
    ("POST", "/qos/policies?force=maybe", {**POLICY, "name": "q2", "ip-src": "10.0.2.2"}, None, {}),
    ("POST", "/qos/policies", {**POLICY, "name": "x1", "ip-src": "10.0.3.1"}, None, {"Origin": "http://evil.example"}),
    ("POST", "/qos/policies/", POLICY, None, {}),
    ("PUT", "/qos/policies", POLICY, None, {}),  # 405
    ("GET", "/qos/policies/p1", None, None, {}),
    ("GET", "/qos/policies/a.b~c", None, None, {}),
    ("GET", "/qos/policies/nope", None, None, {}),
    ("GET", "/qos/policies/p%201", None, None, {}),  # not plain: the mapper's way
    ("GET", "/qos/policies/p1/x", None, None, {}),
    ("HEAD", "/qos/policies/p1", None, None, {}),
    ("DELETE", "/qos/policies/p2", None, None, {}),
    ("DELETE", "/qos/policies/p2", None, None, {}),  # 404 now
    ("DELETE", "/qos/policies/b1", None, None, {"Sec-Fetch-Site": "cross-site"}),  # 403
    ("GET", "/qos/policies", None, None, {}),
]


class Stack:
    """Guard in front of Ryu's application, with or without the hot routes; counts the mapper's matches."""

    def __init__(self, tmp: str, hot: bool) -> None:
        self.core = make_service(tmp, lambda dpid, ops: None, green=True)
        app = WSGIApplication()
        rest.register(app, core=self.core)
        self.matched = 0
        match = app.mapper.match

        def counting(*args: Any, **kwargs: Any) -> Any:
            self.matched += 1
            return match(*args, **kwargs)

        self.hot = hot_routes(app) if hot else None
        app.mapper.match = counting  # type: ignore[method-assign]
        self.app = Guard(self.hot if self.hot is not None else app, GuardConfig())

    def call(self, method: str, path: str, body: Any, ctype: str | None, headers: dict[str, str]
             ) -> tuple[int, list[tuple[str, str]], Any, dict[str, Any]]:
        req = Request.blank(path, method=method)
        req.headers["Host"] = "127.0.0.1:8080"
        req.headers.update(headers)
        if body is not None:
            req.body = body if isinstance(body, bytes) else json.dumps(body).encode()
            if ctype:
                req.content_type = ctype
        resp = req.get_response(self.app)
        headerlist = [(k, v) for k, v in resp.headerlist if k != "X-Request-Id"]
        payload = json.loads(resp.body) if resp.body and resp.content_type == "application/json" else resp.body
        if isinstance(payload, dict):
            payload.pop("request-id", None)
        return resp.status_int, headerlist, payload, req.environ


def test_the_same_answers_with_and_without_the_hot_routes(tmp_path):
    ryu, ours = Stack(str(tmp_path / "ryu"), False), Stack(str(tmp_path / "hot"), True)
    for call in CALLS:
        assert ours.call(*call)[:3] == ryu.call(*call)[:3], call
    assert sorted(ours.core.policies) == sorted(ryu.core.policies)


def test_plain_requests_skip_the_mapper_and_keep_their_route_label(tmp_path):
    ours = Stack(str(tmp_path), True)
    assert isinstance(ours.hot, HotRoutes) and ours.hot.enabled
    status, _, _, environ = ours.call("POST", "/qos/policies?wait=confirm", POLICY, "application/json", {})
    assert status == 201 and ours.matched == 0
    assert environ["wsgiorg.routing_args"][1]["action"] == "add_policies"
    assert ours.call("GET", "/qos/policies/p1", None, None, {})[0] == 200
    assert ours.call("DELETE", "/qos/policies/p1", None, None, {})[0] == 200 and ours.matched == 0
    assert ours.call("GET", "/qos/policies/p%201", None, None, {})[0] == 404 and ours.matched == 1


def test_metrics_label_hot_requests_by_their_template(tmp_path):
    core = make_service(str(tmp_path), lambda dpid, ops: None, green=True)
    app = WSGIApplication()
    metrics = rest.register(app, core)
    served = metrics.middleware(Guard(hot_routes(app), GuardConfig()))
    for path, method in (("/qos/policies", "POST"), ("/qos/policies/p1", "GET")):
        req = Request.blank(path, method=method)
        if method == "POST":
            req.body = json.dumps(POLICY).encode()
            req.content_type = "application/json"
        req.get_response(served)
    lines = metrics.exposition().decode().splitlines()
    assert 'qos_rest_requests_total{method="POST",route="/qos/policies",status="201"} 1.0' in lines
    assert 'qos_rest_requests_total{method="GET",route="/qos/policies/{name}",status="200"} 1.0' in lines


class Shadow(ControllerBase):
    """A route registered before the native API's that takes GET /qos/policies/{name}."""

    @route("shadow", "/qos/policies/{name}", methods=["GET"])
    def shadow(self, req: Request, **_: Any) -> Response:
        return Response(status=200, body=b"shadow")


def test_the_hot_path_stays_off_when_the_mapper_routes_elsewhere(tmp_path):
    core = make_service(str(tmp_path), lambda dpid, ops: None, green=True)
    app = WSGIApplication()
    app.register(Shadow)
    rest.register(app, core)
    hot = hot_routes(app)
    assert isinstance(hot, HotRoutes) and not hot.enabled
    assert Request.blank("/qos/policies/p1").get_response(Guard(hot, GuardConfig())).body == b"shadow"


def test_an_app_without_the_native_api_is_left_as_it_is():
    app = WSGIApplication()
    assert hot_routes(app) is app


@pytest.mark.parametrize("query", ["wait=confirm", ""])
def test_confirm_query_reaches_the_handler(tmp_path, query):
    ours = Stack(str(tmp_path), True)
    called: list[Any] = []
    ours.core.wait_confirmed = lambda policies, timeout=0: called.append(policies)  # type: ignore[method-assign]
    path = "/qos/policies" + (f"?{query}" if query else "")
    assert ours.call("POST", path, POLICY, "application/json", {})[0] == 201
    assert len(called) == (1 if query else 0)
