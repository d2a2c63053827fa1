"""`ranksync explain`: the shortest, then minimised, counterexample of one property as a
per-rank timeline, or what was proved and to which bound (with the premise's witness run)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import z3
from ranksync.spec.config import ModelConfig
from ranksync.spec.ops import PyOps
from ranksync.spec.properties import PROPERTIES, Pred
from ranksync.spec.variants import get_variant

from . import bmc
from .prove import bound_of
from .scenario import Scenario, from_model
from .timeline import render


@dataclass
class Explanation:
    verdict: str
    cfg: ModelConfig
    variant: str
    prop: str
    step: int | None
    scenario: Scenario | None
    trace: dict[str, Any] | None
    text: str

    def to_json(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "variant": self.variant, "property": self.prop,
                "topology": self.cfg.topology, "tp_size": self.cfg.tp_size, "step": self.step,
                "bound": bound_of(self.cfg), "trace": self.trace, "text": self.text}


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
    allow (all cost terms are non-negative)."""
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


def explain(cfg: ModelConfig, variant: str, prop_name: str, timeout_ms: int = 120_000,
            verbose: bool = False) -> Explanation:
    prop = PROPERTIES[prop_name]
    v = get_variant(variant)
    u = bmc.build(cfg, v, timeout_ms)
    res = bmc.check_property(u, prop, shortest=True)
    head, bound = headline(cfg, variant, prop_name), bound_text(cfg)
    if res.verdict == bmc.VIOLATED:
        assert res.model is not None and res.step is not None
        terms = bmc._terms(u, prop.bad)
        goal = z3.Or(*terms[: res.step + 1])
        m = minimise(u, goal, res.model)
        k = bmc.first_step(u, m, terms)
        sc = from_model(u, m, k)
        run = sc.replay()
        _confirm(cfg, prop.bad, run, k)
        tr = sc.trace(f"{variant}-{cfg.topology}-T{cfg.tp_size}-{prop_name}", run)
        text = render(sc, tr, f"VIOLATED: {head}\n{bound}", focus=k, verbose=verbose)
        text += "\n" + reproduce(variant, prop_name, cfg)
        return Explanation(bmc.VIOLATED, cfg, variant, prop_name, k, sc, tr, text)
    if res.verdict == bmc.PROVED:
        w = bmc.check_reachable(u, prop.premise)
        lines = [f"PROVED: {head}", bound,
                 f"no run of at most {cfg.depth} iterations violates it."]
        if w.verdict == bmc.REACHABLE and w.model is not None and w.step is not None:
            sc = from_model(u, w.model, w.step)
            tr = sc.trace("witness", sc.replay())
            lines.append(render(sc, tr, f"premise witness (the property is exercised at "
                                        f"iteration {w.step}):", focus=w.step, verbose=verbose))
            return Explanation(bmc.PROVED, cfg, variant, prop_name, None, sc, tr,
                               "\n".join(lines))
        lines.append(f"premise: {w.verdict} -- the proof is vacuous" if w.verdict !=
                     bmc.REACHABLE else "")
        return Explanation(f"VACUOUS ({w.verdict})", cfg, variant, prop_name, None, None, None,
                           "\n".join(lines))
    return Explanation(bmc.UNKNOWN, cfg, variant, prop_name, None, None, None,
                       f"UNKNOWN: {head}\n{bound}\nsolver: {res.reason}")


def headline(cfg: ModelConfig, variant: str, prop_name: str) -> str:
    prop = PROPERTIES[prop_name]
    return (f"{variant} / topology {cfg.topology} / T={cfg.tp_size}: {prop_name} "
            f"({prop.kind}) -- {prop.doc}")


def bound_text(cfg: ModelConfig) -> str:
    return (f"bound: depth {cfg.depth} iterations, L in {list(cfg.length_range)}, "
            f"block_size in {list(cfg.block_sizes)}, default_allocate_tokens in "
            f"{list(cfg.default_alloc_range)}, pool {cfg.pool_blocks} blocks/rank, "
            f"stale rows: {cfg.stale}, faults: {cfg.faults}, pool pressure: {cfg.pool_pressure} "
            f"(held at start {list(cfg.held)})")


def _confirm(cfg: ModelConfig, bad: Pred, run: Any, k: int) -> None:
    """The concrete model must reproduce what the solver found (guards the Ops abstraction)."""
    if not bad(PyOps(cfg.block_sizes), cfg, run, k):
        raise RuntimeError("internal error: the concrete replay does not violate the property "
                           "the solver reported; please report this with the command line")


def reproduce(variant: str, prop: str, cfg: ModelConfig) -> str:
    cmd = f"ranksync explain {variant} {prop} --topology {cfg.topology} --ranks {cfg.tp_size}"
    if cfg.receivers is not None:
        cmd += " --receivers " + ",".join(map(str, cfg.receivers))
    if not cfg.faults:
        cmd += " --no-faults"
    if cfg.stale != "history":
        cmd += f" --stale {cfg.stale}"
    if cfg.pool_pressure != "shared":
        cmd += f" --pool-pressure {cfg.pool_pressure}"
    return f"reproduce: {cmd}"
