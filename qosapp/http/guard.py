"""The REST front door: WSGI middleware that every request passes before a route.

Why a middleware and not per-handler checks: the same rules must hold for the
native routes, the Floodlight routes, the web page and routes nobody has
written yet, and a check that runs before routing cannot be forgotten.

In order, for every request:

1. a request id (``X-Request-Id`` on the answer; errors and log lines carry it);
2. the path must be UTF-8 after percent-decoding (else 400, never a traceback);
3. an absolute-form request line (``GET http://127.0.0.1:8080/wm/... HTTP/1.1``,
   RFC 7230 5.3.2, as the seed's Python 2 clients send it) is turned into the
   origin form for routing; ``Host`` and that authority must both be a
   loopback name or one the operator configured: 403 otherwise, which stops
   DNS rebinding from turning a web page into a local client;
4. writes (any method but GET/HEAD/OPTIONS, plus the state-changing
   ``GET /wm/qos/tool/enable|disable/json`` and
   ``GET /wm/staticflowentrypusher/clear/<switch>/json``) carrying a foreign ``Origin``,
   ``Sec-Fetch-Site: cross-site|same-site`` or a foreign ``Referer``: 403.
   Clients that send none of these (curl, the seed's Python clients,
   qospusher) are not affected, whatever their Content-Type;
5. the API token, when one is configured (401 + ``WWW-Authenticate: Bearer``);
6. the body cap (413), also for chunked bodies;
7. any exception that escapes the application: JSON 500 with the request id;
   the traceback goes to the log under that id.
"""
from __future__ import annotations

import hmac
import io
import json
import logging
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable
from urllib.parse import unquote, urlsplit

LOG = logging.getLogger(__name__)

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "localhost.localdomain"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: GETs that change state (the seed's Floodlight tool routes): treated as writes
STATE_CHANGING_GET = re.compile(r"^/wm/(qos/tool/(enable|disable)|staticflowentrypusher/clear/[^/]*)/json/?$")
#: what the web page and its assets need before the user has typed a token
PUBLIC_READS = re.compile(r"^/qos/ui(/.*)?$|^/qos/openapi\.json$")
DEFAULT_MAX_BODY = 16 * 1024 * 1024
REQUEST_ID_KEY = "qos.request_id"
Wsgi = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass
class GuardConfig:
    """What the operator configured (see `qos-controller --help`)."""

    #: extra names accepted in Host besides the loopback ones (e.g. "ctl.example:8080" or "ctl.example")
    allowed_hosts: set[str] = field(default_factory=set)
    token: str | None = None
    token_for_reads: bool = False
    max_body: int = DEFAULT_MAX_BODY


def host_name(authority: str) -> tuple[str, str | None]:
    """('127.0.0.1', '8080') from '127.0.0.1:8080'; IPv6 in brackets; lower case."""
    authority = authority.strip().lower()
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            return authority, None
        rest = authority[end + 1:]
        return authority[1:end], rest[1:] if rest.startswith(":") else None
    if authority.count(":") == 1:
        name, port = authority.split(":")
        return name, port
    return authority, None


def host_allowed(authority: str, config: GuardConfig) -> bool:
    name, port = host_name(authority)
    if port is not None and not port.isdigit():
        return False
    if name in LOOPBACK_HOSTS:
        return True
    allowed = {a.lower() for a in config.allowed_hosts}
    return name in allowed or (port is not None and f"{name}:{port}" in allowed) \
        or (port is not None and f"[{name}]:{port}" in allowed)


def is_write(method: str, path: str) -> bool:
    return method not in SAFE_METHODS or (method == "GET" and bool(STATE_CHANGING_GET.match(path)))


def same_origin(url: str, scheme: str, host: str) -> bool:
    """Does `url` (an Origin or Referer) name this server as the client reached it?"""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    default = "443" if parts.scheme == "https" else "80"
    their_name, their_port = host_name(parts.netloc)
    our_name, our_port = host_name(host)
    return (parts.scheme == scheme and their_name == our_name
            and (their_port or default) == (our_port or ("443" if scheme == "https" else "80")))


def cross_site_reason(environ: dict[str, Any], host: str) -> tuple[str, str] | None:
    """(header, why) when this write looks like it came from another site's page, else None."""
    scheme = environ.get("wsgi.url_scheme", "http")
    origin = environ.get("HTTP_ORIGIN")
    if origin is not None and not same_origin(origin, scheme, host):
        return "Origin", f"cross-site request refused: Origin {truncate(origin, 100)!r} is not this controller"
    fetch_site = environ.get("HTTP_SEC_FETCH_SITE", "").lower()
    if fetch_site in ("cross-site", "same-site"):
        return "Sec-Fetch-Site", f"cross-site request refused: Sec-Fetch-Site is {fetch_site}"
    referer = environ.get("HTTP_REFERER")
    if origin is None and referer and not same_origin(referer, scheme, host):
        return "Referer", "cross-site request refused: Referer is not this controller"
    return None


def bearer_ok(environ: dict[str, Any], token: str) -> bool:
    header = environ.get("HTTP_AUTHORIZATION", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode("utf-8", "replace"), token.encode("utf-8"))


def truncate(text: str, limit: int = 200) -> str:
    """Echoed input is cut: an error must never hand back a 10 MB value."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters, truncated)"


ABSOLUTE_FORM = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://([^/?#]*)(.*)$", re.DOTALL)


def to_origin_form(environ: dict[str, Any]) -> str | None:
    """Turn an absolute-form target into the origin form every route expects; its authority, or None.

    RFC 7230 5.3.2: a server must accept `GET http://127.0.0.1:8080/wm/qos/tool/status/json HTTP/1.1`.
    eventlet puts the whole URL into PATH_INFO, so without this no route matches. The query
    was already split off by the server; only the path is rewritten (decoded once, as eventlet does).
    """
    raw = environ.get("RAW_PATH_INFO") or environ.get("PATH_INFO", "")
    match = ABSOLUTE_FORM.match(raw)
    if match is None:
        return None
    path = match.group(2) or "/"
    environ["RAW_PATH_INFO"] = path
    environ["PATH_INFO"] = unquote(path, encoding="latin-1")
    return match.group(1)


class TooLarge(Exception):
    pass


def buffer_chunked(environ: dict[str, Any], cap: int) -> None:
    """Read a chunked body up to the cap, so the app sees an ordinary sized body."""
    stream = environ["wsgi.input"]
    data = bytearray()
    while True:
        chunk = stream.read(min(65536, cap + 1 - len(data)))
        if not chunk:
            break
        data += chunk
        if len(data) > cap:
            raise TooLarge()
    environ["wsgi.input"] = io.BytesIO(bytes(data))
    environ["CONTENT_LENGTH"] = str(len(data))
    environ.pop("HTTP_TRANSFER_ENCODING", None)


class Guard:
    """WSGI middleware in front of the Ryu WSGI application (see the module docstring)."""

    def __init__(self, app: Wsgi, config: GuardConfig | None = None) -> None:
        self.app = app
        self.config = config or GuardConfig()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request_id = environ.get(REQUEST_ID_KEY) or uuid.uuid4().hex[:16]
        environ[REQUEST_ID_KEY] = request_id

        def answer(status: int, body: dict[str, Any], headers: list[tuple[str, str]] | None = None
                   ) -> Iterable[bytes]:
            payload = json.dumps({**body, "request-id": request_id}).encode("utf-8")
            start_response(f"{status} {REASONS.get(status, 'Error')}",
                           [("Content-Type", "application/json; charset=utf-8"),
                            ("Content-Length", str(len(payload))), ("X-Request-Id", request_id),
                            ("Cache-Control", "no-store"), *(headers or [])])
            return [payload]

        refused = self.refusal(environ)
        if refused is not None:
            return answer(*refused)

        def tagged_start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            return start_response(status, [*headers, ("X-Request-Id", request_id)], exc_info)

        try:
            return self.app(environ, tagged_start)
        except Exception:  # noqa: BLE001  (the last line of defence: never a traceback to the client)
            LOG.exception("request %s: unexpected error in %s %s", request_id,
                          environ.get("REQUEST_METHOD"), truncate(environ.get("PATH_INFO", ""), 200))
            return answer(500, {"error": f"internal error; see the controller log for request {request_id}"})

    def refusal(self, environ: dict[str, Any]) -> tuple[Any, ...] | None:
        """(status, body[, headers]) when the request must not reach the application."""
        method = environ.get("REQUEST_METHOD", "GET").upper()
        authority = to_origin_form(environ)
        path = environ.get("PATH_INFO", "")
        try:
            path.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            return 400, {"error": "the path is not valid UTF-8 after percent-decoding", "field": "path"}

        host = environ.get("HTTP_HOST")
        for name in (authority, host):
            if name is not None and not host_allowed(name, self.config):
                return 403, {"error": f"Host {truncate(name, 100)!r} is not this controller "
                                      "(loopback names and --rest-allowed-host only)", "field": "Host"}
        own = host or authority or f"{environ.get('SERVER_NAME', '')}:{environ.get('SERVER_PORT', '')}"

        write = is_write(method, path)
        if write:
            refused = cross_site_reason(environ, own)
            if refused is not None:
                return 403, {"error": refused[1], "field": refused[0]}

        token = self.config.token
        if token and (write or (self.config.token_for_reads and not PUBLIC_READS.match(path))):
            if not bearer_ok(environ, token):
                challenge = 'Bearer realm="qos-sdn"'
                if environ.get("HTTP_AUTHORIZATION"):
                    challenge += ', error="invalid_token"'
                return 401, {"error": "an API token is required (Authorization: Bearer <token>)",
                             "field": "Authorization"}, [("WWW-Authenticate", challenge)]

        cap = self.config.max_body
        length = environ.get("CONTENT_LENGTH") or ""
        if length.strip():
            try:
                size = int(length)
            except ValueError:
                return 400, {"error": "Content-Length is not a number", "field": "Content-Length"}
            if size > cap:
                return 413, {"error": f"body of {size} bytes is over the limit of {cap} bytes",
                             "field": "body", "limit": cap}
        elif "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            try:
                buffer_chunked(environ, cap)
            except TooLarge:
                return 413, {"error": f"body is over the limit of {cap} bytes", "field": "body", "limit": cap}
        return None


REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           413: "Payload Too Large", 500: "Internal Server Error"}
