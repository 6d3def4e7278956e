"""Topology-driven flows: loop-free forwarding and QoS paths per switch (pure).

`Fabric` keeps the discovered `Topology`, what forwarding flows and path
flows each switch has been given, and each path's current plan. Its methods
take the facts the core owns (switch OpenFlow versions, whether QoS is
enabled, services, which queues exist) and return `{dpid: [flow ops]}` for
the core to send. Nothing here talks to a switch.

Two forwarding modes: "learned" (default) computes forwarding from the
graph (`qosapp.core.forwarding`: shortest paths to learned hosts, broadcast along
a spanning tree), which is what loopy fabrics need; "normal" leaves it to
OVS's own L2 learning (table-miss -> NORMAL), for loop-free networks only.
"""
from __future__ import annotations

from typing import Callable, Iterable, Mapping

from qosapp.core import compiler
from qosapp.core import forwarding
from qosapp.core import paths
from qosapp.core.compiler import FlowDelete, FlowSpec
from qosapp.core.paths import PathSpec, PathState
from qosapp.core.topology import Topology

FlowOp = FlowSpec | FlowDelete
Ops = dict[int, list[FlowOp]]
LEARNED = "learned"
NORMAL_MODE = "normal"
FORWARDING_MODES = (LEARNED, NORMAL_MODE)


class Fabric:
    """Forwarding flows and path plans over the discovered topology."""

    def __init__(self, mode: str = LEARNED) -> None:
        if mode not in FORWARDING_MODES:
            raise ValueError(f"forwarding mode {mode!r}: expected one of {FORWARDING_MODES}")
        self.mode = mode
        self.topology = Topology()
        #: per dpid: the forwarding flows the switch holds (as last sent)
        self.forwarding: dict[int, list[FlowSpec]] = {}
        self.paths: dict[str, PathSpec] = {}
        self.plans: dict[str, PathState] = {}
        #: per path: {dpid: flows} as installed (empty when not installed)
        self.installed: dict[str, dict[int, list[FlowSpec]]] = {}

    # ------------------------------------------------------------ forwarding
    def wanted_forwarding(self, dpid: int, version: int) -> list[FlowSpec]:
        if self.mode == NORMAL_MODE:
            return compiler.forwarding_flows(version)
        return compiler.in_forwarding_table(forwarding.forwarding_flows(self.topology, dpid), version)

    def switch_reset(self, dpid: int, version: int) -> list[FlowOp]:
        """After a wipe: the pipeline and all forwarding flows of `dpid`."""
        for flows in self.installed.values():
            flows.pop(dpid, None)
        wanted = self.wanted_forwarding(dpid, version)
        self.forwarding[dpid] = wanted
        return [*compiler.pipeline_flows(version), *wanted]

    def switch_gone(self, dpid: int) -> None:
        self.forwarding.pop(dpid, None)
        for flows in self.installed.values():
            flows.pop(dpid, None)

    def forwarding_updates(self, versions: Mapping[int, int]) -> Ops:
        """Diff every connected switch's forwarding against the topology now."""
        ops: Ops = {}
        for dpid, version in versions.items():
            wanted = self.wanted_forwarding(dpid, version)
            changes = forwarding.diff_flows(self.forwarding.get(dpid, []), wanted)
            if changes:
                ops[dpid] = changes
            self.forwarding[dpid] = wanted
        return ops

    # ------------------------------------------------------------ paths
    def plan(self, name: str, queue_exists: paths.QueueExists | None) -> PathState:
        state = paths.plan_path(self.paths[name], self.topology, queue_exists)
        self.plans[name] = state
        return state

    def path_updates(self, names: Iterable[str], versions: Mapping[int, int], enabled: bool,
                     services: Mapping[str, int]) -> Ops:
        """Make the switches hold exactly the current plan of each named path.

        Only connected switches get flows; disabled QoS means no path flows.
        """
        ops: Ops = {}
        for name in names:
            path, state = self.paths.get(name), self.plans.get(name)
            wanted: dict[int, list[FlowSpec]] = {}
            if enabled and path is not None and state is not None and state.state == paths.INSTALLED:
                wanted = {dpid: flows for dpid, flows in
                          paths.path_flows(state, path.id, lambda d: versions.get(d, compiler.OF13),  # type: ignore[arg-type]
                                           services).items()
                          if dpid in versions}
            old = {dpid: flows for dpid, flows in self.installed.get(name, {}).items() if dpid in versions}
            for dpid, changes in paths.reinstall_ops(old, wanted, versions.__getitem__).items():
                ops.setdefault(dpid, []).extend(changes)
            if path is None:
                self.installed.pop(name, None)
            else:
                self.installed[name] = wanted
        return ops

    def reroute(self, queue_exists: paths.QueueExists | None) -> list[str]:
        """Re-plan the paths the topology change affects; returns their names."""
        changed = []
        for name, path in self.paths.items():
            state = self.plans.get(name)
            if state is None or paths.needs_reroute(path, state, self.topology):
                before = state
                after = self.plan(name, queue_exists)
                if before is None or (after.state, after.forward, after.reverse, after.missing) != \
                        (before.state, before.forward, before.reverse, before.missing):
                    changed.append(name)
        return changed

    def replan_all(self, queue_exists: paths.QueueExists | None) -> list[str]:
        """Plan every path again (queues changed: a missing queue may exist now)."""
        for name in self.paths:
            self.plan(name, queue_exists)
        return list(self.paths)


def merge(*many: Ops) -> Ops:
    out: Ops = {}
    for ops in many:
        for dpid, items in ops.items():
            out.setdefault(dpid, []).extend(items)
    return out


QueueCheck = Callable[[int, int, int], bool]
