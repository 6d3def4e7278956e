"""qospusher: manage QoS services and policies on the controller from the shell.

The seed's command works unchanged:

    qospusher add policy '{"name": "Enqueue 2:2 s1", ...}' 127.0.0.1

Every command talks to the controller's /qos REST API (`pusher.client`),
records what the controller accepted in qos.state.json (`pusher.state`),
and `sync` reconciles the two (`pusher.sync`). Exit codes are the contract
for scripts: 0 ok, 1 rejected by the controller (or the step after it
failed), 2 usage or bad local input (nothing was sent), 3 unreachable.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, TextIO

from pusher.client import DEFAULT_HOST, DEFAULT_PORT, DEFAULT_TIMEOUT, ControllerError, QosClient, Unreachable
from pusher.state import DEFAULT_STATE_FILE, State, StateError, load_state, save_state
from pusher.sync import (Diff, LocalEntryError, Step, diff_policies, diff_services, plan_push, pulled_state,
                         strip_server_keys)

EXIT_OK = 0
EXIT_REJECTED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3

PLURAL = {"policy": "policies", "service": "services", "policies": "policies", "services": "services"}
TYPOGRAPHIC_QUOTES = "\u201c\u201d\u201e\u2033\u2018\u2019\u2032"


class UsageError(Exception):
    """Bad command-line input; reported before anything is sent (exit 2)."""


class PushStopped(Exception):
    """`sync push` stopped at a refused step; earlier steps stay done (exit 1).

    Re-running is safe: the next push plans from the controller's new state.
    """

    def __init__(self, step: "Step", done: list[dict[str, Any]], cause: ControllerError) -> None:
        self.step = step
        self.done = done
        self.cause = cause
        item = ""
        if cause.index is not None and isinstance(step.body, list) and cause.index < len(step.body):
            item = f" (policy {step.body[cause.index].get('name')!r})"
        where = f" (field {cause.field!r})" if cause.field else ""
        super().__init__(f"[CONTROLLER] refused to {step.text}: HTTP {cause.status}: {cause.reason}{where}{item}; "
                         f"{count(len(done), 'earlier call')} succeeded")

    def to_dict(self) -> dict[str, Any]:
        return {**self.cause.to_dict(), "failed": step_dict(self.step), "steps": self.done}


class StateWriteError(Exception):
    """The controller accepted, but qos.state.json could not be written (exit 1)."""


# ---------------------------------------------------------------- output
@dataclass
class Output:
    """Human lines in the seed's chatty style, or one JSON document with --json."""

    json_mode: bool = False
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)

    def say(self, text: str) -> None:
        """A progress line; silent in --json mode so stdout stays parseable."""
        if not self.json_mode:
            print(text, file=self.out, flush=True)

    def result(self, obj: Any) -> None:
        """The command's machine-readable result (--json only)."""
        if self.json_mode:
            print(json.dumps(obj, indent=2, ensure_ascii=False), file=self.out, flush=True)

    def fail(self, message: str, obj: dict[str, Any]) -> None:
        """An error: JSON on stdout with --json, else a line on stderr."""
        if self.json_mode:
            print(json.dumps(obj, ensure_ascii=False), file=self.out, flush=True)
        else:
            print(message, file=self.err, flush=True)


def compact(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def count(number: int, noun: str, plural: str | None = None) -> str:
    """"1 policy", "2 policies"."""
    return f"{number} {noun if number == 1 else plural or noun + 's'}"


# ---------------------------------------------------------------- input
def parse_json_arg(text: str, what: str) -> Any:
    """Decode a JSON argument, with a hint for the blog's curly quotes."""
    try:
        return json.loads(text)
    except ValueError as err:
        hint = ""
        if any(q in text for q in TYPOGRAPHIC_QUOTES):
            hint = ' (it contains typographic quotes such as \u201c \u201d \u2033; JSON needs straight quotes ")'
        raise UsageError(f"{what} is not valid JSON: {err}{hint}") from None


def policy_body(text: str) -> dict[str, Any] | list[dict[str, Any]]:
    """One policy object, or a list of them (sent as one all-or-nothing POST)."""
    body = parse_json_arg(text, "the policy")
    items = body if isinstance(body, list) else [body]
    if not items or not all(isinstance(item, dict) for item in items):
        raise UsageError("the policy must be a JSON object (or a non-empty list of objects)")
    return body


def service_body(text: str) -> dict[str, Any]:
    body = parse_json_arg(text, "the service")
    if not isinstance(body, dict):
        raise UsageError('the service must be a JSON object such as {"name": "Expedited", "dscp": "EF"}')
    return body


# ---------------------------------------------------------------- helpers
def connect(client: QosClient, out: Output) -> dict[str, Any]:
    """Probe /qos/status first, like the seed's connect phase, and say what is there."""
    out.say(f"Trying to connect to {client.host}:{client.port} ...")
    status = client.status()
    state = "enabled" if status.get("enabled") else "disabled"
    out.say(f"Connected to: {client.host}:{client.port} (QoS {state}; {status.get('services')} services, "
            f"{status.get('policies')} policies, {status.get('switches')} switches)")
    return status


def warn_if_disabled(status: dict[str, Any], out: Output) -> None:
    if not status.get("enabled"):
        out.say("Note: QoS is disabled on the controller; policies are stored but installed only "
                "after `qospusher enable`.")


def write_state(path: str, state: State, out: Output, what: str) -> None:
    """Save after the controller accepted, and show the file as the seed did."""
    out.say(f"Writing {what} to {path}")
    try:
        save_state(path, state)
    except OSError as err:
        raise StateWriteError(f"the controller accepted, but writing {path} failed: {err}; "
                              f"run `qospusher sync pull` to rewrite it") from None
    out.say(state.dumps().rstrip("\n"))


# ---------------------------------------------------------------- commands
def cmd_add(client: QosClient, args: argparse.Namespace, out: Output) -> int:
    kind = PLURAL[args.kind]
    body: Any = policy_body(args.body) if kind == "policies" else service_body(args.body)
    state = load_state(args.state)
    status = connect(client, out)
    out.say(f"Trying to add {args.kind} {args.body.strip()}")
    answer = client.create(kind, body)
    out.say(f"[CONTROLLER]: {compact(answer)}")
    views = answer if isinstance(answer, list) else [answer]
    for view in views:
        state.upsert(kind, stored_form(kind, view))
    write_state(args.state, state, out, args.kind if len(views) == 1 else f"{len(views)} {kind}")
    if kind == "policies":
        warn_if_disabled(status, out)
    out.result(answer)
    return EXIT_OK


def stored_form(kind: str, view: dict[str, Any]) -> dict[str, Any]:
    """What the file keeps of the controller's answer: no ids, cookies or install state."""
    if kind == "services":
        return {"name": view["name"], "dscp": view["dscp"]}
    return strip_server_keys(view)


def cmd_delete(client: QosClient, args: argparse.Namespace, out: Output) -> int:
    kind = PLURAL[args.kind]
    state = load_state(args.state)
    connect(client, out)
    out.say(f"Trying to delete {args.kind} {args.name}")
    answer = client.delete(kind, args.name)
    out.say(f"[CONTROLLER]: {compact(answer)}")
    if state.remove(kind, args.name):
        write_state(args.state, state, out, f"removal of {args.kind} {args.name!r}")
    else:
        out.say(f"{args.kind} {args.name!r} was not in {args.state}; file unchanged")
    out.result(answer)
    return EXIT_OK


def cmd_modify(client: QosClient, args: argparse.Namespace, out: Output) -> int:
    body = policy_body(args.body)
    if not isinstance(body, dict):
        raise UsageError("modify takes one policy object (the whole new body)")
    state = load_state(args.state)
    status = connect(client, out)
    out.say(f"Trying to replace policy {args.name} with {args.body.strip()}")
    answer = client.replace("policies", args.name, body)
    out.say(f"[CONTROLLER]: {compact(answer)}")
    state.remove("policies", args.name)  # the body may rename it
    state.upsert("policies", stored_form("policies", answer))
    write_state(args.state, state, out, "policy")
    warn_if_disabled(status, out)
    out.result(answer)
    return EXIT_OK


def cmd_list(client: QosClient, args: argparse.Namespace, out: Output) -> int:
    kind = PLURAL[args.kind]
    items = client.list_all(kind)
    out.result(items)
    if not items:
        out.say(f"(no {kind} on {client.host}:{client.port})")
    for item in items:
        out.say(describe_policy(item) if kind == "policies" else describe_service(item))
    return EXIT_OK


def describe_service(svc: dict[str, Any]) -> str:
    tos = svc.get("tos")
    tos_text = f", ToS byte {tos:#04x}" if isinstance(tos, int) else ""
    return f"{svc.get('name')}: DSCP {svc.get('dscp')}{tos_text}"


def describe_policy(view: dict[str, Any]) -> str:
    """One line: name, match, action, and where it is installed."""
    skip = {"name", "sw", "queue", "enqueue-port", "service", "priority", "id", "cookie", "install"}
    match = " ".join(f"{k}={v}" for k, v in view.items() if k not in skip) or "any"
    if view.get("queue") is not None:
        action = f"queue {view['queue']} on port {view.get('enqueue-port')}"
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


# ---------------------------------------------------------------- sync
def fetch_diffs(client: QosClient, state: State, source: str) -> tuple[Diff, Diff]:
    """Services and policies, file against controller (normalised on both sides)."""
    return (diff_services(state.services, client.list_all("services"), source),
            diff_policies(state.policies, client.list_all("policies"), source))


def cmd_sync(client: QosClient, args: argparse.Namespace, out: Output) -> int:
    if args.prune and args.action != "push":
        raise UsageError("--prune only applies to `sync push`")
    state = load_state(args.state)
    connect(client, out)
    if args.action == "pull":  # no diff: a file with invalid entries is exactly what pull repairs
        return sync_pull(state, client.list_all("services"), client.list_all("policies"), args.state, out)
    svc_diff, pol_diff = fetch_diffs(client, state, args.state)
    if args.action == "check":
        return sync_check(svc_diff, pol_diff, args.state, out)
    return sync_push(client, svc_diff, pol_diff, args.prune, args.state, out)


def sync_check(svc_diff: Diff, pol_diff: Diff, path: str, out: Output) -> int:
    """Print the difference; exit 1 when there is one (scripts test `sync check`)."""
    in_sync = svc_diff.in_sync and pol_diff.in_sync
    out.result({"in_sync": in_sync, "services": svc_diff.to_dict(), "policies": pol_diff.to_dict()})
    for diff in (svc_diff, pol_diff):
        print_diff(diff, path, out)
    out.say(f"{path} and the controller match" if in_sync else f"{path} and the controller differ")
    return EXIT_OK if in_sync else EXIT_REJECTED


def print_diff(diff: Diff, path: str, out: Output) -> None:
    if diff.in_sync:
        out.say(f"{diff.kind}: in sync")
        return
    out.say(f"{diff.kind}:")
    for obj in diff.missing:
        out.say(f"  + {obj['name']}  (only in {path})")
    for change in diff.changed:
        out.say(f"  ~ {change.name}  ({change.describe()})")
    for obj in diff.extra:
        out.say(f"  - {obj['name']}  (only on the controller)")


def sync_pull(state: State, services: list[Any], policies: list[Any], path: str, out: Output) -> int:
    new_state = pulled_state(state, services, policies)
    write_state(path, new_state, out, f"{count(len(new_state.services), 'service')} and "
                                      f"{count(len(new_state.policies), 'policy', 'policies')}")
    out.result(new_state.to_json())
    return EXIT_OK


def sync_push(client: QosClient, svc_diff: Diff, pol_diff: Diff, prune: bool, path: str, out: Output) -> int:
    """Run the plan step by step; stop at the first refusal (re-running is safe)."""
    steps = plan_push(svc_diff, pol_diff, prune)
    done: list[dict[str, Any]] = []
    for step in steps:
        out.say(f"Trying to {step.text}")
        try:
            answer = client.request(step.method, step.path, step.body)
        except ControllerError as err:
            raise PushStopped(step, done, err) from err
        out.say(f"[CONTROLLER]: {compact(answer)}")
        done.append(step_dict(step))
    out.result({"steps": done})
    if not prune and (svc_diff.extra or pol_diff.extra):
        names = ", ".join(o["name"] for o in [*pol_diff.extra, *svc_diff.extra])
        out.say(f"On the controller but not in {path} (kept; --prune deletes them): {names}")
    out.say(f"Done: {count(len(steps), 'call')}; the controller matches {path}" if steps
            else f"Nothing to do: the controller matches {path}")
    return EXIT_OK


def step_dict(step: Step) -> dict[str, Any]:
    return {"method": step.method, "path": step.path, "action": step.text}


# ---------------------------------------------------------------- parser
def _common(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """Options valid before and after the command.

    Subparsers use SUPPRESS defaults so an option given before the command
    is not overwritten by the subparser's default.
    """
    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value
    parser.add_argument("--port", type=int, default=default(DEFAULT_PORT),
                        help=f"controller REST port (default {DEFAULT_PORT})")
    parser.add_argument("--state", metavar="FILE", default=default(DEFAULT_STATE_FILE),
                        help=f"local state file (default ./{DEFAULT_STATE_FILE})")
    parser.add_argument("--json", action="store_true", default=default(False),
                        help="machine output: one JSON document on stdout")
    parser.add_argument("--timeout", type=float, default=default(DEFAULT_TIMEOUT),
                        help=f"seconds to wait for the controller (default {DEFAULT_TIMEOUT:g})")


def _host(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("host", nargs="?", default=DEFAULT_HOST,
                        help=f"controller address (default {DEFAULT_HOST})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qospusher", description="Manage QoS services and policies on the qos-sdn controller.",
        epilog="exit codes: 0 ok, 1 rejected by the controller, 2 usage error, 3 controller unreachable")
    _common(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, func: Callable[..., int], help_text: str) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        _common(cmd, suppress=True)
        cmd.set_defaults(func=func)
        return cmd

    add = command("add", cmd_add, "add a policy or service (the JSON as in the seed)")
    add.add_argument("kind", choices=["policy", "service"])
    add.add_argument("body", metavar="JSON")
    _host(add)
    delete = command("delete", cmd_delete, "delete a policy or service by name")
    delete.add_argument("kind", choices=["policy", "service"])
    delete.add_argument("name", metavar="NAME")
    _host(delete)
    modify = command("modify", cmd_modify, "replace a policy's whole body")
    modify.add_argument("kind", choices=["policy"])
    modify.add_argument("name", metavar="NAME")
    modify.add_argument("body", metavar="JSON")
    _host(modify)
    lister = command("list", cmd_list, "list policies or services on the controller")
    lister.add_argument("kind", choices=["policies", "services", "policy", "service"])
    _host(lister)
    for name, help_text in (("enable", "enable QoS (install all policies)"),
                            ("disable", "disable QoS (remove all QoS flows)")):
        _host(command(name, cmd_toggle, help_text))
    _host(command("status", cmd_status, "show whether QoS is enabled and what is stored"))
    sync = command("sync", cmd_sync, "push: controller := file; pull: file := controller; check: show the difference")
    sync.add_argument("action", choices=["push", "pull", "check"])
    sync.add_argument("--prune", action="store_true", help="push: also delete what the file does not have")
    _host(sync)
    return parser


# ---------------------------------------------------------------- main
def run(argv: list[str] | None = None, out: Output | None = None) -> int:
    """Parse, run, and map every failure to its exit code and message."""
    args = build_parser().parse_args(argv)  # argparse itself exits 2 on usage errors
    out = out or Output()
    out.json_mode = args.json
    client = QosClient(args.host, args.port, args.timeout)
    try:
        return args.func(client, args, out)
    except (UsageError, StateError, LocalEntryError) as err:
        out.fail(f"qospusher: error: {err}", {"error": str(err)})
        return EXIT_USAGE
    except Unreachable as err:
        out.fail(f"qospusher: {err}", {"error": str(err), "unreachable": True})
        return EXIT_UNREACHABLE
    except ControllerError as err:
        out.fail(f"[CONTROLLER] rejected it (HTTP {err.status}): {err.reason}"
                 + (f" (field {err.field!r})" if err.field else "")
                 + (f" (item #{err.index} of the list)" if err.index is not None else ""), err.to_dict())
        return EXIT_REJECTED
    except PushStopped as err:
        out.fail(str(err), err.to_dict())
        return EXIT_REJECTED
    except StateWriteError as err:
        out.fail(f"qospusher: error: {err}", {"error": str(err)})
        return EXIT_REJECTED
    finally:
        client.close()


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point (`qospusher`).

    A closed pipe (`qospusher list policies | head -1`) is not an error
    worth a traceback; stdout goes to /dev/null so the final flush is quiet.
    """
    try:
        return run(argv)
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_REJECTED


if __name__ == "__main__":
    sys.exit(main())
