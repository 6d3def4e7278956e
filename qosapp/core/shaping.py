"""Which queue profile shapes which port, and how applying it went (pure).

`Shaping` keeps the stored profiles in store order, what has been applied
to each concrete (dpid, port name), and the outcome per port. `sync` makes
the applied state match what the profiles want on the ports the switches
have now, through the `QueueBackend` it is handed (OVSDB rows + tc filters
in production, a recorder in tests): the core never calls it, the service
does (`qosapp.service`), when an `Effects` asks for a queue sync. A failing
backend call is recorded and shown, never raised: one bad port must not
stop the controller.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Iterable, Mapping, Protocol

from qosapp.core.model import format_dpid
from qosapp.core.queues import QueueProfile, resolve_targets

LOG = logging.getLogger(__name__)

Target = tuple[int, str]  # (dpid, port name)
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

    # profiles
    def put(self, profile: QueueProfile) -> None:
        """Add, or replace the profile with the same (sw, port); the newest goes last."""
        self.profiles = [p for p in self.profiles if p.key != profile.key] + [profile]

    def find(self, sw: str, port: str) -> QueueProfile | None:
        return next((p for p in self.profiles if p.key == (sw, port)), None)

    def remove(self, profile: QueueProfile) -> None:
        self.profiles.remove(profile)

    def view(self, profile: QueueProfile) -> dict[str, Any]:
        """The profile, its DSCPs, and 'dpid/port' -> outcome where it is applied."""
        applied = {f"{format_dpid(dpid)}/{port}": state for (dpid, port), state in sorted(self.state.items())
                   if self.applied.get((dpid, port)) == profile}
        return {**profile.to_dict(include_dscp=True), "applied": applied}

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

    def _call(self, backend: QueueBackend, target: Target, profile: QueueProfile | None) -> None:
        dpid, port = target
        try:
            if profile is None:
                backend.clear(dpid, port)
                self.applied.pop(target, None)
                self.state.pop(target, None)
                return
            note = backend.apply(dpid, port, profile)
            self.state[target] = {"state": "applied", **({"note": note} if note else {})}
        except Exception as err:  # the backend's failure is shown, not fatal
            LOG.error("queues on %s %s: %s", format_dpid(dpid), port, err)
            self.state[target] = {"state": "error", "reason": str(err)}
        if profile is not None:
            self.applied[target] = profile  # even on error: do not retry on every event
