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

from typing import Iterable, Mapping

from qosapp.core import compiler
from qosapp.core import forwarding
from qosapp.core import paths
from qosapp.core.compiler import FlowOp, FlowSpec
from qosapp.core.paths import PathState
from qosapp.core.pathspec import INSTALLED, PathSpec
from qosapp.core.switchstate import SwitchState
from qosapp.core.topology import Shortcuts, Topology

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
        self.paths: dict[str, PathSpec] = {}
        self.plans: dict[str, PathState] = {}

    # ------------------------------------------------------------ forwarding
    def wanted_forwarding(self, dpid: int, version: int) -> list[FlowSpec]:
        if self.mode == NORMAL_MODE:
            return compiler.forwarding_flows(version)
        return compiler.in_forwarding_table(forwarding.forwarding_flows(self.topology, dpid), version)

    def switch_reset(self, switch: SwitchState) -> list[FlowOp]:
        """After a wipe: the pipeline and all forwarding flows of the switch (which holds no path flows now)."""
        switch.paths.clear()
        wanted = self.wanted_forwarding(switch.dpid, switch.version)
        switch.forwarding = wanted
        return [*compiler.pipeline_flows(switch.version), *wanted]

    def forwarding_updates(self, switches: Mapping[int, SwitchState]) -> Ops:
        """Diff every connected switch's forwarding against the topology now."""
        ops: Ops = {}
        for dpid, switch in switches.items():
            wanted = self.wanted_forwarding(dpid, switch.version)
            changes = forwarding.diff_flows(switch.forwarding, wanted)
            if changes:
                ops[dpid] = changes
            switch.forwarding = wanted
        return ops

    # ------------------------------------------------------------ paths
    def plan(self, name: str, queue_exists: paths.QueueExists | None) -> PathState:
        state = paths.plan_path(self.paths[name], self.topology, queue_exists)
        self.plans[name] = state
        return state

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
            for dpid, switch in switches.items():
                if path is not None and dpid in wanted:
                    switch.paths[name] = wanted[dpid]
                else:
                    switch.paths.pop(name, None)
        return ops

    @staticmethod
    def holding(name: str, switches: Mapping[int, SwitchState]) -> list[int]:
        """The connected switches that hold flows of path `name`, in dpid order."""
        return sorted(dpid for dpid, switch in switches.items() if name in switch.paths)

    def reroute(self, queue_exists: paths.QueueExists | None) -> list[str]:
        """Re-plan the paths the topology change affects; returns their names."""
        changed = []
        shortcuts = Shortcuts(self.topology)
        for name, path in self.paths.items():
            state = self.plans.get(name)
            if state is None or paths.needs_reroute(path, state, self.topology, shortcuts):
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

