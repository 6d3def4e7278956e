"""Serving the web page's files: content types, no caching, no way out of the static dir.

Two levels: `static_file` alone on a directory we build (with a symlink and a
sub-directory in it), and raw HTTP requests — paths sent byte for byte, not
normalised by a browser — against a real controller process.
"""
from __future__ import annotations

import hashlib
import http.client
import json
from pathlib import Path
from typing import Iterator

import pytest

from qosapp.http.ui import CONTENT_TYPES, STATIC_DIR, static_file
from topologies.controller import ControllerProcess


@pytest.fixture(scope="module")
def controller(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControllerProcess]:
    """One real controller for this module: these tests only read."""
    with ControllerProcess(tmp_path_factory.mktemp("static") / "controller", extra_args=["--no-queues"]) as ctl:
        yield ctl


def raw_get(controller: ControllerProcess, path: str, method: str = "GET") -> http.client.HTTPResponse:
    """Send `path` exactly as given (http.client does not resolve '..' or decode '%2f')."""
    conn = http.client.HTTPConnection("127.0.0.1", controller.rest_port, timeout=10)
    conn.request(method, path)
    resp = conn.getresponse()
    resp.body = resp.read()  # type: ignore[attr-defined]
    conn.close()
    return resp


def test_package_ships_the_page() -> None:
    names = {p.name for p in STATIC_DIR.iterdir()}
    assert {"index.html", "app.js", "style.css", "favicon.svg"} <= names
    assert all(Path(n).suffix in CONTENT_TYPES for n in names)


def test_static_file_accepts_only_plain_names_listed_in_the_dir(tmp_path: Path) -> None:
    root = tmp_path / "static"
    root.mkdir()
    (root / "app.js").write_text("x")
    (root / "notes.md").write_text("not a served type")
    (root / ".hidden.js").write_text("x")
    (root / "sub.js").mkdir()
    (tmp_path / "secret.js").write_text("outside")
    (root / "link.js").symlink_to(tmp_path / "secret.js")
    assert static_file("app.js", root) == root / "app.js"
    for name in ["../secret.js", "..", ".", "", "sub.js", "link.js", ".hidden.js", "notes.md", "APP.JS",
                 "app.js/", "app.js\x00.html", "..\\secret.js", "%2e%2e%2fsecret.js", "/etc/passwd", "missing.js"]:
        assert static_file(name, root) is None, name


def test_files_have_fixed_types_and_no_cache(controller: ControllerProcess) -> None:
    expected = {"/qos/ui/": "text/html; charset=utf-8", "/qos/ui/index.html": "text/html; charset=utf-8",
                "/qos/ui/app.js": "text/javascript; charset=utf-8", "/qos/ui/style.css": "text/css; charset=utf-8",
                "/qos/ui/favicon.svg": "image/svg+xml"}
    for path, ctype in expected.items():
        resp = raw_get(controller, path)
        assert (resp.status, resp.getheader("Content-Type")) == (200, ctype), path
        assert resp.getheader("Cache-Control") == "no-store, max-age=0"
        assert resp.getheader("X-Content-Type-Options") == "nosniff"
        assert "default-src 'self'" in resp.getheader("Content-Security-Policy")
    index = raw_get(controller, "/qos/ui/")
    assert index.body == (STATIC_DIR / "index.html").read_bytes()  # type: ignore[attr-defined]
    head = raw_get(controller, "/qos/ui/app.js", "HEAD")
    assert head.status == 200 and head.body == b""  # type: ignore[attr-defined]


def vendored() -> list[tuple[str, str, str, str, str]]:
    """(package, version, file in the package, served as, sha256) from qosapp/http/vendored.txt."""
    text = (STATIC_DIR.parent / "vendored.txt").read_text()
    rows = [tuple(line.split()) for line in text.splitlines() if line.strip() and not line.startswith("#")]
    assert rows and all(len(row) == 5 for row in rows)
    return rows  # type: ignore[return-value]


def test_npm_libraries_are_served_exactly_as_pinned(controller: ControllerProcess) -> None:
    """uPlot and cytoscape.js: the bytes setup.sh took from npm at the pinned version, checked by sha256."""
    rows = vendored()
    assert {(pkg, version) for pkg, version, *_ in rows} == {("uplot", "1.6.32"), ("cytoscape", "3.35.0")}
    for pkg, version, _, served, sha in rows:
        assert (STATIC_DIR / served).is_file(), f"{served} missing: run ./setup.sh (it fetches {pkg}@{version})"
        resp = raw_get(controller, f"/qos/ui/{served}")
        assert resp.status == 200, served
        assert hashlib.sha256(resp.body).hexdigest() == sha, served  # type: ignore[attr-defined]
    index = (STATIC_DIR / "index.html").read_text()
    for served in ("uPlot.iife.min.js", "cytoscape.min.js", "uPlot.min.css"):
        assert f'"{served}"' in index  # the page loads them from the controller, not from a CDN
    assert "http://" not in index and "https://" not in index


def test_ui_without_slash_redirects(controller: ControllerProcess) -> None:
    resp = raw_get(controller, "/qos/ui")
    assert resp.status == 301
    assert resp.getheader("Location").endswith("/qos/ui/")


@pytest.mark.parametrize("path", [
    "/qos/ui/../ui.py", "/qos/ui/..%2fui.py", "/qos/ui/%2e%2e%2fui.py", "/qos/ui/%2e%2e/ui.py",
    "/qos/ui/..", "/qos/ui/%2e%2e", "/qos/ui/..%5cui.py", "/qos/ui/../../../../../../etc/passwd",
    "/qos/ui//etc/passwd", "/qos/ui/%2fetc%2fpasswd", "/qos/ui/.hidden", "/qos/ui/app.js%00.html",
    "/qos/ui/ui.py", "/qos/ui/__init__.py", "/qos/ui/static", "/qos/ui/nothing.js",
])
def test_no_way_out_of_the_static_dir(controller: ControllerProcess, path: str) -> None:
    resp = raw_get(controller, path)
    body = resp.body  # type: ignore[attr-defined]
    assert resp.status in (400, 404), (path, resp.status)
    assert b"import" not in body and b"root:" not in body
    if resp.status == 404:
        assert "error" in json.loads(body)


def test_ui_takes_only_get_and_head(controller: ControllerProcess) -> None:
    status, body = controller.request("POST", "/qos/ui/", {"x": 1})
    assert status == 405 and "GET" in body["error"]


def test_mounted_next_to_the_rest_service_in_process(tmp_path: Path) -> None:
    """The controller list `rest.register` takes, with the UI in it (no process, no browser)."""
    import qosapp.main.compat  # noqa: F401
    from ryu.app.wsgi import WSGIApplication
    from webob import Request

    from qosapp.http import rest
    from qosapp.http.floodlight import FloodlightController
    from tests.unit.serviceenv import make_service
    from qosapp.http.ui import UiController

    app = WSGIApplication()
    rest.register(app, make_service(str(tmp_path)),
                  controllers=[rest.QosController, FloodlightController, UiController])

    def call(method: str, path: str) -> tuple[int, str, bytes]:
        resp = Request.blank(path, method=method).get_response(app)
        return resp.status_int, resp.content_type, resp.body

    status, ctype, body = call("GET", "/qos/ui/")
    assert (status, ctype) == (200, "text/html") and b"<title>Quality of Service" in body
    assert call("GET", "/qos/ui/app.js")[:2] == (200, "text/javascript")
    assert call("GET", "/qos/ui")[0] == 301
    assert call("DELETE", "/qos/ui/app.js")[0] == 405
    assert call("GET", "/qos/ui/rest.py")[:2] == (404, "application/json")
    assert call("GET", "/qos/status")[0] == 200  # the REST service is untouched
