"""qospusher against a real qos-controller process (no switch needed).

The CLI runs as the installed console script in a temporary working
directory, exactly as a user runs it; the controller is a real process on
loopback ports of its own, stopped by its PID.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from topologies.controller import ControllerProcess

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
QOSPUSHER = Path(sys.executable).with_name("qospusher")
SEED_S1 = ('{"name": "Enqueue 2:2 s1", "protocol":"6","eth-type": "0x0800", "ingress-port": "1",'
           '"ip-src":"10.0.0.1", "sw": "00:00:00:00:00:00:00:01","queue":"2","enqueue-port":"2"}')
SEED_S2 = ('{"name": "Enqueue 1:2 s2", "protocol":"6","eth-type": "0x0800", "ingress-port": "1",'
           '"ip-src":"10.0.0.1", "sw": "00:00:00:00:00:00:00:02","queue":"2","enqueue-port":"1"}')


@pytest.fixture()
def controller(tmp_path: Path) -> Iterator[ControllerProcess]:
    with ControllerProcess(tmp_path / "controller", extra_args=["--no-queues"]) as ctl:
        yield ctl


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "cli"
    path.mkdir()
    return path


def qospusher(controller: ControllerProcess, cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(QOSPUSHER), *argv, "--port", str(controller.rest_port)], cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def names(controller: ControllerProcess, kind: str) -> list[str]:
    status, items = controller.request("GET", f"/qos/{kind}")
    assert status == 200
    return [item["name"] for item in items]


def test_seed_commands_write_the_repos_state_file(controller: ControllerProcess, workdir: Path) -> None:
    first = qospusher(controller, workdir, "add", "policy", " " + SEED_S1, "127.0.0.1")
    assert first.returncode == 0, first.stderr
    assert "Connected to: 127.0.0.1:" in first.stdout
    assert "[CONTROLLER]: " in first.stdout and "Writing policy to qos.state.json" in first.stdout
    second = qospusher(controller, workdir, "add", "policy", SEED_S2, "127.0.0.1")
    assert second.returncode == 0, second.stderr
    assert names(controller, "policies") == ["Enqueue 2:2 s1", "Enqueue 1:2 s2"]
    state = json.loads((workdir / "qos.state.json").read_text())
    assert state == json.loads((REPO / "qos.state.json").read_text())
    assert all(isinstance(p, dict) and "id" not in p and "cookie" not in p for p in state["policies"])


def test_rejection_exits_1_with_the_controllers_reason_and_keeps_the_file(
        controller: ControllerProcess, workdir: Path) -> None:
    assert qospusher(controller, workdir, "add", "policy", SEED_S1).returncode == 0
    before = (workdir / "qos.state.json").read_text()
    dup = qospusher(controller, workdir, "add", "policy", SEED_S1)
    assert dup.returncode == 1
    assert "HTTP 409" in dup.stderr and "exists" in dup.stderr
    bad = qospusher(controller, workdir, "--json", "add", "policy", '{"name": "q", "queue": "2"}')
    assert bad.returncode == 1
    assert json.loads(bad.stdout) == {"status": 400, "error": json.loads(bad.stdout)["error"],
                                      "field": "enqueue-port"}
    assert (workdir / "qos.state.json").read_text() == before


def test_names_with_spaces_and_colons_modify_delete_list(controller: ControllerProcess, workdir: Path) -> None:
    assert qospusher(controller, workdir, "add", "policy", SEED_S2).returncode == 0
    modified = qospusher(controller, workdir, "modify", "policy", "Enqueue 1:2 s2",
                         '{"ip-src": "10.0.0.1", "queue": 1, "enqueue-port": 1}')
    assert modified.returncode == 0, modified.stderr
    listed = qospusher(controller, workdir, "--json", "list", "policies")
    [view] = json.loads(listed.stdout)
    assert (view["name"], view["queue"], view["sw"]) == ("Enqueue 1:2 s2", 1, "all")
    assert json.loads((workdir / "qos.state.json").read_text())["policies"][0]["queue"] == 1
    deleted = qospusher(controller, workdir, "delete", "policy", "Enqueue 1:2 s2")
    assert deleted.returncode == 0, deleted.stderr
    assert names(controller, "policies") == []
    assert json.loads((workdir / "qos.state.json").read_text())["policies"] == []
    again = qospusher(controller, workdir, "delete", "policy", "Enqueue 1:2 s2")
    assert again.returncode == 1 and "HTTP 404" in again.stderr


def test_services_enable_disable_status(controller: ControllerProcess, workdir: Path) -> None:
    added = qospusher(controller, workdir, "add", "service", '{"name": "Expedited", "dscp": "EF"}')
    assert added.returncode == 0, added.stderr
    assert json.loads((workdir / "qos.state.json").read_text())["services"] == [{"name": "Expedited", "dscp": 46}]
    assert qospusher(controller, workdir, "enable").returncode == 0
    status = json.loads(qospusher(controller, workdir, "--json", "status").stdout)
    assert status["enabled"] is True and status["services"] == 2
    disabled = qospusher(controller, workdir, "--json", "disable")
    assert json.loads(disabled.stdout) == {"enabled": False, "changed": True}
    assert "QoS is disabled" in qospusher(controller, workdir, "status").stdout


def test_sync_push_is_idempotent_prunes_and_check_pull_agree(controller: ControllerProcess, workdir: Path) -> None:
    # The file mixes the seed's string entries with objects, and a marking policy that needs its service.
    (workdir / "qos.state.json").write_text(json.dumps({
        "services": [{"name": "Bulk", "dscp": "AF11"}],
        "policies": [" " + SEED_S1, json.loads(SEED_S2), {"name": "mark", "ip-dst": "10.0.0.4", "service": "Bulk"}]}))
    assert controller.request("POST", "/qos/policies", {"name": "stray", "queue": 1, "enqueue-port": 1})[0] == 201
    assert qospusher(controller, workdir, "sync", "check").returncode == 1

    pushed = qospusher(controller, workdir, "sync", "push")
    assert pushed.returncode == 0, pushed.stderr
    assert names(controller, "policies") == ["stray", "Enqueue 2:2 s1", "Enqueue 1:2 s2", "mark"]
    ids = {p["name"]: p["id"] for p in controller.request("GET", "/qos/policies")[1]}
    again = qospusher(controller, workdir, "sync", "push")
    assert again.returncode == 0 and "Nothing to do" in again.stdout
    assert {p["name"]: p["id"] for p in controller.request("GET", "/qos/policies")[1]} == ids

    pruned = qospusher(controller, workdir, "--json", "sync", "push", "--prune")
    assert json.loads(pruned.stdout)["steps"] == [
        {"method": "DELETE", "path": "/qos/policies/stray", "action": "delete policy stray"}]
    checked = qospusher(controller, workdir, "sync", "check")
    assert checked.returncode == 0, checked.stdout

    assert controller.request("PUT", "/qos/policies/Enqueue%201%3A2%20s2",
                              {"ip-src": "10.0.0.1", "queue": 1, "enqueue-port": 1})[0] == 200
    differ = qospusher(controller, workdir, "--json", "sync", "check")
    assert differ.returncode == 1
    assert json.loads(differ.stdout)["policies"]["changed"][0]["name"] == "Enqueue 1:2 s2"
    assert qospusher(controller, workdir, "sync", "pull").returncode == 0
    assert qospusher(controller, workdir, "sync", "check").returncode == 0
    pulled = json.loads((workdir / "qos.state.json").read_text())
    assert [p["name"] for p in pulled["policies"]] == ["Enqueue 2:2 s1", "Enqueue 1:2 s2", "mark"]
    assert pulled["services"] == [{"name": "Bulk", "dscp": 10}]


def test_bulk_push_is_all_or_nothing_and_names_the_bad_policy(controller: ControllerProcess, workdir: Path) -> None:
    (workdir / "qos.state.json").write_text(json.dumps({"policies": [
        json.loads(SEED_S1), {"name": "needs service", "service": "Nowhere"}]}))
    pushed = qospusher(controller, workdir, "sync", "push")
    assert pushed.returncode == 1
    assert "'needs service'" in pushed.stderr and "HTTP 400" in pushed.stderr
    assert names(controller, "policies") == []


def test_unreachable_after_the_controller_stops(controller: ControllerProcess, workdir: Path) -> None:
    controller.stop()
    gone = qospusher(controller, workdir, "status")
    assert gone.returncode == 3
    assert f"cannot reach controller at http://127.0.0.1:{controller.rest_port}: " in gone.stderr


def test_pull_repairs_a_file_with_invalid_entries(controller: ControllerProcess, workdir: Path) -> None:
    (workdir / "qos.state.json").write_text(json.dumps({"policies": [{"name": "bad", "queue": "-1"}],
                                                        "queues": [{"name": "seed-queues"}]}))
    assert qospusher(controller, workdir, "sync", "check").returncode == 2
    assert controller.request("POST", "/qos/policies", json.loads(SEED_S1))[0] == 201
    assert qospusher(controller, workdir, "sync", "pull").returncode == 0
    pulled = json.loads((workdir / "qos.state.json").read_text())
    assert [p["name"] for p in pulled["policies"]] == ["Enqueue 2:2 s1"]
    assert pulled["queues"] == [{"name": "seed-queues"}]
