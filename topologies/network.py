"""Build, start and stop a Mininet network of userspace-datapath OVS switches, safely.

Why a wrapper around ``Mininet(...)``:
  * every switch must be ``OVSSwitch(datapath='user')`` (no kernel module);
  * without a controller the switches must be ``failMode='standalone'``
    (the default secure mode with no controller drops everything);
  * Mininet names switch-side interfaces (``s1``, ``s1-eth1``) in the root
    network namespace and *deletes* any existing interface with the same
    name before creating its own; on a shared machine that would destroy
    another user's network, so we check first and refuse instead;
  * two of our own networks cannot coexist (same names), so a machine-wide
    lock file serialises cooperating users (tests, the experiment runner);
  * teardown is ``net.stop()`` only. It kills nothing by name: switch and
    host shells are signalled by PID (``kill -HUP <pids>``, ``os.killpg``).
    ``mn -c`` / ``mininet.clean.cleanup()`` are never used: they run
    ``killall``/``pkill -f`` and delete every ``*-ethN`` link on the machine.
    One gap: ``RemoteController.stop()`` does nothing, so its helper shell
    (used for the telnet reachability probe) would outlive the network;
    ``stop_network`` terminates it by PID.

The OVS instance is whatever ``OVS_RUNDIR`` in os.environ points at (see
``topologies.ovsenv``); ``running_network(ovs=...)`` exports it for you.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO, Iterator

from mininet.net import Mininet
from mininet.node import OVSSwitch, RemoteController
from mininet.topo import Topo
from mininet.util import buildTopo

from topologies.ovsenv import SYSTEM_RUNDIR, OvsEndpoint, OvsError, pid_alive
from topologies.topos import FatTreeTopo, RingTopo, topos

LOCK_PATH = Path("/tmp/qos-sdn-mininet.lock")
OPENFLOW_VERSIONS = ("OpenFlow10", "OpenFlow11", "OpenFlow12", "OpenFlow13", "OpenFlow14", "OpenFlow15")
_SHORT_VERSIONS = {"1.0": "OpenFlow10", "1.1": "OpenFlow11", "1.2": "OpenFlow12",
                   "1.3": "OpenFlow13", "1.4": "OpenFlow14", "1.5": "OpenFlow15"}


class NetworkError(RuntimeError):
    """The network could not be built, started or connected."""


@dataclass(frozen=True)
class ControllerAddress:
    """Where the OpenFlow controller listens (the switches connect to it over TCP)."""

    ip: str = "127.0.0.1"
    port: int = 6653


def make_topo(spec: str | Topo, **params: object) -> Topo:
    """A topology from an ``mn``-style string (``'linear,4'``, ``'tree,depth=2,fanout=3'``, ``'ring,5'``).

    Extra keyword ``params`` are appended to the string's own; a ready Topo is returned unchanged.
    """
    if isinstance(spec, Topo):
        return spec
    if params:
        spec = ",".join([spec] + [f"{key}={value}" for key, value in params.items()])
    try:
        return buildTopo(topos, spec)
    except Exception as exc:  # buildTopo raises bare Exception for unknown names
        raise NetworkError(f"cannot build topology {spec!r}: {exc} (known: {sorted(topos)})") from exc


def normalise_protocols(protocols: str | None) -> str | None:
    """``'OpenFlow13'``, ``'1.3'`` or ``'OpenFlow10,OpenFlow13'`` -> OVS's comma-separated form; None = OVS default."""
    if protocols is None:
        return None
    names = [_SHORT_VERSIONS.get(p.strip(), p.strip()) for p in protocols.split(",") if p.strip()]
    unknown = [name for name in names if name not in OPENFLOW_VERSIONS]
    if unknown or not names:
        raise ValueError(f"unknown OpenFlow version(s) {unknown or protocols!r}; use {OPENFLOW_VERSIONS}")
    return ",".join(names)


def root_namespace_names(topo: Topo) -> set[str]:
    """Interface names this topology will create in the root namespace: switches and their ports.

    Host-side interfaces are created inside the hosts' own namespaces and cannot clash.
    """
    names = set(topo.switches())
    for src, dst, info in topo.links(withInfo=True):
        for node, port in ((src, info.get("port1")), (dst, info.get("port2"))):
            if topo.isSwitch(node):
                names.add(f"{node}-eth{port}")
    return names


def _existing_interfaces() -> set[str]:
    """Interface names in our (root) network namespace."""
    return set(os.listdir("/sys/class/net"))


def _current_ovs() -> OvsEndpoint:
    """The OVS instance that ovs-vsctl (and so Mininet) will talk to, from os.environ."""
    return OvsEndpoint(os.environ.get("OVS_RUNDIR", str(SYSTEM_RUNDIR)),
                       os.environ.get("OVS_DBDIR"), os.environ.get("OVS_LOGDIR"))


def conflicts(topo: Topo, ovs: OvsEndpoint) -> list[str]:
    """Names the topology needs that are already taken (interfaces or bridges); empty if none."""
    wanted = root_namespace_names(topo)
    taken = (wanted & _existing_interfaces()) | (set(topo.switches()) & set(ovs.bridges()))
    return sorted(taken)


def _acquire_lock(path: Path, timeout: float) -> IO[str]:
    """Hold an exclusive flock on ``path``; wait up to ``timeout`` seconds for other networks to finish."""
    handle = open(path, "a+")
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() >= deadline:
                handle.seek(0)
                holder = handle.read().strip() or "unknown"
                handle.close()
                raise NetworkError(f"another qos-sdn Mininet network holds {path} (pid {holder}) "
                                   f"after {timeout:.0f}s") from exc
            time.sleep(0.2)
            continue
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        return handle


def _wait_until_free(topo: Topo, ovs: OvsEndpoint, timeout: float) -> None:
    """Wait for names held by someone else's network to disappear; refuse (never delete) after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        taken = conflicts(topo, ovs)
        if not taken:
            return
        if time.monotonic() >= deadline:
            raise NetworkError(f"names already in use, refusing to build over them: {', '.join(taken)}")
        time.sleep(0.5)


class UserspaceOVSSwitch(OVSSwitch):
    """Mininet's OVSSwitch, except that ``stp=True`` turns on RSTP instead of classic STP.

    Measured on a standalone ring,4: classic STP forwards after ~31 s (OVS's
    default timers), RSTP after ~6 s. Mininet itself only knows ``stp_enable``.
    """

    def bridgeOpts(self) -> str:
        """Mininet's bridge options with ``stp_enable=true`` swapped for ``rstp_enable=true``."""
        return super().bridgeOpts().replace(" stp_enable=true", " rstp_enable=true")


def _switch_class(protocols: str | None, fail_mode: str, stp: bool, batch: bool = False) -> partial:
    """Our OVS switch on the userspace datapath with the given protocol list and fail mode.

    batch: Mininet queues each switch's ovs-vsctl command and runs them all
    at once from this process (`OVSSwitch.batchStartup`), instead of through
    each switch's shell. Needed for switches with many ports: the shell is a
    pty, whose line limit (4,095 bytes) silently truncates the command of a
    switch with ~60 ports or more, and that bridge is never created.
    """
    return partial(UserspaceOVSSwitch, datapath="user", protocols=protocols, failMode=fail_mode, stp=stp,
                   batch=batch)


Address = ControllerAddress | tuple[str, int]


def _controller(address: Address | list[Address] | None) -> partial | list[partial] | None:
    """A Mininet RemoteController factory for ``address``, or None for no controller at all.

    A list: one RemoteController per address; every switch connects to all of them (a cluster)."""
    if address is None:
        return None
    if isinstance(address, list):
        return [partial(RemoteController, ip=a.ip, port=a.port) if isinstance(a, ControllerAddress)
                else partial(RemoteController, ip=a[0], port=a[1]) for a in address]
    if not isinstance(address, ControllerAddress):
        address = ControllerAddress(*address)
    return partial(RemoteController, ip=address.ip, port=address.port)


def start_network(topo: str | Topo, controller: Address | list[Address] | None = None,
                  protocols: str | None = "OpenFlow13", fail_mode: str | None = None,
                  stp: bool | None = None, wait_connected: float | None = 15.0,
                  lock_timeout: float = 300.0, lock_path: Path = LOCK_PATH, batch: bool = False) -> Mininet:
    """Build and start a network; the caller must ``stop_network`` it (or use ``running_network``).

    topo: a Topo or ``'linear,4'``-style string. controller: where the
    switches connect, or None for standalone L2-learning switches.
    protocols: OpenFlow version(s) the bridges speak. fail_mode: defaults
    to 'secure' with a controller (only the controller's flows forward) and
    'standalone' without. stp: RSTP, on by default for standalone rings (a
    loop would otherwise flood forever; fat-trees likewise; forwarding starts after a few seconds,
    see ``traffic.wait_reachable``). wait_connected: seconds to wait for every
    switch to reach the controller (None = do not wait). batch: start the
    switches with one batched ovs-vsctl (see ``_switch_class``; for big fabrics).
    """
    topo = make_topo(topo)
    fail_mode = fail_mode or ("standalone" if controller is None else "secure")
    if stp is None:
        stp = fail_mode == "standalone" and isinstance(topo, (RingTopo, FatTreeTopo))
    ovs = _current_ovs()
    if not ovs.db_answers():
        raise OvsError(f"no OVSDB answers at {ovs.db_sock}; start one (topologies.ovsenv.PrivateOvs) "
                       "and export its environment (OvsEndpoint.exported()) first")
    lock = _acquire_lock(lock_path, lock_timeout)
    try:
        _wait_until_free(topo, ovs, lock_timeout)
        net = Mininet(topo=topo, switch=_switch_class(normalise_protocols(protocols), fail_mode, stp, batch),
                      controller=_controller(controller), ipBase="10.0.0.0/8", build=False)
        net.qos_lock = lock  # released by stop_network
        try:
            net.build()
            net.start()
            cap_host_segments(net)
            if controller is not None and wait_connected is not None and not net.waitConnected(wait_connected):
                raise NetworkError(f"switches did not connect to {controller} within {wait_connected}s")
        except BaseException:
            stop_network(net)
            raise
    except BaseException:
        if not lock.closed:
            lock.close()
        raise
    return net


#: Bytes a host's TCP may hand its interface in one TSO/GSO packet: 8 frames of 1,500.
HOST_GSO_MAX_SIZE = 12_000


def cap_host_segments(net: Mininet, size: int = HOST_GSO_MAX_SIZE) -> None:
    """Cap every host interface's GSO packets at `size` bytes, so that switches see near-wire frames.

    Why: a veth link carries the sender's TSO/GSO packets (up to 64 KB)
    into the switch whole, where a real NIC would cut them into frames on
    the wire. Through a 2 Mbit/s queue one 64 KB packet is a quarter of a
    second: iperf3's per-second rates then swing between 1.5 and 2.4 Mbit/s
    and a 4-second run's average depends on where packets fall at its ends
    (measured 1.60-1.90 on one path, 0 retransmits). At 12,000 bytes a
    packet is 48 ms at 2 Mbit/s (per-second 1.82-1.95), and unshaped TCP
    still runs at hundreds of Mbit/s; without any GSO (MTU-sized packets)
    the ACKs of the seed's reverse direction, which its policy matches too,
    would hold h2->h1 near 100 Mbit/s.
    """
    for host in net.hosts:
        for intf in host.intfList():
            if intf.name == "lo":
                continue
            out = host.cmd(f"ip link set dev {intf.name} gso_max_size {size} 2>&1")
            if out.strip():
                raise NetworkError(f"cannot cap GSO on {host.name}:{intf.name}: {out.strip()}")


def stop_network(net: Mininet) -> None:
    """Stop everything the network started, by PID, and release the lock. Safe to call twice."""
    if getattr(net, "qos_stopped", False):
        return
    net.qos_stopped = True
    try:
        net.stop()
        for controller in net.controllers:
            # RemoteController.stop() is a no-op; its shell would otherwise outlive the network.
            if controller.shell is not None:
                controller.terminate()
    finally:
        lock = getattr(net, "qos_lock", None)
        if lock is not None and not lock.closed:
            lock.close()


@contextmanager
def running_network(topo: str | Topo, ovs: OvsEndpoint | None = None, **options: object) -> Iterator[Mininet]:
    """``start_network`` for a ``with`` block; exports ``ovs``'s environment for the network's whole life."""
    with ExitStack() as stack:
        if ovs is not None:
            stack.enter_context(ovs.exported())
        net = start_network(topo, **options)  # type: ignore[arg-type]
        stack.callback(stop_network, net)
        yield net


@dataclass
class Footprint:
    """What a running network holds on the machine, to prove after teardown that nothing is left."""

    pids: set[int] = field(default_factory=set)
    interfaces: set[str] = field(default_factory=set)
    bridges: set[str] = field(default_factory=set)
    namespaces: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, net: Mininet) -> "Footprint":
        """Record node shell PIDs, root-namespace interfaces, bridges and the hosts' network namespaces."""
        pids = {node.pid for node in net.hosts + net.switches + net.controllers if node.pid}
        interfaces = {intf.name for sw in net.switches for intf in sw.intfList() if intf.name != "lo"}
        interfaces |= {sw.name for sw in net.switches}
        namespaces = {_netns_of(host.pid) for host in net.hosts if host.pid} - {None, _netns_of(os.getpid())}
        return cls(pids, interfaces, {sw.name for sw in net.switches}, namespaces)  # type: ignore[arg-type]

    def remaining(self, ovs: OvsEndpoint | None = None) -> list[str]:
        """Descriptions of everything recorded that still exists (process, interface, bridge, namespace).

        Host namespaces are anonymous (no ``ip netns`` name): one lives as long
        as any process is in it, so we look for such a process in /proc.
        """
        left = [f"pid {pid}" for pid in sorted(self.pids) if pid_alive(pid)]
        left += [f"interface {name}" for name in sorted(self.interfaces & _existing_interfaces())]
        if ovs is not None:
            left += [f"bridge {name}" for name in sorted(self.bridges & set(ovs.bridges()))]
        if self.namespaces:
            left += [f"namespace {ns} (pid {pid})" for pid, ns in _processes_in(self.namespaces)]
        return left


def _netns_of(pid: int) -> str | None:
    """The network namespace id of a process (``net:[4026532...]``), None if it is gone."""
    try:
        return os.readlink(f"/proc/{pid}/ns/net")
    except OSError:
        return None


def _processes_in(namespaces: set[str]) -> list[tuple[int, str]]:
    """Live processes whose network namespace is one of ``namespaces``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            ns = _netns_of(int(entry))
            if ns in namespaces and pid_alive(int(entry)):
                found.append((int(entry), ns))
    return found  # type: ignore[return-value]
