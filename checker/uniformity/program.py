"""The analysed program: parsed modules, their def-use chains (beniget on the standard `ast`),
parent links, and an index of functions for the interprocedural summaries."""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .facts import Facts
from .parsing import Chains, InputError, def_use_chains, dotted, parse_source, read_source

FuncNode = ast.FunctionDef | ast.AsyncFunctionDef


@dataclass
class Function:
    node: FuncNode
    module: Module
    qualname: str
    cls: str | None  # the enclosing class, for methods

    @property
    def self_name(self) -> str | None:
        args = self.node.args.posonlyargs + self.node.args.args
        return args[0].arg if self.cls and args else None


@dataclass
class Module:
    path: Path
    rel: str  # path shown in findings (relative to the root when under it)
    source: str
    tree: ast.Module
    defs: dict[ast.AST, Any]  # definition node -> its beniget Def (node, name(), users())
    usedef: dict[ast.AST, list[Any]]  # use node -> the Defs reaching it
    parents: dict[ast.AST, ast.AST] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    calls: list[ast.Call] = field(default_factory=list)
    # statement -> the calls it makes itself (not its nested statements'), arguments first
    direct_calls: dict[ast.stmt, list[ast.Call]] = field(default_factory=dict)
    returns: list[ast.Return] = field(default_factory=list)
    stores: list[ast.Assign | ast.AugAssign | ast.AnnAssign] = field(default_factory=list)
    # definition node -> (use, collective call) for each in-place collective on it
    inplace: dict[ast.AST, list[tuple[ast.AST, ast.Call]]] = field(default_factory=dict)

    def parent(self, node: ast.AST) -> ast.AST | None:
        return self.parents.get(node)

    def ancestors(self, node: ast.AST) -> Iterator[ast.AST]:
        p = self.parents.get(node)
        while p is not None:
            yield p
            p = self.parents.get(p)


@dataclass
class Program:
    modules: list[Module]
    functions: list[Function]
    by_name: dict[str, list[Function]]
    of_node: dict[ast.AST, Function]
    module_of: dict[ast.AST, Module]  # every node -> its module

    returns_of: dict[ast.AST, list[ast.Return]] = field(default_factory=dict)
    _fn_memo: dict[ast.AST, Function | None] = field(default_factory=dict)

    def function_of(self, node: ast.AST) -> Function | None:
        """The innermost function containing `node`."""
        if node in self._fn_memo:
            return self._fn_memo[node]
        mod = self.module_of.get(node)
        res = None
        for a in mod.ancestors(node) if mod is not None else ():
            if a in self.of_node:
                res = self.of_node[a]
                break
        self._fn_memo[node] = res
        return res


def collect_paths(args: list[str]) -> list[Path]:
    """Python files named by `args` (files, or directories searched for *.py). Raises
    InputError for a path that does not exist or a directory without Python files."""
    out: list[Path] = []
    for a in args:
        p = Path(a)
        if p.is_dir():
            found = sorted(q for q in p.rglob("*.py") if q.is_file())
            if not found:
                raise InputError(f"{a}: no Python files in this directory")
            out += found
        elif p.is_file():
            out.append(p)
        else:
            raise InputError(f"{a}: no such file or directory")
    seen: set[Path] = set()
    return [p for p in out if not (p.resolve() in seen or seen.add(p.resolve()))]  # type: ignore[func-returns-value]


def _rel(p: Path, root: Path) -> str:
    try:
        return p.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return p.as_posix()


def parse_module(p: Path, root: Path, source: str, tree: ast.Module, chains: Chains,
                 facts: Facts) -> Module:
    defs, usedef = chains
    mod = Module(p, _rel(p, root), source, tree, defs, usedef, lines=source.splitlines())
    parents = mod.parents
    todo: list[ast.AST] = [tree]
    while todo:  # one pass over the tree (ast.walk would list the children a second time)
        parent = todo.pop()
        if isinstance(parent, ast.Call):
            mod.calls.append(parent)
        elif isinstance(parent, ast.Assign | ast.AugAssign | ast.AnnAssign):
            mod.stores.append(parent)
        elif isinstance(parent, ast.Return):
            mod.returns.append(parent)
        for child in ast.iter_child_nodes(parent):
            parents[child] = parent
            todo.append(child)
    for nodes in (mod.calls, mod.stores, mod.returns):  # source order: stable chains
        nodes.sort(key=lambda n: (n.lineno, n.col_offset))
    for call in mod.calls:
        n: ast.AST | None = call
        while n is not None and not isinstance(n, ast.stmt | ast.Lambda):
            n = parents.get(n)
        if isinstance(n, ast.stmt):
            mod.direct_calls.setdefault(n, []).append(call)
    for calls in mod.direct_calls.values():
        calls.sort(key=lambda c: (c.end_lineno or 0, c.end_col_offset or 0))
    for call in mod.calls:
        coll = facts.collective_for(dotted(call.func))
        if coll is not None and coll.inplace is not None and len(call.args) > coll.inplace:
            arg = call.args[coll.inplace]
            for d in usedef.get(arg, []):
                mod.inplace.setdefault(d.node, []).append((arg, call))
    return mod


BLOCKS = ("body", "handlers", "orelse", "finalbody")


def _functions(mod: Module) -> Iterator[Function]:
    """Functions and methods, found through statement lists only (defs are statements)."""
    def walk(node: ast.AST, prefix: str, cls: str | None) -> Iterator[Function]:
        for fld in BLOCKS:
            for child in getattr(node, fld, None) or []:
                if isinstance(child, ast.ClassDef):
                    yield from walk(child, prefix + child.name + ".", child.name)
                elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                    yield Function(child, mod, prefix + child.name, cls)
                    yield from walk(child, prefix + child.name + ".", None)
                elif isinstance(child, ast.stmt | ast.excepthandler):
                    yield from walk(child, prefix, cls)
    yield from walk(mod.tree, "", None)


ModuleCache = dict[tuple[str, str], "Module"]


def load_program(paths: list[Path], root: Path, facts: Facts,
                 cache: ModuleCache | None = None) -> Program:
    """Reads and parses every file first (bad input raises InputError before any work).
    `cache` (same facts only) reuses the parsed module of a file with the same relative path
    and text, e.g. across the commits of a history run: a module is never changed once
    loaded, the analyses keep their own state."""
    sources = [read_source(p) for p in paths]
    keys = [(_rel(p, root), hashlib.sha1(src.encode()).hexdigest())
            for p, src in zip(paths, sources, strict=True)]
    todo = [i for i, k in enumerate(keys) if cache is None or k not in cache]
    parsed = {i: parse_source(paths[i], facts, sources[i]) for i in todo}
    chains = def_use_chains([paths[i] for i in todo], [parsed[i][1] for i in todo])
    fresh = {i: parse_module(paths[i], root, sources[i], parsed[i][1], ch, facts)
             for i, ch in zip(todo, chains, strict=True)}
    if cache is not None:
        cache.update((keys[i], m) for i, m in fresh.items())
    modules = [fresh[i] if i in fresh else cache[keys[i]]  # type: ignore[index]
               for i in range(len(paths))]
    functions = [f for m in modules for f in _functions(m)]
    by_name: dict[str, list[Function]] = {}
    for f in functions:
        by_name.setdefault(f.node.name, []).append(f)
    module_of = {n: m for m in modules for n in m.parents}
    for m in modules:
        module_of[m.tree] = m
    prog = Program(modules, functions, by_name, {f.node: f for f in functions}, module_of)
    for m in modules:
        for r in m.returns:
            fn = prog.function_of(r)
            if fn is not None:
                prog.returns_of.setdefault(fn.node, []).append(r)
    return prog
