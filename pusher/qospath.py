"""qospath: QoS along the route between two hosts, from the shell.

    qospath add "h1-h2 2M" --src 10.0.0.1 --dst 10.0.0.2 --queue 2 --protocol tcp
    qospath list
    qospath delete "h1-h2 2M"

The seed's qospath.py computed nothing itself: it was handed a route, pushed
one policy per switch, one way, and deleted by substring match of the name
(so deleting "p1" also took "p10"). Here the controller owns the route: it
knows the topology, picks the hops (both directions by default), installs
per-hop flows under one cookie, and re-routes when links change. This CLI
only names the two hosts and the action, records what the controller
accepted in qos.state.json (its "paths" list, written atomically) and
deletes by the exact name.

Same contract as qospusher, whose client, state file and error mapping it
shares: exit 0 ok, 1 refused by the controller, 2 usage or bad local input
(nothing was sent), 3 controller unreachable. `qospusher sync` covers paths.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, Callable

from qosapp.core.model import ValidationError, parse_name
from qosapp.core.pathspec import BOTH, DIRECTIONS, INSTALLED, parse_path

from pusher.client import DEFAULT_HOST, DEFAULT_PORT, DEFAULT_TIMEOUT, QosClient
from pusher.cli import (Output, UsageError, auth_options, compact, connect, execute, forget_in_state, outcome,
                        print_listing, quiet_pipe, warn_if_disabled, write_state)
from pusher.state import DEFAULT_STATE_FILE, load_state
from pusher.sync import normalise_path_view

PROG = "qospath"
#: protocol names a user types; anything else must be a number (parse_path checks 0-255)
PROTOCOL_NAMES = {"icmp": 1, "tcp": 6, "udp": 17}
PROTOCOL_LABELS = {number: name for name, number in PROTOCOL_NAMES.items()}


# ---------------------------------------------------------------- input
def protocol_arg(text: str) -> int | str:
    """tcp / udp / icmp by name, else the text as given (parse_path judges the number)."""
    return PROTOCOL_NAMES.get(text.strip().lower(), text)


def path_body(args: argparse.Namespace) -> dict[str, Any]:
    """The POST body: the options as a path, validated and normalised locally.

    Only shape is checked here (addresses, numbers, one action); whether
    the service exists or the hosts are known is the controller's call.
    Sending `PathSpec.to_dict()` means the file and the controller hold
    the same form.
    """
    body: dict[str, Any] = {"name": args.name, "src": args.src, "dst": args.dst, "direction": args.direction}
    for key, value in (("protocol", args.protocol), ("src-port", args.src_port), ("dst-port", args.dst_port),
                       ("queue", args.queue), ("service", args.service), ("priority", args.priority)):
        if value is not None:
            body[key] = value
    try:
        return parse_path(body).to_dict()
    except ValidationError as err:
        raise UsageError(f"{err.field}: {err.reason}") from None


def path_name(text: str) -> str:
    """The exact name, trimmed as the controller trims it; never a pattern."""
    try:
        return parse_name(text)
    except ValidationError as err:
        raise UsageError(f"name: {err.reason}") from None


# ---------------------------------------------------------------- commands
def cmd_add(client: QosClient, args: argparse.Namespace, out: Output) -> int:
    """POST the path; record it only once the controller accepted it."""
    body = path_body(args)
    state = load_state(args.state)
    status = connect(client, out)
    out.say(f"Trying to add path {compact(body)}")
    answer = client.create("paths", body)
    out.say(f"[CONTROLLER]: {compact(answer)}")
    stored = normalise_path_view(answer) if isinstance(answer, dict) else body
    state.upsert("paths", stored)
    write_state(args.state, state, out, f"path {stored['name']!r}")
    if isinstance(answer, dict):
        for line in describe_path(answer):
            out.say(line)
    warn_if_disabled(status, out, "paths")
    out.result(answer)
    return outcome(answer, out)


def cmd_delete(client: QosClient, args: argparse.Namespace, out: Output) -> int:
    """DELETE by the exact name; the file loses that entry and no other."""
    name = path_name(args.name)
    state = load_state(args.state)
    connect(client, out)
    out.say(f"Trying to delete path {name}")
    answer = client.delete("paths", name)
    return forget_in_state(args, out, state, "paths", name, f"path {name!r}", answer)


def cmd_list(client: QosClient, args: argparse.Namespace, out: Output) -> int:
    return print_listing(client, "paths", "paths", describe_path, out)


# ---------------------------------------------------------------- output
def switch_label(dpid: Any) -> str:
    """"00:00:00:00:00:00:00:01" -> "s1", Mininet's name for that dpid."""
    try:
        return f"s{int(str(dpid).replace(':', ''), 16)}"
    except ValueError:
        return str(dpid)


def format_hops(hops: list[dict[str, Any]]) -> str:
    """"s1:1->2 s2:2->3": each switch, the port the packet enters by and the one it leaves by."""
    return " ".join(f"{switch_label(hop.get('dpid'))}:{hop.get('in-port')}->{hop.get('out-port')}" for hop in hops)


def describe_match(view: dict[str, Any]) -> str:
    """"10.0.0.1 -> 10.0.0.2 tcp dst-port 5001"."""
    protocol = view.get("protocol")
    words = [f"{view.get('src')} -> {view.get('dst')}"]
    if protocol is not None:
        words.append(PROTOCOL_LABELS.get(protocol, f"protocol {protocol}"))
    words += [f"{key} {view[key]}" for key in ("src-port", "dst-port") if view.get(key) is not None]
    return " ".join(words)


def describe_state(view: dict[str, Any]) -> str:
    """"installed", "pending: why", or "routed, flows not on the switches" when QoS is off.

    The status says whether the route is settled; the view's "installed"
    says whether its flows are on the switches (not while QoS is disabled).
    """
    status = view.get("status") or {}
    state = status.get("state", "unknown")
    if status.get("reason"):
        return f"{state}: {status['reason']}"
    if state == INSTALLED and view.get("installed") is False:
        return "routed; flows not on the switches (is QoS enabled?)"
    return state


def describe_path(view: dict[str, Any]) -> list[str]:
    """A summary line with the state (and why, when not installed), then the hops each way."""
    action = f"queue {view['queue']}" if view.get("queue") is not None else f"service {view.get('service')!r}"
    direction = "both ways" if view.get("direction", BOTH) == BOTH else "forward only"
    status = view.get("status") or {}
    lines = [f"{view.get('name')}: {describe_match(view)}, {action}, {direction}, "
             f"priority {view.get('priority')} [{describe_state(view)}]"]
    if status.get("hops"):
        lines.append(f"  forward: {format_hops(status['hops'])}")
    if status.get("reverse-hops"):
        lines.append(f"  reverse: {format_hops(status['reverse-hops'])}")
    return lines


# ---------------------------------------------------------------- parser
def _common(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """Options valid before and after the command (SUPPRESS keeps a value given before it)."""
    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value
    parser.add_argument("-c", "--controller", dest="host", metavar="CONTROLLER", default=default(DEFAULT_HOST),
                        help=f"controller address (default {DEFAULT_HOST})")
    parser.add_argument("-p", "--port", type=int, default=default(DEFAULT_PORT),
                        help=f"controller REST port (default {DEFAULT_PORT})")
    parser.add_argument("--state", metavar="FILE", default=default(DEFAULT_STATE_FILE),
                        help=f"local state file (default ./{DEFAULT_STATE_FILE})")
    parser.add_argument("--json", action="store_true", default=default(False),
                        help="machine output: one JSON document on stdout")
    parser.add_argument("--timeout", type=float, default=default(DEFAULT_TIMEOUT),
                        help=f"seconds to wait for the controller (default {DEFAULT_TIMEOUT:g})")
    auth_options(parser, default)


def _add_options(add: argparse.ArgumentParser) -> None:
    """What a path is: two hosts, an optional L4 match, one action, which way(s)."""
    add.add_argument("name", metavar="NAME")
    add.add_argument("--src", required=True, metavar="IP", help="source host's IPv4 or IPv6 address")
    add.add_argument("--dst", required=True, metavar="IP", help="destination host's address (the family of --src)")
    action = add.add_mutually_exclusive_group(required=True)
    action.add_argument("--queue", metavar="N", help="enqueue on every hop's out port to queue N")
    action.add_argument("--service", metavar="NAME", help="mark with the service's DSCP")
    add.add_argument("--protocol", type=protocol_arg, metavar="tcp|udp|N", help="IP protocol (name or number)")
    add.add_argument("--src-port", metavar="N", help="L4 source port (needs --protocol tcp or udp)")
    add.add_argument("--dst-port", metavar="N", help="L4 destination port (needs --protocol tcp or udp)")
    add.add_argument("--direction", choices=DIRECTIONS, default=BOTH,
                     help="both (default: the reverse traffic too, on the same cables) or forward")
    add.add_argument("--priority", metavar="N", help="flow priority (default the controller's)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="QoS along the controller-computed route between two hosts.",
        epilog="exit codes: 0 ok, 1 rejected by the controller, 2 usage error, 3 controller unreachable")
    _common(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, func: Callable[..., int], help_text: str) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        _common(cmd, suppress=True)
        cmd.set_defaults(func=func)
        return cmd

    _add_options(command("add", cmd_add, "add a path; the controller finds the route and installs it"))
    command("delete", cmd_delete, "delete the path with exactly this name").add_argument("name", metavar="NAME")
    command("list", cmd_list, "list paths with their state and hops")
    return parser


# ---------------------------------------------------------------- main
def run(argv: list[str] | None = None, out: Output | None = None) -> int:
    """Parse and run; exit codes as qospusher (argparse itself exits 2 on usage errors)."""
    args = build_parser().parse_args(argv)
    return execute(args, out or Output(), PROG)


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point (`qospath`)."""
    return quiet_pipe(run, argv)


if __name__ == "__main__":
    sys.exit(main())
