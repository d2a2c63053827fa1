"""`ranksync explain VARIANT PROPERTY --ranks T` above the range BMC explains directly (T > 4):
the counterexample at the smallest T <= 4 (seeded simulation, then made shortest and, within
10 s, minimised by BMC over its own length), lifted to T ranks and confirmed by replay (checker/lift.py).
Ranks that behave alike are printed once in the timeline. No counterexample at any T <= 4 is
UNKNOWN at T (never PROVED: nothing here proves the property at T).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ranksync.spec.config import ModelConfig

from . import bmc
from .explain import Explanation, bound_text, headline, reproduce
from .lift import LiftResult, violation_at
from .lift_base import smallest_counterexample
from .timeline import rank_set, render

LIFT_ABOVE = 4  # explain runs BMC itself up to this T


def base_configs(target: ModelConfig) -> list[ModelConfig]:
    """Configurations of T <= 4 (below the target's) whose counterexamples lift to `target`,
    smallest T first: E fixed or E = T as in the target, receiver classes as in the target."""
    out = []
    for t in range(1, min(LIFT_ABOVE, target.tp_size - 1) + 1):
        if target.topology == "a":
            scaled = target.n_senders == target.tp_size
            if not scaled and target.n_senders > t:
                continue
            out.append(replace(target, tp_size=t,
                               embedding_tp_size=t if scaled else target.n_senders))
        elif target.receivers is None:
            out.append(replace(target, tp_size=t))
        else:  # receivers first, then the ranks without data (if the target has any)
            some_without = len(target.receivers) < target.tp_size
            for j in range(1, t) if some_without else [t]:
                out.append(replace(target, tp_size=t, receivers=tuple(range(j))))
    return out


def explain_lifted(target: ModelConfig, variant: str, prop: str, verbose: bool = False,
                   budget_s: float = 60.0, shorter_budget_s: float = 20.0, runs: int = 300,
                   seed: int = 0) -> tuple[Explanation, LiftResult | None]:
    head, bound = headline(target, variant, prop), bound_text(target)
    base = smallest_counterexample(base_configs(target), variant, prop, runs, seed,
                                   budget_s / 2, minimise_s=min(10.0, budget_s / 4))
    if base is None:
        text = (f"UNKNOWN: {head}\n{bound}\nno counterexample at T <= "
                f"{min(LIFT_ABOVE, target.tp_size - 1)} (seeded simulation, then BMC within "
                f"{budget_s / 2:.0f} s) to lift to T={target.tp_size}; nothing is claimed "
                f"at T={target.tp_size}")
        return Explanation(bmc.UNKNOWN, target, variant, prop, None, None, None, text), None
    res = violation_at(base.scenario, base.step, prop, target.tp_size, target=target,
                       budget_s=budget_s / 2, shorter_budget_s=shorter_budget_s,
                       base_shortest=base.shortest, seed=seed)
    found = (f"base: T={base.scenario.cfg.tp_size} counterexample found by {base.how}"
             + (", made shortest by BMC" if base.shortest else "")
             + (" and minimised" if base.minimised else "")
             + f" ({base.seconds:.1f} s)")
    lines = [found] + [f"  {a}" for a in res.attempts]
    if res.scenario is None or res.step is None:
        text = "\n".join([f"UNKNOWN: {head}", bound, *lines, f"reason: {res.reason}"])
        return Explanation(bmc.UNKNOWN, target, variant, prop, None, None, None, text), res
    sc, k = res.scenario, res.step
    tr = sc.trace(f"{variant}-{target.topology}-T{target.tp_size}-{prop}")
    lines.append(f"found by: {res.method} ({res.seconds:.1f} s with the shortest checks); "
                 f"confirmed by replaying the T={target.tp_size} run on the concrete model")
    if res.copy_of is not None:
        lines.append("classes: " + "; ".join(
            f"{rank_set(g)} copy TP{q}" for q, g in zip(sorted(set(res.copy_of or [])),
                                                          res.classes(), strict=True)))
    lines += ["what is shortest:"] + [f"  {x}" for x in res.shortest]
    text = render(sc, tr, "\n".join([f"VIOLATED: {head}", bound, *lines]), focus=k,
                  verbose=verbose)
    text += "\n" + reproduce(variant, prop, target)
    return Explanation(bmc.VIOLATED, sc.cfg, variant, prop, k, sc, tr, text), res


def to_json(ex: Explanation, res: LiftResult | None) -> dict[str, Any]:
    return ex.to_json() | {"lift": res.to_json() if res is not None else None}
