"""Wall time of `ranksync report` on the default configuration, as a reviewer runs it after
`ranksync prove` (the gate): prove (stores its rows in a fresh cache), then report twice:
cold (explains the counterexamples of the first screen's levels) and warm (all cached).
Each step is a subprocess, timed from outside; CPU seconds of the children are printed too,
so a busy machine shows as wall >> CPU.

    python benchmarks/bench_report.py [--config F] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time


def timed(args: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    rc = subprocess.run([sys.executable, "-m", "ranksync", *args], env=env,
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), rc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--config", default=None)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, RANKSYNC_CACHE_DIR=os.path.join(tmp, "cache"))
        cfg = ["--config", a.config] if a.config else []
        out = ["--out", a.out or os.path.join(tmp, "report")]
        steps = [("prove", ["prove", *cfg]), ("report (cold)", ["report", *cfg, *out]),
                 ("report (warm)", ["report", *cfg, *out])]
        print(f"{'step':16} {'wall s':>8} {'CPU s':>8}  exit")
        for name, args in steps:
            wall, cpu, rc = timed(args, env)
            print(f"{name:16} {wall:8.1f} {cpu:8.1f}  {rc}")


if __name__ == "__main__":
    main()
