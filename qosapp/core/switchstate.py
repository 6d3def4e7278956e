"""One place per switch: what it holds and what it has still to confirm (pure).

`SwitchState` is everything the controller knows about one connected switch:
its OpenFlow version, address and ports; the forwarding flows and each QoS
path's flows it was last given; and, per policy or path cookie, where that
cookie's flows stand (`InstallState`: pending until the barrier after them
comes back, then installed; or error with the switch's reason). Policies
('Q' cookies) and paths ('P' cookies) share that one mechanism. A switch that
goes away takes its state with it; one that reconnects starts from nothing
(a cold start wipes its tables).

`Outstanding` is the Ryu shell's half: which flow-mod xid carried which
cookie, and which barrier xid closes which batch, so a barrier reply or an
OFPT_ERROR can be turned back into cookies.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qosapp.core.compiler import SUPPORTED_VERSIONS, FlowSpec
from qosapp.core.model import format_dpid

PENDING, INSTALLED, ERROR = "pending", "installed", "error"
#: a queue policy whose queue is not on the port it enqueues to: nothing was sent
#: (the same fact a path reports as "missing-queues", see `qosapp.core.paths.missing_queues`)
MISSING_QUEUE = "missing-queue"
#: a cluster: another instance masters the switch and installs this there (nothing was sent from here)
PEER = "peer"
#: the states a script must treat as failure (the CLI exits 1 on them)
FAILED_STATES = frozenset({ERROR, MISSING_QUEUE})
#: what holds a fallback policy's limit on a switch: its queue, or a meter at the queue's max-rate
QUEUE, METER_FALLBACK = "queue", "meter-fallback"


@dataclass(slots=True)
class InstallState:
    """Where one policy's or path's flows stand on one switch."""

    state: str  # pending | installed | error | missing-queue | peer (the REST view also shows not-installed)
    reason: str | None = None
    #: missing-queue: the (port, queue) pairs that are not there
    missing: tuple[tuple[int, int], ...] = ()
    #: for a policy with a fallback: what holds its limit here, QUEUE or METER_FALLBACK
    mechanism: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"state": self.state}
        if self.reason:
            out["reason"] = self.reason
        if self.missing:
            out["missing-queues"] = [{"port": port, "queue": queue} for port, queue in self.missing]
        if self.mechanism:
            out["mechanism"] = self.mechanism
        return out


@dataclass
class SwitchState:
    """A connected switch: identity, ports, the flows it was given, per-cookie install state."""

    dpid: int
    version: int
    ports: dict[int, str] = field(default_factory=dict)
    address: str | None = None
    #: the forwarding flows the switch holds (as last sent), by (priority, match) as the switch keys them
    forwarding: dict[tuple[int, Any], FlowSpec] = field(default_factory=dict)
    #: path name -> that path's flows on this switch (absent: none)
    paths: dict[str, list[FlowSpec]] = field(default_factory=dict)
    #: policy or path cookie -> where its flows stand here
    install: dict[int, InstallState] = field(default_factory=dict)
    #: why this OpenFlow 1.3 switch takes no meters (its meter features report none), or None
    no_meters: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"dpid": format_dpid(self.dpid), "openflow": SUPPORTED_VERSIONS.get(self.version, hex(self.version)),
                "address": self.address,
                "ports": [{"port": no, "name": name} for no, name in sorted(self.ports.items())]}

    def sent(self, cookie: int) -> None:
        """Flows of `cookie` went out: pending until the barrier reply."""
        self.install[cookie] = InstallState(PENDING)

    def confirmed(self, cookie: int) -> None:
        """The barrier after `cookie`'s flows came back: installed (an error stays an error)."""
        state = self.install.get(cookie)
        if state is not None and state.state == PENDING:
            state.state = INSTALLED

    def pending(self, cookie: int) -> bool:
        state = self.install.get(cookie)
        return state is not None and state.state == PENDING


class Outstanding:
    """Per switch: flow-mod xid -> cookie and barrier xid -> cookies, until the barrier returns."""

    def __init__(self) -> None:
        self.flow_mods: dict[int, int] = {}
        self.barriers: dict[int, list[int]] = {}

    def flow_mod(self, xid: int, cookie: int) -> None:
        self.flow_mods[xid] = cookie

    def barrier(self, xid: int, cookies: list[int]) -> None:
        self.barriers[xid] = cookies

    def barrier_reply(self, xid: int) -> list[int] | None:
        """The cookies the barrier `xid` closes (None: not ours); forgets every flow-mod up to it."""
        cookies = self.barriers.pop(xid, None)
        if cookies is None:
            return None
        for sent in [x for x in self.flow_mods if x <= xid]:
            del self.flow_mods[sent]
        return cookies

    def cookie_of(self, xid: int) -> int | None:
        """The cookie of the flow-mod an OFPT_ERROR with this xid refers to (None: not a flow-mod of ours)."""
        return self.flow_mods.get(xid)
