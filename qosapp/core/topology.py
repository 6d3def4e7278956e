"""The network as the controller has discovered it: switches, links, hosts (pure).

The Ryu shell feeds this from events (LLDP link add/delete, port status,
packet-in) and asks it for paths; nothing here imports Ryu, so ring, fat-tree
and 10,000-switch fabrics are tested and benchmarked without a switch.

Why a directed graph: LLDP reports each direction of a cable on its own, and a
path may only use a direction that has been seen. Paths come from networkx
(`shortest_path`, a bidirectional BFS on this unweighted graph), never from a
hand-written search. The graph is updated in place on every event, so a path
query costs one BFS and nothing else.

`version` changes whenever something a path or a forwarding flow depends on
changes (a switch, port, link or host attachment), so callers know when to
re-check their paths; `grown_since(v)` says whether a link or switch was
*added* since version v — only then can a shorter path have appeared.

Whether it did is answered per added link, not per path: a route that is
still intact can only be beaten by a route through a link added since it was
planned, and the best route through link u->v has d(src, u) + 1 + d(v, dst)
cables. `Shortcuts` runs one BFS to u and one from v (per added link, shared
by every stored path), so a link-up re-check of 1,000 paths costs a few BFS
instead of 1,000 searches. When many links were added (a fabric coming up),
it falls back to one search per path.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

import networkx as nx

from qosapp.core import nexthops
from qosapp.core.model import format_dpid
from qosapp.core.ports import is_reserved_port


#: links added (version, u, v) remembered for `links_added_since`; older ones
#: are forgotten and a question about them gets None ("don't know")
ADDED_LINKS_KEPT = 256
#: above this many distinct link ends to search from, `Shortcuts` searches per path
SHORTCUT_ENDS_MAX = 8

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
        self._added: deque[tuple[int, int, int]] = deque(maxlen=ADDED_LINKS_KEPT)  # (version, u, v)
        self._added_floor = 0  # links added at or before this version may be forgotten
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

    def links_added_since(self, version: int) -> list[tuple[int, int]] | None:
        """The (u, v) switch pairs that got a link after `version`; None if forgotten."""
        if version < self._added_floor:
            return None
        return [(u, v) for at, u, v in self._added if at > version]

    def _log_added(self, u: int, v: int) -> None:
        if len(self._added) == self._added.maxlen:
            self._added_floor = self._added[0][0]
        self._added.append((self.version, u, v))

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
        if self._graph.has_edge(src_dpid, dst_dpid):
            self._graph[src_dpid][dst_dpid]["ports"][src_port] = dst_port
        else:
            self._graph.add_edge(src_dpid, dst_dpid, ports={src_port: dst_port})
        key = _cable(src, dst)
        if self._cables.has_edge(src_dpid, dst_dpid):
            seen = self._cables[src_dpid][dst_dpid]["cables"]
            seen[key] = seen.get(key, 0) + 1
        else:
            self._cables.add_edge(src_dpid, dst_dpid, cables={key: 1})
        self._changed(grown=True)
        self._log_added(src_dpid, dst_dpid)
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
        """Switches from src to dst inclusive, fewest hops (bidirectional BFS).

        networkx's own `bidirectional_shortest_path`, step for step (so the
        same route among equals), but on the graph's adjacency dicts instead
        of its views: a view object per visited switch was a third of the
        time on a 100x100 torus, where one search visits most of it.
        """
        succ_adj, pred_adj = self._graph._succ, self._graph._pred
        if src_dpid not in succ_adj or dst_dpid not in succ_adj:
            raise NoPath(f"no path from {format_dpid(src_dpid)} to {format_dpid(dst_dpid)}")
        if src_dpid == dst_dpid:
            return [src_dpid]
        pred: dict[int, int | None] = {src_dpid: None}
        succ: dict[int, int | None] = {dst_dpid: None}
        forward, reverse = [src_dpid], [dst_dpid]
        meet = None
        while forward and reverse and meet is None:
            if len(forward) <= len(reverse):
                level, forward = forward, []
                for v in level:
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
                    for w in pred_adj[v]:
                        if w not in succ:
                            succ[w] = v
                            reverse.append(w)
                        if w in pred:
                            meet = w
                            break
                    if meet is not None:
                        break
        if meet is None:
            raise NoPath(f"no path from {format_dpid(src_dpid)} to {format_dpid(dst_dpid)}")
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
        return path

    def distances_from(self, dpid: int) -> dict[int, int]:
        """Cables from `dpid` to every switch it reaches (one BFS)."""
        return dict(nx.single_source_shortest_path_length(self._graph, dpid))

    def distances_to(self, dpid: int) -> dict[int, int]:
        """Cables from every switch that reaches `dpid` to it (one BFS, edges reversed)."""
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

    One instance per topology event, shared by every stored path: the BFS
    distances to and from each added link's ends are computed once, on first
    use. See the module docstring for why that answers the question exactly.
    """

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self._version = topology.version
        self._from: dict[int, dict[int, int]] = {}
        self._to: dict[int, dict[int, int]] = {}
        self._added: dict[int, list[tuple[int, int]] | None] = {}
        self.searches = 0  # BFS runs so far (per-path fallbacks included): for tests and benchmarks

    def shorter_exists(self, since: int, src_dpid: int, dst_dpid: int, switches: int) -> bool:
        """Would a route from src_dpid to dst_dpid now cross fewer than `switches` switches?"""
        topo = self.topology
        if topo.version != self._version:  # the topology moved on: cached distances are stale
            self._version, self._from, self._to, self._added = topo.version, {}, {}, {}
        if since not in self._added:  # (one look-up per `since`: it is asked once per stored path)
            self._added[since] = topo.links_added_since(since)
        added = self._added[since]
        if added is None or len({end for link in added for end in link}) > SHORTCUT_ENDS_MAX:
            self.searches += 1
            try:
                return len(topo.shortest_path(src_dpid, dst_dpid)) < switches
            except NoPath:
                return False
        for u, v in set(added):
            if not topo.has_edge(u, v):
                continue  # added and gone again
            to_u, from_v = self._distances(self._to, u, topo.distances_to), \
                self._distances(self._from, v, topo.distances_from)
            if src_dpid in to_u and dst_dpid in from_v and to_u[src_dpid] + from_v[dst_dpid] + 2 < switches:
                return True
        return False

    def _distances(self, cache: dict[int, dict[int, int]], dpid: int,
                   search: Callable[[int], dict[int, int]]) -> dict[int, int]:
        if dpid not in cache:
            self.searches += 1
            cache[dpid] = search(dpid)
        return cache[dpid]
