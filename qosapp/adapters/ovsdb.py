"""Queues in Open vSwitch through the python-ovs IDL (no ovs-vsctl).

`OvsdbClient` keeps an IDL replica of the few OVSDB tables the controller
needs (Open_vSwitch, Bridge, Port, Interface, QoS, Queue) and writes a
queue profile as one linux-htb QoS row plus one Queue row per queue.

Rows it creates carry `external_ids:qos-sdn=1`. That is how it knows what it
may delete: replacing or clearing a port's profile deletes the previous QoS
and Queue rows *if they are ours* (QoS and Queue are root tables, so rows
nobody deletes stay forever as orphans; Ryu's rest_qos leaves them). Rows
someone else made (ovs-vsctl) are only detached from the port, never deleted.

Eventlet: Ryu's manager monkey-patches socket/select/time/thread. python-ovs
does non-blocking sockets plus `select.select` in its Poller, so under the
patch every wait here yields to other green threads instead of freezing the
controller. Every wait also has a deadline (`timeout`): a dead ovsdb-server
or ovs-vswitchd gives `OvsdbError`, never a hang. One lock serialises users
of the single IDL (REST requests and switch events may overlap).
"""
from __future__ import annotations

import errno
import logging
import threading
from typing import Any, Callable

import ovs.db.idl
import ovs.jsonrpc
import ovs.poller
import ovs.stream
import ovs.timeval

from qosapp.core.queues import QueueProfile

LOG = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 5.0
DB_NAME = "Open_vSwitch"
#: external_ids key marking the rows this controller created.
OWNER_KEY = "qos-sdn"
NETDEV = "netdev"

#: The tables and columns replicated; everything else stays on the server.
COLUMNS: dict[str, list[str]] = {
    "Open_vSwitch": ["bridges", "next_cfg", "cur_cfg"],
    "Bridge": ["name", "datapath_id", "datapath_type", "ports"],
    "Port": ["name", "interfaces", "qos"],
    "Interface": ["name", "ofport"],
    "QoS": ["type", "queues", "other_config", "external_ids"],
    "Queue": ["dscp", "other_config", "external_ids"],
}


class OvsdbError(RuntimeError):
    """OVSDB unreachable, a transaction failed, or a named row is missing."""


def _make_lock() -> Any:
    """A lock that suspends only the calling green thread.

    With eventlet's thread patch `threading.Lock` already is green; if only
    socket/select are patched, a real lock held across a green wait would
    deadlock the hub, so use eventlet's semaphore then.
    """
    try:
        from eventlet import patcher
    except ImportError:  # pragma: no cover - eventlet is a dependency
        return threading.Lock()
    if patcher.is_monkey_patched("socket") and not patcher.is_monkey_patched("thread"):
        from eventlet.semaphore import Semaphore
        return Semaphore(1)
    return threading.Lock()


def _deadline(timeout: float) -> int:
    """A deadline in python-ovs's clock (milliseconds)."""
    return ovs.timeval.msec() + int(timeout * 1000)


def fetch_schema(remote: str, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
    """Ask the server for its Open_vSwitch schema (JSON-RPC get_schema).

    Fetching rather than reading /usr/share/openvswitch/vswitch.ovsschema
    means the controller works on a machine without OVS installed and always
    matches the server's schema version.
    """
    deadline = _deadline(timeout)
    error, stream = ovs.stream.Stream.open_block(ovs.stream.Stream.open(remote), int(timeout * 1000))
    if error:
        raise OvsdbError(f"cannot connect to OVSDB at {remote}: {errno.errorcode.get(error, error)}")
    conn = ovs.jsonrpc.Connection(stream)
    try:
        request = ovs.jsonrpc.Message.create_request("get_schema", [DB_NAME])
        error = conn.send(request)
        while not error:
            error, reply = conn.recv()
            if error == errno.EAGAIN:
                if ovs.timeval.msec() >= deadline:
                    raise OvsdbError(f"OVSDB at {remote} did not send its schema within {timeout} s")
                conn.run()
                poller = ovs.poller.Poller()
                conn.wait(poller)
                conn.recv_wait(poller)
                poller.timer_wait_until(deadline)
                poller.block()
                error = 0
                continue
            if reply is not None and reply.id == request.id:
                if reply.type == ovs.jsonrpc.Message.T_ERROR:
                    raise OvsdbError(f"get_schema on {remote} failed: {reply.error}")
                return reply.result
        raise OvsdbError(f"OVSDB at {remote} closed the connection: {errno.errorcode.get(error, error)}")
    finally:
        conn.close()


def _barrier(txn: ovs.db.idl.Transaction) -> bool:
    """A transaction that changes nothing but still makes a round trip."""
    txn.add_op({"op": "comment", "comment": "qos-sdn: sync"})
    return True


def _owned(row: Any) -> bool:
    return row.external_ids.get(OWNER_KEY) == "1"


def _number(text: str) -> int | str:
    """A rate from other_config; rows made by hand may hold anything."""
    return int(text) if text.isdigit() else text


def _first(value: Any) -> Any:
    """An optional column (a list of 0 or 1 items) as the item or None."""
    if isinstance(value, list):
        return value[0] if value else None
    return value


class OvsdbClient:
    """Bridges, ports and queue rows of one OVSDB server.

    `remote` is an OVSDB connection string: "unix:/var/run/openvswitch/db.sock"
    or "tcp:127.0.0.1:6640". Connecting is lazy (first call). Every wait is
    bounded by `timeout` seconds (a write has up to three: sync, commit,
    ovs-vswitchd applying it), so a call never hangs.
    """

    def __init__(self, remote: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.remote = remote
        self.timeout = timeout
        self._idl: ovs.db.idl.Idl | None = None
        self._lock = _make_lock()

    # ------------------------------------------------------------ connection
    def connect(self) -> None:
        """Connect and load the replica now (otherwise the first call does)."""
        with self._lock:
            self._ready()

    def close(self) -> None:
        with self._lock:
            if self._idl is not None:
                self._idl.close()
                self._idl = None

    def _ready(self) -> ovs.db.idl.Idl:
        """The IDL, connected, with everything the server knows right now.

        A no-op transaction is the barrier: the server sends pending updates
        before its reply, so afterwards the replica is current. It also finds
        a connection the server has dropped (ovsdb-server closes TCP clients
        that leave its inactivity probe unanswered, and we only talk when
        called), which a plain read of the replica would not notice.
        """
        if self._idl is None:
            helper = ovs.db.idl.SchemaHelper(schema_json=fetch_schema(self.remote, self.timeout))
            for table, columns in COLUMNS.items():
                helper.register_columns(table, columns)
            self._idl = ovs.db.idl.Idl(self.remote, helper, probe_interval=0)
        # Reconnect at once, not after python-ovs's 1 s back-off. (python-ovs
        # has no public API for its session; it is the truth about the link.)
        self._idl._session.reset_backoff()
        self._transact(_barrier, wait_for_switch=False)
        return self._idl

    def _live(self) -> bool:
        """Connected and monitoring: transactions can be committed."""
        idl = self._idl
        assert idl is not None
        return idl.has_ever_connected() and idl._session.is_connected() and idl.state == idl.IDL_S_MONITORING

    def _run_until(self, done: Callable[[], bool], what: str, deadline: int | None = None) -> None:
        """Process IDL messages until `done()`, at most `timeout` seconds (or until `deadline`)."""
        idl = self._idl
        assert idl is not None
        deadline = _deadline(self.timeout) if deadline is None else deadline
        while True:
            idl.run()
            if done():
                return
            if ovs.timeval.msec() >= deadline:
                raise OvsdbError(f"OVSDB at {self.remote}: {what} did not finish within {self.timeout} s")
            poller = ovs.poller.Poller()
            idl.wait(poller)
            poller.timer_wait_until(min(deadline, ovs.timeval.msec() + 200))
            poller.block()

    # ------------------------------------------------------------ reading
    def _rows(self, table: str) -> list[Any]:
        assert self._idl is not None
        return list(self._idl.tables[table].rows.values())

    def _port(self, name: str) -> Any | None:
        return next((p for p in self._rows("Port") if p.name == name), None)

    def _bridge_of(self, port: Any) -> Any | None:
        return next((b for b in self._rows("Bridge") if any(p.uuid == port.uuid for p in b.ports)), None)

    def bridges(self) -> dict[int, dict[str, Any]]:
        """{dpid: {"name", "datapath_type", "ports": {ofport: port name}}}.

        Bridges whose datapath_id ovs-vswitchd has not filled in yet, and
        interfaces without an OpenFlow port number, are left out.
        """
        with self._lock:
            self._ready()
            out: dict[int, dict[str, Any]] = {}
            for bridge in self._rows("Bridge"):
                dpid = _first(bridge.datapath_id)
                if not dpid:
                    continue
                ports: dict[int, str] = {}
                for port in bridge.ports:
                    for iface in port.interfaces:
                        ofport = _first(iface.ofport)
                        if ofport is not None and ofport > 0:
                            ports[ofport] = port.name
                out[int(dpid, 16)] = {"name": bridge.name, "datapath_type": bridge.datapath_type or "system",
                                      "ports": ports}
            return out

    def port_map(self) -> dict[int, dict[int, str]]:
        """{dpid: {ofport: port name}}, the shape `queues.resolve_ports` takes."""
        return {dpid: info["ports"] for dpid, info in self.bridges().items()}

    def port_datapath_type(self, port_name: str) -> str | None:
        """"netdev" (userspace) or "system" (kernel) for the port's bridge; None if unknown."""
        with self._lock:
            self._ready()
            port = self._port(port_name)
            bridge = self._bridge_of(port) if port is not None else None
            return None if bridge is None else (bridge.datapath_type or "system")

    def port_qos(self, port_name: str) -> dict[str, Any] | None:
        """What OVSDB holds for the port's QoS (for GET answers and checks).

        {"type", "max-rate", "owned", "queues": {id: {"min-rate", "max-rate", "dscp"}}};
        None if the port has no QoS; OvsdbError if there is no such port.
        """
        with self._lock:
            self._ready()
            port = self._port(port_name)
            if port is None:
                raise OvsdbError(f"no port {port_name!r} in OVSDB at {self.remote}")
            qos = _first(port.qos)
            if qos is None:
                return None
            queues = {}
            for qid, queue in sorted(qos.queues.items()):
                queues[qid] = {key: _number(val) for key, val in queue.other_config.items() if key in ("min-rate", "max-rate")}
                queues[qid]["dscp"] = _first(queue.dscp)
            rate = qos.other_config.get("max-rate")
            return {"type": qos.type, "max-rate": _number(rate) if rate else None, "owned": _owned(qos), "queues": queues}

    def owned_rows(self) -> dict[str, int]:
        """How many QoS and Queue rows this controller made (orphan checks)."""
        with self._lock:
            self._ready()
            return {table: sum(1 for row in self._rows(table) if _owned(row)) for table in ("QoS", "Queue")}

    # ------------------------------------------------------------ writing
    def apply_profile(self, port_name: str, profile: QueueProfile) -> None:
        """Give the port one QoS row (linux-htb) with the profile's queues.

        Queue rows carry no `dscp`: a queue never rewrites its packets (the
        classification on the userspace datapath is per port, from the flows'
        matches: `qosapp.adapters.tcbridge`).

        The previous QoS/Queue rows of the port are deleted in the same
        transaction if they are ours, and any orphan rows of ours with them.
        Waits (bounded) until ovs-vswitchd has applied the change, so the
        HTB classes exist when this returns; if vswitchd does not answer in
        time the rows are still committed and a warning is logged.
        """
        with self._lock:
            idl = self._ready()
            port = self._port(port_name)
            if port is None:
                raise OvsdbError(f"no port {port_name!r} in OVSDB at {self.remote}")

            def build(txn: ovs.db.idl.Transaction) -> bool:
                row = self._port(port_name)
                if row is None:
                    raise OvsdbError(f"port {port_name!r} vanished from OVSDB")
                row.verify("qos")
                qos = txn.insert(idl.tables["QoS"])
                qos.type = "linux-htb"
                qos.other_config = {"max-rate": str(profile.max_rate)}
                qos.external_ids = {OWNER_KEY: "1", f"{OWNER_KEY}-port": port_name}
                qos.queues = {q.id: self._insert_queue(txn, q) for q in profile.queues}
                row.qos = [qos]
                self._delete_unreferenced()
                return True

            self._transact(build, wait_for_switch=True)

    def _insert_queue(self, txn: ovs.db.idl.Transaction, spec: Any) -> Any:
        assert self._idl is not None
        queue = txn.insert(self._idl.tables["Queue"])
        config = {}
        if spec.min_rate is not None:
            config["min-rate"] = str(spec.min_rate)
        if spec.max_rate is not None:
            config["max-rate"] = str(spec.max_rate)
        queue.other_config = config
        queue.external_ids = {OWNER_KEY: "1"}
        queue.dscp = []
        return queue

    def clear_port(self, port_name: str) -> bool:
        """Remove our QoS from the port and delete our QoS/Queue rows.

        A QoS someone else set on the port is left alone (returns False).
        A port that no longer exists is not an error: our rows that pointed
        at it are orphans now and are deleted. Returns True if anything of
        ours was removed.
        """
        with self._lock:
            self._ready()

            def build(txn: ovs.db.idl.Transaction) -> bool:
                port = self._port(port_name)
                detached = False
                if port is not None:
                    qos = _first(port.qos)
                    if qos is not None and _owned(qos):
                        port.verify("qos")
                        port.qos = []
                        detached = True
                return self._delete_unreferenced() > 0 or detached

            return self._transact(build, wait_for_switch=True)

    def remove_orphans(self) -> int:
        """Delete our QoS rows no port uses and our Queue rows no QoS uses.

        Worth calling at start-up: a port deleted with ovs-vsctl leaves its
        QoS row behind. Returns how many rows were deleted.
        """
        with self._lock:
            self._ready()
            count = 0

            def build(txn: ovs.db.idl.Transaction) -> bool:
                nonlocal count
                count = self._delete_unreferenced()
                return count > 0

            self._transact(build, wait_for_switch=False)
            return count

    def _delete_unreferenced(self) -> int:
        """Inside a transaction: delete our rows nothing will point at.

        Reads see the transaction's own writes (a port's new qos, rows just
        inserted or deleted), so this is the state after the commit.
        """
        used_qos = {_first(port.qos).uuid for port in self._rows("Port") if _first(port.qos) is not None}
        deleted = 0
        used_queues: set[Any] = set()
        for qos in self._rows("QoS"):
            if qos.uuid in used_qos or not _owned(qos):
                used_queues.update(q.uuid for q in qos.queues.values() if q is not None)
            else:
                qos.delete()
                deleted += 1
        for queue in self._rows("Queue"):
            if _owned(queue) and queue.uuid not in used_queues:
                queue.delete()
                deleted += 1
        return deleted

    def _transact(self, build: Callable[[ovs.db.idl.Transaction], bool], wait_for_switch: bool) -> bool:
        """Build and commit a transaction, retrying on conflicts, bounded.

        `build` makes the changes and says whether there are any (if not,
        nothing is sent). With `wait_for_switch` it bumps Open_vSwitch.next_cfg and then waits
        for ovs-vswitchd to report it in cur_cfg (what `ovs-vsctl` does
        without --no-wait): then the switch has applied the change.
        """
        idl = self._idl
        assert idl is not None
        deadline = _deadline(self.timeout)
        while True:
            self._run_until(self._live, "connecting", deadline)
            txn = ovs.db.idl.Transaction(idl)
            txn.add_comment("qos-sdn")
            root = next(iter(idl.tables["Open_vSwitch"].rows.values()), None)
            try:
                changed = build(txn)
            except BaseException:
                txn.abort()
                raise
            if not changed:
                txn.abort()
                return False
            if wait_for_switch and root is not None:
                root.increment("next_cfg")
            status = self._commit(txn, deadline)
            if status == txn.TRY_AGAIN:
                if ovs.timeval.msec() >= deadline:
                    raise OvsdbError(f"OVSDB at {self.remote}: transaction kept conflicting for {self.timeout} s")
                continue  # after a conflict or reconnect the replica is fresh again
            if status not in (txn.SUCCESS, txn.UNCHANGED):
                raise OvsdbError(f"OVSDB at {self.remote}: transaction {txn.status_to_string(status)}: {txn.get_error()}")
            if wait_for_switch and root is not None and status == txn.SUCCESS:
                self._wait_for_switch(txn.get_increment_new_value())
            return True

    def _commit(self, txn: ovs.db.idl.Transaction, deadline: int) -> int:
        """`Transaction.commit_block` with a deadline."""
        idl = self._idl
        assert idl is not None
        while True:
            status = txn.commit()
            if status != txn.INCOMPLETE:
                return status
            if ovs.timeval.msec() >= deadline:
                txn.abort()
                raise OvsdbError(f"OVSDB at {self.remote}: commit not confirmed within {self.timeout} s "
                                 "(it may still have been applied)")
            idl.run()
            poller = ovs.poller.Poller()
            idl.wait(poller)
            txn.wait(poller)
            poller.timer_wait_until(deadline)
            poller.block()

    def _wait_for_switch(self, next_cfg: int) -> None:
        """Wait until ovs-vswitchd has applied config `next_cfg` (bounded)."""
        assert self._idl is not None
        idl = self._idl

        def applied() -> bool:
            root = next(iter(idl.tables["Open_vSwitch"].rows.values()), None)
            return root is not None and root.cur_cfg >= next_cfg
        try:
            self._run_until(applied, "ovs-vswitchd applying the change")
        except OvsdbError as err:
            LOG.warning("%s (the rows are committed; is ovs-vswitchd running?)", err)
