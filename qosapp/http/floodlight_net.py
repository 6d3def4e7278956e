"""Floodlight's device manager and routing routes, as circuitpusher.py / qospath2.py read them.

- `GET /wm/device/?ipv4=<ip>` (also `mac=`): the hosts qos-sdn learned, each as
  Floodlight's device JSON (`mac`, `ipv4`, `vlan` lists, `attachmentPoint`
  `[{"switchDPID", "port", "errorStatus"}]`); no match is `[]`, as Floodlight.
- `GET /wm/topology/route/<dpid>/<port>/<dpid>/<port>/json`: the shortest
  route between two attachment points as Floodlight's list of
  `{"switch", "port"}`, two per switch (in, then out).

Reads of the topology only; the QoS along the route goes through
/wm/qos/policy/json (qospath2's way) or the native /qos/paths.
"""
from __future__ import annotations

from typing import Any

from ryu.app.wsgi import route
from webob import Request

from qosapp.core.controller import NotFound
from qosapp.core.model import ValidationError, format_dpid, parse_dpid, parse_int, parse_ipv4, parse_mac
from qosapp.core.topology import Host, NoPath
from qosapp.http.common import CoreController, handler

ENTITY_CLASS = "DefaultEntityClass"


def device_to_floodlight(host: Host) -> dict[str, Any]:
    return {"entityClass": ENTITY_CLASS, "mac": [host.mac], "ipv4": [host.ip] if host.ip else [], "vlan": [],
            "attachmentPoint": [{"switchDPID": format_dpid(host.dpid), "port": host.port, "errorStatus": None}]}


class FloodlightNetController(CoreController):
    """/wm/device and /wm/topology/route on qos-sdn's learned topology."""

    @route("fl_devices", "/wm/device/", methods=["GET"])
    @handler
    def devices(self, req: Request) -> Any:
        hosts = self.core.fabric.topology.hosts()
        if "ipv4" in req.GET:
            ip = parse_ipv4(req.GET["ipv4"], "ipv4")
            hosts = [h for h in hosts if h.ip == ip]
        if "mac" in req.GET:
            mac = parse_mac(req.GET["mac"], "mac")
            hosts = [h for h in hosts if h.mac == mac]
        return [device_to_floodlight(h) for h in hosts]

    @route("fl_route", "/wm/topology/route/{src}/{src_port}/{dst}/{dst_port}/json", methods=["GET"])
    @handler
    def route_between(self, req: Request, src: str, src_port: str, dst: str, dst_port: str) -> Any:
        a = (parse_dpid(src, "src-dpid"), parse_int(src_port, "src-port", 1, 0xFFFFFF00))
        b = (parse_dpid(dst, "dst-dpid"), parse_int(dst_port, "dst-port", 1, 0xFFFFFF00))
        topology = self.core.fabric.topology
        for dpid, field in ((a[0], "src-dpid"), (b[0], "dst-dpid")):
            if dpid not in topology.switches:
                raise NotFound(f"switch {format_dpid(dpid)} is not in the topology", field)
        try:
            hops = topology.hops_between(a, b)
        except NoPath:
            raise ValidationError("dst-dpid", f"no route from {format_dpid(a[0])} to {format_dpid(b[0])}",
                                  status=409) from None
        out: list[dict[str, Any]] = []
        for hop in hops:
            out.append({"switch": format_dpid(hop.dpid), "port": hop.in_port})
            out.append({"switch": format_dpid(hop.dpid), "port": hop.out_port})
        return out
