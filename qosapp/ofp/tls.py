"""OpenFlow over TLS that serves more than one switch.

Ryu 4.34's TLS listener (`ryu.lib.hub.StreamServer` with ssl arguments) pops
the certificate, key and context out of its arguments on the first
connection, so every later switch fails with "certfile must be specified"
(seen with OVS `ssl:` controllers). This listener builds one context at
start and wraps each accepted connection in its own greenthread, with a
handshake timeout, then hands it to Ryu's datapath factory as before.
Installed by the launcher only when --ofp-cert is given.
"""
from __future__ import annotations

import logging
import ssl
from typing import Any

import eventlet
from eventlet.green import ssl as green_ssl

LOG = logging.getLogger("qosapp.ofp.tls")
HANDSHAKE_TIMEOUT = 10.0


def make_context(cert: str, key: str, ca: str | None) -> ssl.SSLContext:
    """TLS 1.2+, our certificate; with a CA, switches must present a certificate it signed."""
    ctx = green_ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    if ca:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(ca)
    return ctx


def server_loop(self: Any, ofp_tcp_listen_port: int, ofp_ssl_listen_port: int) -> None:
    """Replacement for `OpenFlowController.server_loop` when Ryu's ctl-cert/ctl-privkey are set."""
    from ryu import cfg
    from ryu.controller.controller import datapath_connection_factory
    from ryu.lib import hub

    conf = cfg.CONF
    ctx = make_context(conf.ctl_cert, conf.ctl_privkey, conf.ca_certs)

    def handle(sock: Any, addr: Any) -> None:
        try:
            with eventlet.Timeout(HANDSHAKE_TIMEOUT, ssl.SSLError("handshake timed out")):
                tls = ctx.wrap_socket(sock, server_side=True)
        except (OSError, ssl.SSLError) as err:
            LOG.warning("OpenFlow TLS connection from %s refused: %s", addr, err)
            sock.close()
            return
        datapath_connection_factory(tls, addr)

    LOG.info("OpenFlow over TLS on %s:%s%s", conf.ofp_listen_host, ofp_ssl_listen_port,
             " (switch certificates required)" if conf.ca_certs else "")
    hub.StreamServer((conf.ofp_listen_host, ofp_ssl_listen_port), handle).serve_forever()


def install() -> None:
    from ryu.controller.controller import OpenFlowController
    OpenFlowController.server_loop = server_loop
