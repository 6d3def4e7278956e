"""What a core call wants done, as a value: the core decides, `qosapp.service` does.

Every event handler and request method of `QosCore` returns an `Effects`
(requests: with their result). The service applies it in order, under its
lock: the flow batches to each switch (each batch goes out followed by a
barrier, in the order listed), then the queue sync (OVSDB rows and tc
filters) if asked for, then wakes whoever waits for switch confirmations.
Store writes are not effects: the core commits them through `StoreApi`
before it changes its own state, so a failed commit leaves nothing changed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

from qosapp.core.compiler import FlowOp


@dataclass
class Effects:
    """Flow batches per switch, whether queues need syncing, whether to wake confirm waiters."""

    #: (dpid, ops) batches in send order; a dpid may have several
    flows: list[tuple[int, list[FlowOp]]] = field(default_factory=list)
    #: make OVSDB/tc match the queue profiles on the connected ports, then
    #: give the outcome back to the core (`QosCore.queues_synced`)
    sync_queues: bool = False
    #: install states may have left "pending": answers waiting for the
    #: switches' confirmation (`?wait=confirm`) should look again
    confirm: bool = False

    def send(self, dpid: int, ops: Iterable[FlowOp]) -> None:
        """Queue one batch for `dpid` (nothing if it is empty)."""
        ops = list(ops)
        if ops:
            self.flows.append((dpid, ops))

    def send_all(self, ops: Mapping[int, list[FlowOp]]) -> None:
        """Queue one batch per switch of `{dpid: ops}`."""
        for dpid, items in ops.items():
            self.send(dpid, items)

    def add(self, other: Effects) -> Effects:
        """Append `other` after what is here (in place); returns self."""
        self.flows.extend(other.flows)
        self.sync_queues = self.sync_queues or other.sync_queues
        self.confirm = self.confirm or other.confirm
        return self

    def by_dpid(self) -> dict[int, list[FlowOp]]:
        """Every switch's operations in order, batches joined (for tests and logs)."""
        out: dict[int, list[FlowOp]] = {}
        for dpid, ops in self.flows:
            out.setdefault(dpid, []).extend(ops)
        return out
