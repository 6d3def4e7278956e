"""Compare qos.state.json with the controller and plan the calls that align them (pure).

Both sides are compared in the model's normalised form: the file may hold
the seed's hand-written JSON ("queue": "2", "eth-type": "0x0800") while the
controller answers with numbers, a normalised "sw" and server-only keys
(id, cookie, install). Normalising through `qosapp.model` keeps one source
of truth for what "the same policy" means.

Nothing here does I/O: `plan_push` returns the HTTP steps, the CLI runs them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from qosapp.model import BEST_EFFORT, ValidationError, parse_policy, parse_service

from pusher.client import collection_path, item_path
from pusher.state import State

#: keys the controller adds to a policy view; never part of what the user wants
SERVER_ONLY_KEYS = frozenset({"id", "cookie", "install"})


class LocalEntryError(ValueError):
    """An entry of the state file is invalid; nothing may be sent."""


# ---------------------------------------------------------------- normal forms
def normalise_policy(obj: dict[str, Any]) -> dict[str, Any]:
    """The policy as the controller would store it, minus server-only keys.

    Service names are not checked here (None): the controller knows them.
    """
    data = {k: v for k, v in obj.items() if k not in SERVER_ONLY_KEYS}
    out = parse_policy(data).to_dict()
    out.pop("id", None)
    return out


def normalise_service(obj: dict[str, Any]) -> dict[str, Any]:
    """name + dscp: the only things a service is ("tos" and "id" are derived)."""
    data = {k: v for k, v in obj.items() if k not in ("id", "sid")}
    if "dscp" in data:
        data.pop("tos", None)  # the controller's view carries both; dscp wins
    service = parse_service(data)
    return {"name": service.name, "dscp": service.dscp}


def _normalise_all(kind: str, entries: Iterable[dict[str, Any]], source: str) -> list[dict[str, Any]]:
    """Normalise a list, naming the bad entry and rejecting duplicate names."""
    normalise = normalise_policy if kind == "policies" else normalise_service
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        label = f"{source}: {kind}[{index}] {entry.get('name')!r}"
        try:
            norm = normalise(entry)
        except ValidationError as err:
            raise LocalEntryError(f"{label}: {err.field}: {err.reason}") from None
        if norm["name"] in seen:
            raise LocalEntryError(f"{label}: duplicate name")
        seen.add(norm["name"])
        out.append(norm)
    return out


# ---------------------------------------------------------------- diff
@dataclass(frozen=True)
class Change:
    """Same name on both sides, different content."""

    name: str
    local: dict[str, Any]
    remote: dict[str, Any]

    @property
    def fields(self) -> list[str]:
        keys = list(dict.fromkeys([*self.local, *self.remote]))
        return [k for k in keys if self.local.get(k) != self.remote.get(k)]

    def describe(self) -> str:
        """"queue: file 2, controller 1; sw: ..." for `sync check`."""
        return "; ".join(f"{k}: file {self.local.get(k, '(unset)')}, controller {self.remote.get(k, '(unset)')}"
                         for k in self.fields)


@dataclass(frozen=True)
class Diff:
    """One kind's difference, file (local) against controller (remote)."""

    kind: str
    missing: list[dict[str, Any]] = field(default_factory=list)  # only in the file
    changed: list[Change] = field(default_factory=list)
    extra: list[dict[str, Any]] = field(default_factory=list)    # only on the controller

    @property
    def in_sync(self) -> bool:
        return not (self.missing or self.changed or self.extra)

    def to_dict(self) -> dict[str, Any]:
        return {"missing": [o["name"] for o in self.missing],
                "changed": [{"name": c.name, "fields": c.fields} for c in self.changed],
                "extra": [o["name"] for o in self.extra]}


def diff_named(kind: str, local: list[dict[str, Any]], remote: list[dict[str, Any]],
               ignore_extra: Iterable[str] = ()) -> Diff:
    """Match by name; both lists already normalised. Keeps the file's order."""
    remote_by_name = {o["name"]: o for o in remote}
    local_names = {o["name"] for o in local}
    ignored = set(ignore_extra)
    diff = Diff(kind)
    for obj in local:
        other = remote_by_name.get(obj["name"])
        if other is None:
            diff.missing.append(obj)
        elif other != obj:
            diff.changed.append(Change(obj["name"], obj, other))
    diff.extra.extend(o for o in remote if o["name"] not in local_names and o["name"] not in ignored)
    return diff


def diff_services(file_services: list[dict[str, Any]], server_services: list[dict[str, Any]],
                  source: str = "qos.state.json") -> Diff:
    """Services by name+dscp; the built-in "Best Effort" is never an extra."""
    local = _normalise_all("services", file_services, source)
    remote = [normalise_service(s) for s in server_services]
    return diff_named("services", local, remote, ignore_extra=[BEST_EFFORT])


def diff_policies(file_policies: list[dict[str, Any]], server_policies: list[dict[str, Any]],
                  source: str = "qos.state.json") -> Diff:
    """Policies in normalised form; the controller's views lose id/cookie/install."""
    local = _normalise_all("policies", file_policies, source)
    remote = [strip_server_keys(p) for p in server_policies]
    return diff_named("policies", local, remote)


def strip_server_keys(view: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in view.items() if k not in SERVER_ONLY_KEYS}


# ---------------------------------------------------------------- push / pull
@dataclass(frozen=True)
class Step:
    """One HTTP call of a push, with the line the CLI prints for it."""

    method: str
    path: str
    body: Any
    text: str


def plan_push(services: Diff, policies: Diff, prune: bool = False) -> list[Step]:
    """The calls that make the controller match the file, in a safe order.

    Services first (policies may name them); missing policies in one bulk
    POST (all-or-nothing on the controller); changed ones by PUT. With
    `prune`, extras go last, policies before services (a service in use
    cannot be deleted). A service has no PUT, so a changed one is deleted
    and re-added, which the controller refuses (409) while policies use it.
    """
    steps: list[Step] = []
    for svc in services.missing:
        steps.append(Step("POST", collection_path("services"), svc, f"add service {svc['name']}"))
    for change in services.changed:
        steps.append(Step("DELETE", item_path("services", change.name), None,
                          f"delete service {change.name} (to re-add it: {change.describe()})"))
        steps.append(Step("POST", collection_path("services"), change.local, f"add service {change.name}"))
    if policies.missing:
        names = ", ".join(p["name"] for p in policies.missing)
        steps.append(Step("POST", collection_path("policies"), list(policies.missing), f"add policies {names}"))
    for change in policies.changed:
        steps.append(Step("PUT", item_path("policies", change.name), change.local,
                          f"replace policy {change.name} ({change.describe()})"))
    if prune:
        for pol in policies.extra:
            steps.append(Step("DELETE", item_path("policies", pol["name"]), None, f"delete policy {pol['name']}"))
        for svc in services.extra:
            steps.append(Step("DELETE", item_path("services", svc["name"]), None, f"delete service {svc['name']}"))
    return steps


def pulled_state(state: State, server_services: list[dict[str, Any]],
                 server_policies: list[dict[str, Any]]) -> State:
    """The file after `sync pull`: the controller's services and policies.

    The built-in Best Effort (DSCP 0) is left out, as a fresh controller has
    it anyway; queues and unknown keys of the file are kept (the pusher
    does not manage them yet). Entries keep their place in the file, new
    ones follow in the controller's order, so a pull after a small change
    is a small diff of the file.
    """
    services = [normalise_service(s) for s in server_services]
    services = [s for s in services if not (s["name"] == BEST_EFFORT and s["dscp"] == 0)]
    policies = [strip_server_keys(p) for p in server_policies]
    return State(services=_in_file_order(services, state.services), policies=_in_file_order(policies, state.policies),
                 queues=list(state.queues), extra=dict(state.extra))


def _in_file_order(entries: list[dict[str, Any]], file_entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    position = {obj.get("name"): index for index, obj in enumerate(file_entries)}
    ranked = sorted(enumerate(entries), key=lambda pair: (pair[1]["name"] not in position,
                                                          position.get(pair[1]["name"], pair[0]), pair[0]))
    return [obj for _, obj in ranked]
