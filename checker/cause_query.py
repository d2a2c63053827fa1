"""`explain --cause KIND` as a solver constraint: a violating run one of whose ingredients of
that kind is a cause (checker/cause.py), or, for `none`, a violating run without ingredients.

The but-for test is a second run of the same model on the same choices with one ingredient
removed, picked by a symbolic selector among every place such an ingredient can sit (a
block's leftover row, a step's abort, ...). The model is deterministic given its choices, so
"the run violates and the run without ingredient `sel` does not, up to the first violating
iteration" is one existential query: the same test `cause.analyse` replays concretely, over
the same grouping of ranks (so the second run stays inside the configuration's assumptions).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import z3
from ranksync.spec.model import Choices, leftovers, unroll
from ranksync.spec.ops import Z3Ops
from ranksync.spec.properties import Property

from . import bmc
from .cause import Kind

CAUSE_CHOICES = ("stale", "fault", "pool", "none")


class _Removal:
    """Each removable place gets an index; `pick(i, x, removed)` is x unless sel == i."""

    def __init__(self, width: int) -> None:
        self.sel = z3.BitVec("cause_selector", width)
        self.n = 0

    def next(self) -> Any:
        self.n += 1
        return self.sel == self.n - 1

    @staticmethod
    def pick(hit: Any, x: Any, removed: Any) -> Any:
        return z3.If(hit, removed, x)


def _rows(u: bmc.Unrolling, rm: _Removal, rows: list[tuple[list[Any], list[Any]]]
          ) -> list[tuple[list[Any], list[Any]]]:
    """Leftover rows ([rank] -> per block aux0, aux1), with one block's (history) or one
    rank's block's (per_rank) row zeroed when selected."""
    cfg = u.cfg
    T, P = cfg.tp_size, cfg.pool_blocks
    out = [(list(a0), list(a1)) for a0, a1 in rows]
    groups = [[(r, b) for r in range(T)] for b in range(P)] if cfg.stale == "history" else \
        [[(r, b)] for r in range(T) for b in range(P)]
    for g in groups:
        hit = rm.next()
        for r, b in g:
            out[r][0][b] = rm.pick(hit, out[r][0][b], z3.BitVecVal(0, out[r][0][b].size()))
            out[r][1][b] = rm.pick(hit, out[r][1][b], z3.BitVecVal(0, out[r][1][b].size()))
    return out


def _events(u: bmc.Unrolling, rm: _Removal, xs: list[Any]) -> list[Any]:
    """A per-rank event list with all ranks' (shared pool) or one rank's event dropped."""
    shared = u.cfg.pool_pressure != "per_rank"
    out = list(xs)
    groups = [list(range(len(xs)))] if shared else [[r] for r in range(len(xs))]
    for g in groups:
        hit = rm.next()
        for r in g:
            out[r] = z3.And(z3.Not(hit), out[r])
    return out


def counterfactual(u: bmc.Unrolling, kind: Kind) -> tuple[Any, Any]:
    """The run without one selected ingredient of `kind`, and the selector's range."""
    cfg, sy = u.cfg, u.sym
    rm = _Removal(max(4, (4 * cfg.pool_blocks * cfg.tp_size * (cfg.depth + 1)).bit_length()))
    aux0, aux1 = [list(r) for r in sy.aux0], [list(r) for r in sy.aux1]
    held = list(sy.held)
    choices: list[Choices] = []
    if kind == "stale":
        rows = _rows(u, rm, list(zip(aux0, aux1, strict=True)))
        aux0, aux1 = [r[0] for r in rows], [r[1] for r in rows]
    if kind == "pool" and cfg.held[0] == 0 and cfg.pool_pressure != "none":
        zero = z3.BitVecVal(0, held[0].size())
        groups = [list(range(cfg.tp_size))] if cfg.pool_pressure == "shared" else \
            [[r] for r in range(cfg.tp_size)]
        for g in groups:
            hit = rm.next()
            for r in g:
                held[r] = rm.pick(hit, held[r], zero)
    for ch in sy.choices:
        new = ch
        if kind == "fault" and cfg.faults:
            fails = []
            for x in ch.chunk_fail:
                fails.append(z3.And(z3.Not(rm.next()), x))
            new = replace(new, abort=z3.And(z3.Not(rm.next()), ch.abort), chunk_fail=fails)
        elif kind == "pool" and cfg.pool_pressure != "none":
            new = replace(new, others_alloc=_events(u, rm, ch.others_alloc),
                          others_free=_events(u, rm, ch.others_free))
        elif kind == "stale":
            rows = _rows(u, rm, list(zip(ch.taken_aux0, ch.taken_aux1, strict=True)))
            new = replace(new, taken_aux0=[r[0] for r in rows], taken_aux1=[r[1] for r in rows])
        choices.append(new)
    o = Z3Ops(cfg.block_sizes, bmc.model_width(cfg))
    p = u.run.params
    run = unroll(o, cfg, u.variant, p, leftovers(o, cfg, u.variant, p, aux0, aux1, held),
                 choices)
    return run, z3.ULT(rm.sel, rm.n) if rm.n else z3.BoolVal(False)


def no_ingredients(u: bmc.Unrolling) -> list[Any]:
    """A run with no leftover row, fault or pool event at all (nothing in it can be a cause)."""
    cfg, sy = u.cfg, u.sym
    out: list[Any] = [x == 0 for row in sy.aux0 + sy.aux1 for x in row]
    if cfg.held[0] == 0:
        out += [h == 0 for h in sy.held]
    for ch in sy.choices:
        out += [z3.Not(x) for x in [ch.abort, *ch.chunk_fail, *ch.others_alloc,
                                     *ch.others_free] if not isinstance(x, bool)]
    return out


def goals(u: bmc.Unrolling, prop: Property, cause: str) -> list[Any]:
    """Per iteration j: the run's first violation is at j, and the cause condition holds
    (`cause.analyse` is the concrete twin of this condition)."""
    o = Z3Ops(u.cfg.block_sizes, bmc.model_width(u.cfg))
    bad = bmc._terms(u, prop.bad)
    if cause == "none":
        side: list[Any] = [z3.And(*no_ingredients(u))] * len(bad)
    else:
        run2, in_range = counterfactual(u, cause)  # type: ignore[arg-type]
        bad2 = [prop.bad(o, u.cfg, run2, j) for j in range(len(bad))]
        bad2 = [z3.BoolVal(x) if isinstance(x, bool) else x for x in bad2]
        side = [z3.And(in_range, *[z3.Not(x) for x in bad2[: j + 1]]) for j in range(len(bad))]
    return [z3.And(bad[j], *[z3.Not(x) for x in bad[:j]], side[j]) for j in range(len(bad))]
