"""Next hops toward every host's switch, kept up to date link by link (pure).

Learned forwarding needs, for every destination switch d with hosts and
every switch s, the port s sends toward d (`Topology.next_hops_to`). The
rule (one place, used by both): of the ports of s whose link leads to a
switch one cable closer to d, the lowest. Every such choice lies on a
shortest path, so the next hops toward one destination form a tree and
never a loop, and the result depends on the graph only (not on the order
LLDP reported it).

Why a class that follows the links: computing every destination's table
again on each change is one BFS per destination per event. A fabric coming
up reports hundreds of links one at a time, and 100 BFS per link (over 100
switches) was seconds of CPU. `NextHops.update` takes the links as they are
now, works out what was added and removed since the last call, and per
destination does only what that change needs:

- a link that brings s no closer and takes no shortest route away: nothing;
- a link as short as s's current choice, or the loss of one of several
  equally short ones: s's own choice again (a min over s's ports);
- a link that makes switches closer: distances lowered outward from it
  (the switches it improves, and their neighbours' choices);
- the loss of s's last shortest way toward d: that destination from scratch.

It returns, per destination, the switches whose next hop changed, which is
what the forwarding flows to send follow from.
"""
from __future__ import annotations

from collections import deque
from typing import Iterable, Mapping

Endpoint = tuple[int, int]  # (dpid, port)


def best_port(out: Mapping[int, int], dist: Mapping[int, int], here: int) -> int | None:
    """The lowest port of `out` ({port: neighbour}) whose neighbour is one cable closer than `here`."""
    closer = here - 1
    ports = [port for port, peer in out.items() if dist.get(peer) == closer]
    return min(ports) if ports else None


def distances_to(into: Mapping[int, Iterable[tuple[int, int]]], dst: int) -> dict[int, int]:
    """Cables from each switch to `dst`: one BFS over `into` ({switch: (neighbour, its port) sending to it})."""
    dist = {dst: 0}
    frontier = [dst]
    while frontier:
        following = []
        for here in frontier:
            step = dist[here] + 1
            for there, _port in into.get(here, ()):
                if there not in dist:
                    dist[there] = step
                    following.append(there)
        frontier = following
    return dist


def next_hops(out: Mapping[int, Mapping[int, int]], dist: Mapping[int, int], dst: int) -> dict[int, int]:
    """{switch: port} toward `dst` for every switch that reaches it (the rule of the module docstring)."""
    toward = {}
    for dpid, here in dist.items():
        if dpid != dst:
            port = best_port(out.get(dpid, {}), dist, here)
            if port is not None:
                toward[dpid] = port
    return toward


class NextHops:
    """Per destination switch: distances and next hops of every switch, updated from link diffs."""

    def __init__(self) -> None:
        self._links: dict[Endpoint, Endpoint] = {}
        #: dpid -> {port: neighbour it sends to}
        self._out: dict[int, dict[int, int]] = {}
        #: dpid -> {(neighbour, neighbour's port)} that send to it
        self._into: dict[int, set[tuple[int, int]]] = {}
        self._dist: dict[int, dict[int, int]] = {}
        self._toward: dict[int, dict[int, int]] = {}
        #: BFS from scratch so far (for tests and benchmarks: the expensive case should stay rare)
        self.full_searches = 0

    def toward(self, dst: int) -> Mapping[int, int]:
        """{switch: port} toward `dst` as of the last `update` ({} for a destination not followed)."""
        return self._toward.get(dst, {})

    def destinations(self) -> set[int]:
        return set(self._toward)

    def update(self, links: Mapping[Endpoint, Endpoint], destinations: Iterable[int]) -> dict[int, set[int]]:
        """Follow `links` (src end -> dst end, all of them) for `destinations`; {dst: switches whose hop changed}.

        A destination new to the set counts every switch that reaches it as
        changed; one dropped from it is forgotten (nothing is reported).
        """
        removed = [(src, dst) for src, dst in self._links.items() if links.get(src) != dst]
        added = [(src, dst) for src, dst in links.items() if self._links.get(src) != dst]
        for (a, pa), (b, _pb) in removed:
            self._out[a].pop(pa, None)
            self._into[b].discard((a, pa))
            del self._links[(a, pa)]
        for (a, pa), (b, _pb) in added:
            self._out.setdefault(a, {})[pa] = b
            self._into.setdefault(b, set()).add((a, pa))
            self._links[(a, pa)] = (b, _pb)
        wanted = set(destinations)
        for gone in set(self._toward) - wanted:
            del self._toward[gone], self._dist[gone]
        changes: dict[int, set[int]] = {}
        if not removed and not added:  # hosts only: just the new destinations
            wanted -= set(self._toward)
        for dst in wanted:
            if dst not in self._toward:
                changed = self._from_scratch(dst)
            else:
                changed = self._follow(dst, removed, added)
            if changed:
                changes[dst] = changed
        return changes

    # ------------------------------------------------------------ per destination
    def _from_scratch(self, dst: int) -> set[int]:
        self.full_searches += 1
        old = self._toward.get(dst, {})
        self._dist[dst] = dist = distances_to(self._into, dst)
        self._toward[dst] = toward = next_hops(self._out, dist, dst)
        return {dpid for dpid in set(old) | set(toward) if old.get(dpid) != toward.get(dpid)}

    def _follow(self, dst: int, removed: list[tuple[Endpoint, Endpoint]],
                added: list[tuple[Endpoint, Endpoint]]) -> set[int]:
        dist = self._dist[dst]
        touched: set[int] = set()
        for (a, _pa), (b, _pb) in removed:
            if a in dist and dist.get(b) == dist[a] - 1:  # it was one of a's shortest ways
                if best_port(self._out.get(a, {}), dist, dist[a]) is None:
                    return self._from_scratch(dst)  # a's last one: distances grow
                touched.add(a)
        lowered: list[tuple[int, int]] = []
        for (a, _pa), (b, _pb) in added:
            if b not in dist:
                continue
            if a not in dist or dist[b] + 1 < dist[a]:
                lowered.append((a, dist[b] + 1))
            elif dist[b] + 1 == dist[a]:
                touched.add(a)
        if lowered:
            touched |= self._lower(dist, lowered)
        toward = self._toward[dst]
        changed = set()
        for dpid in touched:
            if dpid == dst:
                continue
            port = best_port(self._out.get(dpid, {}), dist, dist[dpid]) if dpid in dist else None
            if toward.get(dpid) != port:
                changed.add(dpid)
                if port is None:
                    toward.pop(dpid, None)
                else:
                    toward[dpid] = port
        return changed

    def _lower(self, dist: dict[int, int], starts: list[tuple[int, int]]) -> set[int]:
        """Distances lowered from `starts` ((switch, new distance)) outward; the switches whose choice may change."""
        queue: deque[int] = deque()
        lowered: set[int] = set()
        for dpid, value in sorted(starts, key=lambda item: item[1]):
            if value < dist.get(dpid, value + 1):
                dist[dpid] = value
                lowered.add(dpid)
                queue.append(dpid)
        while queue:
            here = queue.popleft()
            step = dist[here] + 1
            for there, _port in self._into.get(here, ()):
                if step < dist.get(there, step + 1):
                    dist[there] = step
                    lowered.add(there)
                    queue.append(there)
        touched = set(lowered)
        for dpid in lowered:  # who sends to a switch that got closer may now prefer it
            touched |= {there for there, _port in self._into.get(dpid, ())}
        return touched
