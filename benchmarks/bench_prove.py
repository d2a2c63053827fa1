"""Benchmark: BMC time per obligation and in total for growing T, and brute-force enumeration
vs BMC on the same small domain (the ratio is measured in the same run).

    python benchmarks/bench_prove.py                       # T = 1,2,4,8,16,32,64, 60 s budget
    python benchmarks/bench_prove.py --tp-sizes 1,2 --budget 20

A check that exceeds its budget is printed as UNKNOWN (timeout); nothing is extrapolated.
"""

from __future__ import annotations

import argparse
import time

from ranksync.checker import bmc
from ranksync.checker.cliutil import DEFAULT_CONFIG
from ranksync.checker.config import load
from ranksync.checker.enumerate import enumerate_states
from ranksync.spec.config import ModelConfig
from ranksync.spec.properties import PROPERTIES
from ranksync.spec.variants import get_variant

TINY = ModelConfig(tp_size=2, topology="a", depth=3, block_sizes=(1,), length_range=(1, 3),
                   default_alloc_range=(1, 1), stale="zeros", faults=False, alloc_fail="none",
                   pool_blocks=3)


def scaling(tp_sizes: list[int], variant: str, topology: str, budget: float) -> None:
    pc = load(DEFAULT_CONFIG)
    print(f"== BMC per obligation: variant {variant}, topology {topology}, default bound "
          f"(depth {pc.model['depth']}), budget {budget:.0f} s per check")
    print(f"{'T':>3} {'build s':>8} " + " ".join(f"{n[:14]:>14}" for n in PROPERTIES)
          + f" {'total s':>8}")
    for t in tp_sizes:
        cfg = pc.model_config(t, topology)
        t0 = time.perf_counter()
        u = bmc.build(cfg, get_variant(variant), int(budget * 1000))
        build = time.perf_counter() - t0
        cells, total, gave_up = [], build, False
        for prop in PROPERTIES.values():
            if gave_up:
                cells.append("skipped")
                continue
            r = bmc.check_property(u, prop)
            total += r.seconds
            cells.append(f"{r.verdict[0]} {r.seconds:6.2f}")
            gave_up = r.verdict == bmc.UNKNOWN  # larger T will not be faster
        print(f"{t:>3} {build:8.2f} " + " ".join(f"{c:>14}" for c in cells) + f" {total:8.2f}",
              flush=True)
        if gave_up:
            print(f"    stopped at T={t}: a check exceeded its {budget:.0f} s budget")
            break


def brute_force_vs_bmc(variant: str) -> None:
    print(f"\n== brute force vs BMC on one small domain (T=2, depth 3, L 1-3, bs 1, pool 3, "
          f"no faults), variant {variant}")
    t0 = time.perf_counter()
    enum = enumerate_states(TINY, variant)
    t_enum = time.perf_counter() - t0
    t0 = time.perf_counter()
    u = bmc.build(TINY, get_variant(variant))
    verdicts = {}
    for name, prop in PROPERTIES.items():
        if prop.kind == "always" and name != "no_spurious_failure":
            verdicts[name] = bmc.check_property(u, prop).verdict
    t_bmc = time.perf_counter() - t0
    agree = all((v == bmc.VIOLATED) == (n in enum.violations) for n, v in verdicts.items())
    print(f"enumeration: {enum.states} states, {enum.transitions} transitions, {t_enum:.2f} s")
    print(f"BMC:         {len(verdicts)} obligations, {t_bmc:.2f} s")
    print(f"ratio enumeration/BMC: {t_enum / t_bmc:.2f}   verdicts agree: {agree}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tp-sizes", default="1,2,4,8,16,32,64")
    ap.add_argument("--variant", default="seed")
    ap.add_argument("--topology", default="a", choices=["a", "b"])
    ap.add_argument("--budget", type=float, default=60.0, help="seconds per solver check")
    a = ap.parse_args()
    scaling([int(x) for x in a.tp_sizes.split(",")], a.variant, a.topology, a.budget)
    brute_force_vs_bmc(a.variant)


if __name__ == "__main__":
    main()
