"""The Ryu shell: OpenFlow events in, service calls, messages out.

No QoS logic lives here (that is `qosapp.core.controller`, run under one lock
by `qosapp.service`); this module only
- tells the service when switches come, go and change ports, and what
  packet-ins say,
- sends the flow operations the service hands it, each batch followed by a
  barrier, and reports the barrier reply (installed) or an OFPT_ERROR
  (rejected, with the reason) back by cookie,
- polls flow and queue counters,
- mounts the REST controllers on Ryu's WSGI server.
"""
from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import qosapp.main.compat  # noqa: F401  (must precede ryu.app.wsgi)
from ryu.app.wsgi import WSGIApplication
from ryu.base import app_manager
from ryu.controller import ofp_event
from ryu.controller.handler import DEAD_DISPATCHER, MAIN_DISPATCHER, set_ev_cls
from ryu.lib import hub
from ryu.ofproto import nicira_ext, ofproto_v1_0, ofproto_v1_3
from ryu.topology import event as topo_event

from qosapp.ofp import ofmsgs
from qosapp.http import rest
from qosapp.core.compiler import FlowOp, FlowSpec
from qosapp.core.meters import MeterMod
from qosapp.core.cookies import COUNTED_MASK, COUNTED_PREFIX, counted
from qosapp.main.config import SETTINGS
from qosapp.core.controller import QosCore
from qosapp.core.switchstate import Outstanding
from qosapp.adapters.ovsqueues import OvsQueues
from qosapp.adapters.store import Store
from qosapp.core.storeapi import StoreApi
from qosapp.ofp.green import green_service
from qosapp.ofp.shell import Multipart, error_reason, packet_in_fields, port_names, reply_more

if TYPE_CHECKING:  # imported where used: etcd3gw and requests load only for a cluster
    from qosapp.ofp.cluster import ClusterMember, StoreFollower

LOG = logging.getLogger("qosapp")
#: bytes per socket write when a batch of flow operations goes out
SEND_CHUNK = 64 * 1024


class QosApp(app_manager.RyuApp):
    OFP_VERSIONS = [ofproto_v1_0.OFP_VERSION, ofproto_v1_3.OFP_VERSION]
    _CONTEXTS = {"wsgi": WSGIApplication}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.datapaths: dict[int, Any] = {}
        #: per dpid: flow-mod and barrier xids whose answer is still to come
        self.outstanding: dict[int, Outstanding] = {}
        self.queues = OvsQueues(SETTINGS.ovsdb) if SETTINGS.manage_queues else None
        store: StoreApi
        if SETTINGS.store == "sqlite":
            # deferred sync: the REST handler fsyncs once before it answers (see qosapp.adapters.store)
            store = Store(SETTINGS.state_dir, deferred_sync=True)
        else:
            from qosapp.adapters.etcdstore import EtcdStore, parse_url
            store = self.etcd = EtcdStore(parse_url(SETTINGS.store))
        core = QosCore(store, manage_queues=self.queues is not None, forwarding=SETTINGS.forwarding)
        #: the core behind one lock; every event below goes through it
        self.core = green_service(core, send=self.send_ops, queues=self.queues, coalesce_topology=True)
        self.core.store.sync()  # what loading wrote (the built-in service on first start)
        rest.register(kwargs["wsgi"], self.core)
        #: stats replies still arriving in parts
        self.multipart = Multipart()
        self.poller = hub.spawn(self._poll_stats)
        #: a cluster (etcd store): the lease, mastership and roles; None on the SQLite store
        self.cluster: ClusterMember | None = None
        #: dpid -> xid of the flow stats request that reads the switch after a takeover
        self.reconciling: dict[int, int] = {}
        self.follower: StoreFollower | None = None
        if SETTINGS.store != "sqlite":
            from qosapp.adapters.etcdcluster import Membership
            from qosapp.ofp import cluster
            membership = Membership(self.etcd, SETTINGS.member_id, SETTINGS.lease_ttl,
                                    {"rest": f"http://{SETTINGS.rest_host}:{SETTINGS.rest_port}",
                                     "ofp": f"{SETTINGS.ofp_host}:{SETTINGS.ofp_port}"})
            self.cluster = cluster.ClusterMember(membership, self.core, self)
            self.follower = cluster.StoreFollower(self.etcd, self.core, on_cluster=self.cluster.changed)
        LOG.info("qos-sdn: state in %s, REST on %s:%s, OpenFlow on %s:%s, queues via %s",
                 SETTINGS.state_dir if SETTINGS.store == "sqlite" else SETTINGS.store,
                 SETTINGS.rest_host, SETTINGS.rest_port, SETTINGS.ofp_host, SETTINGS.ofp_port,
                 SETTINGS.ovsdb if self.queues else "(not managed)")

    # ------------------------------------------------------------ sending
    def send_ops(self, dpid: int, ops: list[FlowOp]) -> None:
        """Send one batch, then a barrier; remember cookies by xid.

        The batch leaves as a few large writes (SEND_CHUNK bytes each), not
        one queue item per message: Ryu's send queue holds 16 items, so a
        20,000-flow push would otherwise block and switch greenthreads
        20,000 times.
        """
        datapath = self.datapaths.get(dpid)
        if datapath is None:
            LOG.warning("dpid %016x not connected; dropping %d flow ops", dpid, len(ops))
            return
        book = self.outstanding.setdefault(dpid, Outstanding())
        meter_mods = sum(1 for op in ops if isinstance(op, MeterMod))
        self.core.stats.messages.flow_mods[dpid] += len(ops) - meter_mods
        self.core.stats.messages.meter_mods[dpid] += meter_mods
        cookies = []
        chunk: list[bytes] = []
        size = 0
        for op in ops:
            xid = ofmsgs.next_xid(datapath)
            buf = ofmsgs.to_bytes(datapath, op, xid)
            if isinstance(op, FlowSpec) or isinstance(op, MeterMod) and op.cookie:
                book.flow_mod(xid, op.cookie)  # a meter_mod's 'M' cookie traces its errors to the meter
                cookies.append(op.cookie)
            chunk.append(buf)
            size += len(buf)
            if size >= SEND_CHUNK:
                datapath.send(b"".join(chunk))
                chunk, size = [], 0
        xid = ofmsgs.next_xid(datapath)
        book.barrier(xid, cookies)
        chunk.append(ofmsgs.barrier_bytes(datapath, xid))
        datapath.send(b"".join(chunk))

    # ------------------------------------------------------------ cluster roles (qosapp.ofp.cluster)
    def connected(self) -> list[int]:
        return sorted(self.datapaths)

    def send_role(self, dpid: int, master: bool, generation: int) -> None:
        """OFPRoleRequest (OpenFlow 1.3, with the generation id) or Nicira NXTRoleRequest (1.0)."""
        datapath = self.datapaths.get(dpid)
        if datapath is None:
            return
        ofp, parser = datapath.ofproto, datapath.ofproto_parser
        if ofp.OFP_VERSION == ofproto_v1_0.OFP_VERSION:
            role = nicira_ext.NX_ROLE_MASTER if master else nicira_ext.NX_ROLE_SLAVE
            datapath.send_msg(parser.NXTRoleRequest(datapath, role))
        else:
            role = ofp.OFPCR_ROLE_MASTER if master else ofp.OFPCR_ROLE_SLAVE
            datapath.send_msg(parser.OFPRoleRequest(datapath, role, generation))
        LOG.info("switch %016x: role request %s (generation %d)", dpid, "MASTER" if master else "SLAVE", generation)

    def request_reconcile(self, dpid: int) -> None:
        """Read the switch's policy and path flows (after the takeover's batch): stale ones get deleted."""
        datapath = self.datapaths.get(dpid)
        if datapath is None:
            return
        ofp, parser = datapath.ofproto, datapath.ofproto_parser
        xid = ofmsgs.next_xid(datapath)
        if ofp.OFP_VERSION == ofproto_v1_0.OFP_VERSION:
            msg = parser.OFPFlowStatsRequest(datapath, 0, parser.OFPMatch(), 0xFF, ofp.OFPP_NONE)
        else:
            msg = parser.OFPFlowStatsRequest(datapath, 0, ofp.OFPTT_ALL, ofp.OFPP_ANY, ofp.OFPG_ANY,
                                             COUNTED_PREFIX, COUNTED_MASK, parser.OFPMatch())
        msg.xid = xid
        self.reconciling[dpid] = xid
        datapath.send_msg(msg)

    @set_ev_cls(ofp_event.EventOFPRoleReply, MAIN_DISPATCHER)
    def _role_reply(self, ev: Any) -> None:
        msg = ev.msg
        if self.cluster is not None:
            ofp = msg.datapath.ofproto
            role = {ofp.OFPCR_ROLE_MASTER: "master", ofp.OFPCR_ROLE_SLAVE: "slave"}.get(msg.role, "equal")
            self.cluster.role_reply(msg.datapath.id, role, msg.generation_id)

    @set_ev_cls(ofp_event.EventNXTRoleReply, MAIN_DISPATCHER)
    def _nx_role_reply(self, ev: Any) -> None:
        msg = ev.msg
        if self.cluster is not None:
            role = {nicira_ext.NX_ROLE_MASTER: "master", nicira_ext.NX_ROLE_SLAVE: "slave"}.get(msg.role, "equal")
            self.cluster.role_reply(msg.datapath.id, role, None)

    # ------------------------------------------------------------ events
    @set_ev_cls(ofp_event.EventOFPStateChange, [MAIN_DISPATCHER, DEAD_DISPATCHER])
    def _state_change(self, ev: Any) -> None:
        datapath = ev.datapath
        dpid = datapath.id
        if dpid is None:
            return
        if ev.state == MAIN_DISPATCHER:
            if SETTINGS.ofp_allow and dpid not in SETTINGS.ofp_allow:
                LOG.warning("switch %016x from %s refused: not in --ofp-allow-dpid", dpid, datapath.address)
                datapath.close()
                return
            self.datapaths[dpid] = datapath
            self.outstanding[dpid] = Outstanding()
            address = "%s:%s" % datapath.address if datapath.address else None
            LOG.info("switch %016x connected (OpenFlow %#x) from %s", dpid, datapath.ofproto.OFP_VERSION, address)
            # a cluster never wipes: the switch may be carrying traffic on another instance's flows
            self.core.switch_connected(dpid, datapath.ofproto.OFP_VERSION, port_names(datapath), address,
                                       wipe=self.cluster is None)
            if self.cluster is not None:
                self.cluster.switch_up(dpid)
            if datapath.ofproto.OFP_VERSION != ofproto_v1_0.OFP_VERSION:  # does it take meters at all?
                datapath.send_msg(datapath.ofproto_parser.OFPMeterFeaturesStatsRequest(datapath, 0))
        elif ev.state == DEAD_DISPATCHER and self.datapaths.get(dpid) is datapath:
            LOG.info("switch %016x disconnected", dpid)
            del self.datapaths[dpid]
            self.outstanding.pop(dpid, None)
            self.multipart.forget(dpid)
            self.reconciling.pop(dpid, None)
            self.core.switch_disconnected(dpid)
            if self.cluster is not None:
                self.cluster.switch_down(dpid)

    @set_ev_cls(ofp_event.EventOFPBarrierReply, MAIN_DISPATCHER)
    def _barrier_reply(self, ev: Any) -> None:
        dpid = ev.msg.datapath.id
        book = self.outstanding.get(dpid)
        cookies = book.barrier_reply(ev.msg.xid) if book is not None else None
        if cookies is None:
            return
        self.core.flows_confirmed(dpid, cookies)

    @set_ev_cls(ofp_event.EventOFPErrorMsg, MAIN_DISPATCHER)
    def _error(self, ev: Any) -> None:
        msg = ev.msg
        dpid = msg.datapath.id
        self.core.stats.messages.errors[dpid] += 1
        reason = error_reason(msg.datapath.ofproto, msg)
        if self.cluster is not None and reason.startswith("OFPET_ROLE_REQUEST_FAILED"):
            self.cluster.role_error(dpid, reason)
            return
        book = self.outstanding.get(dpid)
        cookie = book.cookie_of(msg.xid) if book is not None else None
        LOG.warning("switch %016x rejected xid %s (cookie %s): %s", dpid, msg.xid,
                    hex(cookie) if cookie is not None else "-", reason)
        if cookie is not None:
            self.core.flow_error(dpid, cookie, reason)

    @set_ev_cls(ofp_event.EventOFPPortStatus, MAIN_DISPATCHER)
    def _port_status(self, ev: Any) -> None:
        msg = ev.msg
        datapath = msg.datapath
        ofp = datapath.ofproto
        name = msg.desc.name.decode("utf-8", "replace") if isinstance(msg.desc.name, bytes) else str(msg.desc.name)
        if msg.desc.port_no > ofp.OFPP_MAX:
            return
        deleted = msg.reason == ofp.OFPPR_DELETE
        self.core.port_changed(datapath.id, msg.desc.port_no, None if deleted else name)
        if not deleted:
            live = not (msg.desc.state & ofp.OFPPS_LINK_DOWN or msg.desc.config & ofp.OFPPC_PORT_DOWN)
            self.core.port_state(datapath.id, msg.desc.port_no, live)

    # ------------------------------------------------------------ topology
    @set_ev_cls(topo_event.EventLinkAdd)
    def _link_add(self, ev: Any) -> None:
        src, dst = ev.link.src, ev.link.dst
        self.core.link_added(src.dpid, src.port_no, dst.dpid, dst.port_no)

    @set_ev_cls(topo_event.EventLinkDelete)
    def _link_delete(self, ev: Any) -> None:
        src, dst = ev.link.src, ev.link.dst
        self.core.link_removed(src.dpid, src.port_no, dst.dpid, dst.port_no)

    @set_ev_cls(ofp_event.EventOFPPacketIn, MAIN_DISPATCHER)
    def _packet_in(self, ev: Any) -> None:
        """Learn the sender; send the frame on where the core says (if anywhere)."""
        msg = ev.msg
        datapath = msg.datapath
        ofp, parser = datapath.ofproto, datapath.ofproto_parser
        self.core.stats.messages.packet_ins[datapath.id] += 1
        in_port = msg.in_port if ofp.OFP_VERSION == ofproto_v1_0.OFP_VERSION else msg.match["in_port"]
        frame = packet_in_fields(msg.data)
        if frame is None:
            return
        ports = self.core.packet_in(datapath.id, in_port, frame.eth_src, frame.eth_dst, frame.eth_type, frame.ip)
        if not ports:
            return
        actions = [parser.OFPActionOutput(port) for port in ports]
        no_buffer = ofp.OFP_NO_BUFFER if hasattr(ofp, "OFP_NO_BUFFER") else 0xFFFFFFFF
        data = msg.data if msg.buffer_id == no_buffer else None
        datapath.send_msg(parser.OFPPacketOut(datapath=datapath, buffer_id=msg.buffer_id, in_port=in_port,
                                              actions=actions, data=data))

    # ------------------------------------------------------------ statistics
    def _poll_stats(self) -> None:
        """Every interval: switches away past their grace period leave the topology; flow stats of
        qos-sdn's policy and path cookies, queue stats of all ports."""
        while True:
            hub.sleep(self.core.stats.interval)
            self.core.expire_absent()
            for datapath in list(self.datapaths.values()):
                try:
                    self._request_stats(datapath)
                except Exception:  # a switch going away mid-send must not end the poller
                    LOG.exception("stats request to %016x failed", datapath.id)

    def _request_stats(self, datapath: Any) -> None:
        """Queue stats always (one entry per queue); flow stats only while someone reads them."""
        ofp, parser = datapath.ofproto, datapath.ofproto_parser
        flows = self.core.stats.flows_watched(time.monotonic())
        if ofp.OFP_VERSION == ofproto_v1_0.OFP_VERSION:
            if flows:
                datapath.send_msg(parser.OFPFlowStatsRequest(datapath, 0, parser.OFPMatch(), 0xFF, ofp.OFPP_NONE))
            datapath.send_msg(parser.OFPQueueStatsRequest(datapath, 0, ofp.OFPP_ALL, ofp.OFPQ_ALL))
        else:
            if flows:
                datapath.send_msg(parser.OFPFlowStatsRequest(datapath, 0, ofp.OFPTT_ALL, ofp.OFPP_ANY, ofp.OFPG_ANY,
                                                             COUNTED_PREFIX, COUNTED_MASK, parser.OFPMatch()))
            datapath.send_msg(parser.OFPQueueStatsRequest(datapath, 0, ofp.OFPP_ANY, ofp.OFPQ_ALL))
            if self.core.meters:
                datapath.send_msg(parser.OFPMeterStatsRequest(datapath, 0, ofp.OFPM_ALL))

    def _complete(self, msg: Any) -> list[Any] | None:
        """The whole body of a (possibly multi-part) stats reply, once it is all in."""
        return self.multipart.add(msg.datapath.id, msg.xid, msg.body, reply_more(msg))

    @set_ev_cls(ofp_event.EventOFPFlowStatsReply, MAIN_DISPATCHER)
    def _flow_stats(self, ev: Any) -> None:
        body = self._complete(ev.msg)
        dpid = ev.msg.datapath.id
        if body is not None and self.reconciling.get(dpid) == ev.msg.xid:
            del self.reconciling[dpid]
            self.core.reconcile(dpid, [s.cookie for s in body])
        if body is not None:
            mine = [(s.cookie, s.packet_count, s.byte_count) for s in body
                    if counted(s.cookie)]
            self.core.stats.record_flows(ev.msg.datapath.id, time.monotonic(), mine)

    @set_ev_cls(ofp_event.EventOFPQueueStatsReply, MAIN_DISPATCHER)
    def _queue_stats(self, ev: Any) -> None:
        body = self._complete(ev.msg)
        if body is not None:
            self.core.stats.record_queues(ev.msg.datapath.id, time.monotonic(),
                                          [(s.port_no, s.queue_id, s.tx_packets, s.tx_bytes, s.tx_errors)
                                           for s in body])

    @set_ev_cls(ofp_event.EventOFPMeterFeaturesStatsReply, MAIN_DISPATCHER)
    def _meter_features(self, ev: Any) -> None:
        body = self._complete(ev.msg)
        if body:
            self.core.meter_features(ev.msg.datapath.id, min(f.max_meter for f in body))

    @set_ev_cls(ofp_event.EventOFPMeterStatsReply, MAIN_DISPATCHER)
    def _meter_stats(self, ev: Any) -> None:
        body = self._complete(ev.msg)
        if body is not None:
            self.core.meter_counters(ev.msg.datapath.id, time.monotonic(),
                                     [(s.meter_id, s.packet_in_count, s.byte_in_count,
                                       sum(b.packet_band_count for b in s.band_stats),
                                       sum(b.byte_band_count for b in s.band_stats)) for s in body])
