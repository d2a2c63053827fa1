"""Benchmark `ranksync uniformity` on the engine: the whole `disaggregation/` folder plus the
scheduler mixins (`managers/scheduler*.py`), target <= 2 s.

Needs an extracted engine checkout (the directory holding python/sglang), e.g.
    git --git-dir=<sglang repo> archive d94e4a0ab python/sglang | tar -x -C /tmp/engine-d94
    python benchmarks/bench_uniformity.py /tmp/engine-d94

Prints wall and CPU time per phase (parse + beniget chains, analysis), best and median of
--repeat runs in this process, with the machine's load average: on a shared machine wall time
follows the load, CPU time much less.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import statistics
import sys
import time
from pathlib import Path

from ranksync.checker.uniformity import analysis, program
from ranksync.checker.uniformity.facts import load_facts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("engine", help="engine checkout (holds python/sglang)")
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    srt = Path(a.engine) / "python/sglang/srt"
    if not (srt / "disaggregation").is_dir():
        sys.exit(f"{a.engine}: no python/sglang/srt/disaggregation here")
    paths = program.collect_paths([str(srt / "disaggregation"),
                                   *map(str, sorted((srt / "managers").glob("scheduler*.py")))])
    lines = sum(p.read_text().count("\n") for p in paths)
    rows = []
    for _ in range(a.repeat):
        facts = load_facts()
        gc.collect()
        gc.disable()  # as analysis.analyse does
        w0, c0 = time.perf_counter(), time.process_time()
        prog = program.load_program(paths, Path(a.engine), facts)
        w1 = time.perf_counter()
        res = analysis.analyse_program(prog, facts)
        w2, c2 = time.perf_counter(), time.process_time()
        gc.enable()
        rows.append((w2 - w0, c2 - c0, w1 - w0, w2 - w1))
    total = [r[0] for r in rows]
    cpu = [r[1] for r in rows]
    print(f"{len(paths)} files, {lines:,} lines; {res.branches} branches, {res.rank_local} "
          f"rank-local, {len(res.findings)} findings")
    print(f"wall: best {min(total):.2f} s, median {statistics.median(total):.2f} s "
          f"(parse + chains {min(r[2] for r in rows):.2f} s, analysis "
          f"{min(r[3] for r in rows):.2f} s, best of {a.repeat})")
    print(f"cpu:  best {min(cpu):.2f} s, median {statistics.median(cpu):.2f} s")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on "
          f"{os.cpu_count()} cores; target <= 2 s: {'met' if min(total) <= 2 else 'NOT met'}")


if __name__ == "__main__":
    main()
