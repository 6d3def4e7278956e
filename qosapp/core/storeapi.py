"""What the controller needs from its durable store (an interface, no backend).

`QosCore` and `qosapp.service` talk to the store only through `StoreApi`;
`qosapp.adapters.store.Store` (SQLite, the default) implements it. A second
backend implements the same methods and raises `StoreConflict` where a
unique name or key is already taken. Rows are plain values (ids, names,
JSON-able dicts): the core re-validates them on load.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

#: the settings that are part of the replicated state (`Tables.settings`)
SETTING_KEYS = ("enabled",)


class StoreConflict(Exception):
    """A write lost a race on a unique name or key (becomes HTTP 409)."""


class StoreUnavailable(Exception):
    """The store cannot be reached or refused the request (e.g. etcd without quorum): HTTP 503.

    Nothing was written, or (a timed-out write) it is not known whether it was.
    """


@dataclass
class Tables:
    """Everything the store holds, as plain rows (what `qosapp.core.converge` compares with the core)."""

    settings: dict[str, str] = field(default_factory=dict)
    services: list[tuple[int, str, int]] = field(default_factory=list)
    policies: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    paths: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    queue_profiles: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    meters: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    static_flows: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)


def read_tables(store: "StoreApi") -> Tables:
    """Every row through the interface's read methods."""
    settings = {key: value for key in SETTING_KEYS if (value := store.get_setting(key)) is not None}
    return Tables(settings=settings, services=store.services(), policies=store.policies(),
                  paths=store.paths(), queue_profiles=store.queue_profiles(), meters=store.meters(),
                  static_flows=store.static_flows())


class StoreApi(Protocol):
    """Rows of settings, services, policies, paths, queue profiles, meters and static flows.

    Every write method commits before it returns (one transaction each).
    `sync()` makes every commit so far durable (a no-op for a backend that
    is durable on commit) and is called before a request is answered.
    """

    def sync(self) -> bool: ...

    @property
    def commits(self) -> int:
        """Write transactions committed since the store was opened (a counter for /metrics)."""
        ...

    def close(self) -> None: ...

    # settings
    def get_setting(self, key: str, default: str | None = None) -> str | None: ...

    def set_setting(self, key: str, value: str) -> None: ...

    # services: (id, name, dscp) in id order
    def services(self) -> list[tuple[int, str, int]]: ...

    def insert_service(self, name: str, dscp: int) -> int: ...

    def delete_service(self, name: str) -> bool: ...

    # policies: (id, name, body) in id order; ids are never reused
    def policies(self) -> list[tuple[int, str, dict[str, Any]]]: ...

    def insert_policies(self, items: list[tuple[str, dict[str, Any]]]) -> list[int]: ...

    def update_policy(self, policy_id: int, name: str, body: dict[str, Any]) -> None: ...

    def delete_policies(self, ids: list[int]) -> None: ...

    # paths: (id, name, body) in id order
    def paths(self) -> list[tuple[int, str, dict[str, Any]]]: ...

    def insert_path(self, name: str, body: dict[str, Any]) -> int: ...

    def delete_path(self, path_id: int) -> None: ...

    # queue profiles: (id, body) in id order, one per (sw, port)
    def queue_profiles(self) -> list[tuple[int, dict[str, Any]]]: ...

    def upsert_queue_profile(self, sw: str, port: str, body: dict[str, Any]) -> int: ...

    def delete_queue_profile(self, sw: str, port: str) -> bool: ...

    # meters: (id, name, body) in id order
    def meters(self) -> list[tuple[int, str, dict[str, Any]]]: ...

    def insert_meter(self, name: str, body: dict[str, Any]) -> int: ...

    def delete_meter(self, name: str) -> bool: ...

    # static flow entries: (id, name, body) in id order; a name is unique across switches (Floodlight's)
    def static_flows(self) -> list[tuple[int, str, dict[str, Any]]]: ...

    def insert_static_flow(self, name: str, body: dict[str, Any]) -> int: ...

    def update_static_flow(self, flow_id: int, name: str, body: dict[str, Any]) -> None: ...

    def delete_static_flows(self, ids: list[int]) -> None: ...
