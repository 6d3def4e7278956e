"""qospath's command line: parsing, local validation, exit codes, and the state file's "paths" list.

"Unreachable" is a real refused TCP connection (a bound, non-listening
loopback port). Where a controller must answer, a small HTTP server on
loopback plays the /qos/paths contract (201, 409, 404, the error shape),
so the real `QosClient` (URL quoting included) is what is tested; the real
controller is exercised in tests/integration/test_controller_cli.py.
"""
from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import unquote

import pytest

from pusher import qospusher
from pusher.qospath import (PROG, build_parser, cmd_add, cmd_delete, cmd_list, describe_path, format_hops, path_body,
                            protocol_arg, run, switch_label)
from pusher.cli import EXIT_OK, EXIT_REJECTED, EXIT_UNREACHABLE, EXIT_USAGE, Output
from pusher.state import State, load_state, save_state

ADD = ["add", "h1-h2 2M", "--src", "10.0.0.1", "--dst", "10.0.0.2", "--queue", "2"]
SPEC = {"name": "h1-h2 2M", "src": "10.0.0.1", "dst": "10.0.0.2", "queue": 2, "direction": "both",
        "priority": 32767}
PENDING = {"state": "pending", "topology-version": 0, "hops": [],
           "reason": "unknown host 10.0.0.1: waiting to see its traffic"}
INSTALLED = {"state": "installed", "topology-version": 7,
             "hops": [{"dpid": "00:00:00:00:00:00:00:01", "in-port": 1, "out-port": 2},
                      {"dpid": "00:00:00:00:00:00:00:02", "in-port": 2, "out-port": 3}],
             "reverse-hops": [{"dpid": "00:00:00:00:00:00:00:02", "in-port": 3, "out-port": 2},
                              {"dpid": "00:00:00:00:00:00:00:01", "in-port": 2, "out-port": 1}]}


# ---------------------------------------------------------------- fixtures
@pytest.fixture()
def dead_port() -> Iterator[int]:
    """A loopback port that refuses connections for the whole test."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


class PathsContract:
    """The controller's /qos/paths answers, kept in memory; every request is recorded."""

    def __init__(self) -> None:
        self.paths: dict[str, dict[str, Any]] = {}
        self.other: dict[str, list[Any]] = {"services": [{"name": "Best Effort", "dscp": 0, "tos": 0, "id": 1}],
                                            "policies": [], "queues": [], "meters": []}
        self.requests: list[tuple[str, str, Any]] = []
        self.next_id = 1

    def answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        self.requests.append((method, path, body))
        if (method, path) == ("GET", "/qos/status"):
            return 200, {"enabled": False, "services": 1, "policies": 0, "switches": 0}
        if method == "GET" and path.removeprefix("/qos/") in self.other:
            return 200, self.other[path.removeprefix("/qos/")]
        if (method, path) == ("GET", "/qos/paths"):
            return 200, list(self.paths.values())
        if (method, path) == ("POST", "/qos/paths"):
            return self.create(body)
        if method == "DELETE" and path.startswith("/qos/paths/"):
            name = unquote(path.removeprefix("/qos/paths/"))
            if name not in self.paths:
                return 404, {"error": f"no path named {name!r}", "field": "name"}
            return 200, self.paths.pop(name)
        return 404, {"error": "no such resource", "field": "path"}

    def create(self, body: dict[str, Any]) -> tuple[int, Any]:
        if body["name"] in self.paths:
            return 409, {"error": f"path {body['name']!r} exists", "field": "name"}
        if body.get("service") not in (None, "Best Effort"):
            return 400, {"error": f"unknown service {body['service']!r}", "field": "service"}
        view = {**body, "id": self.next_id, "cookie": hex(0x50 << 56 | self.next_id), "status": PENDING,
                "installed": False}
        self.next_id += 1
        self.paths[body["name"]] = view
        return 201, view


@pytest.fixture()
def contract() -> Iterator[tuple[PathsContract, int]]:
    """(the contract's state, its loopback port), served for the test's duration."""
    state = PathsContract()

    class Handler(BaseHTTPRequestHandler):
        def handle_one(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            status, answer = state.answer(self.command, self.path, body)
            payload = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_DELETE = handle_one

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def capture(json_mode: bool = False) -> Output:
    return Output(json_mode=json_mode, out=io.StringIO(), err=io.StringIO())


# ---------------------------------------------------------------- parsing
def test_add_parses_with_defaults() -> None:
    args = build_parser().parse_args(ADD)
    assert (args.func, args.name, args.src, args.dst, args.queue, args.service) == \
        (cmd_add, "h1-h2 2M", "10.0.0.1", "10.0.0.2", "2", None)
    assert (args.host, args.port, args.state, args.json, args.direction) == \
        ("127.0.0.1", 8080, "qos.state.json", False, "both")
    assert build_parser().parse_args(["list"]).func is cmd_list
    assert build_parser().parse_args(["delete", "x"]).func is cmd_delete


def test_common_options_work_before_and_after_the_command() -> None:
    before = build_parser().parse_args(["-c", "10.0.0.9", "-p", "9000", "--json", "--state", "s.json", "list"])
    after = build_parser().parse_args(["list", "--controller", "10.0.0.9", "--port", "9000", "--json",
                                       "--state", "s.json"])
    assert (before.host, before.port, before.json, before.state) == \
        (after.host, after.port, after.json, after.state) == ("10.0.0.9", 9000, True, "s.json")


def test_protocol_names_become_numbers() -> None:
    assert [protocol_arg(t) for t in ("tcp", "UDP", "icmp", "6", "47")] == [6, 17, 1, "6", "47"]


@pytest.mark.parametrize("argv", [
    [], ["frob"], ["add"], ["add", "p"], ["add", "p", "--src", "10.0.0.1", "--queue", "1"],
    ["add", "p", "--src", "10.0.0.1", "--dst", "10.0.0.2"],
    [*ADD, "--service", "Expedited"], [*ADD, "--direction", "reverse"], ["list", "-p", "eighty"],
    ["delete"], ["delete", "a", "b"], ["list", "extra"], [*ADD, "--sw", "1"],
])
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        run(argv)
    assert exc.value.code == EXIT_USAGE
    assert f"usage: {PROG}" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["add", "p", "--src", "10.0.0.300", "--dst", "10.0.0.2", "--queue", "1"], "src: invalid IPv4"),
    (["add", "p", "--src", "10.0.0.0/24", "--dst", "10.0.0.2", "--queue", "1"], "src: must be one host address"),
    (["add", "p", "--src", "10.0.0.1", "--dst", "10.0.0.1", "--queue", "1"], "dst: must differ from src"),
    ([*ADD[:-1], "-1"], "queue: "),
    ([*ADD, "--dst-port", "5001"], "dst-port: L4 ports need protocol 6 (TCP) or 17 (UDP)"),
    ([*ADD, "--protocol", "icmp", "--src-port", "1"], "src-port: L4 ports need protocol"),
    ([*ADD, "--protocol", "300"], "protocol: "),
    ([*ADD, "--protocol", "tcp", "--dst-port", "70000"], "dst-port: "),
    ([*ADD, "--priority", "high"], "priority: "),
    (["add", "a/b", "--src", "10.0.0.1", "--dst", "10.0.0.2", "--queue", "1"], "name: must be printable and"),
    (["add", "p", "--src", "10.0.0.1", "--dst", "10.0.0.2", "--service", " "], "service: must be a non-empty string"),
    (["delete", "  "], "name: must be a non-empty string"),
])
def test_bad_input_exits_2_before_anything_is_sent(argv: list[str], message: str, dead_port: int,
                                                   tmp_path: Path) -> None:
    # The port refuses connections: reaching the network would give exit 3, not 2.
    out = capture()
    state = tmp_path / "qos.state.json"
    assert run([*argv, "-p", str(dead_port), "--state", str(state)], out) == EXIT_USAGE
    assert out.err.getvalue().startswith(f"{PROG}: error: ")
    assert message in out.err.getvalue()
    assert not state.exists()


def test_path_body_is_the_normalised_pathspec() -> None:
    args = build_parser().parse_args([*ADD, "--protocol", "tcp", "--dst-port", "5001", "--direction", "forward",
                                      "--priority", "0x100", "--src", " 10.0.0.1 "])
    assert path_body(args) == {**SPEC, "protocol": 6, "dst-port": 5001, "direction": "forward", "priority": 256}
    service = build_parser().parse_args(["add", "mark", "--src", "10.0.0.1", "--dst", "10.0.0.4",
                                         "--service", "Expedited"])
    assert path_body(service) == {"name": "mark", "src": "10.0.0.1", "dst": "10.0.0.4", "service": "Expedited",
                                  "direction": "both", "priority": 32767}


# ---------------------------------------------------------------- unreachable
@pytest.mark.parametrize("argv", [ADD, ["delete", "h1-h2 2M"], ["list"]])
def test_unreachable_controller_exits_3_and_leaves_state(argv: list[str], dead_port: int, tmp_path: Path) -> None:
    state = tmp_path / "qos.state.json"
    save_state(state, State(paths=[{**SPEC}]))
    before = state.read_text()
    out = capture()
    assert run([*argv, "-p", str(dead_port), "--state", str(state)], out) == EXIT_UNREACHABLE
    assert f"{PROG}: cannot reach controller at http://127.0.0.1:{dead_port}: " in out.err.getvalue()
    assert "Connection refused" in out.err.getvalue()
    assert state.read_text() == before


def test_unreachable_in_json_mode_is_one_json_document(dead_port: int) -> None:
    out = capture()
    assert run(["--json", "list", "-p", str(dead_port)], out) == EXIT_UNREACHABLE
    doc = json.loads(out.out.getvalue())
    assert doc["unreachable"] is True and doc["error"].startswith("cannot reach controller at http://127.0.0.1:")


def test_console_script_exit_codes(dead_port: int, tmp_path: Path) -> None:
    """The installed entry point maps run()'s result to the process exit code."""
    script = Path(sys.executable).parent / "qospath"
    refused = subprocess.run([str(script), *ADD, "-p", str(dead_port)], cwd=tmp_path,
                             capture_output=True, text=True, timeout=30)
    assert refused.returncode == EXIT_UNREACHABLE, refused.stderr
    assert "Trying to connect to 127.0.0.1:" in refused.stdout
    bad = subprocess.run([str(script), "add", "p", "--src", "h1", "--dst", "10.0.0.2", "--queue", "1"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert bad.returncode == EXIT_USAGE and "src: invalid IPv4" in bad.stderr
    assert not (tmp_path / "qos.state.json").exists()


# ---------------------------------------------------------------- against the contract
def test_add_sends_the_pathspec_and_records_what_was_accepted(contract: tuple[PathsContract, int],
                                                              tmp_path: Path) -> None:
    server, port = contract
    state = tmp_path / "qos.state.json"
    save_state(state, State(policies=[{"name": "keep", "queue": 1, "enqueue-port": 1}]))
    out = capture()
    assert run([*ADD, "--protocol", "tcp", "-p", str(port), "--state", str(state)], out) == EXIT_OK
    assert server.requests[-1] == ("POST", "/qos/paths", {**SPEC, "protocol": 6})
    saved = load_state(state)
    assert saved.paths == [{**SPEC, "protocol": 6}]  # no id, cookie or status
    assert saved.policies == [{"name": "keep", "queue": 1, "enqueue-port": 1}]
    text = out.out.getvalue()
    assert f"Writing path 'h1-h2 2M' to {state}" in text
    assert ("h1-h2 2M: 10.0.0.1 -> 10.0.0.2 tcp, queue 2, both ways, priority 32767 "
            "[pending: unknown host 10.0.0.1: waiting to see its traffic]") in text
    assert "QoS is disabled on the controller; paths are stored" in text


def test_add_refused_exits_1_and_keeps_the_file(contract: tuple[PathsContract, int], tmp_path: Path) -> None:
    server, port = contract
    state = tmp_path / "qos.state.json"
    assert run([*ADD, "-p", str(port), "--state", str(state)], capture()) == EXIT_OK
    before = state.read_text()
    dup = capture()
    assert run([*ADD[:-1], "1", "-p", str(port), "--state", str(state)], dup) == EXIT_REJECTED
    assert "[CONTROLLER] rejected it (HTTP 409): path 'h1-h2 2M' exists (field 'name')" in dup.err.getvalue()
    unknown = capture(json_mode=True)
    assert run(["add", "m", "--src", "10.0.0.1", "--dst", "10.0.0.2", "--service", "Nowhere", "--json",
                "-p", str(port), "--state", str(state)], unknown) == EXIT_REJECTED
    assert json.loads(unknown.out.getvalue()) == {"status": 400, "error": "unknown service 'Nowhere'",
                                                  "field": "service"}
    assert state.read_text() == before


def test_delete_removes_exactly_that_name(contract: tuple[PathsContract, int], tmp_path: Path) -> None:
    """The seed's substring match would have taken "p1 fast" and "xp1" along with "p1"."""
    server, port = contract
    state = tmp_path / "qos.state.json"
    for name in ("p1", "p1 fast", "xp1"):
        assert run(["add", name, "--src", "10.0.0.1", "--dst", "10.0.0.2", "--queue", "1",
                    "-p", str(port), "--state", str(state)], capture()) == EXIT_OK
    out = capture()
    assert run(["delete", "p1", "-p", str(port), "--state", str(state)], out) == EXIT_OK
    assert server.requests[-1] == ("DELETE", "/qos/paths/p1", None)
    assert [p["name"] for p in load_state(state).paths] == ["p1 fast", "xp1"]
    assert sorted(server.paths) == ["p1 fast", "xp1"]
    assert run(["delete", "p1 fast", "-p", str(port), "--state", str(state)], capture()) == EXIT_OK
    assert server.requests[-1] == ("DELETE", "/qos/paths/p1%20fast", None)
    assert [p["name"] for p in load_state(state).paths] == ["xp1"]
    again = capture()
    assert run(["delete", "p1", "-p", str(port), "--state", str(state)], again) == EXIT_REJECTED
    assert "HTTP 404" in again.err.getvalue()


def test_delete_of_a_path_the_file_never_had(contract: tuple[PathsContract, int], tmp_path: Path) -> None:
    server, port = contract
    server.create({**SPEC, "name": "made elsewhere"})
    state = tmp_path / "qos.state.json"
    out = capture()
    assert run(["delete", "made elsewhere", "-p", str(port), "--state", str(state)], out) == EXIT_OK
    assert f"path 'made elsewhere' was not in {state}; file unchanged" in out.out.getvalue()
    assert not state.exists()


def test_list_prints_state_and_hops(contract: tuple[PathsContract, int]) -> None:
    server, port = contract
    out = capture()
    assert run(["list", "-p", str(port)], out) == EXIT_OK
    assert out.out.getvalue() == f"(no paths on 127.0.0.1:{port})\n"
    server.create(SPEC)
    server.paths[SPEC["name"]].update(status=INSTALLED, installed=True)
    out = capture()
    assert run(["list", "-p", str(port)], out) == EXIT_OK
    assert out.out.getvalue().splitlines() == [
        "h1-h2 2M: 10.0.0.1 -> 10.0.0.2, queue 2, both ways, priority 32767 [installed]",
        "  forward: s1:1->2 s2:2->3",
        "  reverse: s2:3->2 s1:2->1",
    ]
    as_json = capture(json_mode=True)
    assert run(["list", "--json", "-p", str(port)], as_json) == EXIT_OK
    [view] = json.loads(as_json.out.getvalue())
    assert view["status"] == INSTALLED and view["id"] == 1
    server.paths[SPEC["name"]]["installed"] = False  # routed, but QoS is disabled
    out = capture()
    assert run(["list", "-p", str(port)], out) == EXIT_OK
    assert out.out.getvalue().splitlines()[0].endswith(
        "priority 32767 [routed; flows not on the switches (is QoS enabled?)]")


# ---------------------------------------------------------------- formatting
def test_describe_path_for_each_state() -> None:
    missing = {"state": "missing-queues", "topology-version": 3, "hops": INSTALLED["hops"][:1],
               "reason": "queue 2 does not exist on 00:00:00:00:00:00:00:01 port 2",
               "missing-queues": [{"dpid": "00:00:00:00:00:00:00:01", "port": 2}]}
    view = {**SPEC, "protocol": 17, "src-port": 53, "direction": "forward", "status": missing}
    assert describe_path(view) == [
        "h1-h2 2M: 10.0.0.1 -> 10.0.0.2 udp src-port 53, queue 2, forward only, priority 32767 "
        "[missing-queues: queue 2 does not exist on 00:00:00:00:00:00:00:01 port 2]",
        "  forward: s1:1->2",
    ]
    marking = {"name": "m", "src": "10.0.0.1", "dst": "10.0.0.3", "protocol": 47, "service": "Expedited",
               "priority": 100, "status": PENDING}
    assert describe_path(marking) == [
        "m: 10.0.0.1 -> 10.0.0.3 protocol 47, service 'Expedited', both ways, priority 100 "
        "[pending: unknown host 10.0.0.1: waiting to see its traffic]"]


def test_switch_labels_follow_mininet_names() -> None:
    assert switch_label("00:00:00:00:00:00:00:0a") == "s10"
    assert switch_label("odd") == "odd"
    assert format_hops([]) == ""


# ---------------------------------------------------------------- qospusher sync covers paths
def test_sync_push_adds_paths_after_policies_and_pull_writes_them_back(
        contract: tuple[PathsContract, int], tmp_path: Path) -> None:
    server, port = contract
    state = tmp_path / "qos.state.json"
    user_written = {"name": "p", "src": "10.0.0.1", "dst": "10.0.0.2", "protocol": "6", "queue": "2"}
    save_state(state, State(paths=[user_written]))
    check = capture(json_mode=True)
    assert qospusher.run(["--json", "sync", "check", "--port", str(port), "--state", str(state)], check) == 1
    assert json.loads(check.out.getvalue())["paths"] == {"missing": ["p"], "changed": [], "extra": []}

    out = capture(json_mode=True)
    assert qospusher.run(["--json", "sync", "push", "--port", str(port), "--state", str(state)], out) == EXIT_OK
    assert json.loads(out.out.getvalue())["steps"] == [
        {"method": "POST", "path": "/qos/paths", "action": "add path p"}]
    assert server.paths["p"]["protocol"] == 6 and server.paths["p"]["queue"] == 2
    assert qospusher.run(["sync", "check", "--port", str(port), "--state", str(state)], capture()) == EXIT_OK

    server.create({**SPEC, "name": "stray"})
    assert qospusher.run(["sync", "pull", "--port", str(port), "--state", str(state)], capture()) == EXIT_OK
    pulled = load_state(state).paths
    assert [p["name"] for p in pulled] == ["p", "stray"]
    assert all(not {"id", "cookie", "status"} & set(p) for p in pulled)
    pruned = capture(json_mode=True)
    save_state(state, State(paths=[user_written]))
    assert qospusher.run(["--json", "sync", "push", "--prune", "--port", str(port), "--state", str(state)],
                         pruned) == EXIT_OK
    assert json.loads(pruned.out.getvalue())["steps"] == [
        {"method": "DELETE", "path": "/qos/paths/stray", "action": "delete path stray"}]
    assert sorted(server.paths) == ["p"]
