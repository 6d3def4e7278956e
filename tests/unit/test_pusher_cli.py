"""qospusher's command line: parsing, usage errors (exit 2), an unreachable controller (exit 3),
failed states in an answer (exit 1).

No controller runs here: "unreachable" is a real refused TCP connection to a
127.0.0.1 port this test holds bound but not listening.
"""
from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from pusher.client import QosClient, Unreachable, _query, base_url, item_path
from pusher.cli import (EXIT_OK, EXIT_REJECTED, EXIT_UNREACHABLE, EXIT_USAGE, Output, failures, outcome,
                        parse_json_arg)
from pusher.qospusher import (build_parser, cmd_queue_delete, cmd_queue_list, cmd_queue_set, describe_queue_profile,
                              format_rate, policy_body, run)
from pusher.state import State, load_state, save_state

SEED_ARG = (' {"name": "Enqueue 2:2 s1", "protocol":"6","eth-type": "0x0800", "ingress-port": "1",'
            '"ip-src":"10.0.0.1", "sw": "00:00:00:00:00:00:00:01","queue":"2","enqueue-port":"2"}')
SEED_QUEUES_ARG = ('{"sw": "all", "port": "all", "max-rate": "10G", "queues": {"0": {"max-rate": "10G"},'
                   ' "1": {"max-rate": "20M"}, "2": {"max-rate": "2M"}}}')


@pytest.fixture()
def dead_port() -> Iterator[int]:
    """A loopback port that refuses connections for the whole test."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def capture(json_mode: bool = False) -> Output:
    return Output(json_mode=json_mode, out=io.StringIO(), err=io.StringIO())


def test_seed_invocation_parses_with_defaults() -> None:
    args = build_parser().parse_args(["add", "policy", SEED_ARG, "127.0.0.1"])
    assert (args.command, args.kind, args.host, args.port, args.state, args.json) == \
        ("add", "policy", "127.0.0.1", 8080, "qos.state.json", False)
    assert build_parser().parse_args(["status"]).host == "127.0.0.1"


def test_common_options_work_before_and_after_the_command() -> None:
    before = build_parser().parse_args(["--port", "9000", "--json", "--state", "s.json", "list", "policies"])
    after = build_parser().parse_args(["list", "policies", "10.0.0.9", "--port", "9000", "--json", "--state", "s.json"])
    assert (before.port, before.json, before.state) == (after.port, after.json, after.state) == (9000, True, "s.json")
    assert (before.host, after.host) == ("127.0.0.1", "10.0.0.9")


@pytest.mark.parametrize("argv", [
    [], ["frob"], ["add"], ["add", "queue", "{}"], ["delete", "policy"], ["modify", "service", "x", "{}"],
    ["list", "switches"], ["sync", "merge"], ["status", "--port", "eighty"],
    ["add", "policy", SEED_ARG, "127.0.0.1", "extra"],
    ["queue"], ["queue", "show"], ["queue", "set"], ["queue", "list", "h1", "extra"],
    ["queue", "delete", "--queue", "1"], ["queue", "delete", "--sw"],
])
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        run(argv)
    assert exc.value.code == EXIT_USAGE
    assert "usage: qospusher" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["add", "policy", "{name: x}"], "not valid JSON"),
    (["add", "policy", "\u201c{\u201cname\u201d: \u201cx\u201d}"], "typographic quotes"),
    (["add", "policy", "[]"], "non-empty list"),
    (["add", "policy", "42"], "must be a JSON object"),
    (["add", "service", '["x"]'], "must be a JSON object"),
    (["modify", "policy", "x", '[{"name": "x"}]'], "one policy object"),
    (["sync", "check", "--prune"], "--prune only applies"),
    (["queue", "set", '[{"sw": "all"}]'], "queue profile must be a JSON object"),
    (["queue", "set", "{max-rate: 1}"], "the queue profile is not valid JSON"),
])
def test_bad_input_exits_2_before_anything_is_sent(argv: list[str], message: str, dead_port: int,
                                                   tmp_path: Path) -> None:
    # The port refuses connections: reaching the network would give exit 3, not 2.
    out = capture()
    state = tmp_path / "qos.state.json"
    assert run([*argv, "--port", str(dead_port), "--state", str(state)], out) == EXIT_USAGE
    assert message in out.err.getvalue()
    assert not state.exists()


def test_unreadable_state_file_exits_2(dead_port: int, tmp_path: Path) -> None:
    state = tmp_path / "qos.state.json"
    state.write_text("{broken")
    out = capture()
    assert run(["add", "policy", SEED_ARG, "--port", str(dead_port), "--state", str(state)], out) == EXIT_USAGE
    assert "not valid JSON" in out.err.getvalue()


@pytest.mark.parametrize("argv", [
    ["add", "policy", SEED_ARG, "127.0.0.1"], ["add", "service", '{"name": "EF", "dscp": 46}'],
    ["delete", "policy", "Enqueue 2:2 s1"], ["modify", "policy", "x", '{"queue": 1, "enqueue-port": 1}'],
    ["list", "policies"], ["enable"], ["disable"], ["status"], ["sync", "push", "--prune"], ["sync", "pull"],
    ["sync", "check"], ["queue", "set", SEED_QUEUES_ARG], ["queue", "list"], ["queue", "delete", "--sw", "1"],
])
def test_unreachable_controller_exits_3_and_leaves_state(argv: list[str], dead_port: int, tmp_path: Path) -> None:
    state = tmp_path / "qos.state.json"
    save_state(state, State(policies=[{"name": "keep", "queue": 1, "enqueue-port": 1}]))
    before = state.read_text()
    out = capture()
    # the REST port goes before the command: after `queue delete`, --port is the switch port
    assert run(["--port", str(dead_port), *argv, "--state", str(state)], out) == EXIT_UNREACHABLE
    assert f"cannot reach controller at http://127.0.0.1:{dead_port}: " in out.err.getvalue()
    assert "Connection refused" in out.err.getvalue()
    assert state.read_text() == before


def test_unreachable_in_json_mode_is_one_json_document(dead_port: int) -> None:
    out = capture()
    assert run(["--json", "status", "--port", str(dead_port)], out) == EXIT_UNREACHABLE
    doc = json.loads(out.out.getvalue())
    assert doc["unreachable"] is True and doc["error"].startswith("cannot reach controller at http://127.0.0.1:")
    assert out.err.getvalue() == ""


def test_console_script_exit_codes(dead_port: int, tmp_path: Path) -> None:
    """The installed entry point maps run()'s result to the process exit code."""
    script = Path(sys.executable).parent / "qospusher"
    refused = subprocess.run([str(script), "add", "policy", SEED_ARG, "127.0.0.1", "--port", str(dead_port)],
                             cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert refused.returncode == EXIT_UNREACHABLE, refused.stderr
    assert "Trying to connect to 127.0.0.1:" in refused.stdout
    bad = subprocess.run([str(script), "add", "policy", "{", "127.0.0.1"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode == EXIT_USAGE
    assert load_state(tmp_path / "qos.state.json") == State()


def test_client_paths_and_errors(dead_port: int) -> None:
    assert item_path("policies", "Enqueue 2:2 s1") == "/qos/policies/Enqueue%202%3A2%20s1"
    assert item_path("services", "a/b") == "/qos/services/a%2Fb"
    assert base_url("::1", 8080) == "http://[::1]:8080"
    with QosClient("127.0.0.1", dead_port, timeout=2) as client, pytest.raises(Unreachable) as exc:
        client.list_all("policies")
    assert exc.value.reason == "[Errno 111] Connection refused"
    assert str(exc.value) == f"cannot reach controller at http://127.0.0.1:{dead_port}: [Errno 111] Connection refused"


def test_parse_json_arg_accepts_the_seeds_leading_space() -> None:
    assert parse_json_arg(SEED_ARG, "the policy")["name"] == "Enqueue 2:2 s1"


def test_queue_commands_parse_to_their_handlers() -> None:
    parser = build_parser()
    setter = parser.parse_args(["queue", "set", SEED_QUEUES_ARG, "10.0.0.9", "--port", "9000"])
    assert (setter.func, setter.body, setter.host, setter.port) == (cmd_queue_set, SEED_QUEUES_ARG, "10.0.0.9", 9000)
    lister = parser.parse_args(["--json", "queue", "list"])
    assert (lister.func, lister.json, lister.host) == (cmd_queue_list, True, "127.0.0.1")
    default = parser.parse_args(["queue", "delete"])
    assert (default.func, default.sw, default.queue_port, default.port) == (cmd_queue_delete, "all", "all", 8080)


def test_queue_delete_port_is_the_switch_port_and_the_rest_port_comes_first() -> None:
    args = build_parser().parse_args(["--port", "9000", "queue", "delete", "--sw", "1", "--port", "s1-eth2",
                                      "10.0.0.9", "--json"])
    assert (args.port, args.sw, args.queue_port, args.host, args.json) == (9000, "1", "s1-eth2", "10.0.0.9", True)
    assert build_parser().parse_args(["queue", "--port", "9000", "delete", "--port", "2"]).port == 9000


def test_format_rate_is_exact_and_reads_back() -> None:
    assert [format_rate(r) for r in (10**10, 20_000_000, 2_000_000, 1_500_000, 12_000, 12_345, 0, None)] == \
        ["10G", "20M", "2M", "1500k", "12k", "12345", "0", "None"]


def test_describe_queue_profile_shows_rates_dscps_and_ports() -> None:
    view = {"sw": "all", "port": "all", "max-rate": 10**10,
            "queues": {"0": {"max-rate": 10**10}, "1": {"min-rate": 10**6, "max-rate": 2 * 10**7, "dscp": 3},
                       "2": {"dscp": 7}},
            "applied": {"00:00:00:00:00:00:00:01/s1-eth1": {"state": "applied"},
                        "00:00:00:00:00:00:00:01/s1-eth2": {"state": "applied", "note": "no tc filters"},
                        "00:00:00:00:00:00:00:02/s2-eth1": {"state": "error", "reason": "ovsdb down"}}}
    assert describe_queue_profile(view) == [
        "sw all port all: max-rate 10G; q0 max 10G; q1 min 1M max 20M, DSCP 3; q2 port rate, DSCP 7",
        "  00:00:00:00:00:00:00:01/s1-eth1: applied",
        "  00:00:00:00:00:00:00:01/s1-eth2: applied (no tc filters)",
        "  00:00:00:00:00:00:00:02/s2-eth1: error (ovsdb down)",
    ]
    assert describe_queue_profile({**view, "applied": {}})[1].startswith("  not applied to any port")


# ---------------------------------------------------------------- failed states -> exit 1
POLICY_VIEW = {"name": "p", "queue": 5, "install": {
    "00:00:00:00:00:00:00:01": {"state": "installed"},
    "00:00:00:00:00:00:00:02": {"state": "missing-queue", "reason": "queue 5 does not exist on ... port 2"},
    "00:00:00:00:00:00:00:03": {"state": "error", "reason": "OFPBAC_BAD_QUEUE"},
    "00:00:00:00:00:00:00:04": {"state": "pending"}, "00:00:00:00:00:00:00:05": {"state": "not-installed"}}}


def test_failures_name_each_switch_and_port_that_failed() -> None:
    path_view = {"name": "h1-h4", "status": {"state": "missing-queues", "reason": "queue 2 does not exist on x"},
                 "install": {}}
    profile_view = {"sw": "all", "port": "all", "applied": {
        "00:00:00:00:00:00:00:01/s1-eth1": {"state": "applied"},
        "00:00:00:00:00:00:00:01/s1-eth2": {"state": "error", "reason": "no OVSDB"}}}
    assert failures(POLICY_VIEW) == [
        "'p' on 00:00:00:00:00:00:00:02: missing-queue (queue 5 does not exist on ... port 2)",
        "'p' on 00:00:00:00:00:00:00:03: error (OFPBAC_BAD_QUEUE)"]
    assert failures([path_view, profile_view]) == [
        "'h1-h4': missing-queues (queue 2 does not exist on x)",
        "queue profile all/all on 00:00:00:00:00:00:00:01/s1-eth2: error (no OVSDB)"]
    assert failures({"name": "ok", "install": {"00:00:00:00:00:00:00:01": {"state": "installed"}}}) == []
    assert failures(None) == failures("text") == failures({"deleted": 2}) == []


def test_outcome_prints_which_and_exits_1() -> None:
    out = capture(json_mode=True)
    assert outcome(POLICY_VIEW, out) == EXIT_REJECTED
    assert out.err.getvalue().splitlines() == [
        "[CONTROLLER] not done: 'p' on 00:00:00:00:00:00:00:02: missing-queue (queue 5 does not exist on ... port 2)",
        "[CONTROLLER] not done: 'p' on 00:00:00:00:00:00:00:03: error (OFPBAC_BAD_QUEUE)"]
    assert out.out.getvalue() == ""  # stdout stays one parseable JSON document
    assert outcome({"name": "fine", "install": {}}, capture()) == EXIT_OK


def test_the_seeds_equal_ports_go_out_as_in_port_saying_so() -> None:
    out = capture()
    s2 = SEED_ARG.replace('"ingress-port": "1"', '"ingress-port": "2"')
    body = policy_body(s2, out)
    assert isinstance(body, dict) and body["enqueue-port"] == "in_port" and body["ingress-port"] == "2"
    assert "sent as \"enqueue-port\": \"in_port\"" in out.out.getvalue()
    quiet = capture()
    assert policy_body(SEED_ARG, quiet) == json.loads(SEED_ARG) and quiet.out.getvalue() == ""


def test_force_and_confirm_go_in_the_query() -> None:
    args = build_parser().parse_args(["queue", "delete", "--force"])
    assert args.force is True and build_parser().parse_args(["queue", "set", "{}", "--force"]).force is True
    assert build_parser().parse_args(["queue", "delete"]).force is False
    assert (_query(True, True), _query(False, True), _query(True, False), _query(False, False)) == \
        ("?wait=confirm&force=true", "?force=true", "?wait=confirm", "")
