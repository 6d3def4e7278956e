"""`qos-controller`: parse our options, close the eventlet gap, run Ryu's manager.

Our options are ours (argparse, `--help` that names them); Ryu's manager
gets only the arguments it knows (WSGI and OpenFlow listen addresses).
"""
from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
from typing import Any

from qosapp.main.config import DEFAULT_OVSDB, SETTINGS, default_state_dir

#: the cyclic GC's thresholds (Python's: 700, 10, 10): young collections every 10,000 container
#: allocations (net of frees), full ones considered after 100 middle collections instead of 10
GC_THRESHOLDS = (10_000, 10, 100)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qos-controller",
        description="qos-sdn controller: Ryu OpenFlow 1.0/1.3 app with the QoS REST service.")
    parser.add_argument("--state-dir", default=default_state_dir(),
                        help="directory of the durable store (default: %(default)s)")
    parser.add_argument("--rest-host", default="127.0.0.1", help="REST bind address (default: %(default)s)")
    parser.add_argument("--rest-port", type=int, default=8080, help="REST port (default: %(default)s)")
    parser.add_argument("--ofp-host", default="127.0.0.1",
                        help="OpenFlow listen address (default: %(default)s; 0.0.0.0 for switches on other hosts)")
    parser.add_argument("--ofp-port", type=int, default=6653, help="OpenFlow listen port (default: %(default)s)")
    parser.add_argument("--ovsdb", default=os.environ.get("QOS_OVSDB", DEFAULT_OVSDB),
                        help="OVSDB remote for queues, e.g. unix:/var/run/openvswitch/db.sock or "
                             "tcp:127.0.0.1:6640 (default: %(default)s)")
    parser.add_argument("--no-queues", action="store_true",
                        help="do not manage OVS queues over OVSDB (flows only)")
    parser.add_argument("--forwarding", choices=["learned", "normal"], default="learned",
                        help="learned (default): shortest paths over the discovered topology, loop-safe; "
                             "normal: the switches' own L2 learning (loop-free networks only)")
    parser.add_argument("--lldp-gap", type=float, default=0.01,
                        help="seconds between two LLDP frames the link discovery sends (default: %(default)s; "
                             "Ryu's own is 0.05). Each port still gets one at most every 0.9 s; the gap "
                             "bounds how long one round over all ports takes: ~500 ports, 5 s instead of 25 s")
    parser.add_argument("--store", default="sqlite",
                        help="sqlite (default: qos.db in --state-dir) or etcd://host:port[,host:port...]: "
                             "a cluster of instances sharing one etcd (README, Cluster)")
    parser.add_argument("--member-id", default="",
                        help="this instance's name in a cluster (default: <hostname>:<rest-port>)")
    parser.add_argument("--lease-ttl", type=int, default=2,
                        help="cluster: seconds without a lease refresh before this instance's switches move "
                             "to the others (default: %(default)s)")
    parser.add_argument("--verbose", action="store_true", help="Ryu debug logging")
    add_security_options(parser)
    return parser


def add_security_options(parser: argparse.ArgumentParser) -> None:
    """The front door's options (README, "Security model")."""
    sec = parser.add_argument_group("security (see README, Security model)")
    sec.add_argument("--token-file", help="API token file (first line); or set $QOS_SDN_TOKEN. "
                                          "With a token every write needs 'Authorization: Bearer <token>'")
    sec.add_argument("--token-for-reads", action="store_true",
                     help="also require the token for reads (the web page files and /qos/openapi.json stay open)")
    sec.add_argument("--insecure-no-token", action="store_true",
                     help="allow a non-loopback --rest-host without a token (anyone who reaches it can write)")
    sec.add_argument("--rest-allowed-host", action="append", default=[], metavar="NAME[:PORT]",
                     help="a Host name clients may use besides the loopback names (repeatable)")
    sec.add_argument("--rest-cert", help="serve REST over HTTPS with this certificate (PEM)")
    sec.add_argument("--rest-key", help="private key (PEM) of --rest-cert")
    sec.add_argument("--max-body", type=int, default=16 * 1024 * 1024,
                     help="largest request body in bytes, else 413 (default: %(default)s)")
    sec.add_argument("--max-connections", type=int, default=500,
                     help="REST connections at once; past it the longest-idle are closed (default: %(default)s)")
    sec.add_argument("--idle-timeout", type=float, default=30.0,
                     help="seconds a REST connection may sit idle (default: %(default)s)")
    sec.add_argument("--header-timeout", type=float, default=10.0,
                     help="seconds a request head may take to arrive (default: %(default)s)")
    sec.add_argument("--ofp-allow-dpid", action="append", default=[], metavar="DPID",
                     help="admit only these switches over OpenFlow (repeatable; others are refused and logged)")
    sec.add_argument("--ofp-cert", help="OpenFlow over TLS: the controller's certificate (PEM)")
    sec.add_argument("--ofp-key", help="OpenFlow over TLS: the controller's private key (PEM)")
    sec.add_argument("--ofp-ca", help="OpenFlow over TLS: CA certificate(s) switches must be signed by")


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    SETTINGS.state_dir = args.state_dir
    SETTINGS.rest_host = args.rest_host
    SETTINGS.rest_port = args.rest_port
    SETTINGS.ofp_host = args.ofp_host
    SETTINGS.ofp_port = args.ofp_port
    SETTINGS.ovsdb = args.ovsdb
    SETTINGS.manage_queues = not args.no_queues
    SETTINGS.forwarding = args.forwarding
    configure_store(args)
    ofp_tls = configure_security(args)

    import qosapp.main.compat  # noqa: F401  (before anything imports ryu.app.wsgi)
    from ryu.cmd import manager

    from qosapp.main import frontdoor
    frontdoor.install()
    if args.ofp_cert:
        from qosapp.ofp import tls
        tls.install()
    ryu_argv = ["--wsapi-host", args.rest_host, "--wsapi-port", str(args.rest_port),
                "--ofp-listen-host", args.ofp_host, *ofp_tls]
    if args.verbose:
        ryu_argv.append("--verbose")
    # LLDP link discovery (ryu.topology.switches) feeds the topology graph; a cluster forwards by
    # NORMAL and a slave may not send LLDP (see configure_store)
    if SETTINGS.store == "sqlite":
        ryu_argv.append("--observe-links")
        from ryu.topology import switches  # Ryu's own pacing: a class constant, no option for it
        switches.Switches.LLDP_SEND_GUARD = max(0.001, args.lldp_gap)
        # Ryu's own host tracking is not used (the core learns hosts from packet-ins itself), and it
        # walks every link for every packet-in (`Switches._is_edge_port`): on the 100-switch fabric
        # after a restart that was a fifth of the controller's CPU. Left out: a plain function carries
        # no `set_ev_cls` mark, so Ryu registers no handler for it.
        switches.Switches.host_discovery_packet_in_handler = _no_host_discovery
    ryu_argv += ["ryu.topology.switches", "qosapp.ofp.app"]
    sys.argv = ["qos-controller", *ryu_argv]
    lean_logging()
    lean_gc()
    manager.main(args=ryu_argv)


def lean_logging() -> None:
    """Log records without the caller's file and line, thread and process names.

    Ryu's handlers print ``%(message)s`` only, so those lookups (a stack walk
    per record) were spent on every access-log line for nothing; the logging
    HOWTO's "Optimization" section names these switches.
    """
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None


def lean_gc() -> None:
    """The cyclic garbage collector runs less often (GC_THRESHOLDS); only reference cycles wait longer.

    A 20,000-policy bulk POST allocates some 400,000 container objects that
    survive (policies, matches, install states, index tuples, the answer's
    views). With Python's thresholds that was ~600 young and ~60 middle
    collections and 3-4 full ones, each full one walking the whole heap
    (~270,000 objects, 0.05-0.2 s each): ~0.25 s of the request's ~0.9 s of CPU.
    At (10,000, 10, 100) it is ~45 young and ~4 middle collections, and a
    full one only every ~10 million allocations. Everything not in a cycle
    is still freed at once by reference counting; what the young
    collections find (the requests' short-lived cycles) is freed as before.
    """
    gc.set_threshold(*GC_THRESHOLDS)


def _no_host_discovery(self: Any, ev: Any) -> None:
    """Stands in for `ryu.topology.switches.Switches.host_discovery_packet_in_handler` (see `main`)."""


def configure_store(args: argparse.Namespace) -> None:
    """--store and the cluster options into SETTINGS; refuse what a cluster cannot do."""
    import socket

    from qosapp.main import frontdoor

    if args.store == "sqlite":
        SETTINGS.store = "sqlite"
        return
    from qosapp.adapters.etcdstore import parse_url  # etcd3gw and requests load only for a cluster

    try:
        parse_url(args.store)
    except ValueError as err:
        raise frontdoor.StartupRefused(f"--store: {err}") from None
    if args.forwarding != "normal":
        raise frontdoor.StartupRefused(
            "--store etcd needs --forwarding normal: learned forwarding and QoS paths need the whole "
            "topology, and each instance of a cluster sees only the switches it masters (README, Cluster)")
    if not 1 <= args.lease_ttl <= 60:
        raise frontdoor.StartupRefused("--lease-ttl: 1-60 seconds")
    SETTINGS.store = args.store
    SETTINGS.member_id = args.member_id or f"{socket.gethostname()}:{args.rest_port}"
    SETTINGS.lease_ttl = args.lease_ttl


def configure_security(args: argparse.Namespace) -> list[str]:
    """Fill SETTINGS' front-door fields, refuse unsafe combinations; Ryu's OpenFlow listen arguments."""
    from qosapp.main import frontdoor
    from qosapp.core.model import ValidationError, parse_dpid

    SETTINGS.token = frontdoor.read_token(args.token_file)
    frontdoor.check_bind(args.rest_host, SETTINGS.token, args.insecure_no_token)
    if args.token_for_reads and not SETTINGS.token:
        raise frontdoor.StartupRefused("--token-for-reads needs a token (--token-file or $QOS_SDN_TOKEN)")
    if bool(args.rest_cert) != bool(args.rest_key):
        raise frontdoor.StartupRefused("--rest-cert and --rest-key go together")
    SETTINGS.token_for_reads = args.token_for_reads
    SETTINGS.allowed_hosts = list(args.rest_allowed_host)
    SETTINGS.rest_cert, SETTINGS.rest_key = args.rest_cert, args.rest_key
    SETTINGS.max_body = args.max_body
    SETTINGS.max_connections = args.max_connections
    SETTINGS.idle_timeout = args.idle_timeout
    SETTINGS.header_timeout = args.header_timeout
    allow = set()
    for text in args.ofp_allow_dpid:
        try:
            allow.add(parse_dpid(text, "--ofp-allow-dpid"))
        except ValidationError as err:
            raise frontdoor.StartupRefused(f"--ofp-allow-dpid {text!r}: {err.reason}") from None
    SETTINGS.ofp_allow = allow
    if bool(args.ofp_cert) != bool(args.ofp_key):
        raise frontdoor.StartupRefused("--ofp-cert and --ofp-key go together")
    if args.ofp_cert:
        tls = ["--ctl-privkey", args.ofp_key, "--ctl-cert", args.ofp_cert,
               "--ofp-ssl-listen-port", str(args.ofp_port)]
        return tls + (["--ca-certs", args.ofp_ca] if args.ofp_ca else [])
    return ["--ofp-tcp-listen-port", str(args.ofp_port)]


if __name__ == "__main__":
    main()
