"""The analysed program: parsed modules, their def-use chains (beniget on the standard `ast`),
parent links, and an index of functions for the interprocedural summaries."""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import beniget  # type: ignore[import-untyped]

from .facts import Facts, matches

FuncNode = ast.FunctionDef | ast.AsyncFunctionDef
SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


class InputError(ValueError):
    """A path that cannot be analysed (bad input, exit 2)."""


class _Chains(beniget.DefUseChains):  # type: ignore[misc]
    """beniget's chains without its warnings on stderr (unbound names are normal here:
    TYPE_CHECKING imports, names from star imports)."""

    def warn(self, msg: str, node: Any) -> None:
        pass

    def unbound_identifier(self, name: str, node: Any) -> None:
        pass


def dotted(node: ast.AST) -> str:
    """`self.a.b` for an attribute chain; a call or subscript in the chain shows as `()`/`[]`."""
    parts: list[str] = []
    while True:
        if isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Name):
            parts.append(node.id)
            break
        elif isinstance(node, ast.Call):
            parts.append("()")
            node = node.func
        elif isinstance(node, ast.Subscript):
            parts.append("[]")
            node = node.value
        else:
            parts.append("?")
            break
    return ".".join(reversed(parts))


class _Assume:
    """Replaces an `if` on a declared fact by the side that runs: `X is not None` (X never
    None), `N != 1` / `N > 1` (N a group size, > 1 whenever ranks can disagree)."""

    def __init__(self, facts: Facts) -> None:
        self.facts = facts

    def _truth(self, test: ast.expr) -> bool | None:
        if not (isinstance(test, ast.Compare) and len(test.ops) == 1
                and isinstance(test.comparators[0], ast.Constant)):
            return None
        op, value, left = test.ops[0], test.comparators[0].value, dotted(test.left)
        if value is None and any(matches(p, left) for p in self.facts.not_none):
            return True if isinstance(op, ast.IsNot) else False if isinstance(op, ast.Is) \
                else None
        if value == 1 and any(matches(p, left) for p in self.facts.group_sizes):
            return True if isinstance(op, ast.NotEq | ast.Gt) else \
                False if isinstance(op, ast.Eq | ast.LtE) else None
        return None

    def apply(self, tree: ast.Module) -> None:
        """Splices the running side of each decided `if` into its block, in place (walking
        only the statement lists, not every expression)."""
        todo: list[ast.AST] = [tree]
        while todo:
            node = todo.pop()
            for fld in ("body", "orelse", "finalbody", "handlers"):
                block = getattr(node, fld, None)
                if not isinstance(block, list):
                    continue
                out: list[Any] = []
                for s in block:
                    truth = self._truth(s.test) if isinstance(s, ast.If) else None
                    if truth is None:
                        out.append(s)
                    else:
                        out += (s.body if truth else s.orelse) or [
                            ast.Pass(lineno=s.lineno, col_offset=s.col_offset)]
                if len(out) != len(block) or any(a is not b for a, b in zip(out, block, strict=True)):
                    block[:] = out
                    todo.append(node)  # a spliced side may hold decided ifs of its own
                    continue
                todo.extend(s for s in block if isinstance(s, ast.stmt | ast.excepthandler))


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
    defuse: Any  # beniget.DefUseChains
    usedef: dict[ast.AST, list[Any]]  # use node -> beniget Defs reaching it
    parents: dict[ast.AST, ast.AST] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    calls: list[ast.Call] = field(default_factory=list)
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


def parse_module(p: Path, root: Path, facts: Facts) -> Module:
    try:
        source = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{p}: cannot read ({e.__class__.__name__}: {e})") from None
    try:
        tree = ast.parse(source, filename=str(p))
    except (SyntaxError, ValueError) as e:
        line = getattr(e, "lineno", None)
        raise InputError(f"{p}: not Python ({e.__class__.__name__}"
                         f"{f' at line {line}' if line else ''})") from None
    _Assume(facts).apply(tree)
    duc = _Chains(os.fspath(p))
    duc.visit(tree)
    usedef = beniget.UseDefChains(duc).chains
    mod = Module(p, _rel(p, root), source, tree, duc, usedef, lines=source.splitlines())
    parents = mod.parents
    for parent in ast.walk(tree):
        if isinstance(parent, ast.Call):
            mod.calls.append(parent)
        elif isinstance(parent, ast.Assign | ast.AugAssign | ast.AnnAssign):
            mod.stores.append(parent)
        for child in ast.iter_child_nodes(parent):
            parents[child] = parent
    for call in mod.calls:
        coll = facts.collective_for(dotted(call.func))
        if coll is not None and coll.inplace is not None and len(call.args) > coll.inplace:
            arg = call.args[coll.inplace]
            for d in usedef.get(arg, []):
                mod.inplace.setdefault(d.node, []).append((arg, call))
    return mod


BLOCKS = ("body", "orelse", "finalbody", "handlers")


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


def load_program(paths: list[Path], root: Path, facts: Facts) -> Program:
    modules = [parse_module(p, root, facts) for p in paths]
    functions = [f for m in modules for f in _functions(m)]
    by_name: dict[str, list[Function]] = {}
    for f in functions:
        by_name.setdefault(f.node.name, []).append(f)
    module_of = {n: m for m in modules for n in m.parents}
    for m in modules:
        module_of[m.tree] = m
    return Program(modules, functions, by_name, {f.node: f for f in functions}, module_of)
