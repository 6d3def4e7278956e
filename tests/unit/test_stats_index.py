"""Flow statistics stay cheap with many policies.

- one policy's series are found by cookie, not by scanning every series
  (listing N policies' stats was O(N^2));
- a deleted policy's series are dropped;
- flow counters are polled only while someone reads them (a poll costs one
  flow-stats entry per policy flow, on the switch and in the controller).
"""
from __future__ import annotations

from pathlib import Path

from qosapp.core.cookies import policy_cookie
from tests.unit.serviceenv import make_service
from qosapp.core.stats import FLOW_RATE_WINDOW, WATCH_SECONDS, Stats


def test_flow_series_by_cookie_and_forgetting() -> None:
    stats = Stats()
    stats.record_flows(1, 10.0, [(0xA, 1, 100), (0xB, 2, 200), (0xA, 1, 50)])
    stats.record_flows(2, 10.0, [(0xA, 3, 300)])
    stats.record_flows(1, 12.0, [(0xA, 4, 350)])
    assert sorted(stats.flow_series(0xA)) == [1, 2]
    assert stats.flow_series(0xA)[1].bps() == (350 - 150) * 8 / 2
    assert stats.flow_series(0xC) == {}
    stats.forget_switch(2)
    assert sorted(stats.flow_series(0xA)) == [1] and (0xA, 2) not in stats.flows
    stats.forget_cookie(0xA)
    assert stats.flow_series(0xA) == {} and set(stats.flows) == {(0xB, 1)}


def test_flow_polling_only_while_watched() -> None:
    stats = Stats()
    assert not stats.flows_watched(100.0)
    stats.watch(100.0)
    assert stats.flows_watched(100.0 + WATCH_SECONDS)
    assert not stats.flows_watched(100.1 + WATCH_SECONDS)


def test_core_reading_stats_watches_and_deleting_forgets(tmp_path: Path) -> None:
    core = make_service(str(tmp_path), forwarding="normal")
    core.enable()
    core.switch_connected(1, 4, {})
    (policy,) = core.add_policies([{"name": "p", "ip-src": "10.0.0.1", "queue": 1, "enqueue-port": 1}])
    assert policy.id is not None
    cookie = policy_cookie(policy.id)
    core.stats.record_flows(1, 1.0, [(cookie, 1, 10)])
    assert core.policy_stats(now=50.0)["policies"][0]["switches"][0]["bytes"] == 10
    assert core.stats.flows_watched(50.0)
    core.delete_policy("p")
    assert core.stats.flow_series(cookie) == {} and core.stats.flows == {}


def test_path_counters_are_reported_like_policies(tmp_path: Path) -> None:
    """Paths ('P' cookies) get counters too: the poll covers them and /qos/stats/policies lists them."""
    from qosapp.core.cookies import COUNTED_MASK, COUNTED_PREFIX, counted, path_cookie
    core = make_service(str(tmp_path), forwarding="normal")
    path = core.add_path({"name": "h1-h2", "src": "10.0.0.1", "dst": "10.0.0.2", "queue": 1})
    assert path.id is not None
    cookie = path_cookie(path.id)
    assert counted(cookie) and counted(policy_cookie(7)) and not counted(0x4600000000000001)
    assert cookie & COUNTED_MASK == COUNTED_PREFIX
    core.stats.record_flows(1, 10.0, [(cookie, 5, 1000)])
    core.stats.record_flows(1, 12.0, [(cookie, 10, 3000)])
    [row] = core.policy_stats(now=12.0)["paths"]
    assert row["name"] == "h1-h2" and row["cookie"] == hex(cookie) and row["bps"] == 8000.0
    assert row["switches"] == [{"dpid": "00:00:00:00:00:00:00:01", "packets": 10, "bytes": 3000, "bps": 8000.0}]
    core.delete_path("h1-h2")
    assert core.stats.flow_series(cookie) == {}


def test_flow_rates_span_a_window_because_ovs_flow_counters_lag() -> None:
    """OVS credits a rule's counters when a revalidator runs (every 0.5 s), so each
    flow-stats reply is stale by 0 to 0.5 s: 1,000 B/s read every 2 s, alternately
    current and half a second behind, is 6,000 and 10,000 bit/s between polls.
    Flow rates span at least FLOW_RATE_WINDOW (three polls here) and stay within a
    tenth; queue counters (read from the port, current) keep consecutive rates."""
    stats = Stats()
    lag = [0.0, 0.5] * 6
    for i, behind in enumerate(lag):
        t = 100.0 + 2 * i
        stats.record_flows(1, t, [(0xA, i, int(1000 * (t - 100.0 - behind)))])
        stats.record_queues(1, t, [(2, 1, i, int(1000 * (t - 100.0 - behind)), 0)])
    flow = stats.flow_series(0xA)[1]
    assert FLOW_RATE_WINDOW > 2 * stats.interval
    rates = [bps for _, bps in flow.history()]
    assert len(rates) == len(lag) - 1 and rates[:2] == [6000.0, 8000.0]  # younger than the window: from the oldest
    assert all(abs(bps - 8000) <= 800 for bps in rates[2:]), rates
    assert flow.bps() == rates[-1] and [t for t, _ in flow.history()] == [100.0 + 2 * i for i in range(1, len(lag))]
    queue_rates = [bps for _, bps in stats.queues[(1, 2, 1)].history()]
    assert queue_rates == [6000.0, 10000.0] * 5 + [6000.0]
    assert stats.queues[(1, 2, 1)].bps() == 6000.0
