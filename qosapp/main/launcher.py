"""`qos-controller`: parse our options, close the eventlet gap, run Ryu's manager.

Our options are ours (argparse, `--help` that names them); Ryu's manager
gets only the arguments it knows (WSGI and OpenFlow listen addresses).
"""
from __future__ import annotations

import argparse
import os
import sys

from qosapp.main.config import DEFAULT_OVSDB, SETTINGS, default_state_dir


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qos-controller",
        description="qos-sdn controller: Ryu OpenFlow 1.0/1.3 app with the QoS REST service.")
    parser.add_argument("--state-dir", default=default_state_dir(),
                        help="directory of the durable store (default: %(default)s)")
    parser.add_argument("--rest-host", default="127.0.0.1", help="REST bind address (default: %(default)s)")
    parser.add_argument("--rest-port", type=int, default=8080, help="REST port (default: %(default)s)")
    parser.add_argument("--ofp-host", default="0.0.0.0", help="OpenFlow listen address (default: %(default)s)")
    parser.add_argument("--ofp-port", type=int, default=6653, help="OpenFlow listen port (default: %(default)s)")
    parser.add_argument("--ovsdb", default=os.environ.get("QOS_OVSDB", DEFAULT_OVSDB),
                        help="OVSDB remote for queues, e.g. unix:/var/run/openvswitch/db.sock or "
                             "tcp:127.0.0.1:6640 (default: %(default)s)")
    parser.add_argument("--no-queues", action="store_true",
                        help="do not manage OVS queues over OVSDB (flows only)")
    parser.add_argument("--forwarding", choices=["learned", "normal"], default="learned",
                        help="learned (default): shortest paths over the discovered topology, loop-safe; "
                             "normal: the switches' own L2 learning (loop-free networks only)")
    parser.add_argument("--verbose", action="store_true", help="Ryu debug logging")
    return parser


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

    import qosapp.main.compat  # noqa: F401  (before anything imports ryu.app.wsgi)
    from ryu.cmd import manager

    ryu_argv = ["--wsapi-host", args.rest_host, "--wsapi-port", str(args.rest_port),
                "--ofp-listen-host", args.ofp_host, "--ofp-tcp-listen-port", str(args.ofp_port)]
    if args.verbose:
        ryu_argv.append("--verbose")
    # LLDP link discovery (ryu.topology.switches) feeds the topology graph
    ryu_argv += ["--observe-links", "ryu.topology.switches", "qosapp.ofp.app"]
    sys.argv = ["qos-controller", *ryu_argv]
    manager.main(args=ryu_argv)


if __name__ == "__main__":
    main()
