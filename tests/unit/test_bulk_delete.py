"""Bulk delete: DELETE /qos/policies with {"names": [...]} or {"all": true}.

One store transaction and one flow batch per switch instead of one request
per policy; all-or-nothing like the bulk POST (an unknown name deletes nothing).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import qosapp.main.compat  # noqa: F401
from ryu.app.wsgi import WSGIApplication
from webob import Request

from qosapp.http import rest
from qosapp.core.controller import NotFound
from qosapp.service import QosService
from tests.unit.serviceenv import make_service


def policies(count: int) -> list[dict[str, Any]]:
    return [{"name": f"p{i}", "ip-src": f"10.0.0.{i}", "queue": 1, "enqueue-port": 1} for i in range(count)]


@pytest.fixture
def core(tmp_path: Path) -> tuple[QosService, list]:
    sent: list = []
    qos = make_service(str(tmp_path), lambda dpid, ops: sent.append((dpid, ops)), forwarding="normal")
    qos.enable()
    qos.switch_connected(1, 4, {})
    qos.add_policies(policies(5))
    sent.clear()
    return qos, sent


def test_core_deletes_in_one_batch_and_all_or_nothing(core: tuple[QosService, list]) -> None:
    qos, sent = core
    with pytest.raises(NotFound):
        qos.delete_policies(["p1", "nope"])
    assert len(qos.policies) == 5 and sent == []
    assert [p.name for p in qos.delete_policies(["p2", "p2", "p4"])] == ["p2", "p4"]
    assert len(sent) == 1 and len(sent[0][1]) == 2  # one batch, one cookie delete per policy
    assert sorted(qos.policies) == ["p0", "p1", "p3"]
    assert [row[1] for row in qos.store.policies()] == ["p0", "p1", "p3"]
    assert len(qos.delete_policies(None)) == 3 and qos.policies == {} and qos.store.policies() == []


def call(app: WSGIApplication, method: str, path: str, body: Any) -> tuple[int, Any]:
    req = Request.blank(path, method=method)
    req.body = json.dumps(body).encode()
    req.content_type = "application/json"
    resp = req.get_response(app)
    return resp.status_int, json.loads(resp.body)


def test_rest_bulk_delete_by_names_or_all(core: tuple[QosService, list]) -> None:
    qos, _ = core
    app = WSGIApplication()
    rest.register(app, qos)
    code, err = call(app, "DELETE", "/qos/policies", {"names": ["p0", "nope"]})
    assert code == 404 and err["field"] == "names" and len(qos.policies) == 5
    assert call(app, "DELETE", "/qos/policies", {"names": "p0"})[0] == 400
    assert call(app, "DELETE", "/qos/policies", {"all": "yes"})[0] == 400
    assert call(app, "DELETE", "/qos/policies", {"names": ["p0", "p2"]}) == (200, {"deleted": 2, "names": ["p0", "p2"]})
    assert call(app, "DELETE", "/qos/policies", {"all": True}) == (200, {"deleted": 3, "names": ["p1", "p3", "p4"]})
    assert qos.policies == {}
