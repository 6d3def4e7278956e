"""The layering rules, checked on the source (every import, module-level and function-local).

- `qosapp/core` is pure: no Ryu, eventlet, ovs, sqlite3, socket or subprocess,
  and nothing from the layers above it (adapters, http, ofp, main, service);
- no import cycles among the modules of `qosapp/` and `pusher/` (a cycle hidden
  in a function-local import is still a cycle);
- the CLI (`pusher/`) imports no module that pulls networkx (the server's
  route planner): checked on the graph and by importing it in a fresh process.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("qosapp", "pusher")
CORE_FORBIDDEN = ("ryu", "eventlet", "ovs", "sqlite3", "socket", "subprocess",
                  "qosapp.adapters", "qosapp.http", "qosapp.ofp", "qosapp.main", "qosapp.service")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def imports_of(path: Path, name: str, known: set[str]) -> set[str]:
    """Every module `path` imports, anywhere in it; `from pkg import mod` counts as pkg.mod."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            out.add(base)
            out.update(f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in known)
    return out


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imports_of(path, name, known) for name, path in mods.items()}


def project_edges(g: dict[str, set[str]]) -> dict[str, set[str]]:
    """Only the edges to project modules."""
    return {name: {t for t in targets if t in g and t != name} for name, targets in g.items()}


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_core_imports_nothing_impure() -> None:
    bad = sorted(f"{name} imports {target}" for name, targets in graph().items() if within(name, "qosapp.core")
                 for target in targets if any(within(target, f) for f in CORE_FORBIDDEN))
    assert bad == []


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles() -> None:
    assert cycles(project_edges(graph())) == []


def test_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def reachable(edges: dict[str, set[str]], starts: list[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(starts)
    while todo:
        v = todo.pop()
        if v not in seen:
            seen.add(v)
            todo.extend(edges.get(v, ()))
    return seen


def test_pusher_pulls_no_networkx_on_the_graph() -> None:
    g = graph()
    pusher = [name for name in g if within(name, "pusher")]
    pulled = sorted(name for name in reachable(project_edges(g), pusher) if any(within(t, "networkx") for t in g[name]))
    assert pulled == []


def test_pusher_pulls_no_networkx_when_imported() -> None:
    code = ("import sys, pusher.qospusher, pusher.qospath, pusher.sync, pusher.state, pusher.client; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('networkx', 'ryu', 'eventlet')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
