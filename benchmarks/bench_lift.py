"""Benchmark: counterexamples at T = 8, 16, 64 by lifting (checker/lift.py) against BMC at T = 8
on the same obligation, measured in the same run.

For every (variant, topology, property) of configs/default.toml's bounds (variants prefix and
seed, topologies a and b) violated at T <= 2 (seeded simulation, then BMC within
--base-budget), it prints: the base (T, iteration, how it was found, seconds to find it and
make it shortest), then for each T' the seconds to lift it and confirm it by replay (method:
lift, or the fallback that found it, or UNKNOWN), then BMC at T = 8 (`check_property`, not
shortest: the cheaper query `ranksync prove` asks; build once per variant and topology, solve
per property, --bmc-budget seconds per check) and the ratio BMC solve / lift at T = 8.
Times are wall clock (CPU of this process and its children in brackets): the machine is
shared, so compare the ratios, measured in one run. A BMC timeout prints as `>budget`, and its
ratio as a lower bound.

    python benchmarks/bench_lift.py                       # everything (long: BMC at T = 8)
    python benchmarks/bench_lift.py --no-bmc              # lifting only
    python benchmarks/bench_lift.py --variants seed --topologies a --props integrity
    python benchmarks/bench_lift.py --no-bmc --tp-sizes 8 --shorter-budget 120
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable
from typing import Any

from ranksync.checker import bmc
from ranksync.checker.cliutil import DEFAULT_CONFIG
from ranksync.checker.config import load
from ranksync.checker.lift import violation_at
from ranksync.checker.lift_base import smallest_counterexample
from ranksync.spec.properties import PROPERTIES
from ranksync.spec.variants import get_variant


def cpu() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    t0, c0 = time.perf_counter(), cpu()
    out = fn()
    return out, time.perf_counter() - t0, cpu() - c0


def shorter(base: Any, prop: str, tp: int, budget: float, seed: int) -> None:
    """The shortest checks of violation_at at T = tp: what each concluded, and its time."""
    res, w, c = timed(lambda: violation_at(base.scenario, base.step, prop, tp,
                                           base_shortest=base.shortest,
                                           shorter_budget_s=budget, seed=seed))
    for line in res.shortest[1:]:
        print(f"      {line}")
    print(f"      (with the shortest checks at T={tp}: {w:.1f} s [{c:.1f}])", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tp-sizes", default="8,16,64")
    ap.add_argument("--variants", default="prefix,seed")
    ap.add_argument("--topologies", default="a,b")
    ap.add_argument("--props", default=",".join(PROPERTIES))
    ap.add_argument("--base-budget", type=float, default=120.0,
                    help="seconds to find and shorten the T <= 2 counterexample")
    ap.add_argument("--lift-budget", type=float, default=60.0,
                    help="seconds per lift including fallbacks")
    ap.add_argument("--bmc-budget", type=float, default=120.0, help="seconds per BMC check")
    ap.add_argument("--no-bmc", action="store_true", help="skip BMC at T = 8")
    ap.add_argument("--shorter-budget", type=float, default=0.0,
                    help="also time the shortest checks at the first T' (BMC at T', seconds)")
    a = ap.parse_args()
    pc = load(DEFAULT_CONFIG)
    sizes = [int(x) for x in a.tp_sizes.split(",")]
    print(f"== lifting vs BMC at T=8; default bounds (depth {pc.model['depth']}); "
          f"budgets: base {a.base_budget:.0f} s, lift {a.lift_budget:.0f} s, BMC "
          f"{a.bmc_budget:.0f} s per check; times wall s [cpu s]")
    head = f"{'obligation':38} {'base':24}" + "".join(f" {'T=' + str(t):>18}" for t in sizes)
    print(head + ("" if a.no_bmc else f" {'BMC T=8':>16} {'ratio':>8}"))
    ratios: list[float] = []
    lift_times: dict[int, list[float]] = {t: [] for t in sizes}
    for v in a.variants.split(","):
        for topo in a.topologies.split(","):
            u = None
            build = 0.0
            for prop in a.props.split(","):
                name = f"{v}/{topo}/{prop}"
                notes: list[str] = []
                base, bw, bc = timed(lambda prop=prop, topo=topo, v=v, notes=notes: smallest_counterexample(
                    [pc.model_config(t, topo) for t in (1, 2)], v, prop, pc.simulations,
                    pc.seed, a.base_budget, notes=notes))
                if base is None:
                    print(f"{name:38} no counterexample at T <= 2 ({'; '.join(notes)}; "
                          f"{bw:.0f} s): skipped", flush=True)
                    continue
                short = {True: "short", None: "len?", False: ""}[base.shortest]
                row = (f"{name:38} T{base.scenario.cfg.tp_size} k={base.step} {base.how[:3]} "
                       f"{short:5} {bw:5.1f}s")
                row = f"{row:63}"
                lift8 = None
                for t in sizes:
                    res, w, c = timed(lambda t=t, base=base, prop=prop: violation_at(
                        base.scenario, base.step, prop, t, budget_s=a.lift_budget,
                        shorter_budget_s=0, seed=pc.seed))
                    tag = "lift" if res.method == "lift" else res.method[:4] or "UNKN"
                    if res.verdict == bmc.VIOLATED and res.step != base.step:
                        tag += f"@{res.step}"
                    row += f" {tag:>7} {w:5.2f}[{c:4.2f}]"
                    if res.verdict == bmc.VIOLATED:
                        lift_times[t].append(w)
                    if t == 8:
                        lift8 = w if res.verdict == bmc.VIOLATED else None
                if not a.no_bmc:
                    if u is None:
                        u, build, _ = timed(lambda topo=topo, v=v: bmc.build(
                            pc.model_config(8, topo), get_variant(v), int(a.bmc_budget * 1000)))
                        print(f"   (BMC T=8 build for {v}/{topo}: {build:.1f} s)", flush=True)
                    r = bmc.check_property(u, PROPERTIES[prop])
                    cell = f">{a.bmc_budget:.0f}" if r.verdict == bmc.UNKNOWN else \
                        f"{r.verdict[0]} {r.seconds:.1f}"
                    ratio = r.seconds / lift8 if lift8 else float("nan")
                    if lift8:
                        ratios.append(ratio)
                    lower = ">" if r.verdict == bmc.UNKNOWN else " "
                    row += f" {cell:>16} {lower}{ratio:7.1f}"
                print(row, flush=True)
                if a.shorter_budget > 0:
                    shorter(base, prop, sizes[0], a.shorter_budget, pc.seed)
    print("\n== summary (wall s, successful lifts only)")
    for t, xs in lift_times.items():
        if xs:
            print(f"T={t}: {len(xs)} counterexamples, median {sorted(xs)[len(xs) // 2]:.2f} s, "
                  f"max {max(xs):.2f} s")
    if ratios:
        print(f"BMC solve at T=8 / lift at T=8: median {sorted(ratios)[len(ratios) // 2]:.1f}, "
              f"min {min(ratios):.1f} (timeouts count as their budget: lower bounds)")


if __name__ == "__main__":
    main()
