"""The service: validate -> store -> core -> apply its effects, one request or event at a time.

`QosService` wraps `QosCore` (which decides, stores and returns `Effects`)
and does what the effects say, in order, while holding one lock:
  1. the store writes are already committed (the core made them through
     `StoreApi` before it changed its own state);
  2. each flow batch goes to `send(dpid, ops)` (the Ryu shell: the batch,
     then a barrier);
  3. a queue sync, when asked, goes through the `QueueBackend` (OVSDB rows);
     its outcome goes back to the core, and what that returns is applied
     the same way; then each shaped port's classification (tc filters from
     the matches of the flows that enqueue there) is brought up to date;
  4. waiters for switch confirmations are woken.
The lock makes every request and every switch event atomic with respect to
the others: under eventlet an OVSDB wait or a full send queue yields to other
green threads, and without it a REST request could run in the middle of a
switch's cold start. The lock, the event type and the "let others run" call
are injected: the Ryu shell passes eventlet's (`qosapp.ofp.green`), tests may
use plain threading ones.

`?wait=confirm` answers wait here (`wait_confirmed`), outside the lock, so
that barrier replies can come in meanwhile.

The service has the public names the HTTP layer calls (`add_policy`,
`enable`, ...); reads (`policies`, `policy_view`, `status`, ...) go straight
to the core.
"""
from __future__ import annotations

import threading
import time
from contextlib import AbstractContextManager
from typing import Any, Callable, Iterable, Mapping, Protocol, TypeVar

from qosapp.core.compiler import FlowOp
from qosapp.core.controller import QosCore
from qosapp.core.effects import Effects
from qosapp.core.meters import Meter
from qosapp.core.model import Policy, Service
from qosapp.core.pathspec import PathSpec
from qosapp.core.staticflows import StaticFlow
from qosapp.core.queues import QueueProfile
from qosapp.core.shaping import QueueBackend
from qosapp.core.storeapi import Tables

#: longest a `?wait=confirm` answer waits for the switches (seconds)
CONFIRM_TIMEOUT = 10.0
#: policies a bulk POST parses between two yields to the hub (~50 ms of work)
PARSE_SLICE = 2000
#: seconds between two topology flushes at least, and at most (when a flush itself took longer)
FLUSH_GAP, FLUSH_GAP_MAX = 0.1, 0.5

T = TypeVar("T")
Sender = Callable[[int, list[FlowOp]], None]


class EventLike(Protocol):
    def set(self) -> Any: ...

    def wait(self, timeout: float | None = None) -> Any: ...


class QosService:
    """One lock around the core; applies what it returns."""

    def __init__(self, core: QosCore, send: Sender | None = None, queues: QueueBackend | None = None,
                 lock: AbstractContextManager[Any] | None = None,
                 new_event: Callable[[], EventLike] = threading.Event,
                 pause: Callable[[], None] = lambda: None,
                 sync: Callable[[], bool] | None = None,
                 later: Callable[[Callable[[], None]], Any] | None = None,
                 later_after: Callable[[float, Callable[[], None]], Any] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.core = core
        #: run a function once the events already waiting have been handled (eventlet: spawn). Given,
        #: topology work is coalesced: events mark it due, one flush does it (`QosCore.flush_topology`)
        self.later = later
        #: run a function after so many seconds (eventlet: spawn_after). Given, flushes are spaced:
        #: the next one no sooner than `flush_gap` after the last (see `_flush_wait`)
        self.later_after = later_after
        self.clock = clock
        self._flush_scheduled = False
        self._flush_not_before = 0.0
        if later is not None:
            core.defer_topology = True
        #: make every commit so far durable; returns whether it fsynced (the Ryu shell passes a
        #: group commit that fsyncs in a worker thread: `qosapp.adapters.groupcommit`)
        self.sync_store: Callable[[], bool] = sync or core.store.sync
        self.send: Sender = send or (lambda dpid, ops: None)
        self.queues = queues
        self.lock: AbstractContextManager[Any] = lock if lock is not None else threading.Lock()
        self.new_event = new_event
        self.pause = pause
        #: called with no arguments whenever install states may have left
        #: "pending" (barrier reply, switch error, switch gone)
        self.confirm_listeners: list[Callable[[], None]] = []
        #: GET /qos/cluster: members, mastership, store health (the Ryu shell sets it in a cluster)
        self.cluster_view: Callable[[], dict[str, Any]] = lambda: {"cluster": False, "store": "sqlite"}

    def __getattr__(self, name: str) -> Any:
        """Reads (and anything not wrapped here) go to the core."""
        if name == "core":  # not set yet (copy, unpickle): no recursion
            raise AttributeError(name)
        return getattr(self.core, name)

    # ------------------------------------------------------------ applying
    def apply(self, fx: Effects) -> None:
        """Do what `fx` says, in order (the caller holds the lock); in a cluster only for the switches
        this instance masters (`QosCore.route`)."""
        fx = self.core.route(fx)
        for dpid, ops in fx.flows:
            self.send(dpid, ops)
        if fx.sync_queues:
            changed = self.core.shaping.sync(self.core.switch_ports(), self.queues)
            self.apply(self.core.queues_synced(changed))
        if self.queues is not None and (fx.flows or fx.sync_queues or fx.confirm):
            # which flows enqueue where may have changed: each shaped port's classification follows
            self.core.shaping.sync_filters(self.core.wanted_filters(), self.queues)
        if fx.confirm:
            for listener in list(self.confirm_listeners):
                listener()

    def _request(self, call: Callable[[], tuple[T, Effects]]) -> T:
        with self.lock:
            value, fx = call()
            self.apply(fx)
            self._schedule_flush()
            return value

    def _event(self, call: Callable[[], Effects]) -> None:
        with self.lock:
            self.apply(call())
            self._schedule_flush()

    def _schedule_flush(self) -> None:
        """Deferred topology work is due: run it once, after the events queued behind this one (under the lock)."""
        if self.later is not None and self.core.topology_due and not self._flush_scheduled:
            self._flush_scheduled = True
            wait = self._flush_not_before - self.clock()
            if wait > 0 and self.later_after is not None:
                self.later_after(wait, self.flush_topology)
            else:
                self.later(self.flush_topology)

    def flush_topology(self) -> None:
        with self.lock:
            self._flush_scheduled = False
            began = self.clock()
            self.apply(self.core.flush_topology())
            self._flush_not_before = self.clock() + self._flush_wait(self.clock() - began)

    @staticmethod
    def _flush_wait(cost: float) -> float:
        """Seconds from the end of one flush to the earliest next one: FLUSH_GAP, or the flush's own cost
        (at most FLUSH_GAP_MAX).

        Why: after a restart the events trickle in (an LLDP frame every 10 ms),
        so coalescing only what is already queued gave nearly every event a
        flush of its own, and each flush sends what changed since the last
        (a spine's flood flows change with every cable found). Spaced, the
        flushes of a fabric coming up are a few dozen, each of many events;
        the first event after a quiet spell (a link down) is still flushed at once.
        """
        return min(max(FLUSH_GAP, cost), FLUSH_GAP_MAX)

    # ------------------------------------------------------------ requests
    def enable(self) -> bool:
        return self._request(self.core.enable)

    def disable(self) -> bool:
        return self._request(self.core.disable)

    def add_service(self, data: Any) -> Service:
        return self._request(lambda: self.core.add_service(data))

    def delete_service(self, name: str) -> Service:
        return self._request(lambda: self.core.delete_service(name))

    def add_meter(self, data: Any) -> Meter:
        return self._request(lambda: self.core.add_meter(data))

    def delete_meter(self, name: str) -> Meter:
        return self._request(lambda: self.core.delete_meter(name))

    def meter_counters(self, dpid: int, now: float, counters: Iterable[tuple[int, int, int, int, int]]) -> None:
        """A meter stats reply (under the lock: it reads the meter ids)."""
        with self.lock:
            self.core.meter_counters(dpid, now, counters)

    def add_policy(self, data: Any) -> Policy:
        return self._request(lambda: self.core.add_policy(data))

    def add_policies(self, items: list[Any], batch: bool = True) -> list[Policy]:
        """A bulk POST; a big one is parsed in slices, other green threads running in between.

        Why: 100,000 policies take seconds to validate, and a hub that does
        nothing else for ~10 s misses the switches' echo requests, so Open
        vSwitch drops the connection (and a reconnect re-sends every flow).
        Parsing reads no state that the add does not check again under the
        lock, so it needs none.
        """
        if len(items) <= PARSE_SLICE:
            return self._request(lambda: self.core.add_policies(items, batch))
        parsed: list[Policy] = []
        for start in range(0, len(items), PARSE_SLICE):
            parsed += self.core.parse_policies(items[start:start + PARSE_SLICE], batch, offset=start)
            self.pause()
        return self._request(lambda: self.core.add_parsed(parsed, batch))

    def replace_policy(self, name: str, data: Any) -> Policy:
        return self._request(lambda: self.core.replace_policy(name, data))

    def delete_policy(self, name: str) -> Policy:
        return self._request(lambda: self.core.delete_policy(name))

    def delete_policies(self, names: list[str] | None) -> list[Policy]:
        return self._request(lambda: self.core.delete_policies(names))

    def delete_policy_by_id(self, policy_id: int) -> Policy:
        return self._request(lambda: self.core.delete_policy_by_id(policy_id))

    def add_queue_profile(self, data: Any, force: bool = False) -> tuple[QueueProfile, list[dict[str, Any]]]:
        """The profile, and (with `force`) the live users that lost their queue by it."""
        return self._request(lambda: self.core.add_queue_profile(data, force))

    def delete_queue_profile(self, sw: str, port: str, force: bool = False) -> tuple[QueueProfile, list[dict[str, Any]]]:
        return self._request(lambda: self.core.delete_queue_profile(sw, port, force))

    def add_path(self, data: Any) -> PathSpec:
        return self._request(lambda: self.core.add_path(data))

    def delete_path(self, name: str) -> PathSpec:
        return self._request(lambda: self.core.delete_path(name))

    def push_static_flow(self, data: Any) -> tuple[StaticFlow, bool]:
        """The stored entry and whether it replaced one of the same name."""
        return self._request(lambda: self.core.push_static_flow(data))

    def delete_static_flows(self, names: list[str]) -> list[StaticFlow]:
        return self._request(lambda: self.core.delete_static_flows(names))

    def converge(self, tables: Tables | Callable[[], Tables | None]) -> bool:
        """Take the store's rows into the core (a cluster: others' writes) and apply what that changes.

        `tables` may be a function that reads them: it is called under the
        lock, so no local write can come between the read and the comparison
        (it returns None when the rows are not ready, e.g. a mirror that has
        not yet seen this instance's last write). Returns whether anything changed.
        """
        with self.lock:
            rows = tables() if callable(tables) else tables
            if rows is None:
                return False
            changed, fx = self.core.converge(rows)
            self.apply(fx)
            return changed

    # ------------------------------------------------------------ switch events
    def switch_connected(self, dpid: int, version: int, ports: Mapping[int, str] | None = None,
                         address: str | None = None, wipe: bool = True) -> None:
        """Cold start in one lock: wipe + pipeline + policies, queue sync, then forwarding and paths.

        `wipe=False`: a takeover in a cluster, the flows are re-sent over what the switch holds.
        """
        with self.lock:
            self.apply(self.core.switch_connected(dpid, version, ports, address, wipe=wipe))
            self.apply(self.core.switch_ready(dpid))
            self._schedule_flush()

    def take_over(self, dpid: int, me: str) -> None:
        """A cluster: this instance became `dpid`'s master (flows re-sent without a wipe, queues synced;
        a queue backend that can, e.g. `OvsQueues.adopt`, keeps the rows and filters that are already right)."""
        adopt = getattr(self.queues, "adopt", None)
        with self.lock:
            if adopt is not None:
                adopt(dpid)
            try:
                self.apply(self.core.take_over(dpid, me))
                self.apply(self.core.switch_ready(dpid))
            finally:
                if adopt is not None:
                    adopt(dpid, False)

    def hand_over(self, dpid: int, master: str | None) -> None:
        """A cluster: `dpid` is another instance's now; nothing more goes there from here."""
        with self.lock:
            self.apply(self.core.hand_over(dpid, master))
            self.apply(self.core.switch_ready(dpid))

    def reconcile(self, dpid: int, cookies: Iterable[int]) -> None:
        """After a takeover: the cookies the switch holds; stale policy flows are deleted."""
        self._event(lambda: self.core.reconcile(dpid, cookies))

    def switch_disconnected(self, dpid: int) -> None:
        self._event(lambda: self.core.switch_disconnected(dpid))

    def expire_absent(self) -> None:
        """Switches whose connection dropped longer ago than the grace period leave the topology."""
        if self.core.absent:
            self._event(self.core.expire_absent)

    def port_changed(self, dpid: int, port_no: int, name: str | None) -> None:
        self._event(lambda: self.core.port_changed(dpid, port_no, name))

    def port_state(self, dpid: int, port_no: int, live: bool) -> None:
        self._event(lambda: self.core.port_state(dpid, port_no, live))

    def link_added(self, src_dpid: int, src_port: int, dst_dpid: int, dst_port: int) -> None:
        self._event(lambda: self.core.link_added(src_dpid, src_port, dst_dpid, dst_port))

    def link_removed(self, src_dpid: int, src_port: int, dst_dpid: int, dst_port: int) -> None:
        self._event(lambda: self.core.link_removed(src_dpid, src_port, dst_dpid, dst_port))

    def packet_in(self, dpid: int, in_port: int, eth_src: str, eth_dst: str, eth_type: int,
                  ip: str | None) -> list[int]:
        """Learn from the frame; returns the ports to send it out of ([] = drop)."""
        return self._request(lambda: self.core.packet_in(dpid, in_port, eth_src, eth_dst, eth_type, ip))

    def flows_confirmed(self, dpid: int, cookies: Iterable[int]) -> None:
        self._event(lambda: self.core.flows_confirmed(dpid, cookies))

    def flow_error(self, dpid: int, cookie: int, reason: str) -> None:
        self._event(lambda: self.core.flow_error(dpid, cookie, reason))

    def meter_features(self, dpid: int, max_meter: int) -> None:
        """A switch's meter features reply (max_meter 0: it takes no meters)."""
        self._event(lambda: self.core.meter_features(dpid, max_meter))

    # ------------------------------------------------------------ confirmations
    def wait_confirmed(self, policies: list[Policy], timeout: float = CONFIRM_TIMEOUT) -> None:
        """Hold this request until no switch is still to confirm `policies` (not under the lock).

        The answer then shows "installed" (or "error" with the switch's
        reason) instead of "pending". After `timeout` it answers anyway,
        still pending.
        """
        if not self.core.pending(policies):
            return
        done = self.new_event()

        def check() -> None:
            if not self.core.pending(policies):
                done.set()

        # listen first: a confirmation that comes in while this request yields below
        # (pause, fsync, a tc call in the apply before) must not be missed
        self.confirm_listeners.append(check)
        try:
            self.pause()  # let the datapath's send loop put the flows and the barrier on the wire ...
            self.sync_store()  # ... and make the change durable while the switch works on them
            check()
            done.wait(timeout)
        finally:
            self.confirm_listeners.remove(check)
