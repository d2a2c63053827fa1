"""Wall time of `ranksync history` against the issue's targets (issue 13, item 7):

* one commit's trace set, nothing cached but the trace set: <= 60 s on 2 cores;
* the whole list of commits, nothing cached but the trace set: <= 10 min;
* the whole list again, nothing changed (cache): <= 5 s.

Usage: python benchmarks/bench_history.py --engine-repo GITDIR [--commits A,B,...]
       [--jobs N] [--one COMMIT]

The trace set is generated (or read from the cache) before the clock starts; its generation
time is printed separately. Runs the `ranksync history` command in a subprocess, so the
numbers are what a user sees (process start included). Timings on a shared machine are upper
bounds: the load average at start and end is printed.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LIST = ("28ac79bbe,3552c3739,d94e4a0ab,d1bceb411,7a7a71977,caff70bd5,2141e0842,58fe20da8,"
        "845f6c487,b3f7032d1,8abf55e3d,401245261")


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def history(repo: str, commits: list[str], cache: Path, jobs: int) -> float:
    """Wall seconds; also prints the CPU seconds of the command and its processes (the
    load-independent part: wall = CPU / cores used when the machine is otherwise idle)."""
    t0, c0 = time.perf_counter(), _cpu()
    r = subprocess.run([sys.executable, "-m", "ranksync.checker.cli", "history",
                        "--engine-repo", repo, *commits, "--cache", str(cache), "--jobs",
                        str(jobs)], capture_output=True, text=True, check=False)
    dt = time.perf_counter() - t0
    if r.returncode not in (0, 1):
        sys.exit(f"ranksync history failed ({r.returncode}): {r.stderr[-2000:]}")
    print(f"   (CPU {_cpu() - c0:.1f} s, load average now {os.getloadavg()[0]:.1f})")
    return dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--engine-repo", required=True)
    ap.add_argument("--commits", default=LIST)
    ap.add_argument("--one", default="d94e4a0ab")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--cache", help="keep the cache here (default: a temporary directory); "
                    "its records and results are deleted first")
    a = ap.parse_args()
    commits = [c for c in a.commits.split(",") if c]
    print(f"load average at start: {os.getloadavg()}, cpus: {os.cpu_count()}")
    with tempfile.TemporaryDirectory(prefix="ranksync-bench-history-") as tmp:
        cache = Path(a.cache or tmp)
        for d in ("results", "records"):
            for p in (cache / d).glob("*"):
                p.unlink()
        from ranksync.checker.history import traceset

        t0 = time.perf_counter()
        ts = traceset.default_set(cache)
        traceset.expectations(ts, ("prefix", "seed", "gate", "hardened_lang", "hardened"), cache)
        print(f"trace set: {len(ts.runs)} runs, generated in {time.perf_counter() - t0:.1f} s "
              "(cached from then on)")
        one = history(a.engine_repo, [a.one], cache, 1)
        print(f"one commit ({a.one}), {len(ts.runs)} runs: {one:.1f} s  (target 60 s"
              + (f", missed by {one - 60:.1f} s)" if one > 60 else ", met)"))
        for d in ("results", "records"):
            for p in (cache / d).glob("*"):
                p.unlink()
        full = history(a.engine_repo, commits, cache, a.jobs)
        print(f"{len(commits)} commits, jobs {a.jobs}: {full:.1f} s  (target 600 s"
              + (f", missed by {full - 600:.1f} s)" if full > 600 else ", met)"))
        again = history(a.engine_repo, commits, cache, a.jobs)
        print(f"again, nothing changed: {again:.1f} s  (target 5 s"
              + (f", missed by {again - 5:.1f} s)" if again > 5 else ", met)"))
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
