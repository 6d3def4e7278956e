"""The queue backend the core drives: OVSDB rows, then tc filters.

`OvsQueues` implements `qosapp.core.shaping.QueueBackend` for a local Open vSwitch:
the profile becomes QoS/Queue rows through `qosapp.adapters.ovsdb`, and, on a
userspace (netdev) bridge, each port gets one tc u32 filter per flow that
enqueues there, with that flow's match, through `qosapp.adapters.tcbridge`
(why: see `qosapp.core.shaping` and the README's "Queues" section). The
filters vanish whenever OVS rewrites the port's qdisc; the core asks for
them again after every row write.
"""
from __future__ import annotations

import logging
import os
from typing import Any

from qosapp.adapters import tcbridge
from qosapp.adapters.ovsdb import OvsdbClient
from qosapp.core.queues import QueueProfile
from qosapp.core.shaping import PortFilter

LOG = logging.getLogger(__name__)


class OvsQueues:
    """Queue profiles on the ports of the OVS behind one OVSDB remote."""

    def __init__(self, remote: str, timeout: float = 5.0) -> None:
        self.ovsdb = OvsdbClient(remote, timeout=timeout)
        #: switches being taken over from another cluster instance (`adopt`)
        self.adopting: set[int] = set()

    def adopt(self, dpid: int, on: bool = True) -> None:
        """While on: rows and filters another instance wrote for `dpid` that are already what is wanted
        stay as they are (rewriting the QoS row re-creates the qdisc: a gap in the shaping)."""
        if on:
            self.adopting.add(dpid)
        else:
            self.adopting.discard(dpid)

    def apply(self, dpid: int, port_name: str, profile: QueueProfile) -> str | None:
        """The port's QoS/Queue rows (OVS builds the HTB classes), then short leaf queues (userspace
        datapath, see `qosapp.adapters.tcbridge`); its filters come with `classify`."""
        ceilings = {q.id: q.max_rate or profile.max_rate for q in profile.queues}
        if dpid in self.adopting and self.ovsdb.port_qos(port_name) == expected_qos(profile):
            LOG.info("queues on %s already as wanted: kept", port_name)
        else:
            self.ovsdb.apply_profile(port_name, profile)
        return tcbridge.shorten_leaves(port_name, ceilings, datapath_type=self.ovsdb.port_datapath_type(port_name))

    def rates(self, dpid: int, port_name: str) -> dict[str, Any] | None:
        """What the port's HTB classes really hold: read from tc where it can see the port, else from OVSDB."""
        applied = tcbridge.class_rates(port_name) if os.geteuid() == 0 else None
        if applied is not None:
            return {"source": "tc", **applied}
        qos = self.ovsdb.port_qos(port_name)
        if qos is None:
            return None
        queues = {str(qid): {key: spec[key] for key in ("min-rate", "max-rate") if isinstance(spec.get(key), int)}
                  for qid, spec in qos["queues"].items()}
        return {"source": "ovsdb", "max-rate": qos["max-rate"], "queues": queues}

    def clear(self, dpid: int, port_name: str) -> None:
        """Detach and delete our rows; OVS removes the qdisc and with it the filters."""
        self.ovsdb.clear_port(port_name)

    def classify(self, dpid: int, port_name: str, filters: tuple[PortFilter, ...]) -> str | None:
        """One tc u32 filter per flow that enqueues into this port (userspace datapath only)."""
        return tcbridge.install_port_filters(port_name, filters, adopt=dpid in self.adopting,
                                             datapath_type=self.ovsdb.port_datapath_type(port_name))

    def close(self) -> None:
        self.ovsdb.close()


def expected_qos(profile: QueueProfile) -> dict[str, Any]:
    """What `OvsdbClient.port_qos` shows for a port after `apply_profile(profile)`."""
    queues = {}
    for queue in profile.queues:
        rates = {key: value for key, value in (("min-rate", queue.min_rate), ("max-rate", queue.max_rate))
                 if value is not None}
        queues[queue.id] = {**rates, "dscp": None}
    return {"type": "linux-htb", "max-rate": profile.max_rate, "owned": True, "queues": queues}
