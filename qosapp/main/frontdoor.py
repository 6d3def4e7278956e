"""Security settings of the controller process: the token, the bind rule, our REST listener.

The launcher calls `configure` with its parsed arguments before Ryu starts;
`install` replaces Ryu's `wsgi.start_service` (which the manager calls once
every app is up) with one that serves the same WSGI application, its hot
routes first (`qosapp.http.hotpath`), wrapped in `qosapp.http.guard.Guard`,
on `qosapp.http.server.RestServer`.
"""
from __future__ import annotations

import ipaddress
import os
import resource
from collections.abc import Mapping
from typing import Any

from qosapp.main.config import SETTINGS

TOKEN_ENV = "QOS_SDN_TOKEN"


class StartupRefused(SystemExit):
    """A configuration the controller refuses to run with (exit 2, with the reason)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"qos-controller: {reason}")


def read_token(token_file: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    """The API token from --token-file (first line) or $QOS_SDN_TOKEN; None when neither is set."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    if token_file:
        try:
            with open(token_file, encoding="utf-8") as handle:
                token = handle.readline().strip()
        except OSError as err:
            raise StartupRefused(f"cannot read --token-file {token_file}: {err.strerror}") from None
        if not token:
            raise StartupRefused(f"--token-file {token_file} is empty")
        return token
    token = env.get(TOKEN_ENV, "").strip()
    return token or None


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(rest_host: str, token: str | None, insecure_no_token: bool) -> None:
    """Refuse a REST service reachable from the network with no token, unless told explicitly."""
    if token is None and not is_loopback(rest_host) and not insecure_no_token:
        raise StartupRefused(
            f"--rest-host {rest_host} is not a loopback address and no API token is set: anyone on the "
            f"network could change the switches. Give --token-file FILE (or ${TOKEN_ENV}), or "
            "--insecure-no-token if this really is what you want.")


def raise_fd_limit(wanted: int) -> None:
    """Enough file descriptors for the connection cap plus switches and the store."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def start_service(app_mgr: Any) -> Any:
    """Ryu's hook, ours: the WSGI application (hot routes first) behind the guard and the request metrics, on our own listener."""
    from ryu.app.wsgi import WSGIApplication

    from qosapp.http.guard import Guard, GuardConfig
    from qosapp.http.hotpath import hot_routes
    from qosapp.http.metrics import metrics_of
    from qosapp.http.server import RestServer, ServerLimits, listen

    app = next((inst for inst in app_mgr.contexts.values() if isinstance(inst, WSGIApplication)), None)
    if app is None:
        return None
    allowed = set(SETTINGS.allowed_hosts)
    if not is_loopback(SETTINGS.rest_host) and SETTINGS.rest_host not in ("0.0.0.0", "::"):
        allowed.add(SETTINGS.rest_host)
    # the hot routes (POST /qos/policies, GET and DELETE one) skip WebOb and Routes: qosapp.http.hotpath
    guard = Guard(hot_routes(app), GuardConfig(allowed_hosts=allowed, token=SETTINGS.token,
                                   token_for_reads=SETTINGS.token_for_reads, max_body=SETTINGS.max_body))
    limits = ServerLimits(max_connections=SETTINGS.max_connections, idle_timeout=SETTINGS.idle_timeout,
                          header_timeout=SETTINGS.header_timeout)
    metrics = metrics_of(app)
    served = metrics.middleware(guard) if metrics is not None else guard  # counts the guard's refusals too
    raise_fd_limit(limits.max_connections + 1024)
    sock = listen(SETTINGS.rest_host, SETTINGS.rest_port)
    return RestServer(served, sock, limits, certfile=SETTINGS.rest_cert, keyfile=SETTINGS.rest_key)


def install() -> None:
    """Make Ryu's manager start our listener instead of its own (call before manager.main)."""
    import qosapp.main.compat  # noqa: F401  (before ryu.app.wsgi)
    from ryu.app import wsgi
    wsgi.start_service = start_service
