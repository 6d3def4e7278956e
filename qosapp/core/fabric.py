"""Topology-driven flows: loop-free forwarding and QoS paths per switch (pure).

`Fabric` keeps the discovered `Topology`, the QoS paths and each path's
current plan. What each switch was given (forwarding and path flows) lives
in that switch's `SwitchState`; the methods here read and update it, take
the other facts the core owns (whether QoS is enabled, services, which
queues exist) and return `{dpid: [flow ops]}` for the core to hand on.
Nothing here talks to a switch.

Two forwarding modes: "learned" (default) computes forwarding from the
graph (`qosapp.core.forwarding`: shortest paths to learned hosts, broadcast along
a spanning tree), which is what loopy fabrics need; "normal" leaves it to
OVS's own L2 learning (table-miss -> NORMAL), for loop-free networks only.
"""
from __future__ import annotations

import sys
from typing import Any, Iterable, Mapping

from qosapp.core import compiler
from qosapp.core import forwarding
from qosapp.core import paths
from qosapp.core.compiler import FlowOp, FlowSpec
from qosapp.core.nexthops import NextHops
from qosapp.core.paths import PathState
from qosapp.core.pathspec import INSTALLED, PENDING, PathSpec
from qosapp.core.switchstate import SwitchState
from qosapp.core.topology import HOST, Endpoint, Host, Shortcuts, Topology

Ops = dict[int, list[FlowOp]]
LEARNED = "learned"
NORMAL_MODE = "normal"
FORWARDING_MODES = (LEARNED, NORMAL_MODE)


class Fabric:
    """Forwarding flows and path plans over the discovered topology.

    Why it follows the topology's changes instead of recomputing: a
    100-switch fabric coming up is hundreds of events (switches, hosts, LLDP
    links one at a time), and each recomputed every switch's forwarding and
    checked every path, seconds of CPU for a restart. So `_observe` diffs the
    topology (links, hosts) against what it saw last and notes what the
    change touches: per destination the switches whose next hop moved
    (`NextHops`), the hosts that moved, the paths whose route used a link
    that went or whose hosts changed. `forwarding_updates` then sends only
    the flows those entries change (a port's flood flows only when that
    switch's ports, roles or tree ports changed), and `reroute` checks only
    those paths (all of them only for "is there a shorter route now", a few
    dict look-ups each, when links were added). The result is the same as
    from scratch (`forwarding.forwarding_flows`, `paths.needs_reroute`):
    tests/unit/test_incremental.py plays event sequences both ways.
    """

    def __init__(self, mode: str = LEARNED) -> None:
        if mode not in FORWARDING_MODES:
            raise ValueError(f"forwarding mode {mode!r}: expected one of {FORWARDING_MODES}")
        self.mode = mode
        self.topology = Topology()
        self.paths: dict[str, PathSpec] = {}
        self.plans: dict[str, PathState] = {}
        self.next_hops = NextHops()
        #: switches reset (`switch_reset`) since the controller last put their path flows back
        self.reset: set[int] = set()
        #: what `_observe` saw last: the topology version, its links and hosts
        self._seen_version = -1
        self._seen_links: dict[Endpoint, Endpoint] = {}
        self._seen_hosts: dict[str, Host] = {}
        #: forwarding to redo since the last `forwarding_updates`: dpid -> MACs whose unicast flow may differ
        self._unicast_due: dict[int, set[str]] = {}
        #: MACs that moved, came or went: their flow may differ on every switch
        self._hosts_due: set[str] = set()
        #: dpid -> what its port flows were computed from (`_port_key`)
        self._port_keys: dict[int, Any] = {}
        #: paths to check since the last `reroute`, and the topology version of that check
        self._paths_due: set[str] = set()
        self._paths_checked = 0
        #: path name -> the link ends (dpid, out port) its plan uses; end -> names; IP -> names
        self._route_ends: dict[str, set[Endpoint]] = {}
        self._by_end: dict[Endpoint, set[str]] = {}
        self._by_ip: dict[str, set[str]] = {}

    # ------------------------------------------------------------ what changed
    def _observe(self) -> None:
        """Note what the topology's changes since the last look touch (see the class docstring)."""
        topo = self.topology
        if topo.version == self._seen_version:
            return
        self._seen_version = topo.version
        links = dict(topo.links())
        for src, dst in self._seen_links.items():
            if links.get(src) != dst:
                self._paths_due |= self._by_end.get(src, set())
        self._seen_links = links
        hosts = {host.mac: host for host in topo.hosts()}
        for mac in set(hosts) | set(self._seen_hosts):
            old, new = self._seen_hosts.get(mac), hosts.get(mac)
            if old == new:
                continue
            if old is None or new is None or (old.dpid, old.port) != (new.dpid, new.port):
                self._hosts_due.add(mac)
            for address in (old.addresses() if old else ()) + (new.addresses() if new else ()):
                self._paths_due |= self._by_ip.get(address, set())
        self._seen_hosts = hosts
        if self.mode != LEARNED:
            return
        at: dict[int, list[str]] = {}
        for host in hosts.values():
            at.setdefault(host.dpid, []).append(host.mac)
        for target, moved in self.next_hops.update(links, at).items():
            for dpid in moved:
                self._unicast_due.setdefault(dpid, set()).update(at.get(target, ()))

    # ------------------------------------------------------------ forwarding
    def _unicast(self, dpid: int, mac: str, version: int) -> FlowSpec | None:
        """Switch dpid's flow toward host `mac` now (None: no such host, or not reachable yet)."""
        host = self._seen_hosts.get(mac)
        if host is None:
            return None
        port = host.port if host.dpid == dpid else self.next_hops.toward(host.dpid).get(dpid)
        if port is None:
            return None
        return compiler.in_forwarding_table([forwarding.unicast_flow(host.mac, port)], version)[0]

    def _port_key(self, dpid: int, tree: Mapping[int, set[int]]) -> Any:
        """What `forwarding.flood_flows` of dpid depends on: its ports, their roles and traps, its tree ports."""
        topo = self.topology
        roles = []
        for port in sorted(topo.ports(dpid)):
            role = topo.port_role(dpid, port)
            roles.append((port, role, role == HOST and forwarding.ip_trap_on(topo, dpid, port)))
        return frozenset(tree.get(dpid, ())), tuple(roles)

    def _port_flows(self, dpid: int, version: int) -> list[FlowSpec]:
        return compiler.in_forwarding_table(forwarding.flood_flows(self.topology, dpid), version)

    def wanted_forwarding(self, dpid: int, version: int) -> list[FlowSpec]:
        """Every forwarding flow of switch dpid, from the followed state (== `forwarding.forwarding_flows`)."""
        if self.mode == NORMAL_MODE:
            return compiler.forwarding_flows(version)
        self._observe()
        unicast = [self._unicast(dpid, host.mac, version) for host in self.topology.hosts()]
        return [*compiler.in_forwarding_table(forwarding.base_flows(), version), *self._port_flows(dpid, version),
                *[spec for spec in unicast if spec is not None]]

    def switch_reset(self, switch: SwitchState) -> list[FlowOp]:
        """After a wipe: the pipeline and all forwarding flows of the switch (which holds no path flows now)."""
        switch.paths.clear()
        self.reset.add(switch.dpid)
        wanted = self.wanted_forwarding(switch.dpid, switch.version)
        switch.forwarding = {forwarding.flow_key(spec): spec for spec in wanted}
        if self.mode == LEARNED:
            self._port_keys[switch.dpid] = self._port_key(switch.dpid, self.topology.spanning_tree_ports())
        return [*compiler.pipeline_flows(switch.version), *wanted]

    def forwarding_updates(self, switches: Mapping[int, SwitchState]) -> Ops:
        """Bring every connected switch's forwarding up to the topology now; only what changed is sent."""
        if self.mode == NORMAL_MODE:
            return {}
        self._observe()
        unicast_due, self._unicast_due = self._unicast_due, {}
        hosts_due, self._hosts_due = self._hosts_due, set()
        tree = self.topology.spanning_tree_ports()
        ops: Ops = {}
        for dpid, switch in switches.items():
            held = switch.forwarding
            wanted: dict[Any, FlowSpec | None] = {}
            for mac in hosts_due | unicast_due.get(dpid, set()):
                wanted[forwarding.unicast_key(mac)] = self._unicast(dpid, mac, switch.version)
            key = self._port_key(dpid, tree)
            if self._port_keys.get(dpid) != key:
                self._port_keys[dpid] = key
                fresh = {forwarding.flow_key(spec): spec for spec in self._port_flows(dpid, switch.version)}
                wanted.update({k: None for k, spec in held.items() if forwarding.is_port_flow(spec)})
                wanted.update(fresh)
            changes = forwarding.apply_wanted(held, wanted)
            if changes:
                ops[dpid] = changes
        return ops

    # ------------------------------------------------------------ paths
    def plan(self, name: str, queue_exists: paths.QueueExists | None) -> PathState:
        self._observe()  # so that a change after this plan shows in the next diff
        state = paths.plan_path(self.paths[name], self.topology, queue_exists)
        self.plans[name] = state
        self._index(name, state)
        return state

    def _index(self, name: str, state: PathState | None) -> None:
        """Keep `_by_end` and `_by_ip` in step with the plan of `name` (None: the path is gone)."""
        for end in self._route_ends.pop(name, set()):
            users = self._by_end.get(end)
            if users is not None:
                users.discard(name)
                if not users:
                    del self._by_end[end]
        path = self.paths.get(name)
        if state is None or path is None:
            return
        ends = {(hop.dpid, hop.out_port) for hop in (*state.forward, *state.reverse)}
        self._route_ends[name] = ends
        for end in ends:
            self._by_end.setdefault(end, set()).add(name)
        for address in (path.src, path.dst):
            self._by_ip.setdefault(address, set()).add(name)

    def forget(self, name: str) -> None:
        """Path `name` was deleted: its plan and index entries go (its flows: `path_updates`)."""
        self.plans.pop(name, None)
        self._index(name, None)
        for address in list(self._by_ip):
            self._by_ip[address].discard(name)
            if not self._by_ip[address]:
                del self._by_ip[address]

    def path_updates(self, names: Iterable[str], switches: Mapping[int, SwitchState], enabled: bool,
                     services: Mapping[str, int]) -> Ops:
        """Make the switches hold exactly the current plan of each named path.

        Only connected switches get flows; disabled QoS means no path flows.
        """
        versions = {dpid: switch.version for dpid, switch in switches.items()}
        ops: Ops = {}
        for name in names:
            path, state = self.paths.get(name), self.plans.get(name)
            wanted: dict[int, list[FlowSpec]] = {}
            if enabled and path is not None and path.id is not None and state is not None \
                    and state.state == INSTALLED:
                wanted = {dpid: flows for dpid, flows in
                          paths.path_flows(state, path.id, lambda d: versions.get(d, compiler.OF13),
                                           services).items()
                          if dpid in versions}
            old = {dpid: switch.paths[name] for dpid, switch in switches.items() if name in switch.paths}
            for dpid, changes in paths.reinstall_ops(old, wanted, versions.__getitem__).items():
                ops.setdefault(dpid, []).extend(changes)
            for dpid in old.keys() - wanted.keys():
                del switches[dpid].paths[name]
            if path is not None:
                for dpid, flows in wanted.items():
                    switches[dpid].paths[name] = flows
        return ops

    def on_switches(self, dpids: Iterable[int]) -> list[str]:
        """The paths whose current plan has a hop on one of `dpids`."""
        wanted = set(dpids)
        return [name for name, ends in self._route_ends.items()
                if name in self.paths and any(dpid in wanted for dpid, _port in ends)]

    @staticmethod
    def holding(name: str, switches: Mapping[int, SwitchState]) -> list[int]:
        """The connected switches that hold flows of path `name`, in dpid order."""
        return sorted(dpid for dpid, switch in switches.items() if name in switch.paths)

    def reroute(self, queue_exists: paths.QueueExists | None) -> list[str]:
        """Re-plan the paths the topology changes since the last call affect; returns their names.

        Checked: the paths `_observe` marked (a link of the route went, one of
        their hosts changed), and, only when links or switches were added,
        every pending path and whether a route strictly shorter than each
        stored one exists now, or any route for a pending one (`Shortcuts`,
        shared by all, over the links added since the last call).
        """
        self._observe()
        topo = self.topology
        due, self._paths_due = self._paths_due, set()
        since, self._paths_checked = self._paths_checked, topo.version
        grown = topo.grown_since(since)
        shortcuts = Shortcuts(topo)
        names = self.paths if grown else [name for name in due if name in self.paths] + \
            [name for name in self.paths if name not in self.plans]
        changed = []
        for name in names:
            path, state = self.paths[name], self.plans.get(name)
            if state is None:
                again = True
            elif name in due:
                again = paths.needs_reroute(path, state, topo, shortcuts)
            elif state.state == PENDING:  # not for its hosts (that is `due`): no route yet; is there one now?
                src, dst = topo.host_by_ip(path.src), topo.host_by_ip(path.dst)
                again = src is not None and dst is not None and \
                    shortcuts.shorter_exists(since, src.dpid, dst.dpid, sys.maxsize)
            else:
                again = bool(state.forward) and shortcuts.shorter_exists(
                    since, state.forward[0].dpid, state.forward[-1].dpid, len(state.forward))
            if not again:
                continue
            after = self.plan(name, queue_exists)
            if state is None or (after.state, after.forward, after.reverse, after.missing) != \
                    (state.state, state.forward, state.reverse, state.missing):
                changed.append(name)
        return changed

    def replan_all(self, queue_exists: paths.QueueExists | None) -> list[str]:
        """Plan every path again (queues changed: a missing queue may exist now)."""
        for name in self.paths:
            self.plan(name, queue_exists)
        return list(self.paths)
