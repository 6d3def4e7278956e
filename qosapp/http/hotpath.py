"""The hot routes without WebOb's Request and the Routes mapper: POST /qos/policies, GET and DELETE /qos/policies/{name}.

Why: a single confirmed POST costs the controller ~0.6 ms of CPU, and
Ryu's application spent a noticeable share of it before and after the
handler: a WebOb `Request` and `webob.dec.wsgify` around it, the Routes
mapper trying route after route (one regular expression each) until one
matched, a `URLGenerator` and a new controller object per request, and
WebOb's query-string parsing for ``?wait=confirm``.

What it replaces is only that dispatch. The handlers are the same
functions (`rest.QosController`'s methods with their `handler` wrapper), so
validation, the store commit and its fsync before the answer, the
confirmation wait and every error shape (`{"error", "field"}`) are theirs;
this sits behind the front door (`guard.Guard`) and the request metrics,
as Ryu's application does, so tokens, cross-site and Host checks, size and
JSON limits are unchanged; and the metrics label is the route's template,
as before. Every other route, and any hot-route request whose shape is not
plain (a query other than none or ``wait=confirm``, a name with characters
outside ``[A-Za-z0-9._~-]``, a body without a plain Content-Length),
goes to Ryu's application exactly as it did.

On start it asks the mapper where each hot route's requests go; if any of
them is routed elsewhere (say a route registered in front of it), the hot
path stays off and every request takes the mapper.
"""
from __future__ import annotations

import io
import re
from typing import Any, Callable, Iterable

import qosapp.main.compat  # noqa: F401  (must precede ryu.app.wsgi)
from ryu.app.wsgi import WSGIApplication

from qosapp.http.rest import QosController

Wsgi = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
POLICIES = "/qos/policies"
ONE_POLICY = POLICIES + "/"
#: names the hot path takes as they are (the mapper gives these back unchanged; see `HotRoutes.agrees`)
PLAIN_NAME = re.compile(r"[A-Za-z0-9._~-]{1,256}\Z")
#: query strings the hot path knows the meaning of: none, or ask to wait for the switch's confirmation
PLAIN_QUERIES = {"": {}, "wait=confirm": {"wait": "confirm"}}
#: (method, path) -> the QosController action the mapper routes it to
ACTIONS = {("POST", POLICIES): "add_policies", ("GET", ONE_POLICY): "get_policy",
           ("DELETE", ONE_POLICY): "delete_policy"}


class LeanRequest:
    """What the hot handlers read of a request (a subset of WebOb's `Request`, the same values)."""

    __slots__ = ("environ", "method", "GET", "is_body_seekable")

    def __init__(self, environ: dict[str, Any], query: dict[str, str]) -> None:
        self.environ = environ
        self.method: str = environ["REQUEST_METHOD"]
        #: the parsed query (only the plain ones reach here: see PLAIN_QUERIES)
        self.GET = query
        self.is_body_seekable = False

    @property
    def content_type(self) -> str:
        """As WebOb's: the Content-Type without its parameters (not stripped, not lower-cased)."""
        return str(self.environ.get("CONTENT_TYPE", "")).split(";", 1)[0]

    @property
    def content_length(self) -> int:
        """The plain Content-Length `HotRoutes.route` checked the request has."""
        return int(self.environ["CONTENT_LENGTH"])

    @property
    def body(self) -> bytes:
        """The whole body (read once, then kept as a buffer, as `common.body_bytes` does)."""
        stream = self.environ["wsgi.input"]
        if self.is_body_seekable:
            stream.seek(0)
            return bytes(stream.read())
        raw = stream.read(self.content_length)
        self.environ["wsgi.input"] = io.BytesIO(raw)
        self.is_body_seekable = True
        return bytes(raw)


class HotRoutes:
    """WSGI: the hot routes straight to their handlers, everything else to Ryu's application."""

    def __init__(self, app: WSGIApplication, controller: QosController) -> None:
        self.app = app
        self.controller = controller
        self.enabled = self.agrees()

    def agrees(self) -> bool:
        """Does the mapper send every request the hot path would take to the same action?"""
        for (method, path), action in ACTIONS.items():
            for name in ([""] if path == POLICIES else ["p", "bench-1", "a.b", "A_z~0"]):
                env = {"PATH_INFO": path + name, "REQUEST_METHOD": method, "SCRIPT_NAME": "", "QUERY_STRING": "",
                       "HTTP_HOST": "127.0.0.1", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80",
                       "wsgi.url_scheme": "http"}
                match = self.app.mapper.match(environ=env)
                if not match or match.get("controller") is not QosController or match.get("action") != action \
                        or (name and match.get("name") != name):
                    return False
        return True

    def route(self, environ: dict[str, Any]) -> tuple[str, dict[str, str], dict[str, str]] | None:
        """(action, its URL variables, the parsed query) of a plain hot-route request, else None."""
        query = PLAIN_QUERIES.get(environ.get("QUERY_STRING", ""))
        if query is None or not self.enabled:
            return None
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "")
        if path == POLICIES:
            plain_body = str(environ.get("CONTENT_LENGTH", "")).isdigit() and "HTTP_TRANSFER_ENCODING" not in environ
            return ("add_policies", {}, query) if method == "POST" and plain_body else None
        if path.startswith(ONE_POLICY):
            action = ACTIONS.get((method, ONE_POLICY))
            name = path[len(ONE_POLICY):]
            if action is not None and PLAIN_NAME.match(name):
                return action, {"name": name}, query
        return None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        hot = self.route(environ)
        if hot is None:
            return self.app(environ, start_response)
        action, urlvars, query = hot
        # what the mapper leaves for the request metrics' route label (as WebOb's req.urlvars does)
        environ["wsgiorg.routing_args"] = ((), {"controller": QosController, "action": action, **urlvars})
        response = getattr(self.controller, action)(LeanRequest(environ, query), **urlvars)
        start_response(response.status, list(response.headerlist))
        return [response.body]


def hot_routes(app: WSGIApplication) -> Wsgi:
    """`app` with the hot routes in front, if `rest.register` mounted the native API on it; else `app`."""
    data = app.registory.get(QosController.__name__)
    if not isinstance(data, dict):
        return app
    return HotRoutes(app, QosController(None, None, data))
