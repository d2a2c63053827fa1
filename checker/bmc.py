"""Bounded model checking in the style of Z3's bmc.py: unroll, assume, check.

One `Unrolling` per (configuration, variant) builds the transition relation once (as terms:
the encoding is functional, so a check only pays for the steps its predicate reaches). Each
check runs a fresh bit-blasting solver: on this control-heavy model that is an order of
magnitude faster than the incremental SMT core. A property is PROVED up to
the depth when no step violates it, VIOLATED with the shortest violating step otherwise.
Solver `unknown` (including timeouts) is reported as UNKNOWN, which the caller treats as a
failure.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import z3
from ranksync.spec import content
from ranksync.spec.config import ModelConfig
from ranksync.spec.embedding import Params
from ranksync.spec.model import (
    Choices,
    Run,
    choice_assumptions,
    held_assumptions,
    leftovers,
    make_choices,
    row_assumptions,
    unroll,
)
from ranksync.spec.ops import Z3Ops, width_for
from ranksync.spec.properties import Pred, Property
from ranksync.spec.variants import Variant

PROVED, VIOLATED, UNKNOWN = "PROVED", "VIOLATED", "UNKNOWN"
REACHABLE, UNREACHABLE = "REACHABLE", "UNREACHABLE"


@dataclass
class Symbols:
    length: Any
    bs: Any
    default_tokens: Any
    receives: list[Any]
    aux0: list[list[Any]]  # leftover aux rows [rank][block]
    aux1: list[list[Any]]
    held: list[Any]  # blocks held by other requests at the start, per rank
    choices: list[Choices]


@dataclass
class Unrolling:
    cfg: ModelConfig
    variant: Variant
    run: Run
    sym: Symbols
    timeout_ms: int
    build_seconds: float
    assumptions: list[Any] = field(default_factory=list)


def model_width(cfg: ModelConfig) -> int:
    """Bit-width with headroom for every quantity of this configuration."""
    hi = max(cfg.length_range[1], cfg.default_alloc_range[1])
    mb, bs = cfg.max_blocks, max(cfg.block_sizes)
    return width_for(max(hi * (cfg.depth + 2), (hi + mb + 1) * bs + hi, mb * bs * 2,
                         cfg.pool_blocks + 2 * mb, cfg.mrope_delta + 1,
                         content.max_magnitude(cfg)))


def _range(x: Any, lo: int, hi: int) -> Any:
    return z3.And(x >= lo, x <= hi)


def build(cfg: ModelConfig, v: Variant, timeout_ms: int = 60_000,
          extra: list[Any] | None = None, rest: Any = None) -> Unrolling:
    """The unrolled model and its assumptions. `rest(w)` -> (hook, assumptions): the rest of
    the group for a model of one rank among any number (checker/alltp.py)."""
    t0 = time.perf_counter()
    w = model_width(cfg)
    o = Z3Ops(cfg.block_sizes, w)
    T, P = cfg.tp_size, cfg.pool_blocks
    L = z3.BitVec("L", w)
    bs = z3.BitVec("bs", w)
    D = z3.BitVec("default_allocate_tokens", w)
    if cfg.topology == "a":
        receives: list[Any] = [True] * T
    elif cfg.receivers is not None:
        receives = [r in cfg.receivers for r in range(T)]
    else:
        receives = [z3.Bool(f"receives[{r}]") for r in range(T)]
    aux0 = [[z3.BitVec(f"aux0[{r}][{b}]", w) for b in range(P)] for r in range(T)]
    aux1 = [[z3.BitVec(f"aux1[{r}][{b}]", w) for b in range(P)] for r in range(T)]
    held = [z3.BitVec(f"held[{r}]", w) for r in range(T)]
    choices = [make_choices(cfg, lambda n, k=k: z3.Bool(f"{n}@{k}"),
                            lambda n, k=k: z3.BitVec(f"{n}@{k}", w)) for k in range(cfg.depth)]
    hook, rest_asm = rest(w) if rest is not None else (None, [])
    p = Params(length=L, bs=bs, default_tokens=D, receives=receives, delta=cfg.mrope_delta,
               rest=hook)
    run = unroll(o, cfg, v, p, leftovers(o, cfg, v, p, aux0, aux1, held), choices)

    lo, hi = cfg.length_range
    dlo, dhi = cfg.default_alloc_range
    asm: list[Any] = [_range(L, lo, hi), _range(D, dlo, dhi),
                      z3.Or(*[bs == b for b in cfg.block_sizes])]
    if cfg.topology == "b" and cfg.receivers is None:
        asm.append(z3.Or(*receives))
    asm += row_assumptions(o, cfg, v, p, aux0, aux1) + held_assumptions(cfg, held)
    for ch in choices:
        asm += choice_assumptions(o, cfg, v, p, ch)
    asm += (extra or []) + rest_asm
    sym = Symbols(L, bs, D, receives, aux0, aux1, held, choices)
    return Unrolling(cfg, v, run, sym, timeout_ms, time.perf_counter() - t0,
                     [z3.BoolVal(a) if isinstance(a, bool) else a for a in asm])


@dataclass
class Result:
    verdict: str
    step: int | None = None  # shortest violating / witnessing step
    model: z3.ModelRef | None = None
    seconds: float = 0.0
    reason: str = ""


def _terms(u: Unrolling, pred: Pred) -> list[Any]:
    o = Z3Ops(u.cfg.block_sizes, model_width(u.cfg))
    return [z3.simplify(z3.BoolVal(t) if isinstance(t, bool) else t)
            for t in (pred(o, u.cfg, u.run, k) for k in range(u.cfg.depth))]


def solve(u: Unrolling, goal: Any) -> tuple[Any, z3.ModelRef | None, str]:
    """One check of assumptions /\\ goal on a fresh bit-blasting solver."""
    s = z3.Then("simplify", "propagate-values", "solve-eqs", "bit-blast", "sat").solver()
    s.set("timeout", u.timeout_ms)
    s.add(*u.assumptions)
    s.add(goal)
    r = s.check()
    if r == z3.sat:
        return r, s.model(), ""
    return r, None, s.reason_unknown() if r == z3.unknown else ""


def first_step(u: Unrolling, m: z3.ModelRef, terms: list[Any]) -> int:
    """The first step at which a model satisfies one of `terms`."""
    for k, t in enumerate(terms):
        if z3.is_true(m.eval(t, model_completion=True)):
            return k
    raise AssertionError("model satisfies none of the terms")


def _first_sat(u: Unrolling, terms: list[Any], shortest: bool = False
               ) -> tuple[str, int | None, Any, str]:
    """Check Or(terms). With `shortest`, also find the smallest k such that Or(terms[:k+1])
    is satisfiable (the shortest run), by bisection below the first model's step."""
    r, m, why = solve(u, z3.Or(*terms))
    if r == z3.unsat:
        return "unsat", None, None, ""
    if m is None:
        return "unknown", None, None, why
    k = first_step(u, m, terms)
    lo = 0
    while shortest and lo < k:  # invariant: Or(terms[:k+1]) sat, Or(terms[:lo]) unsat
        mid = (lo + k) // 2
        r2, m2, why = solve(u, z3.Or(*terms[: mid + 1]))
        if m2 is not None:
            m, k = m2, first_step(u, m2, terms)
        elif r2 == z3.unsat:
            lo = mid + 1
        else:
            return "unknown", None, None, why
    return "sat", k, m, ""


def _check(u: Unrolling, pred: Pred, yes: str, no: str, shortest: bool) -> Result:
    t0 = time.perf_counter()
    res, k, m, why = _first_sat(u, _terms(u, pred), shortest)
    dt = time.perf_counter() - t0
    if res == "unsat":
        return Result(no, seconds=dt)
    if res == "sat":
        return Result(yes, k, m, dt)
    return Result(UNKNOWN, seconds=dt, reason=why)


def check_property(u: Unrolling, prop: Property, shortest: bool = False) -> Result:
    """PROVED up to the bound, or VIOLATED with a run (the shortest if asked)."""
    return _check(u, prop.bad, VIOLATED, PROVED, shortest)


def check_reachable(u: Unrolling, pred: Pred) -> Result:
    """A witness: REACHABLE with a run, or UNREACHABLE within the bound."""
    return _check(u, pred, REACHABLE, UNREACHABLE, False)


def check_many(u: Unrolling, preds: dict[str, Pred],
               on_settled: Callable[[int], None] | None = None) -> dict[str, Result]:
    """Decide several reachability questions with as few solver calls as possible: ask for a
    run satisfying any of them; every question that run answers is settled (SAT), the rest are
    asked again; one UNSAT settles all that remain. On UNKNOWN each remaining question is
    asked on its own, so a hard one cannot hide the others' verdicts."""
    terms = {n: _terms(u, p) for n, p in preds.items()}
    out: dict[str, Result] = {}
    todo = list(preds)
    while todo:
        t0 = time.perf_counter()
        r, m, why = solve(u, z3.Or(*[t for n in todo for t in terms[n]]))
        dt = time.perf_counter() - t0
        if r == z3.unsat:
            for n in todo:
                out[n] = Result("unsat", seconds=dt / len(todo))
            if on_settled:
                on_settled(len(todo))
            break
        if m is None:
            for n in todo:
                r1, k1, m1, why1 = _first_sat(u, terms[n])
                out[n] = Result({"unsat": "unsat", "sat": "sat"}.get(r1, UNKNOWN), k1, m1,
                                reason=why1 or why)
                if on_settled:
                    on_settled(1)
            break
        hit = [n for n in todo if any(z3.is_true(m.eval(t, model_completion=True))
                                      for t in terms[n])]
        for n in hit:
            out[n] = Result("sat", first_step(u, m, terms[n]), m, dt / len(hit))
        if on_settled:
            on_settled(len(hit))
        todo = [n for n in todo if n not in hit]
    return out
