"""HTTP/1.1 on one client connection: read a request head, call the WSGI app, write its answer.

Why not eventlet's `wsgi.HttpProtocol` (what Ryu's `WSGIServer` uses): it is
`http.server.BaseHTTPRequestHandler` underneath, which parses every request
head with the `email` package, builds the environ through several layers and
writes an access-log line through a file wrapper. That is ~0.4 ms of CPU per
request on this project's 2-core machine, more than the controller spends
validating, storing and compiling a policy. This module does the same job
for the requests a REST API gets, directly:

- request line and headers read with one buffered reader, limits checked
  while reading (line 8 KiB → 414, header line 8 KiB / 100 headers / 64 KiB
  head → 431, malformed → 400, anything but HTTP/1.0 or 1.1 → 505), every
  refusal a JSON body naming the field, then the connection is closed;
- request smuggling refused: both Content-Length and Transfer-Encoding,
  conflicting Content-Lengths, a transfer coding other than chunked, a header
  name with white space before the colon, obsolete line folding;
- the body through eventlet's `wsgi.Input` (Content-Length or chunked, and
  ``100 Continue`` when the client asked for it, as curl does for large bodies);
- keep-alive as HTTP/1.1 says (1.0: only with ``Connection: keep-alive``); an
  answer without Content-Length gets one (the app's body is bytes in memory);
  a body the app did not read is discarded before the next request;
- the environ has what PEP 3333 and eventlet put there (``RAW_PATH_INFO``,
  ``PATH_INFO`` percent-decoded to latin-1, ``CONTENT_TYPE`` ``text/plain``
  when absent), so the guard, WebOb and Ryu's router see what they saw before;
- one access-log line per request (``qosapp.http.access``), as before.

Timeouts and the connection cap stay in `qosapp.http.server`, which calls
`serve` once per accepted connection.
"""
from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, Callable, Iterable
from urllib.parse import unquote

import eventlet
from eventlet.wsgi import Input

ACCESS = logging.getLogger("qosapp.http.access")

MAX_REQUEST_LINE = 8192
MAX_HEADER_LINE = 8192
MAX_HEADERS = 100
MAX_HEAD = 65536
#: bytes of an unread request body we read and drop to keep the connection; more: close it
MAX_DISCARD = 1 << 20
#: answers at most this big go out in one write with their head
ONE_WRITE = 65536
VERSIONS = ("HTTP/1.1", "HTTP/1.0")
NO_BODY_STATUS = (204, 304)
REASONS = {400: "Bad Request", 408: "Request Timeout", 414: "URI Too Long",
           431: "Request Header Fields Too Large", 501: "Not Implemented",
           505: "HTTP Version Not Supported"}


class Refused(Exception):
    """A request head this server will not pass on: (status, reason, field)."""

    def __init__(self, status: int, error: str, field: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.field = field


class Head:
    """A parsed request head."""

    __slots__ = ("method", "target", "version", "headers")

    def __init__(self, method: str, target: str, version: str, headers: list[tuple[str, str]]) -> None:
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers


def parse_request_line(line: bytes) -> tuple[str, str, str]:
    """(method, target, version) of ``GET /x HTTP/1.1\\r\\n``, or Refused."""
    if len(line) > MAX_REQUEST_LINE:
        raise Refused(414, f"request line over {MAX_REQUEST_LINE} bytes", "request-line")
    text = line.decode("latin-1").rstrip("\r\n")
    parts = text.split(" ")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise Refused(400, "malformed request line (want METHOD TARGET HTTP/1.1)", "request-line")
    method, target, version = parts
    if not method.isalpha() or not method.isupper():
        raise Refused(400, f"malformed method {method[:20]!r}", "request-line")
    if version not in VERSIONS:
        if version.startswith("HTTP/"):
            raise Refused(505, f"{version[:20]} is not supported (HTTP/1.1 or HTTP/1.0)", "request-line")
        raise Refused(400, "malformed request line (want METHOD TARGET HTTP/1.1)", "request-line")
    return method, target, version


def parse_header_line(line: bytes) -> tuple[str, str]:
    text = line.decode("latin-1").rstrip("\r\n")
    if text[:1] in (" ", "\t"):
        raise Refused(400, "obsolete header line folding is not accepted", "headers")
    name, sep, value = text.partition(":")
    if not sep or not name or name != name.strip() or " " in name or "\t" in name:
        raise Refused(400, f"malformed header line {text[:40]!r}", "headers")
    return name, value.strip(" \t")


def read_head(rfile: Any) -> Head | None:
    """The next request head on the connection; None at a clean end (EOF before a request)."""
    line = rfile.readline(MAX_REQUEST_LINE + 1)
    for _ in range(4):  # RFC 9112 2.2: ignore a few empty lines before a request line
        if line not in (b"\r\n", b"\n"):
            break
        line = rfile.readline(MAX_REQUEST_LINE + 1)
    if not line:
        return None
    if not line.endswith(b"\n") and len(line) <= MAX_REQUEST_LINE:
        return None  # the client went away mid-line
    method, target, version = parse_request_line(line)
    headers: list[tuple[str, str]] = []
    size = 0
    while True:
        line = rfile.readline(MAX_HEADER_LINE + 1)
        if len(line) > MAX_HEADER_LINE:
            raise Refused(431, f"a header line over {MAX_HEADER_LINE} bytes", "headers")
        if line in (b"\r\n", b"\n"):
            return Head(method, target, version, headers)
        if not line or not line.endswith(b"\n"):
            return None  # the head never ended: the client went away
        size += len(line)
        if size > MAX_HEAD or len(headers) >= MAX_HEADERS:
            raise Refused(431, f"request head over {MAX_HEADERS} headers or {MAX_HEAD} bytes", "headers")
        headers.append(parse_header_line(line))


def body_framing(headers: list[tuple[str, str]]) -> tuple[str | None, bool]:
    """(Content-Length, chunked) of a request, refusing what could smuggle a second request."""
    lengths = {v for k, v in headers if k.lower() == "content-length"}
    codings = [v for k, v in headers if k.lower() == "transfer-encoding"]
    if codings:
        if lengths:
            raise Refused(400, "both Content-Length and Transfer-Encoding", "Transfer-Encoding")
        if [c.strip().lower() for c in ",".join(codings).split(",")] != ["chunked"]:
            raise Refused(501, f"transfer coding {','.join(codings)[:40]!r} (only chunked)", "Transfer-Encoding")
        return None, True
    if not lengths:
        return None, False
    if len(lengths) > 1:
        raise Refused(400, "conflicting Content-Length headers", "Content-Length")
    length = lengths.pop()
    if not length.isdigit():
        raise Refused(400, "Content-Length is not a non-negative number", "Content-Length")
    return length, False


class Writer:
    """What eventlet's Input needs to send ``100 Continue``: writelines and flush on the socket."""

    __slots__ = ("sock",)

    def __init__(self, sock: Any) -> None:
        self.sock = sock

    def writelines(self, lines: Iterable[bytes]) -> None:
        self.sock.sendall(b"".join(lines))

    def flush(self) -> None:
        pass


class Connection:
    """Requests on one socket, one after the other (see the module docstring)."""

    def __init__(self, app: Callable[..., Iterable[bytes]], sock: Any, addr: Any, base: dict[str, Any]) -> None:
        self.app = app
        self.sock = sock
        self.rfile = sock.makefile("rb", 65536)
        self.base = base
        self.remote = (str(addr[0]), str(addr[1])) if isinstance(addr, tuple) and len(addr) >= 2 else (str(addr), "")

    def refuse(self, err: Refused) -> None:
        body = json.dumps({"error": err.error, "field": err.field}).encode()
        self.sock.sendall(b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                          b"Connection: close\r\n\r\n%s"
                          % (err.status, REASONS.get(err.status, "Error").encode(), len(body), body))
        ACCESS.info('%s "-" %d %d (%s)', self.remote[0], err.status, len(body), err.error)

    def environ(self, head: Head, length: str | None, chunked: bool) -> dict[str, Any]:
        env = dict(self.base)
        path, _, query = head.target.partition("?")
        env["REQUEST_METHOD"] = head.method
        env["RAW_PATH_INFO"] = path
        env["PATH_INFO"] = unquote(path, encoding="latin-1") if "%" in path else path
        env["QUERY_STRING"] = query
        env["SERVER_PROTOCOL"] = head.version
        env["REMOTE_ADDR"], env["REMOTE_PORT"] = self.remote
        env["CONTENT_TYPE"] = "text/plain"
        for name, value in head.headers:
            key = name.upper().replace("-", "_")
            if key == "CONTENT_TYPE":
                env[key] = value
            elif key != "CONTENT_LENGTH":
                key = "HTTP_" + key
                env[key] = env[key] + "," + value if key in env else value
        if length is not None:
            env["CONTENT_LENGTH"] = length
        expect = env.get("HTTP_EXPECT", "").lower() == "100-continue"
        body = Input(self.rfile, length, self.sock, wfile=Writer(self.sock) if expect else None,
                     wfile_line=b"HTTP/1.1 100 Continue\r\n" if expect else None, chunked_input=chunked)
        env["wsgi.input"] = env["eventlet.input"] = body
        return env

    def keep_alive(self, head: Head) -> bool:
        tokens = {t.strip().lower() for k, v in head.headers if k.lower() == "connection" for t in v.split(",")}
        if head.version == "HTTP/1.1":
            return "close" not in tokens
        return "keep-alive" in tokens

    def one(self, head: Head) -> bool:
        """Answer one request; whether the connection may carry another."""
        started = time.monotonic()
        length, chunked = body_framing(head.headers)
        env = self.environ(head, length, chunked)
        body_in: Input = env["wsgi.input"]
        keep = self.keep_alive(head)
        status, headers, body = self.call(env, body_in)
        code = int(status[:3]) if status[:3].isdigit() else 500
        names = {k.lower() for k, _ in headers}
        if code in NO_BODY_STATUS or head.method == "HEAD":
            payload = b""
            if code in NO_BODY_STATUS:
                headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        else:
            payload = body
            if "content-length" not in names:
                headers.append(("Content-Length", str(len(payload))))
        if keep:
            keep = self.drain(body_in)
        if head.version == "HTTP/1.0" and keep:
            headers.append(("Connection", "keep-alive"))
        elif not keep and "connection" not in names:
            headers.append(("Connection", "close"))
        out = "".join([f"HTTP/1.1 {status}\r\n", *(f"{k}: {v}\r\n" for k, v in headers), "\r\n"]).encode("latin-1")
        if len(payload) <= ONE_WRITE:
            self.sock.sendall(out + payload)
        else:
            self.sock.sendall(out)
            self.sock.sendall(payload)
        ACCESS.info('%s "%s %s %s" %d %d %.6f', self.remote[0], head.method, head.target[:200], head.version,
                    code, len(payload), time.monotonic() - started)
        return keep

    def call(self, env: dict[str, Any], body_in: Input) -> tuple[str, list[tuple[str, str]], bytes]:
        """Run the app; its status, headers and whole body (the guard catches the app's exceptions)."""
        started: list[Any] = []
        chunks: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            if exc_info and started:
                raise exc_info[1].with_traceback(exc_info[2])
            started[:] = [status, list(headers)]
            body_in.headers_sent = [True]  # too late for a 100 Continue
            return chunks.append

        result = self.app(env, start_response)
        try:
            for chunk in result:
                if chunk:
                    chunks.append(chunk)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if not started:
            return "500 Internal Server Error", [("Content-Type", "application/json")], \
                b'{"error": "the application gave no answer"}'
        return started[0], started[1], b"".join(chunks)

    @staticmethod
    def drain(body_in: Input) -> bool:
        """Read what is left of the request body so the next request starts clean; False: close instead."""
        if not body_in.chunked_input and (body_in.content_length is None
                                          or body_in.position >= body_in.content_length):
            return True  # no body, or all of it read
        if body_in.content_length is not None and body_in.content_length - body_in.position > MAX_DISCARD:
            return False
        if body_in.should_send_hundred_continue:
            return False  # the client waits for 100 Continue before it sends: nothing to drain, close
        try:
            seen = 0
            while True:
                chunk = body_in.read(16384)
                if not chunk:
                    return True
                seen += len(chunk)
                if seen > MAX_DISCARD:
                    return False
        except (OSError, ValueError, eventlet.Timeout):
            return False


def base_environ(sock: Any, https: bool) -> dict[str, Any]:
    """What every request's environ shares on this listener."""
    name = sock.getsockname()
    env: dict[str, Any] = {
        "wsgi.version": (1, 0), "wsgi.url_scheme": "https" if https else "http", "wsgi.errors": sys.stderr,
        "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False,
        "SCRIPT_NAME": "", "GATEWAY_INTERFACE": "CGI/1.1",
        "SERVER_NAME": str(name[0]), "SERVER_PORT": str(name[1]),
    }
    if https:
        env["HTTPS"] = "on"
    return env
