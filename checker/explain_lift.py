"""`ranksync explain VARIANT PROPERTY --ranks T` above the range BMC explains directly (T > 4):
the counterexample at the smallest T <= 4 (seeded simulation, then made shortest and, within
10 s, minimised by BMC over its own length), lifted to T ranks and confirmed by replay (checker/lift.py).
Ranks that behave alike are printed once in the timeline and share a column side by side; the
causes are the but-for replay at T (checker/cause.py). With --cause the base is the one
`explain --cause` finds at the smallest T. No counterexample at any T <= 4 is UNKNOWN at T
(never PROVED: nothing here proves the property at T).
"""

from __future__ import annotations

import time
from typing import Any

from ranksync.spec.config import ModelConfig
from ranksync.spec.properties import PROPERTIES

from . import bmc
from .cause import KIND_WORDS, analyse
from .cause_text import describe
from .explain import Explanation, explain, headline, reproduce
from .lift import LiftResult, violation_at
from .lift_base import LIFT_ABOVE, Base, base_configs, smallest_counterexample
from .sidebyside import side_by_side
from .timeline import rank_set, render


def _base(target: ModelConfig, variant: str, prop: str, budget_s: float, runs: int,
          seed: int, cause: str | None, timeout_ms: int) -> tuple[Base | None, str]:
    """The small-T counterexample to lift, and what was searched. With `cause`, the one
    `explain --cause` shows at the smallest T that has one (BMC, shortest and minimised)."""
    if cause is None:
        notes: list[str] = []
        base = smallest_counterexample(base_configs(target), variant, prop, runs, seed,
                                       budget_s / 2, minimise_s=min(10.0, budget_s / 4),
                                       notes=notes)
        return base, "; ".join(notes)
    t0 = time.perf_counter()
    for cfg in base_configs(target):
        ex = explain(cfg, variant, prop, timeout_ms, cause=cause)
        if ex.verdict == bmc.VIOLATED and ex.cause_found and ex.scenario is not None:
            assert ex.step is not None
            return Base(ex.scenario, ex.step, "bmc", True, time.perf_counter() - t0, True), ""
        if ex.verdict == bmc.UNKNOWN:
            return None, f"T={cfg.tp_size}: BMC undecided"
    return None, f"no counterexample whose causes include {KIND_WORDS.get(cause, cause)}" \
        if cause != "none" else "no counterexample without any ingredient"


def explain_lifted(target: ModelConfig, variant: str, prop: str, verbose: bool = False,
                   budget_s: float = 60.0, shorter_budget_s: float = 20.0, runs: int = 300,
                   seed: int = 0, cause: str | None = None, timeout_ms: int = 120_000
                   ) -> tuple[Explanation, LiftResult | None]:
    """The lifted counterexample with the ranks side by side (alike ranks in one column) and
    its causes (the but-for replay at T), or UNKNOWN. With `cause`, the base is one whose
    causes include that kind, and the lifted run's causes are checked to include it too."""
    p = PROPERTIES[prop]

    def head(verdict: str) -> list[str]:
        return headline(verdict, variant, target, p)

    base, searched = _base(target, variant, prop, budget_s, runs, seed, cause, timeout_ms)
    if base is None:
        none = head(bmc.UNKNOWN) + [
            f"no counterexample at T <= {min(LIFT_ABOVE, target.tp_size - 1)} to lift to "
            f"T={target.tp_size} ({searched}); nothing is claimed at T={target.tp_size}"]
        return Explanation(bmc.UNKNOWN, target, variant, prop, None, None, None,
                           "\n".join(none), cause=cause), None
    res = violation_at(base.scenario, base.step, prop, target.tp_size, target=target,
                       budget_s=budget_s / 2, shorter_budget_s=shorter_budget_s,
                       base_shortest=base.shortest, seed=seed)
    found = (f"base: T={base.scenario.cfg.tp_size} counterexample found by {base.how}"
             + (", made shortest by BMC" if base.shortest else "")
             + (" and minimised" if base.minimised else "")
             + f" ({base.seconds:.1f} s)")
    lines = [found] + [f"  {a}" for a in res.attempts]
    if res.scenario is None or res.step is None:
        text = "\n".join([*head(bmc.UNKNOWN), *lines, f"reason: {res.reason}"])
        return Explanation(bmc.UNKNOWN, target, variant, prop, None, None, None, text,
                           cause=cause), res
    sc, k = res.scenario, res.step
    run = sc.replay()
    an = analyse(sc, p, run)
    tr = sc.trace(f"{variant}-{target.topology}-T{target.tp_size}-{prop}", run)
    lines.append(f"found by: {res.method} ({res.seconds:.1f} s with the shortest checks); "
                 f"confirmed by replaying the T={target.tp_size} run on the concrete model")
    if res.copy_of is not None:
        lines.append("classes: " + "; ".join(
            f"{rank_set(g)} copy TP{q}" for q, g in zip(sorted(set(res.copy_of or [])),
                                                          res.classes(), strict=True)))
    lines += ["what is shortest:"] + [f"  {x}" for x in res.shortest]
    text = render(sc, tr, "\n".join([*head(bmc.VIOLATED), *lines]), focus=k, verbose=verbose)
    kept = None if cause is None else (not an.present if cause == "none"
                                       else cause in an.kinds())
    tail = side_by_side(prop, sc.cfg, run, k, sc.length) + describe(sc, run, an)
    if kept is False:
        tail.append(f"note: at T={target.tp_size} this run's causes do not include "
                    f"{KIND_WORDS.get(cause or '', 'no ingredient')} (the base's did)")
    tail.append(reproduce(variant, prop, target, cause))
    return Explanation(bmc.VIOLATED, sc.cfg, variant, prop, k, sc, tr,
                       "\n".join([text, *tail]), an, cause, kept), res


def to_json(ex: Explanation, res: LiftResult | None) -> dict[str, Any]:
    return ex.to_json() | {"lift": res.to_json() if res is not None else None}
