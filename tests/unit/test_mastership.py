"""Cluster mastership: who masters which switch (pure), and what the core sends as master or slave.

The assignment (`qosapp.core.mastership`) is computed by every instance
from the same keys, so it must be a function of them alone: balanced,
sticky, and only to members connected to the switch. The core side: two
instances on one store each master half of the switches; each sends only
to its own, shows the other's as "peer", and a takeover re-sends without
a wipe (a flow that is right is never deleted) and reconciles by cookie.
"""
from __future__ import annotations

from pathlib import Path

from qosapp.core.compiler import OF13, FlowDelete
from qosapp.core.controller import WIPE
from qosapp.core.cookies import policy_cookie
from qosapp.core.mastership import assign, plan, shares
from qosapp.core.storeapi import read_tables
from qosapp.core.switchstate import PEER
from tests.unit.fakeoftable import FakeSwitches
from tests.unit.serviceenv import make_service

ALL = frozenset(range(1, 11))


def counts(target: dict[int, str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for member in target.values():
        out[member] = out.get(member, 0) + 1
    return out


def test_ten_switches_three_members_split_four_three_three() -> None:
    target = assign({"a": ALL, "b": ALL, "c": ALL}, {})
    assert sorted(target) == sorted(ALL)
    assert sorted(counts(target).values()) == [3, 3, 4]


def test_assignment_is_sticky_and_rebalances_after_a_death_and_a_return() -> None:
    members = {"a": ALL, "b": ALL, "c": ALL}
    first = assign(members, {})
    # c dies: its switches go to a and b, nothing of a's or b's moves
    survivors = {"a": ALL, "b": ALL}
    after = assign(survivors, {d: m for d, m in first.items() if m != "c"})
    assert counts(after) == {"a": 5, "b": 5}
    assert all(after[d] == m for d, m in first.items() if m != "c")
    # c comes back: a and b give up down to their share, c takes a share
    back = assign(members, after)
    assert sorted(counts(back).values()) == [3, 3, 4] and counts(back)["c"] >= 3
    assert sum(1 for d in back if back[d] != after[d]) == counts(back)["c"]  # only c's share moved


def test_only_connected_members_are_eligible() -> None:
    target = assign({"a": frozenset({1, 2}), "b": frozenset({2, 3})}, {})
    assert target[1] == "a" and target[3] == "b"
    # a master that lost its connection to a switch loses it
    assert assign({"a": frozenset({1}), "b": frozenset({1, 2})}, {2: "a"})[2] == "b"


def test_shares_give_the_remainder_to_the_biggest_holders() -> None:
    assert shares({"a": ALL, "b": ALL, "c": ALL}, {"a": 5, "b": 5}, 10) == {"a": 4, "b": 3, "c": 3}
    assert shares({}, {}, 3) == {}


def test_plan_claims_only_free_switches_and_releases_what_is_another_s() -> None:
    members = {"a": ALL, "b": ALL, "c": ALL}
    masters = {d: "a" for d in range(1, 11)}  # a holds everything (b and c just joined)
    mine = plan("a", members, masters)
    assert len(mine.release) == 6 and mine.claim == ()
    theirs = plan("b", members, masters)
    assert theirs.claim == () and theirs.release == ()  # nothing free yet: a releases first
    freed = {d: m for d, m in masters.items() if d not in mine.release}
    b = plan("b", members, freed)
    c = plan("c", members, freed)
    assert set(b.claim).isdisjoint(c.claim) and len(b.claim) + len(c.claim) == 6
    # an instance whose lease is gone holds nothing
    assert plan("z", members, {3: "z"}).release == (3,)


def test_master_sends_slave_keeps_the_view_and_a_takeover_leaves_right_flows(tmp_path: Path) -> None:
    sent_a, sent_b = FakeSwitches(), FakeSwitches()
    a = make_service(str(tmp_path), send=sent_a, forwarding="normal")
    b = make_service(str(tmp_path), send=sent_b, forwarding="normal")
    for svc in (a, b):
        svc.core.join_cluster()
        for dpid in (1, 2):
            svc.switch_connected(dpid, OF13, {1: f"s{dpid}-eth1", 2: f"s{dpid}-eth2"}, wipe=False)
    assert sent_a.calls == [] and sent_b.calls == []  # nobody masters anything yet: nothing sent
    a.take_over(1, "a")
    b.hand_over(1, "a")
    b.take_over(2, "b")
    a.hand_over(2, "b")
    assert {d for d, _ in sent_a.calls} == {1} and {d for d, _ in sent_b.calls} == {2}
    assert all(WIPE not in ops for _, ops in sent_a.calls + sent_b.calls)
    a.enable()
    policy = a.add_policy({"name": "p", "ip-src": "10.0.0.1", "protocol": 6, "queue": 1})
    b.converge(lambda: read_tables(b.core.store))
    cookie = policy_cookie(policy.id or 0)
    assert sent_a.holding(1, cookie) and not sent_a.holding(2, cookie)
    assert sent_b.holding(2, cookie) and not sent_b.holding(1, cookie)
    peer = a.policy_view(a.core.policies["p"])["install"]["00:00:00:00:00:00:00:02"]
    assert peer["state"] == PEER and "mastered by b" in peer["reason"]
    assert not a.core.switches[2].pending(cookie)  # a ?wait=confirm on a does not wait for b's switch
    # b dies: a takes switch 2 over. The flows b put there stay; a sends adds, never a delete of them
    held = set(sent_b.holding(2))
    sent_a.tables[2] = sent_b.tables[2]
    sent_a.take()
    a.take_over(2, "a")
    ops = [op for dpid, batch in sent_a.take() if dpid == 2 for op in batch]
    assert ops and not any(isinstance(op, FlowDelete) for op in ops)
    assert held <= set(sent_a.holding(2))
    # the switch also holds a flow of a policy deleted while b was gone: the reconcile removes only that
    stale = policy_cookie(999)
    a.reconcile(2, [cookie, stale, 0x5100000000000000])
    deletes = [op for dpid, batch in sent_a.take() if dpid == 2 for op in batch]
    assert deletes == [FlowDelete(cookie=stale)]
