"""OpenFlow port numbers that are not switch ports (pure).

Above `MAX_PORT_NO` are the pseudo ports (IN_PORT, FLOOD, ALL, CONTROLLER,
LOCAL, ANY); OpenFlow 1.0 numbers LOCAL 0xfffe, which OVSDB reports too.
A reserved port is never a link, never a host port and never shaped.
"""
from __future__ import annotations

#: Ports above this are reserved (IN_PORT, FLOOD, CONTROLLER, LOCAL...).
MAX_PORT_NO = 0xFFFFFF00
#: The bridge's own port as OpenFlow 1.0 and OVSDB number it (1.3: 0xfffffffe).
OF10_LOCAL = 0xFFFE
OF13_LOCAL = 0xFFFFFFFE
LOCAL_PORTS = frozenset({OF10_LOCAL, OF13_LOCAL})


def is_reserved_port(port_no: int) -> bool:
    """LOCAL and the OpenFlow pseudo ports."""
    return port_no in LOCAL_PORTS or port_no > MAX_PORT_NO

#: OpenFlow's IN_PORT pseudo port, as flow specs name it (`qosapp.ofp` encodes it per version):
#: "send the packet back out of the port it came in by". A policy's "enqueue-port": "in_port".
IN_PORT = "IN_PORT"
