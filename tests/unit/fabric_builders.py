"""Small topologies with hand-picked port numbers, shared by the topology,
path and forwarding tests, plus a flow-table walker that plays frames
through computed flows (so "no loop" is checked, not assumed).

Numbering is chosen so expected hops can be written out by hand:

ring(n): switch i has the host on port 1, the cable to i+1 on port 2 and the
cable to i-1 on port 3; host i is 10.0.0.i, MAC 00:00:00:00:00:0i.

fat_tree(4): cores 1-4; pod p has aggs 11+2p, 12+2p and edges 21+2p, 22+2p.
Edge ports 1-2 are hosts, 3-4 go to the pod's aggs; agg ports 1-2 go to the
pod's edges, 3-4 to cores 2a+1, 2a+2 (a = agg index); core port p+1 goes to
pod p. Host h (0, 1) of edge e of pod p is 10.p.e.(h+2) on port h+1.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from qosapp.core.compiler import FlowSpec
from qosapp.core.forwarding import CONTROLLER
from qosapp.core.topology import Topology


def cable(topo: Topology, a: int, pa: int, b: int, pb: int) -> None:
    """LLDP sees both directions of a cable."""
    topo.add_link(a, pa, b, pb)
    topo.add_link(b, pb, a, pa)


def mac_of(i: int) -> str:
    return f"00:00:00:00:00:{i:02x}"


def ring(n: int, hosts: bool = True) -> Topology:
    topo = Topology()
    for i in range(1, n + 1):
        topo.add_switch(i, [1, 2, 3])
    for i in range(1, n + 1):
        cable(topo, i, 2, i % n + 1, 3)
    if hosts:
        for i in range(1, n + 1):
            topo.learn_host(mac_of(i), f"10.0.0.{i}", i, 1)
    return topo


def fat_tree_k4(hosts: bool = True) -> Topology:
    topo = Topology()
    for c in range(1, 5):
        topo.add_switch(c, [1, 2, 3, 4])
    for p in range(4):
        for x in range(2):
            topo.add_switch(11 + 2 * p + x, [1, 2, 3, 4])
            topo.add_switch(21 + 2 * p + x, [1, 2, 3, 4])
    for p in range(4):
        for a in range(2):
            agg = 11 + 2 * p + a
            for e in range(2):
                cable(topo, 21 + 2 * p + e, 3 + a, agg, 1 + e)
            for j in range(2):
                cable(topo, agg, 3 + j, 2 * a + j + 1, p + 1)
    if hosts:
        for p in range(4):
            for e in range(2):
                for h in range(2):
                    topo.learn_host(f"00:00:00:{p:02x}:{e:02x}:{h + 2:02x}", f"10.{p}.{e}.{h + 2}",
                                    21 + 2 * p + e, h + 1)
    return topo


@dataclass
class Walk:
    """What one frame did: deliveries to edge ports, per-switch visits, packet-ins."""

    delivered: Counter = field(default_factory=Counter)  # (dpid, port) -> copies
    visits: Counter = field(default_factory=Counter)  # dpid -> copies processed
    to_controller: list[tuple[int, int]] = field(default_factory=list)  # (dpid, in_port)
    looped: bool = False


def _lookup(flows: list[FlowSpec], packet: dict[str, Any]) -> FlowSpec | None:
    best = None
    for spec in flows:
        if all(packet.get(k) == v for k, v in spec.match):
            if best is None or spec.priority > best.priority:
                best = spec
    return best


def walk(topo: Topology, flows: dict[int, list[FlowSpec]], dpid: int, in_port: int,
         eth_dst: str, eth_type: int = 0x0800, limit: int = 1000,
         cables: dict[tuple[int, int], tuple[int, int]] | None = None,
         packet_out: list[int] | None = None) -> Walk:
    """Play one frame through the flow tables, copying at every multi-output.

    `cables` are the physical links (default: the discovered ones), so a
    network whose cables LLDP has not reported yet can be played too.
    With `packet_out`, the frame starts as the controller sending it out of
    those ports of `dpid` (in_port is then only where it came from).
    """
    result = Walk()
    links = dict(topo.links()) if cables is None else cables
    queue: list[tuple[int, int]] = []
    if packet_out is None:
        queue.append((dpid, in_port))
    else:
        for out in packet_out:
            _emit(result, links, queue, dpid, out)
    while queue:
        if sum(result.visits.values()) > limit:
            result.looped = True
            break
        here, port = queue.pop(0)
        result.visits[here] += 1
        spec = _lookup(flows[here], {"in_port": port, "eth_dst": eth_dst, "eth_type": eth_type})
        if spec is None:
            continue
        for action in spec.actions:
            assert action[0] == "output"
            out = action[1]
            if out == CONTROLLER:
                result.to_controller.append((here, port))
            elif out != port:  # OpenFlow never sends back out the in_port
                _emit(result, links, queue, here, out)
    return result


def _emit(result: Walk, links: dict[tuple[int, int], tuple[int, int]], queue: list[tuple[int, int]],
          dpid: int, port: int) -> None:
    if (dpid, port) in links:
        queue.append(links[(dpid, port)])
    else:
        result.delivered[(dpid, port)] += 1


def ring_cables(n: int) -> dict[tuple[int, int], tuple[int, int]]:
    """The physical cables of ring(n), each direction, whether discovered or not."""
    out = {}
    for i in range(1, n + 1):
        out[(i, 2)] = (i % n + 1, 3)
        out[(i % n + 1, 3)] = (i, 2)
    return out
