"""Code layout: only the entry point imports `checker/cli.py`, and the checker's modules form
no import cycle (lazy imports inside functions count too: a cycle is a cycle when it runs)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"ranksync": "ranksync", "ranksync.spec": "spec", "ranksync.reference": "reference",
            "ranksync.checker": "checker"}
ENTRY_POINTS = {"ranksync.__main__"}  # `python -m ranksync`; the console script names cli:main


def modules() -> dict[str, Path]:
    out = {}
    for pkg, d in PACKAGES.items():
        base = ROOT / d
        for f in base.rglob("*.py"):
            if pkg == "ranksync" and f.parent != base:
                continue
            rel = f.relative_to(base).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            out[".".join([pkg, *parts])] = f
    return out


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Fully qualified ranksync modules imported anywhere in the file."""
    is_pkg = path.name == "__init__.py"
    here = name.split(".") if is_pkg else name.split(".")[:-1]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = here[:len(here) - node.level + 1] if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            # `from . import x` imports the submodule x when there is one, else a name of mod
            subs = [f"{mod}.{a.name}" for a in node.names]
            targets = [s for s in subs if s in known] or [mod]
        else:
            continue
        out |= {t for t in targets if t in known}
    out.discard(name)
    return out


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {m: imports(m, p, set(mods)) for m, p in mods.items()}


def test_the_graph_sees_imports():
    g = graph()
    assert "ranksync.checker.cliutil" in g["ranksync.checker.cli"]
    assert "ranksync.checker.bmc" in g["ranksync.checker.prove"]  # `from . import bmc`
    assert "ranksync.checker.config" in g["ranksync.checker.cliutil"]


def test_only_the_entry_point_imports_cli():
    g = graph()
    users = sorted(m for m, deps in g.items() if "ranksync.checker.cli" in deps)
    assert set(users) <= ENTRY_POINTS, users


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    assert cycles(graph()) == []


def test_cycle_detection_can_fail():
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(g) == [["a", "b", "c"]]
