"""Mininet topologies for qos-sdn: the seed's linear chain, a balanced tree, a ring, a fat-tree, a leaf-spine.

Usable two ways:
  * from Python through ``topologies.network.start_network`` (preferred);
  * by ``mn`` (it executes this file in its own namespace and reads the
    ``topos`` dict, so the file imports only Mininet and defines few
    top-level names). With a private OVS exported
    (``eval "$(python -m topologies.ovsenv start DIR)"``), verified:
      mn --custom topologies/topos.py --topo linear,4 \
         --switch ovs,datapath=user,failMode=standalone --controller none
      mn --custom topologies/topos.py --topo linear,4 \
         --switch ovs,datapath=user,protocols=OpenFlow13 --controller remote,ip=127.0.0.1,port=6653
    Caution: on any exception ``mn`` calls ``mininet.clean.cleanup()``, which
    kills processes by name and deletes every ``*-ethN`` link on the machine.
    Run ``mn`` only on a machine (or in namespaces) that is yours alone.

Every host, switch, DPID, IP, MAC and port number is fixed here rather than
left to Mininet's allocation order, because QoS policies name switches by
DPID and ports by number (the seed pushes ``ingress-port 1, enqueue-port 2``
on s1).

Port numbering (verified against OVS with ``ovs-ofctl show``):
  linear,k  s_i port 1 = h_i; s1 port 2 = s2; for i > 1: port 2 = s_(i-1),
            port 3 = s_(i+1). This is exactly Mininet's own LinearTopo
            numbering, so the seed's s1 rule (in 1 -> out 2) is h1 -> s2, but
            on s2 port 1 is h2: h1's traffic enters s2 on port 2 and leaves on
            port 1, so the seed's s2 rule (``ingress-port 1``) never matches
            h1 -> h2 traffic; the limit is enforced by s1 alone.
  tree      switches and hosts numbered depth-first like Mininet's TreeTopo;
            a switch's ports 1..fanout go to its children, port fanout+1 to
            its parent.
  ring,n    s_i port 1 = h_i, port 2 = s_(i+1), port 3 = s_(i-1) (wrapping).
            A ring has a loop: standalone switches need STP
            (``stp=True``; ``start_network`` turns it on for rings).
  fattree,k k-ary fat-tree (k even): (k/2)^2 core, k pods of k/2
            aggregation and k/2 edge switches, ``hosts`` hosts per edge switch
            (default k/2). Switches are numbered core first, then pod by pod
            aggregation before edge: k=4 -> s1..s4 core, s5,s6 agg and
            s7,s8 edge of pod 0, s9..s12 pod 1, ... s17..s20 pod 3. Hosts are
            numbered along the edge switches. Ports: edge 1..hosts = its
            hosts, hosts+1+j = aggregation switch j of its pod; aggregation
            1+i = edge switch i of its pod, k/2+1+m = the m-th core switch of
            its group (agg j reaches cores j*k/2 .. j*k/2+k/2-1); core p+1 =
            pod p. Many equal-cost loops: standalone switches need STP.
  leafspine spines s1..s<spines>, then the leaves; ``hosts`` hosts per
            leaf (default 1) on its ports 1..hosts, port hosts+j = spine j;
            spine port i = leaf i. bench/fabric.py's ~100-switch fabric
            (start it with ``batch=True``: a spine has a port per leaf).
"""

from __future__ import annotations

from mininet.topo import Topo
from mininet.util import ipAdd, macColonHex, netParse


class _NumberedTopo(Topo):
    """Adds hosts and switches with explicit, index-derived addresses."""

    def build(self, *args: object, **params: object) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def add_numbered_host(self, index: int, ip_base: str = "10.0.0.0/8") -> str:
        """h<index> at the index-th address of ``ip_base`` with MAC 00:..:<index>."""
        base, prefix = netParse(ip_base)
        ip = "%s/%d" % (ipAdd(index, prefixLen=prefix, ipBaseNum=base), prefix)
        return self.addHost("h%d" % index, ip=ip, mac=macColonHex(index))

    def add_numbered_switch(self, index: int, **opts: object) -> str:
        """s<index> with DPID <index> (00:00:00:00:00:00:00:0<index> for small indices)."""
        return self.addSwitch("s%d" % index, dpid="%016x" % index, **opts)


class LinearChainTopo(_NumberedTopo):
    """k switches in a chain, one host per switch: the seed's ``linear,4``."""

    def build(self, k: int = 4, ip_base: str = "10.0.0.0/8") -> None:
        previous = None
        for i in range(1, int(k) + 1):
            switch = self.add_numbered_switch(i)
            host = self.add_numbered_host(i, ip_base)
            self.addLink(host, switch, port1=0, port2=1)
            if previous is not None:
                # Same order as Mininet's LinearTopo: next free port on each side.
                self.addLink(switch, previous)
            previous = switch


class BalancedTreeTopo(_NumberedTopo):
    """A tree of switches of the given depth and fanout, hosts at the leaves."""

    def build(self, depth: int = 2, fanout: int = 2, ip_base: str = "10.0.0.0/8") -> None:
        self._counts = {"h": 0, "s": 0}
        self._ip_base = ip_base
        self._add_subtree(int(depth), int(fanout))

    def _add_subtree(self, depth: int, fanout: int) -> str:
        """Depth-first: a switch, then each child subtree linked to ports 1..fanout."""
        if depth == 0:
            self._counts["h"] += 1
            return self.add_numbered_host(self._counts["h"], self._ip_base)
        self._counts["s"] += 1
        switch = self.add_numbered_switch(self._counts["s"])
        for port in range(1, fanout + 1):
            child = self._add_subtree(depth - 1, fanout)
            child_port = 0 if child.startswith("h") else fanout + 1
            self.addLink(switch, child, port1=port, port2=child_port)
        return switch


class RingTopo(_NumberedTopo):
    """n switches in a ring, one host per switch (needs STP or a controller: it has a loop)."""

    def build(self, n: int = 4, ip_base: str = "10.0.0.0/8") -> None:
        n = int(n)
        if n < 3:
            raise ValueError("a ring needs at least 3 switches, got %d" % n)
        switches = [self.add_numbered_switch(i) for i in range(1, n + 1)]
        for i, switch in enumerate(switches, start=1):
            self.addLink(self.add_numbered_host(i, ip_base), switch, port1=0, port2=1)
        for i, switch in enumerate(switches):
            self.addLink(switch, switches[(i + 1) % n], port1=2, port2=3)


class FatTreeTopo(_NumberedTopo):
    """A k-ary fat-tree (Al-Fares et al.): every pair of pods is joined by (k/2)^2 equal-cost paths."""

    def build(self, k: int = 4, hosts: int | None = None, ip_base: str = "10.0.0.0/8") -> None:
        k = int(k)
        if k < 2 or k % 2:
            raise ValueError("a fat-tree needs an even k >= 2, got %d" % k)
        half = k // 2
        per_edge = half if hosts is None else int(hosts)
        cores = [self.add_numbered_switch(i) for i in range(1, half * half + 1)]
        index, host_index = len(cores), 0
        for pod in range(k):
            aggs = [self.add_numbered_switch(index + 1 + j) for j in range(half)]
            edges = [self.add_numbered_switch(index + 1 + half + i) for i in range(half)]
            index += k
            for i, edge in enumerate(edges):
                for h in range(per_edge):
                    host_index += 1
                    self.addLink(self.add_numbered_host(host_index, ip_base), edge, port1=0, port2=h + 1)
                for j, agg in enumerate(aggs):
                    self.addLink(edge, agg, port1=per_edge + 1 + j, port2=1 + i)
            for j, agg in enumerate(aggs):
                for m in range(half):
                    self.addLink(agg, cores[j * half + m], port1=half + 1 + m, port2=pod + 1)


class LeafSpineTopo(_NumberedTopo):
    """Every leaf joined to every spine; ``hosts`` hosts per leaf (bench/fabric.py's ~100-switch fabric).

    Spines are s1..s<spines>, leaves follow. Ports: leaf 1..hosts = its
    hosts, hosts+j = spine j (j from 1); spine i = leaf i (leaves counted from 1).
    """

    def build(self, spines: int = 2, leaves: int = 4, hosts: int = 1, ip_base: str = "10.0.0.0/8") -> None:
        spine_names = [self.add_numbered_switch(i) for i in range(1, int(spines) + 1)]
        host_index = 0
        for leaf_no in range(1, int(leaves) + 1):
            leaf = self.add_numbered_switch(int(spines) + leaf_no)
            for h in range(int(hosts)):
                host_index += 1
                self.addLink(self.add_numbered_host(host_index, ip_base), leaf, port1=0, port2=h + 1)
            for j, spine in enumerate(spine_names, start=1):
                self.addLink(leaf, spine, port1=int(hosts) + j, port2=leaf_no)


topos = {
    "linear": LinearChainTopo,
    "tree": BalancedTreeTopo,
    "ring": RingTopo,
    "fattree": FatTreeTopo,
    "leafspine": LeafSpineTopo,
}
