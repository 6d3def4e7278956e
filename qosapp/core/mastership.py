"""Who should master which switch in a cluster, and what this instance must do about it (pure).

Every instance of a cluster holds an etcd lease and a member key saying
which switches it is connected to (`qosapp.adapters.etcdcluster`); per
switch, at most one instance holds the mastership key, bound to its lease.
Every instance reads the same keys (the store's mirror) and runs `assign`
on them, so all come to the same answer without talking to each other;
each then does only its own part (`plan`): claim the switches assigned to
it that nobody masters, release the ones it masters that are assigned to
another. etcd decides races (a claim is "create if absent").

The assignment is sticky and balanced: a live master keeps its switches
up to its share (the switch count over the member count, the remainder to
the members that already hold the most); what is over a share or has no
live master goes, lowest dpid first, to the eligible member (one connected
to the switch) that is furthest below its share, then by name. When a member's lease
expires its keys vanish and the survivors split its switches; when it
comes back the others release down to their share and it takes those.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping


@dataclass(frozen=True)
class Plan:
    """This instance's part of the assignment."""

    #: switches to claim (assigned here, no master now)
    claim: tuple[int, ...] = ()
    #: switches to release (mastered here, assigned to another member)
    release: tuple[int, ...] = ()
    #: the whole assignment, dpid -> member (for views and logs)
    target: Mapping[int, str] = field(default_factory=dict)


def shares(members: Mapping[str, frozenset[int]], held: Mapping[str, int], switches: int) -> dict[str, int]:
    """How many switches each member should master: an even split, the remainder to the biggest holders."""
    if not members:
        return {}
    base, extra = divmod(switches, len(members))
    order = sorted(members, key=lambda m: (-held.get(m, 0), m))
    return {member: base + (1 if rank < extra else 0) for rank, member in enumerate(order)}


def assign(members: Mapping[str, frozenset[int]], masters: Mapping[int, str]) -> dict[int, str]:
    """dpid -> member for every switch some live member is connected to.

    `members`: live member id -> the dpids it is connected to; `masters`:
    the mastership keys now (dpid -> member id, possibly of a member that
    is gone or not connected to that switch any more).
    """
    switches = sorted(set().union(*members.values())) if members else []
    kept: dict[str, list[int]] = {m: [] for m in members}
    for dpid in switches:
        owner = masters.get(dpid)
        if owner is not None and owner in members and dpid in members[owner]:
            kept[owner].append(dpid)
    share = shares(members, {m: len(d) for m, d in kept.items()}, len(switches))
    target: dict[int, str] = {}
    for member, dpids in kept.items():
        for dpid in dpids[:share[member]]:
            target[dpid] = member
    load = {m: sum(1 for owner in target.values() if owner == m) for m in members}
    for dpid in switches:
        if dpid in target:
            continue
        eligible = [m for m in members if dpid in members[m]]
        best = min(eligible, key=lambda m: (load[m] - share[m], m))
        target[dpid] = best
        load[best] += 1
    return target


def plan(me: str, members: Mapping[str, frozenset[int]], masters: Mapping[int, str]) -> Plan:
    """What `me` must do: claim what is assigned to it and free, release what it holds for another."""
    if me not in members:  # not registered (yet, or lease lost): hold nothing
        return Plan(release=tuple(sorted(d for d, m in masters.items() if m == me)))
    target = assign(members, masters)
    claim = tuple(d for d, m in sorted(target.items()) if m == me and d not in masters)
    release = tuple(sorted(d for d, m in masters.items() if m == me and target.get(d) != me))
    return Plan(claim=claim, release=release, target=target)
