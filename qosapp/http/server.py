"""The REST listener: our own accept loop, connections served by `qosapp.http.protocol`.

Why not Ryu's `WSGIServer`: it runs `eventlet.wsgi.server` with its defaults,
a pool of 1,024 greenthreads and no timeouts, so 1,100 idle connections (or
one slow client per greenthread) leave no greenthread for anyone else, and
its HTTP parsing costs more CPU per request than the controller's own work
(see `qosapp.http.protocol`). This loop adds what a hostile network needs:

- an idle timeout (no request line within it: the connection is closed) and
  a header timeout (the request head must arrive within it);
- a connection cap; when it is reached, the connections idle the longest are
  shed first, so a new client is served; only if every connection is busy
  does the newcomer get a 503;
- optional HTTPS (certificate + key), the handshake done in the connection's
  own greenthread under the header timeout, never in the accept loop;
- tracebacks never sent to clients (eventlet's ``debug`` off).

The application is wrapped in `qosapp.http.guard.Guard`.
"""
from __future__ import annotations

import errno
import logging
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any, Callable

import eventlet
from eventlet import greenio
from eventlet.green import ssl as green_ssl

from qosapp.http import protocol

LOG = logging.getLogger(__name__)

IDLE, BUSY, CLOSED = "idle", "request", "close"


@dataclass
class ServerLimits:
    max_connections: int = 500
    #: seconds a connection may wait for its next request line
    idle_timeout: float = 30.0
    #: seconds the request head (line + headers, TLS handshake) may take once it started
    header_timeout: float = 10.0
    #: seconds any single socket read or write of a body may block
    io_timeout: float = 60.0


class Connection:
    """One client socket and what the shedding needs to know about it."""

    __slots__ = ("sock", "addr", "state", "since")

    def __init__(self, sock: Any, addr: Any) -> None:
        self.sock = sock
        self.addr = addr
        self.state = IDLE
        self.since = time.monotonic()

    def mark(self, state: str) -> None:
        self.state = state
        self.since = time.monotonic()

    def shed(self) -> None:
        """Wake the connection's reader with EOF; its greenthread closes it."""
        self.state = CLOSED
        greenio.shutdown_safe(self.sock)


class RestServer:
    """Serve `app` on `sock` until killed (Ryu's manager spawns `__call__`)."""

    def __init__(self, app: Callable[..., Any], sock: Any, limits: ServerLimits | None = None,
                 certfile: str | None = None, keyfile: str | None = None) -> None:
        self.app = app
        self.sock = sock
        self.limits = limits or ServerLimits()
        self.tls: ssl.SSLContext | None = None
        if certfile:
            ctx = green_ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.load_cert_chain(certfile, keyfile)
            self.tls = ctx
        self.connections: dict[int, Connection] = {}
        self.shed_total = 0
        self.shed_logged = 0.0
        self.pool = eventlet.GreenPool(self.limits.max_connections + 16)
        self.base_environ = protocol.base_environ(sock, https=self.tls is not None)

    def __call__(self) -> None:
        self.serve_forever()

    def serve_forever(self) -> None:
        LOG.info("REST listening on %s (%s, at most %d connections)", self.sock.getsockname(),
                 "https" if self.tls else "http", self.limits.max_connections)
        while True:
            try:
                client, addr = self.sock.accept()
            except OSError as err:
                if err.errno in (errno.EMFILE, errno.ENFILE):
                    LOG.warning("out of file descriptors; shedding idle REST connections")
                    self.shed_idle(max(1, len(self.connections) // 10))
                    eventlet.sleep(0.05)
                    continue
                if err.errno in (errno.EPIPE, errno.EBADF, errno.ECONNRESET, errno.ECONNABORTED):
                    continue
                raise
            if len(self.connections) >= self.limits.max_connections:
                if not self.shed_idle(len(self.connections) - self.limits.max_connections + 1):
                    self.refuse(client)
                    continue
            conn = Connection(client, addr)
            self.connections[id(client)] = conn  # counted now, not when its greenthread first runs
            self.pool.spawn_n(self.handle, conn)

    def shed_idle(self, count: int) -> int:
        """Close up to `count` idle connections, the longest idle first; how many went."""
        idle = sorted((c for c in self.connections.values() if c.state == IDLE), key=lambda c: c.since)
        for conn in idle[:count]:
            conn.shed()
            self.connections.pop(id(conn.sock), None)
        shed = min(count, len(idle))
        self.shed_total += shed
        now = time.monotonic()
        if shed and now - self.shed_logged >= 1.0:  # one line a second, not one per connection
            LOG.warning("REST connection cap %d reached: %d idle connection(s) closed so far",
                        self.limits.max_connections, self.shed_total)
            self.shed_logged = now
        return shed

    @staticmethod
    def refuse(client: Any) -> None:
        """Every connection is busy: a short 503, no greenthread spent."""
        body = b'{"error": "too many connections; try again", "field": "connection"}'
        try:
            client.settimeout(1.0)
            client.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                           b"Connection: close\r\nRetry-After: 1\r\nContent-Length: %d\r\n\r\n%s"
                           % (len(body), body))
        except OSError:
            pass
        finally:
            client.close()

    def handle(self, conn: Connection) -> None:
        raw = client = conn.sock
        addr = conn.addr
        try:
            client.settimeout(self.limits.io_timeout)
            if self.tls is not None:
                conn.state = BUSY  # a handshake in progress is not idle
                with eventlet.Timeout(self.limits.header_timeout, socket.timeout("TLS handshake too slow")):
                    client = self.tls.wrap_socket(raw, server_side=True)
                self.connections.pop(id(raw), None)
                conn.sock = client
                self.connections[id(client)] = conn
            self.serve(conn, protocol.Connection(self.app, client, addr, self.base_environ))
        except (OSError, ssl.SSLError) as err:
            LOG.debug("REST connection %s ended: %s", addr, err)
        finally:
            self.connections.pop(id(raw), None)
            self.connections.pop(id(client), None)
            try:
                greenio.shutdown_safe(client)
                client.close()
            except OSError:
                pass


    def serve(self, conn: Connection, http: protocol.Connection) -> None:
        """Requests on one connection until it closes, idles out or is shed.

        The idle timeout runs while the connection waits for the first byte of
        its next request; the header timeout bounds the whole request head from
        there (a client dribbling its head byte by byte is cut off at it).
        """
        limits = self.limits
        while conn.state != CLOSED:
            conn.mark(IDLE)
            waiting = self.next_request(conn, http)
            if not waiting or conn.state == CLOSED:
                return  # EOF, idle too long, or shed
            conn.mark(BUSY)
            try:
                if head_buffered(waiting):  # all of it is in memory: reading it cannot block, no timer needed
                    head = protocol.read_head(http.rfile)
                else:
                    with eventlet.Timeout(limits.header_timeout, socket.timeout("request head too slow")):
                        head = protocol.read_head(http.rfile)
                if head is None or not http.one(head):
                    return
            except protocol.Refused as err:
                http.refuse(err)
                return
            except (OSError, ssl.SSLError):
                raise  # the connection's end: `handle` logs it at debug level
            except Exception:  # noqa: BLE001  (a bug here must not kill the listener or reach the client)
                LOG.exception("REST connection %s: unexpected error", conn.addr)
                return

    def next_request(self, conn: Connection, http: protocol.Connection) -> bytes:
        """What the connection has buffered once its next request begins; b"" at EOF or after the idle timeout.

        The wait is bounded by the socket's own timeout, set to the idle
        timeout for it (one timer per wait instead of that and an
        `eventlet.Timeout`), then back to the I/O timeout for the request.
        """
        sock = conn.sock
        sock.settimeout(self.limits.idle_timeout)
        try:
            return bytes(http.rfile.peek(1))
        except socket.timeout:
            return b""
        except ssl.SSLError as err:  # eventlet's TLS sockets time out with SSLError("timed out")
            if "timed out" in str(err):
                return b""
            raise
        finally:
            sock.settimeout(self.limits.io_timeout)


def head_buffered(data: bytes) -> bool:
    """Does `data` (the start of a request) hold its whole head? (Leading empty lines: no, to be safe.)"""
    return not data.startswith((b"\r", b"\n")) and b"\r\n\r\n" in data


def listen(host: str, port: int) -> Any:
    """A green listening socket; IPv6 when the host is an IPv6 address."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return eventlet.listen((host.strip("[]"), port), family=family, backlog=1024)
