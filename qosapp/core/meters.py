"""Meters: named OpenFlow 1.3 policers, their per-switch ids and meter_mods (pure).

A meter is a name, a rate and a burst, like a service is a name and a DSCP:

    {"name": "cap-2M", "rate": "2M", "burst": "256k"}

`rate` is bits/s and `burst` bits (integers or "2M"/"256k"-style strings,
decimal suffixes). On a switch it becomes one meter_mod with one drop band:
flags KBPS|BURST (|STATS), band rate = rate / 1000 (kbit/s), burst size =
burst / 1000 (kbit), which is why both must be whole kbit. Without `burst`
the band gets DEFAULT_BURST_SECONDS of the rate (100 ms).

Meter ids are the switch's, not global: `MeterTable` gives each (meter,
switch) the lowest free id on that switch when the meter goes there, and
frees it when the meter is deleted or the switch goes away. Every meter is
put on every OpenFlow 1.3 switch (meters with no policy police nothing); a
policy's flow on a switch refers to its meter by that switch's id. A
meter_mod carries a cookie of the 'M' space (see `qosapp.core.cookies`) so
an OFPT_ERROR answering it can be traced back to the meter.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

from qosapp.core.cookies import meter_cookie
from qosapp.core.model import ValidationError, parse_int, parse_name

#: the smallest rate a meter band can hold: 1 kbit/s
MIN_METER_RATE = 1000
#: burst when none is given: this many seconds of the rate
DEFAULT_BURST_SECONDS = 0.1
#: the largest rate and burst: 1 Tbit/s, 1 Tbit (OpenFlow counts kbit in 32 bits: 4.29 Tbit)
MAX_METER_RATE = 10**12
#: a rate or burst as text: whole digits, then nothing (bits), k, M or G (decimal), e.g. "2M", "256k"
METER_TEXT = re.compile(r"0*([0-9]{1,13})([kKmMgG]?)")
SCALE = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9}
#: OpenFlow 1.3 meter ids 1..0xFFFF0000 (OFPM_MAX); OVS userspace holds far fewer
MAX_METER_ID = 0xFFFF0000
METER_KEYS = {"name", "rate", "burst", "id"}

ADD, MODIFY, DELETE = "add", "modify", "delete"


@dataclass(frozen=True)
class Meter:
    """A named drop-band policer: at most `rate` bits/s, bursts up to `burst` bits."""

    name: str
    rate: int
    burst: int
    id: int | None = None

    @property
    def rate_kbps(self) -> int:
        return self.rate // 1000

    @property
    def burst_kb(self) -> int:
        return self.burst // 1000

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "rate": self.rate, "burst": self.burst}
        if self.id is not None:
            out["id"] = self.id
        return out


def parse_meter_rate(value: Any, field_name: str) -> int:
    """bits/s (or bits, for a burst): an integer or "2M"-style text, 1000..10^12, whole kbit."""
    if isinstance(value, str):
        match = METER_TEXT.fullmatch(value.strip())
        if not match:
            raise ValidationError(field_name, f"expected whole bits such as 2000000, \"2000k\" or \"2M\", "
                                  f"got {value[:60]!r}")
        value = int(match.group(1)) * SCALE[match.group(2).lower()]
    number = parse_int(value, field_name, MIN_METER_RATE, MAX_METER_RATE)
    if number % 1000:
        raise ValidationError(field_name, f"{value} is not a whole number of kbit: OpenFlow meter bands "
                              "count kbit/s and kbit (e.g. 2000000 or \"2M\", 256000 or \"256k\")")
    return number


def parse_meter(data: Any) -> Meter:
    """Validate {"name", "rate", "burst"?}: 400 naming the field and the reason."""
    if not isinstance(data, Mapping):
        raise ValidationError("body", "a meter must be a JSON object")
    unknown = set(data) - METER_KEYS
    if unknown:
        raise ValidationError(str(sorted(unknown, key=str)[0]),
                              f"unknown key; allowed: {', '.join(sorted(METER_KEYS - {'id'}))}")
    name = parse_name(data.get("name"))
    if data.get("rate") is None:
        raise ValidationError("rate", "required: the meter's rate in bits/s (e.g. \"2M\")")
    rate = parse_meter_rate(data["rate"], "rate")
    if data.get("burst") is None:
        burst = max(MIN_METER_RATE, round(rate * DEFAULT_BURST_SECONDS / 1000) * 1000)
    else:
        burst = parse_meter_rate(data["burst"], "burst")
    return Meter(name=name, rate=rate, burst=burst)


@dataclass(frozen=True)
class MeterMod:
    """One meter_mod for one switch: add/modify (with the band) or delete; meter_id 0 with delete = all."""

    command: str
    meter_id: int
    rate_kbps: int = 0
    burst_kb: int = 0
    #: the 'M' cookie of the meter (0 for the wipe), to trace an OFPT_ERROR back
    cookie: int = 0


#: delete every meter on the switch (cold start); OpenFlow's OFPM_ALL
WIPE_METERS = MeterMod(DELETE, 0)


def meter_add(meter: Meter, meter_id: int) -> MeterMod:
    if meter.id is None:
        raise ValueError(f"meter {meter.name!r} has no id; store it first")
    return MeterMod(ADD, meter_id, meter.rate_kbps, meter.burst_kb, meter_cookie(meter.id))


def meter_delete(meter: Meter, meter_id: int) -> MeterMod:
    if meter.id is None:
        raise ValueError(f"meter {meter.name!r} has no id; store it first")
    return MeterMod(DELETE, meter_id, cookie=meter_cookie(meter.id))


class MeterTable:
    """Per switch: meter name <-> the switch's meter id (lowest free first)."""

    def __init__(self) -> None:
        self._ids: dict[int, dict[str, int]] = {}

    def allocate(self, dpid: int, name: str) -> int:
        ids = self._ids.setdefault(dpid, {})
        if name in ids:
            return ids[name]
        used = set(ids.values())
        meter_id = next(i for i in range(1, len(used) + 2) if i not in used)
        if meter_id > MAX_METER_ID:
            raise ValueError("no meter id left on this switch")
        ids[name] = meter_id
        return meter_id

    def free(self, dpid: int, name: str) -> int | None:
        return self._ids.get(dpid, {}).pop(name, None)

    def forget_switch(self, dpid: int) -> None:
        self._ids.pop(dpid, None)

    def ids(self, dpid: int) -> dict[str, int]:
        """{meter name: id} on `dpid` (a copy)."""
        return dict(self._ids.get(dpid, {}))

    def id_of(self, dpid: int, name: str) -> int | None:
        return self._ids.get(dpid, {}).get(name)

    def name_of(self, dpid: int, meter_id: int) -> str | None:
        return next((n for n, i in self._ids.get(dpid, {}).items() if i == meter_id), None)

    def switches_of(self, name: str) -> list[int]:
        return sorted(dpid for dpid, ids in self._ids.items() if name in ids)
