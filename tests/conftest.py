"""Fixtures shared by every test directory.

One private Open vSwitch per session: two userspace ovs-vswitchd in the same
network namespace fight over the `ovs-netdev` tap device, so integration and
live browser tests must share this one instead of starting their own.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

from topologies.netutil import free_tcp_port as _free_tcp_port
from topologies.ovsenv import PrivateOvs

#: The tree under test comes first for every process the tests start (qos-controller, qospusher,
#: experiments): run from another checkout with this one's venv, the venv's editable install would
#: otherwise load the venv's own tree in those processes while the tests themselves load this one.
_TREE = str(Path(__file__).resolve().parent.parent)
os.environ["PYTHONPATH"] = os.pathsep.join([_TREE, *filter(None, [os.environ.get("PYTHONPATH")])])


def _require_root() -> None:
    """Integration tests drive namespaces and OVS; fail loudly (never skip) when that is impossible."""
    if os.geteuid() != 0:
        pytest.fail("integration tests need root (network namespaces, Open vSwitch, Mininet)")


@pytest.fixture(scope="session")
def private_ovs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateOvs]:
    """One private ovsdb-server + ovs-vswitchd for the session, exported into os.environ.

    Exported because Mininet reaches OVS only through os.environ (OVS_RUNDIR);
    OVSDB also listens on a loopback TCP port (``private_ovs.tcp_remote``) for
    OVSDB clients such as the python-ovs IDL.
    """
    _require_root()
    ovs = PrivateOvs(tmp_path_factory.mktemp("ovs"), ovsdb_tcp_port=_free_tcp_port())
    with ovs, ovs.exported():
        yield ovs


