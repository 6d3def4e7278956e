"""qospusher: manage QoS services, policies, meters and queue profiles on the controller from the shell.

The seed's command works unchanged:

    qospusher add policy '{"name": "Enqueue 2:2 s1", ...}' 127.0.0.1

and the queues the seed set up by hand with ovs-vsctl are one command:

    qospusher queue set '{"sw": "all", "port": "all", "max-rate": "10G",
                          "queues": {"0": {"max-rate": "10G"}, "1": {"max-rate": "20M"},
                                     "2": {"max-rate": "2M"}}}' 127.0.0.1

Every command talks to the controller's /qos REST API (`pusher.client`),
prints and exits through the helpers it shares with `qospath` (`pusher.cli`),
records what the controller accepted in qos.state.json (`pusher.state`),
and `sync` reconciles the two (`pusher.sync`), paths (`qospath`) included. Exit codes are the contract
for scripts: 0 ok, 1 rejected by the controller (or the step after it
failed), 2 usage or bad local input (nothing was sent), 3 unreachable.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, Callable

from qosapp.core.model import equal_ports_as_in_port

from pusher.cli import (EXIT_OK, EXIT_REJECTED, Output, PushStopped, UsageError, auth_options, compact, connect,
                        count, execute, forget_in_state, outcome, parse_json_arg, print_listing, quiet_pipe,
                        step_dict, warn_if_disabled, write_state)
from pusher.client import DEFAULT_HOST, DEFAULT_PORT, DEFAULT_TIMEOUT, ControllerError, QosClient
from pusher.state import DEFAULT_STATE_FILE, State, load_state
from pusher.sync import (Diff, diff_meters, diff_paths, diff_policies, diff_queues, diff_services,
                         normalise_queue_profile, plan_push, pulled_state, queue_key, queue_label,
                         strip_server_keys)


PLURAL = {"policy": "policies", "service": "services", "meter": "meters", "policies": "policies",
          "services": "services", "meters": "meters"}
SINGULAR = {"policies": "policy", "services": "service", "queues": "queue profile", "paths": "path",
            "meters": "meter"}


# ---------------------------------------------------------------- output


# ---------------------------------------------------------------- input


def policy_body(text: str, out: Output | None = None) -> dict[str, Any] | list[dict[str, Any]]:
    """One policy object, or a list of them (sent as one all-or-nothing POST).

    The seed's form with ingress-port == enqueue-port (its `Enqueue 1:2 s2`)
    goes out as "enqueue-port": "in_port", saying so: OpenFlow drops a packet
    sent out of its in-port, and the controller refuses the equal numbers.
    """
    body = parse_json_arg(text, "the policy")
    items = body if isinstance(body, list) else [body]
    if not items or not all(isinstance(item, dict) for item in items):
        raise UsageError("the policy must be a JSON object (or a non-empty list of objects)")
    sent = [equal_ports_as_in_port(item) for item in items]
    for before, after in zip(items, sent):
        if after is not before and out is not None:
            out.say(f"Note: policy {before.get('name')!r} has enqueue-port == ingress-port "
                    f"({before.get('enqueue-port')}); a switch drops a packet sent out of the port it came in by, "
                    'so it is sent as "enqueue-port": "in_port" (OpenFlow IN_PORT)')
    return sent if isinstance(body, list) else sent[0]


def service_body(text: str) -> dict[str, Any]:
    body = parse_json_arg(text, "the service")
    if not isinstance(body, dict):
        raise UsageError('the service must be a JSON object such as {"name": "Expedited", "dscp": "EF"}')
    return body


def meter_body(text: str) -> dict[str, Any]:
    body = parse_json_arg(text, "the meter")
    if not isinstance(body, dict):
        raise UsageError('the meter must be a JSON object such as {"name": "cap-2M", "rate": "2M", "burst": "256k"}')
    return body


def queue_body(text: str) -> dict[str, Any]:
    """One profile object; its content is the controller's to judge (exit 1 naming the field)."""
    body = parse_json_arg(text, "the queue profile")
    if not isinstance(body, dict):
        raise UsageError('the queue profile must be a JSON object such as {"sw": "all", "port": "all", '
                         '"max-rate": "10G", "queues": {"0": {}, "1": {"max-rate": "2M"}}}')
    return body


# ---------------------------------------------------------------- helpers


# ---------------------------------------------------------------- commands
def cmd_add(client: QosClient, args: argparse.Namespace, out: Output) -> int:
    kind = PLURAL[args.kind]
    body: Any = (policy_body(args.body, out) if kind == "policies" else meter_body(args.body) if kind == "meters"
                 else service_body(args.body))
    state = load_state(args.state)
    status = connect(client, out)
    out.say(f"Trying to add {args.kind} {args.body.strip()}")
    # policies: the answer waits for the switches' verdict, so the exit code can tell the truth
    answer = client.create(kind, body, confirm=kind == "policies")
    out.say(f"[CONTROLLER]: {compact(answer)}")
    views = answer if isinstance(answer, list) else [answer]
    for view in views:
        state.upsert(kind, stored_form(kind, view))
    write_state(args.state, state, out, args.kind if len(views) == 1 else f"{len(views)} {kind}")
    if kind == "policies":
        warn_if_disabled(status, out)
    out.result(answer)
    return outcome(answer, out)


def stored_form(kind: str, view: dict[str, Any]) -> dict[str, Any]:
    """What the file keeps of the controller's answer: no ids, cookies or install state."""
    if kind == "services":
        return {"name": view["name"], "dscp": view["dscp"]}
    if kind == "meters":
        return {"name": view["name"], "rate": view["rate"], "burst": view["burst"]}
    return strip_server_keys(view)


def cmd_delete(client: QosClient, args: argparse.Namespace, out: Output) -> int:
    kind = PLURAL[args.kind]
    state = load_state(args.state)
    connect(client, out)
    out.say(f"Trying to delete {args.kind} {args.name}")
    answer = client.delete(kind, args.name)
    return forget_in_state(args, out, state, kind, args.name, f"{args.kind} {args.name!r}", answer)


def cmd_modify(client: QosClient, args: argparse.Namespace, out: Output) -> int:
    body = policy_body(args.body, out)
    if not isinstance(body, dict):
        raise UsageError("modify takes one policy object (the whole new body)")
    state = load_state(args.state)
    status = connect(client, out)
    out.say(f"Trying to replace policy {args.name} with {args.body.strip()}")
    answer = client.replace("policies", args.name, body, confirm=True)
    out.say(f"[CONTROLLER]: {compact(answer)}")
    state.remove("policies", args.name)  # the body may rename it
    state.upsert("policies", stored_form("policies", answer))
    write_state(args.state, state, out, "policy")
    warn_if_disabled(status, out)
    out.result(answer)
    return outcome(answer, out)


def cmd_list(client: QosClient, args: argparse.Namespace, out: Output) -> int:
    kind = PLURAL[args.kind]
    describe = {"policies": describe_policy, "meters": describe_meter}.get(kind, describe_service)
    return print_listing(client, kind, kind, lambda item: [describe(item)], out)


def describe_meter(meter: dict[str, Any]) -> str:
    ids = ", ".join(f"{dpid}: id {info.get('meter-id', '-')} {info.get('state')}"
                    + (f" ({info['reason']})" if info.get("reason") else "")
                    for dpid, info in (meter.get("switches") or {}).items())
    users = ", ".join(meter.get("policies") or []) or "no policy"
    return (f"{meter.get('name')}: {format_rate(meter.get('rate'))}, burst {meter.get('burst')} bits; used by {users}"
            + (f"; {ids}" if ids else ""))


def describe_service(svc: dict[str, Any]) -> str:
    tos = svc.get("tos")
    tos_text = f", ToS byte {tos:#04x}" if isinstance(tos, int) else ""
    return f"{svc.get('name')}: DSCP {svc.get('dscp')}{tos_text}"


def describe_policy(view: dict[str, Any]) -> str:
    """One line: name, match, action, and where it is installed."""
    skip = {"name", "sw", "queue", "enqueue-port", "service", "priority", "id", "cookie", "install"}
    match = " ".join(f"{k}={v}" for k, v in view.items() if k not in skip) or "any"
    if view.get("queue") is not None:
        port = view.get("enqueue-port")
        action = (f"queue {view['queue']} on port {port}" if port is not None
                  else f"queue {view['queue']} on the port forwarding chooses")
    else:
        action = f"mark as service {view.get('service')!r}"
    install = view.get("install") or {}
    where = ", ".join(f"{dpid} {info.get('state')}" + (f" ({info['reason']})" if info.get("reason") else "")
                      for dpid, info in install.items()) or "no matching switch connected"
    return (f"{view.get('name')}: sw {view.get('sw')}, match {match} -> {action}, "
            f"priority {view.get('priority')} [{where}]")


def cmd_status(client: QosClient, args: argparse.Namespace, out: Output) -> int:
    status = client.status()
    out.result(status)
    state = "enabled" if status.get("enabled") else "disabled"
    out.say(f"QoS is {state} on {client.host}:{client.port}: {status.get('services')} services, "
            f"{status.get('policies')} policies, {status.get('switches')} switches")
    return EXIT_OK


def cmd_toggle(client: QosClient, args: argparse.Namespace, out: Output) -> int:
    """enable / disable: same shape, different endpoint."""
    call = client.enable if args.command == "enable" else client.disable
    out.say(f"Trying to {args.command} QoS on {client.host}:{client.port}")
    answer = call()
    out.say(f"[CONTROLLER]: {compact(answer)}")
    out.result(answer)
    word = "enabled" if answer.get("enabled") else "disabled"
    out.say(f"QoS {word}" if answer.get("changed") else f"QoS was already {word}")
    return EXIT_OK


# ---------------------------------------------------------------- queue profiles
def cmd_queue_set(client: QosClient, args: argparse.Namespace, out: Output) -> int:
    """POST one profile (the controller replaces the one for the same sw+port) and record it."""
    body = queue_body(args.body)
    state = load_state(args.state)
    connect(client, out)
    out.say(f"Trying to set queue profile {args.body.strip()}")
    answer = client.create("queues", body, force=args.force)
    out.say(f"[CONTROLLER]: {compact(answer)}")
    stored = normalise_queue_profile(answer)
    state.upsert("queues", stored, key=queue_key)
    write_state(args.state, state, out, f"queue profile {queue_label(stored)}")
    if not answer.get("applied"):
        out.say("Note: not applied to any port yet (no matching switch port is connected, "
                "or the controller runs with --no-queues); it is applied when one is.")
    say_affected(answer, out)
    out.result(answer)
    return outcome(answer, out)


def say_affected(answer: Any, out: Output) -> None:
    """A forced queue change: which policies and paths lost their queue (now missing-queue)."""
    for user in answer.get("affected", []) if isinstance(answer, dict) else []:
        kind = "policy" if "policy" in user else "path"
        out.say(f"Forced: {kind} {user.get(kind)!r} lost queue {user.get('queue')} on {user.get('dpid')} "
                f"port {user.get('port')} (now missing-queue)")


def cmd_queue_delete(client: QosClient, args: argparse.Namespace, out: Output) -> int:
    selector = {"sw": args.sw, "port": args.queue_port}
    state = load_state(args.state)
    connect(client, out)
    out.say(f"Trying to delete queue profile {queue_label(selector)}")
    answer = client.delete_matching("queues", selector, force=args.force)
    say_affected(answer, out)
    # the controller's answer is normalised: "1" and 00:..:01 find the same file entry
    return forget_in_state(args, out, state, "queues", queue_key(answer),
                           f"queue profile {queue_label(answer)}", answer, key=queue_key)


def cmd_queue_list(client: QosClient, args: argparse.Namespace, out: Output) -> int:
    return print_listing(client, "queues", "queue profiles", describe_queue_profile, out)


def format_rate(bits: Any) -> str:
    """10000000000 -> "10G", 2000000 -> "2M": exact, and accepted back by `queue set`."""
    if not isinstance(bits, int) or bits <= 0:
        return str(bits)
    for suffix, scale in (("G", 10**9), ("M", 10**6), ("k", 10**3)):
        if bits % scale == 0:
            return f"{bits // scale}{suffix}"
    return str(bits)


def describe_queues(queues: dict[str, Any]) -> str:
    """"q0 max 10G; q1 min 8M max 10M": each queue's rates (and DSCP, in old answers)."""
    parts = []
    for qid, spec in queues.items():
        rates = [f"{word} {format_rate(spec[key])}" for word, key in (("min", "min-rate"), ("max", "max-rate"))
                 if spec.get(key) is not None] or ["port rate"]
        dscp = f", DSCP {spec['dscp']}" if spec.get("dscp") is not None else ""
        parts.append(f"q{qid} {' '.join(rates)}{dscp}")
    return "; ".join(parts)


def describe_queue_profile(view: dict[str, Any]) -> list[str]:
    """A profile line (port rate, each queue's rates), then per port it shapes its state and the rates
    the port really applies (read back from tc or OVSDB)."""
    lines = [f"{queue_label(view)}: max-rate {format_rate(view.get('max-rate'))}; {describe_queues(view.get('queues') or {})}"]
    applied = view.get("applied") or {}
    for where, info in applied.items():
        details = [info[key] for key in ("reason", "note", "filter-error", "filter-note", "rates-note", "rates-error")
                   if info.get(key)]
        filters = f", {count(info['filters'], 'filter')}" if info.get("filters") else ""
        lines.append(f"  {where}: {info.get('state')}{filters}" + (f" ({'; '.join(details)})" if details else ""))
        rates = info.get("rates")
        if rates:
            lines.append(f"    applied ({rates.get('source')}): port {format_rate(rates.get('max-rate'))}; "
                         f"{describe_queues(rates.get('queues') or {})}")
    if not applied:
        lines.append("  not applied to any port (no matching switch port connected, or queues not managed)")
    return lines


# ---------------------------------------------------------------- sync
def fetch_diffs(client: QosClient, state: State, source: str) -> list[Diff]:
    """Queue profiles, services, policies and paths (push order), file against controller, normalised."""
    return [diff_queues(state.queues, client.list_all("queues"), source),
            diff_services(state.services, client.list_all("services"), source),
            diff_policies(state.policies, client.list_all("policies"), source),
            diff_paths(state.paths, client.list_all("paths"), source),
            diff_meters(state.meters, client.list_all("meters"), source)]


def cmd_sync(client: QosClient, args: argparse.Namespace, out: Output) -> int:
    if args.prune and args.action != "push":
        raise UsageError("--prune only applies to `sync push`")
    state = load_state(args.state)
    connect(client, out)
    if args.action == "pull":  # no diff: a file with invalid entries is exactly what pull repairs
        return sync_pull(state, client.list_all("services"), client.list_all("policies"),
                         client.list_all("queues"), client.list_all("paths"), args.state, out,
                         meters=client.list_all("meters"))
    diffs = fetch_diffs(client, state, args.state)
    if args.action == "check":
        return sync_check(diffs, args.state, out)
    return sync_push(client, diffs, args.prune, args.state, out)


def sync_check(diffs: list[Diff], path: str, out: Output) -> int:
    """Print the difference; exit 1 when there is one (scripts test `sync check`)."""
    in_sync = all(diff.in_sync for diff in diffs)
    out.result({"in_sync": in_sync, **{diff.kind: diff.to_dict() for diff in diffs}})
    for diff in diffs:
        print_diff(diff, path, out)
    out.say(f"{path} and the controller match" if in_sync else f"{path} and the controller differ")
    return EXIT_OK if in_sync else EXIT_REJECTED


def print_diff(diff: Diff, path: str, out: Output) -> None:
    if diff.in_sync:
        out.say(f"{diff.kind}: in sync")
        return
    out.say(f"{diff.kind}:")
    for obj in diff.missing:
        out.say(f"  + {diff.label(obj)}  (only in {path})")
    for change in diff.changed:
        out.say(f"  ~ {change.name}  ({change.describe()})")
    for obj in diff.extra:
        out.say(f"  - {diff.label(obj)}  (only on the controller)")


def sync_pull(state: State, services: list[Any], policies: list[Any], queues: list[Any], paths: list[Any],
              path: str, out: Output, meters: list[Any] | None = None) -> int:
    new_state = pulled_state(state, services, policies, queues, paths, meters)
    write_state(path, new_state, out, f"{count(len(new_state.services), 'service')}, "
                                      f"{count(len(new_state.policies), 'policy', 'policies')}, "
                                      f"{count(len(new_state.queues), 'queue profile')}, "
                                      f"{count(len(new_state.paths), 'path')} and "
                                      f"{count(len(new_state.meters), 'meter')}")
    out.result(new_state.to_json())
    return EXIT_OK


def sync_push(client: QosClient, diffs: list[Diff], prune: bool, path: str, out: Output) -> int:
    """Run the plan step by step; stop at the first refusal (re-running is safe)."""
    by_kind = {diff.kind: diff for diff in diffs}
    steps = plan_push(by_kind["services"], by_kind["policies"], prune, queues=by_kind["queues"],
                      paths=by_kind["paths"], meters=by_kind["meters"])
    done: list[dict[str, Any]] = []
    answers: list[Any] = []
    for step in steps:
        out.say(f"Trying to {step.text}")
        try:
            answer = client.request(step.method, step.path, step.body)
        except ControllerError as err:
            raise PushStopped(step, done, err) from err
        out.say(f"[CONTROLLER]: {compact(answer)}")
        done.append(step_dict(step))
        answers += answer if isinstance(answer, list) else [answer]
    out.result({"steps": done})
    extras = [f"{SINGULAR[diff.kind]} {diff.label(obj)}" for diff in diffs for obj in diff.extra]
    if not prune and extras:
        out.say(f"On the controller but not in {path} (kept; --prune deletes them): {', '.join(extras)}")
    out.say(f"Done: {count(len(steps), 'call')}; the controller matches {path}" if steps
            else f"Nothing to do: the controller matches {path}")
    return outcome(answers, out)


# ---------------------------------------------------------------- parser
def _common(parser: argparse.ArgumentParser, suppress: bool, rest_port: bool = True) -> None:
    """Options valid before and after the command.

    Subparsers use SUPPRESS defaults so an option given before the command
    is not overwritten by the subparser's default. `queue delete` has its
    own --port (the switch port, as in the REST body), so there the REST
    port can only be given before the command (`rest_port=False`).
    """
    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value
    if rest_port:
        parser.add_argument("--port", type=int, default=default(DEFAULT_PORT),
                            help=f"controller REST port (default {DEFAULT_PORT})")
    parser.add_argument("--state", metavar="FILE", default=default(DEFAULT_STATE_FILE),
                        help=f"local state file (default ./{DEFAULT_STATE_FILE})")
    parser.add_argument("--json", action="store_true", default=default(False),
                        help="machine output: one JSON document on stdout")
    parser.add_argument("--timeout", type=float, default=default(DEFAULT_TIMEOUT),
                        help=f"seconds to wait for the controller (default {DEFAULT_TIMEOUT:g})")
    auth_options(parser, default)



def _host(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("host", nargs="?", default=DEFAULT_HOST,
                        help=f"controller address (default {DEFAULT_HOST})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qospusher", description="Manage QoS services, policies and queue profiles on the qos-sdn controller.",
        epilog="exit codes: 0 ok, 1 rejected by the controller, 2 usage error, 3 controller unreachable")
    _common(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, func: Callable[..., int], help_text: str) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        _common(cmd, suppress=True)
        cmd.set_defaults(func=func)
        return cmd

    add = command("add", cmd_add, "add a policy, service or meter (the JSON as in the seed)")
    add.add_argument("kind", choices=["policy", "service", "meter"])
    add.add_argument("body", metavar="JSON")
    _host(add)
    delete = command("delete", cmd_delete, "delete a policy, service or meter by name")
    delete.add_argument("kind", choices=["policy", "service", "meter"])
    delete.add_argument("name", metavar="NAME")
    _host(delete)
    modify = command("modify", cmd_modify, "replace a policy's whole body")
    modify.add_argument("kind", choices=["policy"])
    modify.add_argument("name", metavar="NAME")
    modify.add_argument("body", metavar="JSON")
    _host(modify)
    lister = command("list", cmd_list, "list policies, services or meters on the controller")
    lister.add_argument("kind", choices=["policies", "services", "meters", "policy", "service", "meter"])
    _host(lister)
    for name, help_text in (("enable", "enable QoS (install all policies)"),
                            ("disable", "disable QoS (remove all QoS flows)")):
        _host(command(name, cmd_toggle, help_text))
    _host(command("status", cmd_status, "show whether QoS is enabled and what is stored"))
    _queue_commands(sub)
    sync = command("sync", cmd_sync, "push: controller := file; pull: file := controller; check: show the difference")
    sync.add_argument("action", choices=["push", "pull", "check"])
    sync.add_argument("--prune", action="store_true", help="push: also delete what the file does not have")
    _host(sync)
    return parser


def _queue_commands(sub: Any) -> None:
    """`queue set JSON`, `queue list`, `queue delete [--sw SW] [--port PORT]`, each with [HOST]."""
    help_text = "set, list or delete queue profiles (a port's rate and its HTB queues)"
    queue = sub.add_parser("queue", help=help_text, description=help_text)
    _common(queue, suppress=True)
    actions = queue.add_subparsers(dest="queue_action", metavar="ACTION", required=True)

    def action(name: str, func: Callable[..., int], help_text: str, rest_port: bool = True) -> argparse.ArgumentParser:
        cmd = actions.add_parser(name, help=help_text, description=help_text)
        _common(cmd, suppress=True, rest_port=rest_port)
        cmd.set_defaults(func=func)
        return cmd

    setter = action("set", cmd_queue_set, "add or replace the profile for its sw+port")
    setter.add_argument("body", metavar="JSON")
    setter.add_argument("--force", action="store_true",
                        help="replace it even if live policies or paths lose a queue by it (they become missing-queue)")
    _host(setter)
    _host(action("list", cmd_queue_list, "list profiles and where they are applied"))
    delete = action("delete", cmd_queue_delete,
                    "delete the profile for SW and PORT (here --port is the switch port; "
                    "give the REST port before the command: qospusher --port 8080 queue delete ...)",
                    rest_port=False)
    delete.add_argument("--sw", default="all", help="'all' or a dpid (default all)")
    delete.add_argument("--port", dest="queue_port", default="all", metavar="PORT",
                        help="switch port: 'all', a number or a name (default all)")
    delete.add_argument("--force", action="store_true",
                        help="delete it even if live policies or paths use its queues (they become missing-queue)")
    _host(delete)


# ---------------------------------------------------------------- main
def run(argv: list[str] | None = None, out: Output | None = None) -> int:
    """Parse, run, and map every failure to its exit code and message."""
    args = build_parser().parse_args(argv)  # argparse itself exits 2 on usage errors
    return execute(args, out or Output(), "qospusher")


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point (`qospusher`)."""
    return quiet_pipe(run, argv)


if __name__ == "__main__":
    sys.exit(main())
