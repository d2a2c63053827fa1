"""Lexicographic minimisation of a counterexample found by the solver (used by `explain` and
by the lifting's base search): the request's parameters first, then leftover rows, held
blocks and faults, each as small as the earlier ones allow."""

from __future__ import annotations

from typing import Any

import z3

from . import bmc


def _cost_terms(u: bmc.Unrolling) -> list[tuple[str, Any]]:
    """What `minimise` makes small, most important first."""
    sy = u.sym
    w = sy.length.size()

    def bv_sum(xs: list[Any]) -> Any:
        return sum((z3.If(x, z3.BitVecVal(1, w), z3.BitVecVal(0, w)) if z3.is_bool(x) else x)
                   for x in xs)

    out: list[tuple[str, Any]] = [("L", sy.length), ("default_allocate_tokens", sy.default_tokens),
                                  ("block_size", sy.bs)]
    stale = [x for row in sy.aux0 + sy.aux1 for x in row]
    out.append(("stale aux", bv_sum([z3.If(x != 0, z3.BitVecVal(1, w), z3.BitVecVal(0, w))
                                      for x in stale])))
    out.append(("held blocks", bv_sum(list(sy.held))))
    faults = [x for ch in sy.choices
              for x in [ch.abort, *ch.chunk_fail, *ch.others_alloc, *ch.others_free]]
    out.append(("faults", bv_sum([x for x in faults if not isinstance(x, bool)])))
    return out


def minimise(u: bmc.Unrolling, goal: Any, m: z3.ModelRef) -> z3.ModelRef:
    """Lexicographic minimisation by bisection: each cost term as small as the earlier ones
    allow (all cost terms are non-negative). `goal` stays asserted throughout, so every
    model it returns still violates (and, with --cause, still has a cause of that kind:
    `explain` re-checks both on the concrete replay)."""
    fixed: list[Any] = []
    for _name, t in _cost_terms(u):
        if not z3.is_expr(t):
            continue
        lo, hi = 0, m.eval(t, model_completion=True).as_signed_long()
        while lo < hi:
            mid = (lo + hi) // 2
            _r, m2, _why = bmc.solve(u, z3.And(goal, *fixed, t <= mid))
            if m2 is None:
                lo = mid + 1
            else:
                m, hi = m2, m2.eval(t, model_completion=True).as_signed_long()
        fixed.append(t == hi)
    return m
