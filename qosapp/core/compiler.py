"""Policy x switch x OpenFlow version -> flow specifications (pure).

The output is plain data (`FlowSpec`, `FlowDelete`); `qosapp.ofp.ofmsgs` turns it
into Ryu parser messages. Keeping the encoding here means every policy shape
has an exact, testable expected flow for OF1.0 and OF1.3.

Encoding rules that the seed got wrong and that are easy to get wrong again:
- OF1.0 `set_nw_tos` takes the ToS byte (DSCP << 2); OF1.3 `set_field
  ip_dscp` takes the DSCP itself.
- A marking policy must also forward, or it black-holes: on OF1.3 it goes on
  to the forwarding table (goto_table 1), on OF1.0 to output NORMAL.
- OF1.0 `enqueue(port, queue)` is one action; OF1.3 is `set_queue` + `output`,
  or `set_queue` + goto_table 1 when the policy names no enqueue-port.
- A packet is never sent out of its in-port unless the action says IN_PORT:
  an enqueue-port equal to the matched ingress-port is refused by the model,
  and one without ingress-port gets a companion flow (`compile_policy`).
- A policy with a meter gets `("meter", id)` first (the OF1.3 meter
  instruction, with the switch's own meter id), then its queue or marking
  actions, or, for a meter alone, goto_table 1. OF1.0 has no meters.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping

from qosapp.core.cookies import FORWARDING_COOKIE, PIPELINE_COOKIE, policy_cookie
from qosapp.core.meters import MeterMod
from qosapp.core.model import ENQUEUE_ANY, IPV6, Match, Policy

OF10 = 0x01
OF13 = 0x04
SUPPORTED_VERSIONS = {OF10: "1.0", OF13: "1.3"}

NORMAL = "NORMAL"
#: OpenFlow 1.3 pipeline: QoS policies and paths in table 0, forwarding in
#: table 1, so a marking policy can rewrite the DSCP and then let forwarding
#: decide the port (goto_table) instead of NORMAL, which floods on loops.
POLICY_TABLE = 0
FORWARDING_TABLE = 1

Action = tuple[Any, ...]


@dataclass(frozen=True)
class FlowSpec:
    """One flow to add: OXM-style match fields and an action list."""

    cookie: int
    priority: int
    match: tuple[tuple[str, Any], ...]
    actions: tuple[Action, ...]
    table_id: int = 0

    def match_dict(self) -> dict[str, Any]:
        return dict(self.match)


@dataclass(frozen=True)
class FlowDelete:
    """Remove flows: by exact cookie (OF1.3) or by strict match (OF1.0).

    OF1.0 flow_mod has no cookie mask, so a policy's flows are removed there
    with DELETE_STRICT on the very match and priority that installed them.
    """

    cookie: int
    strict: FlowSpec | None = None


#: One operation on a switch: add (or replace) a flow, delete flows, or a meter_mod.
FlowOp = FlowSpec | FlowDelete | MeterMod

#: why a policy with a meter is not installed on an OpenFlow 1.0 switch
OF10_NO_METERS = ("not installed: OpenFlow 1.0 has no meters (meters are OpenFlow 1.3); connect this switch "
                  "with OpenFlow 1.3 or use a queue policy here")


def compile_match(match: Match) -> tuple[tuple[str, Any], ...]:
    """OXM-style (name, value) pairs; prefixes stay as 'a.b.c.d/len'."""
    return tuple(match.items())


#: why a queue policy without enqueue-port is not installed on an OpenFlow 1.0 switch
OF10_ENQUEUE_NEEDS_PORT = ("not installed: OpenFlow 1.0 has no set_queue, its enqueue action needs a port; "
                           "give enqueue-port (with ingress-port), or use OpenFlow 1.3, where the queue is set "
                           "and forwarding chooses the port")


#: why an IPv6 policy is not installed on an OpenFlow 1.0 switch
OF10_NO_IPV6 = ("not installed: OpenFlow 1.0 cannot match IPv6 (its match has IPv4 fields only); connect this "
                "switch with OpenFlow 1.3")


def unsupported(policy: Policy, version: int) -> str | None:
    """Why `policy` cannot be compiled for `version` at all (None: it can)."""
    if policy.match.eth_type == IPV6 and version == OF10:
        return OF10_NO_IPV6
    if policy.meter is not None and version == OF10:
        return OF10_NO_METERS
    if policy.queue is not None and policy.enqueue_port in (None, ENQUEUE_ANY) and version == OF10:
        return OF10_ENQUEUE_NEEDS_PORT
    return None


def compile_actions(policy: Policy, version: int, dscp: int | None,
                    meter_id: int | None = None) -> tuple[Action, ...]:
    """The action list for one policy on one OpenFlow version (`meter_id`: its meter on this switch).

    A queue policy without enqueue-port on OpenFlow 1.3 sets the queue and
    goes on to the forwarding table, which picks the port (so `sw: "all"`
    shapes on every switch the traffic crosses, whatever its route); on 1.0
    there is no such action (`unsupported`). A meter comes first: police,
    then queue or mark (a meter alone goes on to the forwarding table).
    """
    if policy.meter is not None:
        return _police(policy, version, meter_id) + (
            compile_actions(replace(policy, meter=None), version, dscp)
            if policy.queue is not None or policy.service is not None else (("goto_table", FORWARDING_TABLE),))
    if policy.queue is not None:
        if policy.enqueue_port in (None, ENQUEUE_ANY):
            if version == OF10:
                raise ValueError(f"policy {policy.name!r}: {OF10_ENQUEUE_NEEDS_PORT}")
            return (("set_queue", policy.queue), ("goto_table", FORWARDING_TABLE))
        if version == OF10:
            return (("enqueue", policy.enqueue_port, policy.queue),)
        return (("set_queue", policy.queue), ("output", policy.enqueue_port))
    if dscp is None:
        raise ValueError(f"policy {policy.name!r}: service {policy.service!r} has no DSCP")
    if version == OF10:  # one table: forward with the switch's own L2 logic
        return (("set_nw_tos", dscp << 2), ("output", NORMAL))
    return (("set_field", "ip_dscp", dscp), ("goto_table", FORWARDING_TABLE))


def compile_policy(policy: Policy, dpid: int, version: int,
                   services: Mapping[str, int], meters: Mapping[str, int] | None = None) -> list[FlowSpec]:
    """The flows `policy` needs on switch `dpid` speaking `version`.

    `services` maps service name -> DSCP, `meters` meter name -> this
    switch's meter id. Returns [] where the policy does not apply (another
    switch, or sw 'none').
    """
    _check_version(version)
    if policy.id is None:
        raise ValueError(f"policy {policy.name!r} has no id; store it first")
    if not policy.applies_to(dpid):
        return []
    dscp = services.get(policy.service) if policy.service is not None else None
    meter_id = (meters or {}).get(policy.meter) if policy.meter is not None else None
    cookie = policy_cookie(policy.id)
    specs = [FlowSpec(cookie=cookie, priority=policy.priority, match=compile_match(policy.match),
                      actions=compile_actions(policy, version, dscp, meter_id))]
    if policy.sw == "all" and isinstance(policy.enqueue_port, int) and policy.match.in_port is None:
        specs.append(_entering_on_enqueue_port(policy, cookie, version, meter_id))
    return specs


def _police(policy: Policy, version: int, meter_id: int | None) -> tuple[Action, ...]:
    """The meter instruction of a policy with a meter (none without)."""
    if policy.meter is None:
        return ()
    if version == OF10:
        raise ValueError(f"policy {policy.name!r}: {OF10_NO_METERS}")
    if meter_id is None:
        raise ValueError(f"policy {policy.name!r}: meter {policy.meter!r} has no id on this switch")
    return (("meter", meter_id),)


def _entering_on_enqueue_port(policy: Policy, cookie: int, version: int, meter_id: int | None = None) -> FlowSpec:
    """The companion flow for traffic that enters on the enqueue port itself.

    Without it, `"sw": "all", "enqueue-port": 2` and no ingress-port
    black-holes that traffic on every switch where it arrives by port 2:
    OpenFlow does not send a packet out of its in-port (OVS drops it). A
    policy for one named switch gets no companion: its author chose that
    switch's port (README, Policies, says to name ingress-port there). One
    priority higher and with in_port = enqueue-port, it sets the queue and
    lets forwarding choose (OpenFlow 1.3); OpenFlow 1.0 has only NORMAL to
    go on with (the core refuses that in learned forwarding, see
    `QosCore._floods`). A meter polices this traffic too.
    """
    assert isinstance(policy.enqueue_port, int) and policy.queue is not None
    match = compile_match(replace(policy.match, in_port=policy.enqueue_port))
    actions: tuple[Action, ...] = ((("output", NORMAL),) if version == OF10 else
                                   _police(policy, version, meter_id)
                                   + (("set_queue", policy.queue), ("goto_table", FORWARDING_TABLE)))
    return FlowSpec(cookie=cookie, priority=policy.priority + 1, match=match, actions=actions)


def delete_policy(policy: Policy, dpid: int, version: int,
                  services: Mapping[str, int]) -> list[FlowDelete]:
    """How to remove exactly `policy`'s flows from `dpid` (none if it cannot be installed there)."""
    _check_version(version)
    if unsupported(policy, version) or not policy.applies_to(dpid) or policy.id is None:
        return []
    if version == OF13:
        return [FlowDelete(cookie=policy_cookie(policy.id))]
    specs = compile_policy(policy, dpid, version, services)
    if not specs:
        return []
    return [FlowDelete(cookie=spec.cookie, strict=spec) for spec in specs]


def pipeline_flows(version: int) -> list[FlowSpec]:
    """OF1.3: what no policy takes in table 0 goes on to forwarding (table 1)."""
    _check_version(version)
    if version == OF10:
        return []
    return [FlowSpec(cookie=PIPELINE_COOKIE, priority=0, match=(),
                     actions=(("goto_table", FORWARDING_TABLE),), table_id=POLICY_TABLE)]


def in_forwarding_table(specs: list[FlowSpec], version: int) -> list[FlowSpec]:
    """Place forwarding flows in the forwarding table (table 1 on OF1.3)."""
    if version == OF10:
        return specs
    return [replace(spec, table_id=FORWARDING_TABLE) for spec in specs]


def forwarding_flows(version: int) -> list[FlowSpec]:
    """Forwarding by the switch's own L2 learning: table-miss -> NORMAL.

    Only for loop-free networks (`--forwarding normal`); the default is the
    topology-computed forwarding of `qosapp.core.forwarding`.
    """
    _check_version(version)
    return in_forwarding_table([FlowSpec(cookie=FORWARDING_COOKIE, priority=0, match=(),
                                         actions=(("output", NORMAL),))], version)


def _check_version(version: int) -> None:
    if version not in SUPPORTED_VERSIONS:
        raise ValueError(f"unsupported OpenFlow version {version:#x}; qos-sdn speaks 1.0 and 1.3")
