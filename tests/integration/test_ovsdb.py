"""OvsdbClient + tcbridge against a real, private Open vSwitch (userspace datapath).

The bed: a private ovsdb-server (unix socket + loopback TCP) and an
ovs-vswitchd that runs in its own network namespace, a netdev bridge, and two
host namespaces (A on port 1, B on port 2) joined to it by veth pairs.

Why ovs-vswitchd gets its own namespace (and `topologies.ovsenv.PrivateOvs`
is not used): the userspace datapath creates a tap device called
"ovs-netdev"; a second ovs-vswitchd in the same namespace cannot (EBUSY),
so its netdev bridges never come up while any other userspace OVS runs on
the machine. In a namespace of its own it cannot collide with anyone.

ovs-vsctl builds the bed and ovs-ofctl adds the test's flows; the code under
test never runs either. Everything started here is stopped by PID/pidfile
and every namespace created is deleted.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from qosapp.adapters.ovsdb import OvsdbClient, OvsdbError
from qosapp.core.model import Match
from qosapp.core.queues import parse_queue_profile
from qosapp.core.shaping import PortFilter
from qosapp.adapters.tcbridge import htb_classes, install_port_filters
from topologies.netutil import free_tcp_port
from topologies.network import HOST_GSO_MAX_SIZE

pytestmark = pytest.mark.integration

SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"
SEED = {"sw": "all", "port": "all", "max-rate": "10G",
        "queues": {"0": {"max-rate": "10G"}, "1": {"max-rate": "20M"}, "2": {"max-rate": "2M"}}}
DPID = 0xA1
HOST_A, HOST_B = "10.213.0.1", "10.213.0.2"
UNSHAPED_MBPS = 50.0


def run(*argv: str, env: dict[str, str] | None = None, check: bool = True, timeout: float = 20) -> str:
    result = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} -> {result.returncode}: {result.stderr.strip()}")
    return result.stdout


def stop_pidfile(pidfile: Path, timeout: float = 5.0) -> None:
    """SIGTERM the daemon named by our pidfile and wait until it is gone."""
    try:
        pid = int(pidfile.read_text().strip())
    except (FileNotFoundError, ValueError):
        return
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return
    if f"--pidfile={pidfile}".encode() not in cmdline:
        return  # pid reused by someone else's process: not ours to signal
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    if Path(f"/proc/{pid}").exists():
        os.kill(pid, signal.SIGKILL)


@dataclass
class Bed:
    workdir: Path
    tag: str
    tcp_port: int

    @property
    def sw_ns(self) -> str:
        return f"qo{self.tag}-sw"

    def host_ns(self, host: str) -> str:
        return f"qo{self.tag}-h{host}"

    def port(self, host: str) -> str:
        return f"qo{self.tag}{host}"

    @property
    def bridge(self) -> str:
        return f"qo{self.tag}br"

    @property
    def unix_remote(self) -> str:
        return f"unix:{self.workdir / 'db.sock'}"

    @property
    def tcp_remote(self) -> str:
        return f"tcp:127.0.0.1:{self.tcp_port}"

    @property
    def env(self) -> dict[str, str]:
        """OVS tools find bridges' .mgmt sockets and control sockets here."""
        return {**os.environ, "OVS_RUNDIR": str(self.workdir), "OVS_DBDIR": str(self.workdir),
                "OVS_LOGDIR": str(self.workdir)}

    def vsctl(self, *args: str) -> str:
        return run("ovs-vsctl", f"--db={self.unix_remote}", "--timeout=10", *args, env=self.env)

    def ofctl(self, *args: str) -> str:
        return run("ovs-ofctl", "--timeout=10", *args, env=self.env)

    def in_sw(self, *argv: str, check: bool = True) -> str:
        return run("ip", "netns", "exec", self.sw_ns, *argv, check=check)

    def rows(self, table: str) -> list[dict[str, object]]:
        """A table as ovs-vsctl sees it: the independent witness of what the client wrote."""
        data = json.loads(self.vsctl("--format=json", "--data=json", "list", table))
        return [dict(zip(data["headings"], row)) for row in data["data"]]

    def iperf_mbps(self, seconds: int = 5) -> float:
        """A -> B TCP throughput in Mbit/s, measured by the receiver."""
        port = str(free_tcp_port())
        server = subprocess.Popen(["ip", "netns", "exec", self.host_ns("b"), "iperf3", "-s", "-1", "-p", port],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(0.3)
            # -O 1: leave TCP's slow start out, it is not the queue's rate (seen: 1.68 instead of ~1.9)
            out = run("ip", "netns", "exec", self.host_ns("a"), "iperf3", "-c", HOST_B, "-p", port,
                      "-t", str(seconds), "-O", "1", "-J", timeout=seconds + 16, check=False)
            report = json.loads(out)
            assert "error" not in report, report["error"]
            return report["end"]["sum_received"]["bits_per_second"] / 1e6
        finally:
            server.terminate()
            try:
                server.wait(timeout=5)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _start(bed: Bed) -> None:
    work = bed.workdir
    run("ovsdb-tool", "create", str(work / "conf.db"), SCHEMA)
    run("ovsdb-server", str(work / "conf.db"), f"--remote=p{bed.unix_remote}",
        f"--remote=ptcp:{bed.tcp_port}:127.0.0.1", "--remote=db:Open_vSwitch,Open_vSwitch,manager_options",
        f"--pidfile={work / 'ovsdb-server.pid'}",
        f"--unixctl={work / 'ovsdb-server.ctl'}", f"--log-file={work / 'ovsdb-server.log'}",
        "-vconsole:off", "--no-chdir", "--detach", env=bed.env)
    run("ovs-vsctl", f"--db={bed.unix_remote}", "--no-wait", "init", env=bed.env)
    # read by ovs-vswitchd only at start: without it TCP hangs on the userspace datapath
    run("ovs-vsctl", f"--db={bed.unix_remote}", "--no-wait", "set", "Open_vSwitch", ".",
        "other_config:userspace-tso-enable=true", env=bed.env)
    for ns in (bed.sw_ns, bed.host_ns("a"), bed.host_ns("b")):
        run("ip", "netns", "add", ns)
        run("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
    run("ip", "netns", "exec", bed.sw_ns, "ovs-vswitchd", bed.unix_remote,
        f"--pidfile={work / 'ovs-vswitchd.pid'}", f"--unixctl={work / 'ovs-vswitchd.ctl'}",
        f"--log-file={work / 'ovs-vswitchd.log'}", "-vconsole:off", "--no-chdir", "--detach", env=bed.env)
    bed.vsctl("add-br", bed.bridge, "--", "set", "Bridge", bed.bridge, "datapath_type=netdev",
              "fail_mode=secure", f"other_config:datapath-id={DPID:016x}")
    for number, (host, address) in enumerate((("a", HOST_A), ("b", HOST_B)), start=1):
        run("ip", "link", "add", bed.port(host), "type", "veth", "peer", "name", "eth0", "netns", bed.host_ns(host))
        run("ip", "link", "set", bed.port(host), "netns", bed.sw_ns)
        bed.in_sw("ip", "link", "set", bed.port(host), "up")
        run("ip", "netns", "exec", bed.host_ns(host), "ip", "addr", "add", f"{address}/24", "dev", "eth0")
        # the same cap as Mininet hosts get (topologies.network.cap_host_segments says why): whole 64 KB
        # TSO packets through the 2 Mbit/s queue made an 8 s average read 1.69 Mbit/s in CI
        run("ip", "netns", "exec", bed.host_ns(host), "ip", "link", "set", "dev", "eth0",
            "gso_max_size", str(HOST_GSO_MAX_SIZE))
        run("ip", "netns", "exec", bed.host_ns(host), "ip", "link", "set", "eth0", "up")
        bed.vsctl("add-port", bed.bridge, bed.port(host), "--", "set", "Interface", bed.port(host),
                  f"ofport_request={number}")
    bed.ofctl("add-flow", bed.bridge, "priority=1,in_port=1,actions=output:2")
    bed.ofctl("add-flow", bed.bridge, "priority=1,in_port=2,actions=output:1")


def _stop(bed: Bed) -> None:
    stop_pidfile(bed.workdir / "ovs-vswitchd.pid")
    stop_pidfile(bed.workdir / "ovsdb-server.pid")
    for ns in (bed.host_ns("a"), bed.host_ns("b"), bed.sw_ns):
        run("ip", "netns", "delete", ns, check=False)  # takes the veth pairs with it


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    if os.geteuid() != 0:
        pytest.fail("integration tests need root (network namespaces, Open vSwitch, tc)")
    bed = Bed(tmp_path_factory.mktemp("ovsdb"), secrets.token_hex(2), free_tcp_port())
    try:
        _start(bed)
        yield bed
    finally:
        _stop(bed)
    assert not Path(f"/run/netns/{bed.sw_ns}").exists()


@pytest.fixture()
def client(bed: Bed) -> Iterator[OvsdbClient]:
    ovsdb = OvsdbClient(bed.tcp_remote, timeout=5)
    yield ovsdb
    ovsdb.clear_port(bed.port("a"))
    ovsdb.clear_port(bed.port("b"))
    ovsdb.close()


#: what a flow "ip, nw_src=10.213.0.1 -> set_queue:Q" needs on its out port: that match to Q's class
def from_a(queue: int) -> tuple[PortFilter, ...]:
    return (PortFilter.of(queue, 10, Match(eth_type=0x0800, ipv4_src="10.213.0.1")),)


def apply_seed(ovsdb: OvsdbClient, bed: Bed, host: str = "b", filters: tuple[PortFilter, ...] = ()) -> None:
    port = bed.port(host)
    ovsdb.apply_profile(port, parse_queue_profile(SEED))
    assert install_port_filters(port, filters, ovsdb.port_datapath_type(port), netns=bed.sw_ns) is None


def u32_filters(bed: Bed, port: str) -> list[tuple[str, str]]:
    """(flowid, first matched key/mask at offset 12 = IPv4 source) of every u32 filter on the port."""
    text = bed.in_sw("tc", "filter", "show", "dev", port, check=False)
    return re.findall(r"flowid (\S+).*\n\s+match ([0-9a-f]{8}/[0-9a-f]{8}) at 12", text)


# ---------------------------------------------------------------- reading
def test_bridges_map_dpid_to_netdev_bridge_and_ports(bed: Bed, client: OvsdbClient) -> None:
    bridge = client.bridges()[DPID]
    assert bridge["name"] == bed.bridge and bridge["datapath_type"] == "netdev"
    assert bridge["ports"][1] == bed.port("a") and bridge["ports"][2] == bed.port("b")
    assert client.port_map()[DPID] == bridge["ports"]
    assert client.port_datapath_type(bed.port("b")) == "netdev"
    assert client.port_datapath_type("no-such-port") is None


# ---------------------------------------------------------------- writing
def test_seed_profile_over_tcp_then_unix_leaves_one_set_of_rows(bed: Bed, client: OvsdbClient) -> None:
    port = bed.port("b")
    apply_seed(client, bed, filters=from_a(2))
    first_qos = bed.rows("QoS")
    assert len(first_qos) == 1 and first_qos[0]["type"] == "linux-htb"
    assert dict(first_qos[0]["other_config"][1]) == {"max-rate": "10000000000"}
    queues = {json.dumps(row["other_config"]): row["dscp"] for row in bed.rows("Queue")}
    assert queues == {'["map", [["max-rate", "10000000000"]]]': ["set", []],  # no queue rewrites DSCP
                      '["map", [["max-rate", "20000000"]]]': ["set", []], '["map", [["max-rate", "2000000"]]]': ["set", []]}
    assert client.port_qos(port)["queues"] == {0: {"max-rate": 10**10, "dscp": None},
                                               1: {"max-rate": 20_000_000, "dscp": None},
                                               2: {"max-rate": 2_000_000, "dscp": None}}
    assert {"1:1", "1:2", "1:3"} <= htb_classes(port, bed.sw_ns)
    classes = bed.in_sw("tc", "class", "show", "dev", port)
    assert re.search(r"class htb 1:3 .*ceil 2Mbit", classes) and re.search(r"class htb 1:2 .*ceil 20Mbit", classes)
    assert u32_filters(bed, port) == [("1:3", "0ad50001/ffffffff")]  # 10.213.0.1 -> queue 2

    over_unix = OvsdbClient(bed.unix_remote, timeout=5)
    try:
        apply_seed(over_unix, bed, filters=from_a(2))
        assert over_unix.owned_rows() == {"QoS": 1, "Queue": 3}
    finally:
        over_unix.close()
    second_qos = bed.rows("QoS")
    assert len(second_qos) == 1 and second_qos[0]["_uuid"] != first_qos[0]["_uuid"]  # replaced, old deleted
    assert len(bed.rows("Queue")) == 3
    assert u32_filters(bed, port) == [("1:3", "0ad50001/ffffffff")]  # replaced, not doubled


def test_queue_two_shapes_to_2_mbits_queue_one_to_20_and_clear_restores(bed: Bed, client: OvsdbClient) -> None:
    port = bed.port("b")
    apply_seed(client, bed, filters=from_a(2))
    bed.ofctl("add-flow", bed.bridge, "priority=10,ip,in_port=1,nw_src=10.213.0.1,actions=set_queue:2,output:2")
    try:
        q2 = bed.iperf_mbps(seconds=8)
        assert 0.85 * 2 <= q2 <= 1.10 * 2, f"queue 2 (2 Mbit/s) carried {q2:.2f} Mbit/s"
        bed.ofctl("mod-flows", bed.bridge, "priority=10,ip,in_port=1,nw_src=10.213.0.1,actions=set_queue:1,output:2")
        assert install_port_filters(port, from_a(1), "netdev", netns=bed.sw_ns) is None
        q1 = bed.iperf_mbps()
        assert 0.85 * 20 <= q1 <= 1.10 * 20, f"queue 1 (20 Mbit/s) carried {q1:.2f} Mbit/s"

        assert client.clear_port(port) is True
        assert bed.rows("QoS") == [] and bed.rows("Queue") == []
        assert client.port_qos(port) is None
        assert htb_classes(port, bed.sw_ns) == set()
        cleared = bed.iperf_mbps()
        print(f"A->B through queue 2: {q2:.2f}, queue 1: {q1:.2f}, after clear_port: {cleared:.0f} Mbit/s")
        assert cleared > UNSHAPED_MBPS, f"after clear_port only {cleared:.2f} Mbit/s"
        assert client.clear_port(port) is False  # nothing of ours left
    finally:
        bed.ofctl("--strict", "del-flows", bed.bridge, "priority=10,ip,in_port=1,nw_src=10.213.0.1")


def test_rows_someone_else_made_are_detached_never_deleted(bed: Bed, client: OvsdbClient) -> None:
    port = bed.port("a")
    foreign = bed.vsctl("--", "set", "Port", port, "qos=@q", "--", "--id=@q", "create", "QoS", "type=linux-htb",
                        "other_config:max-rate=1000000000").strip()
    try:
        assert client.clear_port(port) is False
        assert client.port_qos(port)["owned"] is False  # not ours: left on the port
        client.apply_profile(port, parse_queue_profile(SEED))
        assert client.port_qos(port)["owned"] is True
        assert foreign in [row["_uuid"][1] for row in bed.rows("QoS")]  # detached, still there
        assert client.clear_port(port) is True
        assert [row["_uuid"][1] for row in bed.rows("QoS")] == [foreign] and bed.rows("Queue") == []
    finally:
        bed.vsctl("--if-exists", "clear", "Port", port, "qos", "--", "--if-exists", "destroy", "QoS", foreign)


def test_a_deleted_port_leaves_orphans_that_are_swept(bed: Bed, client: OvsdbClient) -> None:
    port = bed.port("a")
    client.apply_profile(port, parse_queue_profile(SEED))
    bed.vsctl("del-port", bed.bridge, port)
    try:
        assert client.owned_rows() == {"QoS": 1, "Queue": 3}  # QoS/Queue are root tables: they stay
        assert client.remove_orphans() == 4
        assert client.owned_rows() == {"QoS": 0, "Queue": 0}
        client.apply_profile(bed.port("b"), parse_queue_profile(SEED))
        bed.vsctl("del-port", bed.bridge, bed.port("b"))
        assert client.clear_port(bed.port("b")) is True  # a vanished port: its rows are still removed
        assert bed.rows("QoS") == [] and bed.rows("Queue") == []
    finally:
        for number, host in ((1, "a"), (2, "b")):
            bed.vsctl("--may-exist", "add-port", bed.bridge, bed.port(host), "--", "set", "Interface",
                      bed.port(host), f"ofport_request={number}")


def test_unknown_port_is_an_error_and_a_kernel_bridge_gets_no_filters(bed: Bed, client: OvsdbClient) -> None:
    with pytest.raises(OvsdbError, match="no port"):
        client.apply_profile("no-such-port", parse_queue_profile(SEED))
    client.apply_profile(bed.port("b"), parse_queue_profile(SEED))
    assert all(row["dscp"] == ["set", []] for row in bed.rows("Queue"))
    skipped = install_port_filters(bed.port("b"), from_a(2), "system", netns=bed.sw_ns)
    assert skipped is not None and "not netdev" in skipped


def test_a_connection_the_server_dropped_is_noticed_and_reads_are_fresh(bed: Bed) -> None:
    """ovsdb-server drops TCP clients that leave its probe unanswered; we only talk when called."""
    port = free_tcp_port()
    bed.vsctl("--", "set", "Open_vSwitch", ".", "manager_options=@m", "--", "--id=@m", "create", "Manager",
              f"target=\"ptcp:{port}:127.0.0.1\"", "inactivity_probe=1000")
    log = bed.workdir / "ovsdb-server.log"
    ovsdb = OvsdbClient(f"tcp:127.0.0.1:{port}", timeout=5)
    try:
        deadline = time.monotonic() + 5
        while True:  # ovsdb-server opens the Manager's port asynchronously
            try:
                ovsdb.connect()
                break
            except OvsdbError:
                assert time.monotonic() < deadline, "ovsdb-server never listened on the Manager port"
                time.sleep(0.1)
        assert DPID in ovsdb.bridges()
        drops = log.read_text().count("no response to inactivity probe")
        time.sleep(3)  # probe after 1 s idle, drop after 1 s more
        assert log.read_text().count("no response to inactivity probe") > drops
        bed.vsctl("add-br", f"{bed.bridge}2", "--", "set", "Bridge", f"{bed.bridge}2", "datapath_type=netdev",
                  "other_config:datapath-id=00000000000000b2")
        assert 0xB2 in ovsdb.bridges()  # not the replica from before the drop
    finally:
        ovsdb.close()
        bed.vsctl("--if-exists", "del-br", f"{bed.bridge}2", "--", "clear", "Open_vSwitch", ".", "manager_options")
        bed.vsctl("--all", "destroy", "Manager")


# ---------------------------------------------------------------- eventlet, timeouts
GREEN_SCRIPT = textwrap.dedent("""
    import eventlet
    eventlet.monkey_patch()
    import json, socket, sys, time
    from qosapp.adapters.ovsdb import OvsdbClient, OvsdbError
    from qosapp.core.queues import parse_queue_profile

    ticks = []
    def ticker():
        while True:
            ticks.append(time.monotonic())
            eventlet.sleep(0.005)
    eventlet.spawn(ticker)
    eventlet.sleep(0)
    remote, port, profile = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    out = {}
    client = OvsdbClient(remote, timeout=5)
    out["dscps"] = client.apply_profile(port, parse_queue_profile(profile))
    out["cleared"] = client.clear_port(port)
    client.close()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts, never answers: a hung server
    before, start = len(ticks), time.monotonic()
    try:
        OvsdbClient("tcp:127.0.0.1:%d" % silent.getsockname()[1], timeout=1).bridges()
    except OvsdbError as err:
        out["error"] = str(err)
    out["seconds"] = time.monotonic() - start
    out["ticks_while_waiting"] = len(ticks) - before
    print(json.dumps(out))
""")


def test_client_under_eventlet_works_and_waits_cooperatively_with_a_deadline(bed: Bed) -> None:
    root = Path(__file__).resolve().parents[2]
    out = run(sys.executable, "-c", GREEN_SCRIPT, bed.tcp_remote, bed.port("b"), json.dumps(SEED),
              env={**os.environ, "PYTHONPATH": str(root)}, timeout=30)
    result = json.loads(out.strip().splitlines()[-1])
    assert result["dscps"] is None and result["cleared"] is True
    assert "did not send its schema within 1" in result["error"]
    assert 0.9 <= result["seconds"] < 3
    assert result["ticks_while_waiting"] > 50  # the hub kept running while the client waited


def test_without_ovs_vswitchd_a_write_commits_and_returns_in_bounded_time(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A database nobody applies (ovs-vswitchd down): warn, do not hang."""
    db, sock = tmp_path / "conf.db", tmp_path / "db.sock"
    pidfile = tmp_path / "ovsdb-server.pid"
    run("ovsdb-tool", "create", str(db), SCHEMA)
    run("ovsdb-server", str(db), f"--remote=punix:{sock}", f"--pidfile={pidfile}",
        f"--unixctl={tmp_path / 'ovsdb-server.ctl'}", f"--log-file={tmp_path / 'ovsdb-server.log'}",
        "-vconsole:off", "--no-chdir", "--detach")
    try:
        run("ovs-vsctl", f"--db=unix:{sock}", "--no-wait", "init", "--", "add-br", "lonely", "--",
            "set", "Bridge", "lonely", "datapath_type=netdev", "--", "add-port", "lonely", "lonely-p1")
        ovsdb = OvsdbClient(f"unix:{sock}", timeout=1)
        start = time.monotonic()
        with caplog.at_level("WARNING", logger="qosapp.adapters.ovsdb"):
            ovsdb.apply_profile("lonely-p1", parse_queue_profile(SEED))
        assert 0.9 <= time.monotonic() - start < 3
        assert "is ovs-vswitchd running?" in caplog.text
        assert ovsdb.owned_rows() == {"QoS": 1, "Queue": 3}
        assert ovsdb.bridges() == {}  # no datapath_id until ovs-vswitchd fills it in
        ovsdb.close()
    finally:
        stop_pidfile(pidfile)


def test_unreachable_ovsdb_fails_fast() -> None:
    start = time.monotonic()
    with pytest.raises(OvsdbError, match="cannot connect"):
        OvsdbClient(f"tcp:127.0.0.1:{free_tcp_port()}", timeout=1).bridges()
    assert time.monotonic() - start < 2
