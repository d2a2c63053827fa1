"""Counterexamples for the report: each violated (variant, property, topology) explained at its
smallest violating T and turned into swimlane and block-placement data (JSON-able)."""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ranksync.spec.config import STATUS_NAMES
from ranksync.spec.properties import PROPERTIES
from ranksync.spec.variants import VARIANTS
from rich.console import Console
from rich.progress import Progress

from ..config import ProveConfig
from .cells import VIOLATED

TR_SHORT = {1: "nothing (waiting)", 2: "Failed → failure handler",
            3: "hand-off", 4: "resumed hand-off",
            5: "overlong → failure handler", 6: "L > S → resume",
            7: "L > S, no memory → failure", 8: "L ≤ S → 'Unexpected'"}
PRE_SHORT = {1: "prealloc: waiting", 2: "handshake failed", 3: "prealloc: no space",
             4: "prealloc: alloc + init"}


def _status(x: Any) -> str:
    return STATUS_NAMES.get(int(x), "not polled")


@contextmanager
def _recording_reads() -> Iterator[list[dict[str, Any]]]:
    """Record every get_buf of a concrete replay: what each rank read locally, and the rank's
    pool at that moment (after the step's transfers landed, before the iteration changed it)."""
    from ranksync.spec import buffers

    orig = buffers.get_buf
    log: list[dict[str, Any]] = []

    def wrapped(o: Any, cfg: Any, lr: Any, bs: Any) -> Any:
        rd = orig(o, cfg, lr, bs)
        n_idx = int(lr.n_indices)
        sl = cfg.slots
        log.append({"n": int(rd.n), "k": int(rd.k), "ok": int(rd.k) == int(rd.n),
                    "content": [[int(x) for x in lr.content[b * sl:(b + 1) * sl]]
                                for b in range(len(lr.cnt))],
                    "cnt": [int(x) for x in lr.cnt],
                    "aux0": [int(x) for x in lr.aux0], "aux1": [int(x) for x in lr.aux1],
                    "owned": [bool(x) for x in lr.owned],
                    "indices": [int(x) for x in lr.embedding_indices[:n_idx]],
                    "first_index": int(lr.embedding_indices[0])})
        return rd

    buffers.get_buf = wrapped  # type: ignore[assignment]
    try:
        yield log
    finally:
        buffers.get_buf = orig  # type: ignore[assignment]


def _sig(ob: Any) -> tuple[Any, ...]:
    first = bool(ob.vals.get("first")) if ob.decision else None
    return (bool(ob.poll_pre), bool(ob.poll_tr), int(ob.n_max), int(ob.pre_branch),
            int(ob.tr_branch), first)


def _rank_cell(ob: Any, rd: dict[str, Any] | None, iterated: bool, cached_variant: bool
               ) -> dict[str, Any]:
    v = ob.vals
    if not iterated:
        return {"read": "", "collective": "", "branch": "(no iteration)", "why": "", "bad": False}
    read, coll, branch = "", [], ""
    if ob.poll_pre:
        coll.append(f"MIN(pre) → {_status(v['p_pre'])}")
        read = "prealloc queue"
    if ob.poll_tr:
        coll.append(f"MIN → {_status(v['p_tr'])}")
        if ob.decision and cached_variant and not v.get("first"):
            read = f"cache: L={int(v['total'])} S={int(v['sent'])}"
        elif rd is not None:
            read = f"get_buf: L={rd['n']} S={rd['k']}"
    if int(ob.n_max):
        coll.append(f"MAX → L={int(v['total'])},S={int(v['sent'])}")
    tb, pb = int(ob.tr_branch), int(ob.pre_branch)
    if tb:
        branch = TR_SHORT.get(tb, str(tb))
        if tb == 6:
            branch += f" (S={int(v['resume_sent'])}, +{int(v['need'])})"
        if tb in (3, 4):
            branch += f" {int(v['ori'])}/{int(v['emb_len'])} tok" + ("" if ob.intact
                                                                     else " CORRUPT")
    elif pb:
        branch = PRE_SHORT.get(pb, str(pb))
    why = []
    if ob.resume_invalid:
        why.append("invalid resume")
    if ob.handoff and not ob.intact:
        why.append("hand-off data corrupt")
    if ob.bad_free:
        why.append("frees a block it does not own")
    return {"read": read, "collective": " · ".join(coll), "branch": branch,
            "why": ", ".join(why), "bad": bool(why)}


def counterexample(pc: ProveConfig, variant: str, prop: str, topology: str, tp_size: int,
                   config_arg: str | None = None) -> dict[str, Any]:
    """Explain one violated obligation and turn it into swimlane/placement data (JSON-able);
    cached by sources and model bounds (checker/cache.py): explaining is the costly part."""
    from dataclasses import asdict

    from .. import cache

    inputs = {"cfg": asdict(pc.model_config(tp_size, topology)), "variant": variant,
              "property": prop, "timeout": pc.timeout_seconds, "config_arg": config_arg}
    hit = cache.get("counterexample", inputs)
    if hit is not None:
        return dict(hit, cached=True)
    out = _counterexample(pc, variant, prop, topology, tp_size, config_arg)
    if out.get("verdict") == VIOLATED:  # errors and timeouts are not worth keeping
        cache.put("counterexample", inputs, out)
    return out


def _counterexample(pc: ProveConfig, variant: str, prop: str, topology: str, tp_size: int,
                    config_arg: str | None = None) -> dict[str, Any]:
    from ranksync.spec.variants import get_variant

    from ..explain import explain
    from ..timeline import _env

    t0 = time.perf_counter()
    cfg = pc.model_config(tp_size, topology)
    cmd = f"ranksync explain {variant} {prop} --topology {topology} --ranks {tp_size}"
    if config_arg and Path(config_arg).resolve() != _default_config().resolve():
        cmd += f" --config {config_arg}"
    out: dict[str, Any] = {"variant": variant, "property": prop, "topology": topology,
                           "tp_size": tp_size, "reproduce": cmd,
                           "id": f"cex-{variant}-{topology}-{prop}"}
    try:
        ex = explain(cfg, variant, prop, int(pc.timeout_seconds * 1000))
    except Exception as e:  # noqa: BLE001 - shown in the report, never fatal
        out.update(verdict="ERROR", error=f"{type(e).__name__}: {e}",
                   seconds=time.perf_counter() - t0)
        return out
    out.update(verdict=ex.verdict, step=ex.step, text=ex.text)
    if ex.verdict != VIOLATED or ex.scenario is None or ex.trace is None:
        out["seconds"] = time.perf_counter() - t0
        return out
    sc, tr = ex.scenario, ex.trace
    with _recording_reads() as reads:
        run = sc.replay()
    T = cfg.tp_size
    cached = get_variant(variant).cached_path
    out["receivers"] = list(sc.receivers)
    out["scenario"] = {"L": sc.length, "block_size": sc.bs,
                       "default_allocate_tokens": sc.default_tokens,
                       "pool_blocks": cfg.pool_blocks, "receivers": list(sc.receivers),
                       "embedding_tp_size": cfg.n_senders}
    steps: list[dict[str, Any]] = []
    logs: list[dict[str, Any]] = []
    for st, sched in zip(tr["expected"], tr["schedule"], strict=True):
        k = int(st["step"])
        rec = run.steps[k]
        rds = reads[k * T:(k + 1) * T] if len(reads) >= (k + 1) * T else [None] * T
        cells = [_rank_cell(rec.obs[r], rds[r], bool(rec.iterated), cached) for r in range(T)]
        sigs = [_sig(ob) for ob in rec.obs]
        common = Counter(sigs).most_common(1)[0][0]
        split = bool(rec.iterated) and len(set(sigs)) > 1
        for r, c in enumerate(cells):
            odd = sigs[r] != common or len(set(sigs)) == T
            c["diverges"] = (split and odd) or bool(c.get("bad"))
            if split and odd and not c["why"]:
                c["why"] = "branch differs from the other ranks"
        mismatch = bool(rec.mismatch)
        if mismatch:
            for c in cells:
                c["branch"] = "collectives differ → deadlock: " + c["branch"]
        steps.append({"step": k, "env": _env(sched, st), "env_lines": _env_lines(sched, st),
                      "ranks": cells,
                      "collective": any(c["collective"] for c in cells), "mismatch": mismatch,
                      "diverged": split})
        for r, evs in enumerate(st["ranks"]):
            for ev in evs:
                if ev["ev"] == "log":
                    logs.append({"step": k, "rank": r, "level": ev["level"], "msg": ev["msg"]})
                elif ev["ev"] == "deadlock":
                    logs.append({"step": k, "rank": r, "level": "HANG",
                                 "msg": "collective calls differ across ranks (deadlock)"})
    out["steps"], out["logs"] = steps, logs
    kf = int(ex.step) if ex.step is not None else int(steps[-1]["step"])
    rds = reads[kf * T:(kf + 1) * T]
    out["placement"] = _placement(kf, rds, run.steps[kf].obs) if len(rds) == T else None
    out["trace"] = tr
    out["seconds"] = time.perf_counter() - t0
    return out


def _env_lines(s: dict[str, Any], st: dict[str, Any]) -> list[str]:
    """The environment's part of an iteration, compact enough for a swimlane header."""
    out = []
    w = []
    for r, ws in enumerate(st.get("writes", [])):
        for x in ws:
            tok = "garbage" if x["start"] is None else f"[{x['start']},{x['start'] + x['count']})"
            w.append(f"TP{r}.b{x['block']}←{tok}" + ("+aux" if x.get("aux") else ""))
    if w:
        out.append("write " + " ".join(w))
    by: dict[str, list[int]] = {}
    for r, d in enumerate(st.get("delivered", [])):
        if d:
            by.setdefault("+".join(_status(x) for x in d), []).append(r)
    for stat, rs in by.items():
        out.append(f"{stat} → " + ",".join(f"TP{r}" for r in rs))
    flags = []
    if s.get("encode"):
        flags.append("forward done")
    if s.get("chunk_fail"):
        flags.append("chunk FAILS on emb " + ",".join(map(str, s["chunk_fail"])))
    if s.get("abort"):
        flags.append("ABORT")
    if s.get("others_alloc"):
        flags.append("other requests take the pool on " +
                     ",".join(f"TP{r}" for r in s["others_alloc"]))
    if s.get("others_free"):
        flags.append("another request frees a block on " +
                     ",".join(f"TP{r}" for r in s["others_free"]))
    if not s.get("lang", True):
        flags.append("no language iteration")
    if flags:
        out.append(", ".join(flags))
    if s.get("messages") and not out:
        out.append("messages drained")
    return out or ["—"]


def _placement(k: int, rds: list[dict[str, Any]], obs: list[Any]) -> dict[str, Any]:
    ranks = []
    for r, rd in enumerate(rds):
        blocks = []
        for b in range(len(rd["content"])):
            cnt = rd["cnt"][b]
            ids = rd["content"][b][:cnt]
            tag = ids[0] if ids else -1  # the first slot's content id (docs/trace-format.md)
            if ids and all(x >= 0 for x in ids):
                tokens = "tokens " + ", ".join(str(x) for x in ids)
            elif any(x <= -10000 for x in ids):
                tokens = "garbage (freed source)"
            else:
                tokens = "stale" if cnt else "empty"
            idx = rd["indices"].index(b) if b in rd["indices"] else None
            aux_read = bool(obs[r].poll_tr) and b == rd["first_index"]
            blocks.append({"tag": tag, "cnt": cnt, "tokens": tokens, "aux0": rd["aux0"][b],
                           "aux1": rd["aux1"][b], "owned": rd["owned"][b], "index": idx,
                           "aux_read": aux_read,
                           "title": f"TP{r} block {b}: tag={tag} cnt={cnt} aux=[{rd['aux0'][b]},"
                                    f" {rd['aux1'][b]}] owned={rd['owned'][b]}"
                                    + (f" embedding_indices[{idx}]" if idx is not None else "")})
        ranks.append({"blocks": blocks, "indices": rd["indices"],
                      "read": f"get_buf read aux[0]={rd['n']}, gathered {rd['k']} token(s)"})
    return {"step": k, "ranks": ranks}


def counterexample_targets(rows: list[dict[str, Any]], props: tuple[str, ...] | None = None
                           ) -> list[tuple[str, str, str, int]]:
    """(variant, property, topology, smallest violating T) for every violated cell (of
    `props` only, when given)."""
    best: dict[tuple[str, str, str], int] = {}
    for r in rows:
        if r["kind"] == "property" and r["verdict"] == VIOLATED and (
                props is None or r["name"] in props):
            key = (r["variant"], r["name"], r["topology"])
            best[key] = min(best.get(key, r["tp_size"]), r["tp_size"])
    order = list(PROPERTIES)
    return sorted(((v, p, t, n) for (v, p, t), n in best.items()),
                  key=lambda x: (list(VARIANTS).index(x[0]) if x[0] in VARIANTS else 99,
                                 order.index(x[1]) if x[1] in order else 99, x[2]))


def _progress() -> Progress:
    return Progress(console=Console(stderr=True), transient=True,
                    disable=not sys.stderr.isatty())


def run_counterexamples(pc: ProveConfig, targets: list[tuple[str, str, str, int]],
                        jobs: int, config_arg: str | None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if not targets:
        return out
    with _progress() as prog:
        task = prog.add_task("counterexamples", total=len(targets))
        if jobs <= 1:
            for v, p, t, n in targets:
                out.append(counterexample(pc, v, p, t, n, config_arg))
                prog.advance(task)
        else:
            with ProcessPoolExecutor(max_workers=jobs) as ex:
                futs = [ex.submit(counterexample, pc, v, p, t, n, config_arg)
                        for v, p, t, n in targets]
                for f in as_completed(futs):
                    out.append(f.result())
                    prog.advance(task)
    key = {(v, p, t): i for i, (v, p, t, _n) in enumerate(targets)}
    return sorted(out, key=lambda c: key[(c["variant"], c["property"], c["topology"])])


def _default_config() -> Path:
    from ..cliutil import default_config_path

    return default_config_path()
