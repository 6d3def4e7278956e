"""qos.state.json: round trip, the seed's string format, atomic writes."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from pusher import state as state_mod
from pusher.state import State, StateError, load_state, parse_state, save_state

SEED_POLICY = ('{"name": "Enqueue 2:2 s1", "protocol":"6","eth-type": "0x0800", "ingress-port": "1",'
               '"ip-src":"10.0.0.1", "sw": "00:00:00:00:00:00:00:01","queue":"2","enqueue-port":"2"}')


def test_missing_file_is_empty_state(tmp_path: Path) -> None:
    state = load_state(tmp_path / "qos.state.json")
    assert state == State()
    assert json.loads(state.dumps()) == {"services": [], "policies": [], "queues": [], "paths": [], "meters": []}


def test_round_trip_keeps_objects_order_and_unknown_keys(tmp_path: Path) -> None:
    path = tmp_path / "qos.state.json"
    state = State(services=[{"name": "Expedited", "dscp": 46}],
                  policies=[json.loads(SEED_POLICY), {"name": "b", "service": "Expedited"}],
                  paths=[{"name": "p1", "src": "10.0.0.1", "dst": "10.0.0.2", "queue": 2}],
                  meters=[{"name": "cap-2M", "rate": "2M", "burst": "256k"}], extra={"future": [{"id": 1}]})
    save_state(path, state)
    assert load_state(path) == state
    text = path.read_text()
    assert list(json.loads(text)) == ["services", "policies", "queues", "paths", "meters", "future"]
    assert text.endswith("\n")


def test_seed_string_entries_are_read_as_objects(tmp_path: Path) -> None:
    path = tmp_path / "qos.state.json"
    path.write_text(json.dumps({"services": [], "policies": [" " + SEED_POLICY]}))
    state = load_state(path)
    assert state.policies == [json.loads(SEED_POLICY)]
    save_state(path, state)
    assert json.loads(path.read_text())["policies"][0]["queue"] == "2"


@pytest.mark.parametrize("text, message", [
    ("{not json", "not valid JSON"),
    ("[]", "expected a JSON object"),
    ('{"policies": {}}', "'policies' must be a list"),
    ('{"policies": [{"queue": 1}]}', 'with a "name"'),
    ('{"policies": ["{oops"]}', "string entry is not JSON"),
])
def test_bad_files_raise_state_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "qos.state.json"
    path.write_text(text)
    with pytest.raises(StateError, match=message):
        load_state(path)


def test_upsert_replaces_by_name_in_place_and_remove_reports() -> None:
    state = parse_state({"policies": [{"name": "a", "queue": 1}, {"name": "b", "queue": 1}]})
    state.upsert("policies", {"name": "a", "queue": 2})
    state.upsert("policies", {"name": "c", "queue": 3})
    assert [(p["name"], p["queue"]) for p in state.policies] == [("a", 2), ("b", 1), ("c", 3)]
    assert state.remove("policies", "b") is True
    assert state.remove("policies", "b") is False
    assert state.find("policies", "c") == {"name": "c", "queue": 3}
    with pytest.raises(KeyError):
        state.items("switches")


def test_failed_write_leaves_old_file_and_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "qos.state.json"
    save_state(path, State(policies=[{"name": "old"}]))
    before = path.read_text()

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(state_mod.os, "replace", broken_replace)
    with pytest.raises(OSError):
        save_state(path, State(policies=[{"name": "new"}]))
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["qos.state.json"]


def test_write_goes_through_a_rename_in_the_same_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "qos.state.json"
    seen: list[tuple[str, str]] = []
    real_replace = os.replace

    def spy(src: str, dst: str) -> None:
        seen.append((src, str(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(state_mod.os, "replace", spy)
    save_state(path, State())
    [(src, dst)] = seen
    assert Path(src).parent == tmp_path and dst == str(path)
    assert not Path(src).exists()


def test_mode_is_kept_on_rewrite_and_not_0600_on_create(tmp_path: Path) -> None:
    path = tmp_path / "qos.state.json"
    old_umask = os.umask(0o022)
    try:
        save_state(path, State())
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    path.chmod(0o640)
    save_state(path, State(policies=[{"name": "x"}]))
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_repo_state_file_holds_the_seed_policies_as_objects() -> None:
    repo_file = Path(__file__).resolve().parents[2] / "qos.state.json"
    state = load_state(repo_file)
    assert [p["name"] for p in state.policies] == ["Enqueue 2:2 s1", "Enqueue 1:2 s2"]
    assert state.services == []
    # the seed's ovs-vsctl queues (10G port; q0 10G, q1 20 Mbit/s, q2 2 Mbit/s), normalised
    assert state.queues == [{"sw": "all", "port": "all", "max-rate": 10_000_000_000,
                             "queues": {"0": {"max-rate": 10_000_000_000}, "1": {"max-rate": 20_000_000},
                                        "2": {"max-rate": 2_000_000}}}]
    assert state.paths == []


def test_path_entries_need_a_name_and_remove_is_exact(tmp_path: Path) -> None:
    """The seed deleted paths by substring ("p1" took "p10" too); here only the exact name goes."""
    path = tmp_path / "qos.state.json"
    path.write_text(json.dumps({"paths": [{"src": "10.0.0.1"}]}))
    with pytest.raises(StateError, match=r'paths\[0\]: expected an object with a "name"'):
        load_state(path)
    state = State(paths=[{"name": "p1"}, {"name": "p10"}, {"name": "xp1"}])
    assert state.remove("paths", "p1") is True
    assert [p["name"] for p in state.paths] == ["p10", "xp1"]
    assert state.remove("paths", "p") is False


def test_queue_entries_need_no_name_but_must_be_objects(tmp_path: Path) -> None:
    path = tmp_path / "qos.state.json"
    profile = {"sw": "all", "port": "all", "max-rate": "10G", "queues": {"0": {}}}
    path.write_text(json.dumps({"queues": [profile, json.dumps(profile)]}))
    assert load_state(path).queues == [profile, profile]
    path.write_text(json.dumps({"queues": [42]}))
    with pytest.raises(StateError, match=r"queues\[0\]: expected an object$"):
        load_state(path)


def test_upsert_and_remove_take_a_key_function() -> None:
    def port_key(obj: dict) -> object:
        return obj.get("port")
    state = State(queues=[{"port": 1, "v": "a"}, {"port": 2, "v": "b"}, {"port": 1, "v": "twin"}])
    state.upsert("queues", {"port": 1, "v": "new"}, key=port_key)
    assert state.queues == [{"port": 1, "v": "new"}, {"port": 2, "v": "b"}]
    state.upsert("queues", {"port": 3}, key=port_key)
    assert [q["port"] for q in state.queues] == [1, 2, 3]
    assert state.remove("queues", 2, key=port_key) is True
    assert state.remove("queues", 2, key=port_key) is False
    assert [q["port"] for q in state.queues] == [1, 3]
