"""HTTP client for the controller's /qos REST API (shared by qospusher and qospath).

One class, `QosClient`, that knows the URL scheme and turns the two ways a
call can fail into two exceptions: `Unreachable` (no HTTP answer at all, the
CLI's exit 3) and `ControllerError` (an HTTP answer that is not 2xx, exit 1).
It is generic over collections (`services`, `policies`, later `queues` and
`paths`) so new resources need no new client code.
"""
from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import quote

import requests

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_TIMEOUT = 10.0
API_ROOT = "/qos"
#: the API token, as the controller reads it too (qos-controller --token-file / $QOS_SDN_TOKEN)
TOKEN_ENV = "QOS_SDN_TOKEN"


class Unreachable(Exception):
    """No HTTP answer: refused, timed out, DNS failure..."""

    def __init__(self, base_url: str, reason: str) -> None:
        super().__init__(f"cannot reach controller at {base_url}: {reason}")
        self.base_url = base_url
        self.reason = reason


class ControllerError(Exception):
    """The controller answered, but not with 2xx; carries its error body.

    The controller's errors are {"error": reason, "field": name} (plus
    "index" for a bulk POST); anything else (an HTML 500 page) is kept as
    text in `reason`.
    """

    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.body = body
        if isinstance(body, dict):
            self.reason = str(body.get("error", body))
            self.field: str | None = body.get("field")
            self.index: int | None = body.get("index")
        else:
            self.reason = str(body).strip()[:500] or f"HTTP {status}"
            self.field = None
            self.index = None
        where = f" (field {self.field!r})" if self.field else ""
        super().__init__(f"controller rejected the request: HTTP {status}: {self.reason}{where}")

    def to_dict(self) -> dict[str, Any]:
        """Machine form for --json: the controller's body plus the status."""
        out: dict[str, Any] = {"status": self.status, "error": self.reason}
        if self.field is not None:
            out["field"] = self.field
        if self.index is not None:
            out["index"] = self.index
        return out


def base_url(host: str, port: int, scheme: str = "http") -> str:
    """http://HOST:PORT, with brackets for a bare IPv6 address."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


def read_token(token_file: str | None = None, environ: Any = None) -> str | None:
    """The API token from a file (first line) or $QOS_SDN_TOKEN; None when neither is set.

    An unreadable or empty file is an error (OSError/ValueError): sending no
    token when the user named one would fail later with a confusing 401.
    """
    environ = os.environ if environ is None else environ
    if token_file:
        with open(token_file, encoding="utf-8") as handle:
            token = handle.readline().strip()
        if not token:
            raise ValueError(f"token file {token_file} is empty")
        return token
    return environ.get(TOKEN_ENV, "").strip() or None


def collection_path(kind: str) -> str:
    """/qos/<kind>, e.g. /qos/policies."""
    return f"{API_ROOT}/{kind}"


def item_path(kind: str, name: str) -> str:
    """/qos/<kind>/<name>; names hold spaces and colons, so quote everything."""
    return f"{collection_path(kind)}/{quote(name, safe='')}"


def short_reason(exc: requests.RequestException) -> str:
    """The useful tail of a requests error ("[Errno 111] Connection refused").

    requests wraps urllib3 wraps socket errors; its message repeats the URL
    and class names, which is noise next to our own "cannot reach ..." text.
    """
    text = str(exc)
    found = re.findall(r"\[Errno -?\d+\] [^'\")]+", text)
    if found:
        return found[-1].strip()
    if isinstance(exc, requests.Timeout):
        return "timed out"
    return text


class QosClient:
    """The controller's REST API as Python calls that return decoded JSON."""

    def __init__(self, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                 timeout: float = DEFAULT_TIMEOUT, token: str | None = None,
                 https: bool = False, ca_cert: str | None = None) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.base_url = base_url(host, port, "https" if https else "http")
        self.session = requests.Session()
        # The controller is addressed directly: an HTTP(S)_PROXY meant for the
        # web must not reroute (or break) calls to a switch controller.
        self.session.trust_env = False
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"
        if ca_cert:
            self.session.verify = ca_cert

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> "QosClient":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # ------------------------------------------------------------ transport
    def request(self, method: str, path: str, body: Any = None) -> Any:
        """One call; returns the decoded JSON answer (None for an empty body).

        Raises Unreachable when no HTTP answer came, ControllerError for
        any non-2xx status.
        """
        kwargs: dict[str, Any] = {"timeout": self.timeout}
        if body is not None:
            kwargs["json"] = body
        try:
            response = self.session.request(method, self.base_url + path, **kwargs)
        except requests.RequestException as exc:
            raise Unreachable(self.base_url, short_reason(exc)) from exc
        answer = _decode(response)
        if not 200 <= response.status_code < 300:
            raise ControllerError(response.status_code, answer)
        return answer

    # ------------------------------------------------------------ switch-wide
    def status(self) -> dict[str, Any]:
        return self.request("GET", f"{API_ROOT}/status")

    def enable(self) -> dict[str, Any]:
        return self.request("POST", f"{API_ROOT}/enable")

    def disable(self) -> dict[str, Any]:
        return self.request("POST", f"{API_ROOT}/disable")

    # ------------------------------------------------------------ collections
    def list_all(self, kind: str) -> list[dict[str, Any]]:
        return self.request("GET", collection_path(kind))

    def get(self, kind: str, name: str) -> dict[str, Any]:
        return self.request("GET", item_path(kind, name))

    def create(self, kind: str, body: Any, confirm: bool = False, force: bool = False) -> Any:
        """POST one object (or, for policies, a list: all-or-nothing).

        `confirm`: answer once the switches confirmed or rejected the flows
        (`?wait=confirm`); `force`: go ahead although live policies or paths
        lose their queue by it (`?force=true`, queue profiles).
        """
        return self.request("POST", collection_path(kind) + _query(confirm, force), body)

    def replace(self, kind: str, name: str, body: Any, confirm: bool = False) -> dict[str, Any]:
        return self.request("PUT", item_path(kind, name) + _query(confirm, False), body)

    def delete(self, kind: str, name: str) -> Any:
        return self.request("DELETE", item_path(kind, name))

    def delete_matching(self, kind: str, selector: dict[str, Any], force: bool = False) -> Any:
        """DELETE on the collection, the body naming the item (queue profiles are keyed by sw+port, not a name)."""
        return self.request("DELETE", collection_path(kind) + _query(False, force), selector)


def _query(confirm: bool, force: bool) -> str:
    """"?wait=confirm&force=true", the parts asked for, or ""."""
    parts = (["wait=confirm"] if confirm else []) + (["force=true"] if force else [])
    return "?" + "&".join(parts) if parts else ""


def _decode(response: requests.Response) -> Any:
    """JSON if the body is JSON, else the text (error pages, proxies)."""
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text
