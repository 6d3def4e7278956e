"""What every HTTP controller shares: JSON answers, body parsing, the error mapping, the base class.

The native routes (`rest`), the Floodlight-compatible ones (`floodlight`) and
the UI (`ui`) all build on this module, and it on none of them, so the three
import no one another in a circle. Every rejection is a `ValidationError`
(400/409 with `{"error", "field"}`) or `NotFound` (404); anything else
becomes a JSON 500 and a logged traceback, never a bare one.
"""
from __future__ import annotations

import functools
import io
import json
import logging
import uuid
from typing import Any, Callable

import qosapp.main.compat  # noqa: F401  (must precede ryu.app.wsgi)
from ryu.app.wsgi import ControllerBase, Response
from webob import Request

from qosapp.core.controller import NotFound
from qosapp.core.model import ValidationError
from qosapp.core.storeapi import StoreConflict, StoreUnavailable
from qosapp.http import jsonlimits
from qosapp.http.guard import REQUEST_ID_KEY, truncate
from qosapp.service import CONFIRM_TIMEOUT, QosService

JSON_TYPES = ("application/json", "text/json")
#: curl -d and the seed's pusher send these; the body is still parsed as JSON.
LENIENT_TYPES = ("", "application/x-www-form-urlencoded")
CORE_KEY = "qos_core"
#: where WebOb keeps `req.GET` in the environ; that GetDict refers back to the environ (a cycle)
PARSED_QUERY_KEY = "webob._parsed_query_vars"
LOG = logging.getLogger("qosapp.http.rest")  # the name operators know from the logs


def json_response(body: Any, status: int = 200) -> Response:
    return Response(status=status, content_type="application/json", charset="utf-8",
                    body=json.dumps(body, indent=None).encode("utf-8"))


def error_response(status: int, reason: str, field: str | None = None, **extra: Any) -> Response:
    body: dict[str, Any] = {"error": reason}
    if field is not None:
        body["field"] = field
    body.update(extra)
    return json_response(body, status)


class BadMediaType(Exception):
    """The request says its body is something other than JSON (415)."""


def read_json(req: Request) -> Any:
    """The request body as JSON, or a ValidationError naming 'body'."""
    ctype = (req.content_type or "").lower()
    if ctype not in LENIENT_TYPES and ctype not in JSON_TYPES and not ctype.endswith("+json"):
        raise BadMediaType(f"expected a JSON body (Content-Type: application/json), got {ctype!r}")
    raw = body_bytes(req)
    if not raw.strip():
        raise ValidationError("body", "empty body; expected JSON")
    return jsonlimits.loads(raw)


def body_bytes(req: Request) -> bytes:
    """The request body, read once straight from the server's input when its length is known.

    WebOb's `req.body` first copies the body into a seekable buffer (a third
    of the cost of parsing a policy); what is read here is put back as a
    buffer, so anything that reads the body afterwards still gets it.
    """
    length = req.content_length
    if length is None or req.is_body_seekable:
        return req.body
    raw = req.environ["wsgi.input"].read(length)
    req.environ["wsgi.input"] = io.BytesIO(raw)
    req.is_body_seekable = True
    return bytes(raw)


def url_name(raw: str) -> str:
    """A name from the URL, decoded exactly once.

    The server already percent-decoded PATH_INFO (into latin-1 text, per
    WSGI); decoding again would turn the name `a%41b` (sent as `a%2541b`)
    into `aAb`. Only the bytes are re-read as the UTF-8 they are.
    """
    try:
        return raw.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        raise ValidationError("name", "the name in the path is not valid UTF-8") from None


def error_body(err: ValidationError) -> dict[str, Any]:
    """The rejection as JSON, with any echoed input cut short."""
    return {k: truncate(v) if isinstance(v, str) else v for k, v in err.to_dict().items()}


def wants_confirm(req: Request) -> bool:
    """`?wait=confirm`: answer only once every switch confirmed (barrier reply) or rejected the flows."""
    return req.GET.get("wait") == "confirm"


def wants_force(req: Request) -> bool:
    """`?force=true`: go ahead although live policies or paths use the queues (they change state)."""
    value = req.GET.get("force")
    if value is None or value.lower() in ("false", "0", "no"):
        return False
    if value.lower() in ("true", "1", "yes", ""):
        return True
    raise ValidationError("force", f"expected true or false, got {value[:40]!r}")


def wait_confirmed(core: QosService, policies: list[Any], timeout: float = CONFIRM_TIMEOUT) -> None:
    """Hold this request until no switch is still to confirm `policies` (see `QosService.wait_confirmed`)."""
    core.wait_confirmed(policies, timeout)


def sync_store(core: Any) -> bool:
    """The service's (group-committing) sync; a bare core (some tests) syncs its store itself."""
    sync = getattr(core, "sync_store", None)
    return bool(sync()) if sync is not None else bool(core.store.sync())


def handler(func: Callable[..., Any]) -> Callable[..., Response]:
    """Turn core results and exceptions into HTTP answers; nothing is answered before it is durable."""

    @functools.wraps(func)
    def wrapper(self: "CoreController", req: Request, **kwargs: Any) -> Response:
        response = _answer(func, self, req, **kwargs)
        forget_query(req)
        try:
            sync_store(self.core)  # one fdatasync covers every commit since the last one
        except OSError as err:
            LOG.exception("store sync failed after %s %s", req.method, req.environ.get("PATH_INFO"))
            return error_response(500, f"the store could not make the change durable: {err}")
        return response

    return wrapper


def forget_query(req: Request) -> None:
    """Drop WebOb's parsed query (`req.GET`, which `?wait=` and `?force=` read) from the environ.

    WebOb keeps it in the environ, and it refers back to the environ: a
    reference cycle that held the request's environ, with its body (15 MB
    for a 100,000-policy POST), until the cyclic garbage collector's next
    full collection, which the controller runs seldom (`lean_gc`). Without
    the cycle, reference counting frees it when the request is done; a
    later `req.GET` parses the query again.
    """
    req.environ.pop(PARSED_QUERY_KEY, None)


def _answer(func: Callable[..., Any], self: "CoreController", req: Request, **kwargs: Any) -> Response:
    try:
        result = func(self, req, **kwargs)
    except ValidationError as err:
        return json_response(error_body(err), err.status)
    except NotFound as err:
        return error_response(404, truncate(str(err)), err.field)
    except BadMediaType as err:
        return error_response(415, truncate(str(err)), "Content-Type")
    except StoreConflict as err:  # a unique name taken by another writer between our check and our commit
        return error_response(409, truncate(f"conflict in store: {err}"), "name")
    except StoreUnavailable as err:  # e.g. etcd without quorum: nothing (or not knowingly anything) was written
        LOG.warning("store unavailable during %s %s: %s", req.method, truncate(req.environ.get("PATH_INFO", "")), err)
        return error_response(503, truncate(f"the store is unavailable: {err}"), "store")
    except Exception:  # a bug: answer JSON with an id, keep serving, log the traceback under that id
        request_id = req.environ.setdefault(REQUEST_ID_KEY, uuid.uuid4().hex[:16])
        LOG.exception("request %s: internal error in %s %s", request_id, req.method,
                      truncate(req.environ.get("PATH_INFO", "")))
        return error_response(500, f"internal error; see the controller log for request {request_id}",
                              **{"request-id": request_id})
    if isinstance(result, Response):
        return result
    return json_response(result)


class CoreController(ControllerBase):
    """A Ryu WSGI controller that reaches the QoS service (`self.core`) through its data."""

    def __init__(self, req: Request, link: Any, data: dict[str, Any], **config: Any) -> None:
        super().__init__(req, link, data, **config)
        self.core: QosService = data[CORE_KEY]
