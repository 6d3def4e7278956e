"""Loop-free forwarding for traffic no policy matches: topology -> flow specs (pure).

OVS's NORMAL action floods, and on a ring or a fat-tree flooding without STP
is a broadcast storm. So forwarding is computed from the discovered graph:

- known unicast: one flow per host MAC per switch, out the port of a
  shortest path toward it (priority 10);
- broadcast and unknown unicast: one flow per (switch, in_port), by the
  port's role (`Topology.port_role`), priority 5:
  host port  -> the flood ports except the in_port, plus a copy to the
                controller (that is how hosts are learned from broadcasts);
  tree link  -> the flood ports except the in_port;
  other link -> dropped: a copy on a non-tree cable can only be a duplicate;
  unknown    -> controller only, and at priority 11, above the unicast
                flows: everything that comes in there. An unknown port may be
                a cable LLDP has not reported yet; never flooding what comes
                in there is what keeps a ring quiet while discovery is still
                running. And it may be a host the controller has not met:
                after a restart the hosts' ARP caches are warm, so a host
                whose frames all go to hosts already known would be
                forwarded by their unicast flows and never be seen (on the
                100-switch fabric, hosts stayed unknown for seconds, until
                they happened to broadcast). Once the app learns a host there
                the port is a host port and the trap goes.
  The flood ports are the spanning-tree link ports plus every non-link port
  (hosts, and unknown ports, so a silent host still hears ARP requests);
- ARP from a host port goes to the controller only (priority 11): the app
  learns the sender (an ARP reply is unicast and would otherwise never be
  seen) and sends the frame on; see `packet_in()`;
- IPv4 from a host port whose host is known without an IP address goes to
  the controller only (priority 11), until its IP is learned. A host first
  seen by a frame with no IPv4 sender (IPv6 router solicitation, neighbour
  discovery) is known by MAC, so its IPv4 traffic would be forwarded by the
  unicast flows and never reach the controller: with warm ARP caches its IP
  (and every QoS path naming it) would stay unknown forever. The app sends
  the trapped packet on; the trap goes as soon as the IP is known;
- LLDP to the controller (priority 65535), so link discovery survives the
  cold-start wipe; table-miss to the controller (priority 0).

Cookies (`qosapp.core.cookies`): 'F' (0x46) in the top byte, a kind byte, then the in_port or the
MAC. Each flow on a switch has its own cookie, so one flow can be deleted by
exact cookie on OpenFlow 1.3 (and strictly on 1.0) when the topology changes.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from qosapp.core.compiler import Action, FlowDelete, FlowOp, FlowSpec
from qosapp.core.cookies import forwarding_cookie
from qosapp.core.topology import HOST, LINK, UNKNOWN, Topology

#: Action port meaning "send to the controller" (ofmsgs maps it to OFPP_CONTROLLER).
CONTROLLER = "CONTROLLER"

KIND_MISS, KIND_LLDP, KIND_FLOOD, KIND_DST, KIND_ARP, KIND_IP_TRAP, KIND_UNKNOWN = 0, 1, 2, 3, 4, 5, 6

PRIORITY_LLDP = 65535
PRIORITY_ARP = 11
PRIORITY_IP_TRAP = 11  # same as ARP: above the unicast flows, disjoint match
PRIORITY_UNKNOWN = 11  # an unknown port's trap: above the unicast flows, only where no other port flow is
PRIORITY_DST = 10
PRIORITY_FLOOD = 5
PRIORITY_MISS = 0

ETH_TYPE_ARP = 0x0806
ETH_TYPE_IPV4 = 0x0800
ETH_TYPE_LLDP = 0x88CC
LLDP_MAC_NEAREST_BRIDGE = "01:80:c2:00:00:0e"
BROADCAST = "ff:ff:ff:ff:ff:ff"


def mac_int(mac: str) -> int:
    return int(mac.replace(":", ""), 16)


def _outputs(ports: Iterable[int | str]) -> tuple[Action, ...]:
    return tuple(("output", port) for port in ports)


def flood_ports(topology: Topology, dpid: int, in_port: int) -> list[int]:
    """Where a broadcast entering (dpid, in_port) goes: flood ports but in_port.

    Empty when in_port is an inter-switch port outside the tree: such a copy
    can only be a duplicate.
    """
    tree = topology.spanning_tree_ports().get(dpid, set())
    if in_port not in tree and topology.is_link_port(dpid, in_port):
        return []
    return sorted(tree - {in_port})


def out_ports(topology: Topology, dpid: int, in_port: int, eth_dst: str) -> list[int]:
    """Where a frame the app got by packet-in goes: toward its host, or flooded."""
    host = topology.host_by_mac(eth_dst)
    if host is not None:
        if host.dpid == dpid:
            return [host.port] if host.port != in_port else []
        port = topology.next_hops_to(host.dpid).get(dpid)
        if port is not None:
            return [port]
    return flood_ports(topology, dpid, in_port)


def packet_in(topology: Topology, dpid: int, in_port: int, eth_src: str, eth_dst: str,
              eth_type: int, ip: str | None = None) -> list[int]:
    """Learn from a packet-in and say which ports to send the frame out of.

    [] means drop it: the flows already forwarded it (a flood copy from a
    host port), or it is a duplicate (from a link, or a known host seen on
    an unknown port). Forwarded: ARP from a host port (its flow only traps),
    IPv4 from a host port whose IP trap was on (`ip_trap_on`, checked before
    learning: while the trap is on, no other flow forwards IPv4 from there),
    and the first frame of a new host on an unknown port. The caller then
    re-reads the topology version and updates flows.
    """
    if eth_type == ETH_TYPE_LLDP:
        return []
    role = topology.port_role(dpid, in_port)
    new_host = topology.host_by_mac(eth_src) is None
    trapped = role == HOST and eth_type == ETH_TYPE_IPV4 and ip_trap_on(topology, dpid, in_port)
    learned = topology.learn_host(eth_src, ip, dpid, in_port)
    if role == LINK:
        return []
    if role == HOST:
        return out_ports(topology, dpid, in_port, eth_dst) if eth_type == ETH_TYPE_ARP or trapped else []
    return out_ports(topology, dpid, in_port, eth_dst) if learned and new_host else []


def base_flows() -> list[FlowSpec]:
    """What every switch gets, whatever the topology: LLDP trap and table-miss."""
    return [
        FlowSpec(cookie=forwarding_cookie(KIND_LLDP), priority=PRIORITY_LLDP,
                 match=(("eth_type", ETH_TYPE_LLDP), ("eth_dst", LLDP_MAC_NEAREST_BRIDGE)),
                 actions=(("output", CONTROLLER),)),
        FlowSpec(cookie=forwarding_cookie(KIND_MISS), priority=PRIORITY_MISS, match=(),
                 actions=(("output", CONTROLLER),)),
    ]


def _flood_actions(role: str, port: int, tree: set[int]) -> tuple[Action, ...]:
    ports: list[int | str] = sorted(tree - {port}) if port in tree else []
    if role == HOST:
        ports.append(CONTROLLER)
    return _outputs(ports)


def ip_trap_on(topology: Topology, dpid: int, port: int) -> bool:
    """Does IPv4 from this host port go to the controller (a host there has no known IP)?"""
    return any(host.ip is None for host in topology.hosts_at(dpid, port))


def flood_flows(topology: Topology, dpid: int) -> list[FlowSpec]:
    """One flow per port of `dpid` for broadcast/unknown unicast, by port role.

    Host ports also trap ARP to the controller, and IPv4 while a host there
    has no known IP; an unknown port traps everything (see the module docstring).
    """
    tree = topology.spanning_tree_ports().get(dpid, set())
    specs: list[FlowSpec] = []
    for port in sorted(topology.ports(dpid)):
        role = topology.port_role(dpid, port)
        if role == HOST:
            specs.append(FlowSpec(cookie=forwarding_cookie(KIND_ARP, port), priority=PRIORITY_ARP,
                                  match=(("in_port", port), ("eth_type", ETH_TYPE_ARP)),
                                  actions=(("output", CONTROLLER),)))
            if ip_trap_on(topology, dpid, port):
                specs.append(FlowSpec(cookie=forwarding_cookie(KIND_IP_TRAP, port), priority=PRIORITY_IP_TRAP,
                                      match=(("in_port", port), ("eth_type", ETH_TYPE_IPV4)),
                                      actions=(("output", CONTROLLER),)))
        if role == UNKNOWN:
            specs.append(FlowSpec(cookie=forwarding_cookie(KIND_UNKNOWN, port), priority=PRIORITY_UNKNOWN,
                                  match=(("in_port", port),), actions=(("output", CONTROLLER),)))
            continue
        specs.append(FlowSpec(cookie=forwarding_cookie(KIND_FLOOD, port), priority=PRIORITY_FLOOD,
                              match=(("in_port", port),), actions=_flood_actions(role, port, tree)))
    return specs


def unicast_flow(mac: str, port: int) -> FlowSpec:
    """eth_dst `mac` -> out `port`: one switch's flow toward one host."""
    return FlowSpec(cookie=forwarding_cookie(KIND_DST, mac_int(mac)), priority=PRIORITY_DST,
                    match=(("eth_dst", mac),), actions=(("output", port),))


def unicast_flows(topology: Topology, dpid: int) -> list[FlowSpec]:
    """One flow per known host: eth_dst -> the port toward it (`next_hops_to`, cached)."""
    specs: list[FlowSpec] = []
    for host in topology.hosts():
        port = host.port if host.dpid == dpid else topology.next_hops_to(host.dpid).get(dpid)
        if port is None:  # not reachable yet: flooding still delivers
            continue
        specs.append(unicast_flow(host.mac, port))
    return specs


def forwarding_flows(topology: Topology, dpid: int) -> list[FlowSpec]:
    """Every forwarding flow switch `dpid` needs (same for OpenFlow 1.0 and 1.3)."""
    return [*base_flows(), *flood_flows(topology, dpid), *unicast_flows(topology, dpid)]


def diff_flows(old: Iterable[FlowSpec], new: Iterable[FlowSpec]) -> list[FlowOp]:
    """Operations turning flow set `old` into `new` on one switch.

    Flows are keyed by (priority, match), which is what a switch keys them
    by: a changed action is a plain re-add (OFPFC_ADD replaces it); a flow
    that is no longer wanted is deleted by its own cookie (1.3) or strictly
    (1.0). Deletes come first so a moved MAC never sees two flows.
    """
    old_by_key = {(s.priority, s.match): s for s in old}
    new_by_key = {(s.priority, s.match): s for s in new}
    deletes: list[FlowOp] = [FlowDelete(cookie=spec.cookie, strict=spec)
                              for key, spec in old_by_key.items() if key not in new_by_key]
    adds: list[FlowOp] = [spec for key, spec in new_by_key.items() if old_by_key.get(key) != spec]
    return deletes + adds


FlowKey = tuple[int, tuple[tuple[str, Any], ...]]


def flow_key(spec: FlowSpec) -> FlowKey:
    """What a switch keys a flow by within the table: (priority, match)."""
    return spec.priority, spec.match


def unicast_key(mac: str) -> FlowKey:
    """The key of the unicast flow toward `mac` (`unicast_flow`)."""
    return PRIORITY_DST, (("eth_dst", mac),)


def is_port_flow(spec: FlowSpec) -> bool:
    """Is it one of a port's flows (`flood_flows`: flood, ARP, IPv4 and unknown-port traps), not base or unicast?"""
    return spec.priority in (PRIORITY_FLOOD, PRIORITY_ARP, PRIORITY_IP_TRAP, PRIORITY_UNKNOWN)


def apply_wanted(held: dict[FlowKey, FlowSpec], wanted: Mapping[FlowKey, FlowSpec | None]) -> list[FlowOp]:
    """The ops that make the flows under `wanted`'s keys what it says (None: no flow); `held` follows.

    `diff_flows` for part of a table: keys not in `wanted` are left as they
    are. Deletes first, as there.
    """
    deletes: list[FlowOp] = []
    adds: list[FlowOp] = []
    for key, spec in wanted.items():
        old = held.get(key)
        if spec == old:
            continue
        if spec is None:
            deletes.append(FlowDelete(cookie=old.cookie, strict=old))  # type: ignore[union-attr]
            del held[key]
        else:
            adds.append(spec)
            held[key] = spec
    return deletes + adds
