"""Time of each every-T, every-depth proof (the `[every_t]` obligations of a configuration):
the inductiveness check once per invariant, then one query per property (liveness: a chain of
stage queries). Prints seconds per obligation and CPU time, measured in one run.

    python benchmarks/bench_everyt.py [--config configs/every-t.toml] [--only hardened/b]
"""

from __future__ import annotations

import argparse
import resource
import time

from ranksync.checker import everyt
from ranksync.checker.cliutil import packaged_config
from ranksync.checker.config import load


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default=str(packaged_config("every-t.toml")))
    ap.add_argument("--only", default="", help="VARIANT/TOPOLOGY")
    ap.add_argument("--timeout", type=float, default=1800.0)
    a = ap.parse_args()
    pc = load(a.config)
    for v, tops in pc.every_t.items():
        for t, names in tops.items():
            if a.only and a.only != f"{v}/{t}":
                continue
            c0, w0 = time.process_time(), time.perf_counter()
            rows = everyt.prove(pc.model_config(2, t), v, t, names, int(a.timeout * 1000))
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
            for r in rows:
                print(f"{v}/{t} {r['name']:<22} {r['verdict']:<8} {r['seconds']:8.1f} s")
            print(f"{v}/{t} total: {wall:.1f} s wall, {cpu:.1f} s CPU, "
                  f"{len(rows)} obligations, {rows[0]['clauses'] if rows else 0} clauses")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
