"""Seeded random simulation of the concrete model: the prover's fast path for falsification.

A random run of `PyOps` within the configuration's bounds that violates a property is a
counterexample as good as one from the solver (it is a run of the same model, and the report
replays it). Simulation can only find violations and witnesses; proofs come from BMC.
Runs are deterministic for a given seed.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ranksync.spec.config import ModelConfig
from ranksync.spec.ops import PyOps
from ranksync.spec.properties import PROPERTIES, Pred, branch_witnesses
from ranksync.spec.variants import get_variant

from .scenario import Scenario


@dataclass
class Hit:
    scenario: Scenario
    step: int


@dataclass
class SimResult:
    runs: int = 0
    violations: dict[str, Hit] = field(default_factory=dict)
    premises: dict[str, Hit] = field(default_factory=dict)
    branches: dict[str, Hit] = field(default_factory=dict)


def _rows(cfg: ModelConfig, receivers: list[int], rng: random.Random, p_stale: float
          ) -> tuple[list[list[int]], list[list[int]]]:
    """Leftover aux rows [rank][block] as `stale` allows: shared by the ranks that receive
    data (history), independent per rank (what-if), or zeros; non-receivers hold zeros."""
    T, P, hi = cfg.tp_size, cfg.pool_blocks, cfg.length_range[1]

    def one(top: int) -> int:
        return 0 if cfg.stale == "zeros" or rng.random() > p_stale else rng.randint(0, top)

    shared0 = [one(hi) for _ in range(P)]
    shared1 = [one(cfg.mrope_delta + 1) for _ in range(P)]
    aux0, aux1 = [], []
    for r in range(T):
        if r not in receivers:
            aux0.append([0] * P)
            aux1.append([0] * P)
        elif cfg.stale == "per_rank":
            aux0.append([one(hi) for _ in range(P)])
            aux1.append([one(cfg.mrope_delta + 1) for _ in range(P)])
        else:
            aux0.append(list(shared0))
            aux1.append(list(shared1))
    return aux0, aux1


def random_scenario(cfg: ModelConfig, variant: str, rng: random.Random) -> Scenario:
    T = cfg.tp_size
    lo, hi = cfg.length_range
    v = get_variant(variant)
    if cfg.topology == "a":
        receivers = list(range(T))
    elif cfg.receivers is not None:
        receivers = list(cfg.receivers)
    else:
        receivers = [r for r in range(T) if rng.random() < 0.5] or [rng.randrange(T)]
    data = list(range(T)) if v.data_to_all else receivers
    aux0, aux1 = _rows(cfg, data, rng, 0.4)
    h0, h1 = cfg.held
    held_one = rng.randint(h0, h1) if rng.random() < 0.3 else h0
    held = [rng.randint(h0, h1) if cfg.pool_pressure == "per_rank" and rng.random() < 0.3
            else held_one for _ in range(T)]
    return Scenario(cfg=cfg, variant=variant, length=rng.randint(lo, hi),
                    bs=rng.choice(cfg.block_sizes),
                    default_tokens=rng.randint(*cfg.default_alloc_range),
                    receivers=receivers, aux0=aux0, aux1=aux1, held=held,
                    schedule=random_schedule(cfg, data, rng))


def random_schedule(cfg: ModelConfig, data: list[int], rng: random.Random
                    ) -> list[dict[str, Any]]:
    """cfg.depth random steps as the configuration allows (`data`: the ranks that get data)."""
    T, E = cfg.tp_size, cfg.n_senders
    p_env = rng.choice([0.3, 0.6, 0.9])  # how eager this run's environment is
    eager_tail = rng.random() < 0.4
    schedule = []
    for k in range(cfg.depth):
        if eager_tail and k >= cfg.depth - cfg.progress_bound:
            schedule.append(eager_step(cfg))
            continue

        def some(n: int, p: float = p_env) -> list[int]:
            return [i for i in range(n) if rng.random() < p]

        def pool(p: float) -> list[int]:
            if cfg.pool_pressure == "none":
                return []
            if cfg.pool_pressure == "shared":
                return list(range(T)) if rng.random() < p else []
            return some(T, p)

        chunks = some(E)
        fails = [e for e in chunks if cfg.faults and rng.random() < 0.05]
        t0, t1 = _rows(cfg, data, rng, 0.7)
        schedule.append({
            "messages": some(T), "encode": rng.random() < p_env, "chunks": chunks,
            "chunk_fail": fails, "emb_finish": rng.random() < p_env, "deliver": some(T),
            "abort": cfg.faults and rng.random() < 0.03, "others_free": pool(0.2),
            "others_alloc": pool(0.08), "lang": rng.random() < 0.85,
            "taken_aux": [[[a, b] for a, b in zip(x, y, strict=True)]
                          for x, y in zip(t0, t1, strict=True)],
        })
    return schedule


def eager_step(cfg: ModelConfig) -> dict[str, Any]:
    T, E = cfg.tp_size, cfg.n_senders
    return {"messages": list(range(T)), "encode": True, "chunks": list(range(E)),
            "chunk_fail": [], "emb_finish": True, "deliver": list(range(T)), "abort": False,
            "others_free": [], "others_alloc": [], "lang": True}


def simulate(cfg: ModelConfig, variant: str, runs: int, seed: int = 0,
             enough: Callable[[SimResult], bool] | None = None) -> SimResult:
    """`runs` seeded random runs, or fewer once `enough` says every wanted hit is found."""
    rng = random.Random(f"{seed}/{variant}/{cfg}")
    o = PyOps(cfg.block_sizes)
    out = SimResult()
    branches = branch_witnesses(get_variant(variant))

    def scan(preds: dict[str, Pred], into: dict[str, Hit], run: Any, sc: Scenario) -> None:
        for name, pred in preds.items():
            if name in into:
                continue
            for k in range(cfg.depth):
                if pred(o, cfg, run, k):
                    into[name] = Hit(sc, k)
                    break

    for _ in range(runs):
        sc = random_scenario(cfg, variant, rng)
        run = sc.replay()
        out.runs += 1
        scan({n: p.bad for n, p in PROPERTIES.items()}, out.violations, run, sc)
        scan({n: p.premise for n, p in PROPERTIES.items()}, out.premises, run, sc)
        scan(branches, out.branches, run, sc)
        if enough is not None and enough(out):
            break
    return out
