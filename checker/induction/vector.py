"""Clauses evaluated on many concrete states at once (numpy), for mining and for Houdini's
concrete walks: one row per (state, rank), (state, rank, rank), (state, rank, block), ...
as tabulated by checker/induction/mine.py."""

from __future__ import annotations

import ast
from typing import Any

import numpy as np

from .clauses import CMP, CONSTANTS, Clause, ClauseError, _path
from .mine import Tables


def _rows(tab: Tables, scope: str) -> dict[str, Any]:
    """Per scope: the row index arrays of each role, and each row's state."""
    pi, pj, pg = tab.pair[0]
    bi, bj, bg = tab.block_pair
    rank_state = tab.rank_glob
    if scope == "global":
        return {"g": np.arange(len(next(iter(tab.glob.values())))), "state": None}
    if scope == "rank":
        return {"i": np.arange(len(rank_state)), "g": rank_state, "state": rank_state}
    if scope == "pair":
        return {"i": pi, "j": pj, "g": pg, "state": pg}
    if scope == "block":
        rows = np.arange(len(tab.block_rank))
        return {"ib": rows, "i": tab.block_rank, "g": rank_state[tab.block_rank],
                "state": rank_state[tab.block_rank]}
    return {"ib": bi, "jb": bj, "i": tab.block_rank[bi], "j": tab.block_rank[bj], "g": bg,
            "state": bg}


def evaluate(c: Clause, tab: Tables) -> tuple[np.ndarray, np.ndarray | None]:
    """(value per row, state of each row) of the clause's scope."""
    rows = _rows(tab, c.scope)
    val = _eval(c.tree, tab, rows, c.text)
    n = len(rows["g"])
    if not isinstance(val, np.ndarray):
        val = np.full(n, bool(val))
    return val.astype(bool), rows["state"]


def failing_states(c: Clause, tab: Tables, n_states: int) -> np.ndarray:
    """Per state: does some row of the clause fail there."""
    val, state = evaluate(c, tab)
    if state is None:
        return ~val
    return np.bincount(state, weights=~val, minlength=n_states) > 0


def _eval(n: ast.AST, tab: Tables, rows: dict[str, Any], text: str) -> Any:
    if isinstance(n, ast.BoolOp):
        xs = [_b(_eval(v, tab, rows, text)) for v in n.values]
        out = xs[0]
        for x in xs[1:]:
            out = (out & x) if isinstance(n.op, ast.And) else (out | x)
        return out
    if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.Not):
        return ~_b(_eval(n.operand, tab, rows, text))
    if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub):
        return -_eval(n.operand, tab, rows, text)
    if isinstance(n, ast.Compare) and len(n.ops) == 1 and type(n.ops[0]) in CMP:
        return CMP[type(n.ops[0])](_i(_eval(n.left, tab, rows, text)),
                                   _i(_eval(n.comparators[0], tab, rows, text)))
    if isinstance(n, ast.BinOp):
        a, b = _i(_eval(n.left, tab, rows, text)), _i(_eval(n.right, tab, rows, text))
        if isinstance(n.op, ast.Add):
            return a + b
        if isinstance(n.op, ast.Sub):
            return a - b
        if isinstance(n.op, ast.Mult):
            return a * b
    if isinstance(n, ast.Constant) and isinstance(n.value, bool | int):
        return n.value
    if isinstance(n, ast.Name) and n.id in CONSTANTS:
        return CONSTANTS[n.id]
    if isinstance(n, ast.Attribute):
        p = _path(n)
        if p is not None:
            role, name = p
            table = {"i": tab.rank, "j": tab.rank, "ib": tab.block, "jb": tab.block,
                     "g": tab.glob}[role]
            if name not in table:
                raise ClauseError(f"{text!r}: unknown name {role}.{name}")
            return table[name][rows[role]]
    raise ClauseError(f"{text!r}: unsupported expression")


def _b(x: Any) -> Any:
    return x.astype(bool) if isinstance(x, np.ndarray) else bool(x)


def _i(x: Any) -> Any:
    return x.astype(np.int64) if isinstance(x, np.ndarray) and x.dtype == bool else x
