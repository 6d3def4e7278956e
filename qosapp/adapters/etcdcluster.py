"""Membership and mastership keys on etcd: one lease per instance, one key per mastered switch.

Keys (under the store's prefix, next to `data/`; see `qosapp.adapters.etcdstore`):

    cluster/members/<member id>     {"id", "switches": [dpid, ...], "rest", "since"}   bound to the lease
    cluster/masters/<dpid, 16 hex>  <member id>                                       bound to the lease

An instance grants itself a lease (TTL a couple of seconds) and refreshes
it several times per TTL; if it dies (kill -9, a partition, a hung
process) etcd revokes the lease once the TTL is over and every key bound
to it vanishes at once: its membership and all its masterships. The
survivors see the deletions in their watch and claim the switches
(`qosapp.core.mastership` decides who claims what).

A claim is a transaction "create the key if absent", so two instances can
never both hold a switch; its etcd revision (the key's mod revision) is
the OpenFlow role request's generation id: etcd's revision only grows, so
every takeover raises it and a switch refuses a stale master's request
(OFPRRFC_STALE). A release deletes the key only if it is still ours.

Cluster writes go to etcd directly (`EtcdStore._post`), not through the
data transactions: they are not part of the replicated QoS state.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from qosapp.adapters.etcdstore import EtcdStore, b64, delete, put
from qosapp.core.storeapi import StoreUnavailable

LOG = logging.getLogger(__name__)

MEMBERS = "cluster/members/"
MASTERS = "cluster/masters/"


@dataclass(frozen=True)
class Mastership:
    """One mastership key as the mirror shows it."""

    member: str
    #: the key's mod revision: the OpenFlow generation id of that master's role requests
    generation: int


def dpid_key(dpid: int) -> str:
    return f"{dpid:016x}"


class Membership:
    """This instance's lease, member key and mastership keys."""

    def __init__(self, store: EtcdStore, member_id: str, ttl: int, info: dict[str, Any] | None = None) -> None:
        if "/" in member_id or not member_id:
            raise ValueError(f"member id {member_id!r}: non-empty, no '/'")
        self.store = store
        self.me = member_id
        self.ttl = ttl
        self.info = dict(info or {})
        self.lease: int | None = None
        #: when the lease was granted (epoch seconds), for the view
        self.since: float | None = None
        self.switches: list[int] = []

    # ------------------------------------------------------------ lease
    def register(self) -> int:
        """Grant a new lease and put the member key on it; returns the lease id."""
        result = self.store._post("/lease/grant", {"TTL": str(self.ttl)}, write=True)
        lease = int(result["ID"])
        self.lease, self.since = lease, time.time()
        self.publish(self.switches)
        LOG.info("cluster: member %s registered (lease %x, TTL %s s)", self.me, lease, result.get("TTL"))
        return lease

    def refresh(self) -> bool:
        """Keep the lease alive; False when it is gone (expired: every key of ours went with it)."""
        if self.lease is None:
            return False
        result = self.store._post("/lease/keepalive", {"ID": str(self.lease)})
        ttl = int(result.get("result", result).get("TTL", 0))
        if ttl <= 0:
            LOG.warning("cluster: lease %x of %s expired; its masterships are gone", self.lease, self.me)
            self.lease = None
            return False
        return True

    def resign(self) -> None:
        """Revoke the lease (a clean stop): the others take the switches at once, not after the TTL."""
        if self.lease is not None:
            try:
                self.store._post("/lease/revoke", {"ID": str(self.lease)}, write=True)
            except StoreUnavailable as err:
                LOG.warning("cluster: could not revoke lease %x: %s", self.lease, err)
            self.lease = None

    def publish(self, switches: list[int]) -> None:
        """The member key: which switches this instance is connected to (the assignment reads it)."""
        self.switches = sorted(switches)
        if self.lease is None:
            return
        value = {"id": self.me, "switches": [dpid_key(d) for d in self.switches], "since": self.since, **self.info}
        self.store._post("/kv/put", put(self.key(MEMBERS + self.me), json.dumps(value, sort_keys=True),
                                        self.lease)["request_put"], write=True)

    # ------------------------------------------------------------ mastership
    def claim(self, dpid: int) -> int | None:
        """Take the mastership key of `dpid` if nobody holds it; its revision (the generation id), or None."""
        if self.lease is None:
            return None
        key = self.key(MASTERS + dpid_key(dpid))
        result = self.store._post("/kv/txn", {
            "compare": [{"key": b64(key), "result": "EQUAL", "target": "CREATE", "create_revision": "0"}],
            "success": [put(key, self.me, self.lease)], "failure": []}, write=True)
        if not result.get("succeeded"):
            return None
        return int(result["header"]["revision"])

    def release(self, dpid: int) -> bool:
        """Delete the mastership key of `dpid` if it is still ours."""
        key = self.key(MASTERS + dpid_key(dpid))
        result = self.store._post("/kv/txn", {
            "compare": [{"key": b64(key), "result": "EQUAL", "target": "VALUE", "value": b64(self.me)}],
            "success": [delete(key)], "failure": []}, write=True)
        return bool(result.get("succeeded"))

    # ------------------------------------------------------------ reading (the mirror, no I/O)
    def members(self) -> dict[str, dict[str, Any]]:
        """Live members (their keys exist, so their leases do): id -> the member key's value."""
        out = {}
        for name, entry in self.store.entries(MEMBERS).items():
            if isinstance(entry.value, dict):
                out[name] = entry.value
        return out

    def member_switches(self) -> dict[str, frozenset[int]]:
        """Live member -> the dpids it says it is connected to."""
        return {name: frozenset(int(d, 16) for d in value.get("switches", []))
                for name, value in self.members().items()}

    def masters(self) -> dict[int, Mastership]:
        """dpid -> its mastership key (member, generation)."""
        out = {}
        for name, entry in self.store.entries(MASTERS).items():
            try:
                dpid = int(name, 16)
            except ValueError:
                continue
            out[dpid] = Mastership(str(entry.value), entry.mod_revision)
        return out

    def key(self, sub: str) -> str:
        return self.store.prefix + sub
