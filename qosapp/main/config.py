"""Run-time settings of the controller process, filled in by the launcher.

Ryu instantiates apps itself, so the launcher cannot pass arguments to
`QosApp.__init__`; it fills this module-level object before Ryu starts.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field


#: where the controller finds OVSDB unless told (--ovsdb, $QOS_OVSDB)
DEFAULT_OVSDB = "unix:/var/run/openvswitch/db.sock"


def default_state_dir() -> str:
    """/var/lib/qos-sdn for root, ~/.local/state/qos-sdn otherwise ($QOS_STATE_DIR wins)."""
    if os.environ.get("QOS_STATE_DIR"):
        return os.environ["QOS_STATE_DIR"]
    if os.geteuid() == 0:
        return "/var/lib/qos-sdn"
    return os.path.join(os.path.expanduser("~"), ".local", "state", "qos-sdn")


@dataclass
class Settings:
    state_dir: str = ""
    rest_host: str = "127.0.0.1"
    rest_port: int = 8080
    ofp_host: str = "127.0.0.1"
    ofp_port: int = 6653
    ovsdb: str = DEFAULT_OVSDB
    manage_queues: bool = True
    forwarding: str = "learned"
    #: "sqlite" (the state directory) or etcd://host:port[,host:port...] (a cluster)
    store: str = "sqlite"
    #: this instance's name in a cluster (default: host:rest-port)
    member_id: str = ""
    #: seconds an instance's etcd lease lives without a refresh (its switches move after that)
    lease_ttl: int = 2
    # the REST front door (qosapp.main.frontdoor, qosapp.http.guard)
    token: str | None = None
    token_for_reads: bool = False
    allowed_hosts: list[str] = field(default_factory=list)
    max_body: int = 16 * 1024 * 1024
    max_connections: int = 500
    idle_timeout: float = 30.0
    header_timeout: float = 10.0
    rest_cert: str | None = None
    rest_key: str | None = None
    #: dpids admitted over OpenFlow; empty = any switch that connects
    ofp_allow: set[int] = field(default_factory=set)


SETTINGS = Settings(state_dir=default_state_dir())
