"""Sync logic: normalised comparison and the order of a push (pure)."""
from __future__ import annotations

import json
from typing import Any

import pytest

from qosapp.model import parse_policy
from pusher.state import State
from pusher.sync import (LocalEntryError, diff_policies, diff_services, normalise_policy, normalise_service,
                         plan_push, pulled_state)

SEED_S1 = json.loads('{"name": "Enqueue 2:2 s1", "protocol":"6","eth-type": "0x0800", "ingress-port": "1",'
                     '"ip-src":"10.0.0.1", "sw": "00:00:00:00:00:00:00:01","queue":"2","enqueue-port":"2"}')
SEED_S2 = json.loads('{"name": "Enqueue 1:2 s2", "protocol":"6","eth-type": "0x0800", "ingress-port": "1",'
                     '"ip-src":"10.0.0.1", "sw": "00:00:00:00:00:00:00:02","queue":"2","enqueue-port":"1"}')


def view(policy: dict[str, Any], pid: int) -> dict[str, Any]:
    """What the controller answers for a policy: normalised + id, cookie, install."""
    out = parse_policy(policy).to_dict()
    out.update(id=pid, cookie=hex(0x51000000 + pid), install={"00:00:00:00:00:00:00:01": {"state": "installed"}})
    return out


BEST_EFFORT = {"name": "Best Effort", "dscp": 0, "tos": 0, "id": 1}


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
