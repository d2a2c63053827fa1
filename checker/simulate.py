"""Seeded random simulation of the concrete model: the prover's fast path for falsification.

A random run of `PyOps` within the configuration's bounds that violates a property is a
counterexample as good as one from the solver (it is a run of the same model, and the report
replays it). Simulation can only find violations and witnesses; proofs come from BMC.
Runs are deterministic for a given seed.
"""

from __future__ import annotations

import random
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


def random_scenario(cfg: ModelConfig, variant: str, rng: random.Random) -> Scenario:
    T, E, P = cfg.tp_size, cfg.n_senders, cfg.pool_blocks
    lo, hi = cfg.length_range
    if cfg.topology == "a":
        receivers = list(range(T))
    elif cfg.receivers is not None:
        receivers = list(cfg.receivers)
    else:
        receivers = [r for r in range(T) if rng.random() < 0.5] or [rng.randrange(T)]

    def stale(top: int) -> int:
        return 0 if cfg.stale == "zeros" or rng.random() < 0.6 else rng.randint(0, top)

    aux0 = [[stale(hi) for _ in range(P)] for _ in range(T)]
    aux1 = [[stale(cfg.mrope_delta + 1) for _ in range(P)] for _ in range(T)]
    p_env = rng.choice([0.3, 0.6, 0.9])  # how eager this run's environment is
    eager_tail = rng.random() < 0.4
    schedule = []
    for k in range(cfg.depth):
        if eager_tail and k >= cfg.depth - cfg.progress_bound:
            schedule.append(eager_step(cfg))
            continue

        def some(n: int, p: float = p_env) -> list[int]:
            return [i for i in range(n) if rng.random() < p]

        chunks = some(E)
        fails = [e for e in chunks if cfg.faults and rng.random() < 0.05]
        if cfg.alloc_fail == "none":
            af: list[int] = []
        elif cfg.alloc_fail == "uniform":
            af = list(range(T)) if rng.random() < 0.1 else []
        else:
            af = some(T, 0.1)
        schedule.append({
            "messages": some(T), "encode": rng.random() < p_env, "chunks": chunks,
            "chunk_fail": fails, "emb_finish": rng.random() < p_env, "deliver": some(T),
            "abort": cfg.faults and rng.random() < 0.03, "alloc_fail": af,
            "lang": rng.random() < 0.85,
        })
    return Scenario(cfg=cfg, variant=variant, length=rng.randint(lo, hi),
                    bs=rng.choice(cfg.block_sizes),
                    default_tokens=rng.randint(*cfg.default_alloc_range),
                    receivers=receivers, aux0=aux0, aux1=aux1, schedule=schedule)


def eager_step(cfg: ModelConfig) -> dict[str, Any]:
    T, E = cfg.tp_size, cfg.n_senders
    return {"messages": list(range(T)), "encode": True, "chunks": list(range(E)),
            "chunk_fail": [], "emb_finish": True, "deliver": list(range(T)), "abort": False,
            "alloc_fail": [], "lang": True}


def simulate(cfg: ModelConfig, variant: str, runs: int, seed: int = 0) -> SimResult:
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
    return out
