"""Syntax helpers of the uniformity check: statement structure, dominance in structured
code, what an assignment stores, where a name takes its value from."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .parsing import SCOPES

if TYPE_CHECKING:
    from .program import Module


def short(node: ast.AST, limit: int = 70) -> str:
    s = ast.unparse(node).replace("\n", " ")
    return s if len(s) <= limit else s[: limit - 3] + "..."


def branch_tests(mod: Module, node: ast.AST, stop: ast.AST) -> Iterator[ast.AST]:
    """Conditions of the `if`/`while`/`for` around `node` (inside `stop`), innermost first."""
    child = node
    for a in mod.ancestors(node):
        if a is stop or isinstance(a, SCOPES):
            return
        if isinstance(a, ast.If | ast.While) and child is not a.test:
            yield a.test
        elif isinstance(a, ast.For | ast.AsyncFor) and child is not a.iter:
            yield a.iter
        child = a


def stmt_of(mod: Module, node: ast.AST) -> ast.stmt:
    n: ast.AST = node
    while not isinstance(n, ast.stmt):
        p = mod.parent(n)
        assert p is not None, "every expression sits in a statement"
        n = p
    return n


def dominates(mod: Module, first: ast.stmt, node: ast.AST) -> bool:
    """`first` runs before `node` on every path to it: an earlier statement of a block that
    contains `node` (structured code; exceptions aside)."""
    parent = mod.parent(first)
    if parent is None:
        return False
    for fld in ("body", "orelse", "finalbody"):
        block = getattr(parent, fld, None)
        if isinstance(block, list) and first in block:
            i = block.index(first)
            for a in [node, *mod.ancestors(node)]:
                if a in block and block.index(a) > i:  # type: ignore[operator]
                    return True
                if a is parent:
                    return False
    return False


def element(value: ast.AST, k: int) -> ast.expr | None:
    """Element k of a list/tuple literal, also inside a call such as `torch.tensor([...])`."""
    if isinstance(value, ast.Call) and value.args:
        value = value.args[0]
    if isinstance(value, ast.List | ast.Tuple) and -len(value.elts) <= k < len(value.elts):
        e = value.elts[k]
        return None if isinstance(e, ast.Starred) else e
    return None


def stores(n: ast.AST) -> Iterator[tuple[ast.AST, ast.expr]]:
    """(target, value) pairs a statement stores; a tuple target stores the whole value."""
    def flat(t: ast.AST) -> Iterator[ast.AST]:
        if isinstance(t, ast.Tuple | ast.List):
            for e in t.elts:
                yield from flat(e.value if isinstance(e, ast.Starred) else e)
        else:
            yield t
    if isinstance(n, ast.Assign):
        for t in n.targets:
            for x in flat(t):
                yield x, n.value
    elif isinstance(n, ast.AugAssign | ast.AnnAssign) and n.value is not None:
        yield n.target, n.value


def defining_value(mod: Module, name: ast.Name) -> tuple[ast.expr | None, ast.AST | None]:
    """The expression a Name definition takes its value from, and the defining node."""
    child: ast.AST = name
    for a in mod.ancestors(name):
        if isinstance(a, ast.Assign):
            return a.value, a
        if isinstance(a, ast.AugAssign | ast.AnnAssign):
            return a.value, a
        if isinstance(a, ast.For | ast.AsyncFor):
            return (a.iter, a) if child is a.target else (None, None)
        if isinstance(a, ast.comprehension):
            return (a.iter, a) if child is a.target else (None, None)
        if isinstance(a, ast.withitem):
            return a.context_expr, a
        if isinstance(a, ast.NamedExpr):
            return a.value, a
        if isinstance(a, ast.stmt):
            return None, a
        child = a
    return None, None
