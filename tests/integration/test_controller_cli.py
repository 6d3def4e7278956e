"""qospusher and qospath against a real qos-controller process (no switch needed).

The CLI runs as the installed console script in a temporary working
directory, exactly as a user runs it; the controller is a real process on
loopback ports of its own, stopped by its PID. It runs with --no-queues, so
queue profiles are stored and listed but never applied (no OVS here): their
"applied" map stays empty. With no switch and no host seen, a path is
stored and stays "pending" (unknown host), which is what qospath shows.
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
QOSPATH = Path(sys.executable).with_name("qospath")
SEED_S1 = ('{"name": "Enqueue 2:2 s1", "protocol":"6","eth-type": "0x0800", "ingress-port": "1",'
           '"ip-src":"10.0.0.1", "sw": "00:00:00:00:00:00:00:01","queue":"2","enqueue-port":"2"}')
SEED_S2 = ('{"name": "Enqueue 1:2 s2", "protocol":"6","eth-type": "0x0800", "ingress-port": "1",'
           '"ip-src":"10.0.0.1", "sw": "00:00:00:00:00:00:00:02","queue":"2","enqueue-port":"1"}')
#: the queues the seed made by hand with ovs-vsctl: 10G port, q0 10G, q1 20 Mbit/s, q2 2 Mbit/s
SEED_QUEUES = ('{"sw": "all", "port": "all", "max-rate": "10G", "queues": {"0": {"max-rate": "10G"},'
               ' "1": {"max-rate": "20M"}, "2": {"max-rate": "2M"}}}')
SEED_QUEUES_NORMAL = {"sw": "all", "port": "all", "max-rate": 10_000_000_000,
                      "queues": {"0": {"max-rate": 10_000_000_000}, "1": {"max-rate": 20_000_000},
                                 "2": {"max-rate": 2_000_000}}}


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
    """Run the CLI; the REST port goes first because after `queue delete` --port is the switch port."""
    return subprocess.run([str(QOSPUSHER), "--port", str(controller.rest_port), *argv], cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def names(controller: ControllerProcess, kind: str) -> list[str]:
    status, items = controller.request("GET", f"/qos/{kind}")
    assert status == 200
    return [item["name"] for item in items]


def profiles(controller: ControllerProcess) -> list[dict]:
    """The controller's queue profiles without the derived DSCPs, with "applied"."""
    status, items = controller.request("GET", "/qos/queues")
    assert status == 200
    return [{**item, "queues": {qid: {k: v for k, v in spec.items() if k != "dscp"}
                                for qid, spec in item["queues"].items()}} for item in items]


def file_queues(workdir: Path) -> list[dict]:
    return json.loads((workdir / "qos.state.json").read_text())["queues"]


def test_seed_commands_write_the_repos_state_file(controller: ControllerProcess, workdir: Path) -> None:
    first = qospusher(controller, workdir, "add", "policy", " " + SEED_S1, "127.0.0.1")
    assert first.returncode == 0, first.stderr
    assert "Connected to: 127.0.0.1:" in first.stdout
    assert "[CONTROLLER]: " in first.stdout and "Writing policy to qos.state.json" in first.stdout
    second = qospusher(controller, workdir, "add", "policy", SEED_S2, "127.0.0.1")
    assert second.returncode == 0, second.stderr
    assert names(controller, "policies") == ["Enqueue 2:2 s1", "Enqueue 1:2 s2"]
    queues = qospusher(controller, workdir, "queue", "set", SEED_QUEUES, "127.0.0.1")
    assert queues.returncode == 0, queues.stderr
    assert "Writing queue profile sw all port all to qos.state.json" in queues.stdout
    assert profiles(controller) == [{**SEED_QUEUES_NORMAL, "applied": {}}]
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
    bad = qospusher(controller, workdir, "--json", "add", "policy", '{"name": "q", "queue": "2", "enqueue-port": "0"}')
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
    assert "'needs service'" in pushed.stderr and "HTTP 409" in pushed.stderr  # unknown service: 409
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
    assert pulled["queues"] == []  # the invalid profile is replaced by the controller's (none)


def test_queue_set_replaces_by_sw_and_port_list_and_delete(controller: ControllerProcess, workdir: Path) -> None:
    assert qospusher(controller, workdir, "queue", "set", SEED_QUEUES).returncode == 0
    # same sw+port, written differently: replaces the profile, on the controller and in the file
    faster = {**json.loads(SEED_QUEUES), "sw": "ALL", "queues": {"0": {}, "1": {"min-rate": "5M", "max-rate": "20M"}}}
    replaced = qospusher(controller, workdir, "--json", "queue", "set", json.dumps(faster))
    assert replaced.returncode == 0, replaced.stderr
    assert json.loads(replaced.stdout)["queues"]["1"] == {"min-rate": 5_000_000, "max-rate": 20_000_000}
    one_port = {"sw": "1", "port": "2", "max-rate": "100M", "queues": [{"id": 0}, {"id": 1, "max-rate": "2M"}]}
    assert qospusher(controller, workdir, "queue", "set", json.dumps(one_port), "127.0.0.1").returncode == 0
    normal_one_port = {"sw": "00:00:00:00:00:00:00:01", "port": 2, "max-rate": 100_000_000,
                       "queues": {"0": {}, "1": {"max-rate": 2_000_000}}}
    normal_faster = {**SEED_QUEUES_NORMAL, "queues": {"0": {}, "1": {"min-rate": 5_000_000, "max-rate": 20_000_000}}}
    assert file_queues(workdir) == [normal_faster, normal_one_port]
    assert profiles(controller) == [{**normal_faster, "applied": {}}, {**normal_one_port, "applied": {}}]

    listed = qospusher(controller, workdir, "queue", "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == [
        "sw all port all: max-rate 10G; q0 port rate; q1 min 5M max 20M",
        "  not applied to any port (no matching switch port connected, or queues not managed)",
        "sw 00:00:00:00:00:00:00:01 port 2: max-rate 100M; q0 port rate; q1 max 2M",
        "  not applied to any port (no matching switch port connected, or queues not managed)",
    ]
    as_json = json.loads(qospusher(controller, workdir, "--json", "queue", "list").stdout)
    assert [(v["sw"], v["port"], v["applied"]) for v in as_json] == [("all", "all", {}),
                                                                    ("00:00:00:00:00:00:00:01", 2, {})]

    # the dpid and port as typed ("1", "2") find the normalised entry
    deleted = qospusher(controller, workdir, "queue", "delete", "--sw", "1", "--port", "2", "127.0.0.1")
    assert deleted.returncode == 0, deleted.stderr
    assert "Writing removal of queue profile sw 00:00:00:00:00:00:00:01 port 2 to qos.state.json" in deleted.stdout
    assert file_queues(workdir) == [normal_faster]
    again = qospusher(controller, workdir, "--json", "queue", "delete", "--sw", "1", "--port", "2")
    assert again.returncode == 1
    assert json.loads(again.stdout) == {"status": 404, "error": json.loads(again.stdout)["error"], "field": "port"}
    assert qospusher(controller, workdir, "queue", "delete").returncode == 0  # all/all by default
    assert profiles(controller) == [] and file_queues(workdir) == []
    assert "(no queue profiles on 127.0.0.1:" in qospusher(controller, workdir, "queue", "list").stdout


def test_invalid_queue_profile_exits_1_naming_the_field_and_writes_nothing(
        controller: ControllerProcess, workdir: Path) -> None:
    bad = {**json.loads(SEED_QUEUES), "max-rate": "fast"}
    refused = qospusher(controller, workdir, "queue", "set", json.dumps(bad))
    assert refused.returncode == 1
    assert "HTTP 400" in refused.stderr and "(field 'max-rate')" in refused.stderr and "'fast'" in refused.stderr
    assert not (workdir / "qos.state.json").exists()
    assert qospusher(controller, workdir, "queue", "set", SEED_QUEUES).returncode == 0
    before = (workdir / "qos.state.json").read_text()
    too_fast = {**json.loads(SEED_QUEUES), "queues": {"0": {"max-rate": "20G"}}}
    as_json = qospusher(controller, workdir, "--json", "queue", "set", json.dumps(too_fast))
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout)["field"] == "queues.0.max-rate"
    assert (workdir / "qos.state.json").read_text() == before
    assert profiles(controller) == [{**SEED_QUEUES_NORMAL, "applied": {}}]
    usage = qospusher(controller, workdir, "queue", "set", "[]")
    assert usage.returncode == 2 and "must be a JSON object" in usage.stderr


def test_sync_covers_queue_profiles(controller: ControllerProcess, workdir: Path) -> None:
    s1_ports = {"sw": "00:00:00:00:00:00:00:01", "port": "all", "max-rate": "1G",
                "queues": {"0": {}, "1": {"max-rate": "20M"}, "2": {"max-rate": "2M"}}}
    (workdir / "qos.state.json").write_text(json.dumps({
        "services": [{"name": "Bulk", "dscp": "AF11"}], "policies": [json.loads(SEED_S1)],
        "queues": [json.loads(SEED_QUEUES), s1_ports]}))
    stray = {"sw": "all", "port": "s9-eth9", "max-rate": "1G", "queues": {"0": {}}}
    assert controller.request("POST", "/qos/queues", stray)[0] == 201
    stale = {**s1_ports, "queues": {"0": {}, "1": {"max-rate": "20M"}, "2": {"max-rate": "3M"}}}
    assert controller.request("POST", "/qos/queues", stale)[0] == 201

    checked = qospusher(controller, workdir, "--json", "sync", "check")
    assert checked.returncode == 1
    assert json.loads(checked.stdout)["queues"] == {
        "missing": [{"sw": "all", "port": "all"}],
        "changed": [{"sw": "00:00:00:00:00:00:00:01", "port": "all", "fields": ["queues.2.max-rate"]}],
        "extra": [{"sw": "all", "port": "s9-eth9"}]}
    human = qospusher(controller, workdir, "sync", "check")
    assert "  ~ sw 00:00:00:00:00:00:00:01 port all  (queues.2.max-rate: file 2000000, controller 3000000)" \
        in human.stdout.splitlines()

    pushed = qospusher(controller, workdir, "--json", "sync", "push")
    assert pushed.returncode == 0, pushed.stdout
    assert [step["action"].split(" (")[0] for step in json.loads(pushed.stdout)["steps"]] == [
        "set queue profile sw all port all", "replace queue profile sw 00:00:00:00:00:00:00:01 port all",
        "add service Bulk", "add policies Enqueue 2:2 s1"]
    assert {(p["sw"], p["port"]) for p in profiles(controller)} == {
        ("all", "s9-eth9"), ("00:00:00:00:00:00:00:01", "all"), ("all", "all")}
    again = qospusher(controller, workdir, "sync", "push")
    assert again.returncode == 0 and "Nothing to do" in again.stdout
    assert "queue profile sw all port s9-eth9" in again.stdout  # named as kept, not deleted

    pruned = qospusher(controller, workdir, "--json", "sync", "push", "--prune")
    assert pruned.returncode == 0, pruned.stdout
    assert json.loads(pruned.stdout)["steps"] == [
        {"method": "DELETE", "path": "/qos/queues", "action": "delete queue profile sw all port s9-eth9"}]
    assert qospusher(controller, workdir, "sync", "check").returncode == 0

    # pull writes the controller's profiles back in normalised form, in the file's order
    assert controller.request("POST", "/qos/queues", stray)[0] == 201
    assert qospusher(controller, workdir, "sync", "pull").returncode == 0
    assert file_queues(workdir) == [SEED_QUEUES_NORMAL,
                                    {"sw": "00:00:00:00:00:00:00:01", "port": "all", "max-rate": 1_000_000_000,
                                     "queues": {"0": {}, "1": {"max-rate": 20_000_000}, "2": {"max-rate": 2_000_000}}},
                                    {"sw": "all", "port": "s9-eth9", "max-rate": 1_000_000_000, "queues": {"0": {}}}]
    assert qospusher(controller, workdir, "sync", "check").returncode == 0


def test_prune_deletes_policies_then_services_then_queues(controller: ControllerProcess, workdir: Path) -> None:
    assert controller.request("POST", "/qos/queues", json.loads(SEED_QUEUES))[0] == 201
    assert controller.request("POST", "/qos/services", {"name": "Bulk", "dscp": 10})[0] == 201
    assert controller.request("POST", "/qos/policies", {"name": "mark", "service": "Bulk"})[0] == 201
    pruned = qospusher(controller, workdir, "--json", "sync", "push", "--prune")
    assert pruned.returncode == 0, pruned.stdout
    assert [step["action"] for step in json.loads(pruned.stdout)["steps"]] == [
        "delete policy mark", "delete service Bulk", "delete queue profile sw all port all"]
    assert profiles(controller) == [] and names(controller, "policies") == []


# ---------------------------------------------------------------- qospath
H1_H2 = {"name": "h1-h2 2M", "src": "10.0.0.1", "dst": "10.0.0.2", "protocol": 6, "queue": 2,
         "direction": "both", "priority": 32767}
PENDING_LINE = ("h1-h2 2M: 10.0.0.1 -> 10.0.0.2 tcp, queue 2, both ways, priority 32767 "
                "[pending: unknown host 10.0.0.1: waiting to see its traffic]")


def qospath(controller: ControllerProcess, cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(QOSPATH), "-p", str(controller.rest_port), *argv], cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def file_paths(workdir: Path) -> list[dict]:
    return json.loads((workdir / "qos.state.json").read_text())["paths"]


def test_qospath_add_list_delete_by_exact_name(controller: ControllerProcess, workdir: Path) -> None:
    added = qospath(controller, workdir, "add", "h1-h2 2M", "--src", "10.0.0.1", "--dst", "10.0.0.2",
                    "--queue", "2", "--protocol", "tcp")
    assert added.returncode == 0, added.stderr
    assert "Writing path 'h1-h2 2M' to qos.state.json" in added.stdout
    assert PENDING_LINE in added.stdout.splitlines()
    assert file_paths(workdir) == [H1_H2]
    status, [view] = controller.request("GET", "/qos/paths")
    assert status == 200 and view["status"]["state"] == "pending" and view["installed"] is False
    assert {k: v for k, v in view.items() if k in H1_H2} == H1_H2

    # a name that contains the first one: the seed's substring delete would have taken both
    longer = qospath(controller, workdir, "--json", "add", "h1-h2 2M fwd", "--src", "10.0.0.1", "--dst", "10.0.0.2",
                     "--service", "Best Effort", "--direction", "forward")
    assert longer.returncode == 0, longer.stdout
    assert json.loads(longer.stdout)["direction"] == "forward"

    listed = qospath(controller, workdir, "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == [
        PENDING_LINE,
        "h1-h2 2M fwd: 10.0.0.1 -> 10.0.0.2, service 'Best Effort', forward only, priority 32767 "
        "[pending: unknown host 10.0.0.1: waiting to see its traffic]"]

    deleted = qospath(controller, workdir, "delete", "h1-h2 2M")
    assert deleted.returncode == 0, deleted.stderr
    assert [p["name"] for p in controller.request("GET", "/qos/paths")[1]] == ["h1-h2 2M fwd"]
    assert [p["name"] for p in file_paths(workdir)] == ["h1-h2 2M fwd"]
    again = qospath(controller, workdir, "delete", "h1-h2 2M")
    assert again.returncode == 1 and "HTTP 404" in again.stderr
    assert qospath(controller, workdir, "delete", "h1-h2 2M fwd").returncode == 0
    assert controller.request("GET", "/qos/paths")[1] == [] and file_paths(workdir) == []
    assert qospath(controller, workdir, "list").stdout == f"(no paths on 127.0.0.1:{controller.rest_port})\n"


def test_qospath_refusals_and_local_errors(controller: ControllerProcess, workdir: Path) -> None:
    argv = ["add", "h1-h2 2M", "--src", "10.0.0.1", "--dst", "10.0.0.2", "--queue", "2", "--protocol", "tcp"]
    assert qospath(controller, workdir, *argv).returncode == 0
    before = (workdir / "qos.state.json").read_text()
    dup = qospath(controller, workdir, *argv)
    assert dup.returncode == 1 and "HTTP 409" in dup.stderr and "(field 'name')" in dup.stderr
    unknown = qospath(controller, workdir, "--json", "add", "m", "--src", "10.0.0.1", "--dst", "10.0.0.3",
                      "--service", "Nowhere")
    assert unknown.returncode == 1
    assert {k: v for k, v in json.loads(unknown.stdout).items() if k != "error"} == {"status": 409, "field": "service"}
    # shape errors never reach the controller
    local = qospath(controller, workdir, "add", "p", "--src", "10.0.0.1", "--dst", "10.0.0.2", "--queue", "1",
                    "--dst-port", "80")
    assert local.returncode == 2 and "dst-port: L4 ports need protocol" in local.stderr
    assert [p["name"] for p in controller.request("GET", "/qos/paths")[1]] == ["h1-h2 2M"]
    assert (workdir / "qos.state.json").read_text() == before
    controller.stop()
    gone = qospath(controller, workdir, "list")
    assert gone.returncode == 3 and "cannot reach controller" in gone.stderr


def test_sync_covers_paths(controller: ControllerProcess, workdir: Path) -> None:
    """Paths are pushed after policies (they may name a service) and pruned before them."""
    (workdir / "qos.state.json").write_text(json.dumps({
        "services": [{"name": "Bulk", "dscp": "AF11"}],
        "paths": [{"name": "h1-h2 2M", "src": "10.0.0.1", "dst": "10.0.0.2", "protocol": "6", "queue": "2"},
                  {"name": "bulk h3", "src": "10.0.0.3", "dst": "10.0.0.4", "service": "Bulk"}]}))
    stray = {"name": "stray", "src": "10.0.0.5", "dst": "10.0.0.6", "queue": 1}
    assert controller.request("POST", "/qos/paths", stray)[0] == 201
    checked = qospusher(controller, workdir, "--json", "sync", "check")
    assert checked.returncode == 1
    assert json.loads(checked.stdout)["paths"] == {"missing": ["h1-h2 2M", "bulk h3"], "changed": [],
                                                   "extra": ["stray"]}

    pushed = qospusher(controller, workdir, "--json", "sync", "push")
    assert pushed.returncode == 0, pushed.stdout
    assert [step["action"] for step in json.loads(pushed.stdout)["steps"]] == [
        "add service Bulk", "add path h1-h2 2M", "add path bulk h3"]
    again = qospusher(controller, workdir, "sync", "push")
    assert again.returncode == 0 and "Nothing to do" in again.stdout and "path stray" in again.stdout

    # changed on the controller (no PUT for paths): push deletes and re-adds it
    assert controller.request("DELETE", "/qos/paths/bulk%20h3")[0] == 200
    assert controller.request("POST", "/qos/paths", {"name": "bulk h3", "src": "10.0.0.3", "dst": "10.0.0.4",
                                                     "service": "Bulk", "direction": "forward"})[0] == 201
    human = qospusher(controller, workdir, "sync", "check")
    assert "  ~ bulk h3  (direction: file both, controller forward)" in human.stdout.splitlines()
    pruned = qospusher(controller, workdir, "--json", "sync", "push", "--prune")
    assert pruned.returncode == 0, pruned.stdout
    assert [step["action"].split(" (")[0] for step in json.loads(pruned.stdout)["steps"]] == [
        "delete path bulk h3", "add path bulk h3", "delete path stray"]
    assert qospusher(controller, workdir, "sync", "check").returncode == 0

    assert controller.request("POST", "/qos/paths", stray)[0] == 201
    assert qospusher(controller, workdir, "sync", "pull").returncode == 0
    assert file_paths(workdir) == [H1_H2, {"name": "bulk h3", "src": "10.0.0.3", "dst": "10.0.0.4",
                                           "service": "Bulk", "direction": "both", "priority": 32767},
                                   {**stray, "direction": "both", "priority": 32767}]

    # prune order: the path that uses the service goes before the service
    (workdir / "qos.state.json").write_text("{}")
    emptied = qospusher(controller, workdir, "--json", "sync", "push", "--prune")
    assert emptied.returncode == 0, emptied.stdout
    assert [step["action"] for step in json.loads(emptied.stdout)["steps"]] == [
        "delete path h1-h2 2M", "delete path bulk h3", "delete path stray", "delete service Bulk"]
