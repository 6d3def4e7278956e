"""Which queue profile shapes which port, which flows enqueue there, and how applying it went (pure).

`Shaping` keeps the stored profiles in store order, what has been applied
to each concrete (dpid, port name), the outcome per port, and the packet
classification of each shaped port (`PortFilter`s).

Why classification is per port and from the flows' own matches: on OVS's
userspace (netdev) datapath `set_queue`/`enqueue` picks no HTB class (OVS
sends with AF_PACKET and the skb priority is lost; measured ~500 Mbit/s
through a "2 Mbit/s" queue), and tc here can classify but has no actions
(pedit, skbedit fail to load), so nothing in the packet can be set or
restored on the way. The first mechanism rewrote each queue's own DSCP
into the packet (OVS Queue `dscp`) and let one tc filter per DSCP pick the
class on every shaped port. That leaked: the DSCP written by s1's queue 2
selected queue 2 again on every later port (the lowest rate of that queue
id anywhere on the route won), the receiver saw ToS 0x1c instead of the
packet's own, and a host sending that ToS itself was shaped by no policy.
Now each port gets, for each flow that enqueues into one of its queues,
a tc u32 filter with that flow's own match (IPv4 addresses, protocol, L4
ports, ToS, MACs) to that queue's class, and only there
(`qosapp.adapters.tcbridge` writes them). A queue applies only where a
flow enqueues into it, a port's rate is that port's, and the packet's
DSCP is left alone. What a filter cannot see: the OpenFlow in_port
(ingress-port; on egress the packet has left the switch) and the VLAN,
so a packet with the same fields arriving by another port of that switch
and leaving by this one is shaped too (reported as the port's "filter-note"). `sync` makes
the applied state match what the profiles want on the ports the switches
have now, through the `QueueBackend` it is handed (OVSDB rows + tc filters
in production, a recorder in tests): the core never calls it, the service
does (`qosapp.service`), when an `Effects` asks for a queue sync. A failing
backend call is recorded and shown, never raised: one bad port must not
stop the controller.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Protocol

from qosapp.core.model import Match, format_dpid
from qosapp.core.queues import QueueProfile, rate_differences, resolve_targets

LOG = logging.getLogger(__name__)

Target = tuple[int, str]  # (dpid, port name)


@dataclass(frozen=True, order=True)
class PortFilter:
    """On one port: packets that match `match` go to `queue`'s class (a flow enqueues them there).

    Ordered as the port applies them: higher OpenFlow priority first (the
    sort key is its negation), then by the match's text for a stable order.
    """

    rank: int  # -priority
    key: str  # repr of the match items, for a deterministic order
    queue: int
    match: Match = field(compare=False)

    @classmethod
    def of(cls, queue: int, priority: int, match: Match) -> "PortFilter":
        return cls(rank=-priority, key=repr(match.items()), queue=queue, match=match)

    @property
    def priority(self) -> int:
        return -self.rank
#: (dpid, port number, queue id) -> does that queue exist on that port?
QueueExists = Callable[[int, int, int], bool]


def missing_queues(queue: int, ports: Iterable[tuple[int, int]], queue_exists: QueueExists) -> list[tuple[int, int]]:
    """The (dpid, port number) pairs among `ports` that lack `queue`, sorted, no repeats.

    The one test of "is the queue there" for everything that enqueues: a QoS
    path's out ports (state missing-queues) and a queue policy's enqueue
    port(s) on each switch (install state missing-queue).
    """
    return sorted({(dpid, port) for dpid, port in ports if not queue_exists(dpid, port, queue)})


def missing_reason(queue: int, missing: Iterable[tuple[int, int]]) -> str:
    """"queue 5 does not exist on 00:00:00:00:00:00:00:01 port 2, ..." """
    where = ", ".join(f"{format_dpid(dpid)} port {port}" for dpid, port in missing)
    return f"queue {queue} does not exist on {where}"


class QueueBackend(Protocol):
    """Where queue profiles become real (OVSDB rows + tc filters).

    Implemented by `qosapp.adapters.ovsqueues.OvsQueues`; tests use a recorder.
    Both calls raise an exception whose text is shown to the user on failure.
    """

    def apply(self, dpid: int, port_name: str, profile: QueueProfile) -> str | None:
        """Shape the port; returns a note (e.g. why tc filters were skipped) or None."""

    def clear(self, dpid: int, port_name: str) -> None:
        """Remove the QoS/Queue rows (and filters) qos-sdn made on the port."""

    def rates(self, dpid: int, port_name: str) -> dict[str, Any] | None:
        """The rates the port really applies, read back after `apply`: {"source", "max-rate",
        "queues": {id: {"min-rate", "max-rate"}}} (bits/s), or None if nothing can be read."""

    def classify(self, dpid: int, port_name: str, filters: tuple[PortFilter, ...]) -> str | None:
        """Make the port's packet classification exactly `filters` (replacing ours); returns a note
        (what the filters cannot express) or None."""


class Shaping:
    """Profiles, and their application to concrete ports."""

    def __init__(self, backend: QueueBackend | None = None, managed: bool | None = None) -> None:
        """`backend`: the default for `sync`; `managed`: whether queues are applied at all
        (default: whether there is a backend). Unmanaged, every queue counts as there."""
        self.backend = backend
        self.managed = backend is not None if managed is None else managed
        self.profiles: list[QueueProfile] = []
        self.applied: dict[Target, QueueProfile] = {}
        self.state: dict[Target, dict[str, Any]] = {}
        #: the classification each shaped port holds now (as last installed)
        self.filters: dict[Target, tuple[PortFilter, ...]] = {}

    # profiles
    def put(self, profile: QueueProfile) -> None:
        """Add, or replace the profile with the same (sw, port); the newest goes last."""
        self.profiles = [p for p in self.profiles if p.key != profile.key] + [profile]

    def find(self, sw: str, port: str) -> QueueProfile | None:
        return next((p for p in self.profiles if p.key == (sw, port)), None)

    def remove(self, profile: QueueProfile) -> None:
        self.profiles.remove(profile)

    def view(self, profile: QueueProfile) -> dict[str, Any]:
        """The profile, and 'dpid/port' -> outcome where it is applied (with its filters' count and note)."""
        applied = {f"{format_dpid(dpid)}/{port}": state for (dpid, port), state in sorted(self.state.items())
                   if self.applied.get((dpid, port)) == profile}
        return {**profile.to_dict(), "applied": applied}

    # ports
    def profile_at(self, target: Target) -> QueueProfile | None:
        return self.applied.get(target)

    def has_queue(self, target: Target, queue_id: int) -> bool:
        """Is `queue_id` really there: a profile with it, applied without error?"""
        profile = self.applied.get(target)
        return (profile is not None and profile.queue(queue_id) is not None
                and self.state.get(target, {}).get("state") == "applied")

    def forget(self, which: Callable[[Target], bool], keep_state: bool = True) -> None:
        """Treat matching ports as unshaped, so the next sync applies again
        (a switch or port came back: OVS may have lost what we wrote)."""
        for target in [t for t in self.applied if which(t)]:
            del self.applied[target]
        for target in [t for t in self.filters if which(t)]:
            del self.filters[target]
        if not keep_state:
            for target in [t for t in self.state if which(t)]:
                del self.state[target]

    def sync(self, ports: Mapping[int, Mapping[int, str]], backend: QueueBackend | None = None) -> bool:
        """Apply what is wanted on `ports` ({dpid: {port_no: name}}), clear what is not.

        Returns whether any port was (re)applied or cleared. Without a
        backend (given, or this object's) nothing is applied (flows-only mode).
        """
        backend = backend or self.backend
        if backend is None:
            return False
        wanted = resolve_targets(self.profiles, ports)
        changed = False
        for target in [t for t in self.applied if t not in wanted]:
            self._call(backend, target, None)
            changed = True
        for target, profile in wanted.items():
            if self.applied.get(target) != profile:
                self._call(backend, target, profile)
                changed = True
        return changed

    def sync_filters(self, wanted: Mapping[Target, tuple[PortFilter, ...]],
                     backend: QueueBackend | None = None) -> bool:
        """Give each shaped port exactly the classification `wanted` says; returns whether any changed.

        Only ports whose profile is applied get filters (the HTB classes
        must exist); a port whose QoS was rewritten lost its filters
        (`_call` forgets them) and gets them again here.
        """
        backend = backend or self.backend
        if backend is None:
            return False
        changed = False
        for target in sorted(set(wanted) | set(self.filters)):
            want = tuple(sorted(wanted.get(target, ())))
            if self.filters.get(target, ()) == want:
                continue
            if target not in self.applied or self.state.get(target, {}).get("state") != "applied":
                self.filters.pop(target, None)
                continue
            dpid, port = target
            state = self.state[target]
            try:
                note = backend.classify(dpid, port, want)
                state["filters"] = len(want)
                if note:
                    state["filter-note"] = note
                else:
                    state.pop("filter-note", None)
                state.pop("filter-error", None)
            except Exception as err:  # shown, not fatal: the port stays unclassified (default class)
                LOG.error("tc filters on %s %s: %s", format_dpid(dpid), port, err)
                state["filter-error"] = str(err)
            self.filters[target] = want  # even on error: do not retry on every event
            changed = True
        return changed

    def _read_back(self, backend: QueueBackend, target: Target, profile: QueueProfile) -> None:
        """Put the rates the port applies into its state ("rates"), and "rates-note" where they differ
        from what OVS makes of the profile: the answer shows the guarantee the port really has."""
        state = self.state[target]
        try:
            applied = backend.rates(*target)
        except Exception as err:  # shown, not fatal: the rows are written
            LOG.warning("reading back the rates on %s %s: %s", format_dpid(target[0]), target[1], err)
            state["rates-error"] = str(err)
            return
        if applied is None:
            return
        state["rates"] = applied
        differences = rate_differences(profile, applied)
        if differences:
            state["rates-note"] = "; ".join(differences)

    def _call(self, backend: QueueBackend, target: Target, profile: QueueProfile | None) -> None:
        dpid, port = target
        self.filters.pop(target, None)  # a QoS (re)write replaces the qdisc, and its filters with it
        try:
            if profile is None:
                backend.clear(dpid, port)
                self.applied.pop(target, None)
                self.state.pop(target, None)
                return
            note = backend.apply(dpid, port, profile)
            self.state[target] = {"state": "applied", **({"note": note} if note else {})}
            self._read_back(backend, target, profile)
        except Exception as err:  # the backend's failure is shown, not fatal
            LOG.error("queues on %s %s: %s", format_dpid(dpid), port, err)
            self.state[target] = {"state": "error", "reason": str(err)}
        if profile is not None:
            self.applied[target] = profile  # even on error: do not retry on every event
