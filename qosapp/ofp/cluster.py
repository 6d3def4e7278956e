"""A controller instance in a cluster, as the Ryu process runs it (eventlet green threads).

`StoreFollower` keeps the core converged to the etcd store: one green thread
follows etcd's watch (`EtcdStore.watch_forever` keeps the mirror), another
converges whenever the data part changed (`QosService.converge`, under the
service's lock). A write on any instance so reaches every instance, and
through each one the switches it masters.
"""
from __future__ import annotations

import logging
from typing import Callable

from ryu.lib import hub

from qosapp.adapters.etcdstore import EtcdStore
from qosapp.core.storeapi import Tables
from qosapp.service import QosService

LOG = logging.getLogger("qosapp.cluster")


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
