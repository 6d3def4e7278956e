"""Property test of every write route: no 5xx, every 4xx names field and reason, rejections change nothing.

Bodies are drawn from the routes' own field names with values of every JSON
type (numbers past 64 bits, seed-style strings, nesting, nulls), plus raw
bytes that are not JSON at all. Bounded and derandomized, so CI runs the same
cases every time in a few seconds.
"""
from __future__ import annotations

import functools
import json
import tempfile
from typing import Any

import pytest
import qosapp.main.compat  # noqa: F401
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ryu.app.wsgi import WSGIApplication
from webob import Request

from qosapp.http import rest
from qosapp.http.guard import Guard
from tests.unit.serviceenv import make_service

FIELDS = ["match", "actions", "nw_src", "nw_dst", "nw_proto", "tp_dst", "ip_dscp", "in_port", "dl_type", "qos_id",
          "mark", "port_name", "max_rate", "min_rate", "type", "name", "dscp", "tos", "sid", "service", "protocol", "eth-type", "ingress-port", "ip-src", "ip-dst",
          "vlan-id", "eth-src", "eth-dst", "src-port", "dst-port", "sw", "queue", "enqueue-port", "priority",
          "policy-id", "policyid", "max-rate", "min-rate", "queues", "port", "src", "dst", "direction",
          "names", "all", "id"]
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=40),
    st.sampled_from(["all", "none", "0x0800", "6", "17", "10.0.0.1", "10.0.0.0/24", "00:00:00:00:00:00:00:01",
                     "aa:bb:cc:dd:ee:ff", "EF", "AF41", "Gold", "Best Effort", "10M", "2000k", "10G", "both",
                     "forward", "s1-eth1", "p0", "path0", "", " ", "a/b", "0x", "1e9", "-1", "99999999999999999999"]),
)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=8)),
                                                 inner, max_size=5)), max_leaves=12)
OBJECTS = st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=8)
BODIES = st.one_of(OBJECTS, st.lists(OBJECTS, max_size=3), VALUES,
                   st.binary(max_size=64).map(lambda raw: ("raw", raw)))
NAMES = st.one_of(st.sampled_from(["p0", "Gold", "path0", "Best%20Effort", "missing", "a%2541b", "%ff", "x%2Fy"]),
                  st.text(alphabet=st.characters(codec="ascii", exclude_characters="/?#"), min_size=1, max_size=12))
WRITES = [("POST", "/qos/services"), ("POST", "/qos/policies"), ("DELETE", "/qos/policies"),
          ("PUT", "/qos/policies/{name}"), ("DELETE", "/qos/policies/{name}"), ("DELETE", "/qos/services/{name}"),
          ("POST", "/qos/queues"), ("DELETE", "/qos/queues"), ("POST", "/qos/paths"),
          ("DELETE", "/qos/paths/{name}"), ("POST", "/wm/qos/service/json"), ("DELETE", "/wm/qos/service/json"),
          ("POST", "/wm/qos/policy/json"), ("DELETE", "/wm/qos/policy/json"), ("POST", "/qos/enable"),
          ("POST", "/qos/disable"), ("GET", "/wm/qos/tool/{name}/json"),
          # Ryu's rest_qos / rest_conf_switch (qosapp.http.rest_qos)
          ("POST", "/qos/rules/0000000000000001"), ("POST", "/qos/rules/all"), ("POST", "/qos/rules/0000000000000001/{name}"),
          ("DELETE", "/qos/rules/0000000000000001"), ("DELETE", "/qos/rules/all/{name}"),
          ("POST", "/qos/queue/0000000000000001"), ("DELETE", "/qos/queue/0000000000000001"),
          ("PUT", "/v1.0/conf/switches/0000000000000001/ovsdb_addr")]
READS = ["/qos/status", "/qos/services", "/qos/policies", "/qos/queues", "/qos/paths"]


def make_app() -> Guard:
    core = make_service(tempfile.mkdtemp(prefix="qos-fuzz-"))
    app = WSGIApplication()
    rest.register(app, core)
    guard = Guard(app)
    for path, body in (("/qos/services", {"name": "Gold", "dscp": 46}),
                       ("/qos/policies", {"name": "p0", "ip-src": "10.0.0.1", "sw": "none", "service": "Gold"}),
                       ("/qos/queues", {"max-rate": "10M", "queues": {"0": {"max-rate": "10M"}}}),
                       ("/qos/paths", {"name": "path0", "src": "10.0.0.1", "dst": "10.0.0.2", "queue": 1})):
        assert call(guard, "POST", path, body)[0] == 201
    return guard


def call(app: Guard, method: str, path: str, body: Any) -> tuple[int, Any]:
    req = Request.blank("/", method=method)
    req.environ["PATH_INFO"] = path
    req.headers["Host"] = "127.0.0.1:8080"
    if body is not None:
        req.body = body[1] if isinstance(body, tuple) else json.dumps(body).encode()
        req.content_type = "application/json"
    resp = req.get_response(app)
    try:
        return resp.status_int, json.loads(resp.body) if resp.body else None
    except ValueError:
        return resp.status_int, resp.body


def snapshot(app: Guard) -> list[Any]:
    return [call(app, "GET", path, None) for path in READS]


def wsgi_path(template: str, name: str) -> str:
    """PATH_INFO as the server gives it: percent-decoded once, into latin-1 text."""
    from urllib.parse import unquote
    return template.replace("{name}", unquote(name, encoding="latin-1"))


def check_write(app: Guard, method: str, template: str, name: str, body: Any) -> None:
    before = snapshot(app)
    path = wsgi_path(template, name)
    code, answer = call(app, method, path, body)
    assert code < 500, (method, path, body, code, answer)
    # the Floodlight routes refuse as Floodlight did: 200 and a status text, here starting "Error!"
    floodlight_refusal = template.startswith("/wm/") and isinstance(answer, dict) and \
        str(answer.get("status", "")).startswith(("Error", "Service Policy", "failure"))
    if 400 <= code < 500 or floodlight_refusal:
        assert isinstance(answer, dict), (code, answer)
        assert isinstance(answer.get("error"), str) and answer["error"], (method, path, answer)
        if code != 405:  # (an unknown key "" is named as "")
            assert isinstance(answer.get("field"), str), (method, path, answer)
        assert snapshot(app) == before, (method, path, body, code, answer)


FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.mark.parametrize("method,template", WRITES)
@FUZZ
@given(name=NAMES, body=st.one_of(st.none(), BODIES))
def test_every_write_route_rejects_cleanly(method: str, template: str, name: str, body: Any) -> None:
    check_write(shared_app(), method, template, name, body)


@FUZZ
@given(body=st.lists(OBJECTS, min_size=1, max_size=5))
def test_bulk_policy_post_is_all_or_nothing(body: Any) -> None:
    check_write(shared_app(), "POST", "/qos/policies", "", body)


@functools.cache
def shared_app() -> Guard:
    """One store for all examples: accepted writes pile up, which only makes later cases richer."""
    return make_app()
