"""Capability fallback: a queue policy policed by a meter where a switch cannot enqueue (pure).

`enqueue`/`set_queue` is optional in OpenFlow and needs a queue on the port
(an OVSDB row OVS applied). Where that is missing (no queue profile gives
the queue on the port, the profile failed to apply, e.g. OVSDB unreachable)
or the switch rejects the flow, a policy with `"fallback": "meter"` is
installed on that switch as a meter policy instead: one drop-band meter at
the queue's max-rate, private to the policy and switch (named
`fallback/<policy>`: a stored meter's name cannot contain '/'), then the
forwarding table. OpenFlow 1.3 only (1.0 has no meters). The policy's
install state says which mechanism holds its limit there (`mechanism`:
`queue` or `meter-fallback`). A meter polices, it does not shape: TCP
through it gets less than the rate (see the README's Meters).

The meter_mods carry the policy's own cookie, so an OFPT_ERROR answering
one marks the policy `error` on that switch like a flow of its own would.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Iterable

from qosapp.core import compiler
from qosapp.core.compiler import FlowOp, FlowSpec
from qosapp.core.cookies import policy_cookie
from qosapp.core.meters import ADD, DELETE, DEFAULT_BURST_SECONDS, MIN_METER_RATE, MeterMod, MeterTable
from qosapp.core.model import FALLBACK_METER, Policy
from qosapp.core.queues import QueueProfile

PREFIX = "fallback/"


def meter_name(policy: Policy) -> str:
    """The policy's fallback meter in the switch's meter table."""
    return PREFIX + policy.name


def wants_fallback(policy: Policy, version: int) -> bool:
    return policy.fallback == FALLBACK_METER and policy.queue is not None and version != compiler.OF10


def queue_rate(queue: int, profiles: Iterable[QueueProfile | None]) -> int | None:
    """The max-rate of `queue` in the first of `profiles` that has it (the port's rate where the queue names
    none); None if none does. Callers pass the port's own profile first, then every profile newest first."""
    for profile in profiles:
        spec = profile.queue(queue) if profile is not None else None
        if spec is not None:
            return spec.max_rate or profile.max_rate  # type: ignore[union-attr]
    return None


def install(policy: Policy, dpid: int, rate: int, table: MeterTable) -> tuple[list[FlowOp], str]:
    """The meter (re-made: delete, then add, so a meter left on the switch under that id cannot clash)
    and the policy's flows through it, with the reason shown in its install state."""
    assert policy.id is not None
    meter_id = table.allocate(dpid, meter_name(policy))
    kbps = max(MIN_METER_RATE, rate) // 1000
    cookie = policy_cookie(policy.id)
    ops: list[FlowOp] = [MeterMod(DELETE, meter_id),  # cookie 0: "no such meter" is no error of the policy
                         MeterMod(ADD, meter_id, kbps, max(1, round(kbps * DEFAULT_BURST_SECONDS)), cookie)]
    metered = replace(policy, queue=None, enqueue_port=None, fallback=None, meter=meter_name(policy))
    specs: list[FlowSpec] = compiler.compile_policy(metered, dpid, compiler.OF13, {}, {meter_name(policy): meter_id})
    return ops + list(specs), f"queue {policy.queue} cannot be used here: policed by a meter at {kbps * 1000} bits/s"


def drop(policy: Policy, dpid: int, table: MeterTable) -> list[FlowOp]:
    """Delete the policy's fallback meter on `dpid` (and free its id), if it has one there."""
    meter_id = table.free(dpid, meter_name(policy))
    if meter_id is None or policy.id is None:
        return []
    return [MeterMod(DELETE, meter_id, cookie=policy_cookie(policy.id))]
