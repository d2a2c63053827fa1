"""Reading and parsing the analysed files: the declared assumptions applied to the syntax
tree, and beniget's def-use chains on the standard `ast` (most of the check's running
time)."""

from __future__ import annotations

import ast
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import beniget  # type: ignore[import-untyped]

from .facts import Facts, matches

SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
# (definition node -> Def, use node -> Defs reaching it); a Def has .node, name(), users()
Chains = tuple[dict[ast.AST, Any], dict[ast.AST, list[Any]]]


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


def read_source(p: Path) -> str:
    try:
        return p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{p}: cannot read ({e.__class__.__name__}: {e})") from None


def parse_source(p: Path, facts: Facts, source: str | None = None) -> tuple[str, ast.Module]:
    if source is None:
        source = read_source(p)
    try:
        tree = ast.parse(source, filename=str(p))
    except (SyntaxError, ValueError) as e:
        line = getattr(e, "lineno", None)
        raise InputError(f"{p}: not Python ({e.__class__.__name__}"
                         f"{f' at line {line}' if line else ''})") from None
    _Assume(facts).apply(tree)
    return source, tree


def _local(p: Path, tree: ast.Module) -> Chains:
    duc = _Chains(os.fspath(p))
    duc.visit(tree)
    return duc.chains, beniget.UseDefChains(duc).chains


def def_use_chains(paths: Sequence[Path], trees: Sequence[ast.Module]) -> list[Chains]:
    """Chains of each module, one module at a time. (Computing them in forked workers and
    sending them back as node positions was measured slower: encoding and rebuilding cost
    more than beniget itself.)"""
    return [_local(p, t) for p, t in zip(paths, trees, strict=True)]
