"""A controller instance in a cluster, as the Ryu process runs it (eventlet green threads).

`StoreFollower` keeps the core converged to the etcd store: one green thread
follows etcd's watch (`EtcdStore.watch_forever` keeps the mirror), another
converges whenever the data part changed (`QosService.converge`, under the
service's lock). A write on any instance so reaches every instance, and
through each one the switches it masters.

`ClusterMember` is the other half: the lease, the mastership keys (through
`qosapp.adapters.etcdcluster`) and the OpenFlow roles; the decision of who
masters what is `qosapp.core.mastership`'s.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from ryu.lib import hub

from qosapp.adapters.etcdcluster import Mastership, Membership
from qosapp.adapters.etcdstore import EtcdStore
from qosapp.core import mastership
from qosapp.core.model import format_dpid
from qosapp.core.storeapi import StoreUnavailable, Tables
from qosapp.service import QosService

LOG = logging.getLogger("qosapp.cluster")
#: seconds a reading of the etcd endpoints' health is shown before it is taken again
HEALTH_EVERY = 1.0


class StoreFollower:
    """The watch and the converge loop; `on_cluster` is called when membership or mastership keys changed."""

    def __init__(self, store: EtcdStore, service: QosService, on_cluster: Callable[[], None] | None = None) -> None:
        self.store = store
        self.service = service
        self.on_cluster = on_cluster
        self.wake = hub.Event()
        #: converge rounds that changed something (for logs and tests)
        self.rounds = 0
        self.threads = [hub.spawn(store.watch_forever, self._changed, hub.sleep), hub.spawn(self._loop)]

    def _changed(self, kinds: set[str]) -> None:
        if "data" in kinds:
            self.wake.set()
        if "cluster" in kinds and self.on_cluster is not None:
            self.on_cluster()

    def _tables(self) -> Tables | None:
        """The mirror's rows, once it holds this instance's own last write (else a converge would undo it)."""
        return self.store.tables() if self.store.caught_up() else None

    def _loop(self) -> None:
        while True:
            self.wake.wait()
            self.wake.clear()
            try:
                if self.service.converge(self._tables):
                    self.rounds += 1
            except Exception:  # noqa: BLE001 - a bad round must not end the loop
                LOG.exception("converge to the store failed")
            if not self.store.caught_up():  # our own write's event is still on its way: look again soon
                hub.sleep(0.05)
                self.wake.set()


@dataclass
class RoleState:
    """This instance's OpenFlow role on one switch connection, as sent and as the switch answered."""

    role: str = "equal"  # what we last asked for: master | slave | equal (nothing asked yet)
    generation: int | None = None
    sent_at: float | None = None
    #: the switch's answer (role reply), epoch seconds, and the role it confirmed
    reply_at: float | None = None
    confirmed: str | None = None
    error: str | None = None


class RoleSender(Protocol):
    """What the Ryu app does for the cluster: role requests and the reconcile read."""

    def connected(self) -> list[int]: ...

    def send_role(self, dpid: int, master: bool, generation: int) -> None: ...

    def request_reconcile(self, dpid: int) -> None: ...


class ClusterMember:
    """Keeps this instance's lease, claims and releases switches, and sends the role requests.

    One green thread refreshes the lease (every TTL/4); another rebalances
    whenever the cluster keys, the connected switches or the lease changed:
    it reads members and masterships from the mirror, asks
    `qosapp.core.mastership.plan` what to do, releases (hand over first,
    then delete the key), claims (the key first, then role MASTER with the
    key's revision, then the takeover), and tells every switch mastered by
    another instance that this one is SLAVE (with that master's generation).
    """

    def __init__(self, membership: Membership, service: QosService, app: RoleSender) -> None:
        self.membership = membership
        self.me = membership.me
        self.service = service
        self.app = app
        #: dpid -> generation of the mastership keys this instance holds (authoritative for its own keys:
        #: the mirror may not show a claim yet)
        self.claimed: dict[int, int] = {}
        self.roles: dict[int, RoleState] = {}
        #: takeovers so far: (dpid, generation, epoch seconds of the claim)
        self.takeovers: list[tuple[int, int, float]] = []
        self.wake = hub.Event()
        #: the etcd endpoints' health, at most once per HEALTH_EVERY seconds (the page polls the view)
        self._health: tuple[float, list[dict[str, Any]]] = (0.0, [])
        service.core.join_cluster()
        service.cluster_view = self.view
        self.threads = [hub.spawn(self._keep_lease), hub.spawn(self._balance_loop)]

    # ------------------------------------------------------------ events from the app and the watch
    def changed(self) -> None:
        """Cluster keys changed (watch), or a switch came or went: look again."""
        self.wake.set()

    def switch_up(self, dpid: int) -> None:
        self.roles[dpid] = RoleState()  # a new connection starts EQUAL
        self._publish()

    def switch_down(self, dpid: int) -> None:
        self.roles.pop(dpid, None)
        self._publish()

    def role_reply(self, dpid: int, role: str, generation: int | None) -> None:
        state = self.roles.setdefault(dpid, RoleState())
        state.reply_at, state.confirmed, state.error = time.time(), role, None
        LOG.info("switch %016x: role %s confirmed (generation %s)", dpid, role, generation)

    def role_error(self, dpid: int, reason: str) -> None:
        state = self.roles.setdefault(dpid, RoleState())
        state.error = reason
        LOG.warning("switch %016x refused role %s (generation %s): %s", dpid, state.role, state.generation, reason)
        self.wake.set()

    def _publish(self) -> None:
        try:
            self.membership.publish(self.app.connected())
        except StoreUnavailable as err:
            LOG.warning("cluster: member key not updated: %s", err)
        self.wake.set()

    # ------------------------------------------------------------ lease
    def _keep_lease(self) -> None:
        """Refresh every TTL/4. Without an answer for two TTLs the lease counts as gone here too (etcd has
        expired it unless a leader election extended it): this instance stops sending to its switches.
        Meanwhile a survivor's MASTER request, with a higher generation, has made OVS demote this one."""
        interval = max(0.2, self.membership.ttl / 4)
        refreshed = time.monotonic()
        while True:
            try:
                if self.membership.lease is None:
                    self.membership.switches = self.app.connected()
                    self.membership.register()
                    refreshed = time.monotonic()
                    self.wake.set()
                elif self.membership.refresh():
                    refreshed = time.monotonic()
                else:
                    self._lost_lease()
            except (StoreUnavailable, KeyError, ValueError) as err:
                LOG.warning("cluster: lease refresh failed: %s", err)
                if self.membership.lease is not None and time.monotonic() - refreshed > 2 * self.membership.ttl:
                    LOG.warning("cluster: no refresh for %.1f s: lease %x taken as lost",
                                time.monotonic() - refreshed, self.membership.lease)
                    self.membership.lease = None
                    self._lost_lease()
            hub.sleep(interval)

    def _lost_lease(self) -> None:
        """The lease expired (we were cut off longer than the TTL): every mastership is gone already."""
        for dpid in list(self.claimed):
            del self.claimed[dpid]
            self.service.hand_over(dpid, None)
        self.wake.set()

    # ------------------------------------------------------------ balancing
    def _balance_loop(self) -> None:
        while True:
            self.wake.wait(1.0)
            self.wake.clear()
            try:
                self.balance()
            except Exception:  # noqa: BLE001 - one bad round must not end the loop
                LOG.exception("cluster: rebalancing failed")
                hub.sleep(0.2)
                self.wake.set()

    def _masters(self, fix: bool = True) -> dict[int, Mastership]:
        """The mirror's mastership keys, with this instance's own claims as it knows them
        (`fix`: a claim of ours that another member holds now is handed over)."""
        seen = self.membership.masters()
        for dpid in list(self.claimed):
            other = seen.get(dpid)
            if fix and other is not None and other.member != self.me:  # our key went (lease), another took it
                del self.claimed[dpid]
                self.service.hand_over(dpid, other.member)
        out = {d: m for d, m in seen.items() if m.member != self.me}
        out.update({d: Mastership(self.me, g) for d, g in self.claimed.items()})
        return out

    def balance(self) -> None:
        """One round: release, claim, and make every connected switch's role match the keys."""
        if not self.store_ready():
            return
        masters = self._masters()
        members = self.membership.member_switches()
        if self.membership.lease is not None:  # our own key as we know it (the mirror may lag)
            members[self.me] = frozenset(self.membership.switches)
        todo = mastership.plan(self.me, members, {d: m.member for d, m in masters.items()})
        for dpid in todo.release:
            self.service.hand_over(dpid, todo.target.get(dpid))
            self.claimed.pop(dpid, None)
            self.membership.release(dpid)
            LOG.info("cluster: released switch %016x for %s", dpid, todo.target.get(dpid))
        connected = set(self.app.connected())
        for dpid in todo.claim:
            if dpid not in connected:
                continue
            generation = self.membership.claim(dpid)
            if generation is None:
                continue  # someone was faster; the watch will say who
            self.claimed[dpid] = generation
            self.takeovers.append((dpid, generation, time.time()))
            LOG.info("cluster: claimed switch %016x (generation %d)", dpid, generation)
            self._role(dpid, True, generation)
            self.service.take_over(dpid, self.me)
            self.app.request_reconcile(dpid)
        masters = self._masters()
        for dpid in connected:
            held = masters.get(dpid)
            if held is None:
                continue
            mine = held.member == self.me
            if mine and not self.service.core.masters_here(dpid):  # a reconnect while master
                self._role(dpid, True, held.generation)
                self.service.take_over(dpid, self.me)
                self.app.request_reconcile(dpid)
            elif mine:
                self._role(dpid, True, held.generation)
            else:
                if self.service.core.masters.get(dpid) != held.member:
                    self.service.core.masters[dpid] = held.member
                self._role(dpid, False, held.generation)

    def store_ready(self) -> bool:
        return self.membership.store.mirror_live

    def _role(self, dpid: int, master: bool, generation: int) -> None:
        """Send the role request unless this connection already asked for exactly that."""
        state = self.roles.setdefault(dpid, RoleState())
        role = "master" if master else "slave"
        if state.role == role and state.generation == generation and state.error is None:
            return
        state.role, state.generation, state.sent_at, state.error = role, generation, time.time(), None
        state.reply_at = state.confirmed = None
        self.app.send_role(dpid, master, generation)

    # ------------------------------------------------------------ the view
    def view(self) -> dict[str, Any]:
        """GET /qos/cluster."""
        masters = self._masters(fix=False)
        members = self.membership.members()
        switches = []
        for dpid in sorted(set(masters) | set(self.roles)):
            held = masters.get(dpid)
            role = self.roles.get(dpid)
            switches.append({
                "dpid": format_dpid(dpid), "master": held.member if held else None,
                "generation": held.generation if held else None,
                "connected": role is not None,
                "role": role.role if role else None, "role-confirmed": role.confirmed if role else None,
                "role-sent-at": role.sent_at if role else None, "role-reply-at": role.reply_at if role else None,
                **({"role-error": role.error} if role and role.error else {})})
        return {"cluster": True, "store": "etcd", "me": self.me,
                "lease": f"{self.membership.lease:x}" if self.membership.lease is not None else None,
                "ttl": self.membership.ttl,
                "members": [{"id": name, "switches": len(value.get("switches", [])),
                             "masters": sum(1 for m in masters.values() if m.member == name),
                             "rest": value.get("rest"), "since": value.get("since")}
                            for name, value in sorted(members.items())],
                "switches": switches,
                "takeovers": len(self.takeovers),
                "endpoints": self._endpoint_health()}

    def _endpoint_health(self) -> list[dict[str, Any]]:
        at, health = self._health
        if time.monotonic() - at >= HEALTH_EVERY:
            health = self.membership.store.health()
            self._health = (time.monotonic(), health)
        return health
