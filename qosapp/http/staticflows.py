"""Static flow entries over HTTP: Floodlight's static flow pusher routes, and the native ones.

Floodlight (what circuitpusher.py sends and reads):
- `POST /wm/staticflowentrypusher/json` an entry (`qosapp.core.staticflows`):
  `{"status": "Entry pushed"}`; a name already stored is replaced, as in
  Floodlight (names are unique across switches).
- `DELETE /wm/staticflowentrypusher/json` `{"name": ...}` (a `switch` in the
  body must be the entry's): `{"status": "Entry <name> deleted"}`.
- `GET /wm/staticflowentrypusher/list/<switch|all>/json`: `{dpid: {name: flow-mod}}`,
  each flow-mod in the shape Floodlight's Jackson gave an OFFlowMod.
- `GET /wm/staticflowentrypusher/clear/<switch|all>/json`: deletes them.
- `GET /wm/core/switch/<switch|all>/flow/json`: `{dpid: [flow stats]}` for
  the flows the controller holds on each connected switch (forwarding,
  policies, paths, static entries) in Floodlight's OFFlowStatisticsReply
  shape; packetCount/byteCount as last polled for the cookie's flow (null
  when the cookie has several flows there or nothing was polled yet).

Unlike Floodlight's 200 for everything, a refused entry is a 400/404/409
with `status` ("Error! ...", naming the field and the reason) next to
qos-sdn's `error` and `field`; the seed's curl lines read only the body.

Native: `GET|POST /qos/static-flows`, `GET|DELETE /qos/static-flows/{name}`
(with each entry's install state on its switch).
"""
from __future__ import annotations

import ipaddress
import time
from typing import Any, Mapping

from ryu.app.wsgi import Response, route
from webob import Request

from qosapp.core.controller import NotFound
from qosapp.core.cookies import counted
from qosapp.core.model import ValidationError, format_dpid, parse_dpid
from qosapp.core.staticflows import StaticFlow, compile_static
from qosapp.http.common import BadMediaType, CoreController, error_body, handler, json_response, read_json, url_name

PUSHED = "Entry pushed"
#: OpenFlow 1.0 wildcard bits (OFPFW_*), for the `wildcards` Floodlight listed
WILDCARD_BITS = {"in_port": 1 << 0, "vlan_vid": 1 << 1, "eth_src": 1 << 2, "eth_dst": 1 << 3, "eth_type": 1 << 4,
                 "ip_proto": 1 << 5, "tp_src": 1 << 6, "tp_dst": 1 << 7, "vlan_pcp": 1 << 20, "ip_dscp": 1 << 21}
#: flow-spec action kind -> Floodlight's OFAction type name
ACTION_TYPES = {"output": "OUTPUT", "enqueue": "OPAQUE_ENQUEUE", "set_queue": "SET_QUEUE", "strip_vlan": "STRIP_VLAN",
                "pop_vlan": "POP_VLAN", "push_vlan": "PUSH_VLAN", "set_vlan_vid": "SET_VLAN_ID",
                "set_vlan_pcp": "SET_VLAN_PCP", "set_eth_src": "SET_DL_SRC", "set_eth_dst": "SET_DL_DST",
                "set_nw_tos": "SET_NW_TOS", "set_ipv4_src": "SET_NW_SRC", "set_ipv4_dst": "SET_NW_DST",
                "set_tp_src": "SET_TP_SRC", "set_tp_dst": "SET_TP_DST", "set_field": "SET_FIELD",
                "goto_table": "GOTO_TABLE", "meter": "METER"}
#: flow-spec port names -> OpenFlow 1.0 port numbers as Java's short printed them
PORT_NUMBERS = {"IN_PORT": -8, "NORMAL": -6, "FLOOD": -5, "ALL": -4, "CONTROLLER": -3, "LOCAL": -2}


def _prefix(value: str | None) -> tuple[str, int]:
    if value is None:
        return "0.0.0.0", 0
    net = ipaddress.IPv4Network(value)
    return str(net.network_address), net.prefixlen


def match_to_floodlight(fields: Mapping[str, Any]) -> dict[str, Any]:
    """OXM-style match fields as Floodlight's OFMatchJSONSerializer wrote an OFMatch."""
    src, src_len = _prefix(fields.get("ipv4_src"))
    dst, dst_len = _prefix(fields.get("ipv4_dst"))
    wildcards = sum(bit for name, bit in WILDCARD_BITS.items() if name not in fields)
    wildcards |= (32 - src_len) << 8 | (32 - dst_len) << 14
    return {"dataLayerDestination": fields.get("eth_dst", "00:00:00:00:00:00"),
            "dataLayerSource": fields.get("eth_src", "00:00:00:00:00:00"),
            "dataLayerType": f"0x{fields.get('eth_type', 0):04x}",
            "dataLayerVirtualLan": fields.get("vlan_vid", -1),
            "dataLayerVirtualLanPriorityCodePoint": fields.get("vlan_pcp", 0),
            "inputPort": fields.get("in_port", 0),
            "networkDestination": dst, "networkDestinationMaskLen": dst_len,
            "networkProtocol": fields.get("ip_proto", 0),
            "networkSource": src, "networkSourceMaskLen": src_len,
            "networkTypeOfService": fields.get("ip_dscp", 0) << 2,
            "transportDestination": fields.get("tp_dst", 0), "transportSource": fields.get("tp_src", 0),
            "wildcards": wildcards}


def _port_number(port: Any) -> int:
    return PORT_NUMBERS[port] if port in PORT_NUMBERS else int(port)


def action_to_floodlight(action: tuple[Any, ...]) -> dict[str, Any]:
    """One flow-spec action in the shape of Floodlight's OFAction JSON."""
    kind = action[0]
    out: dict[str, Any] = {"type": ACTION_TYPES.get(kind, kind.upper())}
    if kind == "output":
        out.update(port=_port_number(action[1]), maxLength=32767)
    elif kind == "enqueue":
        out.update(port=_port_number(action[1]), queueId=action[2])
    elif kind == "set_queue":
        out["queueId"] = action[1]
    elif kind == "set_field":
        out.update(field=action[1], value=action[2])
    elif kind == "goto_table":
        out["tableId"] = action[1]
    elif kind == "meter":
        out["meterId"] = action[1]
    elif len(action) > 1:
        out["value"] = action[1]
    return out


def flow_mod_to_floodlight(flow: StaticFlow, version: int) -> dict[str, Any]:
    """A static entry as Floodlight listed it: the OFFlowMod it would send."""
    spec = compile_static(flow, version)
    return {"type": "FLOW_MOD", "match": match_to_floodlight(spec.match_dict()), "cookie": spec.cookie,
            "command": 0, "idleTimeout": 0, "hardTimeout": 0, "priority": spec.priority, "bufferId": -1,
            "outPort": -1, "flags": 0, "actions": [action_to_floodlight(a) for a in spec.actions],
            "active": flow.active}


def _switch_arg(text: str) -> int | None:
    """`all` (None) or a dpid from the path."""
    text = url_name(text)
    return None if text.strip().lower() == "all" else parse_dpid(text, "switch")


def failure(err: ValidationError | NotFound | BadMediaType) -> Response:
    """A refusal with Floodlight's `status` text and qos-sdn's error, field and real status code."""
    if isinstance(err, ValidationError):
        body, code = error_body(err), err.status
    elif isinstance(err, NotFound):
        body, code = {"error": str(err), "field": err.field}, 404
    else:
        body, code = {"error": str(err), "field": "Content-Type"}, 415
    return json_response({"status": f"Error! {body['field']}: {body['error']}", **body}, code)


class StaticFlowController(CoreController):
    """/wm/staticflowentrypusher, /wm/core/switch/.../flow/json and /qos/static-flows."""

    def _push(self, req: Request) -> tuple[StaticFlow, bool]:
        return self.core.push_static_flow(read_json(req))

    # ------------------------------------------------------------ Floodlight
    @route("fl_static_push", "/wm/staticflowentrypusher/json", methods=["POST"])
    @handler
    def fl_push(self, req: Request) -> Any:
        try:
            self._push(req)
        except (ValidationError, NotFound, BadMediaType) as err:
            return failure(err)
        return {"status": PUSHED}

    @route("fl_static_delete", "/wm/staticflowentrypusher/json", methods=["DELETE"])
    @handler
    def fl_delete(self, req: Request) -> Any:
        try:
            body = read_json(req)
            if not isinstance(body, Mapping) or not isinstance(body.get("name"), str) or not body["name"]:
                raise ValidationError("name", "no name provided: the body is {\"name\": <entry name>}")
            flow = self.core.get_static_flow(body["name"])
            if body.get("switch") not in (None, "") and parse_dpid(body["switch"], "switch") != flow.dpid:
                raise NotFound(f"static flow entry {flow.name!r} is for switch {flow.switch}, not "
                               f"{format_dpid(parse_dpid(body['switch'], 'switch'))}", "switch")
            self.core.delete_static_flows([flow.name])
        except (ValidationError, NotFound, BadMediaType) as err:
            return failure(err)
        return {"status": f"Entry {flow.name} deleted"}

    @route("fl_static_list", "/wm/staticflowentrypusher/list/{switch}/json", methods=["GET"])
    @handler
    def fl_list(self, req: Request, switch: str) -> Any:
        dpid = _switch_arg(switch)
        out: dict[str, dict[str, Any]] = {} if dpid is None else {format_dpid(dpid): {}}
        for flow in self.core.static_flows_of(dpid):
            info = self.core.switches.get(flow.dpid)
            version = info.version if info is not None else 0x04
            out.setdefault(flow.switch, {})[flow.name] = flow_mod_to_floodlight(flow, version)
        return out

    @route("fl_static_clear", "/wm/staticflowentrypusher/clear/{switch}/json", methods=["GET"])
    @handler
    def fl_clear(self, req: Request, switch: str) -> Any:
        flows = self.core.delete_static_flows([f.name for f in self.core.static_flows_of(_switch_arg(switch))])
        return {"status": f"Deleted {len(flows)} static flow entries", "deleted": [f.name for f in flows]}

    @route("fl_switch_flows", "/wm/core/switch/{switch}/flow/json", methods=["GET"])
    @handler
    def fl_switch_flows(self, req: Request, switch: str) -> Any:
        dpid = _switch_arg(switch)
        if dpid is not None and dpid not in self.core.switches:
            raise NotFound(f"switch {format_dpid(dpid)} is not connected", "switch")
        self.core.stats.watch(time.monotonic())  # keep the flow counters polled while someone reads them
        return {format_dpid(d): self._flow_stats(d) for d in sorted(self.core.switches)
                if dpid is None or d == dpid}

    def _flow_stats(self, dpid: int) -> list[dict[str, Any]]:
        specs = self.core.flows_held(dpid)
        per_cookie: dict[int, int] = {}
        for spec in specs:
            per_cookie[spec.cookie] = per_cookie.get(spec.cookie, 0) + 1
        out = []
        for spec in specs:
            sample = None
            if counted(spec.cookie) and per_cookie[spec.cookie] == 1:
                series = self.core.stats.flow_series(spec.cookie).get(dpid)
                sample = series.last if series is not None else None
            out.append({"tableId": spec.table_id, "match": match_to_floodlight(spec.match_dict()),
                        "priority": spec.priority, "idleTimeout": 0, "hardTimeout": 0, "cookie": spec.cookie,
                        "packetCount": sample.packets if sample else None,
                        "byteCount": sample.bytes if sample else None,
                        "actions": [action_to_floodlight(a) for a in spec.actions]})
        return out

    # ------------------------------------------------------------ native
    @route("qos_static_flows", "/qos/static-flows", methods=["GET"])
    @handler
    def list_static(self, req: Request) -> Any:
        return [self.core.static_view(f) for f in self.core.static_flows_of(None)]

    @route("qos_static_flows_add", "/qos/static-flows", methods=["POST"])
    @handler
    def add_static(self, req: Request) -> Any:
        flow, replaced = self._push(req)
        return json_response(self.core.static_view(flow), 200 if replaced else 201)

    @route("qos_static_flow", "/qos/static-flows/{name}", methods=["GET"])
    @handler
    def get_static(self, req: Request, name: str) -> Any:
        return self.core.static_view(self.core.get_static_flow(url_name(name)))

    @route("qos_static_flow_delete", "/qos/static-flows/{name}", methods=["DELETE"])
    @handler
    def delete_static(self, req: Request, name: str) -> Any:
        return self.core.delete_static_flows([url_name(name)])[0].to_dict()

