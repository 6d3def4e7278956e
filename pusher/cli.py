"""What both CLI commands (`qospusher`, `qospath`) share: exit codes, output, errors, the run wrapper.

One exit-code contract for scripts: 0 ok, 1 rejected by the controller (or
the step after it failed), 2 usage or bad local input (nothing was sent),
3 unreachable. `execute` maps every failure to it; `Output` prints the
seed's chatty lines, or one JSON document with --json. Imports no server
code (only `pusher.client`, `pusher.state`, `pusher.sync`).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, TextIO

from pusher.client import ControllerError, QosClient, Unreachable, read_token
from pusher.state import Key, State, StateError, entry_name, save_state
from pusher.sync import LocalEntryError, Step

EXIT_OK = 0


EXIT_REJECTED = 1


EXIT_USAGE = 2


EXIT_UNREACHABLE = 3


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


def parse_json_arg(text: str, what: str) -> Any:
    """Decode a JSON argument, with a hint for the blog's curly quotes."""
    try:
        return json.loads(text)
    except ValueError as err:
        hint = ""
        if any(q in text for q in TYPOGRAPHIC_QUOTES):
            hint = ' (it contains typographic quotes such as \u201c \u201d \u2033; JSON needs straight quotes ")'
        raise UsageError(f"{what} is not valid JSON: {err}{hint}") from None


def connect(client: QosClient, out: Output) -> dict[str, Any]:
    """Probe /qos/status first, like the seed's connect phase, and say what is there."""
    out.say(f"Trying to connect to {client.host}:{client.port} ...")
    status = client.status()
    state = "enabled" if status.get("enabled") else "disabled"
    out.say(f"Connected to: {client.host}:{client.port} (QoS {state}; {status.get('services')} services, "
            f"{status.get('policies')} policies, {status.get('switches')} switches)")
    return status


def warn_if_disabled(status: dict[str, Any], out: Output, what: str = "policies") -> None:
    if not status.get("enabled"):
        out.say(f"Note: QoS is disabled on the controller; {what} are stored but installed only "
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


def forget_in_state(args: argparse.Namespace, out: Output, state: State, kind: str, ident: Any,
                    label: str, answer: Any, key: Key = entry_name) -> int:
    """After the controller deleted it: drop the entry from the state file, or say it was not there."""
    out.say(f"[CONTROLLER]: {compact(answer)}")
    if state.remove(kind, ident, key=key):
        write_state(args.state, state, out, f"removal of {label}")
    else:
        out.say(f"{label} was not in {args.state}; file unchanged")
    out.result(answer)
    return EXIT_OK


def print_listing(client: QosClient, kind: str, label: str, describe: Callable[[Any], list[str]],
                  out: Output) -> int:
    """GET a collection; --json prints it whole, otherwise a few lines per item (exit 1 if any failed)."""
    items = client.list_all(kind)
    out.result(items)
    if not items:
        out.say(f"(no {label} on {client.host}:{client.port})")
    for item in items:
        for line in describe(item):
            out.say(line)
    return outcome(items, out)


# ---------------------------------------------------------------- failed states in an answer
#: states in a controller's answer that mean "not done there": a switch rejected a flow or the
#: controller would not send it (error), a queue is not on its port (missing-queue for a
#: policy on one switch, missing-queues for a path), a queue profile could not be applied (error)
FAILED_STATES = frozenset({"error", "missing-queue", "missing-queues"})


def failures(answer: Any) -> list[str]:
    """One line per switch or port whose state in `answer` is a failure, naming it and why.

    Reads the three places the controller reports per-switch or per-port
    outcomes: a policy's or path's `install` ({dpid: state}), a path's
    `status`, a queue profile's `applied` ({"dpid/port": state}); `answer`
    may be one view or a list of them.
    """
    lines: list[str] = []
    items = answer if isinstance(answer, list) else [answer]
    for item in items:
        if not isinstance(item, dict):
            continue
        label = (f"{item['name']!r}" if isinstance(item.get("name"), str)
                 else f"queue profile {item.get('sw')}/{item.get('port')}")
        status = item.get("status")
        if isinstance(status, dict) and status.get("state") in FAILED_STATES:
            lines.append(_failure_line(label, status))
        for key in ("install", "applied"):
            where = item.get(key)
            if isinstance(where, dict):
                lines += [_failure_line(f"{label} on {place}", state) for place, state in where.items()
                          if isinstance(state, dict) and state.get("state") in FAILED_STATES]
    return lines


def _failure_line(label: str, state: dict[str, Any]) -> str:
    return f"{label}: {state.get('state')}" + (f" ({state['reason']})" if state.get("reason") else "")


def outcome(answer: Any, out: Output) -> int:
    """The exit code for a controller answer: 1 (after printing which, on stderr) if any switch or
    port reports a failed state, else 0. Every command that shows such an answer ends here."""
    lines = failures(answer)
    for line in lines:
        print(f"[CONTROLLER] not done: {line}", file=out.err, flush=True)
    return EXIT_REJECTED if lines else EXIT_OK


def step_dict(step: Step) -> dict[str, Any]:
    return {"method": step.method, "path": step.path, "action": step.text}


def auth_options(parser: argparse.ArgumentParser, default: Callable[[Any], Any]) -> None:
    """--token-file, --https, --ca-cert: how to reach a controller that wants a token or TLS (both commands)."""
    parser.add_argument("--token-file", metavar="FILE", default=default(None),
                        help="API token file (first line); default $QOS_SDN_TOKEN if set")
    parser.add_argument("--https", action="store_true", default=default(False),
                        help="talk HTTPS to the controller (qos-controller --rest-cert)")
    parser.add_argument("--ca-cert", metavar="FILE", default=default(None),
                        help="CA or self-signed certificate to verify the controller's HTTPS certificate")


def execute(args: argparse.Namespace, out: Output, prog: str) -> int:
    """Run `args.func` and map every failure to its exit code and message.

    Shared with `qospath`, so both commands keep one exit-code contract.
    """
    out.json_mode = args.json
    try:
        token = read_token(getattr(args, "token_file", None))
    except (OSError, ValueError) as err:
        out.fail(f"{prog}: error: cannot read the token: {err}", {"error": str(err)})
        return EXIT_USAGE
    client = QosClient(args.host, args.port, args.timeout, token=token,
                       https=getattr(args, "https", False), ca_cert=getattr(args, "ca_cert", None))
    try:
        return args.func(client, args, out)
    except (UsageError, StateError, LocalEntryError) as err:
        out.fail(f"{prog}: error: {err}", {"error": str(err)})
        return EXIT_USAGE
    except Unreachable as err:
        out.fail(f"{prog}: {err}", {"error": str(err), "unreachable": True})
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
        out.fail(f"{prog}: error: {err}", {"error": str(err)})
        return EXIT_REJECTED
    finally:
        client.close()


def quiet_pipe(runner: Callable[[list[str] | None], int], argv: list[str] | None) -> int:
    """Run; a closed pipe (`qospusher list policies | head -1`) is not an error worth a traceback.

    stdout goes to /dev/null so the final flush is quiet.
    """
    try:
        return runner(argv)
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_REJECTED
