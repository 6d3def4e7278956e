"""Compare qos.state.json with the controller and plan the calls that align them (pure).

Both sides are compared in the model's normalised form: the file may hold
the seed's hand-written JSON ("queue": "2", "eth-type": "0x0800", "10G")
while the controller answers with numbers, a normalised "sw" and
server-only keys (id, cookie, install; a queue profile's "applied" and its
queues' DSCPs; a path's "status"). Normalising through `qosapp.core.model` and `qosapp.core.queues`
keeps one source of truth for what "the same policy" means.

Services, policies, paths and meters are identified by name; a queue profile by its
(sw, port) pair, as the controller keys them (`QueueProfile.key`).

Nothing here does I/O: `plan_push` returns the HTTP steps, the CLI runs them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from qosapp.core.meters import METER_KEYS, parse_meter
from qosapp.core.model import (BEST_EFFORT, ValidationError, equal_ports_as_in_port, parse_policy, parse_service,
                               parse_sw)
from qosapp.core.pathspec import PATH_KEYS, parse_path
from qosapp.core.queues import parse_port, parse_queue_profile

from pusher.client import collection_path, item_path
from pusher.state import Key, State, entry_name

#: keys the controller adds to a policy view; never part of what the user wants
SERVER_ONLY_KEYS = frozenset({"id", "cookie", "install"})
#: keys the controller adds to a queue profile view (per-queue "dscp" is dropped by to_dict)
QUEUE_SERVER_KEYS = frozenset({"id", "applied"})
#: keys the controller adds to a path view: its id, its flows' cookie, where it stands, whether its flows are on
PATH_SERVER_KEYS = frozenset({"id", "cookie", "status", "installed"})


class LocalEntryError(ValueError):
    """An entry of the state file is invalid; nothing may be sent."""


# ---------------------------------------------------------------- normal forms
def normalise_policy(obj: dict[str, Any]) -> dict[str, Any]:
    """The policy as the controller would store it, minus server-only keys.

    Service names are not checked here (None): the controller knows them.
    The seed's form with ingress-port == enqueue-port is read as
    "enqueue-port": "in_port", as `qospusher add` sends it (see
    `qosapp.core.model.equal_ports_as_in_port`).
    """
    data = equal_ports_as_in_port({k: v for k, v in obj.items() if k not in SERVER_ONLY_KEYS})
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


def normalise_queue_profile(obj: dict[str, Any]) -> dict[str, Any]:
    """The profile as the controller stores it: rates in bits/s, sw in colon form.

    A controller view also carries "applied" (per-port state) and each
    queue's DSCP (derived from the queue id): neither is the user's to set,
    so both are dropped and a view compares equal to the file's entry.
    """
    data = {k: v for k, v in obj.items() if k not in QUEUE_SERVER_KEYS}
    return parse_queue_profile(data).to_dict()


def normalise_path(obj: dict[str, Any]) -> dict[str, Any]:
    """The path as the controller stores it (`PathSpec.to_dict()`), minus server-only keys.

    "protocol": "6" and 6, a missing "direction" and "both", compare equal;
    the route and its state are the controller's business, not the file's.
    Any other key is an error, so a typo in the file is named, not ignored.
    """
    data = {k: v for k, v in obj.items() if k not in PATH_SERVER_KEYS}
    return parse_path(data).to_dict()


def normalise_path_view(view: dict[str, Any]) -> dict[str, Any]:
    """A controller's path view as the file holds it: only what a path *is* is kept.

    Unlike a file entry, a view's extra keys are never the user's (the
    controller may add more state later), so they are dropped, not refused.
    """
    return normalise_path({k: v for k, v in view.items() if k in PATH_KEYS})


def normalise_meter(obj: dict[str, Any]) -> dict[str, Any]:
    """name, rate and burst in bits (a view's id, policies and per-switch ids are the controller's)."""
    out = parse_meter({k: v for k, v in obj.items() if k in METER_KEYS - {"id"}}).to_dict()
    out.pop("id", None)
    return out


def normalise_meter_entry(obj: dict[str, Any]) -> dict[str, Any]:
    """A file entry: any key but name, rate and burst is an error (named), not dropped."""
    return normalise_meter(parse_meter({k: v for k, v in obj.items() if k != "id"}).to_dict())


def queue_key(obj: dict[str, Any]) -> tuple[str, str] | None:
    """(sw, port) as the controller keys a profile; None if even those are invalid.

    Only sw and port are parsed, so a file entry with a bad rate still has
    a key and is replaced by `queue set` for the same port.
    """
    try:
        return parse_sw(obj.get("sw", "all")), str(parse_port(obj.get("port", "all")))
    except ValidationError:
        return None


def queue_label(obj: dict[str, Any]) -> str:
    """"sw all port all": how a profile is named in messages."""
    return f"sw {obj.get('sw', 'all')} port {obj.get('port', 'all')}"


def entry_key(kind: str) -> Key:
    """What identifies an entry of `kind`: its name, or a queue profile's (sw, port)."""
    return queue_key if kind == "queues" else entry_name


def entry_label(kind: str, obj: dict[str, Any]) -> str:
    return queue_label(obj) if kind == "queues" else str(obj.get("name"))


def entry_ref(kind: str, obj: dict[str, Any]) -> Any:
    """The entry's identity in --json output: a name, or {"sw", "port"} for a queue profile."""
    return {"sw": obj.get("sw"), "port": obj.get("port")} if kind == "queues" else obj.get("name")


NORMALISERS = {"policies": normalise_policy, "services": normalise_service, "queues": normalise_queue_profile,
               "paths": normalise_path, "meters": normalise_meter_entry}


def _normalise_all(kind: str, entries: Iterable[dict[str, Any]], source: str) -> list[dict[str, Any]]:
    """Normalise a list, naming the bad entry and rejecting duplicate names (or sw+port)."""
    normalise = NORMALISERS[kind]
    key = entry_key(kind)
    out: list[dict[str, Any]] = []
    seen: set[Any] = set()
    for index, entry in enumerate(entries):
        who = queue_label(entry) if kind == "queues" else repr(entry.get("name"))
        label = f"{source}: {kind}[{index}] {who}"
        try:
            norm = normalise(entry)
        except ValidationError as err:
            raise LocalEntryError(f"{label}: {err.field}: {err.reason}") from None
        if key(norm) in seen:
            raise LocalEntryError(f"{label}: duplicate {'sw+port' if kind == 'queues' else 'name'}")
        seen.add(key(norm))
        out.append(norm)
    return out


# ---------------------------------------------------------------- diff
@dataclass(frozen=True)
class Change:
    """Same name (or sw+port) on both sides, different content.

    `name` is the entry's label (`entry_label`). Fields are compared
    flattened, so a queue profile's change reads "queues.2.max-rate", not
    the whole "queues" object.
    """

    name: str
    local: dict[str, Any]
    remote: dict[str, Any]

    @property
    def fields(self) -> list[str]:
        local, remote = flatten(self.local), flatten(self.remote)
        keys = list(dict.fromkeys([*local, *remote]))
        return [k for k in keys if local.get(k) != remote.get(k)]

    def describe(self) -> str:
        """"queue: file 2, controller 1; sw: ..." for `sync check`."""
        local, remote = flatten(self.local), flatten(self.remote)
        return "; ".join(f"{k}: file {local.get(k, '(unset)')}, controller {remote.get(k, '(unset)')}"
                         for k in self.fields)


def flatten(obj: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"queues": {"2": {"max-rate": 1}}} -> {"queues.2.max-rate": 1}; empty objects stay values."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


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

    def label(self, obj: dict[str, Any]) -> str:
        return entry_label(self.kind, obj)

    def to_dict(self) -> dict[str, Any]:
        """Names (or {"sw", "port"} for queue profiles) per category, changes with their fields."""
        def changed(change: Change) -> dict[str, Any]:
            ref = entry_ref(self.kind, change.local)
            return {**(ref if isinstance(ref, dict) else {"name": ref}), "fields": change.fields}
        return {"missing": [entry_ref(self.kind, o) for o in self.missing],
                "changed": [changed(c) for c in self.changed],
                "extra": [entry_ref(self.kind, o) for o in self.extra]}


def diff_keyed(kind: str, local: list[dict[str, Any]], remote: list[dict[str, Any]],
               ignore_extra: Iterable[Any] = ()) -> Diff:
    """Match by `entry_key(kind)`; both lists already normalised. Keeps the file's order."""
    key = entry_key(kind)
    remote_by_key = {key(o): o for o in remote}
    local_keys = {key(o) for o in local}
    ignored = set(ignore_extra)
    diff = Diff(kind)
    for obj in local:
        other = remote_by_key.get(key(obj))
        if other is None:
            diff.missing.append(obj)
        elif other != obj:
            diff.changed.append(Change(entry_label(kind, obj), obj, other))
    diff.extra.extend(o for o in remote if key(o) not in local_keys and key(o) not in ignored)
    return diff


def diff_services(file_services: list[dict[str, Any]], server_services: list[dict[str, Any]],
                  source: str = "qos.state.json") -> Diff:
    """Services by name+dscp; the built-in "Best Effort" is never an extra."""
    local = _normalise_all("services", file_services, source)
    remote = [normalise_service(s) for s in server_services]
    return diff_keyed("services", local, remote, ignore_extra=[BEST_EFFORT])


def diff_policies(file_policies: list[dict[str, Any]], server_policies: list[dict[str, Any]],
                  source: str = "qos.state.json") -> Diff:
    """Policies in normalised form; the controller's views lose id/cookie/install."""
    local = _normalise_all("policies", file_policies, source)
    remote = [strip_server_keys(p) for p in server_policies]
    return diff_keyed("policies", local, remote)


def diff_queues(file_queues: list[dict[str, Any]], server_queues: list[dict[str, Any]],
                source: str = "qos.state.json") -> Diff:
    """Queue profiles by (sw, port), without "applied" and the derived DSCPs."""
    local = _normalise_all("queues", file_queues, source)
    remote = [normalise_queue_profile(q) for q in server_queues]
    return diff_keyed("queues", local, remote)


def diff_paths(file_paths: list[dict[str, Any]], server_paths: list[dict[str, Any]],
               source: str = "qos.state.json") -> Diff:
    """Paths by name, both sides as `PathSpec.to_dict()`: the route and its state never differ."""
    local = _normalise_all("paths", file_paths, source)
    remote = [normalise_path_view(p) for p in server_paths]
    return diff_keyed("paths", local, remote)


def diff_meters(file_meters: list[dict[str, Any]], server_meters: list[dict[str, Any]],
                source: str = "qos.state.json") -> Diff:
    """Meters by name: rate and burst in bits."""
    local = _normalise_all("meters", file_meters, source)
    remote = [normalise_meter(m) for m in server_meters]
    return diff_keyed("meters", local, remote)


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


def plan_push(services: Diff, policies: Diff, prune: bool = False, queues: Diff | None = None,
              paths: Diff | None = None, meters: Diff | None = None) -> list[Step]:
    """The calls that make the controller match the file, in a safe order.

    Queue profiles first (policies and paths enqueue to their queues), then
    services (policies and paths may name them); missing policies in one
    bulk POST (all-or-nothing on the controller); changed ones by PUT;
    then paths. With `prune`, extras go last, paths first, then policies,
    then services (a service in use cannot be deleted), queue profiles after
    all. A service and a path have no PUT, so a changed one is deleted and
    re-added, which the controller refuses (409) for a service while
    policies use it. A queue profile's POST is an upsert by (sw, port), so
    missing and changed profiles are the same call. Meters go with
    services (policies name them; no PUT: a changed one is deleted and
    re-added, 409 while policies use it; pruned after the policies).
    """
    steps: list[Step] = _queue_steps(queues) if queues is not None else []
    for meter in meters.missing if meters is not None else []:
        steps.append(Step("POST", collection_path("meters"), meter, f"add meter {meter['name']}"))
    for change in meters.changed if meters is not None else []:
        steps.append(Step("DELETE", item_path("meters", change.name), None,
                          f"delete meter {change.name} (to re-add it: {change.describe()})"))
        steps.append(Step("POST", collection_path("meters"), change.local, f"add meter {change.name}"))
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
    steps += _path_steps(paths) if paths is not None else []
    if prune:
        for path in paths.extra if paths is not None else []:
            steps.append(Step("DELETE", item_path("paths", path["name"]), None, f"delete path {path['name']}"))
        for pol in policies.extra:
            steps.append(Step("DELETE", item_path("policies", pol["name"]), None, f"delete policy {pol['name']}"))
        for svc in services.extra:
            steps.append(Step("DELETE", item_path("services", svc["name"]), None, f"delete service {svc['name']}"))
        for meter in meters.extra if meters is not None else []:
            steps.append(Step("DELETE", item_path("meters", meter["name"]), None, f"delete meter {meter['name']}"))
        for profile in queues.extra if queues is not None else []:
            steps.append(Step("DELETE", collection_path("queues"), {"sw": profile["sw"], "port": profile["port"]},
                              f"delete queue profile {queue_label(profile)}"))
    return steps


def _queue_steps(queues: Diff) -> list[Step]:
    """One POST (upsert by sw+port) per missing or changed profile."""
    steps = [Step("POST", collection_path("queues"), profile, f"set queue profile {queue_label(profile)}")
             for profile in queues.missing]
    steps += [Step("POST", collection_path("queues"), change.local,
                   f"replace queue profile {change.name} ({change.describe()})") for change in queues.changed]
    return steps


def _path_steps(paths: Diff) -> list[Step]:
    """One POST per missing path; a changed one is deleted, then added (there is no PUT)."""
    steps = [Step("POST", collection_path("paths"), path, f"add path {path['name']}") for path in paths.missing]
    for change in paths.changed:
        steps.append(Step("DELETE", item_path("paths", change.name), None,
                          f"delete path {change.name} (to re-add it: {change.describe()})"))
        steps.append(Step("POST", collection_path("paths"), change.local, f"add path {change.name}"))
    return steps


def pulled_state(state: State, server_services: list[dict[str, Any]],
                 server_policies: list[dict[str, Any]], server_queues: list[dict[str, Any]] | None = None,
                 server_paths: list[dict[str, Any]] | None = None,
                 server_meters: list[dict[str, Any]] | None = None) -> State:
    """The file after `sync pull`: the controller's services, policies, queue profiles and paths.

    The built-in Best Effort (DSCP 0) is left out, as a fresh controller has
    it anyway; unknown keys of the file are kept, and so are its queues
    (paths) when `server_queues` (`server_paths`) is None. Entries keep their place in the file, new ones
    follow in the controller's order, so a pull after a small change is a
    small diff of the file.
    """
    services = [normalise_service(s) for s in server_services]
    services = [s for s in services if not (s["name"] == BEST_EFFORT and s["dscp"] == 0)]
    policies = [strip_server_keys(p) for p in server_policies]
    queues = list(state.queues) if server_queues is None else _in_file_order(
        [normalise_queue_profile(q) for q in server_queues], state.queues, queue_key)
    paths = list(state.paths) if server_paths is None else _in_file_order(
        [normalise_path_view(p) for p in server_paths], state.paths)
    meters = list(state.meters) if server_meters is None else _in_file_order(
        [normalise_meter(m) for m in server_meters], state.meters)
    return State(services=_in_file_order(services, state.services), policies=_in_file_order(policies, state.policies),
                 queues=queues, paths=paths, meters=meters, extra=dict(state.extra))


def _in_file_order(entries: list[dict[str, Any]], file_entries: list[dict[str, Any]],
                   key: Key = entry_name) -> list[dict[str, Any]]:
    position = {key(obj): index for index, obj in enumerate(file_entries)}
    ranked = sorted(enumerate(entries), key=lambda pair: (key(pair[1]) not in position,
                                                          position.get(key(pair[1]), pair[0]), pair[0]))
    return [obj for _, obj in ranked]
