"""The QoS decision logic: validated requests -> store -> what the switches must do.

`QosCore` owns the in-memory view (services, policies by name and by id,
connected switches, per-switch install state) and writes through to the
store (`StoreApi`) before its own state changes. It does no other I/O:
every event handler and request method returns an `Effects` value (flow
batches per switch, whether the queues need syncing, whether confirmations
may have arrived), which `qosapp.service` applies under its lock and the
Ryu shell (`qosapp.ofp.app`) puts on the wire. Requests return
`(result, Effects)`.

Like Faucet, a (re)connecting switch gets a cold start: wipe, then install
everything that belongs there. Simple and correct beats incremental.
"""
from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any, Iterable, Mapping

from qosapp.core import compiler
from qosapp.core import fallback
from qosapp.core import forwarding
from qosapp.core.compiler import FlowDelete, FlowOp, FlowSpec
from qosapp.core.effects import Effects
from qosapp.core.model import (BEST_EFFORT, ENQUEUE_ANY, Policy, Service, ValidationError, format_dpid,
                          parse_policy, parse_service)
from qosapp.core.ports import IN_PORT, is_reserved_port
from qosapp.core.queues import QueueProfile, parse_queue_profile, resolve_targets
from qosapp.core.shaping import PortFilter, Shaping, Target, missing_queues, missing_reason
from qosapp.core.fabric import LEARNED, Fabric, Ops
from qosapp.core.cookies import (FORWARDING_COOKIE, PIPELINE_COOKIE, counted, meter_cookie, meter_id_of, path_cookie,
                                 path_id_of, policy_cookie, policy_id_of, static_id_of)
from qosapp.core.meters import WIPE_METERS, Meter, MeterTable, meter_add, meter_delete, parse_meter
from qosapp.core.pathspec import INSTALLED as PATH_INSTALLED, PathSpec, clashing_path, parse_path
from qosapp.core.staticflows import StaticFlow, compile_static, delete_static, parse_static_flow, same_flow_key
from qosapp.core.stats import Stats
from qosapp.core.switchstate import (ERROR, INSTALLED, METER_FALLBACK, MISSING_QUEUE, PEER, PENDING, QUEUE,
                                     InstallState, SwitchState)
from qosapp.core.storeapi import StoreApi, StoreConflict, Tables
from qosapp.core import converge as converging

LOG = logging.getLogger(__name__)

OF10_MARKING_REFUSED = ("not installed: on OpenFlow 1.0 a marking policy can only forward by NORMAL, which "
                        "floods loops; use OpenFlow 1.3, a QoS path with this service, or --forwarding normal")
#: why a meter policy is not installed on an OpenFlow 1.3 switch whose meter features report no meters
NO_METERS = ("not installed: the switch reports no meters (OFPMP_METER_FEATURES max_meter 0), so it cannot police; "
             "use a queue")
OF10_ENTERING_REFUSED = ("not installed: on OpenFlow 1.0 traffic that enters on enqueue-port {port} could only be "
                         "forwarded by NORMAL (which floods loops; output to port {port} would drop it); give "
                         "ingress-port, use OpenFlow 1.3, or --forwarding normal")

#: FlowDelete meaning "every flow in every table" (cold start of a switch).
WIPE = FlowDelete(cookie=0)
#: Seconds a switch whose OpenFlow connection dropped keeps its place in the topology (see
#: `QosCore.switch_disconnected`): long enough for a controller-side restart or a flapping
#: connection, short enough that a switch that is really gone is routed around soon.
SWITCH_GRACE = 30.0


class NotFound(LookupError):
    """A named object does not exist (becomes HTTP 404 naming `field`)."""

    def __init__(self, message: str, field: str = "name") -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return self.message


class QosCore:
    """Services, policies and switches; the single writer of the store."""

    def __init__(self, store: StoreApi, manage_queues: bool = False, forwarding: str = LEARNED,
                 switch_grace: float = SWITCH_GRACE) -> None:
        """`manage_queues`: whether the service applies queue profiles (OVSDB); without, every queue counts as there.
        `switch_grace`: seconds a switch whose OpenFlow connection dropped keeps its place in the topology."""
        self.store = store
        self.switch_grace = switch_grace
        #: switches whose OpenFlow connection dropped, still in the topology: dpid -> when it dropped
        self.absent: dict[int, float] = {}
        #: coalesce topology work: events only mark it due, `flush_topology` does it once for the lot
        #: (the Ryu shell turns this on, see `QosService`); off, every event does it at once
        self.defer_topology = False
        self._topology_due = False
        self._paths_due = False
        self.fabric = Fabric(forwarding)
        self.stats = Stats()
        self.shaping = Shaping(managed=manage_queues)
        #: connected switches: what each holds and has still to confirm
        self.switches: dict[int, SwitchState] = {}
        self.services: dict[str, Service] = {}
        self.policies: dict[str, Policy] = {}
        self.policies_by_id: dict[int, Policy] = {}
        #: named meters, and each one's id on each OpenFlow 1.3 switch
        self.meters: dict[str, Meter] = {}
        self.meter_table = MeterTable()
        #: static flow entries (Floodlight's static flow pusher) by name, each for one switch
        self.static_flows: dict[str, StaticFlow] = {}
        #: (match, priority) -> names: two policies with the same match and
        #: priority on one switch would overwrite each other's flow. Tuples, not
        #: sets: nearly every key has one name (a set costs 4x the memory).
        self.by_match: dict[tuple[Any, int], tuple[str, ...]] = {}
        #: policy id -> (name, body) as stored: what `converge` compares the store's rows with
        self.policy_rows: dict[int, tuple[str, dict[str, Any]]] = {}
        #: the tool's flag as stored (kept here: reading the store for it on every check would be a
        #: network round trip with etcd)
        self._enabled = False
        #: in a cluster, the switches this instance masters (None: no cluster, every switch is ours).
        #: Effects for the others' switches are not sent (`route`); their install state says who installs.
        self.mastered: set[int] | None = None
        #: in a cluster, dpid -> the member that masters it (as last told, for the install states)
        self.masters: dict[int, str] = {}
        self._load()

    def _load(self) -> None:
        """Read the store; seed 'Best Effort' on first start."""
        if not self.store.services():
            try:
                self.store.insert_service(BEST_EFFORT, 0)
            except StoreConflict:  # another instance of a cluster seeded it first
                pass
        self._enabled = self.store.get_setting("enabled", "false") == "true"
        for sid, name, dscp in self.store.services():
            self.services[name] = Service(name=name, dscp=dscp, id=sid)
        for qid, body in self.store.queue_profiles():
            try:
                self.shaping.put(parse_queue_profile(body))
            except ValidationError as err:
                LOG.error("stored queue profile %s no longer validates, not loaded: %s", qid, err)
        for path_id, name, body in self.store.paths():
            try:
                self.fabric.paths[name] = replace(parse_path({k: v for k, v in body.items() if k != "id"}), id=path_id)
            except ValidationError as err:
                LOG.error("stored path %r (id %s) no longer validates, not loaded: %s", name, path_id, err)
        self.fabric.replan_all(None)
        for mid, name, body in self.store.meters():
            try:
                self.meters[name] = replace(parse_meter({k: v for k, v in body.items() if k != "id"}), id=mid)
            except ValidationError as err:
                LOG.error("stored meter %r (id %s) no longer validates, not loaded: %s", name, mid, err)
        for fid, name, body in self.store.static_flows():
            try:
                self.static_flows[name] = replace(parse_static_flow(body), id=fid)
            except ValidationError as err:
                LOG.error("stored static flow %r (id %s) no longer validates, not loaded: %s", name, fid, err)
        for pid, name, body in self.store.policies():
            body = {k: v for k, v in body.items() if k != "id"}
            try:
                self._index(_with_id(parse_policy(body), pid), body)
            except ValidationError as err:  # one bad row must not stop the controller
                LOG.error("stored policy %r (id %s) no longer validates, not loaded: %s", name, pid, err)

    def _index(self, policy: Policy, body: dict[str, Any]) -> None:
        """Hold `policy`, stored as `body`."""
        assert policy.id is not None
        self.policies[policy.name] = policy
        self.policies_by_id[policy.id] = policy
        self.policy_rows[policy.id] = (policy.name, body)
        key = (policy.match, policy.priority)
        names = self.by_match.get(key, ())
        if policy.name not in names:
            self.by_match[key] = (*names, policy.name)

    def _unindex(self, policy: Policy) -> None:
        key = (policy.match, policy.priority)
        left = tuple(n for n in self.by_match.get(key, ()) if n != policy.name)
        if left:
            self.by_match[key] = left
        else:
            self.by_match.pop(key, None)
        pid = _id(policy)
        self.policies.pop(policy.name, None)
        self.policies_by_id.pop(pid, None)
        self.policy_rows.pop(pid, None)
        cookie = policy_cookie(pid)
        for switch in self.switches.values():
            switch.install.pop(cookie, None)
        self.stats.forget_cookie(policy_cookie(pid))

    # ------------------------------------------------------------ tool state
    @property
    def enabled(self) -> bool:
        return self._enabled

    def status(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "services": len(self.services),
                "policies": len(self.policies), "switches": len(self.switches),
                "queues": len(self.shaping.profiles), "paths": len(self.fabric.paths),
                "meters": len(self.meters)}

    def enable(self) -> tuple[bool, Effects]:
        """Store the flag, then install every policy everywhere. Returns whether it changed."""
        fx = Effects()
        if self.enabled:
            return False, fx
        self.store.set_setting("enabled", "true")
        return True, self._turn_on()

    def _turn_on(self) -> Effects:
        fx = Effects()
        self._enabled = True
        for info in self.switches.values():
            fx.send(info.dpid, self._policy_flows(info, self.policies.values()))
        fx.send_all(self._path_updates(self.fabric.paths))
        return fx

    def disable(self) -> tuple[bool, Effects]:
        """Store the flag, then remove every policy flow; forwarding stays."""
        if not self.enabled:
            return False, Effects()
        self.store.set_setting("enabled", "false")
        return True, self._turn_off()

    def _turn_off(self) -> Effects:
        fx = Effects()
        for info in self.switches.values():
            fx.send(info.dpid, self._policy_deletes(info, self.policies.values()))
        for switch in self.switches.values():
            for cookie in [c for c in switch.install if policy_id_of(c) is not None]:
                del switch.install[cookie]
        self._enabled = False
        fx.send_all(self._path_updates(self.fabric.paths))
        return fx

    # ------------------------------------------------------------ services
    def service_dscps(self) -> dict[str, int]:
        return {name: svc.dscp for name, svc in self.services.items()}

    def get_service(self, name: str) -> Service:
        try:
            return self.services[name]
        except KeyError:
            raise NotFound(f"no service named {name!r}") from None

    def add_service(self, data: Any) -> tuple[Service, Effects]:
        service = parse_service(data)
        if service.name in self.services:
            raise ValidationError("name", f"a service named {service.name!r} exists", status=409)
        try:
            sid = self.store.insert_service(service.name, service.dscp)
        except StoreConflict as err:  # another instance took the name meanwhile
            raise ValidationError("name", f"conflict in store: {err}", status=409) from None
        service = Service(name=service.name, dscp=service.dscp, id=sid)
        self.services[service.name] = service
        return service, Effects()

    def delete_service(self, name: str) -> tuple[Service, Effects]:
        service = self.get_service(name)
        if name == BEST_EFFORT:
            raise ValidationError("name", f"{BEST_EFFORT!r} is built in and cannot be deleted", status=409)
        users = sorted(p.name for p in self.policies.values() if p.service == name)
        users += sorted(f"path {p.name}" for p in self.fabric.paths.values() if p.service == name)
        if users:
            raise ValidationError("name", f"service {name!r} is used by policies: {', '.join(users)}", status=409)
        self.store.delete_service(name)
        del self.services[name]
        return service, Effects()

    # ------------------------------------------------------------ meters
    def get_meter(self, name: str) -> Meter:
        try:
            return self.meters[name]
        except KeyError:
            raise NotFound(f"no meter named {name!r}") from None

    def add_meter(self, data: Any) -> tuple[Meter, Effects]:
        """Store the meter, then put it on every connected OpenFlow 1.3 switch (an id each)."""
        meter = parse_meter(data)
        if meter.name in self.meters:
            raise ValidationError("name", f"a meter named {meter.name!r} exists", status=409)
        try:
            meter = replace(meter, id=self.store.insert_meter(meter.name, meter.to_dict()))
        except StoreConflict as err:
            raise ValidationError("name", f"conflict in store: {err}", status=409) from None
        return meter, self._meter_put(meter)

    def _meter_put(self, meter: Meter) -> Effects:
        self.meters[meter.name] = meter
        fx = Effects()
        for info in self.switches.values():
            fx.send(info.dpid, self._meter_adds(info, [meter]))
        return fx

    def delete_meter(self, name: str) -> tuple[Meter, Effects]:
        """409 while a policy uses it; else remove it from the store and every switch, freeing its ids."""
        meter = self.get_meter(name)
        users = sorted(p.name for p in self.policies.values() if p.meter == name)
        if users:
            raise ValidationError("name", f"meter {name!r} is used by policies: {', '.join(users)}", status=409)
        self.store.delete_meter(name)
        return meter, self._meter_drop(meter)

    def _meter_drop(self, meter: Meter) -> Effects:
        name = meter.name
        del self.meters[name]
        fx = Effects()
        for dpid in self.meter_table.switches_of(name):
            meter_id = self.meter_table.free(dpid, name)
            if meter_id is not None and dpid in self.switches:
                self.switches[dpid].install.pop(meter_cookie(_id(meter)), None)
                fx.send(dpid, [meter_delete(meter, meter_id)])
        self.stats.forget_meter(name)
        return fx

    def meter_view(self, meter: Meter) -> dict[str, Any]:
        """The meter, the policies using it, and per switch its id there and where its meter_mod stands."""
        cookie = meter_cookie(_id(meter))
        switches: dict[str, Any] = {}
        for dpid, info in sorted(self.switches.items()):
            meter_id = self.meter_table.id_of(dpid, meter.name)
            if info.version == compiler.OF10 or info.no_meters:
                switches[format_dpid(dpid)] = {"state": ERROR, "reason": info.no_meters or compiler.OF10_NO_METERS}
            elif meter_id is not None:
                state = info.install.get(cookie, InstallState("not-installed"))
                switches[format_dpid(dpid)] = {"meter-id": meter_id, **state.to_dict()}
        return {**meter.to_dict(), "policies": sorted(p.name for p in self.policies.values() if p.meter == meter.name),
                "switches": switches}

    def _meter_adds(self, info: SwitchState, meters: Iterable[Meter]) -> list[FlowOp]:
        """meter_mod adds for `meters` on an OpenFlow 1.3 switch (ids allocated here); none on 1.0."""
        if info.version == compiler.OF10 or info.no_meters:
            return []
        ops: list[FlowOp] = []
        for meter in meters:
            ops.append(meter_add(meter, self.meter_table.allocate(info.dpid, meter.name)))
            info.sent(meter_cookie(_id(meter)))
        return ops

    def meter_features(self, dpid: int, max_meter: int) -> Effects:
        """An OpenFlow 1.3 switch's OFPMP_METER_FEATURES reply. With max_meter 0 it takes no meters: its
        meter policies become `error` with that reason (their flows removed), fallback ones `missing-queue`."""
        info = self.switches.get(dpid)
        fx = Effects()
        if info is None or max_meter > 0 or info.no_meters:
            return fx
        info.no_meters = NO_METERS
        ops: list[FlowOp] = []
        for policy in self.policies.values():
            cookie = policy_cookie(_id(policy))
            state = info.install.get(cookie)
            if state is None or not (policy.meter or state.mechanism == METER_FALLBACK):
                continue
            ops += compiler.delete_policy(policy, dpid, info.version, self.service_dscps())
            if policy.meter:
                info.install[cookie] = InstallState(ERROR, NO_METERS)
            else:
                info.install[cookie] = self._missing_state(policy, info, self._missing(policy, info))
        for name in self.meter_table.ids(dpid):
            self.meter_table.free(dpid, name)
        fx.send(dpid, ops)
        return fx

    def meter_stats(self) -> dict[str, Any]:
        """Per meter and switch: packets and bytes in, packets and bytes the band dropped, rates."""
        rows = []
        for meter in self.meters.values():
            switches = []
            for dpid in self.meter_table.switches_of(meter.name):
                sample = self.stats.meter_sample(meter.name, dpid)
                if sample is None:
                    continue
                switches.append({"dpid": format_dpid(dpid), "meter-id": self.meter_table.id_of(dpid, meter.name),
                                 **sample})
            rows.append({"name": meter.name, "rate": meter.rate, "burst": meter.burst, "switches": switches})
        return {"interval": self.stats.interval, "meters": rows}

    def meter_counters(self, dpid: int, now: float, counters: Iterable[tuple[int, int, int, int, int]]) -> None:
        """A meter stats reply: (switch meter id, packets in, bytes in, band packets, band bytes)."""
        named = []
        for meter_id, packets, nbytes, band_packets, band_bytes in counters:
            name = self.meter_table.name_of(dpid, meter_id)
            if name is not None:
                named.append((name, packets, nbytes, band_packets, band_bytes))
        self.stats.record_meters(dpid, now, named)

    # ------------------------------------------------------------ policies
    def get_policy(self, name: str) -> Policy:
        try:
            return self.policies[name]
        except KeyError:
            raise NotFound(f"no policy named {name!r}") from None

    def policy_by_cookie(self, cookie: int) -> Policy | None:
        pid = policy_id_of(cookie)
        return self.policies_by_id.get(pid) if pid is not None else None

    def _check_overlap(self, policy: Policy, others: Iterable[Policy], ignore: str | None = None) -> None:
        """409 when another policy would install the same match+priority on a shared switch."""
        if policy.sw == "none":
            return
        names = self.by_match.get((policy.match, policy.priority), ())
        candidates = [self.policies[n] for n in names if n != ignore]
        candidates += [o for o in others if o.match == policy.match and o.priority == policy.priority]
        for other in candidates:
            if other.sw != "none" and (policy.sw == "all" or other.sw == "all" or other.sw == policy.sw):
                raise ValidationError("priority", f"policy {other.name!r} has the same match and priority "
                                      f"{policy.priority} on a shared switch; the switch would keep only one "
                                      "flow. Change the priority or the match", status=409)

    def add_policy(self, data: Any) -> tuple[Policy, Effects]:
        policies, fx = self.add_policies([data], batch=False)
        return policies[0], fx

    def add_policies(self, items: list[Any], batch: bool = True) -> tuple[list[Policy], Effects]:
        """Validate all, store all in one transaction, then install.

        All-or-nothing: the first bad item rejects the batch (its index is in
        the error) and nothing is stored.
        """
        return self.add_parsed(self.parse_policies(items, batch), batch)

    def parse_policies(self, items: list[Any], batch: bool = True, offset: int = 0) -> list[Policy]:
        """Each item validated on its own (no state read but the service and meter names, none changed).

        A separate step so that the service can parse a big bulk POST in
        slices between which other green threads run; `offset` is the first
        item's index in the whole request (errors name it).
        """
        parsed: list[Policy] = []
        for index, data in enumerate(items, offset):
            try:
                parsed.append(parse_policy(data, self.services, self.meters))
            except ValidationError as err:
                if batch:
                    err.index = index
                raise
        return parsed

    def add_parsed(self, parsed: list[Policy], batch: bool = True) -> tuple[list[Policy], Effects]:
        """Store and install validated policies, after the checks that need the current state.

        Names, overlaps and the services and meters they refer to are
        checked here, against the state as it is now (a service deleted
        while a bulk was being parsed is caught).
        """
        seen: set[str] = set()
        #: the batch's own (match, priority) index: checking each item against
        #: the whole batch made a 20,000-policy POST quadratic (~80 s)
        batch_by_match: dict[tuple[Any, int], list[Policy]] = {}
        for index, policy in enumerate(parsed):
            try:
                if policy.name in self.policies or policy.name in seen:
                    raise ValidationError("name", f"a policy named {policy.name!r} exists", status=409)
                self._check_refs(policy)
                key = (policy.match, policy.priority)
                self._check_overlap(policy, batch_by_match.get(key, ()))
            except ValidationError as err:
                if batch:
                    err.index = index
                raise
            seen.add(policy.name)
            batch_by_match.setdefault(key, []).append(policy)
        rows = [(p.name, p.to_dict()) for p in parsed]
        try:
            ids = self.store.insert_policies(rows)
        except StoreConflict as err:  # a race with another writer
            raise ValidationError("name", f"conflict in store: {err}", status=409) from None
        stored = [_with_id(p, pid) for p, pid in zip(parsed, ids)]
        for policy, (_, body) in zip(stored, rows):
            self._index(policy, body)
        return stored, self._install(stored)

    def _check_refs(self, policy: Policy) -> None:
        """409 when the service or meter a parsed policy names is gone (parse_policy checked it earlier)."""
        if policy.service is not None and policy.service not in self.services:
            raise ValidationError("service", f"unknown service {policy.service!r}; known: "
                                  f"{', '.join(sorted(self.services))}", status=409)
        if policy.meter is not None and policy.meter not in self.meters:
            raise ValidationError("meter", f"unknown meter {policy.meter!r}", status=409)

    def replace_policy(self, name: str, data: Any) -> tuple[Policy, Effects]:
        """PUT: the new body replaces the old one; id and cookie stay."""
        old = self.get_policy(name)
        if isinstance(data, Mapping) and "name" not in data:
            data = {**data, "name": name}
        new = parse_policy(data, self.services, self.meters)
        if new.name != name and new.name in self.policies:
            raise ValidationError("name", f"a policy named {new.name!r} exists", status=409)
        self._check_overlap(new, [], ignore=name)
        pid = _id(old)
        body = new.to_dict()
        new = _with_id(new, pid)
        try:
            self.store.update_policy(pid, new.name, body)
        except StoreConflict as err:  # another instance took the new name meanwhile
            raise ValidationError("name", f"conflict in store: {err}", status=409) from None
        fx = self._uninstall([old])
        self._unindex(old)
        self._index(new, body)
        return new, fx.add(self._install([new]))

    def delete_policy(self, name: str) -> tuple[Policy, Effects]:
        policy = self.get_policy(name)
        self.store.delete_policies([_id(policy)])
        fx = self._uninstall([policy])
        self._unindex(policy)
        return policy, fx

    def delete_policies(self, names: list[str] | None) -> tuple[list[Policy], Effects]:
        """Delete many policies (None: all of them) in one transaction and one flow batch per switch.

        All-or-nothing: an unknown name rejects the request (404 naming it)
        before anything is deleted.
        """
        if names is None:
            policies = list(self.policies.values())
        else:
            policies = []
            for index, name in enumerate(dict.fromkeys(names)):
                if name not in self.policies:
                    raise NotFound(f"no policy named {name!r} (item {index}); nothing was deleted", "names")
                policies.append(self.policies[name])
        if not policies:
            return [], Effects()
        self.store.delete_policies([_id(p) for p in policies])
        fx = self._uninstall(policies)
        for policy in policies:
            self._unindex(policy)
        return policies, fx

    def delete_policy_by_id(self, policy_id: int) -> tuple[Policy, Effects]:
        policy = self.policies_by_id.get(policy_id)
        if policy is None:
            raise NotFound(f"no policy with id {policy_id}", "policy-id")
        return self.delete_policy(policy.name)

    def install_state(self, policy: Policy, switches: list[tuple[int, str, dict[int, InstallState]]] | None = None
                      ) -> dict[str, Any]:
        """Per switch: installed / pending / error + reason (or why not).

        `switches`: `_switch_tables()`, when the caller asks for many policies (computed once).
        """
        cookie = policy_cookie(_id(policy))
        idle = NOT_INSTALLED[self.enabled]
        return {name: held.get(cookie, idle).to_dict()
                for dpid, name, held in (self._switch_tables() if switches is None else switches)
                if policy.applies_to(dpid)}

    def _switch_tables(self) -> list[tuple[int, str, dict[int, InstallState]]]:
        """(dpid, its colon form, its per-cookie install states), in dpid order."""
        return [(dpid, format_dpid(dpid), info.install) for dpid, info in sorted(self.switches.items())]

    def policy_view(self, policy: Policy) -> dict[str, Any]:
        return self.policy_views([policy])[0]

    def policy_views(self, policies: Iterable[Policy], bodies: list[dict[str, Any]] | None = None
                     ) -> list[dict[str, Any]]:
        """Each policy as the REST API shows it; the switch list is sorted and named once (GET all).

        `bodies`: `policy_bodies(policies)`, made earlier (they do not change with the install
        states); each gets its policy's "install" here.
        """
        policies = list(policies)
        switches = self._switch_tables()
        views = self.policy_bodies(policies) if bodies is None else bodies
        for policy, view in zip(policies, views):
            view["install"] = self.install_state(policy, switches)
        return views

    @staticmethod
    def policy_bodies(policies: Iterable[Policy]) -> list[dict[str, Any]]:
        """The views of `policies` without their install states (`policy_views` adds them)."""
        bodies = []
        for policy in policies:
            body = policy.to_dict()
            body["cookie"] = hex(policy_cookie(_id(policy)))
            bodies.append(body)
        return bodies

    # ------------------------------------------------------------ switches
    def switch_connected(self, dpid: int, version: int, ports: Mapping[int, str] | None = None,
                         address: str | None = None, wipe: bool = True) -> Effects:
        """Cold start, first half: wipe the switch, install its pipeline, forwarding and policies.

        The effects ask for a queue sync (OVS may have lost the switch's
        rows); after it, `switch_ready` plans forwarding and paths with
        the queues as they now are.

        `wipe=False` (a cluster instance taking over a switch whose flows
        another instance put there): no wipe; every flow is sent again as
        an add, which leaves a flow that is already right in place (no gap
        for the traffic it carries) and corrects one that is not.
        """
        info = SwitchState(dpid=dpid, version=version, ports=dict(ports or {}), address=address)
        self.switches[dpid] = info  # a reconnect starts from nothing: the wipe takes everything
        self.absent.pop(dpid, None)
        topo = self.fabric.topology
        topo.add_switch(dpid, [p for p in info.ports])
        self.meter_table.forget_switch(dpid)
        ops: list[FlowOp] = [WIPE] if wipe else []
        ops += self.fabric.switch_reset(info)
        if version != compiler.OF10 and self.meters:  # (a controller without meters leaves the switch's alone)
            ops += [WIPE_METERS] if wipe else []
            ops += self._meter_adds(info, self.meters.values())
        if self.enabled:
            ops += self._policy_flows(info, self.policies.values())
        ops += self._static_adds(info, self.static_flows.values())
        fx = Effects(sync_queues=True)
        fx.send(dpid, ops)
        self.shaping.forget(lambda target: target[0] == dpid)
        return fx

    def switch_ready(self, dpid: int) -> Effects:
        """Cold start, second half (after the queue sync): forwarding everywhere, paths back."""
        if self.defer_topology:
            self._topology_due = self._paths_due = True
            return Effects()
        # the wipe took this switch's path flows; put back what the plans say
        return self._topology_work(all_paths=True)

    def switch_disconnected(self, dpid: int, now: float | None = None) -> Effects:
        """The switch's OpenFlow connection dropped: forget what it held, keep its place in the topology.

        A switch that lost its controller connection usually still forwards
        (fail-secure OVS keeps its flows), and its neighbours still see their
        ports to it up. Removing it from the topology at once made the
        controller tear down the neighbours' flows towards the hosts behind
        it and pull that traffic to itself: a lost connection broke
        forwarding across a switch that was working. So for `switch_grace`
        seconds its links and hosts stay (link deletions that only say "we
        cannot hear it" are ignored, see `link_removed`); what the neighbours
        report by port status (a port really down) is still acted on. If it
        comes back it gets its cold start (`switch_connected`); if not,
        `expire_absent` removes it and forwarding and paths are re-planned.
        Its OVSDB rows stay either way (re-applied when it is back).
        """
        known = self.switches.pop(dpid, None) is not None
        self.stats.forget_switch(dpid)
        self.meter_table.forget_switch(dpid)
        self.shaping.forget(lambda target: target[0] == dpid, keep_state=False)
        fx = Effects(confirm=True)  # nothing is pending on a switch that is gone
        if known and dpid in self.fabric.topology:
            self.absent[dpid] = time.monotonic() if now is None else now
            LOG.info("switch %016x lost its OpenFlow connection: kept in the topology for %.0f s",
                     dpid, self.switch_grace)
        return fx

    def expire_absent(self, now: float | None = None) -> Effects:
        """Switches away longer than the grace period leave the topology; what used them is re-planned."""
        now = time.monotonic() if now is None else now
        gone = [dpid for dpid, since in self.absent.items() if now - since >= self.switch_grace]
        fx = Effects()
        for dpid in gone:
            del self.absent[dpid]
            LOG.info("switch %016x did not come back within %.0f s: removed from the topology",
                     dpid, self.switch_grace)
            self.fabric.topology.remove_switch(dpid)
        if gone:
            fx.add(self.topology_changed())
        return fx

    def port_changed(self, dpid: int, port_no: int, name: str | None) -> Effects:
        """A port was added/modified (name) or deleted (None)."""
        fx = Effects()
        info = self.switches.get(dpid)
        if info is None:
            return fx
        old = info.ports.get(port_no)
        if name is None:
            info.ports.pop(port_no, None)
            moved = self.fabric.topology.remove_port(dpid, port_no)
        else:
            info.ports[port_no] = name
            moved = self.fabric.topology.add_port(dpid, port_no)
        if moved:
            fx = self.topology_changed()
        # a port that (re)appears lost its QoS rows' effect: apply again
        self.shaping.forget(lambda target: target == (dpid, old) or target == (dpid, name))
        fx.sync_queues = True
        return fx

    def flows_confirmed(self, dpid: int, cookies: Iterable[int]) -> Effects:
        """A barrier came back: what was pending on `dpid` is installed."""
        switch = self.switches.get(dpid)
        if switch is not None:
            for cookie in cookies:
                switch.confirmed(cookie)
        return Effects(confirm=True)

    def flow_error(self, dpid: int, cookie: int, reason: str) -> Effects:
        """The switch rejected a policy's or path's flow: record it for the REST answer."""
        switch = self.switches.get(dpid)
        meter = self._meter_by_cookie(cookie)
        if switch is not None and meter is not None:  # a meter_mod failed: so do the policies that use it here
            switch.install[cookie] = InstallState(ERROR, reason)
            for policy in self.policies.values():
                if policy.meter == meter.name and policy_cookie(_id(policy)) in switch.install:
                    switch.install[policy_cookie(_id(policy))] = InstallState(ERROR, f"meter {meter.name!r}: {reason}")
            return Effects(confirm=True)
        pid = policy_id_of(cookie)
        known = (pid is not None and pid in self.policies_by_id) or \
            (path_id_of(cookie) is not None or static_id_of(cookie) is not None) and \
            switch is not None and cookie in switch.install
        if switch is not None and known:
            rejected = self.policies_by_id.get(pid) if pid is not None else None
            state = switch.install.get(cookie)
            if rejected is not None and state is not None and state.mechanism == QUEUE:  # it rejected the queue
                fx = Effects(confirm=True)
                fx.send(dpid, self._fall_back(switch, rejected, InstallState(ERROR, reason)))
                return fx
            switch.install[cookie] = InstallState(ERROR, reason)
        return Effects(confirm=True)

    def _meter_by_cookie(self, cookie: int) -> Meter | None:
        mid = meter_id_of(cookie)
        return next((m for m in self.meters.values() if m.id == mid), None) if mid is not None else None

    def pending(self, policies: Iterable[Policy]) -> bool:
        """Is any switch still to confirm (or reject) one of these policies' flows?"""
        switches = list(self.switches.values())
        for policy in policies:
            cookie = policy_cookie(_id(policy))
            if any(switch.pending(cookie) for switch in switches):
                return True
        return False

    # ------------------------------------------------------------ queues
    @property
    def queue_profiles(self) -> list[QueueProfile]:
        return self.shaping.profiles

    def queue_profile_view(self, profile: QueueProfile) -> dict[str, Any]:
        return self.shaping.view(profile)

    def add_queue_profile(self, data: Any, force: bool = False) -> tuple[tuple[QueueProfile, list[dict[str, Any]]], Effects]:
        """Store (replacing the profile with the same sw+port), then apply.

        Returns the profile and the live policies and paths that lose their
        queue by it (only with `force`; without, that is a 409 naming them).
        """
        profile = parse_queue_profile(data)
        after = [p for p in self.shaping.profiles if p.key != profile.key] + [profile]
        lost = self._check_queue_users(after, force, f"replacing the queue profile for sw {profile.sw!r} port "
                                       f"{str(profile.port)!r} removes")
        self.store.upsert_queue_profile(*profile.key, profile.to_dict())
        self.shaping.put(profile)
        return (profile, lost), Effects(sync_queues=True)

    def get_queue_profile(self, sw: str, port: str) -> QueueProfile:
        profile = self.shaping.find(sw, port)
        if profile is None:
            raise NotFound(f"no queue profile for sw {sw!r} port {port!r}", "port")
        return profile

    def delete_queue_profile(self, sw: str, port: str, force: bool = False) -> tuple[tuple[QueueProfile, list[dict[str, Any]]], Effects]:
        """Remove from the store, then clear the rows it made where nothing else applies.

        Refused (409 naming them) while live policies or paths use its queues,
        unless `force`: then their states change and they are returned.
        """
        profile = self.get_queue_profile(sw, port)
        after = [p for p in self.shaping.profiles if p is not profile]
        lost = self._check_queue_users(after, force, f"deleting the queue profile for sw {sw!r} port {port!r} removes")
        self.store.delete_queue_profile(sw, port)
        self.shaping.remove(profile)
        return (profile, lost), Effects(sync_queues=True)

    def _check_queue_users(self, profiles: list[QueueProfile], force: bool, what: str) -> list[dict[str, Any]]:
        """Which live users lose their queue if `profiles` replace the current ones; 409 unless `force`."""
        lost = self.queue_users_lost(profiles)
        if lost and not force:
            names = list(dict.fromkeys(f"{'policy' if 'policy' in u else 'path'} {u.get('policy', u.get('path'))!r}"
                                       for u in lost))
            shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
            first = lost[0]
            raise ValidationError("force", f"{what} queue {first['queue']} from {first['dpid']} port {first['port']}"
                                  f"{' and more' if len(lost) > 1 else ''}, which {shown} use; add ?force=true to go "
                                  "ahead (their state becomes missing-queue)", status=409, extra={"in-use": lost})
        return lost

    def queue_users_lost(self, profiles: list[QueueProfile]) -> list[dict[str, Any]]:
        """Live policies (installed/pending) and installed paths whose queue exists now and not under `profiles`.

        One entry per (user, switch, port, queue), in switch and name order.
        """
        if not self.enabled or not self.shaping.managed:
            return []
        wanted = resolve_targets(profiles, self.switch_ports())

        def kept(dpid: int, port_no: int, queue: int) -> bool:
            name = self.switches[dpid].ports.get(port_no)
            profile = wanted.get((dpid, name)) if name is not None else None
            return profile is not None and profile.queue(queue) is not None

        def lost(dpid: int, port_no: int, queue: int) -> bool:
            return self.queue_exists(dpid, port_no, queue) and not kept(dpid, port_no, queue)

        out: list[dict[str, Any]] = []
        for dpid, info in sorted(self.switches.items()):
            for policy in sorted(self.policies.values(), key=lambda p: p.name):
                state = info.install.get(policy_cookie(_id(policy)))
                if policy.queue is None or state is None or state.state not in (PENDING, INSTALLED):
                    continue
                for port in self._queue_ports(policy, info):
                    if lost(dpid, port, policy.queue):
                        out.append({"policy": policy.name, "dpid": format_dpid(dpid), "port": port,
                                    "queue": policy.queue})
        for name, path in sorted(self.fabric.paths.items()):
            plan = self.fabric.plans.get(name)
            if path.queue is None or plan is None or plan.state != PATH_INSTALLED:
                continue
            for hop_dpid, port in sorted({(h.dpid, h.out_port) for h in (*plan.forward, *plan.reverse)}):
                if hop_dpid in self.switches and lost(hop_dpid, port, path.queue):
                    out.append({"path": name, "dpid": format_dpid(hop_dpid), "port": port, "queue": path.queue})
        return out

    def _target(self, dpid: int, port_no: int) -> tuple[int, str] | None:
        info = self.switches.get(dpid)
        name = info.ports.get(port_no) if info else None
        return (dpid, name) if name is not None else None

    def queue_profile_for(self, dpid: int, port_no: int) -> QueueProfile | None:
        """The profile shaping that port now, if any (paths check their queue exists)."""
        target = self._target(dpid, port_no)
        return self.shaping.profile_at(target) if target else None

    def switch_ports(self) -> dict[int, dict[int, str]]:
        """{dpid: {port_no: name}} of the connected switches this instance masters: where it applies queue profiles."""
        return {dpid: info.ports for dpid, info in self.switches.items() if self.masters_here(dpid)}

    def queues_synced(self, changed: bool) -> Effects:
        """The service applied the profiles (`Shaping.sync`): queue policies whose queue came or went
        are installed or taken out (missing-queue); if anything changed, the paths are re-planned."""
        fx = Effects()
        if self.enabled and self.shaping.managed:  # unmanaged, every queue counts as there: nothing to recheck
            # one pass over the policies, not one per switch: each cold start syncs the queues, so a
            # fabric of S switches coming up was S*S/2 passes over every policy (100 switches and
            # 10,000 policies: 50 million checks, minutes of CPU)
            per_switch = self._queue_policies_by_switch()
            everywhere = per_switch.pop(None, [])
            for info in self.switches.values():
                fx.send(info.dpid, self._recheck_queues(info, per_switch.get(info.dpid, []) + everywhere))
        if changed:
            fx.send_all(self._path_updates(self.fabric.replan_all(self.queue_exists)))
        return fx

    def _queue_policies_by_switch(self) -> dict[int | None, list[Policy]]:
        """Queue policies by the one switch they name (None: sw "all"); policies for no switch are left out."""
        out: dict[int | None, list[Policy]] = {}
        for policy in self.policies.values():
            if policy.queue is None or policy.sw == "none":
                continue
            out.setdefault(policy.dpid(), []).append(policy)
        return out

    def _recheck_queues(self, info: SwitchState, policies: Iterable[Policy]) -> list[FlowOp]:
        """A queue policy's flows (of `policies`, those for this switch) go in when its queue is there
        and out when it is not."""
        ops: list[FlowOp] = []
        for policy in policies:
            cookie = policy_cookie(_id(policy))
            state = info.install.get(cookie)
            if state is None or state.state == ERROR:  # not ours to change: refused, or the switch said no
                continue
            missing = self._missing(policy, info)
            if state.state == MISSING_QUEUE:
                if not missing or fallback.wants_fallback(policy, info.version):
                    ops += self._policy_flows(info, [policy])
                elif missing != state.missing:
                    info.install[cookie] = self._missing_state(policy, info, missing)
            elif (state.mechanism == METER_FALLBACK) != bool(missing):  # the queue came or went: switch mechanism
                ops += compiler.delete_policy(policy, info.dpid, info.version, self.service_dscps())
                if missing:
                    ops += self._fall_back(info, policy, self._missing_state(policy, info, missing))
                else:
                    ops += self._policy_flows(info, [policy])
        return ops

    def wanted_filters(self) -> dict[Target, tuple[PortFilter, ...]]:
        """Per shaped port: the matches of the flows that enqueue into its queues (see `qosapp.core.shaping`).

        From queue policies that are pending or installed on a switch (the
        enqueue port; without one, or for sw "all" with an enqueue-port and
        no ingress-port, every port: forwarding chooses) and from installed
        queue paths (each hop's out port); none of these while QoS is
        disabled. And from static flow entries that enqueue (their enqueue
        ports), which the QoS switch does not turn off (Floodlight's static
        flow pusher was a module of its own).
        """
        wanted: dict[Target, set[PortFilter]] = {}
        if not self.shaping.managed:
            return {}

        def add(info: SwitchState, port_no: int, item: PortFilter) -> None:
            if not self.masters_here(info.dpid):  # a cluster: the switch's master classifies its ports
                return
            name = info.ports.get(port_no)
            # only where the queue is (enqueue-port "any": the other ports send unshaped)
            if name is not None and self.queue_exists(info.dpid, port_no, item.queue):
                wanted.setdefault((info.dpid, name), set()).add(item)

        for flow in self.static_flows.values():
            info = self.switches.get(flow.dpid)
            state = info.install.get(flow.cookie) if info is not None else None
            if info is not None and state is not None and state.state in (PENDING, INSTALLED):
                for port, queue in flow.enqueues():
                    add(info, port, PortFilter.of(queue, flow.priority, flow.match))
        if not self.enabled:
            return {target: tuple(sorted(items)) for target, items in wanted.items()}
        for policy in self.policies.values():
            if policy.queue is None:
                continue
            cookie = policy_cookie(_id(policy))
            companion = policy.sw == "all" and isinstance(policy.enqueue_port, int) and policy.match.in_port is None
            for info in self.switches.values():
                state = info.install.get(cookie)
                if state is None or state.state not in (PENDING, INSTALLED):
                    continue
                item = PortFilter.of(policy.queue, policy.priority, policy.match)
                ports = [p for p in info.ports if not is_reserved_port(p)] if companion else \
                    self._queue_ports(policy, info)
                for port in ports:
                    add(info, port, item)
        for name, path in self.fabric.paths.items():
            plan = self.fabric.plans.get(name)
            if path.queue is None or plan is None or plan.state != PATH_INSTALLED:
                continue
            for rule in plan.rules:
                hop_switch = self.switches.get(rule.hop.dpid)
                if hop_switch is not None:
                    add(hop_switch, rule.hop.out_port,
                        PortFilter.of(path.queue, rule.policy.priority, rule.policy.match))
        return {target: tuple(sorted(items)) for target, items in wanted.items()}

    def _queue_ports(self, policy: Policy, info: SwitchState) -> list[int]:
        """The ports of `info` whose queue `policy` sends packets to: its enqueue-port; for
        "in_port", the ingress-port (or every port); without one, every port forwarding may choose."""
        port = policy.enqueue_port
        if isinstance(port, int):
            return [port]
        if port == IN_PORT and policy.match.in_port is not None:
            return [policy.match.in_port]
        return sorted(p for p in info.ports if not is_reserved_port(p))

    def _missing(self, policy: Policy, info: SwitchState) -> tuple[tuple[int, int], ...]:
        """(port, queue) pairs `policy` would enqueue into on `info` that do not exist.

        Unmanaged queues all count as there (`queue_exists`): nothing to look up, port by port.
        """
        if policy.queue is None or not self.shaping.managed:
            return ()
        candidates = self._queue_ports(policy, info)
        pairs = missing_queues(policy.queue, [(info.dpid, p) for p in candidates], self.queue_exists)
        if policy.enqueue_port == ENQUEUE_ANY and len(pairs) < len(candidates):
            return ()  # "any": the ports that have the queue shape, the others send unshaped
        return tuple((port, policy.queue) for _dpid, port in pairs)

    def _missing_state(self, policy: Policy, info: SwitchState, missing: tuple[tuple[int, int], ...]) -> InstallState:
        assert policy.queue is not None
        reason = missing_reason(policy.queue, [(info.dpid, port) for port, _q in missing])
        return InstallState(MISSING_QUEUE, f"not installed: {reason} (no queue profile gives it there)", missing)

    # ------------------------------------------------------------ statistics
    def policy_max_rate(self, policy: Policy) -> int | None:
        """The max-rate of the queue a queue policy sends to (first switch and port that has it)."""
        if policy.queue is None:
            return None
        for dpid, info in sorted(self.switches.items()):
            if policy.applies_to(dpid):
                for port in self._queue_ports(policy, info):
                    rate = self._queue_max_rate(dpid, port, policy.queue)
                    if rate is not None:
                        return rate
        return None

    def path_max_rate(self, path: PathSpec) -> int | None:
        """The max-rate of a queue path's queue on the first hop of its route that has it."""
        state = self.fabric.plans.get(path.name)
        if path.queue is None or state is None:
            return None
        for hop in state.forward:
            rate = self._queue_max_rate(hop.dpid, hop.out_port, path.queue)
            if rate is not None:
                return rate
        return None

    def _queue_max_rate(self, dpid: int, port: int, queue: int) -> int | None:
        """Queue `queue`'s max-rate on that port (the port's own rate when the queue names none)."""
        profile = self.queue_profile_for(dpid, port)
        spec = profile.queue(queue) if profile else None
        if spec is None or profile is None:
            return None
        return spec.max_rate if spec.max_rate is not None else profile.max_rate

    def policy_stats(self, now: float | None = None) -> dict[str, Any]:
        """Per policy and per path: counters and rate per switch; the rate is the
        busiest switch's (a flow crossing three switches is one flow, not three).

        Reading them keeps the flow counters polled (see stats.WATCH_SECONDS).
        """
        now = time.monotonic() if now is None else now
        self.stats.watch(now)
        out = [{"name": policy.name, **self._counters(policy_cookie(_id(policy))),
                "max-rate": self.policy_max_rate(policy)} for policy in self.policies.values()]
        paths = [{"name": path.name, **self._counters(path_cookie(_id(path))), "max-rate": self.path_max_rate(path)}
                 for path in self.fabric.paths.values()]
        # clock: the time of this answer on the clock of the history's times (seconds, monotonic)
        return {"interval": self.stats.interval, "clock": round(now, 3), "policies": out, "paths": paths}

    def _counters(self, cookie: int) -> dict[str, Any]:
        """One cookie's counters per switch, the busiest switch's rate and its history."""
        per_switch = sorted(self.stats.flow_series(cookie).items())
        switches = [{"dpid": format_dpid(dpid), "packets": s.last.packets, "bytes": s.last.bytes,
                     "bps": round(s.bps(), 1)} for dpid, s in per_switch if s.last]
        busiest = max((s for _, s in per_switch), key=lambda s: s.bps(), default=None)
        return {"cookie": hex(cookie), "switches": switches, "bps": round(busiest.bps(), 1) if busiest else 0.0,
                "history": [[round(t, 3), round(b, 1)] for t, b in busiest.history()] if busiest else []}

    def queue_stats(self) -> dict[str, Any]:
        rows = []
        for (dpid, port, queue), series in sorted(self.stats.queues.items()):
            info = self.switches.get(dpid)
            last = series.last
            if last is None:
                continue
            rows.append({"dpid": format_dpid(dpid), "port": port,
                         "port-name": info.ports.get(port) if info else None, "queue": queue,
                         "tx-bytes": last.bytes, "tx-packets": last.packets, "tx-errors": last.errors,
                         "bps": round(series.bps(), 1)})
        return {"interval": self.stats.interval, "queues": rows}

    # ------------------------------------------------------------ topology and paths
    def versions(self) -> dict[int, int]:
        return {dpid: info.version for dpid, info in self.switches.items()}

    def policy_installs(self) -> dict[tuple[int, int], InstallState]:
        """(policy id, dpid) -> install state, over all switches (a view for tests and debugging)."""
        return {(pid, dpid): state for dpid, switch in self.switches.items() for cookie, state in switch.install.items()
                if (pid := policy_id_of(cookie)) is not None}

    def path_installs(self) -> dict[tuple[int, int], InstallState]:
        """(path id, dpid) -> install state, over all switches (a view for tests and debugging)."""
        return {(path_id, dpid): state for dpid, switch in self.switches.items()
                for cookie, state in switch.install.items() if (path_id := path_id_of(cookie)) is not None}

    def queue_exists(self, dpid: int, port_no: int, queue_id: int) -> bool:
        """Does `queue_id` exist on that port? (always yes without a queue backend)."""
        if not self.shaping.managed or not self.masters_here(dpid):  # (a cluster: the master applies them)
            return True
        target = self._target(dpid, port_no)
        return target is not None and self.shaping.has_queue(target, queue_id)

    def topology_changed(self) -> Effects:
        """After any topology event: fix forwarding, re-route affected paths (or mark it due, deferred)."""
        if self.defer_topology:
            self._topology_due = True
            return Effects()
        return self._topology_work()

    @property
    def topology_due(self) -> bool:
        """Is deferred topology work waiting for `flush_topology`?"""
        return self._topology_due

    def flush_topology(self) -> Effects:
        """The topology work of every event since the last flush, done once.

        Why: each event (a switch connecting, each LLDP link, each host seen)
        recomputed every switch's forwarding and checked every path. A
        100-switch fabric coming up is ~600 such events; one at a time that
        was a minute of CPU, while the result only depends on the topology
        after the last of them.
        """
        if not self._topology_due:
            return Effects()
        all_paths = self._paths_due
        self._topology_due = self._paths_due = False
        return self._topology_work(all_paths)

    def _topology_work(self, all_paths: bool = False) -> Effects:
        """Forwarding brought up to date; re-routed paths (and, `all_paths`, those through a switch reset since)
        made to match their plan."""
        forwarding_ops = self.fabric.forwarding_updates(self.switches)
        names = self.fabric.reroute(self.queue_exists)
        if all_paths:  # the reset switches lost their path flows: every path through one of them
            reset, self.fabric.reset = self.fabric.reset, set()
            names = sorted(set(names) | set(self.fabric.on_switches(reset)))
        path_ops = self._path_updates(names)
        fx = Effects()
        fx.send_all(forwarding_ops)
        fx.send_all(path_ops)
        return fx

    def link_added(self, src_dpid: int, src_port: int, dst_dpid: int, dst_port: int) -> Effects:
        if self.fabric.topology.add_link(src_dpid, src_port, dst_dpid, dst_port):
            return self.topology_changed()
        return Effects()

    def link_removed(self, src_dpid: int, src_port: int, dst_dpid: int, dst_port: int) -> Effects:
        """LLDP says a link is gone. Not believed for a switch that only lost its OpenFlow connection
        (absent): it cannot send or report LLDP, so silence proves nothing; a cable really down shows
        as the neighbour's port going down (`port_state`)."""
        if src_dpid in self.absent or dst_dpid in self.absent:
            return Effects()
        if self.fabric.topology.remove_link(src_dpid, src_port, dst_dpid, dst_port):
            return self.topology_changed()
        return Effects()

    def port_state(self, dpid: int, port_no: int, live: bool) -> Effects:
        """Link down/up on a port (OFPPS_LINK_DOWN): its links and hosts go with it."""
        topo = self.fabric.topology
        changed = topo.add_port(dpid, port_no) if live else topo.port_down(dpid, port_no)
        return self.topology_changed() if changed else Effects()

    def packet_in(self, dpid: int, in_port: int, eth_src: str, eth_dst: str, eth_type: int,
                  ip: str | None) -> tuple[list[int], Effects]:
        """Learn hosts; returns the ports to send the frame out of ([] = drop)."""
        if self.fabric.mode != LEARNED:
            return [], Effects()
        before = self.fabric.topology.version
        ports = forwarding.packet_in(self.fabric.topology, dpid, in_port, eth_src, eth_dst, eth_type, ip)
        fx = self.topology_changed() if self.fabric.topology.version != before else Effects()
        return ports, fx

    def get_path(self, name: str) -> PathSpec:
        try:
            return self.fabric.paths[name]
        except KeyError:
            raise NotFound(f"no path named {name!r}") from None

    def path_view(self, path: PathSpec) -> dict[str, Any]:
        state = self.fabric.plans.get(path.name)
        holding = self.fabric.holding(path.name, self.switches)
        cookie = path_cookie(_id(path))
        return {**path.to_dict(), "cookie": hex(path_cookie(_id(path))),
                "status": state.to_dict() if state else {"state": "pending"},
                "installed": bool(self.enabled and holding),
                "install": {format_dpid(dpid): self.switches[dpid].install[cookie].to_dict()
                            for dpid in holding if cookie in self.switches[dpid].install}}

    def add_path(self, data: Any) -> tuple[PathSpec, Effects]:
        path = parse_path(data, self.services)
        if path.name in self.fabric.paths:
            raise ValidationError("name", f"a path named {path.name!r} exists", status=409)
        other = clashing_path(path, self.fabric.paths.values())
        if other is not None:  # the switches would keep one flow; deleting either would strip the other
            raise ValidationError("priority", f"path {other.name!r} already matches this traffic at priority "
                                  f"{path.priority}; the switches would keep only one flow. Change the "
                                  "priority or the match", status=409)
        try:
            path = replace(path, id=self.store.insert_path(path.name, path.to_dict()))
        except StoreConflict as err:  # another instance took the name meanwhile
            raise ValidationError("name", f"conflict in store: {err}", status=409) from None
        self.fabric.paths[path.name] = path
        self.fabric.plan(path.name, self.queue_exists)
        fx = Effects()
        fx.send_all(self._path_updates([path.name]))
        return path, fx

    def delete_path(self, name: str) -> tuple[PathSpec, Effects]:
        path = self.get_path(name)
        self.store.delete_path(_id(path))
        del self.fabric.paths[name]
        self.fabric.forget(name)
        self.stats.forget_cookie(path_cookie(_id(path)))
        fx = Effects()
        fx.send_all(self._path_updates([name]))
        return path, fx

    # ------------------------------------------------------------ static flow entries
    def get_static_flow(self, name: str) -> StaticFlow:
        try:
            return self.static_flows[name]
        except KeyError:
            raise NotFound(f"no static flow entry named {name!r}") from None

    def push_static_flow(self, data: Any) -> tuple[tuple[StaticFlow, bool], Effects]:
        """Store a static flow entry (a name already taken is replaced, as Floodlight did), then install it.

        Returns the entry and whether it replaced one. Refused (409): another
        entry with the same switch, match and priority (the switch would keep
        one flow, and deleting either would take the other's).
        """
        flow = parse_static_flow(data)
        old = self.static_flows.get(flow.name)
        clash = next((f for f in self.static_flows.values()
                      if f.name != flow.name and same_flow_key(f) == same_flow_key(flow)), None)
        if clash is not None:
            raise ValidationError("priority", f"static flow {clash.name!r} already has this match at priority "
                                  f"{flow.priority} on {flow.switch}; the switch would keep only one flow. Change "
                                  "the priority or the match", status=409)
        body = flow.to_dict()
        if old is not None:
            flow = replace(flow, id=_id(old))
            self.store.update_static_flow(_id(old), flow.name, body)
        else:
            try:
                flow = replace(flow, id=self.store.insert_static_flow(flow.name, body))
            except StoreConflict as err:
                raise ValidationError("name", f"conflict in store: {err}", status=409) from None
        fx = self._static_drop([old]) if old is not None else Effects()
        return (flow, old is not None), fx.add(self._static_put([flow]))

    def delete_static_flows(self, names: list[str]) -> tuple[list[StaticFlow], Effects]:
        """Remove the named entries (404 naming the first unknown one) from the store, then their switch."""
        flows = [self.get_static_flow(name) for name in names]
        if flows:
            self.store.delete_static_flows([_id(f) for f in flows])
        return flows, self._static_drop(flows)

    def static_flows_of(self, dpid: int | None) -> list[StaticFlow]:
        """The entries for switch `dpid` (None: every switch), in id order."""
        return sorted((f for f in self.static_flows.values() if dpid is None or f.dpid == dpid), key=_id)

    def static_view(self, flow: StaticFlow) -> dict[str, Any]:
        """The entry as stored, its cookie on the switch and where it stands there."""
        info = self.switches.get(flow.dpid)
        if not flow.active:
            state = InstallState("not-installed", "inactive (\"active\": false)")
        elif info is None:
            state = InstallState("not-installed", f"switch {flow.switch} is not connected")
        else:
            state = info.install.get(flow.cookie, InstallState("not-installed"))
        return {**flow.to_dict(), "id": _id(flow), "switch-cookie": hex(flow.cookie), "install": state.to_dict()}

    def flows_held(self, dpid: int) -> list[FlowSpec]:
        """The flows this controller put on connected switch `dpid` and has not taken back (pending or
        installed): forwarding, paths, policies, static entries (Floodlight's /wm/core/switch/.../flow)."""
        info = self.switches[dpid]
        specs = list(info.forwarding.values())
        for flows in info.paths.values():
            specs += flows

        def holds(cookie: int) -> bool:
            state = info.install.get(cookie)
            return state is not None and state.state in (PENDING, INSTALLED)

        dscps, meters = self.service_dscps(), self.meter_table.ids(dpid)
        for policy in self.policies.values():
            if holds(policy_cookie(_id(policy))) and not compiler.unsupported(policy, info.version):
                specs += compiler.compile_policy(policy, dpid, info.version, dscps, meters)
        specs += [compile_static(f, info.version) for f in self.static_flows_of(dpid) if holds(f.cookie)]
        return specs

    def _static_put(self, flows: Iterable[StaticFlow]) -> Effects:
        fx = Effects()
        for flow in flows:
            self.static_flows[flow.name] = flow
            info = self.switches.get(flow.dpid)
            if info is not None:
                fx.send(info.dpid, self._static_adds(info, [flow]))
        return fx

    def _static_drop(self, flows: Iterable[StaticFlow]) -> Effects:
        fx = Effects(confirm=True)
        for flow in flows:
            self.static_flows.pop(flow.name, None)
            self.stats.forget_cookie(flow.cookie)
            info = self.switches.get(flow.dpid)
            if info is not None and info.install.pop(flow.cookie, None) is not None:
                fx.send(info.dpid, [delete_static(flow, info.version)])
        return fx

    def _static_adds(self, info: SwitchState, flows: Iterable[StaticFlow]) -> list[FlowOp]:
        """The flows of the active entries for `info`'s switch; each goes pending."""
        ops: list[FlowOp] = []
        for flow in flows:
            if flow.dpid == info.dpid and flow.active:
                ops.append(compile_static(flow, info.version))
                info.sent(flow.cookie)
        return ops

    def _converge_static(self, added: list[converging.Row], removed: list[int]) -> Effects:
        fx = self._static_drop([f for f in self.static_flows.values() if f.id in removed])
        flows = []
        for fid, name, body in added:
            try:
                flows.append(replace(parse_static_flow(body), id=fid))
            except ValidationError as err:
                LOG.error("static flow %r (id %s) from the store does not validate here, not taken: %s",
                          name, fid, err)
        for flow in flows:
            holder = self.static_flows.get(flow.name)
            if holder is not None and holder.id != flow.id:  # the name moved to another id
                fx.add(self._static_drop([holder]))
        return fx.add(self._static_put(flows))

    # ------------------------------------------------------------ cluster: converge to the store
    def held(self) -> converging.Held:
        """The rows behind what the core holds (what `converge` compares the store with)."""
        return converging.Held(
            enabled=self.enabled,
            services={name: (svc.id or 0, svc.dscp) for name, svc in self.services.items()},
            policies=self.policy_rows,
            paths={_id(p): (p.name, {k: v for k, v in p.to_dict().items() if k != "id"})
                   for p in self.fabric.paths.values()},
            queue_profiles={p.key: p.to_dict() for p in self.shaping.profiles},
            meters={_id(m): (m.name, {k: v for k, v in m.to_dict().items() if k != "id"})
                    for m in self.meters.values()},
            static_flows={_id(f): (f.name, f.to_dict()) for f in self.static_flows.values()})

    def converge(self, tables: Tables) -> tuple[bool, Effects]:
        """Take what other writers put in the store into the core; returns (changed, effects).

        Writes nothing. The effects are those the matching requests would
        have returned here: flows of added, replaced and removed policies and
        paths, a queue sync for changed profiles, everything on or off with
        the tool's flag.
        """
        change = converging.diff(tables, self.held())
        if change.empty():
            return False, Effects()
        LOG.info("converge to the store: %s", change.summary())
        fx = Effects(confirm=True)
        if change.enabled is False:  # remove the flows first, while the policies are still known
            fx.add(self._turn_off())
        for sid, name, dscp in change.services_added:
            self.services[name] = Service(name=name, dscp=dscp, id=sid)
        meters_gone = [m for m in self.meters.values() if m.id in change.meters_removed]
        for mid, name, body in change.meters_added:  # before the policies that may use them
            try:
                meter = replace(parse_meter({k: v for k, v in body.items() if k != "id"}), id=mid)
            except ValidationError as err:
                LOG.error("meter %r (id %s) from the store does not validate here, not taken: %s", name, mid, err)
                continue
            if meter.name in self.meters:  # replaced under the same name: the old one goes after the policies
                meters_gone = [m for m in meters_gone if m.name != meter.name]
                fx.add(self._meter_drop(self.meters[meter.name]))
            fx.add(self._meter_put(meter))
        replaced = [pid for pid, _, _ in change.policies_changed]
        gone = [self.policies_by_id[pid] for pid in change.policies_removed + replaced if pid in self.policies_by_id]
        fx.add(self._uninstall(gone))
        for policy in gone:
            self._unindex(policy)
        added: list[Policy] = []
        for pid, name, body in change.policies_changed + change.policies_added:
            body = {k: v for k, v in body.items() if k != "id"}
            try:
                policy = _with_id(parse_policy(body, self.services, self.meters), pid)
            except ValidationError as err:
                LOG.error("policy %r (id %s) from the store does not validate here, not taken: %s", name, pid, err)
                continue
            holder = self.policies.get(policy.name)
            if holder is not None:  # the name moved to another id (renamed and re-created elsewhere)
                fx.add(self._uninstall([holder]))
                self._unindex(holder)
            self._index(policy, body)
            added.append(policy)
        fx.add(self._install(added))
        for meter in meters_gone:  # after the policies that used them
            if meter.name in self.meters and self.meters[meter.name].id == meter.id:
                fx.add(self._meter_drop(meter))
        kept = {name for _, name, _ in change.services_added}
        for name in change.services_removed:
            if name not in kept:
                self.services.pop(name, None)
        for pid in change.paths_removed:
            path = next((p for p in self.fabric.paths.values() if p.id == pid), None)
            if path is not None:
                del self.fabric.paths[path.name]
                self.fabric.forget(path.name)
                self.stats.forget_cookie(path_cookie(pid))
                fx.send_all(self._path_updates([path.name]))
        for pid, name, body in change.paths_added:
            try:
                path = replace(parse_path({k: v for k, v in body.items() if k != "id"}, self.services), id=pid)
            except ValidationError as err:
                LOG.error("path %r (id %s) from the store does not validate here, not taken: %s", name, pid, err)
                continue
            self.fabric.paths[path.name] = path
            self.fabric.plan(path.name, self.queue_exists)
            fx.send_all(self._path_updates([path.name]))
        for body in change.queues_put:
            try:
                self.shaping.put(parse_queue_profile(body))
            except ValidationError as err:
                LOG.error("queue profile %s from the store does not validate here, not taken: %s", body, err)
        for key in change.queues_removed:
            profile = self.shaping.find(*key)
            if profile is not None:
                self.shaping.remove(profile)
        fx.add(self._converge_static(change.static_added, change.static_removed))
        fx.sync_queues = bool(change.queues_put or change.queues_removed)
        if change.enabled is True:
            fx.add(self._turn_on())
        return True, fx

    def _path_updates(self, names: Iterable[str]) -> Ops:
        """The flow ops that bring the named paths up to date; their switches' state goes pending."""
        names = list(names)
        ops = self.fabric.path_updates(names, self.switches, self.enabled, self.service_dscps())
        live = {p.id for p in self.fabric.paths.values()}
        for name in names:
            path = self.fabric.paths.get(name)
            for switch in self.switches.values():
                if path is not None:  # a switch that no longer holds the path has nothing to confirm
                    if name not in switch.paths:
                        switch.install.pop(path_cookie(_id(path)), None)
                else:  # deleted: forget every path cookie whose path is gone
                    for cookie in [c for c in switch.install if path_id_of(c) not in (None, *live)]:
                        del switch.install[cookie]
        for dpid, items in ops.items():
            for op in items:
                if isinstance(op, FlowSpec) and path_id_of(op.cookie) is not None:
                    self.switches[dpid].sent(op.cookie)
        return ops

    # ------------------------------------------------------------ cluster mastership
    def masters_here(self, dpid: int) -> bool:
        """Does this instance send to `dpid`? (Always, outside a cluster.)"""
        return self.mastered is None or dpid in self.mastered

    def join_cluster(self) -> None:
        """From now on only the switches handed over by `take_over` get flows and queues from here."""
        if self.mastered is None:
            self.mastered = set()

    def route(self, fx: Effects) -> Effects:
        """`fx` without the batches for switches another instance masters; their cookies' install
        state says so (peer) instead of waiting for a barrier that never comes."""
        if self.mastered is None or all(dpid in self.mastered for dpid, _ in fx.flows):
            return fx
        out = Effects(sync_queues=fx.sync_queues, confirm=True)
        for dpid, ops in fx.flows:
            if dpid in self.mastered:
                out.flows.append((dpid, ops))
                continue
            info = self.switches.get(dpid)
            if info is None:
                continue
            reason = f"switch mastered by {self.masters.get(dpid) or 'no instance yet'}, which installs it"
            for op in ops:
                state = info.install.get(op.cookie) if isinstance(op, FlowSpec) else None
                if state is not None and state.state == PENDING:
                    info.install[op.cookie] = InstallState(PEER, reason)
        return out

    def take_over(self, dpid: int, me: str) -> Effects:
        """This instance now masters `dpid` (its role request is on the wire): every flow that belongs
        there goes out as an add, without a wipe (a flow that is right stays in place, no gap), and its
        queues are synced; `reconcile` then removes what should not be there. Call `switch_ready` after."""
        if self.mastered is None:
            return Effects()
        self.mastered.add(dpid)
        self.masters[dpid] = me
        return self._restart(dpid)

    def hand_over(self, dpid: int, master: str | None) -> Effects:
        """Another instance masters `dpid` now (or will): nothing more goes there from here; the core
        keeps its view (install states say peer). Call `switch_ready` after."""
        if self.mastered is None:
            return Effects()
        self.mastered.discard(dpid)
        if master is None:
            self.masters.pop(dpid, None)
        else:
            self.masters[dpid] = master
        return self._restart(dpid)

    def _restart(self, dpid: int) -> Effects:
        info = self.switches.get(dpid)
        if info is None:
            return Effects()
        return self.switch_connected(dpid, info.version, info.ports, info.address, wipe=False)

    def reconcile(self, dpid: int, cookies: Iterable[int]) -> Effects:
        """The switch's flow cookies after a takeover: delete the policy and path flows it holds that
        are not this instance's to keep (written by the previous master before a change it missed).
        Forwarding and pipeline flows are left alone. OpenFlow 1.0 cannot delete by cookie: reported."""
        info = self.switches.get(dpid)
        if info is None or not self.masters_here(dpid):
            return Effects()
        keep = {FORWARDING_COOKIE, PIPELINE_COOKIE}
        keep |= {c for c, s in info.install.items() if s.state in (PENDING, INSTALLED)}
        stale = sorted({c for c in cookies if counted(c)} - keep)
        if not stale:
            return Effects()
        if info.version == compiler.OF10:
            LOG.warning("switch %016x holds %d stale policy flows; OpenFlow 1.0 cannot delete them by cookie",
                        dpid, len(stale))
            return Effects()
        LOG.info("switch %016x: removing %d stale flow cookies after the takeover", dpid, len(stale))
        fx = Effects()
        fx.send(dpid, [FlowDelete(cookie=c) for c in stale])
        return fx

    # ------------------------------------------------------------ internals
    def _policy_flows(self, info: SwitchState, policies: Iterable[Policy]) -> list[FlowOp]:
        """The flows of `policies` for `info`; where they cannot go in, the install state says why
        (error: not for this OpenFlow version; missing-queue: the queue is not on the port)."""
        ops: list[FlowOp] = []
        dscps = self.service_dscps()
        meter_ids = self.meter_table.ids(info.dpid)
        for policy in policies:
            if not policy.applies_to(info.dpid):
                continue
            cookie = policy_cookie(_id(policy))
            refused = compiler.unsupported(policy, info.version) or (info.no_meters if policy.meter else None)
            if refused:
                info.install[cookie] = InstallState(ERROR, refused)
                continue
            specs = compiler.compile_policy(policy, info.dpid, info.version, dscps, meter_ids)
            if self._floods(specs, info):
                info.install[cookie] = InstallState(ERROR, OF10_MARKING_REFUSED if policy.service is not None
                                                    else OF10_ENTERING_REFUSED.format(port=policy.enqueue_port))
                continue
            missing = self._missing(policy, info)
            if missing:
                ops += self._fall_back(info, policy, self._missing_state(policy, info, missing))
                continue
            ops += specs + fallback.drop(policy, info.dpid, self.meter_table)
            info.sent(cookie)
            if policy.fallback is not None:
                info.install[cookie].mechanism = QUEUE
        return ops

    def _fall_back(self, info: SwitchState, policy: Policy, failed: InstallState) -> list[FlowOp]:
        """Where `policy` cannot enqueue on `info` (`failed` says why): its fallback meter at the queue's
        max-rate if it has one and the switch can (`qosapp.core.fallback`); else `failed` stands."""
        cookie = policy_cookie(_id(policy))
        able = fallback.wants_fallback(policy, info.version) and not info.no_meters
        rate = self._fallback_rate(policy, info, failed.missing) if able else None
        if rate is None:
            info.install[cookie] = failed
            return []
        ops, how = fallback.install(policy, info.dpid, rate, self.meter_table)
        info.sent(cookie)
        why = (failed.reason or "").removeprefix("not installed: ")
        info.install[cookie] = InstallState(PENDING, f"{why}; {how}", mechanism=METER_FALLBACK)
        return ops

    def _fallback_rate(self, policy: Policy, info: SwitchState, missing: Iterable[tuple[int, int]]) -> int | None:
        """The queue's max-rate: in the profile meant for a port it is missing on (even one that failed to
        apply), else in the newest profile that has the queue."""
        assert policy.queue is not None
        wanted = [self.shaping.profile_at(target) for target in
                  (self._target(info.dpid, port) for port, _queue in missing) if target is not None]
        return fallback.queue_rate(policy.queue, [*wanted, *reversed(self.shaping.profiles)])

    def _floods(self, specs: list[FlowSpec], info: SwitchState) -> bool:
        """An OF1.0 flow that forwards by NORMAL (a marking policy, or a queue policy's flow for
        traffic entering on its enqueue port: one table, nothing to go on to). With learned
        forwarding the switches' L2 learning is empty, NORMAL floods on every port and, on a
        loop, each copy matches the policy again on the next switch: a broadcast storm."""
        return info.version == compiler.OF10 and self.fabric.mode == LEARNED and \
            any(("output", compiler.NORMAL) in spec.actions for spec in specs)

    def _policy_deletes(self, info: SwitchState, policies: Iterable[Policy]) -> list[FlowOp]:
        ops: list[FlowOp] = []
        dscps = self.service_dscps()
        for policy in policies:
            ops += compiler.delete_policy(policy, info.dpid, info.version, dscps)
            ops += fallback.drop(policy, info.dpid, self.meter_table)
            info.install.pop(policy_cookie(_id(policy)), None)
        return ops

    def _install(self, policies: list[Policy]) -> Effects:
        fx = Effects()
        if self.enabled:
            for info in self.switches.values():
                fx.send(info.dpid, self._policy_flows(info, policies))
        return fx

    def _uninstall(self, policies: list[Policy]) -> Effects:
        fx = Effects()
        if self.enabled:
            for info in self.switches.values():
                fx.send(info.dpid, self._policy_deletes(info, policies))
        return fx


#: what a policy shows for a switch that holds none of its flows (read only: never stored in a switch's states)
NOT_INSTALLED = {True: InstallState("not-installed", None), False: InstallState("not-installed", "QoS is disabled")}


def _with_id(policy: Policy, policy_id: int) -> Policy:
    """`policy`, just parsed and not yet shared with anything, given its store id (in place).

    Every caller passes a policy it has just parsed. A bulk POST does this
    per policy: `dataclasses.replace` ran the whole __init__ again, and
    `copy.copy` goes through the slots dataclass's __getstate__/__setstate__,
    which call `dataclasses.fields()` twice; even a copy slot by slot was a
    twentieth of a 20,000-policy bulk's CPU in the core.
    """
    object.__setattr__(policy, "id", policy_id)
    return policy


def _id(item: Policy | PathSpec | Meter | StaticFlow) -> int:
    """The store id of a loaded policy, path or meter (only parsed, unstored ones have none)."""
    if item.id is None:
        raise ValueError(f"{item.name!r} has no store id")
    return item.id
