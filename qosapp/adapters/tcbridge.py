"""Userspace-datapath queues: tc u32 filters from a queue's DSCP to its HTB class.

On OVS's netdev (userspace) datapath `set_queue` does not shape: packets go
out through AF_PACKET and lose the skb priority that would pick the HTB
class, so everything lands in the default class (measured: ~500 Mbit/s
through a "2 Mbit/s" queue). What works: each Queue row rewrites the DSCP of
its packets (`qosapp.core.queues.queue_dscp`) and one u32 filter per queue on the
egress port sends that DSCP to the queue's class:

    tc filter add dev PORT parent 1:0 protocol ip prio 1 u32 \\
        match ip dsfield <dscp << 2> 0xfc flowid 1:<hex(queue + 1)>

Second, each class's leaf queue is cut to about 50 ms at the class's ceiling
(`leaf_limit`, 16-1000 packets; the default is 1000 packets): OVS's
AF_PACKET socket is charged for every packet a qdisc still holds, so a
class backlogged at its ceiling (1000 packets at 500 kbit/s is 24 s) fills
the socket's send buffer and OVS drops the packets of every other class of
that port before they reach tc (measured: the Ryu book's per-flow example
gave its guaranteed 800 kbit/s queue 107-153 kbit/s next to a full 500 kbit/s
default class; with short leaves, 873 kbit/s, the book's 929).

Filters die with the qdisc, which OVS re-creates when a port's QoS changes
or the port comes back, so they are (re)installed after every QoS write.
This only works where the controller runs next to OVS, as root, in the
network namespace of ovs-vswitchd (`netns` names another one). Running
`tc` is not `ovs-vsctl`: OVS itself has no knob for this, and the kernel's
tc is the only way in. Never with a shell.
"""
from __future__ import annotations

import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from qosapp.core.queues import htb_classid

NETDEV = "netdev"
#: Filters live at one priority so they can be replaced as a group.
FILTER_PRIO = 1
TC_TIMEOUT = 5.0
_CLASS_RE = re.compile(r"^class htb (\S+)", re.MULTILINE)


class TcError(RuntimeError):
    """tc failed, or OVS did not create the HTB qdisc in time."""


@dataclass(frozen=True)
class FilterResult:
    """What happened on one port: filters installed, or why not."""

    port: str
    installed: dict[int, int] = field(default_factory=dict)  # queue id -> DSCP
    skipped: str | None = None

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"port": self.port, "filters": {str(q): d for q, d in sorted(self.installed.items())}}
        if self.skipped:
            out["skipped"] = self.skipped
        return out


def filter_command(port: str, queue_id: int, dscp: int) -> list[str]:
    """The tc command sending DSCP `dscp` on `port` to queue `queue_id`'s class."""
    return ["tc", "filter", "add", "dev", port, "parent", "1:0", "protocol", "ip",
            "prio", str(FILTER_PRIO), "u32", "match", "ip", "dsfield", f"{dscp << 2:#04x}", "0xfc",
            "flowid", htb_classid(queue_id)]


#: a leaf queue holds about this long at the class's ceiling (bounded by the two limits below)
LEAF_SECONDS = 0.05
LEAF_MIN, LEAF_MAX = 16, 1000


def leaf_limit(ceil_bps: int, packet_bytes: int = 1500) -> int:
    """Packets a class's leaf pfifo may hold: ~LEAF_SECONDS at its ceiling."""
    return max(LEAF_MIN, min(LEAF_MAX, int(ceil_bps * LEAF_SECONDS) // (packet_bytes * 8)))


def leaf_command(port: str, queue_id: int, limit: int) -> list[str]:
    return ["tc", "qdisc", "replace", "dev", port, "parent", htb_classid(queue_id), "pfifo", "limit", str(limit)]


def skip_reason(datapath_type: str | None) -> str | None:
    """Why filters cannot or need not be installed here; None if they should be."""
    if datapath_type != NETDEV:
        return (f"bridge datapath is {datapath_type or 'unknown'!r}, not netdev: "
                "the kernel datapath selects the HTB class from the skb priority itself")
    if os.geteuid() != 0:
        return "not root: tc filters on the switch ports need root (run the controller as root next to OVS)"
    return None


def _tc(args: Sequence[str], netns: str | None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run tc (optionally inside a network namespace), bounded in time."""
    command = (["ip", "netns", "exec", netns] if netns else []) + list(args)
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=TC_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise TcError(f"{' '.join(command)}: {err}") from err
    if check and result.returncode != 0:
        raise TcError(f"{' '.join(command)}: {result.stderr.strip() or f'exit {result.returncode}'}")
    return result


def htb_classes(port: str, netns: str | None = None) -> set[str]:
    """The HTB class ids on `port` ("1:1", "1:3", ...); empty if none or no such device."""
    result = _tc(["tc", "class", "show", "dev", port], netns, check=False)
    return set(_CLASS_RE.findall(result.stdout)) if result.returncode == 0 else set()


def wait_for_htb(port: str, queue_ids: Sequence[int], netns: str | None = None,
                 timeout: float = 3.0, interval: float = 0.05) -> bool:
    """Poll until OVS has created the classes of `queue_ids` on `port`.

    OVS applies QoS rows asynchronously; a filter added before the qdisc
    exists fails, and one added to a qdisc about to be replaced vanishes.
    """
    wanted = {htb_classid(q) for q in queue_ids}
    deadline = time.monotonic() + timeout
    while True:
        if wanted <= htb_classes(port, netns):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def remove_queue_filters(port: str, netns: str | None = None) -> None:
    """Delete our filters (all of priority FILTER_PRIO) on the port's HTB qdisc.

    Missing filters, qdisc or device are fine: the goal is "none left".
    """
    _tc(["tc", "filter", "del", "dev", port, "parent", "1:0", "prio", str(FILTER_PRIO)], netns, check=False)


def install_queue_filters(port: str, dscps: Mapping[int, int], datapath_type: str | None = NETDEV,
                          netns: str | None = None, timeout: float = 3.0,
                          ceilings: Mapping[int, int] | None = None) -> FilterResult:
    """(Re)install one DSCP -> class filter per queue on `port`; idempotent.

    `dscps` is what `OvsdbClient.apply_profile` returned; it is only
    non-empty for ports of netdev bridges, hence the default datapath_type
    (pass `OvsdbClient.port_datapath_type(port)` to be explicit). Existing filters
    are replaced, so calling this after every QoS write (and when a port
    comes back) leaves exactly one filter per queue. Skips, saying why, on
    a kernel bridge or without root; raises TcError if OVS did not build
    the HTB classes within `timeout` or tc refuses a filter. `ceilings`
    (queue id -> the class's ceiling in bits/s, queue 0 included) cut each
    class's leaf queue to `leaf_limit` packets (see the module docstring).
    """
    reason = skip_reason(datapath_type)
    if reason:
        return FilterResult(port=port, skipped=reason)
    if not wait_for_htb(port, list(dscps) or [0], netns, timeout):
        raise TcError(f"OVS did not create the HTB classes on {port} within {timeout} s "
                      f"(is the port's QoS set, and is {port} a device in this network namespace?)")
    # Delete-then-add leaves a window of a few ms in which queued packets
    # fall into the default class; tc has no atomic "replace this set".
    remove_queue_filters(port, netns)
    for queue_id, dscp in sorted(dscps.items()):
        _tc(filter_command(port, queue_id, dscp), netns)
    for queue_id, ceil in sorted((ceilings or {}).items()):
        _tc(leaf_command(port, queue_id, leaf_limit(ceil)), netns)
    return FilterResult(port=port, installed=dict(dscps))
