"""Flow and queue counters over time -> current rates and a short history (pure).

The Ryu shell polls the switches (flow stats of qos-sdn's cookies, queue
stats of every port) every `interval` seconds and feeds the replies here;
the REST service reads rates back. A rate is a counter difference over the
time difference of its samples, so a poll that comes late does not distort
it. Counters that go backwards (a flow re-installed after a reconnect)
restart the series instead of showing a negative rate.

Flow rates span at least FLOW_RATE_WINDOW: Open vSwitch moves a flow's
counters from its datapath into the OpenFlow rule only when a revalidator
runs (every 0.5 s, `other_config:max-revalidator`; measured: n_bytes
changed every 0.46-0.54 s under steady traffic), so a flow-stats reply
can be up to ~0.5 s stale, by a different amount each poll. Over one 2 s
interval that is up to a quarter off (a CI run plotted 1.42 Mbit/s for a
path iperf3 measured at 1.89, while the queue's own counters, read from the
port, showed 1.98 and 2.03); over 6 s it is under a tenth. Queue and meter
counters are current when read, so theirs are consecutive samples.
"""
from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Hashable, Iterable, Sequence

DEFAULT_INTERVAL = 2.0
HISTORY = 60  # samples: two minutes at the default interval
#: flow counters are polled only this long after someone read them: a poll
#: makes the switch dump, and Ryu parse, one entry per policy flow, which at
#: 20,000 policies cost more CPU than the REST service itself, every interval
WATCH_SECONDS = 120.0
#: a flow's rate is taken between samples at least this far apart (6 s at the
#: default interval; see the module docstring for why)
FLOW_RATE_WINDOW = 5.0


@dataclass(frozen=True, slots=True)
class Sample:
    time: float
    packets: int
    bytes: int
    errors: int = 0


@dataclass
class MessageCounts:
    """OpenFlow messages per dpid, counted once, where the Ryu shell sends or receives them.

    Never reset (a switch that goes and comes back keeps counting): they are
    the `qos_of_*_total` counters of /metrics.
    """

    flow_mods: Counter[int] = field(default_factory=Counter)
    meter_mods: Counter[int] = field(default_factory=Counter)
    errors: Counter[int] = field(default_factory=Counter)
    packet_ins: Counter[int] = field(default_factory=Counter)


class Series:
    """Samples of one counter set; rates over spans of at least `window` seconds.

    With window 0 a rate is between consecutive samples. Otherwise it runs
    from the newest sample back to the latest one at least `window` earlier
    (to the oldest, while the series is younger than that).
    """

    def __init__(self, size: int = HISTORY, window: float = 0.0) -> None:
        self.window = window
        self.samples: deque[Sample] = deque(maxlen=size + 1)

    def add(self, sample: Sample) -> None:
        if self.samples and (sample.bytes < self.samples[-1].bytes or sample.time <= self.samples[-1].time):
            self.samples.clear()  # counter reset, or a duplicate reply
        self.samples.append(sample)

    @property
    def last(self) -> Sample | None:
        return self.samples[-1] if self.samples else None

    def bps(self) -> float:
        """Bits per second up to the newest sample (0 until there are two)."""
        if len(self.samples) < 2:
            return 0.0
        return self._rate_to(self.samples, len(self.samples) - 1)

    def history(self) -> list[tuple[float, float]]:
        """[(time, bps)] ending at each sample but the first, oldest first."""
        samples = list(self.samples)
        return [(samples[end].time, self._rate_to(samples, end)) for end in range(1, len(samples))]

    def _rate_to(self, samples: Sequence[Sample], end: int) -> float:
        """The rate from the latest sample at least `window` before samples[end] (else the oldest) to it."""
        b = samples[end]
        for i in range(end - 1, -1, -1):  # newest first: a window is a few samples long
            if b.time - samples[i].time >= self.window:
                return _bps(samples[i], b)
        return _bps(samples[0], b)


def _bps(a: Sample, b: Sample) -> float:
    return (b.bytes - a.bytes) * 8 / (b.time - a.time)


class Stats:
    """All series, keyed by (cookie, dpid) for flows and (dpid, port, queue) for queues."""

    def __init__(self, interval: float = DEFAULT_INTERVAL, size: int = HISTORY) -> None:
        self.interval = interval
        self.size = size
        self.flows: dict[tuple[int, int], Series] = {}
        self.queues: dict[tuple[int, int, int], Series] = {}
        #: cookie -> {dpid: series}: one policy's series without a scan of all of them
        self._by_cookie: dict[int, dict[int, Series]] = {}
        self.watched_at: float | None = None
        #: (meter name, dpid) -> [series of what came in, series of what the band dropped]
        self.meters: dict[tuple[str, int], tuple[Series, Series]] = {}
        #: what went over the OpenFlow connections (the shell counts, /metrics reads)
        self.messages = MessageCounts()

    def watch(self, now: float) -> None:
        """Someone read the flow statistics: keep polling them for WATCH_SECONDS."""
        self.watched_at = now

    def flows_watched(self, now: float) -> bool:
        return self.watched_at is not None and now - self.watched_at <= WATCH_SECONDS

    def _series(self, table: dict, key: Hashable) -> Series:
        series = table.get(key)
        if series is None:
            series = table[key] = Series(self.size)
        return series

    def record_flows(self, dpid: int, now: float, counters: Iterable[tuple[int, int, int]]) -> None:
        """(cookie, packets, bytes) per flow; flows sharing a cookie are summed."""
        totals: dict[int, list[int]] = {}
        for cookie, packets, nbytes in counters:
            total = totals.setdefault(cookie, [0, 0])
            total[0] += packets
            total[1] += nbytes
        for cookie, (packets, nbytes) in totals.items():
            series = self.flows.get((cookie, dpid))
            if series is None:
                series = Series(self.size, FLOW_RATE_WINDOW)
                self.flows[(cookie, dpid)] = self._by_cookie.setdefault(cookie, {})[dpid] = series
            series.add(Sample(now, packets, nbytes))

    def record_queues(self, dpid: int, now: float, counters: Iterable[tuple[int, int, int, int, int]]) -> None:
        """(port, queue, tx packets, tx bytes, tx errors) per queue."""
        for port, queue, packets, nbytes, errors in counters:
            self._series(self.queues, (dpid, port, queue)).add(Sample(now, packets, nbytes, errors))

    def record_meters(self, dpid: int, now: float, counters: Iterable[tuple[str, int, int, int, int]]) -> None:
        """(meter name, packets in, bytes in, band packets, band bytes) per meter of `dpid`."""
        for name, packets, nbytes, band_packets, band_bytes in counters:
            key = (name, dpid)
            if key not in self.meters:
                self.meters[key] = (Series(self.size), Series(self.size))
            seen, dropped = self.meters[key]
            seen.add(Sample(now, packets, nbytes))
            dropped.add(Sample(now, band_packets, band_bytes))

    def meter_sample(self, name: str, dpid: int) -> dict[str, float | int] | None:
        """The last counters of one meter on one switch and the rates in and dropped (None: no sample yet)."""
        pair = self.meters.get((name, dpid))
        if pair is None or pair[0].last is None or pair[1].last is None:
            return None
        seen, dropped = pair
        assert seen.last is not None and dropped.last is not None
        return {"packets-in": seen.last.packets, "bytes-in": seen.last.bytes,
                "dropped-packets": dropped.last.packets, "dropped-bytes": dropped.last.bytes,
                "bps-in": round(seen.bps(), 1), "bps-dropped": round(dropped.bps(), 1),
                "bps-passed": round(max(0.0, seen.bps() - dropped.bps()), 1)}

    def forget_meter(self, name: str) -> None:
        for key in [k for k in self.meters if k[0] == name]:
            del self.meters[key]

    def forget_switch(self, dpid: int) -> None:
        for key in [k for k in self.meters if k[1] == dpid]:
            del self.meters[key]
        for flow in [k for k in self.flows if k[1] == dpid]:
            del self.flows[flow]
        for queue in [k for k in self.queues if k[0] == dpid]:
            del self.queues[queue]
        for per_switch in self._by_cookie.values():
            per_switch.pop(dpid, None)

    def forget_cookie(self, cookie: int) -> None:
        """A deleted policy's series go with it (they were kept forever before)."""
        for dpid in self._by_cookie.pop(cookie, {}):
            self.flows.pop((cookie, dpid), None)

    def flow_series(self, cookie: int) -> dict[int, Series]:
        """{dpid: series} of one cookie; O(1), so listing N policies' stats is O(N), not O(N^2)."""
        return dict(self._by_cookie.get(cookie, {}))
