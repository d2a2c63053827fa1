"""Benchmark the `ranksync logcheck` reader: parse a multi-GB engine log in bounded memory.

The log is generated on the fly and never stored in the repository: by default it is
streamed from a generator straight into the parser (`--via generator`); `--via file` writes
it to a temporary file first (deleted afterwards) and reads it back like the CLI does.
Each request logs the §10.1 lines of a resume on 4 TP ranks, between realistic unrelated
scheduler lines. Prints lines/s and peak memory (ru_maxrss; tracemalloc with --tracemalloc).

    python benchmarks/bench_logcheck.py            # ~2 GB
    python benchmarks/bench_logcheck.py --gb 0.1   # quick
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
import tracemalloc
from collections.abc import Iterator

from ranksync.checker.logcheck.cli import read_logs
from ranksync.checker.logcheck.observations import Collector
from ranksync.checker.logcheck.parser import parse_line

UNRELATED = [
    "Prefill batch. #new-seq: 1, #new-token: 8192, #cached-token: 0, token usage: 0.01, "
    "#running-req: 3, #queue-req: 0",
    "Decode batch. #running-req: 4, #token: 90112, token usage: 0.11, gen throughput (token/s): "
    "812.44, #queue-req: 0",
    "INFO:     127.0.0.1:51234 - \"POST /generate HTTP/1.1\" 200 OK",
]


def request_lines(i: int, T: int = 4) -> list[str]:
    rid = f"bench-{i:09d}"
    L, S = 20000, 8192
    out = []
    for r in range(T):
        p = f"[2025-06-01 10:{(i // 60) % 60:02d}:{i % 60:02d} TP{r}] "
        out += [
            p + f"Synced aux_datas across ranks for rid={rid}: actual_total_length={L}, "
                f"sent_tokens={S}",
            p + f"Partial transfer detected for rid={rid}: received {S}/{L} tokens, need to "
                f"resume for {L - S} more tokens",
            p + f"Resume transfer initiated for rid={rid}: allocated 2 blocks (16384 tokens)",
            p + f"Resume transfer for rid={rid}: partial_sent={S}, total_expected={L}, "
                f"remaining_expected={L - S}, allocated_blocks=2",
        ]
        out += [p + u for u in UNRELATED * 3]
    return out


def generate(target_bytes: int) -> Iterator[str]:
    n, i = 0, 0
    while n < target_bytes:
        for line in request_lines(i):
            s = line + "\n"
            n += len(s)
            yield s
        i += 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gb", type=float, default=2.0, help="log size in GB (default 2)")
    ap.add_argument("--via", choices=["generator", "file"], default="generator")
    ap.add_argument("--tracemalloc", action="store_true", help="also trace Python allocations "
                    "(slower)")
    ap.add_argument("--max-requests", type=int, default=10_000)
    a = ap.parse_args()
    target = int(a.gb * 1e9)
    if a.tracemalloc:
        tracemalloc.start()
    col = Collector(max_requests=a.max_requests)
    t0 = time.perf_counter()
    nbytes = 0
    if a.via == "generator":
        lines = 0
        for lines, line in enumerate(generate(target), 1):  # noqa: B007
            nbytes += len(line)
            p = parse_line(line)
            if p is not None:
                col.feed(p, "<generated>", lines)
        col.stats.lines = lines
    else:
        fd, path = tempfile.mkstemp(suffix=".log")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                for line in generate(target):
                    fh.write(line)
            nbytes = os.path.getsize(path)
            t0 = time.perf_counter()  # time the reading only
            read_logs([path], col)
        finally:
            os.unlink(path)
    dt = time.perf_counter() - t0
    reqs = col.finish("separate")
    st = col.stats
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"log: {nbytes / 1e9:.2f} GB, {st.lines:,} lines ({st.protocol_lines:,} protocol), "
          f"via {a.via}")
    print(f"parse+group: {dt:.1f} s, {st.lines / dt:,.0f} lines/s, {nbytes / dt / 1e6:.1f} MB/s")
    print(f"kept: {len(reqs):,} requests (cap {a.max_requests:,}), dropped (counted up to "
          f"{Collector.MAX_DROPPED_KEYS:,}) "
          f"{st.dropped_requests:,} requests / {st.dropped_lines:,} lines beyond the cap")
    print(f"peak RSS: {rss_mb:.0f} MB")
    if a.tracemalloc:
        _cur, peak = tracemalloc.get_traced_memory()
        print(f"tracemalloc peak: {peak / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
