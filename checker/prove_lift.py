"""Bounded VIOLATED rows above T = 4 without BMC at that T: the counterexample of the smallest
T <= 4 (seeded simulation there, BMC at that small T only if simulation finds none), lifted
to T by copying ranks and kept only if the concrete replay at T violates the property and the
run is within the configuration's bounds (checker/lift.py). A lift that fails decides nothing:
the obligation goes on to BMC at T (if the configuration runs it) or stays UNKNOWN.

Only obligations declared VIOLATED are tried (a lift can only ever find a violation; trying
one for a property that holds would spend the budget on small-T BMC for nothing).
"""

from __future__ import annotations

import time
from typing import Any

from ranksync.spec.config import ModelConfig

from . import bmc
from .config import ProveConfig
from .lift_base import LIFT_ABOVE, base_configs, smallest_counterexample

BUDGET_S = 120.0  # per obligation at most (and at most the config's solver timeout)


def lift_violations(pc: ProveConfig, cfg: ModelConfig, variant: str, names: list[str],
                    pairwise: tuple[str, ...] = (), budget_s: float = BUDGET_S
                    ) -> dict[str, tuple[int, float, str]]:
    """{property: (violating step at T, seconds, how)} for the `names` whose lifted
    counterexample reproduces at cfg.tp_size. `pairwise` properties hold at T = 1: no base
    is looked for there."""
    if cfg.tp_size <= LIFT_ABOVE:
        return {}
    from .lift import violation_at

    out: dict[str, tuple[int, float, str]] = {}
    budget_s = min(budget_s, pc.timeout_seconds)
    for name in names:
        t0 = time.perf_counter()
        cfgs = [c for c in base_configs(cfg) if c.tp_size > 1 or name not in pairwise]
        base = smallest_counterexample(cfgs, variant, name, pc.simulations, pc.seed,
                                       budget_s / 2)
        if base is None:
            continue
        res = violation_at(base.scenario, base.step, name, cfg.tp_size, target=cfg,
                           budget_s=budget_s / 2, shorter_budget_s=0,
                           base_shortest=base.shortest, seed=pc.seed)
        if res.verdict == bmc.VIOLATED and res.step is not None:
            how = (f"lifted from the T={base.scenario.cfg.tp_size} counterexample "
                   f"({base.how}) by {res.method}, confirmed by replay at T={cfg.tp_size}")
            out[name] = (res.step, time.perf_counter() - t0, how)
    return out


def expected_violated(pc: ProveConfig, variant: str, topology: str, tp_size: int,
                      todo: dict[str, Any]) -> list[str]:
    return [n for n in todo if pc.expected(variant, topology, n, tp_size) == bmc.VIOLATED]
