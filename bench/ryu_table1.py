"""A Ryu app that forwards in table 1, for `ryu.app.rest_qos`.

rest_qos puts its rules in table 0 and ends each with goto_table 1 (and its
table-0 default is goto_table 1 as well); something has to forward there.
This app gives table 1 one table-miss flow to NORMAL on every OpenFlow 1.3
switch, the smallest forwarding that keeps the comparison about rest_qos.
"""
from ryu.base import app_manager
from ryu.controller import ofp_event
from ryu.controller.handler import CONFIG_DISPATCHER, set_ev_cls
from ryu.ofproto import ofproto_v1_3

FORWARDING_TABLE = 1


class Table1Normal(app_manager.RyuApp):
    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]

    @set_ev_cls(ofp_event.EventOFPSwitchFeatures, CONFIG_DISPATCHER)
    def _features(self, ev):
        """Install table 1's miss flow as soon as the switch has said who it is."""
        datapath = ev.msg.datapath
        ofp, parser = datapath.ofproto, datapath.ofproto_parser
        actions = [parser.OFPActionOutput(ofp.OFPP_NORMAL, ofp.OFPCML_NO_BUFFER)]
        inst = [parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, actions)]
        datapath.send_msg(parser.OFPFlowMod(datapath, table_id=FORWARDING_TABLE, priority=0,
                                            match=parser.OFPMatch(), instructions=inst))
