"""The queue backend the core drives: OVSDB rows, then tc filters.

`OvsQueues` implements `qosapp.core.shaping.QueueBackend` for a local Open vSwitch:
the profile becomes QoS/Queue rows through `qosapp.adapters.ovsdb`, and, on a
userspace (netdev) bridge, one tc u32 filter per queue through
`qosapp.adapters.tcbridge` (why: see the README's "Queues" section). The filters
vanish whenever OVS rewrites the port's qdisc, so they are installed after
every row write, here, in one place.
"""
from __future__ import annotations

import logging

from qosapp.adapters import tcbridge
from qosapp.adapters.ovsdb import OvsdbClient
from qosapp.core.queues import QueueProfile

LOG = logging.getLogger(__name__)


class OvsQueues:
    """Queue profiles on the ports of the OVS behind one OVSDB remote."""

    def __init__(self, remote: str, timeout: float = 5.0) -> None:
        self.ovsdb = OvsdbClient(remote, timeout=timeout)

    def apply(self, dpid: int, port_name: str, profile: QueueProfile) -> str | None:
        """Rows first (OVS builds the HTB classes), then the DSCP filters."""
        dscps = self.ovsdb.apply_profile(port_name, profile)
        datapath_type = self.ovsdb.port_datapath_type(port_name)
        if not dscps:
            if datapath_type == "netdev":
                return "only queue 0 (HTB's default class): no DSCP filters needed"
            return f"{datapath_type or 'system'} datapath: set_queue selects the HTB class, no DSCP filters needed"
        ceilings = {q.id: q.max_rate or profile.max_rate for q in profile.queues}
        result = tcbridge.install_queue_filters(port_name, dscps, datapath_type=datapath_type, ceilings=ceilings)
        if result.skipped:
            return f"DSCP filters not installed: {result.skipped}"
        return None

    def clear(self, dpid: int, port_name: str) -> None:
        """Detach and delete our rows; OVS removes the qdisc and with it the filters."""
        self.ovsdb.clear_port(port_name)

    def close(self) -> None:
        self.ovsdb.close()
