"""OpenFlow admission on real Open vSwitch: the dpid allow-list, and switches over TLS (`ovs-vsctl set-ssl`).

Bridges are userspace (netdev) bridges on the session's private OVS with
names of their own; each test removes what it made.
"""
from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest

from topologies.controller import ControllerProcess
from topologies.ovsenv import PrivateOvs

pytestmark = pytest.mark.integration

ALLOWED = "0000000000000f17"
UNKNOWN = "0000000000000bad"


def dpid_text(hex16: str) -> str:
    return ":".join(hex16[i:i + 2] for i in range(0, 16, 2))


def switches(ctl: ControllerProcess) -> list[str]:
    status, items = ctl.request("GET", "/qos/switches")
    assert status == 200
    return [item["dpid"] for item in items]


def wait_for(predicate, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


@pytest.fixture()
def bridges(private_ovs: PrivateOvs) -> Iterator[list[str]]:
    made: list[str] = []
    yield made
    for name in made:
        private_ovs.vsctl("--if-exists", "del-br", name)


def add_bridge(ovs: PrivateOvs, made: list[str], name: str, dpid: str, target: str) -> None:
    ovs.vsctl("add-br", name, "--", "set", "Bridge", name, "datapath_type=netdev",
              f"other-config:datapath-id={dpid}", "protocols=OpenFlow13", "fail-mode=secure")
    made.append(name)
    ovs.vsctl("set-controller", name, target)


def test_unknown_switches_are_refused_and_logged(private_ovs: PrivateOvs, bridges: list[str],
                                                 tmp_path: Path) -> None:
    with ControllerProcess(tmp_path / "state", extra_args=["--no-queues", "--ofp-allow-dpid",
                                                           dpid_text(ALLOWED)]) as ctl:
        target = f"tcp:127.0.0.1:{ctl.ofp_port}"
        add_bridge(private_ovs, bridges, "f17ok", ALLOWED, target)
        add_bridge(private_ovs, bridges, "f17bad", UNKNOWN, target)
        assert wait_for(lambda: dpid_text(ALLOWED) in switches(ctl))
        assert wait_for(lambda: f"switch {UNKNOWN} from" in ctl.log_tail(500) and "refused" in ctl.log_tail(500))
        time.sleep(1.0)  # the refused switch keeps reconnecting; it must never be listed
        assert switches(ctl) == [dpid_text(ALLOWED)]
        # no QoS flows reach it either: its flow table holds nothing from the controller
        flows = private_ovs.ofctl("-O", "OpenFlow13", "dump-flows", "f17bad")
        assert "cookie=0x5" not in flows and "actions=CONTROLLER" not in flows


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def make_pki(base: Path) -> dict[str, Path]:
    """A CA, and a certificate signed by it for the controller and for the switch."""
    files = {name: base / f"{name}.pem" for name in ("ca", "ca-key", "ctl", "ctl-key", "sw", "sw-key")}
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=qos-sdn test CA",
            "-keyout", str(files["ca-key"]), "-out", str(files["ca"]))
    for who in ("ctl", "sw"):
        csr = base / f"{who}.csr"
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN=qos-sdn {who}", "-keyout",
                str(files[f"{who}-key"]), "-out", str(csr))
        openssl("x509", "-req", "-in", str(csr), "-CA", str(files["ca"]), "-CAkey", str(files["ca-key"]),
                "-CAcreateserial", "-days", "1", "-out", str(files[who]))
    return files


def test_switch_connects_over_tls(private_ovs: PrivateOvs, bridges: list[str], tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    with ControllerProcess(tmp_path / "state", extra_args=[
            "--no-queues", "--ofp-cert", str(pki["ctl"]), "--ofp-key", str(pki["ctl-key"]),
            "--ofp-ca", str(pki["ca"])]) as ctl:
        private_ovs.vsctl("set-ssl", str(pki["sw-key"]), str(pki["sw"]), str(pki["ca"]))
        try:
            # a plain TCP switch is not admitted on the TLS port
            add_bridge(private_ovs, bridges, "f17tcp", UNKNOWN, f"tcp:127.0.0.1:{ctl.ofp_port}")
            add_bridge(private_ovs, bridges, "f17tls", ALLOWED, f"ssl:127.0.0.1:{ctl.ofp_port}")
            assert wait_for(lambda: dpid_text(ALLOWED) in switches(ctl)), ctl.log_tail(50)
            time.sleep(1.0)
            assert switches(ctl) == [dpid_text(ALLOWED)]
            controller = private_ovs.vsctl("--columns=is_connected,target", "list", "Controller")
            assert "ssl:127.0.0.1" in controller
        finally:
            private_ovs.vsctl("del-ssl")
