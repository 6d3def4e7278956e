"""Shared fixtures for integration tests: a private Open vSwitch, free ports, Mininet networks.

Generic on purpose (the controller and experiment tests reuse them); the
logic lives in ``topologies/`` so the experiment runner can import it too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import pytest
from mininet.net import Mininet

from topologies.netutil import free_tcp_port as _free_tcp_port
from topologies.network import start_network, stop_network
from topologies.ovsenv import PrivateOvs


@pytest.fixture()
def free_tcp_port() -> int:
    """A loopback TCP port nothing listens on (for controllers, REST, OVSDB)."""
    return _free_tcp_port()


@pytest.fixture()
def mininet_network(private_ovs: PrivateOvs) -> Iterator[Callable[..., Mininet]]:
    """Factory: ``mininet_network('linear,4', controller=None, protocols='OpenFlow13', ...)`` -> started net.

    Takes ``topologies.network.start_network``'s arguments. Every network it
    made is stopped at teardown even if the test failed; tests that check the
    teardown itself call ``stop_network`` first (stopping twice is harmless).
    """
    started: list[Mininet] = []

    def build(topo: str, **options: object) -> Mininet:
        net = start_network(topo, **options)  # type: ignore[arg-type]
        started.append(net)
        return net

    yield build
    for net in reversed(started):
        stop_network(net)


@pytest.fixture()
def ovs_workdir(tmp_path: Path) -> Path:
    """A fresh directory for an extra, test-owned PrivateOvs."""
    path = tmp_path / "ovs"
    path.mkdir()
    return path
