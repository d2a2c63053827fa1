"""The small-T counterexample a lift starts from: seeded simulation first, then BMC to make
it the shortest at that T (and optionally minimised, as `explain` does), each under a budget.

`first_hit` draws exactly the scenarios `simulate.simulate` draws for the same configuration,
variant and seed, so its hit is the run `ranksync prove` reports for that obligation.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import z3
from ranksync.spec.config import ModelConfig
from ranksync.spec.properties import PROPERTIES
from ranksync.spec.variants import get_variant

from . import bmc
from .scenario import Scenario, from_model
from .simulate import random_scenario
from .symmetric import TIMEOUT, budgeted, first_violation, truncated

LIFT_ABOVE = 4  # explain and prove run BMC at T themselves up to this T; lift above it


@dataclass
class Base:
    scenario: Scenario  # truncated after `step`
    step: int
    how: str  # "simulation" | "bmc"
    shortest: bool | None  # shortest at this T (BMC), None if not established
    seconds: float
    minimised: bool = False


def first_hit(cfg: ModelConfig, variant: str, prop: str, runs: int = 300, seed: int = 0,
              deadline: float | None = None) -> tuple[Scenario, int] | None:
    """The first of `simulate`'s seeded runs that violates `prop`, and its first bad step
    (None if no run does, or the deadline passes first)."""
    rng = random.Random(f"{seed}/{variant}/{cfg}")  # the stream simulate() draws from
    for _ in range(runs):
        if deadline is not None and time.perf_counter() > deadline:
            return None
        sc = random_scenario(cfg, variant, rng)
        k = first_violation(sc, prop)
        if k is not None:
            return truncated(sc, k), k
    return None


def _shortest(cfg: ModelConfig, variant: str, prop: str, depth: int, timeout_ms: int,
              minimise: bool) -> tuple[str, Scenario | None, int | None]:
    """BMC within `depth` steps at cfg.tp_size: the shortest violation (minimised if asked)."""
    from .minimise import minimise as lex_minimise

    u = bmc.build(replace(cfg, depth=depth), get_variant(variant), timeout_ms)
    res = bmc.check_property(u, PROPERTIES[prop], shortest=True)
    if res.verdict != bmc.VIOLATED:
        return res.verdict, None, None
    assert res.model is not None and res.step is not None
    m, k = res.model, res.step
    if minimise:
        terms = bmc._terms(u, PROPERTIES[prop].bad)
        m = lex_minimise(u, z3.Or(*terms[: k + 1]), m)
        k = bmc.first_step(u, m, terms)
    sc = from_model(u, m, k)
    return bmc.VIOLATED, replace(sc, cfg=cfg), k


def shorten(sc: Scenario, step: int, prop: str, budget_s: float, minimise_s: float = 0.0
            ) -> tuple[Scenario, int, bool | None, bool]:
    """The shortest violation at sc's T no longer than `sc` (BMC over step+1 iterations, a
    much smaller unrolling than the configured depth), or `sc` itself with shortest=None if
    BMC does not decide within `budget_s`; then, within `minimise_s` more, the same run made
    small (L, allocation, block size, stale rows, held blocks, faults) as `explain` does.
    Returns (scenario, step, shortest or None if not established, minimised)."""
    best: tuple[Scenario, int, bool | None, bool] = (sc, step, True if step == 0 else None,
                                                     False)
    for mini, seconds in ((False, budget_s if step else 0.0), (True, minimise_s)):
        if seconds <= 0:
            continue
        status, out = budgeted(_shortest, (sc.cfg, sc.variant, prop, best[1] + 1,
                                           max(1000, int(seconds * 1000)), mini), seconds)
        if status != "ok" or out[0] != bmc.VIOLATED:
            continue
        got, k = out[1], out[2]
        if first_violation(got, prop, k) != k:
            raise RuntimeError("internal error: the concrete replay does not reproduce the "
                               "solver's run")
        if not mini or k == best[1]:  # minimising keeps the length
            best = (got, k, True if not mini else best[2], mini)
    return best


def smallest_counterexample(cfgs: Sequence[ModelConfig], variant: str, prop: str,
                            runs: int = 300, seed: int = 0, budget_s: float = 30.0,
                            minimise_s: float = 0.0, notes: list[str] | None = None
                            ) -> Base | None:
    """The counterexample at the first configuration of `cfgs` (smallest T first) where one is
    found: seeded simulation at each, then BMC at each (full configured depth) while the budget
    lasts. The hit is made the shortest at its T by `shorten` when the budget allows. What
    each search concluded is appended to `notes`."""
    t0 = time.perf_counter()
    deadline = t0 + budget_s
    notes = [] if notes is None else notes
    for cfg in cfgs:
        hit = first_hit(cfg, variant, prop, runs, seed, deadline)
        notes.append(f"T={cfg.tp_size}: simulation " + ("found one" if hit else "found none"))
        if hit is not None:
            sc, k, short, mini = shorten(hit[0], hit[1], prop,
                                         max(1.0, deadline - time.perf_counter()), minimise_s)
            return Base(sc, k, "simulation", short, time.perf_counter() - t0, mini)
    for cfg in cfgs:
        left = deadline - time.perf_counter()
        status, out = budgeted(_shortest, (cfg, variant, prop, cfg.depth,
                                           max(1000, int(left * 1000)), False), left)
        notes.append(f"T={cfg.tp_size}: BMC (depth {cfg.depth}) "
                     + (out[0] if status == "ok" else f"{status} {out or ''}".strip()))
        if status == TIMEOUT:
            break
        if status == "ok" and out[0] == bmc.VIOLATED:
            if first_violation(out[1], prop) != out[2]:
                raise RuntimeError("internal error: the concrete replay does not reproduce "
                                   "the solver's run")
            return Base(out[1], out[2], "bmc", True, time.perf_counter() - t0)
    return None


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
