"""A QoS path as the user states it: validation and the rules two paths must not break (pure).

Split from `qosapp.core.paths` (route planning over the topology graph) so
that the CLI (`pusher/`) can validate a path locally without importing the
planner and networkx with it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from qosapp.core.model import DEFAULT_PRIORITY, L4_PROTOCOLS, ValidationError, parse_int, parse_ipv4, parse_ipv6, parse_name

FORWARD = "forward"
BOTH = "both"
DIRECTIONS = (BOTH, FORWARD)

INSTALLED = "installed"
PENDING = "pending"
MISSING_QUEUES = "missing-queues"

PATH_KEYS = {"name", "src", "dst", "protocol", "src-port", "dst-port", "queue", "service",
             "direction", "priority", "id"}


@dataclass(frozen=True)
class PathSpec:
    """What the user asked for: hosts by IP, optional L4 match, one action."""

    name: str
    src: str
    dst: str
    protocol: int | None = None
    src_port: int | None = None
    dst_port: int | None = None
    queue: int | None = None
    service: str | None = None
    direction: str = BOTH
    priority: int = DEFAULT_PRIORITY
    id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "src": self.src, "dst": self.dst}
        for key, value in (("protocol", self.protocol), ("src-port", self.src_port),
                           ("dst-port", self.dst_port), ("queue", self.queue), ("service", self.service)):
            if value is not None:
                out[key] = value
        out["direction"] = self.direction
        out["priority"] = self.priority
        if self.id is not None:
            out["id"] = self.id
        return out


def _parse_host_ip(value: Any, field_name: str) -> str:
    """A single host address, IPv4 or IPv6 (hex groups): a path ends at a host, not at a prefix."""
    if value is None:
        raise ValidationError(field_name, "required: the host's IPv4 or IPv6 address")
    ip = parse_ipv6(value, field_name) if isinstance(value, str) and ":" in value else parse_ipv4(value, field_name)
    if "/" in ip:
        raise ValidationError(field_name, f"must be one host address, not the prefix {ip}")
    return ip


def is_ipv6(ip: str) -> bool:
    """An address as `parse_path` keeps it: IPv6 ones are the ones with a colon."""
    return ":" in ip


def parse_path(data: Any, services: Mapping[str, Any] | None = None) -> PathSpec:
    """Validate a path body; errors name the field, as for policies.

    `services` is the set of known service names (None skips that check).
    """
    if not isinstance(data, Mapping):
        raise ValidationError("body", "a path must be a JSON object")
    unknown = set(data) - PATH_KEYS
    if unknown:
        raise ValidationError(str(sorted(unknown, key=str)[0]),
                              f"unknown key; allowed: {', '.join(sorted(PATH_KEYS - {'id'}))}")
    name = parse_name(data.get("name"))
    src = _parse_host_ip(data.get("src"), "src")
    dst = _parse_host_ip(data.get("dst"), "dst")
    if src == dst:
        raise ValidationError("dst", f"must differ from src ({src})")
    if is_ipv6(src) != is_ipv6(dst):
        raise ValidationError("dst", f"{dst} and src {src} must both be IPv4 or both IPv6")
    protocol = parse_int(data["protocol"], "protocol", 0, 255) if data.get("protocol") is not None else None
    ports = {key: parse_int(data[key], key, 0, 65535) if data.get(key) is not None else None
             for key in ("src-port", "dst-port")}
    l4 = [key for key, value in ports.items() if value is not None]
    if l4 and protocol not in L4_PROTOCOLS:
        raise ValidationError(l4[0], "L4 ports need protocol 6 (TCP) or 17 (UDP)")
    direction = data.get("direction", BOTH)
    if direction not in DIRECTIONS:
        raise ValidationError("direction", f"must be 'both' or 'forward', got {str(direction)[:40]!r}")
    priority = parse_int(data.get("priority", DEFAULT_PRIORITY), "priority", 0, 65535)
    queue, service = _parse_action(data, services)
    return PathSpec(name=name, src=src, dst=dst, protocol=protocol, src_port=ports["src-port"],
                    dst_port=ports["dst-port"], queue=queue, service=service, direction=direction,
                    priority=priority)


def _parse_action(data: Mapping[str, Any], services: Mapping[str, Any] | None) -> tuple[int | None, str | None]:
    """Exactly one of queue / service; the out ports come from the route."""
    has_queue, has_service = data.get("queue") is not None, data.get("service") is not None
    if has_queue and has_service:
        raise ValidationError("service", "a path takes exactly one action: queue or service, not both")
    if not has_queue and not has_service:
        raise ValidationError("queue", "a path needs an action: queue or service")
    if has_queue:
        return parse_int(data["queue"], "queue", 0, 0xFFFFFFFE), None
    service = parse_name(data["service"], "service")
    if services is not None and service not in services:
        raise ValidationError("service", f"unknown service {service!r}; known: {', '.join(sorted(services))}",
                              status=409)
    return None, service


def traffic_classes(path: PathSpec) -> set[tuple[Any, ...]]:
    """The directed traffic a path's flows match, with its priority: one class, or two for BOTH.

    Two paths that share a class install the same match at the same
    priority on (at least) the source host's switch, where both routes
    start at the host's port: the switch keeps one flow, and deleting
    either path removes the QoS of the other.
    """
    classes = {(path.src, path.dst, path.protocol, path.src_port, path.dst_port, path.priority)}
    if path.direction == BOTH:
        classes.add((path.dst, path.src, path.protocol, path.dst_port, path.src_port, path.priority))
    return classes


def clashing_path(path: PathSpec, others: Iterable[PathSpec]) -> PathSpec | None:
    """Another path (by name) that matches some of the same traffic at the same priority, or None."""
    mine = traffic_classes(path)
    return next((other for other in others if other.name != path.name and mine & traffic_classes(other)), None)


# ---------------------------------------------------------------- hops -> policies
