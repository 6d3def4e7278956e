"""Sync logic: normalised comparison and the order of a push (pure)."""
from __future__ import annotations

import json
from typing import Any

import pytest

from qosapp.core.model import equal_ports_as_in_port, parse_policy
from pusher.state import State
from pusher.sync import (LocalEntryError, diff_paths, diff_policies, diff_queues, diff_services, flatten,
                         normalise_path, normalise_path_view, normalise_policy, normalise_queue_profile,
                         normalise_service, plan_push, pulled_state, queue_key)

SEED_S1 = json.loads('{"name": "Enqueue 2:2 s1", "protocol":"6","eth-type": "0x0800", "ingress-port": "1",'
                     '"ip-src":"10.0.0.1", "sw": "00:00:00:00:00:00:00:01","queue":"2","enqueue-port":"2"}')
SEED_S2 = json.loads('{"name": "Enqueue 1:2 s2", "protocol":"6","eth-type": "0x0800", "ingress-port": "1",'
                     '"ip-src":"10.0.0.1", "sw": "00:00:00:00:00:00:00:02","queue":"2","enqueue-port":"1"}')


def view(policy: dict[str, Any], pid: int) -> dict[str, Any]:
    """What the controller answers for a policy: normalised + id, cookie, install."""
    out = parse_policy(equal_ports_as_in_port(policy)).to_dict()
    out.update(id=pid, cookie=hex(0x51000000 + pid), install={"00:00:00:00:00:00:00:01": {"state": "installed"}})
    return out


BEST_EFFORT = {"name": "Best Effort", "dscp": 0, "tos": 0, "id": 1}
#: the seed's queues (set up with ovs-vsctl in the blog post), as a user writes them
SEED_QUEUES = {"sw": "all", "port": "all", "max-rate": "10G",
               "queues": {"0": {"max-rate": "10G"}, "1": {"max-rate": "20M"}, "2": {"max-rate": "2M"}}}
SEED_QUEUES_NORMAL = {"sw": "all", "port": "all", "max-rate": 10_000_000_000,
                      "queues": {"0": {"max-rate": 10_000_000_000}, "1": {"max-rate": 20_000_000},
                                 "2": {"max-rate": 2_000_000}}}


def queue_view(profile: dict[str, Any], applied: dict[str, Any] | None = None) -> dict[str, Any]:
    """What GET /qos/queues answers: normalised, each queue > 0 with its DSCP, plus "applied"."""
    norm = normalise_queue_profile(profile)
    queues = {qid: {**spec, **({"dscp": 4 * int(qid) - 1} if qid != "0" else {})}
              for qid, spec in norm["queues"].items()}
    return {**norm, "queues": queues, "applied": applied or {}}


def test_seed_json_equals_the_controllers_view() -> None:
    assert normalise_policy(SEED_S1) == {k: v for k, v in view(SEED_S1, 7).items()
                                         if k not in ("id", "cookie", "install")}
    diff = diff_policies([SEED_S1, SEED_S2], [view(SEED_S2, 2), view(SEED_S1, 1)])
    assert diff.in_sync


def test_missing_changed_extra_policies() -> None:
    changed = {**SEED_S2, "queue": "1"}
    extra = {"name": "old", "service": "Best Effort"}
    diff = diff_policies([SEED_S1, changed], [view(SEED_S2, 2), view(extra, 3)])
    assert [p["name"] for p in diff.missing] == ["Enqueue 2:2 s1"]
    assert [c.name for c in diff.changed] == ["Enqueue 1:2 s2"]
    assert diff.changed[0].fields == ["queue"]
    assert diff.changed[0].describe() == "queue: file 1, controller 2"
    assert [p["name"] for p in diff.extra] == ["old"]
    assert diff.to_dict() == {"missing": ["Enqueue 2:2 s1"],
                              "changed": [{"name": "Enqueue 1:2 s2", "fields": ["queue"]}], "extra": ["old"]}


def test_services_compare_name_and_dscp_and_best_effort_is_no_extra() -> None:
    server = [BEST_EFFORT, {"name": "Expedited", "dscp": 46, "tos": 184, "id": 2},
              {"name": "Bulk", "dscp": 8, "tos": 32, "id": 3}]
    diff = diff_services([{"name": "Expedited", "dscp": "EF"}, {"name": "Bulk", "tos": 40}], server)
    assert diff.missing == [] and diff.extra == []
    assert [(c.name, c.fields) for c in diff.changed] == [("Bulk", ["dscp"])]
    assert diff_services([], [BEST_EFFORT]).in_sync
    assert [s["name"] for s in diff_services([], [BEST_EFFORT, server[2]]).extra] == ["Bulk"]
    assert normalise_service({"name": "x", "dscp": 46, "tos": 184, "id": 9}) == {"name": "x", "dscp": 46}


def test_invalid_or_duplicate_file_entries_name_the_entry() -> None:
    with pytest.raises(LocalEntryError, match=r"policies\[1\] 'bad': queue: .*out of range"):
        diff_policies([SEED_S1, {**SEED_S2, "name": "bad", "queue": "-1"}], [])
    with pytest.raises(LocalEntryError, match=r"policies\[1\] 'Enqueue 2:2 s1': duplicate name"):
        diff_policies([SEED_S1, SEED_S1], [])
    with pytest.raises(LocalEntryError, match=r"services\[0\] 'x': dscp"):
        diff_services([{"name": "x", "dscp": 99}], [])


def test_push_plan_order_and_bulk_post() -> None:
    services = diff_services([{"name": "Expedited", "dscp": 46}, {"name": "Bulk", "dscp": 10}],
                             [BEST_EFFORT, {"name": "Bulk", "dscp": 8, "tos": 32, "id": 3},
                              {"name": "Unused", "dscp": 1, "tos": 4, "id": 4}])
    changed = {**SEED_S2, "enqueue-port": "3"}
    policies = diff_policies([SEED_S1, changed, {"name": "mark", "service": "Expedited"}],
                             [view(SEED_S2, 2), view({"name": "gone", "queue": 1, "enqueue-port": 1}, 5)])
    steps = plan_push(services, policies, prune=True)
    assert [(s.method, s.path) for s in steps] == [
        ("POST", "/qos/services"),
        ("DELETE", "/qos/services/Bulk"),
        ("POST", "/qos/services"),
        ("POST", "/qos/policies"),
        ("PUT", "/qos/policies/Enqueue%201%3A2%20s2"),
        ("DELETE", "/qos/policies/gone"),
        ("DELETE", "/qos/services/Unused"),
    ]
    bulk = steps[3].body
    assert [p["name"] for p in bulk] == ["Enqueue 2:2 s1", "mark"]
    assert bulk[0] == normalise_policy(SEED_S1) and "id" not in bulk[0]
    assert steps[4].body["enqueue-port"] == 3
    assert [s.method for s in plan_push(services, policies, prune=False)] == ["POST", "DELETE", "POST", "POST", "PUT"]


def test_in_sync_plans_nothing() -> None:
    services = diff_services([], [BEST_EFFORT])
    policies = diff_policies([SEED_S1], [view(SEED_S1, 1)])
    assert plan_push(services, policies, prune=True) == []


def test_pulled_state_is_what_the_file_should_hold() -> None:
    old = State(policies=[{"name": "stale", "queue": 1, "enqueue-port": 1}], queues=[{"name": "q"}],
                extra={"note": 1})
    new = pulled_state(old, [BEST_EFFORT, {"name": "Expedited", "dscp": 46, "tos": 184, "id": 2}],
                       [view(SEED_S1, 1)])
    assert new.services == [{"name": "Expedited", "dscp": 46}]
    assert new.policies == [normalise_policy(SEED_S1)]
    assert new.queues == [{"name": "q"}] and new.extra == {"note": 1}
    assert diff_policies(new.policies, [view(SEED_S1, 1)]).in_sync


def test_pull_keeps_the_files_order_and_appends_new_entries() -> None:
    old = State(policies=[{"name": "b"}, {"name": "gone"}, {"name": "a"}])
    server = [view({"name": n, "queue": 1, "enqueue-port": 1}, i) for i, n in enumerate(["new2", "a", "new1", "b"])]
    assert [p["name"] for p in pulled_state(old, [], server).policies] == ["b", "a", "new2", "new1"]


# ---------------------------------------------------------------- queue profiles
def test_queue_profile_normal_form_drops_dscp_and_applied() -> None:
    assert normalise_queue_profile(SEED_QUEUES) == SEED_QUEUES_NORMAL
    applied = {"00:00:00:00:00:00:00:01/s1-eth1": {"state": "applied"}}
    assert normalise_queue_profile(queue_view(SEED_QUEUES, applied)) == SEED_QUEUES_NORMAL
    as_list = {"sw": "1", "port": "2", "max-rate": 10**9, "queues": [{"id": 0}, {"id": 1, "min-rate": "1M"}]}
    assert normalise_queue_profile(as_list) == {"sw": "00:00:00:00:00:00:00:01", "port": 2, "max-rate": 10**9,
                                                "queues": {"0": {}, "1": {"min-rate": 1_000_000}}}


def test_queue_key_is_sw_and_port_even_for_an_entry_with_bad_rates() -> None:
    assert queue_key(SEED_QUEUES) == ("all", "all")
    assert queue_key({"sw": "1", "port": 2}) == queue_key({"sw": "00:00:00:00:00:00:00:01", "port": "2"}) \
        == ("00:00:00:00:00:00:00:01", "2")
    assert queue_key({"sw": "1", "port": "s1-eth2", "max-rate": "fast"}) == ("00:00:00:00:00:00:00:01", "s1-eth2")
    assert queue_key({}) == ("all", "all")
    assert queue_key({"port": "has space"}) is None


def test_queue_diff_matches_by_sw_and_port_not_by_content() -> None:
    s1 = {**SEED_QUEUES, "sw": "1"}
    faster = {**SEED_QUEUES, "queues": {**SEED_QUEUES["queues"], "2": {"max-rate": "3M"}}}
    stray = {**SEED_QUEUES, "sw": "2", "port": "s2-eth1"}
    diff = diff_queues([faster, s1], [queue_view(SEED_QUEUES, {"x/y": {"state": "applied"}}), queue_view(stray)])
    assert [q["sw"] for q in diff.missing] == ["00:00:00:00:00:00:00:01"]
    [change] = diff.changed
    assert change.name == "sw all port all"
    assert change.fields == ["queues.2.max-rate"]
    assert change.describe() == "queues.2.max-rate: file 3000000, controller 2000000"
    assert [diff.label(q) for q in diff.extra] == ["sw 00:00:00:00:00:00:00:02 port s2-eth1"]
    assert diff.to_dict() == {
        "missing": [{"sw": "00:00:00:00:00:00:00:01", "port": "all"}],
        "changed": [{"sw": "all", "port": "all", "fields": ["queues.2.max-rate"]}],
        "extra": [{"sw": "00:00:00:00:00:00:00:02", "port": "s2-eth1"}]}
    assert diff_queues([SEED_QUEUES], [queue_view(SEED_QUEUES_NORMAL)]).in_sync


def test_flatten_keeps_empty_objects_so_an_added_queue_shows() -> None:
    assert flatten({"a": 1, "q": {"0": {}, "1": {"max-rate": 2}}}) == {"a": 1, "q.0": {}, "q.1.max-rate": 2}
    two = {**SEED_QUEUES_NORMAL, "queues": {"0": {}, "1": {}}}
    one = {**SEED_QUEUES_NORMAL, "queues": {"0": {}}}
    [change] = diff_queues([two], [queue_view(one)]).changed
    assert change.fields == ["queues.1"]


def test_invalid_or_duplicate_queue_entries_name_the_entry_and_field() -> None:
    with pytest.raises(LocalEntryError, match=r"queues\[0\] sw all port all: max-rate: .*'fast'"):
        diff_queues([{**SEED_QUEUES, "max-rate": "fast"}], [])
    with pytest.raises(LocalEntryError, match=r"queues\[1\] sw 00:00:00:00:00:00:00:01 port 2: duplicate sw\+port"):
        diff_queues([{**SEED_QUEUES, "sw": "00:00:00:00:00:00:00:01", "port": 2},
                     {**SEED_QUEUES, "sw": "00:00:00:00:00:00:00:01", "port": "2"}], [])
    with pytest.raises(LocalEntryError, match=r"queues\[0\] .*: queues.1: missing"):
        diff_queues([{**SEED_QUEUES, "queues": {"0": {}, "2": {}}}], [])


def test_push_plan_sets_queues_first_and_prunes_them_last() -> None:
    queues = diff_queues([SEED_QUEUES, {**SEED_QUEUES, "sw": "1", "max-rate": "1G", "queues": {"0": {}}}],
                         [queue_view({**SEED_QUEUES, "sw": "1", "queues": {"0": {}}}),
                          queue_view({**SEED_QUEUES, "port": "s9-eth9"})])
    services = diff_services([{"name": "Expedited", "dscp": 46}], [BEST_EFFORT, {"name": "Old", "dscp": 8, "id": 2}])
    policies = diff_policies([SEED_S1], [view({"name": "gone", "queue": 1, "enqueue-port": 1}, 5)])
    steps = plan_push(services, policies, prune=True, queues=queues)
    assert [(s.method, s.path, s.text.split(" (")[0]) for s in steps] == [
        ("POST", "/qos/queues", "set queue profile sw all port all"),
        ("POST", "/qos/queues", "replace queue profile sw 00:00:00:00:00:00:00:01 port all"),
        ("POST", "/qos/services", "add service Expedited"),
        ("POST", "/qos/policies", "add policies Enqueue 2:2 s1"),
        ("DELETE", "/qos/policies/gone", "delete policy gone"),
        ("DELETE", "/qos/services/Old", "delete service Old"),
        ("DELETE", "/qos/queues", "delete queue profile sw all port s9-eth9"),
    ]
    assert steps[0].body == SEED_QUEUES_NORMAL
    assert steps[1].body["max-rate"] == 10**9 and "max-rate: file 1000000000" in steps[1].text
    assert steps[-1].body == {"sw": "all", "port": "s9-eth9"}
    assert [s.method for s in plan_push(services, policies, queues=queues)] == ["POST"] * 4


def test_in_sync_queues_plan_nothing() -> None:
    queues = diff_queues([SEED_QUEUES], [queue_view(SEED_QUEUES, {"00:00:00:00:00:00:00:01/s1-eth1": {"state": "error",
                                                                                                    "reason": "x"}})])
    assert queues.in_sync
    assert plan_push(diff_services([], [BEST_EFFORT]), diff_policies([], []), prune=True, queues=queues) == []


def test_pull_replaces_queues_by_the_controllers_in_file_order() -> None:
    s1 = {**SEED_QUEUES, "sw": "1"}
    old = State(queues=[{**s1, "max-rate": "fast"}, {"sw": "9", "max-rate": "1G", "queues": {"0": {}}}, SEED_QUEUES])
    new = pulled_state(old, [], [], [queue_view({**SEED_QUEUES, "port": 3}), queue_view(SEED_QUEUES),
                                     queue_view(s1)])
    assert new.queues == [normalise_queue_profile(s1), SEED_QUEUES_NORMAL,
                          normalise_queue_profile({**SEED_QUEUES, "port": 3})]
    assert diff_queues(new.queues, [queue_view(q) for q in new.queues]).in_sync
    assert pulled_state(old, [], []).queues == old.queues


# ---------------------------------------------------------------- paths
#: a path as a user may write it in the file: strings, defaults left out
PATH_FILE = {"name": "h1-h2 2M", "src": "10.0.0.1", "dst": "10.0.0.2", "protocol": "6", "queue": "2"}
PATH_NORMAL = {"name": "h1-h2 2M", "src": "10.0.0.1", "dst": "10.0.0.2", "protocol": 6, "queue": 2,
               "direction": "both", "priority": 32767}


def path_view(path: dict[str, Any], pid: int, state: str = "pending") -> dict[str, Any]:
    """What GET /qos/paths answers: PathSpec.to_dict() + id, cookie, status, installed."""
    status = {"state": state, "topology-version": pid, "hops": [], "reason": "unknown host"}
    return {**normalise_path(path), "id": pid, "cookie": hex(0x50 << 56 | pid), "status": status,
            "installed": state == "installed"}


def test_path_normal_form_matches_the_controllers_view() -> None:
    assert normalise_path(PATH_FILE) == PATH_NORMAL
    assert normalise_path(path_view(PATH_FILE, 4, "installed")) == PATH_NORMAL
    assert diff_paths([PATH_FILE], [path_view(PATH_NORMAL, 1)]).in_sync
    # keys a newer controller adds to its views are state, never a difference
    assert diff_paths([PATH_FILE], [{**path_view(PATH_NORMAL, 1), "rerouted": 3}]).in_sync
    assert normalise_path_view({**path_view(PATH_NORMAL, 1), "rerouted": 3}) == PATH_NORMAL


def test_missing_changed_extra_paths_by_name() -> None:
    forward = {**PATH_FILE, "direction": "forward"}
    other = {**PATH_FILE, "name": "h3-h4", "src": "10.0.0.3", "dst": "10.0.0.4"}
    stray = {**PATH_FILE, "name": "stray", "service": "Expedited", "queue": None}
    diff = diff_paths([forward, other], [path_view(PATH_FILE, 1), path_view(stray, 2)])
    assert [p["name"] for p in diff.missing] == ["h3-h4"]
    [change] = diff.changed
    assert (change.name, change.fields) == ("h1-h2 2M", ["direction"])
    assert change.describe() == "direction: file forward, controller both"
    assert diff.to_dict() == {"missing": ["h3-h4"], "changed": [{"name": "h1-h2 2M", "fields": ["direction"]}],
                              "extra": ["stray"]}


def test_invalid_or_duplicate_path_entries_name_the_entry() -> None:
    with pytest.raises(LocalEntryError, match=r"paths\[1\] 'bad': dst: must differ from src"):
        diff_paths([PATH_FILE, {**PATH_FILE, "name": "bad", "dst": "10.0.0.1"}], [])
    with pytest.raises(LocalEntryError, match=r"paths\[1\] 'h1-h2 2M': duplicate name"):
        diff_paths([PATH_FILE, PATH_NORMAL], [])
    with pytest.raises(LocalEntryError, match=r"paths\[0\] 'p': hops: unknown key"):  # status is the server's, dropped
        diff_paths([{**PATH_FILE, "name": "p", "status": {}, "hops": []}], [])


def test_push_plan_adds_paths_last_and_prunes_them_first() -> None:
    queues = diff_queues([SEED_QUEUES], [])
    services = diff_services([{"name": "Expedited", "dscp": 46}], [BEST_EFFORT, {"name": "Old", "dscp": 8, "id": 2}])
    policies = diff_policies([SEED_S1], [view({"name": "gone", "queue": 1, "enqueue-port": 1}, 5)])
    new = {**PATH_FILE, "name": "new", "service": "Expedited", "queue": None}
    paths = diff_paths([new, {**PATH_FILE, "dst-port": 5001}],
                       [path_view(PATH_FILE, 1), path_view({**PATH_FILE, "name": "old path"}, 2)])
    steps = plan_push(services, policies, prune=True, queues=queues, paths=paths)
    assert [(s.method, s.path, s.text.split(" (")[0]) for s in steps] == [
        ("POST", "/qos/queues", "set queue profile sw all port all"),
        ("POST", "/qos/services", "add service Expedited"),
        ("POST", "/qos/policies", "add policies Enqueue 2:2 s1"),
        ("POST", "/qos/paths", "add path new"),
        ("DELETE", "/qos/paths/h1-h2%202M", "delete path h1-h2 2M"),
        ("POST", "/qos/paths", "add path h1-h2 2M"),
        ("DELETE", "/qos/paths/old%20path", "delete path old path"),
        ("DELETE", "/qos/policies/gone", "delete policy gone"),
        ("DELETE", "/qos/services/Old", "delete service Old"),
    ]
    assert steps[3].body == normalise_path(new)
    assert steps[4].text == "delete path h1-h2 2M (to re-add it: dst-port: file 5001, controller (unset))"
    assert steps[5].body == {**PATH_NORMAL, "dst-port": 5001}
    assert [s.text for s in plan_push(services, policies, queues=queues, paths=paths)][3:] == [
        "add path new", steps[4].text, "add path h1-h2 2M"]


def test_in_sync_paths_plan_nothing_whatever_their_state() -> None:
    paths = diff_paths([PATH_FILE], [path_view(PATH_FILE, 1, "installed")])
    assert paths.in_sync
    assert plan_push(diff_services([], [BEST_EFFORT]), diff_policies([], []), prune=True, paths=paths) == []


def test_pull_writes_paths_in_file_order_without_server_keys() -> None:
    a, b = {**PATH_FILE, "name": "a"}, {**PATH_FILE, "name": "b"}
    old = State(paths=[b, {**PATH_FILE, "name": "gone"}, a])
    new = pulled_state(old, [], [], None, [path_view({**PATH_FILE, "name": n}, i) for i, n in enumerate("cab", 1)])
    assert new.paths == [normalise_path(b), normalise_path(a), normalise_path({**PATH_FILE, "name": "c"})]
    assert pulled_state(old, [], []).paths == old.paths
