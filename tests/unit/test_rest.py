"""The REST service in-process: Ryu's WSGI application, no manager, no switch."""
from __future__ import annotations

import json
import re
from typing import Any

import pytest
import qosapp.main.compat  # noqa: F401
from ryu.app.wsgi import WSGIApplication
from webob import Request

from qosapp.http import rest
from tests.unit.serviceenv import make_service
from qosapp.http.openapi_compat import document
from qosapp.http.floodlight import FloodlightController

SEED_S1 = {"name": "Enqueue 2:2 s1", "protocol": "6", "eth-type": "0x0800", "ingress-port": "1",
           "ip-src": "10.0.0.1", "sw": "00:00:00:00:00:00:00:01", "queue": "2", "enqueue-port": "2"}
#: the seed's s2 policy has enqueue-port == ingress-port (1): refused natively, sent as "in_port"
SEED_S2_VERBATIM = {**SEED_S1, "name": "Enqueue 1:2 s2", "sw": "00:00:00:00:00:00:00:02", "enqueue-port": "1"}
SEED_S2 = {**SEED_S2_VERBATIM, "enqueue-port": "in_port"}


class Client:
    """Calls the WSGI app like an HTTP client would."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def call(self, method: str, path: str, body: Any = None, raw: bytes | None = None,
             content_type: str | None = "application/json") -> tuple[int, Any]:
        req = Request.blank(path, method=method)
        if raw is not None or body is not None:
            req.body = raw if raw is not None else json.dumps(body).encode()
            if content_type:
                req.content_type = content_type
        resp = req.get_response(self.app)
        payload = json.loads(resp.body) if resp.body and resp.content_type == "application/json" else resp.body
        return resp.status_int, payload


@pytest.fixture
def env(tmp_path):
    sent: list[tuple[int, list]] = []
    core = make_service(str(tmp_path), lambda dpid, ops: sent.append((dpid, ops)), green=True)
    app = WSGIApplication()
    rest.register(app, core)
    return Client(app), core, sent


def test_status_starts_disabled_with_best_effort(env):
    client, _, _ = env
    assert client.call("GET", "/qos/status") == (200, {"enabled": False, "services": 1, "policies": 0, "switches": 0,
                                                     "queues": 0, "paths": 0, "meters": 0})
    code, services = client.call("GET", "/qos/services")
    assert code == 200 and services == [{"name": "Best Effort", "dscp": 0, "tos": 0, "id": 1}]


def test_seed_policies_are_created_normalised(env):
    client, _, _ = env
    code, view = client.call("POST", "/qos/policies", SEED_S1)
    assert code == 201
    assert view["sw"] == "00:00:00:00:00:00:00:01" and view["queue"] == 2 and view["eth-type"] == 0x0800
    assert view["cookie"] == "0x5100000000000001"
    code, err = client.call("POST", "/qos/policies", SEED_S2_VERBATIM)
    assert code == 400 and err["field"] == "enqueue-port" and "equals ingress-port 1" in err["error"]
    assert client.call("POST", "/qos/policies", SEED_S2)[0] == 201
    code, got = client.call("GET", "/qos/policies/Enqueue%201%3A2%20s2")
    assert code == 200 and got["enqueue-port"] == "in_port"


@pytest.mark.parametrize("body,field,code", [
    ({**SEED_S1, "ip-src": "10.0.0.256"}, "ip-src", 400),
    ({**SEED_S1, "service": "Best Effort"}, "service", 400),
    ({"name": "m", "service": "Gold"}, "service", 409),
    ({**SEED_S1, "colour": "red"}, "colour", 400),
    ({**SEED_S1, "vlan-id": 4096}, "vlan-id", 400),
])
def test_rejections_name_the_field_and_store_nothing(env, body, field, code):
    client, core, _ = env
    got_code, err = client.call("POST", "/qos/policies", body)
    assert (got_code, err["field"]) == (code, field)
    assert client.call("GET", "/qos/policies") == (200, [])
    assert core.store.policies() == []


def test_malformed_json_and_wrong_media_type(env):
    client, _, _ = env
    code, err = client.call("POST", "/qos/policies", raw=b'{"name": ')
    assert code == 400 and err["field"] == "body"
    code, err = client.call("POST", "/qos/policies", raw=b"name=x", content_type="text/plain")
    assert code == 415
    # curl -d sends form-urlencoded; a JSON body is still accepted
    code, _ = client.call("POST", "/qos/policies", body=SEED_S1, content_type="application/x-www-form-urlencoded")
    assert code == 201


def test_duplicate_is_409_and_unknown_is_404(env):
    client, _, _ = env
    client.call("POST", "/qos/policies", SEED_S1)
    code, err = client.call("POST", "/qos/policies", SEED_S1)
    assert code == 409 and err["field"] == "name"
    assert client.call("GET", "/qos/policies/nope")[0] == 404
    assert client.call("DELETE", "/qos/services/nope")[0] == 404
    assert client.call("GET", "/qos/nothing/here")[0] == 404


def test_bulk_is_all_or_nothing_with_index(env):
    client, core, _ = env
    batch = [SEED_S1, {**SEED_S2, "ip-src": "bad"}, {**SEED_S2, "name": "third"}]
    code, err = client.call("POST", "/qos/policies", batch)
    assert code == 400 and err["index"] == 1 and err["field"] == "ip-src"
    assert core.store.policies() == []
    code, views = client.call("POST", "/qos/policies", [SEED_S1, SEED_S2])
    assert code == 201 and [v["name"] for v in views] == ["Enqueue 2:2 s1", "Enqueue 1:2 s2"]


def test_put_replaces_and_delete_removes(env):
    client, _, _ = env
    client.call("POST", "/qos/policies", SEED_S1)
    code, view = client.call("PUT", "/qos/policies/Enqueue%202%3A2%20s1", {**SEED_S1, "queue": 1})
    assert code == 200 and view["queue"] == 1 and view["id"] == 1
    code, _ = client.call("PUT", "/qos/policies/Enqueue%202%3A2%20s1", {**SEED_S1, "queue": -1})
    assert code == 400
    assert client.call("GET", "/qos/policies/Enqueue%202%3A2%20s1")[1]["queue"] == 1
    assert client.call("DELETE", "/qos/policies/Enqueue%202%3A2%20s1")[0] == 200
    assert client.call("GET", "/qos/policies") == (200, [])


def test_services_and_in_use_conflict(env):
    client, _, _ = env
    code, svc = client.call("POST", "/qos/services", {"name": "Expedited", "dscp": "EF"})
    assert code == 201 and svc["dscp"] == 46 and svc["tos"] == 0xB8
    client.call("POST", "/qos/policies", {"name": "mark", "ip-src": "10.0.0.1", "service": "Expedited"})
    code, err = client.call("DELETE", "/qos/services/Expedited")
    assert code == 409 and "mark" in err["error"]


def test_enable_disable_are_stored(env, tmp_path):
    client, _, _ = env
    assert client.call("POST", "/qos/enable") == (200, {"enabled": True, "changed": True})
    assert client.call("POST", "/qos/enable") == (200, {"enabled": True, "changed": False})
    assert make_service(str(tmp_path)).enabled is True
    assert client.call("POST", "/qos/disable")[1]["enabled"] is False


def test_method_not_allowed(env):
    client, _, _ = env
    code, err = client.call("PATCH", "/qos/policies")
    assert code == 405 and "GET" in err["error"]


def test_floodlight_routes_are_mounted(env):
    """The protocol itself is tested in test_floodlight.py."""
    client, core, _ = env
    assert client.call("GET", "/wm/qos/tool/status/json") == (200, False)
    assert client.call("GET", "/wm/qos/policy/json") == (200, [])


def _routed_paths() -> set[tuple[str, str]]:
    out = set()
    from qosapp.http.floodlight_net import FloodlightNetController
    from qosapp.http.rest_qos import RestQosController
    from qosapp.http.staticflows import StaticFlowController
    for controller in (rest.QosController, FloodlightController, rest.MetricsController, StaticFlowController,
                       RestQosController, FloodlightNetController):
        for path, methods in rest.routes_of(controller):
            out |= {(path, m.lower()) for m in methods}
    return out


def test_openapi_matches_routes(env):
    client, _, _ = env
    code, doc = client.call("GET", "/qos/openapi.json")
    assert code == 200 and doc["openapi"].startswith("3.")
    documented = {(path, method) for path, ops in document()["paths"].items()
                  for method in ops if method != "parameters"}
    assert documented == _routed_paths()
    for path in doc["paths"]:
        assert re.fullmatch(r"/[a-z0-9/{}._-]+", path)


def test_wait_confirm_answers_once_the_switch_confirmed(env):
    """?wait=confirm holds the answer until the barrier reply; without it the answer says pending."""
    from ryu.lib import hub
    from qosapp.core.compiler import FlowSpec
    client, core, sent = env
    core.enable()
    core.switch_connected(1, 4, {})

    def barrier_reply() -> None:
        for dpid, ops in sent:
            core.flows_confirmed(dpid, [op.cookie for op in ops if isinstance(op, FlowSpec)])

    hub.spawn_after(0.05, barrier_reply)
    code, view = client.call("POST", "/qos/policies?wait=confirm", SEED_S1)
    assert code == 201 and view["install"] == {"00:00:00:00:00:00:00:01": {"state": "installed"}}
    assert core.confirm_listeners == []
    code, view = client.call("POST", "/qos/policies", {**SEED_S1, "name": "later", "ip-src": "10.0.0.9"})
    assert code == 201 and view["install"] == {"00:00:00:00:00:00:00:01": {"state": "pending"}}


def test_stats_answer_carries_its_clock(env):
    """The page turns history times (the controller's monotonic clock) into wall time with `clock`."""
    import time
    client, _, _ = env
    before = time.monotonic()
    code, body = client.call("GET", "/qos/stats/policies")
    assert code == 200 and before <= body["clock"] <= time.monotonic() + 0.001
    assert body["paths"] == [] and body["policies"] == []


@pytest.mark.parametrize("raw", ["%00", "%07", "x%0d%0ay", "%0a", "%7f", "%c2%85", "%ff", "%25", "%e2%80%a8"])
def test_paths_with_control_characters_get_a_json_4xx(tmp_path, raw):
    """Every route's variables and every unknown tail under /qos, /wm and /v1.0: a JSON 4xx, never a 500
    (a CR/LF in the path once fell through to a plain-text 404; a bad dpid to a 405)."""
    from tests.unit.test_guard import Front
    front = Front(make_service(str(tmp_path), lambda dpid, ops: None, green=True))
    paths = [re.sub(r"\{[^}]+\}", raw, p) for p in document()["paths"] if "{" in p]
    paths += [f"/qos/status/{raw}", f"/wm/qos/{raw}", f"/v1.0/conf/switches/{raw}/ovsdb_addr", f"/qos/rules/{raw}/1",
              f"/qos/meter/{raw}"]
    for path in paths:
        for method in ("GET", "POST", "DELETE"):
            code, body, _ = front.call(method, path, {} if method != "GET" else None)
            lowest = 200 if path.startswith("/wm/qos/") else 400  # Floodlight's QoS routes: 200 + status text
            assert lowest <= code < 500 and isinstance(body, dict) and "error" in body, (method, path, code, body)


def test_a_confirmed_bulk_post_leaves_no_reference_cycle_holding_its_body(env):
    """The request's environ (and the body in it) is freed by reference counting, not by a full GC."""
    import gc
    import io
    import sys

    client, _core, _sent = env
    raw = json.dumps([{"name": f"c-{i}", "queue": 1, "ip-src": f"10.9.0.{i}"} for i in range(3)]).encode()
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/qos/policies", "QUERY_STRING": "wait=confirm",
               "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(raw)), "wsgi.input": io.BytesIO(raw),
               "SERVER_NAME": "localhost", "SERVER_PORT": "80", "wsgi.url_scheme": "http",
               "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.errors": sys.stderr}
    statuses: list[str] = []
    gc.collect()
    gc.disable()
    try:
        b"".join(client.app(environ, lambda status, headers, exc_info=None: statuses.append(status)))
        assert statuses == ["201 Created"]
        del environ
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        left = [o for o in gc.garbage if isinstance(o, dict) and "wsgi.input" in o]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert not left, "the environ was only freed by the cyclic garbage collector"
