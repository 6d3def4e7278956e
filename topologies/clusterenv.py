"""A qos-sdn cluster on one machine: etcd members, qos-controller instances, switches on all of them.

Used by the cluster integration test and `bench/cluster.py` (and the
README's one-machine recipe does the same by hand). Everything is ours and
stopped by PID: the etcd members (`topologies.etcdenv`), the controllers
(`topologies.controller`), the Mininet network (`topologies.network`, every
bridge connected to every instance).

The readings go through each instance's `GET /qos/cluster` (who masters
which switch, the role the switch confirmed and when) and OVS's own
Controller rows (the role OVS gives each connection).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from topologies.controller import ControllerProcess
from topologies.etcdenv import EtcdCluster
from topologies.network import start_network, stop_network
from topologies.ovsenv import OvsEndpoint

#: the queue policies' flows: 'Q' cookies (qosapp.core.cookies)
POLICY_COOKIES = "cookie=0x5100000000000000/0xff00000000000000"


def dpid_text(number: int) -> str:
    return f"00:00:00:00:00:00:00:{number:02x}"


@dataclass
class ClusterBed:
    """`members` etcd members, `size` controllers, linear,`switches` (s1..sN, h1..hN)."""

    workdir: Path
    ovs: OvsEndpoint
    size: int = 3
    switches: int = 10
    lease_ttl: int = 2
    members: int = 3
    etcd: EtcdCluster | None = None
    ctls: list[ControllerProcess] = field(default_factory=list)
    net: Any = None
    #: index of an instance that is down (killed), if any
    killed: int | None = None

    @property
    def dpids(self) -> list[str]:
        return [dpid_text(n) for n in range(1, self.switches + 1)]

    def instance(self, index: int, rest_port: int | None = None, ofp_port: int | None = None) -> ControllerProcess:
        assert self.etcd is not None
        return ControllerProcess(
            self.workdir / f"c{index}", rest_port=rest_port, ofp_port=ofp_port, ovsdb=self.ovs.db_remote,
            log_path=self.workdir / f"c{index}.log",
            extra_args=["--store", self.etcd.url, "--forwarding", "normal", "--member-id", f"c{index}",
                        "--lease-ttl", str(self.lease_ttl)])

    def start(self, settle: float = 40.0) -> "ClusterBed":
        self.etcd = EtcdCluster(self.workdir / "etcd", size=self.members).start()
        self.ctls = [self.instance(i) for i in range(self.size)]
        for ctl in self.ctls:
            ctl.start()
        self.net = start_network(f"linear,{self.switches}",
                                 controller=[("127.0.0.1", c.ofp_port) for c in self.ctls],
                                 protocols="OpenFlow13", wait_connected=30)
        self.wait(lambda: self.settled(self.size), settle, "every switch mastered")
        return self

    def stop(self) -> None:
        if self.net is not None:
            stop_network(self.net)
            self.net = None
        for ctl in self.ctls:
            ctl.stop()
        if self.etcd is not None:
            self.etcd.stop()

    # ------------------------------------------------------------ instances
    def live(self) -> list[ControllerProcess]:
        return [c for i, c in enumerate(self.ctls) if i != self.killed]

    def by_member(self, member: str) -> ControllerProcess:
        return self.ctls[int(member[1:])]

    def kill(self, member: str) -> float:
        """kill -9 the instance; returns when (epoch seconds)."""
        at = time.time()
        self.by_member(member).kill()
        self.killed = int(member[1:])
        return at

    def restart(self) -> ControllerProcess:
        """Start the killed instance again on its ports (it registers anew and takes a share back)."""
        assert self.killed is not None
        index, old = self.killed, self.ctls[self.killed]
        self.ctls[index] = self.instance(index, rest_port=old.rest_port, ofp_port=old.ofp_port).start()
        self.killed = None
        return self.ctls[index]

    # ------------------------------------------------------------ readings
    def cluster(self, ctl: ControllerProcess) -> dict[str, Any]:
        code, view = ctl.request("GET", "/qos/cluster")
        if code != 200:
            raise AssertionError(f"GET /qos/cluster on {ctl.url}: {code} {view}")
        return view

    def masters(self, ctl: ControllerProcess) -> dict[str, str | None]:
        """dpid -> master member, as this instance sees the keys."""
        return {s["dpid"]: s["master"] for s in self.cluster(ctl)["switches"]}

    def settled(self, members: int) -> bool:
        """`members` live members, every switch mastered by one that confirmed its MASTER role, all agree."""
        views = [self.cluster(c) for c in self.live()]
        if any(len(v["members"]) != members for v in views):
            return False
        seen = [{s["dpid"]: s["master"] for s in v["switches"]} for v in views]
        if any(set(m) != set(self.dpids) or None in m.values() for m in seen) or any(m != seen[0] for m in seen):
            return False
        for dpid, member in seen[0].items():
            own = {s["dpid"]: s for s in self.cluster(self.by_member(str(member)))["switches"]}
            if own[dpid]["role-confirmed"] != "master":
                return False
        return True

    def remastered(self, switches: list[str], victim: str) -> dict[str, float]:
        """Of `switches`, those a live instance other than `victim` masters with its role confirmed:
        dpid -> when the switch's role reply came (epoch seconds)."""
        out: dict[str, float] = {}
        for ctl in self.live():
            try:
                view = self.cluster(ctl)
            except OSError:
                continue
            for s in view["switches"]:
                if s["dpid"] in switches and s["master"] == view["me"] != victim and \
                        s["role-confirmed"] == "master" and s["role-reply-at"]:
                    out.setdefault(s["dpid"], float(s["role-reply-at"]))
        return out

    def ovs_roles(self, bridge: str) -> dict[int, str]:
        """The bridge's controllers as OVS sees them: controller port -> role (master / slave / other).

        ovs-vswitchd writes these status columns to OVSDB every few seconds, not at once: callers wait."""
        uuids = self.ovs.vsctl("get", "Bridge", bridge, "controller").strip().strip("[]").replace(" ", "").split(",")
        out = {}
        for uuid in uuids:
            target = self.ovs.vsctl("get", "Controller", uuid, "target").strip().strip('"')
            out[int(target.rsplit(":", 1)[1])] = self.ovs.vsctl("get", "Controller", uuid, "role").strip()
        return out

    def flow_cookies(self, bridge: str) -> set[int]:
        out = set()
        for line in self.ovs.ofctl("-O", "OpenFlow13", "dump-flows", bridge).splitlines():
            for word in line.replace(",", " ").split():
                if word.startswith("cookie="):
                    out.add(int(word.split("=", 1)[1], 16))
        return out

    def policy_flow_count(self, bridge: str) -> int:
        """How many policy flows ('Q' cookies, the pipeline and table-miss included) the bridge holds."""
        text = self.ovs.ofctl("-O", "OpenFlow13", "dump-aggregate", bridge, POLICY_COOKIES)
        return int(text.rsplit("flow_count=", 1)[1].split()[0])

    @staticmethod
    def wait(predicate: Any, timeout: float, what: str, interval: float = 0.2) -> float:
        from topologies.netutil import wait_until
        return wait_until(predicate, timeout, what, interval)
