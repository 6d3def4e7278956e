"""The topology's switch graph as a compressed sparse row array, searched by scipy's C BFS (pure).

Why: on a fabric with a long diameter (a 100x100 torus) a shortest route
between far switches is only found after visiting most of the graph, and a
BFS in Python costs ~0.3 us per link it looks at; scipy's BFS over the whole
10,000-switch graph costs ~0.2 ms. `Topology.search` tries its own
bidirectional BFS first and comes here only when that would look at more
than 1/`topology.C_SEARCH_RATIO` of the links, so a fat-tree's short
searches stay in Python and the torus's long ones cost one C pass.

The array is built from the graph's adjacency (each switch's successors in
insertion order, which is also the order the Python search looks at them)
and kept up to date from the topology's link log: a few edge changes are
patched in (an added edge goes to the end of its row, as in the adjacency
dict), many rebuild it. The topology imports this module (and so numpy, and
scipy: 0.4 s and ~40 MB) only when a fabric first grows past
`topology.COMPILED_MIN_EDGES` (`preload`, while it is being discovered
anyway), so a controller with a small fabric never loads them.
"""
from __future__ import annotations

import importlib
from itertools import chain
from typing import Any, Mapping, Sequence

import numpy as np

#: edge changes since the last build patched in one by one (each copies the arrays); more rebuild
PATCH_MAX = 32

Adjacency = Mapping[int, Mapping[int, Any]]


def preload() -> None:
    """Import scipy's graph routines now rather than in the first search that needs them."""
    importlib.import_module("scipy.sparse.csgraph")


class CompiledGraph:
    """A CSR snapshot of a directed switch graph at one topology version."""

    def __init__(self, succ: Adjacency, version: int) -> None:
        self.version = version
        self.dpids = np.fromiter(succ, dtype=np.uint64, count=len(succ))
        self._index = {dpid: i for i, dpid in enumerate(succ)}
        rows = [succ[dpid] for dpid in succ]
        degrees = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
        self._indptr = np.zeros(len(rows) + 1, dtype=np.int32)
        np.cumsum(degrees, out=self._indptr[1:])
        self._indices = np.fromiter(map(self._index.__getitem__, chain.from_iterable(rows)), dtype=np.int32,
                                    count=int(self._indptr[-1]))
        self._matrix: Any = None
        self._transposed: Any = None

    def update(self, edges: Sequence[tuple[int, int, bool]], version: int) -> bool:
        """Apply edge changes (u, v, appeared?) in order; False (nothing changed) if one names an unknown switch."""
        if any(u not in self._index or v not in self._index for u, v, _ in edges):
            return False
        for u, v, added in edges:
            i, j = self._index[u], self._index[v]
            start, end = int(self._indptr[i]), int(self._indptr[i + 1])
            if added:
                self._indices = np.insert(self._indices, end, j)
                self._indptr[i + 1:] += 1
            else:
                pos = start + int(np.flatnonzero(self._indices[start:end] == j)[0])
                self._indices = np.delete(self._indices, pos)
                self._indptr[i + 1:] -= 1
        self.version = version
        self._matrix = self._transposed = None
        return True

    def _csr(self, transposed: bool = False) -> Any:
        from scipy.sparse import csr_array

        if self._matrix is None:
            n = len(self.dpids)
            self._matrix = csr_array((np.ones(len(self._indices)), self._indices, self._indptr), shape=(n, n))
        if not transposed:
            return self._matrix
        if self._transposed is None:
            self._transposed = self._matrix.T.tocsr()
        return self._transposed

    def route(self, src: int, dst: int) -> list[int] | None:
        """A shortest route src .. dst (switches), or None: one C BFS from src.

        Among equals it is the one each switch was first reached by, rows
        looked at in adjacency order.
        """
        from scipy.sparse.csgraph import breadth_first_order

        if src not in self._index or dst not in self._index:
            return None
        start, goal = self._index[src], self._index[dst]
        _, pred = breadth_first_order(self._csr(), start, directed=True, return_predecessors=True)
        if start != goal and pred[goal] < 0:
            return None
        path = [goal]
        while path[-1] != start:
            path.append(int(pred[path[-1]]))
        path.reverse()
        return [int(self.dpids[i]) for i in path]

    def distances(self, dpid: int, reverse: bool = False) -> dict[int, int]:
        """Cables from `dpid` to every switch it reaches (to `dpid` from every switch that reaches it: `reverse`).

        One C BFS; the depths are read off its tree in BFS order (each
        switch's parent comes before it), one pass over the reached switches.
        """
        from scipy.sparse.csgraph import breadth_first_order

        if dpid not in self._index:
            return {}
        order, pred = breadth_first_order(self._csr(transposed=reverse), self._index[dpid], directed=True,
                                          return_predecessors=True)
        parents = pred[order].tolist()
        depth = dict.fromkeys(order[:1].tolist(), 0)
        for node, parent in zip(order[1:].tolist(), parents[1:]):
            depth[node] = depth[parent] + 1
        return dict(zip(self.dpids[order].tolist(), depth.values()))
