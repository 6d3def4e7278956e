"""QoS along a path between two hosts, in one or both directions (pure).

The seed's QoSPath pushed a policy on each switch of a route it was given,
one way only, without the ingress port. Here a path names two hosts by IP;
the route comes from the discovered `Topology`, and each hop gets a policy
with the right ingress port and the path's out port, for each direction.

Flow:   parse_path (validate, in `qosapp.core.pathspec`)  ->  plan_path(path, topology, queue_exists)
        -> PathState: installed (hops + per-hop policies) | pending (why) |
           missing-queues (which (dpid, port))
        -> path_flows(...) -> FlowSpecs per switch, one cookie per path.
When the topology changes, `needs_reroute(path, state, topology)` says
whether to plan again; `reinstall_ops(old, new, ...)` says what to send.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from qosapp.core.compiler import FORWARDING_TABLE, NORMAL, OF13, FlowDelete, FlowSpec, compile_actions, compile_match
from qosapp.core.model import IPV4, IPV6, Match, Policy, format_dpid
from qosapp.core.topology import Endpoint, Hop, NoPath, Shortcuts, Topology, UnknownHost
from qosapp.core.cookies import path_cookie
from qosapp.core.pathspec import BOTH, INSTALLED, MISSING_QUEUES, PENDING, PathSpec, is_ipv6
from qosapp.core.shaping import QueueExists, missing_reason
from qosapp.core import shaping


@dataclass(frozen=True)
class HopRule:
    """One direction at one hop: the policy, and the port it must leave by."""

    direction: str  # "fwd" | "rev"
    hop: Hop
    policy: Policy


def policy_name(path: PathSpec, direction: str, dpid: int) -> str:
    """Deterministic, so a re-plan yields the same names: path:<name>:fwd:<dpid hex>."""
    return f"path:{path.name}:{direction}:{dpid:016x}"


def _match(path: PathSpec, hop: Hop, reverse: bool) -> Match:
    """The forward 5-tuple, or its mirror (IPs and L4 ports swapped)."""
    src, dst = (path.dst, path.src) if reverse else (path.src, path.dst)
    tp_src, tp_dst = (path.dst_port, path.src_port) if reverse else (path.src_port, path.dst_port)
    if is_ipv6(src):
        return Match(in_port=hop.in_port, eth_type=IPV6, ip_proto=path.protocol, ipv6_src=src,
                     ipv6_dst=dst, tp_src=tp_src, tp_dst=tp_dst)
    return Match(in_port=hop.in_port, eth_type=IPV4, ip_proto=path.protocol, ipv4_src=src,
                 ipv4_dst=dst, tp_src=tp_src, tp_dst=tp_dst)


def hop_rules(path: PathSpec, forward: list[Hop], reverse: list[Hop]) -> list[HopRule]:
    """Per hop, per direction: a switch-specific policy (ingress port, out port)."""
    rules: list[HopRule] = []
    for tag, hops in (("fwd", forward), ("rev", reverse)):
        for hop in hops:
            policy = Policy(name=policy_name(path, tag, hop.dpid), match=_match(path, hop, tag == "rev"),
                            sw=format_dpid(hop.dpid), queue=path.queue,
                            enqueue_port=hop.out_port if path.queue is not None else None,
                            service=path.service, priority=path.priority)
            rules.append(HopRule(tag, hop, policy))
    return rules


def route(path: PathSpec, topology: Topology) -> tuple[list[Hop], list[Hop]]:
    """(forward hops, reverse hops); reverse is the forward route walked back.

    The same cables both ways keeps the two directions' QoS on the same
    ports. Raises UnknownHost or NoPath.
    """
    forward = topology.hops(path.src, path.dst)
    reverse = [hop.reversed() for hop in reversed(forward)] if path.direction == BOTH else []
    return forward, reverse


def compile_path(path: PathSpec, topology: Topology) -> list[Policy]:
    """The per-hop policies of `path` on the current topology (raises if unroutable)."""
    forward, reverse = route(path, topology)
    return [rule.policy for rule in hop_rules(path, forward, reverse)]


def missing_queues(queue: int, hops: list[Hop], queue_exists: QueueExists) -> list[tuple[int, int]]:
    """(dpid, out port) pairs along `hops` that lack `queue` (`qosapp.core.shaping.missing_queues`)."""
    return shaping.missing_queues(queue, [(h.dpid, h.out_port) for h in hops], queue_exists)


# ---------------------------------------------------------------- state
@dataclass(frozen=True)
class PathState:
    """Where a path stands on the topology of `version`.

    `rules` is non-empty only when state is INSTALLED (meaning: these are the
    flows to have on the switches). PENDING keeps `reason`; MISSING_QUEUES
    keeps the route and `missing` (dpid, port) pairs, and installs nothing.
    """

    state: str
    version: int
    forward: tuple[Hop, ...] = ()
    reverse: tuple[Hop, ...] = ()
    reason: str | None = None
    missing: tuple[tuple[int, int], ...] = ()
    rules: tuple[HopRule, ...] = field(default=(), repr=False)
    #: the route's links (src endpoint, dst endpoint), both directions if `reverse`: `_route_intact` looks here
    links: frozenset[tuple[Endpoint, Endpoint]] = field(init=False, repr=False, compare=False)
    #: those of `links` the topology lacked when planned (the reverse of a cable LLDP saw one way only)
    gaps: frozenset[tuple[Endpoint, Endpoint]] = field(default=frozenset(), repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "links", route_links(self.forward, bool(self.reverse)))

    def policies(self) -> list[Policy]:
        return [rule.policy for rule in self.rules]

    def to_dict(self) -> dict[str, Any]:
        """GET /qos/paths/{name}: state, hops each way, and why not when not."""
        out: dict[str, Any] = {"state": self.state, "topology-version": self.version,
                               "hops": [h.to_dict() for h in self.forward]}
        if self.reverse:
            out["reverse-hops"] = [h.to_dict() for h in self.reverse]
        if self.reason:
            out["reason"] = self.reason
        if self.missing:
            out["missing-queues"] = [{"dpid": format_dpid(d), "port": p} for d, p in self.missing]
        return out


def route_links(hops: tuple[Hop, ...], both: bool) -> frozenset[tuple[Endpoint, Endpoint]]:
    """The links between consecutive hops, and their reverse directions when `both`."""
    links = {((a.dpid, a.out_port), (b.dpid, b.in_port)) for a, b in zip(hops, hops[1:])}
    if both:
        links |= {(dst, src) for src, dst in links}
    return frozenset(links)


def plan_path(path: PathSpec, topology: Topology, queue_exists: QueueExists | None = None) -> PathState:
    """Route `path` on `topology` and decide whether it can be installed.

    `queue_exists` is consulted for queue paths on every out port of both
    directions; None skips the check (e.g. no OVSDB connection).
    """
    try:
        forward, reverse = route(path, topology)
    except UnknownHost as err:
        return PathState(PENDING, topology.version, reason=f"unknown host {err.ip}: waiting to see its traffic")
    except NoPath as err:
        return PathState(PENDING, topology.version, reason=str(err))
    if len(forward) == 1 and forward[0].in_port == forward[0].out_port:
        return PathState(PENDING, topology.version, tuple(forward), tuple(reverse),
                         reason=f"{path.src} and {path.dst} share port {forward[0].in_port}: nothing to route")
    if path.queue is not None and queue_exists is not None:
        missing = missing_queues(path.queue, forward + reverse, queue_exists)
        if missing:
            return PathState(MISSING_QUEUES, topology.version, tuple(forward), tuple(reverse),
                             reason=missing_reason(path.queue, missing), missing=tuple(missing),
                             gaps=_gaps(forward, reverse, topology))
    return PathState(INSTALLED, topology.version, tuple(forward), tuple(reverse),
                     rules=tuple(hop_rules(path, forward, reverse)), gaps=_gaps(forward, reverse, topology))


def _gaps(forward: list[Hop], reverse: list[Hop], topology: Topology) -> frozenset[tuple[Endpoint, Endpoint]]:
    """The route's links missing from `topology` now (only ever reverse directions: forward was searched)."""
    return frozenset(link for link in route_links(tuple(forward), bool(reverse))
                     if not topology.has_link(*link[0], *link[1]))


def _route_intact(path: PathSpec, state: PathState, topology: Topology) -> bool:
    """Are both hosts where the route starts/ends, and is every cable still there?

    Asked for every stored path on every topology event, so it looks only at
    the links removed since the plan (a few), not at every hop of the route;
    the hop-by-hop walk is for when the topology forgot that far back.
    """
    src, dst = topology.host_by_ip(path.src), topology.host_by_ip(path.dst)
    hops = state.forward
    if src is None or dst is None or not hops:
        return False
    if (src.dpid, src.port) != (hops[0].dpid, hops[0].in_port) or (dst.dpid, dst.port) != (hops[-1].dpid, hops[-1].out_port):
        return False
    removed = topology.links_removed_since(state.version)
    if removed is not None:
        suspects = state.gaps.union(link for link in removed if link in state.links)
        return all(topology.has_link(*src_end, *dst_end) for src_end, dst_end in suspects)
    return all(topology.has_link(*src_end, *dst_end) for src_end, dst_end in state.links)


def needs_reroute(path: PathSpec, state: PathState, topology: Topology,
                  shortcuts: Shortcuts | None = None) -> bool:
    """Should `path` be planned again after the topology moved on from `state`?

    Yes when a host moved or vanished, a cable of the route is gone, a
    pending path may now resolve, or (only if links/switches were added
    since) a strictly shorter route exists. An equally short alternative
    never triggers a re-route: that would flap flows for nothing.
    A MISSING_QUEUES path also needs `plan_path` again when queues change;
    that is not a topology event, so it is the caller's to notice.
    Pass one `Shortcuts` for all paths of one event: the "shorter route?"
    question is then a few BFS per added link instead of a search per path.
    """
    if topology.version == state.version:
        return False
    if state.state == PENDING:
        return True
    if not _route_intact(path, state, topology):
        return True
    if topology.grown_since(state.version):
        shortcuts = shortcuts or Shortcuts(topology)
        return shortcuts.shorter_exists(state.version, state.forward[0].dpid, state.forward[-1].dpid,
                                        len(state.forward))
    return False


# ---------------------------------------------------------------- flows
def rule_flow(rule: HopRule, cookie: int, version: int, services: Mapping[str, int]) -> FlowSpec:
    """One hop's flow. A marking hop outputs to the path's port, never NORMAL:
    NORMAL floods on a loopy fabric and might not follow the path anyway.
    """
    policy = rule.policy
    dscp = services.get(policy.service) if policy.service is not None else None
    actions = tuple(("output", rule.hop.out_port) if action in (("output", NORMAL), ("goto_table", FORWARDING_TABLE))
                    else action for action in compile_actions(policy, version, dscp))
    return FlowSpec(cookie=cookie, priority=policy.priority, match=compile_match(policy.match), actions=actions)


def path_flows(state: PathState, path_id: int, version_of: Callable[[int], int],
               services: Mapping[str, int]) -> dict[int, list[FlowSpec]]:
    """{dpid: flows} for an INSTALLED state; `version_of(dpid)` is that switch's OpenFlow version."""
    cookie = path_cookie(path_id)
    flows: dict[int, list[FlowSpec]] = {}
    for rule in state.rules:
        flows.setdefault(rule.hop.dpid, []).append(
            rule_flow(rule, cookie, version_of(rule.hop.dpid), services))
    return flows


def reinstall_ops(old: Mapping[int, list[FlowSpec]], new: Mapping[int, list[FlowSpec]],
                  version_of: Callable[[int], int]) -> dict[int, list[FlowSpec | FlowDelete]]:
    """Per switch, what to send to go from a path's old flows to its new ones.

    Switches whose flows did not change get nothing. On OpenFlow 1.3 the
    path's cookie deletes its flows on that switch, then the new ones are
    added; on 1.0 each old flow is deleted strictly. Delete (not modify)
    because a hop's match (the in_port) may change with the route.
    """
    ops: dict[int, list[FlowSpec | FlowDelete]] = {}
    for dpid in sorted(set(old) | set(new)):
        before, after = old.get(dpid, []), new.get(dpid, [])
        if before == after:
            continue
        deletes: list[FlowSpec | FlowDelete]
        if not before:
            deletes = []
        elif version_of(dpid) == OF13:
            deletes = [FlowDelete(cookie=before[0].cookie)]
        else:
            deletes = [FlowDelete(cookie=spec.cookie, strict=spec) for spec in before]
        ops[dpid] = [*deletes, *after]
    return ops
