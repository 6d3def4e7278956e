"""The REST front door in-process: the Guard middleware in front of the real routes and core."""
from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import qosapp.main.compat  # noqa: F401
from ryu.app.wsgi import WSGIApplication
from webob import Request

from qosapp.http import rest
from qosapp.http.guard import Guard, GuardConfig, host_allowed
from qosapp.http.jsonlimits import nesting_depth
from qosapp.service import QosService
from tests.unit.serviceenv import make_service

POLICY = {"name": "p1", "ip-src": "10.0.0.1", "protocol": 6, "sw": "none", "queue": 1, "enqueue-port": 2}
#: a body for each POST route that the route accepts (so a 403 is the guard's doing)
POST_ROUTES = {
    "/qos/services": {"name": "Gold", "dscp": 46},
    "/qos/policies": POLICY,
    "/qos/queues": {"max-rate": "10M", "queues": {"0": {"max-rate": "10M"}}},
    "/qos/paths": {"name": "path1", "src": "10.0.0.1", "dst": "10.0.0.2", "queue": 1},
    "/qos/enable": None,
    "/qos/disable": None,
    "/wm/qos/service/json": {"name": "Silver", "tos": 10},
    "/wm/qos/policy/json": {**POLICY, "name": "fl1"},
}


class Front:
    """An HTTP client of Guard(app): headers as a browser or curl would send them."""

    def __init__(self, core: QosService, config: GuardConfig | None = None) -> None:
        app = WSGIApplication()
        rest.register(app, core)
        self.core = core
        self.app = Guard(app, config)

    def call(self, method: str, path: str, body: Any = None, raw: bytes | None = None,
             content_type: str | None = "application/json", **headers: str) -> tuple[int, Any, Any]:
        req = Request.blank(path, method=method)
        req.headers["Host"] = "127.0.0.1:8080"
        for name, value in headers.items():
            req.headers[name.replace("_", "-")] = value
        if raw is not None or body is not None:
            req.body = raw if raw is not None else json.dumps(body).encode()
            if content_type:
                req.content_type = content_type
        resp = req.get_response(self.app)
        payload = json.loads(resp.body) if resp.body and resp.content_type == "application/json" else resp.body
        return resp.status_int, payload, resp.headers

    def snapshot(self) -> Any:
        c = self.core
        return (c.enabled, sorted(c.services), sorted(c.policies), len(c.queue_profiles), sorted(c.fabric.paths))


@pytest.fixture
def core(tmp_path):
    return make_service(str(tmp_path))


@pytest.fixture
def front(core):
    return Front(core)


@pytest.mark.parametrize("path", sorted(POST_ROUTES))
def test_cross_site_form_post_is_refused_on_every_post_route(front, path):
    before = front.snapshot()
    body = POST_ROUTES[path]
    raw = json.dumps(body).encode() if body is not None else b""
    code, err, _ = front.call("POST", path, raw=raw, content_type="application/x-www-form-urlencoded",
                              Origin="http://evil.example")
    assert code == 403 and err["field"] == "Origin" and "cross-site" in err["error"]
    assert front.snapshot() == before


@pytest.mark.parametrize("path", sorted(POST_ROUTES))
def test_the_same_form_post_without_origin_is_accepted(front, path):
    """So the 403 above is the guard's doing, not a bad body."""
    body = POST_ROUTES[path]
    raw = json.dumps(body).encode() if body is not None else b""
    code, answer, _ = front.call("POST", path, raw=raw, content_type="application/x-www-form-urlencoded")
    assert code in (200, 201), answer


@pytest.mark.parametrize("headers,field", [
    ({"Sec_Fetch_Site": "cross-site"}, "Sec-Fetch-Site"),
    ({"Sec_Fetch_Site": "same-site"}, "Sec-Fetch-Site"),
    ({"Referer": "http://evil.example/page.html"}, "Referer"),
    ({"Origin": "null"}, "Origin"),
    ({"Origin": "http://127.0.0.1:9999"}, "Origin"),  # another local web app is another origin
])
def test_other_cross_site_signals_are_refused(front, headers, field):
    code, err, _ = front.call("POST", "/qos/policies", POLICY, **headers)
    assert (code, err["field"]) == (403, field)
    assert front.core.policies == {}


def test_curl_form_post_and_same_origin_page_are_accepted(front):
    # curl -d '{...}' sends application/x-www-form-urlencoded and no Origin (the Ryu book's lines)
    code, _, _ = front.call("POST", "/qos/policies", POLICY, content_type="application/x-www-form-urlencoded")
    assert code == 201
    # the web page served by the controller itself
    code, _, _ = front.call("POST", "/qos/policies", {**POLICY, "name": "p2"}, Origin="http://127.0.0.1:8080",
                            Sec_Fetch_Site="same-origin", Referer="http://127.0.0.1:8080/qos/ui/")
    assert code == 201
    assert sorted(front.core.policies) == ["p1", "p2"]


def test_state_changing_floodlight_get_needs_the_same_check(front):
    code, err, _ = front.call("GET", "/wm/qos/tool/enable/json", Referer="http://evil.example/")
    assert code == 403 and front.core.enabled is False
    code, err, _ = front.call("GET", "/wm/qos/tool/enable/json", Sec_Fetch_Site="cross-site")
    assert code == 403 and front.core.enabled is False
    # a cross-site *read* is not a write: GET status from anywhere still answers (same-origin policy hides it)
    assert front.call("GET", "/wm/qos/tool/status/json", Origin="http://evil.example")[0] == 200
    # the seed's tool (no Origin, no Referer) still works
    assert front.call("GET", "/wm/qos/tool/enable/json")[0] == 200 and front.core.enabled is True


@pytest.mark.parametrize("host,ok", [
    ("127.0.0.1:8080", True), ("localhost:8080", True), ("[::1]:8080", True), ("127.0.0.1", True),
    ("LOCALHOST", True), ("attacker.example", False), ("attacker.example:8080", False),
    ("127.0.0.1.evil.example:8080", False), ("10.0.0.5:8080", False), ("ctl.example:8080", True),
    ("127.0.0.1:80x", False),
])
def test_host_must_be_loopback_or_configured(host, ok):
    assert host_allowed(host, GuardConfig(allowed_hosts={"ctl.example"})) is ok


def test_foreign_host_is_refused_before_anything_happens(front):
    code, err, _ = front.call("GET", "/qos/status", Host="attacker.example:8080")
    assert code == 403 and err["field"] == "Host"
    code, err, _ = front.call("POST", "/qos/policies", POLICY, Host="attacker.example")
    assert code == 403 and front.core.policies == {}


def test_absolute_form_request_line_authority_is_checked(front):
    req = Request.blank("/qos/status")
    req.environ["PATH_INFO"] = req.environ["RAW_PATH_INFO"] = "http://evil.example:8080/qos/status"
    req.headers["Host"] = "127.0.0.1:8080"
    assert req.get_response(front.app).status_int == 403
    req = Request.blank("/qos/status")
    req.environ["RAW_PATH_INFO"] = "http://127.0.0.1:8080/qos/status"
    req.headers["Host"] = "127.0.0.1:8080"
    assert req.get_response(front.app).status_int == 200


def absolute(front, method: str, url: str, body: Any = None, **headers: str) -> tuple[int, Any]:
    """A request whose target is in absolute form, as eventlet hands it on (whole URL in PATH_INFO)."""
    from urllib.parse import unquote
    req = Request.blank("/", method=method)
    target, _, query = url.partition("?")
    req.environ["RAW_PATH_INFO"] = target
    req.environ["PATH_INFO"] = unquote(target, encoding="latin-1")
    req.environ["QUERY_STRING"] = query
    req.headers["Host"] = headers.pop("Host", "127.0.0.1:8080")
    for name, value in headers.items():
        req.headers[name.replace("_", "-")] = value
    if body is not None:
        req.body = json.dumps(body).encode()
        req.content_type = "application/json"
    resp = req.get_response(front.app)
    return resp.status_int, json.loads(resp.body) if resp.content_type == "application/json" else resp.body


def test_absolute_form_targets_reach_every_route(front):
    """RFC 7230 5.3.2: `GET http://127.0.0.1:8080/wm/qos/tool/status/json HTTP/1.1` is a normal request."""
    assert absolute(front, "GET", "http://127.0.0.1:8080/wm/qos/tool/status/json") == (200, False)
    assert absolute(front, "GET", "http://localhost/qos/status")[0] == 200
    code, answer = absolute(front, "POST", "http://127.0.0.1:8080/qos/policies", POLICY)
    assert code == 201 and answer["name"] == "p1"
    assert absolute(front, "GET", "http://127.0.0.1:8080/qos/policies/p1")[1]["name"] == "p1"
    code, answer = absolute(front, "GET", "http://127.0.0.1:8080/qos/policies/a%2541b")
    assert code == 404 and "a%41b" in answer["error"]  # decoded once, as in origin form
    assert absolute(front, "GET", "http://127.0.0.1:8080/qos/policies?wait=confirm")[0] == 200
    assert absolute(front, "GET", "http://127.0.0.1:8080")[0] in (404, 200)  # empty path is "/"
    assert absolute(front, "GET", "http://127.0.0.1:8080/qos/nope")[0] == 404


def test_absolute_form_keeps_every_front_door_check(front):
    # the authority is checked even when Host is fine, and Host even when the authority is fine
    code, err = absolute(front, "GET", "http://evil.example:8080/wm/qos/tool/status/json")
    assert code == 403 and err["field"] == "Host"
    assert absolute(front, "GET", "http://127.0.0.1:8080/qos/status", Host="evil.example")[0] == 403
    # the state-changing GET is still a write once the target is rewritten
    code, err = absolute(front, "GET", "http://127.0.0.1:8080/wm/qos/tool/enable/json", Sec_Fetch_Site="cross-site")
    assert code == 403 and front.core.enabled is False
    code, err = absolute(front, "GET", "http://127.0.0.1:8080/qos/x/%ff")
    assert code == 400 and err["field"] == "path"


def test_token_required_for_writes_when_configured(core):
    front = Front(core, GuardConfig(token="s3cret-token"))
    code, err, headers = front.call("POST", "/qos/policies", POLICY)
    assert code == 401 and err["field"] == "Authorization"
    assert headers["WWW-Authenticate"].startswith("Bearer")
    code, _, headers = front.call("POST", "/qos/policies", POLICY, Authorization="Bearer wrong")
    assert code == 401 and 'error="invalid_token"' in headers["WWW-Authenticate"]
    assert front.call("GET", "/wm/qos/tool/enable/json")[0] == 401
    assert front.call("GET", "/wm/staticflowentrypusher/clear/all/json")[0] == 401  # a GET that deletes
    assert front.call("GET", "/wm/staticflowentrypusher/list/all/json")[0] == 200
    assert core.policies == {} and core.enabled is False
    assert front.call("POST", "/qos/policies", POLICY, Authorization="Bearer s3cret-token")[0] == 201
    assert front.call("GET", "/qos/policies")[0] == 200  # reads stay open by default


def test_token_for_reads_keeps_the_page_and_document_open(core):
    front = Front(core, GuardConfig(token="t0ken", token_for_reads=True))
    assert front.call("GET", "/qos/policies")[0] == 401
    assert front.call("GET", "/qos/policies", Authorization="Bearer t0ken")[0] == 200
    assert front.call("GET", "/qos/ui/")[0] == 200
    assert front.call("GET", "/qos/openapi.json")[0] == 200


def test_names_are_decoded_exactly_once(front):
    for name in ("a%41b", "aAb"):
        assert front.call("POST", "/qos/policies", {**POLICY, "name": name})[0] == 201
    code, deleted, _ = front.call("DELETE", "/qos/policies/a%2541b")
    assert code == 200 and deleted["name"] == "a%41b"
    assert sorted(front.core.policies) == ["aAb"]
    code, got, _ = front.call("GET", "/qos/policies/aAb")
    assert code == 200 and got["name"] == "aAb"
    # UTF-8 names arrive as their percent-encoded bytes, decoded once
    assert front.call("POST", "/qos/services", {"name": "Öl 100%", "dscp": 10})[0] == 201
    assert front.call("GET", "/qos/services/%C3%96l%20100%25")[1]["name"] == "Öl 100%"


def test_body_cap_is_413(core):
    front = Front(core, GuardConfig(max_body=1000))
    code, err, _ = front.call("POST", "/qos/policies", raw=b"[" + b" " * 2000 + b"]")
    assert code == 413 and err["field"] == "body" and err["limit"] == 1000
    assert front.call("POST", "/qos/policies", POLICY)[0] == 201


def test_chunked_body_over_the_cap_is_413(core):
    import io
    front = Front(core, GuardConfig(max_body=1000))
    req = Request.blank("/qos/policies", method="POST")
    req.headers["Host"] = "127.0.0.1"
    req.headers["Transfer-Encoding"] = "chunked"
    req.content_type = "application/json"
    req.environ.pop("CONTENT_LENGTH", None)
    req.environ["wsgi.input"] = io.BytesIO(b"x" * 5000)
    assert req.get_response(front.app).status_int == 413
    req.environ["wsgi.input"] = io.BytesIO(json.dumps(POLICY).encode())
    req.headers["Transfer-Encoding"] = "chunked"
    req.environ.pop("CONTENT_LENGTH", None)
    assert req.get_response(front.app).status_int == 201


def test_deep_nesting_and_huge_numbers_are_400_naming_the_reason(front):
    before = front.snapshot()
    code, err, _ = front.call("POST", "/qos/policies", raw=b"[" * 10000 + b"]" * 10000)
    assert code == 400 and err["field"] == "body" and "nested deeper" in err["error"]
    code, err, _ = front.call("POST", "/qos/policies", raw=b'{"name": "n", "priority": ' + b"9" * 5000 + b"}")
    assert code == 400 and err["field"] == "body" and "JSON number" in err["error"]
    code, err, _ = front.call("POST", "/qos/policies", raw=b'{"name": "n", "priority": NaN}')
    assert code == 400 and err["field"] == "body"
    deep = b"{\"a\":" * 5000 + b"1" + b"}" * 5000
    for route in ("/qos/services", "/qos/queues", "/qos/paths"):
        assert front.call("POST", route, raw=deep)[0] == 400
    for route in ("/wm/qos/policy/json", "/wm/qos/service/json"):  # Floodlight's shape: 200 + why
        code, answer, _ = front.call("POST", route, raw=deep)
        assert code == 200 and answer["field"] == "body" and answer["status"].startswith("Error!")
    assert front.snapshot() == before


def test_nesting_depth_ignores_brackets_in_strings():
    assert nesting_depth(json.loads('{"a": "[[[[{{{{", "b": [1, [2]]}'), 10) == 3
    assert nesting_depth(json.loads('"\\"[[["'), 10) == 0


def test_nesting_depth_counts_levels_and_stops_over_the_limit():
    assert nesting_depth(json.loads("[" + "{}, " * 1000 + "[]]"), 10) == 2
    assert nesting_depth(json.loads('[{"a": [{"b": [1]}]}, {}]'), 10) == 5
    assert nesting_depth(json.loads("[" * 50 + "]" * 50), 32) == 33
    assert nesting_depth(json.loads("[" * 32 + "]" * 32), 32) == 32
    assert nesting_depth(1, 32) == 0


def test_non_utf8_path_is_json_never_a_traceback(front):
    for path in ("/qos/x/%ff", "/qos/policies/%ff", "/wm/qos/%c3%28", "/qos/ui/%ff"):
        code, err, headers = front.call("GET", path)
        assert code == 400 and err["field"] == "path", path
        assert headers["Content-Type"].startswith("application/json")
    # without the guard (the bare routes) it is JSON too
    app = WSGIApplication()
    rest.register(app, front.core)
    for path, want in (("/qos/x/%ff", 404), ("/qos/policies/%ff", 400)):
        resp = Request.blank(path).get_response(app)
        assert resp.status_int == want and json.loads(resp.body)["field"] in ("path", "name")


def test_unexpected_error_is_json_500_with_request_id_and_logged(front, monkeypatch, caplog):
    def broken() -> Any:
        raise RuntimeError("secret internals /usr/lib/python3")
    monkeypatch.setattr(front.core, "status", broken)
    with caplog.at_level(logging.ERROR):
        code, err, headers = front.call("GET", "/qos/status")
    assert code == 500 and "request-id" in err and err["request-id"] == headers["X-Request-Id"]
    assert "secret internals" not in json.dumps(err) and "Traceback" not in json.dumps(err)
    assert any(err["request-id"] in r.getMessage() and r.exc_info for r in caplog.records)


def test_exception_escaping_the_app_is_json_500(caplog):
    def app(environ: Any, start_response: Any) -> Any:
        raise KeyError("boom")
    with caplog.at_level(logging.ERROR):
        resp = Request.blank("/qos/status").get_response(Guard(app))
    body = json.loads(resp.body)
    assert resp.status_int == 500 and body["request-id"] in body["error"]
    assert any(body["request-id"] in r.getMessage() for r in caplog.records)


def test_echoed_values_are_truncated(front):
    long_key = "k" * 100_000
    code, err, _ = front.call("POST", "/qos/policies", {**POLICY, long_key: 1})
    assert code == 400 and len(json.dumps(err)) < 2000 and "truncated" in json.dumps(err)
    code, err, _ = front.call("POST", "/qos/policies", {**POLICY, "name": "n" * 10_000_000})
    assert code == 400 and len(json.dumps(err)) < 2000
