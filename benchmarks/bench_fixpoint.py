"""Benchmark: the all-depth search (checker/fixpoint.py) of one design on a small domain, per
T and topology, and the one-action-per-step reduction against many-action steps on a domain
where both close (the ratio is measured in the same run).

    python benchmarks/bench_fixpoint.py                      # hardened, T = 1, 2
    python benchmarks/bench_fixpoint.py --variant hardened --tp-sizes 1 --length 2
"""

from __future__ import annotations

import argparse
import time

from ranksync.checker.enumerate import enumerate_states
from ranksync.checker.fixpoint import ALWAYS, search
from ranksync.spec.config import ModelConfig


def domain(t: int, topology: str, length: int, alloc_fail: str) -> ModelConfig:
    return ModelConfig(tp_size=t, topology=topology, block_sizes=(1,), length_range=(1, length),
                       default_alloc_range=(1, 1), stale="zeros", faults=True,
                       alloc_fail=alloc_fail, pool_blocks=3)  # type: ignore[arg-type]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--variant", default="hardened")
    ap.add_argument("--tp-sizes", default="1,2")
    ap.add_argument("--topologies", default="a,b")
    ap.add_argument("--length", type=int, default=3)
    ap.add_argument("--alloc-fail", default="uniform", choices=["uniform", "per_rank"])
    ap.add_argument("--max-states", type=int, default=400_000)
    a = ap.parse_args()
    print(f"== all-depth search: {a.variant}, L <= {a.length}, block size 1, allocation 1, "
          f"pool 3, faults, pool pressure {a.alloc_fail}, stale zeros")
    print(f"{'T':>2} {'topo':>4} {'closed':>6} {'depth':>5} {'states':>8} {'transitions':>11} "
          f"{'seconds':>8}  verdicts")
    for t in (int(x) for x in a.tp_sizes.split(",")):
        for topo in a.topologies.split(","):
            r = search(domain(t, topo, a.length, a.alloc_fail), a.variant,
                       max_depth=80, max_states=a.max_states)
            verdicts = ",".join(sorted({r.verdict(p) for p in ALWAYS}))
            print(f"{t:>2} {topo:>4} {r.closed!s:>6} {r.depth:>5} {r.states:>8} "
                  f"{r.transitions:>11} {r.seconds:>8.2f}  {verdicts}")
    print("== one action per step vs every subset of actions per step (T = 1, no faults)")
    cfg = ModelConfig(tp_size=1, topology="a", depth=14, block_sizes=(1,), length_range=(1, 3),
                      default_alloc_range=(1, 1), stale="zeros", faults=False,
                      alloc_fail="none", pool_blocks=3)
    t0 = time.perf_counter()
    macro = enumerate_states(cfg, a.variant, check=True)
    t_macro = time.perf_counter() - t0
    micro = search(cfg, a.variant)
    print(f"subsets: {macro.states} states, {macro.transitions} transitions, {t_macro:.2f} s; "
          f"one action: {micro.states} states, {micro.transitions} transitions, "
          f"{micro.seconds:.2f} s; ratio {t_macro / max(micro.seconds, 1e-9):.1f}")


if __name__ == "__main__":
    main()
