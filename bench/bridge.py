"""The one switch under test: `br-bench` on a private Open vSwitch, userspace datapath.

Every controller gets a freshly made bridge (deleted and re-added), so no
flow, connection or counter carries over from the previous one. The bridge
speaks OpenFlow 1.3 only (rest_qos's rules need it), fails secure (no
standalone flows to confuse the count), has no in-band hidden flows, and a
30 s inactivity probe: a controller busy for several seconds (Ryu dumping
20,000 flows) must not be disconnected mid-measurement, which would turn a
timing into a reconnect storm.

"The switch holds all flows" is read from `dump-aggregate`'s flow_count,
which costs one small reply instead of a 20,000-line dump.
"""
from __future__ import annotations

import re
import time

from topologies.ovsenv import OvsEndpoint, OvsError

BRIDGE = "br-bench"
DPID = 1
DPID_HEX = f"{DPID:016x}"
PROBE_MS = 30000
_FLOW_COUNT = re.compile(r"flow_count=(\d+)")


class BenchBridge:
    """br-bench on `ovs`, pointed at one controller at a time."""

    def __init__(self, ovs: OvsEndpoint) -> None:
        self.ovs = ovs

    def reset(self, ofp_port: int) -> None:
        """Delete and re-create the bridge with its controller at tcp:127.0.0.1:ofp_port."""
        self.ovs.vsctl("--", "--if-exists", "del-br", BRIDGE,
                       "--", "add-br", BRIDGE,
                       "--", "set", "bridge", BRIDGE, "datapath_type=netdev", "protocols=OpenFlow13",
                       "fail_mode=secure", f"other-config:datapath-id={DPID_HEX}",
                       "other-config:disable-in-band=true",
                       "--", "set-controller", BRIDGE, f"tcp:127.0.0.1:{ofp_port}",
                       "--", "set", "controller", BRIDGE, f"inactivity_probe={PROBE_MS}")

    def remove(self) -> None:
        self.ovs.vsctl("--", "--if-exists", "del-br", BRIDGE)

    def flow_count(self) -> int:
        """Flows in all tables, from one OFPST_AGGREGATE request."""
        out = self.ovs.ofctl("-O", "OpenFlow13", "dump-aggregate", BRIDGE, timeout=30)
        found = _FLOW_COUNT.search(out)
        if not found:
            raise OvsError(f"no flow_count in dump-aggregate output: {out!r}")
        return int(found.group(1))

    def wait_flow_count(self, wanted: int, since: float, timeout: float, poll: float = 0.02) -> float | None:
        """Seconds from `since` (a perf_counter value) until flow_count == wanted; None on timeout."""
        deadline = time.perf_counter() + timeout
        while True:
            if self.flow_count() == wanted:
                return time.perf_counter() - since
            if time.perf_counter() > deadline:
                return None
            time.sleep(poll)

    def settle(self, quiet: float = 0.5, timeout: float = 20.0) -> int:
        """The flow count once it has stopped changing for `quiet` seconds (the controller's own flows)."""
        deadline = time.perf_counter() + timeout
        last, since = self.flow_count(), time.perf_counter()
        while time.perf_counter() < deadline:
            time.sleep(0.05)
            now = self.flow_count()
            if now != last:
                last, since = now, time.perf_counter()
            elif now > 0 and time.perf_counter() - since >= quiet:
                return now
        return last

    def connects(self, ofp_port: int) -> int:
        """How many times br-bench connected to the controller on `ofp_port` (1 = no reconnect).

        Read from ovs-vswitchd's log: the Controller row's status is refreshed
        only every few seconds, the log line is written at once.
        """
        log = self.ovs.logdir / "ovs-vswitchd.log"
        needle = f"{BRIDGE}<->tcp:127.0.0.1:{ofp_port}: connected"
        try:
            return sum(needle in line for line in log.read_text(errors="replace").splitlines())
        except OSError:
            return -1
