"""From what the store holds to what the core holds: the difference, as rows (pure).

In a cluster every instance writes to one replicated store (etcd) and
watches it; a write made by another instance reaches this one as a changed
table, not as a request. `diff(tables, held)` compares the store's rows
(`Tables`) with the rows the core last stored or loaded (`Held`) and says
what to add, replace and remove; `QosCore.converge` turns that into
in-memory changes and flow effects, exactly as the matching requests would.

Rows are compared as stored (id, name, JSON body), so nothing is re-parsed
unless it changed: 20,000 unchanged policies cost a dict comparison each.
An instance's own writes come back through the watch too; they compare
equal and change nothing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qosapp.core.storeapi import Tables

Row = tuple[int, str, dict[str, Any]]


@dataclass
class Held:
    """What the core holds, as the rows it stored or loaded."""

    enabled: bool = False
    #: name -> (id, dscp)
    services: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: id -> (name, body)
    policies: dict[int, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    #: id -> (name, body without "id")
    paths: dict[int, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    #: (sw, port) -> body
    queue_profiles: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    #: id -> (name, body without "id")
    meters: dict[int, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    #: id -> (name, body)
    static_flows: dict[int, tuple[str, dict[str, Any]]] = field(default_factory=dict)


@dataclass
class Diff:
    """Row changes that take the core from `Held` to the store's `Tables`."""

    #: the new value of the tool's flag, None when it stays
    enabled: bool | None = None
    services_added: list[tuple[int, str, int]] = field(default_factory=list)
    services_removed: list[str] = field(default_factory=list)
    policies_added: list[Row] = field(default_factory=list)
    #: same id, new name and/or body (a PUT on another instance)
    policies_changed: list[Row] = field(default_factory=list)
    policies_removed: list[int] = field(default_factory=list)
    paths_added: list[Row] = field(default_factory=list)
    paths_removed: list[int] = field(default_factory=list)
    #: added or replaced profiles (bodies)
    queues_put: list[dict[str, Any]] = field(default_factory=list)
    queues_removed: list[tuple[str, str]] = field(default_factory=list)
    meters_added: list[Row] = field(default_factory=list)
    meters_removed: list[int] = field(default_factory=list)
    #: added or replaced static flows (a replaced one is also in static_removed)
    static_added: list[Row] = field(default_factory=list)
    static_removed: list[int] = field(default_factory=list)

    def empty(self) -> bool:
        return self.enabled is None and not any(
            (self.services_added, self.services_removed, self.policies_added, self.policies_changed,
             self.policies_removed, self.paths_added, self.paths_removed, self.queues_put, self.queues_removed,
             self.meters_added, self.meters_removed, self.static_added, self.static_removed))

    def summary(self) -> str:
        parts = [f"{name} {len(items)}" for name, items in (
            ("services+", self.services_added), ("services-", self.services_removed),
            ("policies+", self.policies_added), ("policies~", self.policies_changed),
            ("policies-", self.policies_removed), ("paths+", self.paths_added), ("paths-", self.paths_removed),
            ("queues+", self.queues_put), ("queues-", self.queues_removed),
            ("meters+", self.meters_added), ("meters-", self.meters_removed),
            ("static+", self.static_added), ("static-", self.static_removed)) if items]
        if self.enabled is not None:
            parts.insert(0, "enabled" if self.enabled else "disabled")
        return ", ".join(parts) or "nothing"


def queue_key(body: dict[str, Any]) -> tuple[str, str]:
    return str(body.get("sw")), str(body.get("port"))


def diff(tables: Tables, held: Held) -> Diff:
    """What changed in the store since the core's rows (`held`)."""
    out = Diff()
    enabled = tables.settings.get("enabled", "false") == "true"
    if enabled != held.enabled:
        out.enabled = enabled

    stored_services = {name: (sid, dscp) for sid, name, dscp in tables.services}
    for sid, name, dscp in tables.services:
        if held.services.get(name) != (sid, dscp):
            if name in held.services:
                out.services_removed.append(name)
            out.services_added.append((sid, name, dscp))
    out.services_removed += [name for name in held.services if name not in stored_services]

    stored_policies = {pid: (name, body) for pid, name, body in tables.policies}
    for pid, name, body in tables.policies:
        mine = held.policies.get(pid)
        if mine is None:
            out.policies_added.append((pid, name, body))
        elif mine != (name, body):
            out.policies_changed.append((pid, name, body))
    out.policies_removed = [pid for pid in held.policies if pid not in stored_policies]

    stored_paths = {pid: (name, body) for pid, name, body in tables.paths}
    for pid, name, body in tables.paths:
        mine = held.paths.get(pid)
        if mine != (name, body):
            if mine is not None:
                out.paths_removed.append(pid)
            out.paths_added.append((pid, name, body))
    out.paths_removed += [pid for pid in held.paths if pid not in stored_paths]

    stored_queues = {queue_key(body): body for _, body in tables.queue_profiles}
    out.queues_put = [body for key, body in stored_queues.items() if held.queue_profiles.get(key) != body]
    out.queues_removed = [key for key in held.queue_profiles if key not in stored_queues]

    out.meters_added, out.meters_removed = _replaced(tables.meters, held.meters)
    out.static_added, out.static_removed = _replaced(tables.static_flows, held.static_flows)
    return out


def _replaced(stored: list[Row], held: dict[int, tuple[str, dict[str, Any]]]) -> tuple[list[Row], list[int]]:
    """Rows to add and ids to remove; a row changed under its id is both (removed, then added again)."""
    added: list[Row] = []
    removed: list[int] = []
    ids = set()
    for row_id, name, body in stored:
        ids.add(row_id)
        mine = held.get(row_id)
        if mine != (name, body):
            if mine is not None:
                removed.append(row_id)
            added.append((row_id, name, body))
    return added, removed + [row_id for row_id in held if row_id not in ids]
