"""The cookie spaces: which flows are whose, by the top byte of their cookie (pure).

Every flow qos-sdn writes carries a cookie whose top byte says what it is:
  'Q' (0x51)  a policy's flows: the rest is the policy id (store id); two
              values of the space are not policies: 'Q'|0, the table-miss
              of "normal" forwarding, and 'Q'|all-ones, the OpenFlow 1.3
              table-0 pipeline flow;
  'P' (0x50)  a QoS path's flows: the rest is the path id, one cookie for
              all of a path's flows on every switch;
  'F' (0x46)  topology forwarding: a kind byte, then an in_port or a MAC;
  'S' (0x53)  a static flow entry's flow (Floodlight's static flow pusher,
              `qosapp.core.staticflows`): the rest is its store id;
  'M' (0x4D)  not on flows: a meter's store id, carried by the controller's
              own book of a meter_mod it sent, so an OFPT_ERROR that answers
              the meter_mod names the meter (`qosapp.core.meters`).
A cookie names one policy or path on every switch, so OpenFlow 1.3 can
delete exactly its flows by cookie, and flow counters map back to it.
'P' (0x50), 'Q' (0x51) and 'S' (0x53) differ in the lowest two bits of the
top byte only, so one masked flow-stats request (`COUNTED_PREFIX`/
`COUNTED_MASK`) covers policies, paths and static flows and leaves
forwarding out.
"""
from __future__ import annotations

PREFIX_MASK = 0xFF << 56
POLICY_PREFIX = 0x51 << 56
PATH_PREFIX = 0x50 << 56
FORWARDING_PREFIX = 0x46 << 56
METER_PREFIX = 0x4D << 56
STATIC_PREFIX = 0x53 << 56
EXACT_MASK = 2**64 - 1
ID_BITS = 56

#: the table-miss NORMAL flow of "normal" forwarding (policy ids start at 1)
FORWARDING_COOKIE = POLICY_PREFIX
#: the OpenFlow 1.3 table-0 miss flow that hands unmatched packets to table 1
PIPELINE_COOKIE = POLICY_PREFIX | (2**ID_BITS - 1)

#: flow stats of 'P', 'Q' and 'S' cookies in one request
COUNTED_PREFIX = PATH_PREFIX & POLICY_PREFIX & STATIC_PREFIX
COUNTED_MASK = 0xFC << 56


def policy_cookie(policy_id: int) -> int:
    """The cookie that identifies a policy's flows on every switch."""
    if not 0 < policy_id < 2**ID_BITS - 1:  # all-ones is the pipeline flow's cookie
        raise ValueError(f"policy id {policy_id} out of cookie range")
    return POLICY_PREFIX | policy_id


def policy_id_of(cookie: int) -> int | None:
    """Inverse of `policy_cookie`; None for cookies that are not a policy's."""
    if cookie & PREFIX_MASK != POLICY_PREFIX or cookie in (FORWARDING_COOKIE, PIPELINE_COOKIE):
        return None
    return cookie & ~PREFIX_MASK


def path_cookie(path_id: int) -> int:
    """The cookie of every flow of path `path_id`, on every switch."""
    if not 0 < path_id < 2**ID_BITS:
        raise ValueError(f"path id {path_id} out of cookie range")
    return PATH_PREFIX | path_id


def path_id_of(cookie: int) -> int | None:
    """Inverse of `path_cookie`; None for cookies that are not a path's."""
    if cookie & PREFIX_MASK != PATH_PREFIX or cookie == PATH_PREFIX:
        return None
    return cookie & ~PREFIX_MASK


def forwarding_cookie(kind: int, value: int = 0) -> int:
    """'F' | kind << 48 | value (an in_port or a 48-bit MAC)."""
    return FORWARDING_PREFIX | kind << 48 | value


def is_forwarding_cookie(cookie: int) -> bool:
    return cookie & PREFIX_MASK == FORWARDING_PREFIX


def counted(cookie: int) -> bool:
    """Is this a cookie whose counters the controller keeps (a policy's, a path's or a static flow's space)?"""
    return cookie & COUNTED_MASK == COUNTED_PREFIX


def meter_cookie(meter_id: int) -> int:
    """The book-keeping cookie of meter `meter_id`'s meter_mods (store id, not the switch's meter id)."""
    if not 0 < meter_id < 2**ID_BITS:
        raise ValueError(f"meter id {meter_id} out of cookie range")
    return METER_PREFIX | meter_id


def meter_id_of(cookie: int) -> int | None:
    """Inverse of `meter_cookie`; None for cookies that are not a meter's."""
    if cookie & PREFIX_MASK != METER_PREFIX or cookie == METER_PREFIX:
        return None
    return cookie & ~PREFIX_MASK


def static_cookie(flow_id: int) -> int:
    """The cookie of static flow entry `flow_id`'s flow (it is on one switch)."""
    if not 0 < flow_id < 2**ID_BITS:
        raise ValueError(f"static flow id {flow_id} out of cookie range")
    return STATIC_PREFIX | flow_id


def static_id_of(cookie: int) -> int | None:
    """Inverse of `static_cookie`; None for cookies that are not a static flow's."""
    if cookie & PREFIX_MASK != STATIC_PREFIX or cookie == STATIC_PREFIX:
        return None
    return cookie & ~PREFIX_MASK
