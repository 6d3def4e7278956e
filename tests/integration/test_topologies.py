"""The data-plane test bed for real: private OVS, Mininet topologies, iperf3, ping, clean teardown.

Everything here runs real parts: ovsdb-server/ovs-vswitchd (userspace
datapath), Mininet hosts in network namespaces, iperf3 and ping inside them,
and a reference Ryu controller process for the controller-mode checks.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest
from mininet.net import Mininet
from mininet.util import buildTopo

from topologies.netutil import wait_tcp_listening
from topologies.network import (ControllerAddress, Footprint, NetworkError, conflicts, make_topo,
                                root_namespace_names, start_network, stop_network)
from topologies.ovsenv import OvsEndpoint, PrivateOvs, find_running, pid_alive
from topologies.traffic import iperf3, loss_fraction, ping_all, stop_process, wait_reachable

pytestmark = pytest.mark.integration

TOPOS_FILE = Path(__file__).resolve().parents[2] / "topologies" / "topos.py"


def ofport(ovs: OvsEndpoint, interface: str) -> int:
    """The OpenFlow port number OVS itself gave an interface (not Mininet's idea of it)."""
    return int(ovs.vsctl("get", "Interface", interface, "ofport"))


def peer_of(net: Mininet, interface: str) -> str:
    """The node at the other end of a switch interface, from Mininet's link objects."""
    switch = net.get(interface.split("-")[0])
    link = switch.intf(interface).link
    return (link.intf2 if link.intf1.name == interface else link.intf1).node.name


def torn_down(net: Mininet, ovs: OvsEndpoint) -> list[str]:
    """Stop the network and return what it left behind (must be empty)."""
    footprint = Footprint.of(net)
    stop_network(net)
    return footprint.remaining(ovs)


# --- private Open vSwitch ---------------------------------------------------------------

def test_private_ovs_starts_serves_and_stops_without_leftovers(ovs_workdir: Path, free_tcp_port: int) -> None:
    ovs = PrivateOvs(ovs_workdir, ovsdb_tcp_port=free_tcp_port).start()
    try:
        pids = ovs.pids()
        assert set(pids) == {"ovsdb-server", "ovs-vswitchd"}
        assert ovs.db_sock.is_socket() and ovs.db_answers() and ovs.vswitchd_answers()
        assert wait_tcp_listening(free_tcp_port, timeout=5)
        assert ovs.userspace_tso_enabled()
        # The environment alone (no --db) points the OVS tools at this instance.
        shown = subprocess.run(["ovs-vsctl", "get", "Open_vSwitch", ".", "external_ids:qos-sdn-private"],
                               env=ovs.env, capture_output=True, text=True, timeout=10)
        assert shown.stdout.strip() == '"true"', shown.stderr
    finally:
        ovs.stop()
    assert ovs.pids() == {} and not ovs.running
    assert not any(pid_alive(pid) for pid in pids.values())
    assert not ovs.db_sock.exists()
    assert not wait_tcp_listening(free_tcp_port, timeout=0.2)
    ovs.stop()  # a second stop is harmless


def test_find_running_sees_an_answering_instance_only(private_ovs: PrivateOvs, tmp_path: Path) -> None:
    found = find_running(private_ovs.rundir)
    assert found is not None and found.db_sock == private_ovs.db_sock
    assert find_running(tmp_path) is None
    stale = tmp_path / "db.sock"
    stale.touch()  # a leftover file with nobody behind it
    assert find_running(tmp_path) is None


# --- topology definitions -----------------------------------------------------------------

def test_topos_file_loads_the_way_mn_custom_loads_it() -> None:
    customs: dict[str, object] = {}
    exec(compile(TOPOS_FILE.read_text(), str(TOPOS_FILE), "exec"), customs, customs)  # as `mn --custom` does
    topos = customs["topos"]
    assert set(topos) >= {"linear", "tree", "ring"}  # type: ignore[arg-type]
    linear = buildTopo(topos, "linear,4")  # type: ignore[arg-type]
    assert linear.hosts() == ["h1", "h2", "h3", "h4"] and linear.switches() == ["s1", "s2", "s3", "s4"]
    assert [linear.nodeInfo(f"h{i}")["ip"] for i in range(1, 5)] == [f"10.0.0.{i}/8" for i in range(1, 5)]
    assert [linear.nodeInfo(f"s{i}")["dpid"] for i in range(1, 5)] == [f"{i:016x}" for i in range(1, 5)]
    tree = buildTopo(topos, "tree,depth=2,fanout=3")  # type: ignore[arg-type]
    assert len(tree.switches()) == 4 and len(tree.hosts()) == 9
    assert len(buildTopo(topos, "ring,5").links()) == 10  # type: ignore[arg-type]


def test_root_namespace_names_are_switches_and_their_ports() -> None:
    assert root_namespace_names(make_topo("linear,2")) == {"s1", "s2", "s1-eth1", "s1-eth2", "s2-eth1", "s2-eth2"}


# --- linear,4: the seed's network -----------------------------------------------------------

def test_linear4_standalone_pings_and_carries_tcp(private_ovs: PrivateOvs,
                                                 mininet_network: Callable[..., Mininet]) -> None:
    net = mininet_network("linear,4")
    assert sorted(private_ovs.bridges()) == ["s1", "s2", "s3", "s4"]
    assert [h.IP() for h in net.hosts] == ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]
    for i in range(1, 5):
        assert private_ovs.vsctl("get", "Bridge", f"s{i}", "datapath_id").strip('"\n') == f"{i:016x}"
        assert private_ovs.vsctl("get", "Bridge", f"s{i}", "datapath_type").strip() == "netdev"
    # The seed's port numbers, as OVS assigned them.
    for interface, port, peer in [("s1-eth1", 1, "h1"), ("s1-eth2", 2, "s2"), ("s2-eth1", 1, "h2"),
                                  ("s2-eth2", 2, "s1"), ("s2-eth3", 3, "s3"), ("s4-eth2", 2, "s3")]:
        assert (ofport(private_ovs, interface), peer_of(net, interface)) == (port, peer)

    results = ping_all(net.hosts)
    assert len(results) == 12 and loss_fraction(results) == 0.0, [r for r in results if not r.ok]

    h1, h2 = net.get("h1", "h2")
    rate = iperf3(h1, h2, seconds=3)
    assert rate.protocol == "TCP" and rate.mbps > 100, rate
    assert torn_down(net, private_ovs) == []


def test_popen_pid_is_the_tool_itself(mininet_network: Callable[..., Mininet]) -> None:
    """Why stopping iperf3/ping by the Popen's PID is exact: mnexec execs the tool in place."""
    net = mininet_network("linear,2")
    proc = net.get("h1").popen(["sleep", "30"])
    try:
        # Popen may return a moment before the kernel renames the child (python -> mnexec -> sleep);
        # mnexec joins the host's namespaces, then execs the tool under the same PID.
        deadline = time.monotonic() + 5
        while Path(f"/proc/{proc.pid}/comm").read_text().strip() != "sleep" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert Path(f"/proc/{proc.pid}/comm").read_text().strip() == "sleep"
        assert proc.poll() is None
    finally:
        stop_process(proc)
    assert proc.returncode is not None


def test_a_second_network_waits_for_the_first_then_refuses(mininet_network: Callable[..., Mininet]) -> None:
    mininet_network("linear,2")
    with pytest.raises(NetworkError, match="holds"):
        start_network("linear,2", lock_timeout=0.5)


def test_refuses_to_build_over_an_existing_interface(private_ovs: PrivateOvs) -> None:
    from mininet.topo import Topo
    topo = Topo()
    topo.addSwitch("lo", dpid="1")  # "lo" exists in every namespace; Mininet would try to replace it
    assert conflicts(topo, private_ovs) == ["lo"]
    with pytest.raises(NetworkError, match="refusing"):
        start_network(topo, lock_timeout=0.5)
    assert private_ovs.bridges() == []


# --- tree and ring -----------------------------------------------------------------------

def test_tree_standalone_pings_and_tears_down(private_ovs: PrivateOvs,
                                              mininet_network: Callable[..., Mininet]) -> None:
    net = mininet_network("tree,depth=2,fanout=2")
    assert [s.name for s in net.switches] == ["s1", "s2", "s3"] and len(net.hosts) == 4
    for interface, port, peer in [("s1-eth1", 1, "s2"), ("s1-eth2", 2, "s3"), ("s2-eth1", 1, "h1"),
                                  ("s2-eth3", 3, "s1"), ("s3-eth2", 2, "h4")]:
        assert (ofport(private_ovs, interface), peer_of(net, interface)) == (port, peer)
    results = ping_all(net.hosts)
    assert loss_fraction(results) == 0.0, [r for r in results if not r.ok]
    assert torn_down(net, private_ovs) == []


def test_ring_standalone_converges_with_rstp(private_ovs: PrivateOvs,
                                             mininet_network: Callable[..., Mininet]) -> None:
    net = mininet_network("ring,4")
    assert private_ovs.vsctl("get", "Bridge", "s1", "rstp_enable").strip() == "true"
    assert (ofport(private_ovs, "s1-eth2"), peer_of(net, "s1-eth2")) == (2, "s2")
    assert (ofport(private_ovs, "s1-eth3"), peer_of(net, "s1-eth3")) == (3, "s4")
    results = wait_reachable(net.hosts, timeout=30)
    assert len(results) == 12
    assert torn_down(net, private_ovs) == []


# --- with a controller -------------------------------------------------------------------

_RYU_SHIM = ("import sys, eventlet.wsgi as w\n"
             "w.ALREADY_HANDLED = getattr(w, 'ALREADY_HANDLED', object())\n"
             "from ryu.cmd.manager import main\n"
             "main(args=sys.argv[1:])\n")


@pytest.fixture()
def reference_controller(free_tcp_port: int, tmp_path: Path) -> Iterator[Callable[[str], ControllerAddress]]:
    """Factory: a ryu-manager running one of Ryu's own L2 switch apps, stopped by its PID."""
    procs: list[subprocess.Popen] = []

    def start(app: str) -> ControllerAddress:
        log = open(tmp_path / "ryu.log", "wb")
        proc = subprocess.Popen([sys.executable, "-c", _RYU_SHIM, "--ofp-listen-host", "127.0.0.1",
                                 "--ofp-tcp-listen-port", str(free_tcp_port), app],
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        procs.append(proc)
        if not wait_tcp_listening(free_tcp_port, timeout=20):
            raise AssertionError((tmp_path / "ryu.log").read_text()[-2000:])
        return ControllerAddress("127.0.0.1", free_tcp_port)

    yield start
    for proc in procs:
        stop_process(proc, grace=5)


@pytest.mark.parametrize("protocols, app", [("OpenFlow10", "ryu.app.simple_switch"),
                                            ("OpenFlow13", "ryu.app.simple_switch_13")])
def test_linear4_with_a_remote_controller(private_ovs: PrivateOvs, mininet_network: Callable[..., Mininet],
                                          reference_controller: Callable[[str], ControllerAddress],
                                          protocols: str, app: str) -> None:
    address = reference_controller(app)
    net = mininet_network("linear,4", controller=address, protocols=protocols, wait_connected=20)
    assert private_ovs.vsctl("get", "Bridge", "s1", "protocols").strip() == f"[{protocols}]"
    assert private_ovs.vsctl("get", "Bridge", "s1", "fail_mode").strip() == "secure"
    assert all(sw.connected() for sw in net.switches)
    assert len(wait_reachable(net.hosts, timeout=20)) == 12
    assert torn_down(net, private_ovs) == []
