"""Userspace-datapath queues: per-port tc u32 filters from the matches of the flows that enqueue there.

On OVS's netdev (userspace) datapath `set_queue` does not shape: packets go
out through AF_PACKET and lose the skb priority that would pick the HTB
class, so everything lands in the default class (measured: ~500 Mbit/s
through a "2 Mbit/s" queue). tc on this kernel classifies (HTB, u32) but
has no actions, so nothing can mark the packet for a later hop either.
What works and stays on its port: for each flow that enqueues into a queue
of this port, one u32 filter on the port's HTB qdisc with that flow's own
match, sending it to the queue's class (`qosapp.core.shaping` says why, and
which flows go where). For example the seed's s1 policy on s1-eth2:

    tc filter add dev s1-eth2 parent 1:0 protocol ip prio 1 u32 \\
        match ip src 10.0.0.1/32 match ip protocol 6 0xff flowid 1:3

Second, each class's leaf queue is cut to about 50 ms at the class's ceiling
(`leaf_limit`, 16-1000 packets; the default is 1000 packets): OVS's
AF_PACKET socket is charged for every packet a qdisc still holds, so a
class backlogged at its ceiling (1000 packets at 500 kbit/s is 24 s) fills
the socket's send buffer and OVS drops the packets of every other class of
that port before they reach tc (measured: the Ryu book's per-flow example
gave its guaranteed 800 kbit/s queue 107-153 kbit/s next to a full 500 kbit/s
default class; with short leaves, 873 kbit/s, the book's 929).

Filters are ordered like the flows (higher OpenFlow priority first, each at
its own tc prio). They die with the qdisc, which OVS re-creates when a
port's QoS changes or the port comes back, so the core installs them again
after every QoS write. What u32 cannot see here: the OpenFlow in_port (on
egress the packet has left the switch) and the VLAN tag; such a filter
matches the other fields only, and `install_port_filters` says so. This
only works where the controller runs next to OVS, as root, in the network
namespace of ovs-vswitchd (`netns` names another one). Never with a shell.
"""
from __future__ import annotations

import os
import re
import subprocess
import time
from typing import Any, Mapping, Sequence

from qosapp.core.queues import htb_classid
from qosapp.core.shaping import PortFilter

NETDEV = "netdev"
#: The first tc prio our filters take (each filter its own, in order).
FILTER_PRIO = 1
#: Match fields u32 cannot express on an egress port (the filter then matches the others).
UNEXPRESSED = {"in_port": "ingress-port", "vlan_vid": "vlan-id"}
TC_TIMEOUT = 5.0
_CLASS_RE = re.compile(r"^class htb (\S+)", re.MULTILINE)
#: one u32 filter (not its hash-table header lines) in `tc filter show`
_FILTER_RE = re.compile(r"^filter protocol (\S+) pref (\d+) u32 .*fh [0-9a-f]+::[0-9a-f]+ .*?\*?flowid (\S+)",
                        re.MULTILINE)
_LEAF_RE = re.compile(r"^qdisc pfifo \S+ parent (\S+) limit (\d+)p", re.MULTILINE)
#: `tc class show` of an HTB class: its id, rate (the guarantee) and ceil (the limit)
_RATES_RE = re.compile(r"^class htb 1:([0-9a-f]+) .*?\brate (\d+(?:\.\d+)?)([KMGT]?)bit ceil (\d+(?:\.\d+)?)([KMGT]?)bit",
                       re.MULTILINE)
_UNITS = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
#: the class OVS's linux-htb makes for the port itself; queue N is 1:<hex(N+1)>
ROOT_CLASS = 0xFFFE


class TcError(RuntimeError):
    """tc failed, or OVS did not create the HTB qdisc in time."""


def selectors(match: Any) -> tuple[str, list[str], list[str]]:
    """(tc protocol, u32 selector words, the policy keys tc cannot express) for one flow match.

    IPv6 (eth-type 0x86dd) uses u32's `ip6` selectors: src/dst prefixes,
    protocol (the next header), priority (the traffic class, whose upper six
    bits are the DSCP) and ports (assuming no extension headers).
    """
    words: list[str] = []
    v6 = match.eth_type == 0x86DD
    family, host = ("ip6", 128) if v6 else ("ip", 32)
    for attr, selector in ((("ipv6_src", "src"), ("ipv6_dst", "dst")) if v6 else
                           (("ipv4_src", "src"), ("ipv4_dst", "dst"))):
        value = getattr(match, attr)
        if value is not None:
            words += ["match", family, selector, value if "/" in value else f"{value}/{host}"]
    if match.ip_proto is not None:
        words += ["match", family, "protocol", str(match.ip_proto), "0xff"]
    if match.ip_dscp is not None:
        words += ["match", family, "priority" if v6 else "tos", f"{match.ip_dscp << 2:#04x}", "0xfc"]
    for attr, selector in (("tp_src", "sport"), ("tp_dst", "dport")):  # IPv4 without options
        value = getattr(match, attr)
        if value is not None:
            words += ["match", family, selector, str(value), "0xffff"]
    for attr, selector in (("eth_src", "src"), ("eth_dst", "dst")):
        value = getattr(match, attr)
        if value is not None:
            words += ["match", "ether", selector, value]
    if not words:
        words = ["match", "u32", "0", "0"]  # every packet of that protocol
    eth_type = match.eth_type
    protocol = ("all" if eth_type is None else "ip" if eth_type == 0x0800 else "ipv6" if v6
                else f"{eth_type:#06x}")
    unexpressed = [key for attr, key in UNEXPRESSED.items() if getattr(match, attr) is not None]
    return protocol, words, unexpressed


def filter_command(port: str, prio: int, item: PortFilter) -> list[str]:
    """The tc command sending the packets `item` matches on `port` to its queue's class."""
    protocol, words, _ = selectors(item.match)
    return ["tc", "filter", "add", "dev", port, "parent", "1:0", "protocol", protocol,
            "prio", str(prio), "u32", *words, "flowid", htb_classid(item.queue)]


#: a leaf queue holds about this long at the class's ceiling (bounded by the two limits below)
LEAF_SECONDS = 0.05
LEAF_MIN, LEAF_MAX = 16, 1000


def leaf_limit(ceil_bps: int, packet_bytes: int = 1500) -> int:
    """Packets a class's leaf pfifo may hold: ~LEAF_SECONDS at its ceiling."""
    return max(LEAF_MIN, min(LEAF_MAX, int(ceil_bps * LEAF_SECONDS) // (packet_bytes * 8)))


def leaf_command(port: str, queue_id: int, limit: int) -> list[str]:
    return ["tc", "qdisc", "replace", "dev", port, "parent", htb_classid(queue_id), "pfifo", "limit", str(limit)]


def shorten_leaves(port: str, ceilings: Mapping[int, int], datapath_type: str | None = NETDEV,
                   netns: str | None = None, timeout: float = 3.0) -> str | None:
    """Cut each class's leaf queue to `leaf_limit` packets (see the module docstring), once OVS made the classes.

    `ceilings`: queue id -> the class's ceiling in bits/s, queue 0 included.
    Returns why it was skipped, or None; raises TcError if the classes did not appear within `timeout`.
    """
    reason = skip_reason(datapath_type)
    if reason:
        return f"leaf queues not shortened: {reason}"
    if leaves_shortened(port, ceilings, netns):  # already so (e.g. by the instance this one takes over from)
        return None
    if not wait_for_htb(port, sorted(ceilings), netns, timeout):
        raise TcError(f"OVS did not create the HTB classes on {port} within {timeout} s "
                      f"(is the port's QoS set, and is {port} a device in this network namespace?)")
    for queue_id, ceil in sorted(ceilings.items()):
        _tc(leaf_command(port, queue_id, leaf_limit(ceil)), netns)
    return None


def leaves_shortened(port: str, ceilings: Mapping[int, int], netns: str | None = None) -> bool:
    """Does every class of `ceilings` have its short pfifo leaf already?"""
    result = _tc(["tc", "qdisc", "show", "dev", port], netns, check=False)
    if result.returncode != 0:
        return False
    leaves = {parent: int(limit) for parent, limit in _LEAF_RE.findall(result.stdout)}
    return all(leaves.get(htb_classid(q)) == leaf_limit(ceil) for q, ceil in ceilings.items())


def skip_reason(datapath_type: str | None) -> str | None:
    """Why filters cannot or need not be installed here; None if they should be."""
    if datapath_type != NETDEV:
        return (f"bridge datapath is {datapath_type or 'unknown'!r}, not netdev: "
                "the kernel datapath selects the HTB class from the skb priority itself")
    if os.geteuid() != 0:
        return "not root: tc filters on the switch ports need root (run the controller as root next to OVS)"
    return None


def _tc(args: Sequence[str], netns: str | None, check: bool = True,
        stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run tc (optionally inside a network namespace), bounded in time; `stdin` feeds `tc -batch -`."""
    command = (["ip", "netns", "exec", netns] if netns else []) + list(args)
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=TC_TIMEOUT, check=False,
                                input=stdin)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise TcError(f"{' '.join(command)}: {err}") from err
    if check and result.returncode != 0:
        raise TcError(f"{' '.join(command)}: {result.stderr.strip() or f'exit {result.returncode}'}")
    return result


def htb_classes(port: str, netns: str | None = None) -> set[str]:
    """The HTB class ids on `port` ("1:1", "1:3", ...); empty if none or no such device."""
    result = _tc(["tc", "class", "show", "dev", port], netns, check=False)
    return set(_CLASS_RE.findall(result.stdout)) if result.returncode == 0 else set()


def parse_class_rates(text: str) -> dict[str, Any]:
    """`tc class show` output -> {"max-rate": the port's, "queues": {queue id: {"min-rate", "max-rate"}}}, bits/s.

    tc prints rates rounded to its units (1500Kbit, 10Mbit): exact for the
    round rates a profile usually has. Classes that are not OVS's (not 1:N)
    are ignored.
    """
    out: dict[str, Any] = {"max-rate": None, "queues": {}}
    for classid, rate, rate_unit, ceil, ceil_unit in _RATES_RE.findall(text):
        number = int(classid, 16)
        rates = {"min-rate": round(float(rate) * _UNITS[rate_unit]), "max-rate": round(float(ceil) * _UNITS[ceil_unit])}
        if number == ROOT_CLASS:
            out["max-rate"] = rates["max-rate"]
        elif number >= 1:
            out["queues"][number - 1] = rates
    out["queues"] = {str(qid): rates for qid, rates in sorted(out["queues"].items())}
    return out


def class_rates(port: str, netns: str | None = None) -> dict[str, Any] | None:
    """The rates the kernel applies on `port`'s HTB classes (see `parse_class_rates`); None if it has none."""
    result = _tc(["tc", "class", "show", "dev", port], netns, check=False)
    if result.returncode != 0:
        return None
    rates = parse_class_rates(result.stdout)
    return rates if rates["queues"] else None


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
    """Delete every filter on the port's HTB qdisc (qos-sdn owns the port's QoS; OVS adds none).

    Missing filters, qdisc or device are fine: the goal is "none left".
    """
    _tc(["tc", "filter", "del", "dev", port, "parent", "1:0"], netns, check=False)


def install_port_filters(port: str, filters: Sequence[PortFilter], datapath_type: str | None = NETDEV,
                         netns: str | None = None, timeout: float = 3.0, adopt: bool = False) -> str | None:
    """Make the port's classification exactly `filters`, in their order; idempotent.

    Returns a note for the queue profile's answer (what the filters cannot
    express, or why none were installed), or None. Skips, saying why, on a
    kernel bridge (there set_queue's skb priority selects the class) or
    without root; raises TcError if OVS did not build the HTB classes
    within `timeout` or tc refuses a filter. Delete-then-add leaves a
    window of a few ms in which packets fall into the default class; tc
    has no atomic "replace this set". `adopt` (a cluster instance taking
    over a switch another instance classified): filters whose layout is
    already the one wanted stay (`installed_filters`), so there is no window.
    """
    reason = skip_reason(datapath_type)
    if reason:
        return f"tc filters not installed: {reason}"
    queues = sorted({item.queue for item in filters})
    if not adopt or installed_filters(port, netns) != filter_layout(filters):
        _replace_filters(port, filters, queues, netns, timeout)
    unexpressed = sorted({key for item in filters for key in selectors(item.match)[2]})
    if unexpressed:
        return (f"tc cannot see {' or '.join(unexpressed)} on an egress port: packets with the other fields of "
                "such a policy that leave by this port are shaped whichever port they came in by")
    return None


def filter_layout(filters: Sequence[PortFilter]) -> list[tuple[str, int, str]]:
    """(protocol, pref, class) of each filter `install_port_filters` writes, in order."""
    return [(selectors(item.match)[0], prio, htb_classid(item.queue))
            for prio, item in enumerate(filters, start=FILTER_PRIO)]


def installed_filters(port: str, netns: str | None = None) -> list[tuple[str, int, str]] | None:
    """(protocol, pref, class) of the u32 filters on the port's HTB qdisc, by pref; None if tc cannot say.

    Lets a controller that takes over a port another instance of a cluster
    classified leave the filters in place (no window in the default class)
    when their layout is the one it would write; the matches themselves come
    from the same replicated policies.
    """
    result = _tc(["tc", "filter", "show", "dev", port, "parent", "1:0"], netns, check=False)
    if result.returncode != 0:
        return None
    return sorted(((proto, int(pref), flowid) for proto, pref, flowid in _FILTER_RE.findall(result.stdout)),
                  key=lambda item: item[1])


def _replace_filters(port: str, filters: Sequence[PortFilter], queues: list[int], netns: str | None,
                     timeout: float) -> None:
    if filters and not wait_for_htb(port, queues, netns, timeout):
        raise TcError(f"OVS did not create the HTB classes on {port} within {timeout} s "
                      f"(is the port's QoS set, and is {port} a device in this network namespace?)")
    remove_queue_filters(port, netns)
    if filters:  # one tc for all of them (a port may carry thousands of policies)
        lines = [" ".join(filter_command(port, prio, item)[1:]) for prio, item in enumerate(filters, start=FILTER_PRIO)]
        _tc(["tc", "-batch", "-"], netns, stdin="\n".join(lines) + "\n")
