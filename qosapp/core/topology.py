"""The network as the controller has discovered it: switches, links, hosts (pure).

The Ryu shell feeds this from events (LLDP link add/delete, port status,
packet-in) and asks it for paths; nothing here imports Ryu, so ring, fat-tree
and 10,000-switch fabrics are tested and benchmarked without a switch.

Why a directed graph: LLDP reports each direction of a cable on its own, and a
path may only use a direction that has been seen. Paths come from networkx's
bidirectional BFS (run on the graph's own dicts) and, on a big fabric where
that would look at more than 1% of the links, from scipy's C BFS
(`qosapp.core.csgraph`): fewest hops either way. The graph is updated in
place on every event, so a path query costs one search and nothing else.

`version` changes whenever something a path or a forwarding flow depends on
changes (a switch, port, link or host attachment), so callers know when to
re-check their paths; `grown_since(v)` says whether a link or switch was
*added* since version v — only then can a shorter path have appeared.

Every link added or removed goes into a log stamped with the version it
made (the last `LINK_EVENTS_KEPT` are kept), so the questions asked for each
stored path on each event cost the few changes since its plan, not its hops:
is the route intact (`links_removed_since`: is one of those its own and still
gone?), and can it have been beaten (`edges_new_since`)? A route still intact
can only be beaten through a switch pair u->v that had no link when it was
planned, and the best route through u->v has d(src, u) + 1 + d(v, dst)
cables: `Shortcuts` answers that with a search per path while few paths ask,
then one BFS to u and one from v shared by every stored path. When the log
no longer reaches back to a plan, or many links were added (a fabric coming
up), it checks the long way: every hop, one search per path.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, NamedTuple

import networkx as nx

from qosapp.core import nexthops
from qosapp.core.model import format_dpid
from qosapp.core.ports import is_reserved_port

if TYPE_CHECKING:  # imported where used: numpy and scipy load only for a big fabric
    from qosapp.core.csgraph import CompiledGraph


#: link events (a link added or removed) remembered for `links_added_since`,
#: `links_removed_since` and `edges_new_since`; older ones are forgotten and a
#: question about them gets None ("don't know": the caller checks the long way)
LINK_EVENTS_KEPT = 1024
#: above this many distinct link ends to search from, `Shortcuts` searches per path
SHORTCUT_ENDS_MAX = 8
#: fabrics with at least this many directed switch-to-switch edges may use the C BFS
#: (`qosapp.core.csgraph`); below, a Python search is < 1.5 ms and numpy/scipy never load
COMPILED_MIN_EDGES = 8192
#: on those, `Topology.search` hands over to the C BFS once its own would look at more than edges / this
C_SEARCH_RATIO = 100

#: (version after the change, src endpoint, dst endpoint, added?, edge?) where edge
#: says the switch pair src->dst got its first link (added) or lost its last one
LinkEvent = tuple[int, "Endpoint", "Endpoint", bool, bool]

#: Port roles. UNKNOWN = neither a discovered link nor a learned host yet: it
#: may be an uncharted cable, so frames arriving there are never flooded on.
LINK, HOST, UNKNOWN = "link", "host", "unknown"

Endpoint = tuple[int, int]  # (dpid, port)


class NoPath(LookupError):
    """Two switches are not connected in the discovered graph (yet)."""


class UnknownHost(LookupError):
    """No host with that IP has been seen; `ip` says which one."""

    def __init__(self, ip: str) -> None:
        super().__init__(f"unknown host {ip}")
        self.ip = ip


class Search(NamedTuple):
    """What one route search found: the switches of a shortest route (None: no route), and its cost."""

    path: list[int] | None
    visited: int  # switches the search touched: what it cost, for `Shortcuts`' budget


@dataclass(frozen=True)
class Hop:
    """One switch of a path: where the packet comes in and where it leaves."""

    dpid: int
    in_port: int
    out_port: int

    def reversed(self) -> Hop:
        """The same switch seen by the traffic going the other way."""
        return Hop(self.dpid, self.out_port, self.in_port)

    def to_dict(self) -> dict[str, Any]:
        return {"dpid": format_dpid(self.dpid), "in-port": self.in_port, "out-port": self.out_port}


@dataclass(frozen=True)
class Host:
    """Where a MAC address was seen entering the network (an edge port)."""

    mac: str
    ip: str | None
    dpid: int
    port: int
    #: its IPv6 addresses seen (neighbour discovery, IPv6 sources), oldest first; link-local ones are not kept
    ipv6: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mac": self.mac, "ip": self.ip, "dpid": format_dpid(self.dpid), "port": self.port}
        if self.ipv6:
            out["ipv6"] = list(self.ipv6)
        return out

    def addresses(self) -> tuple[str, ...]:
        """Every address the host is known by (its IPv4 first)."""
        return ((self.ip,) if self.ip is not None else ()) + self.ipv6


#: at most this many IPv6 addresses are kept per host (privacy addresses come and go): the newest win
MAX_IPV6_PER_HOST = 8


def _cable(src: Endpoint, dst: Endpoint) -> tuple[Endpoint, Endpoint]:
    """A cable regardless of direction: lower dpid's end first."""
    return (src, dst) if src[0] < dst[0] else (dst, src)


def is_unicast_mac(mac: str) -> bool:
    """Hosts have unicast, non-zero MACs; multicast sources are bogus or protocol frames."""
    return int(mac[:2], 16) & 1 == 0 and mac != "00:00:00:00:00:00"


class Topology:
    """Switches (dpid -> ports), directed links, hosts; one graph kept in step.

    Every mutator returns whether it changed anything, so the caller can
    skip recomputation when an event only repeated what was known.
    """

    def __init__(self) -> None:
        self.version = 0
        self._grown_at = 0
        self._link_log: deque[LinkEvent] = deque(maxlen=LINK_EVENTS_KEPT)
        self._edges = 0  # switch pairs u->v with a link: what a search's budget is a share of
        self._csr: CompiledGraph | None = None  # for the C BFS on big fabrics, built on first use
        self._log_floor = 0  # link events at or before this version may be forgotten
        self._shape = 0  # changes with switches/ports/links only: the tree cache key
        self._ports: dict[int, set[int]] = {}
        self._links: dict[Endpoint, Endpoint] = {}  # src endpoint -> dst endpoint
        self._ends: dict[Endpoint, Endpoint] = {}  # dst endpoint -> src endpoint
        #: u -> v edges; attribute "ports" = {u's port: v's port} (parallel cables)
        self._graph = nx.DiGraph()
        #: undirected view for the spanning tree, kept in step (rebuilding it
        #: from 700k links took seconds): edge attr "cables" = {cable: directions seen}
        self._cables = nx.Graph()
        self._link_ports: dict[int, set[int]] = {}  # dpid -> ports with a link either way
        self._hosts: dict[str, Host] = {}
        self._by_ip: dict[str, str] = {}
        self._by_port: dict[Endpoint, set[str]] = {}
        self._tree: tuple[int, dict[int, set[int]], list[tuple[Endpoint, Endpoint]]] | None = None
        self._toward: dict[int, dict[int, int]] = {}  # next_hops_to() results for shape _toward_shape
        self._toward_shape = -1
        #: per shape: {dpid: {port: neighbour}} and {dpid: [(neighbour, its port)]} (for next_hops_to)
        self._adjacency: tuple[dict[int, dict[int, int]], dict[int, list[tuple[int, int]]]] | None = None

    # ------------------------------------------------------------ bookkeeping
    def _changed(self, grown: bool = False, shape: bool = True) -> None:
        self.version += 1
        if grown:
            self._grown_at = self.version
        if shape:
            self._shape += 1

    def grown_since(self, version: int) -> bool:
        """Was a switch or link added after `version`? (a shorter path may exist)."""
        return self._grown_at > version

    def _log_link(self, src: Endpoint, dst: Endpoint, added: bool, edge: bool) -> None:
        """Remember a link change; called before `_changed`, so it is stamped with the version it makes."""
        if len(self._link_log) == self._link_log.maxlen:
            self._log_floor = self._link_log[0][0]
        self._link_log.append((self.version + 1, src, dst, added, edge))

    def _link_events_since(self, version: int) -> list[LinkEvent] | None:
        """Link events after `version`, oldest first; None if some may be forgotten
        (or `version` is not one of this topology's: a plan made on another one)."""
        if version < self._log_floor or version > self.version:
            return None
        events: list[LinkEvent] = []
        for event in reversed(self._link_log):  # newest first: stop at the first one that is old enough
            if event[0] <= version:
                break
            events.append(event)
        events.reverse()
        return events

    def links_added_since(self, version: int) -> list[tuple[int, int]] | None:
        """The (u, v) switch pairs that got a link after `version`; None if forgotten."""
        events = self._link_events_since(version)
        return None if events is None else [(src[0], dst[0]) for _, src, dst, added, _ in events if added]

    def links_removed_since(self, version: int) -> list[tuple[Endpoint, Endpoint]] | None:
        """The links (src endpoint, dst endpoint) removed after `version` (some may be back); None if forgotten.

        A route planned at `version` is intact exactly when none of its links
        is among these and gone now: a check per removed link, not per hop.
        """
        events = self._link_events_since(version)
        return None if events is None else [(src, dst) for _, src, dst, added, _ in events if not added]

    def edges_changed_since(self, version: int) -> list[tuple[int, int, bool]] | None:
        """(u, v, appeared?) for each switch pair u->v that got its first link or lost its last, in order."""
        events = self._link_events_since(version)
        return None if events is None else [(src[0], dst[0], added) for _, src, dst, added, edge in events if edge]

    def edges_new_since(self, version: int) -> list[tuple[int, int]] | None:
        """Switch pairs u->v linked now that had no link at `version`; None if forgotten.

        Only these can make a route shorter than one planned at `version`: a
        cable that went down and came back was there when the route was chosen.
        """
        changes = self.edges_changed_since(version)
        if changes is None:
            return None
        first: dict[tuple[int, int], bool] = {}  # pair -> was its first edge change after `version` an addition?
        for u, v, added in changes:
            first.setdefault((u, v), added)
        return [pair for pair, added in first.items() if added and self._graph.has_edge(*pair)]

    # ------------------------------------------------------------ switches and ports
    def add_switch(self, dpid: int, ports: Iterable[int] = ()) -> bool:
        """A switch connected (or re-announced its ports); ports are added, never dropped."""
        new_ports = {p for p in ports if not is_reserved_port(p)}
        known = self._ports.get(dpid)
        if known is not None and new_ports <= known:
            return False
        if known is None:
            self._new_switch(dpid)
        self._ports[dpid] |= new_ports
        self._changed(grown=known is None)
        return True

    def _new_switch(self, dpid: int) -> None:
        self._ports[dpid] = set()
        self._link_ports[dpid] = set()
        self._graph.add_node(dpid)
        self._cables.add_node(dpid)

    def remove_switch(self, dpid: int) -> bool:
        """A switch left: its links (both directions) and hosts go with it."""
        if dpid not in self._ports:
            return False
        for port in sorted(self._ports[dpid]):  # every link end is a known port
            self._drop_port_state(dpid, port)
        for mac in [m for m, h in self._hosts.items() if h.dpid == dpid]:
            self._forget(mac)
        del self._ports[dpid]
        self._link_ports.pop(dpid, None)
        self._graph.remove_node(dpid)
        self._cables.remove_node(dpid)
        self._changed()
        return True

    def add_port(self, dpid: int, port: int) -> bool:
        """A port appeared (or came up) on a known switch."""
        if dpid not in self._ports or is_reserved_port(port) or port in self._ports[dpid]:
            return False
        self._ports[dpid].add(port)
        self._changed()
        return True

    def port_down(self, dpid: int, port: int) -> bool:
        """The port lost its link: links on it (both directions) and hosts behind it go.

        The port itself stays known (it may come back up).
        """
        changed = self._drop_port_state(dpid, port)
        if changed:
            self._changed()
        return changed

    def remove_port(self, dpid: int, port: int) -> bool:
        """The port was deleted from the switch."""
        changed = self._drop_port_state(dpid, port)
        ports = self._ports.get(dpid)
        if ports is not None and port in ports:
            ports.discard(port)
            changed = True
        if changed:
            self._changed()
        return changed

    def _drop_port_state(self, dpid: int, port: int) -> bool:
        end = (dpid, port)
        changed = False
        if end in self._links:
            self._unlink(end)
            changed = True
        if end in self._ends:
            self._unlink(self._ends[end])
            changed = True
        for mac in list(self._by_port.get(end, ())):
            self._forget(mac)
            changed = True
        return changed

    # ------------------------------------------------------------ links
    def add_link(self, src_dpid: int, src_port: int, dst_dpid: int, dst_port: int) -> bool:
        """LLDP saw a frame leave (src_dpid, src_port) and arrive at (dst_dpid, dst_port).

        Hosts wrongly learned on either end (traffic that crossed the cable
        before LLDP found it) are forgotten: a host only lives on an edge port.
        """
        src, dst = (src_dpid, src_port), (dst_dpid, dst_port)
        if src_dpid == dst_dpid or is_reserved_port(src_port) or is_reserved_port(dst_port):
            return False
        if self._links.get(src) == dst:
            return False
        if src in self._links:
            self._unlink(src)
        if dst in self._ends:
            self._unlink(self._ends[dst])
        for dpid, port in (src, dst):
            if dpid not in self._ports:
                self._new_switch(dpid)
            self._ports[dpid].add(port)
            self._link_ports[dpid].add(port)
            for mac in list(self._by_port.get((dpid, port), ())):
                self._forget(mac)
        self._links[src] = dst
        self._ends[dst] = src
        new_edge = not self._graph.has_edge(src_dpid, dst_dpid)
        if new_edge:
            self._edges += 1
            if self._edges == COMPILED_MIN_EDGES:
                from qosapp.core import csgraph

                csgraph.preload()
            self._graph.add_edge(src_dpid, dst_dpid, ports={src_port: dst_port})
        else:
            self._graph[src_dpid][dst_dpid]["ports"][src_port] = dst_port
        self._log_link(src, dst, added=True, edge=new_edge)
        key = _cable(src, dst)
        if self._cables.has_edge(src_dpid, dst_dpid):
            seen = self._cables[src_dpid][dst_dpid]["cables"]
            seen[key] = seen.get(key, 0) + 1
        else:
            self._cables.add_edge(src_dpid, dst_dpid, cables={key: 1})
        self._changed(grown=True)
        return True

    def remove_link(self, src_dpid: int, src_port: int, dst_dpid: int | None = None,
                    dst_port: int | None = None) -> bool:
        """One direction of a cable is gone (LLDP timeout, EventLinkDelete).

        If dst is given it must match what is known, so a stale delete for a
        re-cabled port does not remove the new link.
        """
        src = (src_dpid, src_port)
        known = self._links.get(src)
        if known is None or (dst_dpid is not None and known != (dst_dpid, dst_port)):
            return False
        self._unlink(src)
        self._changed()
        return True

    def _unlink(self, src: Endpoint) -> None:
        dst = self._links.pop(src)
        self._ends.pop(dst, None)
        ports = self._graph[src[0]][dst[0]]["ports"]
        ports.pop(src[1], None)
        if not ports:
            self._graph.remove_edge(src[0], dst[0])
            self._edges -= 1
        self._log_link(src, dst, added=False, edge=not ports)
        seen = self._cables[src[0]][dst[0]]["cables"]
        key = _cable(src, dst)
        seen[key] -= 1
        if not seen[key]:
            del seen[key]
            if not seen:
                self._cables.remove_edge(src[0], dst[0])
        for end in (src, dst):
            if end not in self._links and end not in self._ends:
                self._link_ports[end[0]].discard(end[1])

    def has_link(self, src_dpid: int, src_port: int, dst_dpid: int, dst_port: int) -> bool:
        return self._links.get((src_dpid, src_port)) == (dst_dpid, dst_port)

    def peer(self, dpid: int, port: int) -> Endpoint | None:
        """Where a frame sent out of (dpid, port) arrives, if that link is known."""
        return self._links.get((dpid, port))

    def is_link_port(self, dpid: int, port: int) -> bool:
        """Does a discovered link (either direction) use this port?"""
        end = (dpid, port)
        return end in self._links or end in self._ends

    def port_role(self, dpid: int, port: int) -> str:
        """LINK (a discovered cable), HOST (a host was learned there) or UNKNOWN."""
        if self.is_link_port(dpid, port):
            return LINK
        return HOST if (dpid, port) in self._by_port else UNKNOWN

    def links(self) -> list[tuple[Endpoint, Endpoint]]:
        """Every directed link as ((src_dpid, src_port), (dst_dpid, dst_port)), sorted."""
        return sorted(self._links.items())

    # ------------------------------------------------------------ hosts
    def learn_host(self, mac: str, ip: str | None, dpid: int, port: int) -> bool:
        """A frame from `mac` (sender `ip` if known) entered at (dpid, port).

        Ignored on inter-switch ports, reserved ports and for non-unicast
        MACs. A known host is not moved to an UNKNOWN port: that is exactly
        what a copy crossing a not-yet-discovered cable looks like. It moves
        to a port where hosts already live, or anywhere once its old port went
        down (which forgets it). An IP seen from a new MAC moves to it (a
        replaced host or VM); an unknown IP (None) keeps the MAC's known one.
        Returns whether anything changed.
        """
        mac = mac.lower()
        if is_reserved_port(port) or self.is_link_port(dpid, port) or not is_unicast_mac(mac):
            return False
        old = self._hosts.get(mac)
        if old is not None and (old.dpid, old.port) != (dpid, port) and (dpid, port) not in self._by_port:
            return False
        v6 = ip if ip is not None and ":" in ip else None
        ip = None if v6 is not None else ip
        if ip is None and old is not None:
            ip = old.ip
        ipv6 = old.ipv6 if old is not None else ()
        if v6 is not None and v6 not in ipv6:
            ipv6 = (ipv6 + (v6,))[-MAX_IPV6_PER_HOST:]
        host = Host(mac, ip, dpid, port, ipv6)
        if old == host:
            return False
        if old is not None:
            self._forget(mac)
        for address in host.addresses():
            if address in self._by_ip and self._by_ip[address] != mac:
                self._forget_ip(address)
        self._hosts[mac] = host
        self._by_port.setdefault((dpid, port), set()).add(mac)
        for address in host.addresses():
            self._by_ip[address] = mac
        if dpid in self._ports and port not in self._ports[dpid]:
            self._ports[dpid].add(port)
            self._shape += 1
        self._changed(shape=False)
        return True

    def forget_host(self, mac: str) -> bool:
        if mac.lower() not in self._hosts:
            return False
        self._forget(mac.lower())
        self._changed(shape=False)
        return True

    def _forget(self, mac: str) -> None:
        host = self._hosts.pop(mac)
        macs = self._by_port.get((host.dpid, host.port))
        if macs is not None:
            macs.discard(mac)
            if not macs:
                del self._by_port[(host.dpid, host.port)]
        for address in host.addresses():
            if self._by_ip.get(address) == mac:
                del self._by_ip[address]

    def _forget_ip(self, ip: str) -> None:
        """Another MAC now owns `ip`: the old host keeps its place, loses the IP."""
        mac = self._by_ip.pop(ip)
        old = self._hosts[mac]
        self._hosts[mac] = Host(old.mac, None if old.ip == ip else old.ip, old.dpid, old.port,
                                tuple(a for a in old.ipv6 if a != ip))

    def host_by_ip(self, ip: str) -> Host | None:
        mac = self._by_ip.get(ip)
        return self._hosts[mac] if mac is not None else None

    def host_by_mac(self, mac: str) -> Host | None:
        return self._hosts.get(mac.lower())

    def hosts_at(self, dpid: int, port: int) -> list[Host]:
        """The hosts learned on one edge port, by MAC."""
        return [self._hosts[mac] for mac in sorted(self._by_port.get((dpid, port), ()))]

    def hosts(self) -> list[Host]:
        """All hosts, sorted by attachment point then MAC."""
        return sorted(self._hosts.values(), key=lambda h: (h.dpid, h.port, h.mac))

    # ------------------------------------------------------------ queries
    @property
    def switches(self) -> dict[int, frozenset[int]]:
        return {dpid: frozenset(ports) for dpid, ports in self._ports.items()}

    def ports(self, dpid: int) -> frozenset[int]:
        return frozenset(self._ports.get(dpid, ()))

    def link_port(self, src_dpid: int, dst_dpid: int) -> tuple[int, int]:
        """The cable used from src to dst: (src port, dst port), lowest src port if parallel."""
        ports = self._graph[src_dpid][dst_dpid]["ports"]
        out = min(ports)
        return out, ports[out]

    def shortest_path(self, src_dpid: int, dst_dpid: int) -> list[int]:
        """Switches from src to dst inclusive, fewest hops (raises NoPath)."""
        found = self.search(src_dpid, dst_dpid)
        if found.path is None:
            raise NoPath(f"no path from {format_dpid(src_dpid)} to {format_dpid(dst_dpid)}")
        return found.path

    def search(self, src_dpid: int, dst_dpid: int) -> Search:
        """A shortest route (None: none) and how many switches finding it visited.

        A bidirectional BFS in Python first; on a big fabric (`COMPILED_MIN_EDGES`)
        it gives up before looking at more than 1/`C_SEARCH_RATIO` of the
        links, and scipy's C BFS over the whole graph answers instead
        (`qosapp.core.csgraph`). Both return a shortest route; which one among
        equals depends on which search answered, never on anything but the graph.
        """
        succ_adj = self._graph._succ
        if src_dpid not in succ_adj or dst_dpid not in succ_adj:
            return Search(None, 0)
        if src_dpid == dst_dpid:
            return Search([src_dpid], 1)
        budget = self._edges // C_SEARCH_RATIO if self._edges >= COMPILED_MIN_EDGES else None
        found = self._bidirectional(src_dpid, dst_dpid, budget)
        if found is not None:
            return found
        return Search(self._compiled().route(src_dpid, dst_dpid), len(succ_adj))

    def _bidirectional(self, src_dpid: int, dst_dpid: int, budget: int | None) -> Search | None:
        """networkx's own `bidirectional_shortest_path`, step for step (so the
        same route among equals), but on the graph's adjacency dicts instead
        of its views: a view object per visited switch was a third of the
        time on a 100x100 torus, where one search visits most of it.

        None as soon as the links it looked at would pass `budget` (None: no limit).
        """
        succ_adj, pred_adj = self._graph._succ, self._graph._pred
        pred: dict[int, int | None] = {src_dpid: None}
        succ: dict[int, int | None] = {dst_dpid: None}
        forward, reverse = [src_dpid], [dst_dpid]
        meet = None
        limited, spare = budget is not None, budget or 0  # spare: links it may still look at
        while forward and reverse and meet is None:
            if len(forward) <= len(reverse):
                level, forward = forward, []
                for v in level:
                    if limited:
                        spare -= len(succ_adj[v])
                        if spare < 0:
                            return None
                    for w in succ_adj[v]:
                        if w not in pred:
                            forward.append(w)
                            pred[w] = v
                        if w in succ:
                            meet = w
                            break
                    if meet is not None:
                        break
            else:
                level, reverse = reverse, []
                for v in level:
                    if limited:
                        spare -= len(pred_adj[v])
                        if spare < 0:
                            return None
                    for w in pred_adj[v]:
                        if w not in succ:
                            succ[w] = v
                            reverse.append(w)
                        if w in pred:
                            meet = w
                            break
                    if meet is not None:
                        break
        visited = len(pred) + len(succ)
        if meet is None:
            return Search(None, visited)
        path: list[int] = []
        node: int | None = meet
        while node is not None:
            path.append(node)
            node = pred[node]
        path.reverse()
        node = succ[path[-1]]
        while node is not None:
            path.append(node)
            node = succ[node]
        return Search(path, visited)

    def _compiled(self) -> CompiledGraph:
        """The C BFS's array of the graph now: patched from the link log when little changed, else rebuilt."""
        from qosapp.core.csgraph import PATCH_MAX, CompiledGraph

        compiled = self._csr
        if compiled is not None and compiled.version == self.version:
            return compiled
        edges = self.edges_changed_since(compiled.version) if compiled is not None else None
        if compiled is None or edges is None or len(edges) > PATCH_MAX or not compiled.update(edges, self.version):
            compiled = self._csr = CompiledGraph(self._graph._succ, self.version)
        return compiled

    def _big(self) -> bool:
        return self._edges >= COMPILED_MIN_EDGES

    def distances_from(self, dpid: int) -> dict[int, int]:
        """Cables from `dpid` to every switch it reaches (one BFS; in C on a big fabric)."""
        if self._big():
            return self._compiled().distances(dpid)
        return dict(nx.single_source_shortest_path_length(self._graph, dpid))

    def distances_to(self, dpid: int) -> dict[int, int]:
        """Cables from every switch that reaches `dpid` to it (one BFS, edges reversed; in C on a big fabric)."""
        if self._big():
            return self._compiled().distances(dpid, reverse=True)
        return dict(nx.single_source_shortest_path_length(self._graph.reverse(copy=False), dpid))

    def has_edge(self, src_dpid: int, dst_dpid: int) -> bool:
        """Is there at least one link from src_dpid to dst_dpid?"""
        return bool(self._graph.has_edge(src_dpid, dst_dpid))

    def hops_between(self, src: Endpoint, dst: Endpoint) -> list[Hop]:
        """Hops from a packet entering at `src` (dpid, port) to leaving at `dst`."""
        dpids = self.shortest_path(src[0], dst[0])
        hops: list[Hop] = []
        in_port = src[1]
        for here, there in zip(dpids, dpids[1:]):
            out_port, next_in = self.link_port(here, there)
            hops.append(Hop(here, in_port, out_port))
            in_port = next_in
        hops.append(Hop(dst[0], in_port, dst[1]))
        return hops

    def hops(self, src_ip: str, dst_ip: str) -> list[Hop]:
        """The hops from host `src_ip` to host `dst_ip`.

        Raises UnknownHost (naming the IP) or NoPath.
        """
        src, dst = self.host_by_ip(src_ip), self.host_by_ip(dst_ip)
        if src is None:
            raise UnknownHost(src_ip)
        if dst is None:
            raise UnknownHost(dst_ip)
        return self.hops_between((src.dpid, src.port), (dst.dpid, dst.port))

    def next_hops_to(self, dst_dpid: int) -> dict[int, int]:
        """{dpid: out port} toward `dst_dpid` for every switch that can reach it.

        Of the ports whose link leads one cable closer to the destination,
        the lowest (`qosapp.core.nexthops`, which keeps the same answer up to
        date link by link for the forwarding flows): every choice lies on a
        shortest path, so the next hops toward one destination form a tree
        and never a loop, whatever order LLDP reported the links in. Cached
        until a switch, port or link changes.
        """
        if self._toward_shape != self._shape:
            self._toward, self._toward_shape, self._adjacency = {}, self._shape, None
        cached = self._toward.get(dst_dpid)
        if cached is not None:
            return cached
        toward: dict[int, int] = {}
        if dst_dpid in self._ports:
            if self._adjacency is None:
                out: dict[int, dict[int, int]] = {}
                into: dict[int, list[tuple[int, int]]] = {}
                for (a, pa), (b, _pb) in self._links.items():
                    out.setdefault(a, {})[pa] = b
                    into.setdefault(b, []).append((a, pa))
                self._adjacency = out, into
            out, into = self._adjacency
            toward = nexthops.next_hops(out, nexthops.distances_to(into, dst_dpid), dst_dpid)
        self._toward[dst_dpid] = toward
        return toward

    # ------------------------------------------------------------ spanning tree
    def spanning_tree_ports(self) -> dict[int, set[int]]:
        """{dpid: ports to flood on}: spanning-tree link ports plus edge ports.

        Edge ports are known ports with no discovered link. Ports of links
        that are not in the tree are left out, which is what keeps flooding
        loop-free on rings and fat-trees.
        """
        return {dpid: set(ports) for dpid, ports in self._spanning_tree()[1].items()}

    def tree_links(self) -> list[tuple[Endpoint, Endpoint]]:
        """The undirected cables of the spanning forest, ((a, port), (b, port)) with a < b."""
        return list(self._spanning_tree()[2])

    def _spanning_tree(self) -> tuple[int, dict[int, set[int]], list[tuple[Endpoint, Endpoint]]]:
        """BFS forest from the lowest dpid of each component; cached per shape.

        Parallel cables between two switches: the lowest (port, port) one is
        the tree's; the others are left out like any non-tree cable.
        """
        if self._tree is not None and self._tree[0] == self._shape:
            return self._tree
        cables = self._cables
        tree: list[tuple[Endpoint, Endpoint]] = []
        seen: set[int] = set()
        for root in sorted(cables):
            if root in seen:
                continue
            seen.add(root)
            for parent, child in nx.bfs_edges(cables, root, sort_neighbors=sorted):
                seen.add(child)
                tree.append(min(cables[parent][child]["cables"]))
        flood = {dpid: ports - self._link_ports[dpid] for dpid, ports in self._ports.items()}
        for (a, pa), (b, pb) in tree:
            flood[a].add(pa)
            flood[b].add(pb)
        self._tree = (self._shape, flood, sorted(tree))
        return self._tree

    # ------------------------------------------------------------ views
    def to_dict(self) -> dict[str, Any]:
        """GET /qos/topology: switches, links (each direction), hosts."""
        return {
            "version": self.version,
            "switches": [{"dpid": format_dpid(d), "ports": sorted(p)} for d, p in sorted(self._ports.items())],
            "links": [{"src": {"dpid": format_dpid(s[0]), "port": s[1]},
                       "dst": {"dpid": format_dpid(d[0]), "port": d[1]}} for s, d in self.links()],
            "hosts": [h.to_dict() for h in self.hosts()],
        }

    def __iter__(self) -> Iterator[int]:
        return iter(sorted(self._ports))

    def __len__(self) -> int:
        return len(self._ports)


class Shortcuts:
    """Is there now a route with fewer switches than an intact one planned at version v?

    One instance per topology event, shared by every stored path. Only switch
    pairs linked now that were not at v count (`edges_new_since`): a cable
    that went down and came back was there when the route was chosen, so the
    paths planned before it went down cost nothing. The others are answered
    with one search each while few need it (the paths re-planned around the
    cable while it was down); once those searches have visited as many
    switches as the BFS to and from each new link's ends would, the BFS are
    run once and serve every further path. So the work per event is bounded
    by about twice a BFS per changed link end, whatever the number of paths.
    """

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self._version = topology.version
        self._from: dict[int, dict[int, int]] = {}
        self._to: dict[int, dict[int, int]] = {}
        self.path_searches = 0  # one search for one path: for tests and benchmarks
        self.end_searches = 0  # one BFS from or to a new link's end
        self._visited = 0  # switches the per-path searches visited so far

    @property
    def searches(self) -> int:
        """Searches of either kind so far."""
        return self.path_searches + self.end_searches

    def shorter_exists(self, since: int, src_dpid: int, dst_dpid: int, switches: int) -> bool:
        """Would a route from src_dpid to dst_dpid now cross fewer than `switches` switches?"""
        topo = self.topology
        if topo.version != self._version:  # the topology moved on: cached distances are stale
            self._version, self._from, self._to, self._visited = topo.version, {}, {}, 0
        new = topo.edges_new_since(since)
        if new is not None and not new:
            return False
        if new is None or len({end for edge in new for end in edge}) > SHORTCUT_ENDS_MAX \
                or (not self._ready(new) and self._visited < self._bfs_cost(new)):
            return self._search(src_dpid, dst_dpid, switches)
        for u, v in new:
            to_u, from_v = self._distances(self._to, u, topo.distances_to), \
                self._distances(self._from, v, topo.distances_from)
            if src_dpid in to_u and dst_dpid in from_v and to_u[src_dpid] + from_v[dst_dpid] + 2 < switches:
                return True
        return False

    def _search(self, src_dpid: int, dst_dpid: int, switches: int) -> bool:
        self.path_searches += 1
        found = self.topology.search(src_dpid, dst_dpid)
        self._visited += found.visited
        return found.path is not None and len(found.path) < switches

    def _ready(self, new: list[tuple[int, int]]) -> bool:
        """Are the distances for every new link computed already (so a check costs no search)?"""
        return all(u in self._to and v in self._from for u, v in new)

    def _bfs_cost(self, new: list[tuple[int, int]]) -> int:
        """Switches the BFS still missing for `new` would visit (each one about the whole graph)."""
        missing = len({u for u, _ in new} - self._to.keys()) + len({v for _, v in new} - self._from.keys())
        return missing * len(self.topology)

    def _distances(self, cache: dict[int, dict[int, int]], dpid: int,
                   search: Callable[[int], dict[int, int]]) -> dict[int, int]:
        if dpid not in cache:
            self.end_searches += 1
            cache[dpid] = search(dpid)
        return cache[dpid]
