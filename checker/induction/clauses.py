"""Invariant clauses: one line of text each, a Python boolean expression over named quantities.

    i.phase != 1 or i.n_indices >= 1          # every rank i
    i.cached == j.cached                        # every two ranks i, j
    ib.nfree + ib.nheld + ib.owned == 1         # every block b of every rank i
    not (ib.content0 < 0 and jb.content0 < 0) or ib.content0 == jb.content0
    g.src_frees <= 1                            # the globals

Names after `i.`/`j.` are rank names, after `ib.`/`jb.` block names (the same block id on
ranks i and j), after `g.` globals (checker/induction/observables.py); bare names are the
protocol's constants (TRANSFER, SUCCESS, ...). Booleans count as 0/1 in arithmetic. A clause
holds for every rank, every pair of ranks (including a rank with itself) and every block its
names range over.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ranksync.spec import config as C
from ranksync.spec import state as S
from ranksync.spec.ops import Ops, Term

CONSTANTS: dict[str, int] = {
    "FAILED": C.FAILED, "BOOTSTRAPPING": C.BOOTSTRAPPING,
    "WAITING_FOR_INPUT": C.WAITING_FOR_INPUT, "TRANSFERRING": C.TRANSFERRING,
    "SUCCESS": C.SUCCESS, "ABSENT": C.ABSENT, "PREALLOC": S.PREALLOC, "TRANSFER": S.TRANSFER,
    "DONE": S.DONE, "FAILED_OUT": S.FAILED_OUT, "NO_LATCH": S.NO_LATCH,
    "ALL_SESSIONS": S.ALL_SESSIONS,
}
CMP: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge}
ARITH: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul}
ROLES = ("i", "j", "ib", "jb", "g")


class ClauseError(ValueError):
    pass


def _path(node: ast.AST) -> tuple[str, str] | None:
    """`i.a0.owned` -> ("i", "a0.owned")."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name) and parts and node.id in ROLES:
        return node.id, ".".join(reversed(parts))
    return None


@dataclass(frozen=True)
class Clause:
    text: str

    @cached_property
    def tree(self) -> ast.expr:
        try:
            tree = ast.parse(self.text, mode="eval").body
        except SyntaxError as e:
            raise ClauseError(f"not a clause: {self.text!r}: {e.msg}") from None
        return tree

    @cached_property
    def roles(self) -> frozenset[str]:
        out = set()
        for n in ast.walk(self.tree):
            p = _path(n) if isinstance(n, ast.Attribute) else None
            if p:
                out.add(p[0])
        return frozenset(out)

    @property
    def scope(self) -> str:
        """rank | pair | block | pairblock | global"""
        r = self.roles
        if "jb" in r or ("j" in r and "ib" in r):
            return "pairblock"
        if "ib" in r:
            return "block"
        if "j" in r:
            return "pair"
        if "i" in r:
            return "rank"
        return "global"

    def names(self) -> set[tuple[str, str]]:
        return {p for n in ast.walk(self.tree) if isinstance(n, ast.Attribute)
                for p in [_path(n)] if p}

    def eval(self, o: Ops, env: Mapping[str, Mapping[str, Term]]) -> Term:
        return _eval(o, self.tree, env, self.text)


def _as_int(o: Ops, x: Term) -> Term:
    if isinstance(x, bool):
        return int(x)
    if hasattr(x, "sort") and str(x.sort()) == "Bool":
        return o.If(x, 1, 0)
    return x


def _eval(o: Ops, n: ast.AST, env: Mapping[str, Mapping[str, Term]], text: str) -> Term:
    if isinstance(n, ast.BoolOp):
        xs = [_eval(o, v, env, text) for v in n.values]
        return o.And(*xs) if isinstance(n.op, ast.And) else o.Or(*xs)
    if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.Not):
        return o.Not(_eval(o, n.operand, env, text))
    if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub):
        return -_as_int(o, _eval(o, n.operand, env, text))
    if isinstance(n, ast.Compare) and len(n.ops) == 1 and type(n.ops[0]) in CMP:
        a = _eval(o, n.left, env, text)
        b = _eval(o, n.comparators[0], env, text)
        if not (isinstance(n.ops[0], ast.Eq | ast.NotEq) and _same_sort(a, b)):
            a, b = _as_int(o, a), _as_int(o, b)
        return CMP[type(n.ops[0])](a, b)
    if isinstance(n, ast.BinOp) and type(n.op) in ARITH:
        a = _as_int(o, _eval(o, n.left, env, text))
        b = _as_int(o, _eval(o, n.right, env, text))
        return ARITH[type(n.op)](a, b)
    if isinstance(n, ast.Constant) and isinstance(n.value, bool | int):
        return n.value
    if isinstance(n, ast.Name) and n.id in CONSTANTS:
        return CONSTANTS[n.id]
    if isinstance(n, ast.Attribute):
        p = _path(n)
        if p is not None:
            role, name = p
            try:
                return env[role][name]
            except KeyError:
                raise ClauseError(f"{text!r}: unknown name {role}.{name}") from None
    raise ClauseError(f"{text!r}: unsupported expression {ast.dump(n)[:60]}")


def _same_sort(a: Term, b: Term) -> bool:
    def is_bool(x: Term) -> bool:
        return isinstance(x, bool) or (hasattr(x, "sort") and str(x.sort()) == "Bool")
    return is_bool(a) == is_bool(b)


def read(path: str) -> list[Clause]:
    """An invariant file: one clause per line; `#` starts a comment."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            text = line.split("#", 1)[0].strip()
            if text:
                out.append(Clause(text))
    return out
