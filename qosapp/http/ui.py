"""The QoS web page: the package's static files, served at /qos/ui/.

The page (``qosapp/http/static``: plain HTML, CSS and JavaScript, no build step,
no CDN — the machines have no internet; its two libraries, cytoscape.js and
uPlot, are npm packages at pinned versions that ./setup.sh puts next to it,
checked by sha256, see ``qosapp/http/vendored.txt``) talks only to the REST
service, so this controller's one job is to hand out those files safely:

- only plain file names that exist in the static directory are served
  (no ``..``, no sub-directories, no symlinks out of it) — everything else is
  a JSON 404 like the rest of /qos;
- each file gets its content type from a fixed table, never guessed;
- caching is off, so an upgraded controller never runs a stale page;
- a Content-Security-Policy of ``'self'`` makes any inline script or remote
  resource fail loudly in the browser (and in the browser tests).
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import qosapp.main.compat  # noqa: F401  (must precede ryu.app.wsgi)
from ryu.app.wsgi import ControllerBase, Response, route
from webob import Request

from qosapp.http.common import error_response

#: Where the page lives inside the installed package (see package-data).
STATIC_DIR = Path(__file__).with_name("static")
UI_PREFIX = "/qos/ui"
INDEX = "index.html"

#: Suffix -> content type. A file with any other suffix is not served.
CONTENT_TYPES: dict[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
}

#: A plain file name: starts with a letter or digit, then letters, digits,
#: '.', '_' or '-'. Rules out '..', '/', '\\', NUL, '%' and hidden files.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")

#: Sent with every file. 'self' only: the page must work offline and a
#: stray inline script or CDN reference should break the tests, not ship.
HEADERS: dict[str, str] = {
    "Cache-Control": "no-store, max-age=0",
    "Pragma": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": ("default-src 'self'; img-src 'self' data:; object-src 'none'; "
                                "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"),
}


def static_file(name: str, root: Path = STATIC_DIR) -> Path | None:
    """The file called `name` directly in `root`, or None if that is not safe to serve.

    Checks the name's form first, then that the directory really lists it
    (so no path arithmetic can reach outside `root`), then that it is a
    regular file and not a symlink.
    """
    if not SAFE_NAME.fullmatch(name) or ".." in name:
        return None
    if Path(name).suffix.lower() not in CONTENT_TYPES:
        return None
    try:
        if name not in os.listdir(root):
            return None
    except OSError:
        return None
    path = root / name
    if path.is_symlink() or not path.is_file():
        return None
    return path


def file_response(path: Path, head: bool = False) -> Response:
    """200 with the file's bytes, its fixed content type and the no-cache headers."""
    body = path.read_bytes()
    resp = Response(status=200, body=b"" if head else body)
    resp.headers["Content-Type"] = CONTENT_TYPES[path.suffix.lower()]
    resp.content_length = len(body)
    resp.headers.update(HEADERS)
    return resp


class UiController(ControllerBase):
    """GET /qos/ui/ (the page) and /qos/ui/{file} (its assets); /qos/ui redirects."""

    def __init__(self, req: Request, link: Any, data: Any, **config: Any) -> None:
        super().__init__(req, link, data, **config)
        self.root = STATIC_DIR

    @route("qos_ui_redirect", UI_PREFIX, methods=["GET", "HEAD"])
    def redirect(self, req: Request, **_: Any) -> Response:
        """Relative asset URLs (app.js, style.css) only resolve under the trailing slash."""
        resp = Response(status=301)
        resp.location = UI_PREFIX + "/"
        resp.headers["Cache-Control"] = "no-store"
        return resp

    @route("qos_ui_index", UI_PREFIX + "/", methods=["GET", "HEAD"])
    def index(self, req: Request, **_: Any) -> Response:
        return self._serve(req, INDEX)

    @route("qos_ui_file", UI_PREFIX + "/{file}", methods=["GET", "HEAD"])
    def asset(self, req: Request, file: str, **_: Any) -> Response:
        return self._serve(req, file)

    def _serve(self, req: Request, name: str) -> Response:
        path = static_file(name, self.root)
        if path is None:
            return error_response(404, f"no such file in the web UI: {name!r}", "file")
        return file_response(path, head=req.method == "HEAD")
