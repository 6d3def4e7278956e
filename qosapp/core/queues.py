"""Queue profiles: a port's HTB rates and its queues, parsed and validated (pure).

A queue profile says how one port (or every port) of one switch (or every
switch) is shaped: the port's `max-rate` and queues by id with `min-rate` /
`max-rate`, all in bits/s. It is what the REST `/qos/queues` resource takes,
what the store keeps, and what `qosapp.adapters.ovsdb` turns into QoS/Queue rows.
Nothing here imports Ryu or python-ovs, so the rules are tested alone.

The seed's profile, expressible as::

    {"sw": "all", "port": "all", "max-rate": "10G",
     "queues": {"0": {"max-rate": "10G"}, "1": {"max-rate": "20M"},
                "2": {"max-rate": "2M"}}}

How a packet reaches its queue's HTB class on the userspace datapath
(`set_queue` alone does not: the skb priority is lost) is the business of
`qosapp.core.shaping` (which flows enqueue where) and
`qosapp.adapters.tcbridge` (tc u32 filters from those flows' matches).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from qosapp.core.model import ValidationError, parse_dpid, parse_int, parse_sw
from qosapp.core.ports import MAX_PORT_NO, is_reserved_port

#: Rates are bits/s. OVS raises any HTB rate below one MTU per second
#: (1500 bytes/s = 12 kbit/s) to that, so smaller values would be a lie.
MIN_RATE = 12_000
MAX_RATE = 10**12  # 1 Tbit/s: far above any port, low enough to catch typos
RATE_SUFFIXES = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9}
_RATE_RE = re.compile(r"(\d+(?:\.\d+)?)\s*([kKmMgG]?)")

#: Queue 0 is HTB's default class; ids run 0..16 (a profile of a few classes per port;
#: the HTB classes OVS makes are 1:1 .. 1:11).
MAX_QUEUE_ID = 16
#: Linux interface names are at most 15 bytes (IFNAMSIZ - 1); linux-htb
#: only works on Linux devices, so a longer name can never be shaped.
MAX_PORT_NAME = 15

PROFILE_KEYS = {"sw", "port", "max-rate", "queues", "id"}
QUEUE_KEYS = {"id", "min-rate", "max-rate", "dscp"}


@dataclass(frozen=True)
class QueueSpec:
    """One queue of a profile; None means "not set" (OVS uses the port rate)."""

    id: int
    min_rate: int | None = None
    max_rate: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.min_rate is not None:
            out["min-rate"] = self.min_rate
        if self.max_rate is not None:
            out["max-rate"] = self.max_rate
        return out


@dataclass(frozen=True)
class QueueProfile:
    """A port's shaping: port max-rate plus queues 0..N.

    `sw` is "all" or a dpid in colon form (as `qosapp.core.model.parse_sw`
    returns it); `port` is "all", an OpenFlow port number or a port name.
    """

    max_rate: int
    queues: tuple[QueueSpec, ...]
    sw: str = "all"
    port: str | int = "all"

    @property
    def key(self) -> tuple[str, str]:
        """(sw, port) as the store's unique key (`Store.upsert_queue_profile`)."""
        return self.sw, str(self.port)

    def dpid(self) -> int | None:
        """The one switch targeted, or None for every switch."""
        return None if self.sw == "all" else parse_dpid(self.sw)

    def queue(self, queue_id: int) -> QueueSpec | None:
        return next((q for q in self.queues if q.id == queue_id), None)

    def matches(self, dpid: int, port_no: int, port_name: str) -> bool:
        """Does this profile shape that port of that switch?

        Used when one switch or port (re)appears, so only it is re-applied.
        """
        if self.sw != "all" and self.dpid() != dpid:
            return False
        if is_reserved_port(port_no):
            return False
        if self.port == "all":
            return True
        return self.port == port_no if isinstance(self.port, int) else self.port == port_name

    def to_dict(self) -> dict[str, Any]:
        """The normalised JSON form; `parse_queue_profile` reads it back."""
        return {"sw": self.sw, "port": self.port, "max-rate": self.max_rate,
                "queues": {str(q.id): q.to_dict() for q in self.queues}}


# ---------------------------------------------------------------- HTB
def htb_classid(queue_id: int) -> str:
    """The HTB class OVS's linux-htb gives queue N: 1:<hex(N+1)>."""
    return f"1:{queue_id + 1:x}"


# ---------------------------------------------------------------- parsing
def parse_rate(value: Any, field_name: str, lo: int = MIN_RATE, hi: int = MAX_RATE) -> int:
    """A rate in bits/s: an integer, or a string such as "20M", "2000k", "1.5G".

    Suffixes are decimal (k = 1000); "m" is read as mega, since milli-bits
    per second are never meant.
    """
    if isinstance(value, str):
        match = _RATE_RE.fullmatch(value.strip())
        if not match:
            raise ValidationError(field_name, f"expected a rate in bits/s such as 2000000, \"2M\" or \"10G\", got {value!r}")
        number, suffix = match.groups()
        scaled = float(number) * RATE_SUFFIXES[suffix.lower()]
        if not scaled.is_integer():
            raise ValidationError(field_name, f"{value!r} is not a whole number of bits/s")
        value = int(scaled)
    return parse_int(value, field_name, lo, hi)


def parse_port(value: Any, field_name: str = "port") -> str | int:
    """'all', an OpenFlow port number (int or digit string) or a port name."""
    if isinstance(value, str) and value.strip().lower() == "all":
        return "all"
    if isinstance(value, (int, float)) or (isinstance(value, str) and value.strip().isdigit()):
        return parse_int(value, field_name, 1, MAX_PORT_NO)
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field_name, f"expected 'all', a port number or a port name, got {value!r}")
    name = value.strip()
    if len(name.encode()) > MAX_PORT_NAME:
        raise ValidationError(field_name, f"port name {name!r} is longer than {MAX_PORT_NAME} bytes (Linux interface names, which linux-htb needs)")
    if "/" in name or not name.isprintable() or any(ch.isspace() for ch in name):
        raise ValidationError(field_name, f"port name {name!r} must be printable, without spaces or '/'")
    return name


def _queue_items(raw: Any) -> list[tuple[int, Mapping[str, Any]]]:
    """Both accepted shapes -> [(queue id, body)], ids validated and unique."""
    items: list[tuple[int, Mapping[str, Any]]] = []
    if isinstance(raw, Mapping):
        for key, body in raw.items():
            qid = parse_int(key, f"queues.{key}", 0, MAX_QUEUE_ID)
            if not isinstance(body, Mapping):
                raise ValidationError(f"queues.{key}", "a queue must be a JSON object")
            if "id" in body and parse_int(body["id"], f"queues.{key}.id", 0, MAX_QUEUE_ID) != qid:
                raise ValidationError(f"queues.{key}.id", "differs from the queue's key")
            items.append((qid, body))
    elif isinstance(raw, list):
        for index, body in enumerate(raw):
            if not isinstance(body, Mapping):
                raise ValidationError(f"queues[{index}]", "a queue must be a JSON object")
            if "id" not in body:
                raise ValidationError(f"queues[{index}].id", "required in the list form")
            items.append((parse_int(body["id"], f"queues[{index}].id", 0, MAX_QUEUE_ID), body))
    else:
        raise ValidationError("queues", "expected an object {\"0\": {...}, ...} or a list [{\"id\": 0, ...}, ...]")
    ids = [qid for qid, _ in items]
    duplicates = sorted({qid for qid in ids if ids.count(qid) > 1})
    if duplicates:
        raise ValidationError(f"queues.{duplicates[0]}", "queue id given twice")
    return sorted(items, key=lambda item: item[0])


def _queue_rate(body: Mapping[str, Any], key: str, where: str, lo: int = MIN_RATE) -> int | None:
    """A queue's min-rate or max-rate as OVS's linux-htb can apply it, or None if not given.

    OVS hands HTB whole bytes/s (it divides the bits/s by 8) and raises a
    min-rate below one 1500-byte MTU per second to that, so a rate that is
    not a multiple of 8, or a guarantee of 1..11999 bits/s, would be
    applied as something else than asked (0 means no guarantee).
    """
    if body.get(key) is None:
        return None
    rate = parse_rate(body[key], f"{where}.{key}", lo=lo)
    if 0 < rate < MIN_RATE:
        raise ValidationError(f"{where}.{key}", f"{rate} is below {MIN_RATE} bits/s, the least OVS applies "
                              "(one 1500-byte packet per second); give 0 for no guarantee")
    if rate % 8:
        raise ValidationError(f"{where}.{key}", f"{rate} is not a whole number of bytes/s (a multiple of 8 bits/s), "
                              f"which OVS would apply as {rate // 8 * 8}")
    return rate


def _parse_queue(qid: int, body: Mapping[str, Any], port_rate: int) -> QueueSpec:
    """One queue's rates, checked against each other and the port's rate."""
    where = f"queues.{qid}"
    unknown = set(body) - QUEUE_KEYS
    if unknown:
        raise ValidationError(f"{where}.{sorted(unknown)[0]}", f"unknown key; allowed: {', '.join(sorted(QUEUE_KEYS))}")
    min_rate = _queue_rate(body, "min-rate", where, lo=0)
    max_rate = _queue_rate(body, "max-rate", where)
    if max_rate is not None and max_rate > port_rate:
        raise ValidationError(f"{where}.max-rate", f"{max_rate} exceeds the port's max-rate {port_rate}")
    ceiling = max_rate if max_rate is not None else port_rate
    if min_rate is not None and min_rate > ceiling:
        raise ValidationError(f"{where}.min-rate", f"{min_rate} exceeds the queue's max-rate {ceiling}")
    if body.get("dscp") is not None:  # answers before per-port classification carried one; it means nothing now
        parse_int(body["dscp"], f"{where}.dscp", 0, 63)
    return QueueSpec(id=qid, min_rate=min_rate, max_rate=max_rate)


def parse_queue_profile(data: Any) -> QueueProfile:
    """Validate a queue profile (shape in the module docstring).

    Rules: `max-rate` (the port's) is required; queue ids are 0..N without
    gaps (0 is HTB's default class, N <= 16); min-rate <= max-rate <= port max-rate; the
    queues' guaranteed min-rates together fit in the port.
    """
    if not isinstance(data, Mapping):
        raise ValidationError("body", "a queue profile must be a JSON object")
    unknown = set(data) - PROFILE_KEYS
    if unknown:
        raise ValidationError(sorted(unknown)[0], f"unknown key; allowed: {', '.join(sorted(PROFILE_KEYS - {'id'}))}")
    sw = parse_sw(data.get("sw", "all"))
    if sw == "none":
        raise ValidationError("sw", "expected 'all' or a dpid")
    port = parse_port(data.get("port", "all"))
    if data.get("max-rate") is None:
        raise ValidationError("max-rate", "required: the port's rate in bits/s (e.g. \"10G\")")
    port_rate = parse_rate(data["max-rate"], "max-rate")
    if data.get("queues") is None:
        raise ValidationError("queues", "required: at least queue 0, the default class")
    items = _queue_items(data["queues"])
    if not items:
        raise ValidationError("queues", "required: at least queue 0, the default class")
    for expected, (qid, _body) in enumerate(items):
        if qid != expected:
            raise ValidationError(f"queues.{expected}", f"missing: queue ids must be 0..N without gaps (got {', '.join(str(i) for i, _ in items)})")
    queues = tuple(_parse_queue(qid, body, port_rate) for qid, body in items)
    guaranteed = sum(q.min_rate or 0 for q in queues)
    if guaranteed > port_rate:
        raise ValidationError("queues", f"the min-rates add up to {guaranteed}, more than the port's max-rate {port_rate}")
    return QueueProfile(max_rate=port_rate, queues=queues, sw=sw, port=port)


# ---------------------------------------------------------------- what OVS applies
def ovs_rates(profile: QueueProfile) -> dict[str, dict[str, int]]:
    """Queue id -> {"min-rate", "max-rate"} as OVS's linux-htb sets the HTB class's rate and ceil (bits/s).

    Mirrors netdev-linux's htb_parse_class_details: whole bytes/s, a
    min-rate of at least one MTU (1500 bytes) per second and at most the
    port's rate, no max-rate meaning the port's, a ceiling never below the
    guarantee nor above the port.
    """
    port = profile.max_rate // 8 * 8
    out: dict[str, dict[str, int]] = {}
    for queue in profile.queues:
        low = min(max((queue.min_rate or 0) // 8 * 8, MIN_RATE), port)
        high = min(max((queue.max_rate or profile.max_rate) // 8 * 8, low), port)
        out[str(queue.id)] = {"min-rate": low, "max-rate": high}
    return out


#: tc prints rates in rounded units (e.g. 1234Kbit for 1,234,567): differences within this share are tc's
RATE_TOLERANCE = 0.01


def rate_differences(profile: QueueProfile, applied: Mapping[str, Any]) -> list[str]:
    """Where the rates read back from the port (tc or OVSDB, see `QueueBackend.rates`) differ from `ovs_rates`.

    One text per difference ("queue 1 min-rate: applied 12000, asked 8000000");
    empty when the port holds what the profile asks.
    """
    found = []
    got_queues = applied.get("queues") or {}
    for qid, want in ovs_rates(profile).items():
        got = got_queues.get(qid)
        if got is None:
            found.append(f"queue {qid}: no class on the port")
            continue
        for key, value in want.items():
            seen = got.get(key)
            if isinstance(seen, int) and abs(seen - value) > RATE_TOLERANCE * value:
                found.append(f"queue {qid} {key}: applied {seen}, asked {value}")
    return found


# ---------------------------------------------------------------- targets
Bridges = Mapping[int, Mapping[int, str]]


def resolve_ports(profile: QueueProfile, bridges: Bridges) -> list[tuple[int, str]]:
    """The concrete (dpid, port name) pairs the profile shapes, sorted.

    `bridges` is what the switches know: {dpid: {port_no: port_name}}.
    Reserved ports (the bridge's LOCAL port, see `is_reserved_port`) are
    never targets: they are not a link to a host or switch.
    """
    targets = []
    for dpid, ports in bridges.items():
        for port_no, name in ports.items():
            if profile.matches(dpid, port_no, name):
                targets.append((dpid, name))
    return sorted(targets)


def specificity(profile: QueueProfile) -> tuple[bool, bool]:
    """How narrowly a profile aims: a named port beats a named switch."""
    return profile.port != "all", profile.sw != "all"


def resolve_targets(profiles: Iterable[QueueProfile], bridges: Bridges) -> dict[tuple[int, str], QueueProfile]:
    """Which profile shapes each concrete port when several overlap.

    The most specific wins (see `specificity`); among equals the later one in
    `profiles` wins (pass them in store order, so the newest profile wins).
    """
    chosen: dict[tuple[int, str], QueueProfile] = {}
    for profile in profiles:
        for target in resolve_ports(profile, bridges):
            current = chosen.get(target)
            if current is None or specificity(profile) >= specificity(current):
                chosen[target] = profile
    return chosen
