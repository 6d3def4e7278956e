"""A fake switch flow table: applies the flow operations the service sends, as OVS would.

Tests assert what a switch ends up holding ("dpid 1 holds exactly these
flows"), not how the operations were cut into batches, so a change that
merges or splits batches does not break them. The semantics are the ones
`qosapp.ofp.ofmsgs` puts on the wire:
- a `FlowSpec` is OFPFC_ADD: it replaces the flow with the same table,
  priority and match;
- OpenFlow 1.3 `FlowDelete`: cookie 0 wipes every table; any other cookie
  deletes, in every table, the flows with exactly that cookie (mask all ones);
- OpenFlow 1.0 `FlowDelete`: with `strict`, OFPFC_DELETE_STRICT on that
  priority and match (one table); cookie 0 without it wipes; a cookie delete
  does not exist in 1.0 and fails the test.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

from qosapp.core.compiler import OF10, OF13, FlowDelete, FlowOp, FlowSpec
from qosapp.core.controller import WIPE
from qosapp.core.meters import MeterMod

Key = tuple[int, int, tuple[tuple[str, Any], ...]]  # (table, priority, match)


class FakeTable:
    """One switch's flows, keyed like the switch keys them."""

    def __init__(self, version: int = OF13) -> None:
        self.version = version
        self.flows: dict[Key, FlowSpec] = {}
        #: meter id -> the meter_mod that added it (OpenFlow 1.3)
        self.meters: dict[int, MeterMod] = {}

    def apply(self, ops: Iterable[FlowOp]) -> None:
        for op in ops:
            if isinstance(op, MeterMod):
                self._meter(op)
            elif isinstance(op, FlowSpec):
                table = 0 if self.version == OF10 else op.table_id
                self.flows[(table, op.priority, op.match)] = op
            elif self.version == OF10:
                self._delete_of10(op)
            elif op.cookie == 0:
                self.flows.clear()
            else:
                for key in [k for k, f in self.flows.items() if f.cookie == op.cookie]:
                    del self.flows[key]

    def _meter(self, op: MeterMod) -> None:
        """As OVS does: no meters on 1.0, ADD of an existing id fails, DELETE of id 0 (OFPM_ALL) clears."""
        assert self.version != OF10, "OpenFlow 1.0 has no meters"
        if op.command == "add":
            assert op.meter_id not in self.meters, f"meter {op.meter_id} exists (OFPMMFC_METER_EXISTS)"
            self.meters[op.meter_id] = op
        elif op.meter_id == 0:
            self.meters.clear()
        else:
            self.meters.pop(op.meter_id, None)

    def _delete_of10(self, op: FlowDelete) -> None:
        if op.strict is not None:
            self.flows.pop((0, op.strict.priority, op.strict.match), None)
        elif op.cookie == 0:
            self.flows.clear()
        else:
            raise AssertionError(f"OpenFlow 1.0 has no delete by cookie ({op.cookie:#x})")

    def holding(self, cookie: int | None = None) -> set[FlowSpec]:
        """The flows held (only those with `cookie`, if given)."""
        return {f for f in self.flows.values() if cookie is None or f.cookie == cookie}

    def cookies(self) -> set[int]:
        return {f.cookie for f in self.flows.values()}


class FakeSwitches:
    """Stands in for the Ryu shell's `send`: one `FakeTable` per dpid, plus every (dpid, ops) call.

    `version_of(dpid)` says which OpenFlow version a switch speaks (e.g. the
    service's `switches[dpid].version`); a cold-start wipe starts that
    switch's table anew in its version.
    """

    def __init__(self, version_of: Callable[[int], int] | None = None) -> None:
        self.version_of = version_of or (lambda dpid: OF13)
        self.tables: dict[int, FakeTable] = {}
        self.calls: list[tuple[int, list[Any]]] = []

    def __call__(self, dpid: int, ops: list[Any]) -> None:
        self.calls.append((dpid, list(ops)))
        if dpid not in self.tables or (ops and ops[0] == WIPE):
            old = self.tables.get(dpid)
            self.tables[dpid] = FakeTable(self.version_of(dpid))
            if old is not None and self.tables[dpid].version != OF10:  # a flow wipe leaves the meters
                self.tables[dpid].meters = old.meters
        self.tables[dpid].apply(ops)

    def take(self) -> list[tuple[int, list[Any]]]:
        """The calls so far, and forget them (the tables stay)."""
        calls, self.calls = self.calls, []
        return calls

    def holding(self, dpid: int, cookie: int | None = None) -> set[FlowSpec]:
        """What `dpid` holds now (only flows with `cookie`, if given)."""
        table = self.tables.get(dpid)
        return table.holding(cookie) if table is not None else set()
