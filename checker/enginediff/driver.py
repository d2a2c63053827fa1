"""Run traces on the engine with one OS process per language rank, and compare.

Traces are grouped by ``tp_size``; each group is run by T freshly spawned processes joined in a
gloo group on 127.0.0.1 (free port), which run the group's traces one after another. A group
that does not finish within its deadline is killed (every process the driver started, by
process object) and its traces are reported as ``timeout``.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import socket
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .loader import EngineSourceError, check_engine, detect_variant, engine_modules
from .traces import base_variant, load_trace
from .worker import rank_main


@dataclass
class TraceResult:
    path: str
    name: str
    variant: str
    tp_size: int
    status: str  # "pass" | "diverged" | "skipped" | "error"
    divergence: dict[str, Any] | None = None
    note: str = ""
    actual: list[list[list[dict[str, Any]]]] = field(default_factory=list)  # [step][rank]
    ending: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"trace": self.name, "path": self.path, "variant": self.variant,
                               "tp_size": self.tp_size, "status": self.status,
                               "divergence": self.divergence}
        if self.note:
            out["note"] = self.note
        if self.ending:
            out["ending"] = self.ending
        return out


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


DEADLOCK = {"ev": "deadlock"}


def _deadlocked(ranks: list[list[dict[str, Any]]]) -> bool:
    return bool(ranks) and all(r and r[-1] == DEADLOCK for r in ranks)


def first_divergence(expected: list[dict[str, Any]],
                     actual: list[list[list[dict[str, Any]]]]) -> dict[str, Any] | None:
    """The first (step, rank, event index) where the recorded events differ from ``expected``.

    Steps are compared in order; within a step, ranks in ascending order; a missing event is
    ``None`` (the run ended early, or the engine did less / more than expected). In a step
    the trace expects to deadlock, only "every rank ends in deadlock" is compared.
    """
    steps = max(len(expected), len(actual))
    for step in range(steps):
        exp_ranks = expected[step]["ranks"] if step < len(expected) else []
        act_ranks = actual[step] if step < len(actual) else []
        if _deadlocked(exp_ranks):
            # trace-format.md: only "ends in deadlock on every rank" is compared
            if _deadlocked(act_ranks) and len(act_ranks) == len(exp_ranks):
                return None
            for rank, act in enumerate(act_ranks):
                if not act or act[-1] != DEADLOCK:
                    return {"step": step, "rank": rank, "index": len(act),
                            "expected": DEADLOCK, "actual": None}
        for rank in range(max(len(exp_ranks), len(act_ranks))):
            exp = exp_ranks[rank] if rank < len(exp_ranks) else []
            act = act_ranks[rank] if rank < len(act_ranks) else []
            for i in range(max(len(exp), len(act))):
                e = exp[i] if i < len(exp) else None
                a = act[i] if i < len(act) else None
                if e != a:
                    return {"step": step, "rank": rank, "index": i, "expected": e, "actual": a}
    return None


def _run_group(engine_src: str, traces: list[dict[str, Any]], world: int,
               deadline_s: float, collective_timeout: float) -> list[dict[str, Any]]:
    """Run traces on ``world`` rank processes; per rank, the worker's result dict."""
    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="ranksync-enginediff-") as tmp:
        outs = [str(Path(tmp) / f"rank{r}.json") for r in range(world)]
        port = free_port()
        procs = [ctx.Process(target=rank_main, daemon=True,
                             args=(r, world, port, engine_src, traces, outs[r],
                                   collective_timeout))
                 for r in range(world)]
        for p in procs:
            p.start()
        end = time.monotonic() + deadline_s
        for p in procs:
            p.join(max(0.0, end - time.monotonic()))
        hung = [p for p in procs if p.is_alive()]
        for p in hung:
            p.kill()
        for p in procs:
            p.join(5)
        if hung:
            return [{"ok": False, "kind": "timeout",
                     "error": f"rank processes still running after {deadline_s:.0f} s, killed"}]
        results = []
        for r, out in enumerate(outs):
            try:
                results.append(json.loads(Path(out).read_text()))
            except (OSError, json.JSONDecodeError):
                code = procs[r].exitcode
                results.append({"ok": False, "kind": "internal",
                                "error": f"rank {r} exited with code {code} without a result"})
        return results


def run_traces(engine_src: str, paths: list[str], ranks: int | None = None,
               variant_check: bool = False, deadline_s: float | None = None,
               collective_timeout: float = 30.0) -> tuple[list[TraceResult], str]:
    """Load and run every trace; return per-trace results and a line describing the engine.

    Raises EngineSourceError (bad checkout) or TraceError (bad trace file) before running.
    """
    check_engine(engine_src)
    with engine_modules(engine_src) as eng:
        engine_variant, how = detect_variant(eng)
    about = f"engine {engine_src}: variant {engine_variant or 'unknown'} ({how})"
    loaded = [(str(p), load_trace(p)) for p in paths]
    results: list[TraceResult] = []
    groups: dict[int, list[int]] = {}
    for i, (path, tr) in enumerate(loaded):
        t = int(tr["scenario"]["tp_size"])
        res = TraceResult(path=path, name=str(tr.get("name", Path(path).stem)),
                          variant=tr["variant"], tp_size=t, status="pending")
        results.append(res)
        if ranks is not None and t != ranks:
            res.status, res.note = "skipped", f"tp_size {t} != --ranks {ranks}"
        elif variant_check and engine_variant is None:
            res.status, res.note = "skipped", "engine variant unknown"
        elif variant_check and base_variant(tr["variant"]) != engine_variant:
            res.status = "skipped"
            res.note = f"trace variant {tr['variant']} is not the engine's ({engine_variant})"
        else:
            groups.setdefault(t, []).append(i)
    for world, idxs in sorted(groups.items()):
        traces = [loaded[i][1] for i in idxs]
        steps = sum(len(t["schedule"]) for t in traces)
        limit = deadline_s if deadline_s is not None else 60.0 + 2.0 * steps
        per_rank = _run_group(engine_src, traces, world, limit, collective_timeout)
        bad = next((r for r in per_rank if not r.get("ok")), None)
        if bad is not None:
            if bad.get("kind") == "engine":
                raise EngineSourceError(str(bad["error"]))
            for i in idxs:
                results[i].status = "error"
                results[i].note = str(bad["error"])
                if bad.get("kind") == "timeout":
                    results[i].status = "diverged"
                    results[i].divergence = {"step": None, "rank": None, "index": None,
                                             "expected": None, "actual": {"ev": "timeout"}}
            continue
        for k, i in enumerate(idxs):
            res = results[i]
            per = [r["results"][k] for r in per_rank]
            nsteps = max(len(p["steps"]) for p in per)
            res.actual = [[p["steps"][s] if s < len(p["steps"]) else [] for p in per]
                          for s in range(nsteps)]
            res.ending = ",".join(sorted({p["ending"] for p in per}))
            res.divergence = first_divergence(loaded[i][1]["expected"], res.actual)
            res.status = "pass" if res.divergence is None else "diverged"
    return results, about


def actual_trace(trace: dict[str, Any], result: TraceResult) -> dict[str, Any]:
    """The trace with ``expected[*].ranks`` replaced by what the engine did (for --dump)."""
    out: dict[str, Any] = json.loads(json.dumps(trace))
    for step, entry in enumerate(out["expected"]):
        entry["ranks"] = result.actual[step] if step < len(result.actual) else [
            [] for _ in range(result.tp_size)]
    out["name"] = f"{out.get('name', 'trace')}@engine"
    return out
