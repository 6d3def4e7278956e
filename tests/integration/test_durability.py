"""The foundation's promise, end to end: the seed's CLI lines, a controller crash, bad input.

A real qos-controller process; the seed's two `qospusher add policy` lines
exactly as the blog typed them (straight quotes); SIGKILL and a restart on
the same state directory; rejected inputs that must leave the store as it
was; `sync check` and delete agreeing between the file and the controller.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from topologies.controller import ControllerProcess

pytestmark = pytest.mark.integration

QOSPUSHER = Path(sys.executable).with_name("qospusher")
SEED_LINES = [
    '{"name": "Enqueue 2:2 s1", "protocol":"6","eth-type": "0x0800", "ingress-port": "1",'
    '"ip-src":"10.0.0.1", "sw": "00:00:00:00:00:00:00:01","queue":"2","enqueue-port":"2"}',
    '{"name": "Enqueue 1:2 s2", "protocol":"6","eth-type": "0x0800", "ingress-port": "1",'
    '"ip-src":"10.0.0.1", "sw": "00:00:00:00:00:00:00:02","queue":"2","enqueue-port":"1"}',
]


def run(ctl: ControllerProcess, cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """`qospusher ARGV... 127.0.0.1 --port P`: the seed's word order, plus our port."""
    return subprocess.run([str(QOSPUSHER), *argv, "127.0.0.1", "--port", str(ctl.rest_port)],
                          cwd=cwd, capture_output=True, text=True, timeout=60)


def policies(ctl: ControllerProcess) -> dict[str, dict]:
    code, items = ctl.request("GET", "/qos/policies")
    assert code == 200
    return {p["name"]: p for p in items}


def test_seed_policies_survive_a_crash_and_bad_input_changes_nothing(tmp_path: Path) -> None:
    state_dir, cwd = tmp_path / "state", tmp_path / "cli"
    cwd.mkdir()
    ctl = ControllerProcess(state_dir, extra_args=["--no-queues"]).start()
    try:
        for line in SEED_LINES:  # the seed's invocation: qospusher add policy '<json>' 127.0.0.1
            proc = run(ctl, cwd, "add", "policy", line)
            assert proc.returncode == 0, proc.stdout + proc.stderr
            assert "Writing policy to qos.state.json" in proc.stdout
        before = policies(ctl)
        assert before["Enqueue 2:2 s1"]["sw"] == "00:00:00:00:00:00:00:01"
        assert before["Enqueue 2:2 s1"]["eth-type"] == 0x0800 and before["Enqueue 2:2 s1"]["queue"] == 2
        state = json.loads((cwd / "qos.state.json").read_text())
        assert [p["name"] for p in state["policies"]] == ["Enqueue 2:2 s1", "Enqueue 1:2 s2"]

        ctl.kill()  # SIGKILL: no chance to flush anything
        ctl = ControllerProcess(state_dir, rest_port=ctl.rest_port, ofp_port=ctl.ofp_port,
                                extra_args=["--no-queues"]).start()
        assert policies(ctl) == before

        bad = [(b'{"name": "x", "ip-src": ', "body"),
               (json.dumps({"name": "x", "ip-src": "10.0.0.300", "queue": 1, "enqueue-port": 2}).encode(), "ip-src"),
               (json.dumps({"name": "x", "queue": 1, "enqueue-port": 2, "service": "Best Effort"}).encode(), "service"),
               (json.dumps({"name": "x", "ip-src": "10.0.0.9", "service": "Gold"}).encode(), "service")]
        for body, field in bad:
            code, answer = raw_post(ctl, "/qos/policies", body)
            assert 400 <= code < 500 and answer["field"] == field, (code, answer)
        assert policies(ctl) == before

        assert run(ctl, cwd, "sync", "check").returncode == 0
        assert run(ctl, cwd, "delete", "policy", "Enqueue 1:2 s2").returncode == 0
        assert set(policies(ctl)) == {"Enqueue 2:2 s1"}
        state = json.loads((cwd / "qos.state.json").read_text())
        assert [p["name"] for p in state["policies"]] == ["Enqueue 2:2 s1"]
        assert run(ctl, cwd, "sync", "check").returncode == 0
    finally:
        ctl.stop()


def raw_post(ctl: ControllerProcess, path: str, body: bytes) -> tuple[int, dict]:
    """POST bytes as they are (malformed JSON included)."""
    import urllib.error
    import urllib.request
    req = urllib.request.Request(ctl.url + path, data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())
