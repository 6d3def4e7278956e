"""Ryu's `rest_qos` and `rest_conf_switch` API (the Ryu book's QoS chapter) on qos-sdn's own objects.

Same paths, request bodies and answer shapes as `ryu.app.rest_qos` 4.34
(`[{"switch_id": "0000000000000001", "command_result": ...}]`), mapped:

- a rule (`POST /qos/rules/{switch}[/{vlan}]`) is a stored, durable policy
  named `rest_qos-<switch>-<n>` on that switch (`/qos/policies` and the web
  page show it); its `qos_id` is the policy's id. `actions: {"queue": N}`
  is `queue` with enqueue-port "any" (set_queue, then the forwarding table,
  as rest_qos's goto table 1; a port without that queue sends unshaped, as
  with rest_qos), `{"mark": D}` marks DSCP D through a service
  (the one with that DSCP, or a new `DSCP <D>`), no actions is queue 0. A
  VLAN in the path matches that VLAN id and is answered as `vlan_id`;
- `POST /qos/queue/{switch}` is a queue profile for that switch and
  `port_name` (all ports when absent); `GET` lists the profiles that shape
  the switch, `DELETE` removes the switch's profiles;
- `PUT /v1.0/conf/switches/{switch}/ovsdb_addr` is accepted and kept per
  switch (`GET` answers it); queues are written through the controller's
  own OVSDB connection (`--ovsdb`), and a `POST /qos/queue` names it;
- `POST /qos/meter/{switch}` `{"meter_id", "flags", "bands": [...]}` is a
  native meter (`qosapp.core.meters`) named `rest_qos-<switch>-meter-<id>`:
  one DROP band, KBPS (rate kbit/s, burst_size kbit with BURST); `GET`
  lists the switch's rest_qos meters with their counters in rest_qos's
  meter-stats shape, `DELETE {"meter_id"}` removes it (409 while rules use
  it). A rule's `"actions": {"meter": "<id>"}` polices with that meter;
  the meter must be posted first (on OVS a flow naming an unknown meter is
  refused by the switch, which rest_qos did not notice). DSCP_REMARK and
  EXPERIMENTER bands are refused (501): qos-sdn's meters have one drop band,
  the only kind OVS's userspace datapath implements;

qos-sdn starts with QoS disabled; rest_qos has no such switch, so the first
rule posted here enables QoS (logged).

Differences on purpose: a rule takes one action (rest_qos allowed mark and
queue together: post two rules); a rule for a switch that is not connected
is stored and installed when it connects (rest_qos refused); bad input is
a 4xx with qos-sdn's `{"error", "field"}` plus rest_qos's `switch_id` and a
failed `command_result` (rest_qos answered 400 with a bare text, or 200
with "failure").
"""
from __future__ import annotations

import logging
import re
from typing import Any, Callable, Mapping

from ryu.app.wsgi import Response, route
from webob import Request

from qosapp.core.controller import NotFound
from qosapp.core.meters import MAX_METER_ID, Meter
from qosapp.core.model import Policy, ValidationError, format_dpid, parse_dpid, parse_int, parse_policy
from qosapp.core.queues import QueueProfile
from qosapp.http.common import BadMediaType, CoreController, error_body, handler, json_response, read_json
from qosapp.http.guard import truncate

LOG = logging.getLogger(__name__)
SWITCH = r"[0-9a-fA-F]{16}|all"
VLAN = r"[0-9]{1,4}|all"
RULE_PREFIX = "rest_qos-"
DEFAULT_PRIORITY = 1  # rest_qos's QOS_PRIORITY_MIN
DL_TYPES = {"ARP": 0x0806, "IPV4": 0x0800, "IPV6": 0x86DD}
NW_PROTOS = {"TCP": 6, "UDP": 17, "ICMP": 1, "ICMPV6": 58}
#: rest_qos match key -> native policy key
MATCH_KEYS = {"in_port": "ingress-port", "dl_src": "eth-src", "dl_dst": "eth-dst", "dl_type": "eth-type",
              "dl_vlan": "vlan-id", "nw_src": "ip-src", "nw_dst": "ip-dst", "nw_proto": "protocol",
              "tp_src": "src-port", "tp_dst": "dst-port", "ip_dscp": "tos"}
NOT_YET = {"ipv6_src", "ipv6_dst"}
#: rest_qos's meter body keys
METER_KEYS = {"meter_id", "flags", "bands"}
BAND_KEYS = {"type", "rate", "burst_size", "prec_level", "experimenter"}
NOT_DROP = ("qos-sdn's meters have one DROP band (OVS's userspace datapath implements drop bands only), so "
            "{kind} bands are not supported; use \"type\": \"DROP\"")


def switch_str(dpid: int) -> str:
    return f"{dpid:016x}"


def rest_rule_to_policy(body: Any, dpid: int, vlan: int | None, name: str) -> tuple[dict[str, Any], int | None]:
    """A rest_qos rule body -> (native policy body without a service name yet, the DSCP to mark or None)."""
    if not isinstance(body, Mapping):
        raise ValidationError("body", 'expected {"match": {...}, "actions": {...}, "priority": N}')
    unknown = set(body) - {"match", "actions", "priority"}
    if unknown:
        raise ValidationError(sorted(unknown)[0], "unknown key; allowed: match, actions, priority")
    match = body.get("match", {})
    if not isinstance(match, Mapping):
        raise ValidationError("match", "expected an object")
    out: dict[str, Any] = {"name": name, "sw": format_dpid(dpid),
                           "priority": body.get("priority", DEFAULT_PRIORITY)}
    for key, value in match.items():
        if key in NOT_YET:
            raise ValidationError(f"match.{key}", "IPv6 matches are not supported yet (qos-sdn issue #13)")
        if key not in MATCH_KEYS:
            raise ValidationError(f"match.{key}", f"unknown match field; allowed: {', '.join(MATCH_KEYS)}")
        if key == "dl_type" and isinstance(value, str) and value.strip().upper() in DL_TYPES:
            value = DL_TYPES[value.strip().upper()]
        elif key == "nw_proto" and isinstance(value, str) and value.strip().upper() in NW_PROTOS:
            value = NW_PROTOS[value.strip().upper()]
        elif key == "ip_dscp":
            value = parse_int(value, "match.ip_dscp", 0, 63) << 2  # the native tos is the ToS byte
        out[MATCH_KEYS[key]] = value
    if vlan is not None:
        out["vlan-id"] = vlan
    actions = body.get("actions")
    mark: int | None = None
    if actions is None:
        out["queue"], out["enqueue-port"] = 0, "any"  # rest_qos: no actions is queue 0
    elif not isinstance(actions, Mapping) or not actions:
        raise ValidationError("actions", 'expected {"queue": N} or {"mark": DSCP}')
    else:
        unknown = set(actions) - {"queue", "mark", "meter"}
        if unknown:
            raise ValidationError(f"actions.{sorted(unknown)[0]}", "unknown action; allowed: queue, mark, meter")
        if len(actions) > 1:
            raise ValidationError("actions", "a qos-sdn rule takes one action: post mark and queue as two rules")
        if "meter" in actions:
            out["meter"] = meter_name(dpid, parse_int(actions["meter"], "actions.meter", 1, MAX_METER_ID))
        elif "queue" in actions:
            out["queue"] = actions["queue"]
            out["enqueue-port"] = "any"
        else:
            mark = parse_int(actions["mark"], "actions.mark", 0, 63)
    return out, mark


def policy_to_rest_rule(policy: Policy) -> dict[str, Any]:
    """A policy as rest_qos's GET /qos/rules lists a flow: qos_id, priority, match fields, actions."""
    native = policy.to_dict()
    rule: dict[str, Any] = {"priority": policy.priority, "qos_id": policy.id}
    names = {v: k for k, v in MATCH_KEYS.items()}
    for key, value in native.items():
        if key not in names or key == "vlan-id":
            continue
        rest_key = names[key]
        if rest_key == "dl_type":
            value = next((n if n != "IPV4" else "IPv4" for n, v in DL_TYPES.items() if v == value), value)
            value = {"IPV6": "IPv6"}.get(value, value)
        elif rest_key == "nw_proto":
            value = next((n if n != "ICMPV6" else "ICMPv6" for n, v in NW_PROTOS.items() if v == value), value)
        elif rest_key == "ip_dscp":
            value = value >> 2
        rule[rest_key] = value
    if "vlan-id" in native:
        rule["dl_vlan"] = native["vlan-id"]
    if policy.meter is not None:
        rule["actions"] = [{"meter": str(rest_meter_id(policy.meter) or policy.meter)}]
    elif policy.queue is not None:
        rule["actions"] = [{"queue": str(policy.queue)}]
    elif policy.service is not None:
        rule["actions"] = [{"mark": str(native.get("service-dscp", ""))}]
    else:
        rule["actions"] = []
    return rule


def meter_name(dpid: int, meter_id: int) -> str:
    """The native meter behind rest_qos meter `meter_id` of switch `dpid`."""
    return f"{RULE_PREFIX}{switch_str(dpid)}-meter-{meter_id}"


def rest_meter_id(name: str, dpid: int | None = None) -> int | None:
    """rest_qos's meter id of a native meter named by `meter_name` (of switch `dpid`, if given)."""
    match = re.fullmatch(rf"{RULE_PREFIX}([0-9a-f]{{16}})-meter-([0-9]+)", name)
    if match is None or dpid is not None and match.group(1) != switch_str(dpid):
        return None
    return int(match.group(2))


def rest_meter_to_native(body: Any, dpid: int) -> dict[str, Any]:
    """{"meter_id", "flags", "bands": [{"type": "DROP", "rate", "burst_size"}]} -> a native meter body."""
    if not isinstance(body, Mapping):
        raise ValidationError("body", 'expected {"meter_id": N, "flags": "KBPS", "bands": [{"type": "DROP", '
                              '"rate": kbit/s}]}')
    unknown = set(body) - METER_KEYS
    if unknown:
        raise ValidationError(sorted(unknown)[0], "unknown key; allowed: meter_id, flags, bands")
    meter_id = parse_int(body.get("meter_id"), "meter_id", 1, MAX_METER_ID)
    flags = body.get("flags", [])
    flags = [flags] if isinstance(flags, str) else flags
    if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
        raise ValidationError("flags", "expected KBPS, BURST, STATS or a list of them")
    unknown_flags = set(flags) - {"KBPS", "BURST", "STATS", "PKTPS"}
    if unknown_flags:
        raise ValidationError("flags", f"unknown flag {truncate(sorted(unknown_flags)[0], 20)!r}; "
                              "known: KBPS, PKTPS, BURST, STATS")
    if "KBPS" not in flags:
        raise ValidationError("flags", "qos-sdn's meters count kbit/s: give KBPS (PKTPS is not supported)")
    bands = body.get("bands")
    if not isinstance(bands, list) or len(bands) != 1 or not isinstance(bands[0], Mapping):
        raise ValidationError("bands", "expected one band, [{\"type\": \"DROP\", \"rate\": kbit/s}]")
    band = bands[0]
    extra = set(band) - BAND_KEYS
    if extra:
        raise ValidationError(f"bands[0].{sorted(extra)[0]}", "unknown key; allowed: type, rate, burst_size")
    kind = band.get("type")
    if kind in ("DSCP_REMARK", "EXPERIMENTER"):
        raise ValidationError("bands[0].type", NOT_DROP.format(kind=kind), status=501)
    if kind != "DROP":
        raise ValidationError("bands[0].type", f"expected DROP, got {truncate(str(kind), 20)!r}")
    out: dict[str, Any] = {"name": meter_name(dpid, meter_id),
                           "rate": parse_int(band.get("rate"), "bands[0].rate", 1, 10**9) * 1000}
    if "BURST" in flags and band.get("burst_size") not in (None, 0, "0"):
        out["burst"] = parse_int(band["burst_size"], "bands[0].burst_size", 1, 10**9) * 1000
    return out


def queue_details(profile: QueueProfile) -> dict[str, Any]:
    """rest_qos's queue list: {"<id>": {"config": {"max-rate": "...", "min-rate": "..."}}}."""
    out: dict[str, Any] = {}
    for queue in profile.queues:
        config: dict[str, str] = {}
        if queue.max_rate is not None:
            config["max-rate"] = str(queue.max_rate)
        if queue.min_rate is not None:
            config["min-rate"] = str(queue.min_rate)
        out[str(queue.id)] = {"config": config}
    return out


def rest_queue_to_profile(body: Any, sw: str) -> dict[str, Any]:
    """{"port_name", "type", "max_rate", "queues": [{"max_rate", "min_rate"}, ...]} -> a native queue profile."""
    if not isinstance(body, Mapping):
        raise ValidationError("body", 'expected {"port_name": ..., "max_rate": ..., "queues": [...]}')
    unknown = set(body) - {"port_name", "type", "max_rate", "queues"}
    if unknown:
        raise ValidationError(sorted(unknown)[0], "unknown key; allowed: port_name, type, max_rate, queues")
    if body.get("type", "linux-htb") != "linux-htb":
        raise ValidationError("type", f"only linux-htb is supported, got {truncate(str(body['type']), 40)!r}")
    queues = body.get("queues", [])
    if not isinstance(queues, list):
        raise ValidationError("queues", "expected a list of {\"max_rate\", \"min_rate\"}")
    native_queues: dict[str, Any] = {}
    for index, queue in enumerate(queues):
        if not isinstance(queue, Mapping) or not ({"max_rate", "min_rate"} & set(queue)):
            raise ValidationError(f"queues[{index}]", "Required to specify max_rate or min_rate")
        extra = set(queue) - {"max_rate", "min_rate"}
        if extra:
            raise ValidationError(f"queues[{index}].{sorted(extra)[0]}", "unknown key; allowed: max_rate, min_rate")
        native_queues[str(index)] = {k.replace("_", "-"): v for k, v in queue.items()}
    return {"sw": sw, "port": body.get("port_name", "all"), "max-rate": body.get("max_rate"),
            "queues": native_queues}


def answer(entries: list[dict[str, Any]], status: int = 200) -> Response:
    return json_response(entries, status)


def refusal(switch_id: str, err: ValidationError | NotFound | BadMediaType) -> Response:
    """A real 4xx: qos-sdn's `{"error", "field"}` plus rest_qos's `switch_id` and failed `command_result`."""
    if isinstance(err, ValidationError):
        body, code = error_body(err), err.status
    elif isinstance(err, NotFound):
        body, code = {"error": truncate(str(err)), "field": err.field}, 404
    else:
        body, code = {"error": truncate(str(err)), "field": "Content-Type"}, 415
    return json_response({**body, "switch_id": switch_id,
                          "command_result": [{"result": "failure", "details": body["error"]}]}, code)


def rest_qos_answers(func: Callable[..., Any]) -> Callable[..., Any]:
    """Rejections -> rest_qos's shape with a 4xx naming the field."""
    def wrapper(self: CoreController, req: Request, **kwargs: Any) -> Any:
        try:
            return func(self, req, **kwargs)
        except (ValidationError, NotFound, BadMediaType) as err:
            return refusal(kwargs.get("switchid", "all"), err)

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


def parse_vlan(vlanid: str | None) -> int | None | str:
    if vlanid is None:
        return None
    if vlanid == "all":
        return "all"
    return parse_int(vlanid, "vlan_id", 1, 4094)


class RestQosController(CoreController):
    """Ryu's rest_qos (/qos/rules, /qos/queue, /qos/meter) and rest_conf_switch (/v1.0/conf/switches)."""

    #: PUT /v1.0/conf/switches/{dpid}/ovsdb_addr, per switch (rest_conf_switch keeps them in memory too)
    ovsdb_addrs: dict[int, str] = {}

    # ---------------------------------------------------------------- helpers
    def _switches(self, switchid: str) -> list[int]:
        """The switches a path's {switchid} names ('all': every connected one, as rest_qos)."""
        if switchid == "all":
            dpids = sorted(self.core.switches)
            if not dpids:
                raise ValidationError("switch_id", "qos sw is not connected.", status=404)
            return dpids
        return [parse_dpid(switchid, "switch_id")]

    def _rules(self, dpid: int) -> list[Policy]:
        sw = format_dpid(dpid)
        return [p for p in self.core.policies.values() if p.sw == sw]

    def _next_name(self, dpid: int) -> str:
        prefix = f"{RULE_PREFIX}{switch_str(dpid)}-"
        used = {int(n[len(prefix):]) for n in self.core.policies if n.startswith(prefix) and n[len(prefix):].isdigit()}
        return f"{prefix}{max(used, default=0) + 1}"

    def _service_for(self, dscp: int) -> str:
        for service in self.core.services.values():
            if service.dscp == dscp:
                return service.name
        return self.core.add_service({"name": f"DSCP {dscp}", "dscp": dscp}).name

    def _rule_view(self, policy: Policy) -> dict[str, Any]:
        rule = policy_to_rest_rule(policy)
        if policy.service is not None:
            rule["actions"] = [{"mark": str(self.core.services[policy.service].dscp)}]
        return rule

    # ---------------------------------------------------------------- rules
    @route("rq_rules_get", "/qos/rules/{switchid}", methods=["GET"], requirements={"switchid": SWITCH})
    @handler
    @rest_qos_answers
    def get_rules(self, req: Request, switchid: str) -> Any:
        return self._get_rules(switchid, None)

    @route("rq_vlan_rules_get", "/qos/rules/{switchid}/{vlanid}", methods=["GET"],
           requirements={"switchid": SWITCH, "vlanid": VLAN})
    @handler
    @rest_qos_answers
    def get_vlan_rules(self, req: Request, switchid: str, vlanid: str) -> Any:
        return self._get_rules(switchid, parse_vlan(vlanid))

    def _get_rules(self, switchid: str, vlan: int | None | str) -> Any:
        if switchid == "all":
            dpids = sorted(set(self.core.switches) | {p.dpid() for p in self.core.policies.values()
                                                      if p.dpid() is not None})
        else:
            dpids = self._switches(switchid)
        out = []
        for dpid in dpids:
            groups: dict[int | None, list[dict[str, Any]]] = {}
            for policy in self._rules(dpid):
                vid = policy.match.vlan_vid
                if vlan is None or vlan == "all" or vlan == vid:
                    groups.setdefault(vid, []).append(self._rule_view(policy))
            result = [{"qos": rules} if vid is None else {"vlan_id": vid, "qos": rules}
                      for vid, rules in groups.items()]
            out.append({"switch_id": switch_str(dpid), "command_result": result})
        return out

    @route("rq_rules_post", "/qos/rules/{switchid}", methods=["POST"], requirements={"switchid": SWITCH})
    @handler
    @rest_qos_answers
    def post_rule(self, req: Request, switchid: str) -> Any:
        return self._post_rule(req, switchid, None)

    @route("rq_vlan_rules_post", "/qos/rules/{switchid}/{vlanid}", methods=["POST"],
           requirements={"switchid": SWITCH, "vlanid": VLAN})
    @handler
    @rest_qos_answers
    def post_vlan_rule(self, req: Request, switchid: str, vlanid: str) -> Any:
        vlan = parse_vlan(vlanid)
        if vlan == "all":
            raise ValidationError("vlan_id", "give one VLAN id to add a rule for (all is for GET and DELETE)")
        return self._post_rule(req, switchid, vlan)  # type: ignore[arg-type]

    def _post_rule(self, req: Request, switchid: str, vlan: int | None) -> Any:
        body = read_json(req)
        dpids = self._switches(switchid)
        bodies = []
        for dpid in dpids:  # everything is checked before anything is stored
            data, mark = rest_rule_to_policy(body, dpid, vlan, self._next_name(dpid))
            if data.get("meter") is not None and data["meter"] not in self.core.meters:
                raise ValidationError("actions.meter", f"meter {rest_meter_id(data['meter'])} does not exist on "
                                      f"switch {switch_str(dpid)}: POST /qos/meter/{switch_str(dpid)} first (a "
                                      "switch refuses a flow that names an unknown meter)", status=409)
            bodies.append((dpid, data, mark))
        if bodies and bodies[0][2] is not None:
            dscp = bodies[0][2]
            parse_policy({**bodies[0][1], "service": "x"})  # the match and priority are valid before a service is made
            made = not any(s.dscp == dscp for s in self.core.services.values())
            service = self._service_for(dscp)
            bodies = [(dpid, {**data, "service": service}, mark) for dpid, data, mark in bodies]
            try:
                policies = self.core.add_policies([data for _, data, _ in bodies])
            except (ValidationError, NotFound):
                if made:  # a refused rule leaves the store as it was
                    self.core.delete_service(service)
                raise
        else:
            policies = self.core.add_policies([data for _, data, _ in bodies])
        if not self.core.enabled:  # rest_qos has no off switch: its rules apply once posted
            LOG.info("rest_qos rule %s posted while QoS was disabled: enabling QoS", policies[0].name)
            self.core.enable()
        out = []
        for (dpid, _, _), policy in zip(bodies, policies):
            result: dict[str, Any] = {"result": "success", "details": f"QoS added. : qos_id={policy.id}"}
            if vlan is not None:
                result["vlan_id"] = vlan
            out.append({"switch_id": switch_str(dpid), "command_result": [result]})
        return out

    @route("rq_rules_delete", "/qos/rules/{switchid}", methods=["DELETE"], requirements={"switchid": SWITCH})
    @handler
    @rest_qos_answers
    def delete_rules(self, req: Request, switchid: str) -> Any:
        return self._delete_rules(req, switchid, None)

    @route("rq_vlan_rules_delete", "/qos/rules/{switchid}/{vlanid}", methods=["DELETE"],
           requirements={"switchid": SWITCH, "vlanid": VLAN})
    @handler
    @rest_qos_answers
    def delete_vlan_rules(self, req: Request, switchid: str, vlanid: str) -> Any:
        return self._delete_rules(req, switchid, parse_vlan(vlanid))

    def _delete_rules(self, req: Request, switchid: str, vlan: int | None | str) -> Any:
        body = read_json(req)
        if not isinstance(body, Mapping) or "qos_id" not in body:
            raise ValidationError("qos_id", 'expected {"qos_id": N} or {"qos_id": "all"}')
        qos_id = "all" if body["qos_id"] == "all" else parse_int(body["qos_id"], "qos_id", 1, 2**56 - 1)
        targets: list[tuple[int, Policy]] = []
        for dpid in self._switches(switchid) if switchid != "all" else sorted(
                {p.dpid() for p in self.core.policies.values() if p.dpid() is not None}):
            for policy in self._rules(dpid):
                vid = policy.match.vlan_vid
                if (qos_id == "all" or policy.id == qos_id) and (vlan == "all" or vlan == vid):
                    targets.append((dpid, policy))
        if not targets:
            detail = "QoS rule is not exist." + ("" if qos_id == "all" else f" : QoS ID={qos_id}")
            raise NotFound(detail, "qos_id")
        self.core.delete_policies([p.name for _, p in targets])
        by_switch: dict[int, dict[int | None, list[str]]] = {}
        for dpid, policy in targets:
            by_switch.setdefault(dpid, {}).setdefault(policy.match.vlan_vid, []).append(str(policy.id))
        out = []
        for dpid, groups in by_switch.items():
            results = []
            for vid, ids in groups.items():
                result: dict[str, Any] = {"result": "success", "details": f" deleted. : QoS ID={','.join(ids)}"}
                if vid is not None:
                    result["vlan_id"] = vid
                results.append(result)
            out.append({"switch_id": switch_str(dpid), "command_result": results})
        return out

    # ---------------------------------------------------------------- queues
    def _profiles(self, dpid: int) -> list[QueueProfile]:
        return [p for p in self.core.queue_profiles if p.sw == format_dpid(dpid)]

    @route("rq_queue_get", "/qos/queue/{switchid}", methods=["GET"], requirements={"switchid": SWITCH})
    @handler
    @rest_qos_answers
    def get_queue(self, req: Request, switchid: str) -> Any:
        out = []
        for dpid in self._switches(switchid):
            profiles = [p for p in self.core.queue_profiles if p.sw in ("all", format_dpid(dpid))]
            if profiles:
                result = {"result": "success", "details": {str(p.port): queue_details(p) for p in profiles}}
            else:
                result = {"result": "failure", "details": "Queue is not exists."}
            out.append({"switch_id": switch_str(dpid), "command_result": result})
        return out

    @route("rq_queue_post", "/qos/queue/{switchid}", methods=["POST"], requirements={"switchid": SWITCH})
    @handler
    @rest_qos_answers
    def post_queue(self, req: Request, switchid: str) -> Any:
        body = read_json(req)
        dpids = self._switches(switchid)
        out = []
        for dpid in dpids:
            profile, _ = self.core.add_queue_profile(rest_queue_to_profile(body, format_dpid(dpid)))
            out.append({"switch_id": switch_str(dpid),
                        "command_result": {"result": "success", "details": queue_details(profile)}})
        return out

    @route("rq_queue_delete", "/qos/queue/{switchid}", methods=["DELETE"], requirements={"switchid": SWITCH})
    @handler
    @rest_qos_answers
    def delete_queue(self, req: Request, switchid: str) -> Any:
        out = []
        for dpid in self._switches(switchid):
            profiles = self._profiles(dpid)
            for profile in profiles:
                self.core.delete_queue_profile(profile.sw, str(profile.port), force=req.GET.get("force") == "true")
            out.append({"switch_id": switch_str(dpid), "command_result": "success" if profiles else "failure"})
        return out

    @route("rq_queue_status", "/qos/queue/status/{switchid}", methods=["GET"], requirements={"switchid": SWITCH})
    @handler
    @rest_qos_answers
    def queue_status(self, req: Request, switchid: str) -> Any:
        rows = self.core.queue_stats()["queues"]
        out = []
        for dpid in self._switches(switchid):
            stats = [{"port_no": r["port"], "queue_id": r["queue"], "tx_bytes": r["tx-bytes"],
                      "tx_packets": r["tx-packets"], "tx_errors": r["tx-errors"], "port_name": r["port-name"],
                      "bps": r["bps"]} for r in rows if r["dpid"] == format_dpid(dpid)]
            out.append({"switch_id": switch_str(dpid), "command_result": {str(dpid): stats}})
        return out

    # ---------------------------------------------------------------- meters
    def _meters(self, dpid: int) -> list[tuple[int, Meter]]:
        """(rest_qos meter id, native meter) of switch `dpid`, by id."""
        found = [(rest_meter_id(m.name, dpid), m) for m in self.core.meters.values()]
        return sorted((mid, m) for mid, m in found if mid is not None)

    @route("rq_meter_get", "/qos/meter/{switchid}", methods=["GET"], requirements={"switchid": SWITCH})
    @handler
    @rest_qos_answers
    def get_meter(self, req: Request, switchid: str) -> Any:
        stats = {row["name"]: {s["dpid"]: s for s in row["switches"]} for row in self.core.meter_stats()["meters"]}
        out = []
        for dpid in self._switches(switchid):
            rows = []
            for meter_id, meter in self._meters(dpid):
                sample = stats.get(meter.name, {}).get(format_dpid(dpid), {})
                rows.append({"meter_id": meter_id, "flow_count": sum(1 for p in self._rules(dpid)
                                                                      if p.meter == meter.name),
                             "packet_in_count": sample.get("packets-in", 0), "byte_in_count": sample.get("bytes-in", 0),
                             "band_stats": [{"packet_band_count": sample.get("dropped-packets", 0),
                                             "byte_band_count": sample.get("dropped-bytes", 0)}],
                             "rate_kbps": meter.rate_kbps, "burst_kb": meter.burst_kb})
            out.append({"switch_id": switch_str(dpid), "command_result": rows})
        return out

    @route("rq_meter_post", "/qos/meter/{switchid}", methods=["POST"], requirements={"switchid": SWITCH})
    @handler
    @rest_qos_answers
    def post_meter(self, req: Request, switchid: str) -> Any:
        body = read_json(req)
        natives = [(dpid, rest_meter_to_native(body, dpid)) for dpid in self._switches(switchid)]
        for dpid, native in natives:  # all or nothing: rest_qos's OFPMC_ADD of an id in use fails
            if native["name"] in self.core.meters:
                raise ValidationError("meter_id", f"meter {body['meter_id']} exists on switch {switch_str(dpid)}; "
                                      "delete it first (DELETE /qos/meter/{switch} {\"meter_id\": N})", status=409)
        out = []
        for dpid, native in natives:
            meter = self.core.add_meter(native)
            out.append({"switch_id": switch_str(dpid), "command_result": [
                {"result": "success", "details": f"Meter added. : Meter ID={rest_meter_id(meter.name)}"}]})
        return out

    @route("rq_meter_delete", "/qos/meter/{switchid}", methods=["DELETE"], requirements={"switchid": SWITCH})
    @handler
    @rest_qos_answers
    def delete_meter(self, req: Request, switchid: str) -> Any:
        body = read_json(req)
        meter_id = parse_int(body.get("meter_id") if isinstance(body, Mapping) else None, "meter_id", 1,
                             MAX_METER_ID)
        out = []
        for dpid in self._switches(switchid):
            name = meter_name(dpid, meter_id)
            if name not in self.core.meters:
                raise NotFound(f"no meter {meter_id} on switch {switch_str(dpid)}", "meter_id")
            self.core.delete_meter(name)
            out.append({"switch_id": switch_str(dpid), "command_result": [
                {"result": "success", "details": f"Meter deleted. : Meter ID={meter_id}"}]})
        return out

    # ---------------------------------------------------------------- rest_conf_switch
    @route("rq_conf_switches", "/v1.0/conf/switches", methods=["GET"])
    @handler
    def conf_switches(self, req: Request) -> Any:
        return [switch_str(d) for d in sorted(self.core.switches)]

    @route("rq_conf_switch_keys", "/v1.0/conf/switches/{dpid}", methods=["GET"], requirements={"dpid": SWITCH})
    @handler
    @rest_qos_answers
    def conf_switch_keys(self, req: Request, dpid: str) -> Any:
        number = parse_dpid(dpid, "dpid")
        return ["ovsdb_addr"] if number in self.ovsdb_addrs else []

    @route("rq_ovsdb_addr_put", "/v1.0/conf/switches/{dpid}/ovsdb_addr", methods=["PUT"],
           requirements={"dpid": SWITCH})
    @handler
    @rest_qos_answers
    def put_ovsdb_addr(self, req: Request, dpid: str) -> Any:
        number = parse_dpid(dpid, "dpid")
        value = read_json(req)
        if not isinstance(value, str) or not re.fullmatch(r"(tcp|ssl):[^:]+:[0-9]{1,5}|unix:/\S+", value):
            raise ValidationError("ovsdb_addr", 'expected a JSON string such as "tcp:127.0.0.1:6632"')
        self.ovsdb_addrs[number] = value
        return Response(status=201)

    @route("rq_ovsdb_addr_get", "/v1.0/conf/switches/{dpid}/ovsdb_addr", methods=["GET"],
           requirements={"dpid": SWITCH})
    @handler
    @rest_qos_answers
    def get_ovsdb_addr(self, req: Request, dpid: str) -> Any:
        number = parse_dpid(dpid, "dpid")
        if number not in self.ovsdb_addrs:
            raise NotFound(f"no ovsdb_addr for switch {dpid}", "ovsdb_addr")
        return self.ovsdb_addrs[number]

    @route("rq_ovsdb_addr_delete", "/v1.0/conf/switches/{dpid}/ovsdb_addr", methods=["DELETE"],
           requirements={"dpid": SWITCH})
    @handler
    @rest_qos_answers
    def delete_ovsdb_addr(self, req: Request, dpid: str) -> Any:
        number = parse_dpid(dpid, "dpid")
        if self.ovsdb_addrs.pop(number, None) is None:
            raise NotFound(f"no ovsdb_addr for switch {dpid}", "ovsdb_addr")
        return Response(status=200)
