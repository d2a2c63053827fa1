"""Run traces on the engine with one OS process per language rank, and compare.

Traces are grouped by ``tp_size``; each group is run by T freshly spawned processes joined in a
gloo group on 127.0.0.1 (free port), which run the group's traces one after another. A group
that does not finish within its deadline is killed (every process the driver started, by
process object) and its traces are reported as ``timeout``.

:func:`run_records` is the raw API (`ranksync history` uses it): what each rank did per step
(trace events and seam events) and, in driven mode, what the embedding side did.
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
from .traces import base_variant, load_trace, same_event
from .worker import rank_main

CONNECTIONS = ("auto", "driven", "scripted")


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
    mode: str = ""  # connection layer: "driven" (engine code) or "scripted"
    env: list[dict[str, Any]] = field(default_factory=list)  # [step], driven mode

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"trace": self.name, "path": self.path, "variant": self.variant,
                               "tp_size": self.tp_size, "status": self.status,
                               "divergence": self.divergence}
        if self.note:
            out["note"] = self.note
        if self.ending:
            out["ending"] = self.ending
        if self.mode:
            out["connection"] = self.mode
        return out


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


DEADLOCK = {"ev": "deadlock"}


def _deadlocked(ranks: list[list[dict[str, Any]]]) -> bool:
    return bool(ranks) and all(r and r[-1] == DEADLOCK for r in ranks)


def observable(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The trace-vocabulary events (seam events are the harness's extra observations)."""
    return [e for e in events if not e.get("seam")]


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
        act_ranks = [observable(r) for r in actual[step]] if step < len(actual) else []
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
                if not same_event(e, a):
                    return {"step": step, "rank": rank, "index": i, "expected": e, "actual": a}
    return None


def _run_group(engine_src: str, traces: list[tuple[dict[str, Any], str]], world: int,
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


def connection_mode(trace: dict[str, Any], available: bool, want: str) -> str:
    """driven (the engine's connection code) or scripted, for one trace."""
    if want == "scripted" or not available:
        return "scripted"
    if trace["scenario"].get("topology") != "a":
        return "scripted"  # topology b (status without data) is not the engine's mapping
    return "driven"


@dataclass
class Record:
    """What the engine did on one trace."""

    trace: dict[str, Any]
    mode: str
    status: str  # "ran" | "timeout" | "error"
    error: str = ""
    ending: str = ""
    ranks: list[list[list[dict[str, Any]]]] = field(default_factory=list)  # [step][rank]
    env: list[dict[str, Any]] = field(default_factory=list)  # [step] (rank 0's replica)
    replicas_agree: bool = True


def run_records(engine_src: str, traces: list[dict[str, Any]], connection: str = "auto",
                deadline_s: float | None = None, collective_timeout: float = 30.0,
                has_connection: bool | None = None) -> list[Record]:
    """Run every trace; groups by tp_size, one process per rank."""
    if has_connection is None:
        with engine_modules(engine_src) as eng:
            has_connection = eng.connection is not None
    if connection == "driven" and not has_connection:
        raise EngineSourceError(f"{engine_src}: its connection layer cannot be driven")
    records = [Record(t, connection_mode(t, has_connection, connection), "pending")
               for t in traces]
    groups: dict[int, list[int]] = {}
    for i, t in enumerate(traces):
        groups.setdefault(int(t["scenario"]["tp_size"]), []).append(i)
    for world, idxs in sorted(groups.items()):
        batch = [(records[i].trace, records[i].mode) for i in idxs]
        steps = sum(len(t["schedule"]) for t, _m in batch)
        limit = deadline_s if deadline_s is not None else 60.0 + 2.0 * steps
        per_rank = _run_group(engine_src, batch, world, limit, collective_timeout)
        bad = next((r for r in per_rank if not r.get("ok")), None)
        if bad is not None:
            if bad.get("kind") == "engine":
                raise EngineSourceError(str(bad["error"]))
            for i in idxs:
                records[i].status = "timeout" if bad.get("kind") == "timeout" else "error"
                records[i].error = str(bad["error"])
            continue
        for k, i in enumerate(idxs):
            rec = records[i]
            per = [r["results"][k] for r in per_rank]
            nsteps = max(len(p["steps"]) for p in per)
            rec.ranks = [[p["steps"][s] if s < len(p["steps"]) else [] for p in per]
                         for s in range(nsteps)]
            rec.ending = ",".join(sorted({p["ending"] for p in per}))
            rec.env = per[0]["env"]
            rec.replicas_agree = all(_env_key(p["env"]) == _env_key(per[0]["env"])
                                     for p in per)
            rec.status = "ran"
    return records


def _env_key(env: list[dict[str, Any]]) -> str:
    """What every replica of the embedding side must agree on."""
    return json.dumps([{k: v for k, v in e.items() if k != "emb"} for e in env],
                      sort_keys=True)


def run_traces(engine_src: str, paths: list[str], ranks: int | None = None,
               variant_check: bool = False, deadline_s: float | None = None,
               collective_timeout: float = 30.0, connection: str = "scripted"
               ) -> tuple[list[TraceResult], str]:
    """Load and run every trace; return per-trace results and a line describing the engine.

    Raises EngineSourceError (bad checkout) or TraceError (bad trace file) before running.
    """
    check_engine(engine_src)
    with engine_modules(engine_src) as eng:
        engine_variant, how = detect_variant(eng)
        has_conn, note = eng.connection is not None, eng.connection_note
    about = f"engine {engine_src}: variant {engine_variant or 'unknown'} ({how})"
    if connection != "scripted":
        about += "; connection: " + ("engine code (driven)" if has_conn else
                                     f"scripted ({note})")
    loaded = [(str(p), load_trace(p)) for p in paths]
    results: list[TraceResult] = []
    chosen: list[int] = []
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
            chosen.append(i)
    recs = run_records(engine_src, [loaded[i][1] for i in chosen], connection, deadline_s,
                       collective_timeout, has_connection=has_conn)
    for i, rec in zip(chosen, recs, strict=True):
        res = results[i]
        res.mode = rec.mode
        if rec.status == "timeout":
            res.status, res.note = "diverged", rec.error
            res.divergence = {"step": None, "rank": None, "index": None, "expected": None,
                              "actual": {"ev": "timeout"}}
            continue
        if rec.status == "error":
            res.status, res.note = "error", rec.error
            continue
        res.actual, res.ending, res.env = rec.ranks, rec.ending, rec.env
        res.divergence = first_divergence(loaded[i][1]["expected"], res.actual)
        if res.divergence is None and rec.mode == "driven":
            res.divergence = env_divergence(loaded[i][1]["expected"], rec.env)
        res.status = "pass" if res.divergence is None else "diverged"
    return results, about


def env_divergence(expected: list[dict[str, Any]], env: list[dict[str, Any]]
                   ) -> dict[str, Any] | None:
    """The first step where the engine's embedding side wrote or delivered something else
    than the trace expects (driven mode)."""
    for step, (e, a) in enumerate(zip(expected, env, strict=False)):
        for key in ("writes", "delivered"):
            exp, act = e.get(key), a.get(key)
            if exp is None or act is None:
                continue
            for rank, (x, y) in enumerate(zip(exp, act, strict=False)):
                if x != y:
                    return {"step": step, "rank": rank, "index": key, "expected": x,
                            "actual": y}
    return None


def actual_trace(trace: dict[str, Any], result: TraceResult) -> dict[str, Any]:
    """The trace with ``expected[*].ranks`` replaced by what the engine did (for --dump)."""
    out: dict[str, Any] = json.loads(json.dumps(trace))
    for step, entry in enumerate(out["expected"]):
        entry["ranks"] = [observable(r) for r in result.actual[step]] \
            if step < len(result.actual) else [[] for _ in range(result.tp_size)]
        if step < len(result.env) and result.mode == "driven":
            entry["writes"] = result.env[step]["writes"]
            entry["delivered"] = result.env[step]["delivered"]
    out["name"] = f"{out.get('name', 'trace')}@engine"
    return out
