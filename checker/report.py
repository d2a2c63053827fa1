"""`ranksync report`: the design-review evidence as one self-contained HTML page and a Markdown
version for pull requests.

Sections: the claim under review and its verdict; the designs compared (one row per variant
and topology, one column per property, each cell the strength the ledger of checker/ledger.py
gives it: violated, all depths on the small domain, bounded, open); the property x variant x
topology matrix with proof strength; every counterexample (smallest violating T, via `explain`) as a rank
swimlane with its block placement, log lines and a reproduce command; witnesses; the mutation
kill matrix; conformance replay and engine-diff summaries; versions, configuration, wall times
and prove time against T.

Optional sections (mutants, replay, engine-diff) are run through their modules when those
exist, or read from JSON given on the command line; a missing module shows "not run".
"""

from __future__ import annotations

import copy
import inspect
import json
import os
import platform
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import import_module
from importlib import metadata as md
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import click
from ranksync.spec.config import STATUS_NAMES
from ranksync.spec.properties import PROPERTIES
from ranksync.spec.variants import MUTANTS, VARIANTS
from rich.console import Console
from rich.markup import escape as esc
from rich.progress import Progress
from rich.table import Table

from . import svg
from .config import ProveConfig
from .ledger import ALL_DEPTHS, BOUNDED, OPEN, Entry, ledger
from .ledger import EVERY_T_DEPTH as ALL_T
from .ledger import VIOLATED as L_VIOLATED

VIOLATED, PROVED, UNKNOWN = "VIOLATED", "PROVED", "UNKNOWN"
TEMPLATES = Path(__file__).resolve().parent / "templates"

CLAIM = ("With the seed fix (engine commit d94e4a0ab), all language TP ranks use the same "
         "actual_total_length and sent_tokens on a Transferring poll and therefore all make the "
         "same resume decision, dummy ranks included.")
CLAIM_PROPS = ("seed_claim", "agreement")
CLAIM_VARIANT = "seed"

TR_SHORT = {1: "nothing (waiting)", 2: "Failed → failure handler",
            3: "hand-off", 4: "resumed hand-off",
            5: "overlong → failure handler", 6: "L > S → resume",
            7: "L > S, no memory → failure", 8: "L ≤ S → 'Unexpected'"}
PRE_SHORT = {1: "prealloc: waiting", 2: "handshake failed", 3: "prealloc: no space",
             4: "prealloc: alloc + init"}


def _status(x: Any) -> str:
    return STATUS_NAMES.get(int(x), "not polled")


# -- proof strength ------------------------------------------------------------------------
def _tset(ts: list[int]) -> str:
    ts = sorted(set(ts))
    if not ts:
        return ""
    if ts == list(range(1, ts[-1] + 1)) and len(ts) > 1:
        return f"T ≤ {ts[-1]}"
    if len(ts) == 1:
        return f"T = {ts[0]}"
    return "T ∈ {" + ",".join(map(str, ts)) + "}"


def _all_t(r: dict[str, Any]) -> bool:
    """Room for unbounded results (a later issue): a PROVED row whose bound says all T."""
    b = r.get("bound") or {}
    return r["verdict"] == PROVED and (bool(b.get("all_tp")) or b.get("tp_size") == "all"
                                       or r.get("method") in ("induction", "unbounded"))


def strength(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One cell of the matrix: the verdicts of one (property, variant, topology) over T."""
    rows = sorted(rows, key=lambda r: r["tp_size"])
    if not rows:
        return {"state": "none", "text": "not checked", "detail": "", "per_t": [],
                "mismatch": False, "min_violated": None}
    viol = [r for r in rows if r["verdict"] == VIOLATED]
    unk = [r for r in rows if r["verdict"] not in (VIOLATED, PROVED)]
    prov = [r for r in rows if r["verdict"] == PROVED]
    b = rows[0].get("bound") or {}
    depth = f"depth {b.get('depth')}" if b.get("depth") is not None else ""
    parts: list[str] = []
    if viol:
        t0 = viol[0]["tp_size"]
        later = [r for r in rows if r["tp_size"] >= t0]
        state = "violated"
        text = (f"violated from T={t0}" if all(r["verdict"] == VIOLATED for r in later)
                else f"violated at {_tset([r['tp_size'] for r in viol])}")
        if viol[0].get("step") is not None:
            text += f" (iteration {viol[0]['step']})"
        if prov:
            parts.append(f"proved {_tset([r['tp_size'] for r in prov])}")
    elif unk:
        state = "unknown"
        text = f"unknown at {_tset([r['tp_size'] for r in unk])}"
        if prov:
            parts.append(f"proved {_tset([r['tp_size'] for r in prov])}")
    elif any(_all_t(r) for r in prov):
        state, text = "proved", "proved for all T"
    else:
        state, text = "proved", f"proved {_tset([r['tp_size'] for r in prov])}"
        parts.append(depth)
    per_t = [{"T": r["tp_size"], "verdict": r["verdict"], "step": r.get("step"),
              "method": r.get("method"), "expected": r.get("expected"),
              "declared_ok": r.get("expected") in (None, r["verdict"]),
              "seconds": r.get("seconds", 0.0)} for r in rows]
    return {"state": state, "text": text, "detail": "; ".join(p for p in parts if p),
            "per_t": per_t, "mismatch": any(not p["declared_ok"] for p in per_t),
            "min_violated": viol[0]["tp_size"] if viol else None}


# -- the ledger (checker/ledger.py): how strong each claim is -----------------------------
LEDGER_MARK = {L_VIOLATED: "✗ violated", ALL_T: "✓ every T, every depth", ALL_DEPTHS: "✓ all depths",
               BOUNDED: "✓ bounded", OPEN: "? open"}
LEDGER_CSS = {L_VIOLATED: "violated", ALL_T: "proved alldepths", ALL_DEPTHS: "proved alldepths",
              BOUNDED: "proved bounded", OPEN: "unknown"}


def row_objects(rows: list[dict[str, Any]]) -> list[Any]:
    """JSON rows as `prove.Row`s; fields a hand-made or older JSON lacks get neutral values."""
    from .prove import Row

    fields = set(Row.__dataclass_fields__)
    out = []
    for r in rows:
        d: dict[str, Any] = {"expected": None, "method": "", "seconds": 0.0}
        d.update({k: v for k, v in r.items() if k in fields})
        d["bound"] = d.get("bound") or {}
        d["seconds"] = float(d.get("seconds") or 0.0)
        out.append(Row(**d))
    return out


def ledger_of(rows: list[dict[str, Any]]) -> list[Entry]:
    return ledger(row_objects(rows))


def _variant_key(v: str) -> tuple[int, str]:
    return (list(VARIANTS).index(v) if v in VARIANTS else len(VARIANTS), v)


def _prop_order(names: set[str]) -> list[str]:
    return [p for p in PROPERTIES if p in names] + sorted(names - set(PROPERTIES))


def ledger_cells(entries: list[Entry]) -> tuple[dict[tuple[str, str, str], dict[str, Any]],
                                                list[str]]:
    """(variant, topology, property) -> {strength, mark, css, detail, note}; `note` numbers the
    distinct detail strings (the Markdown footnotes), in matrix order."""
    cells: dict[tuple[str, str, str], dict[str, Any]] = {}
    notes: dict[str, int] = {}
    pidx = {p: i for i, p in enumerate(PROPERTIES)}
    order = sorted(entries, key=lambda e: (_variant_key(e.variant), e.topology,
                                           pidx.get(e.property, len(pidx)), e.property))
    for e in order:
        n = notes.setdefault(e.detail, len(notes) + 1) if e.detail else None
        cells[(e.variant, e.topology, e.property)] = {
            "strength": e.strength, "mark": LEDGER_MARK.get(e.strength, e.strength),
            "css": LEDGER_CSS.get(e.strength, "none"), "detail": e.detail, "note": n}
    return cells, list(notes)


def designs(rows: list[dict[str, Any]], entries: list[Entry]) -> dict[str, Any]:
    """Designs compared: one row per (variant, topology), one column per property, each cell
    the ledger's strength; plus the all-depth searches that back the "all depths" cells."""
    cells, notes = ledger_cells(entries)
    keys = sorted({(e.variant, e.topology) for e in entries},
                  key=lambda k: (_variant_key(k[0]), k[1]))
    props = _prop_order({e.property for e in entries})
    body = []
    span = Counter(v for v, _ in keys)
    for i, (v, t) in enumerate(keys):
        desc = VARIANTS[v].description if v in VARIANTS else ""
        first = i == 0 or keys[i - 1][0] != v
        body.append({"variant": v, "topology": t, "description": desc,
                     "span": span[v] if first else 0,
                     "cells": [cells.get((v, t, p)) or {"strength": "", "mark": "—",
                                                        "css": "none", "detail": "not checked",
                                                        "note": None} for p in props]})
    counts = Counter(e.strength for e in entries)
    fp = sorted((r for r in rows if r["kind"] == "fixpoint"),
                key=lambda r: (_variant_key(r["variant"]), r["topology"], r["tp_size"]))
    runs: dict[tuple[str, str, int], dict[str, Any]] = {}
    for r in fp:
        b = r.get("bound") or {}
        run = runs.setdefault((r["variant"], r["topology"], r["tp_size"]), {
            "variant": r["variant"], "topology": r["topology"], "tp_size": r["tp_size"],
            "depth": b.get("depth"), "states": b.get("states"), "closed": b.get("closed"),
            "length": b.get("length"), "pool_blocks": b.get("pool_blocks"),
            "pool_pressure": b.get("pool_pressure"), "seconds": 0.0, "verdicts": Counter()})
        run["seconds"] += float(r.get("seconds") or 0.0)
        run["verdicts"][r["verdict"]] += 1
    fixpoint_runs = [{**x, "verdicts": ", ".join(f"{n} {v}" for v, n in
                                                 sorted(x["verdicts"].items()))}
                     for x in runs.values()]
    return {"props": props, "rows": body, "notes": notes,
            "counts": {s: counts.get(s, 0) for s in (L_VIOLATED, ALL_T, ALL_DEPTHS, BOUNDED,
                                                      OPEN)},
            "marks": LEDGER_MARK, "fixpoint_runs": fixpoint_runs}


def claim_verdict(rows: list[dict[str, Any]]) -> dict[str, Any]:
    props = [r for r in rows if r["kind"] == "property" and r["variant"] == CLAIM_VARIANT]
    parts = []
    for p in CLAIM_PROPS:
        s = strength([r for r in props if r["name"] == p])
        anchors = sorted({f"cex-{CLAIM_VARIANT}-{r['topology']}-{p}" for r in props
                          if r["name"] == p and r["verdict"] == VIOLATED})
        parts.append({"property": p, "doc": PROPERTIES[p].doc, "anchors": anchors, **s})
    states = {p["state"] for p in parts}
    if not props:
        verdict, css = "NOT EVALUATED (the seed variant was not checked)", "unknown"
    elif "violated" in states:
        verdict, css = "REFUTED", "violated"
    elif states & {"unknown", "none"}:
        verdict, css = "INCONCLUSIVE", "unknown"
    else:
        b = props[0].get("bound") or {}
        ts = sorted({r["tp_size"] for r in props})
        verdict = (f"HOLDS within the checked bounds ({_tset(ts)}, depth {b.get('depth')}, "
                   f"L ∈ {b.get('length')}, block sizes {b.get('block_sizes')})")
        css = "proved"
    beyond = []
    for name in PROPERTIES:
        if name in CLAIM_PROPS:
            continue
        s = strength([r for r in props if r["name"] == name])
        if s["state"] == "violated":
            beyond.append({"property": name, "text": s["text"]})
    return {"claim": CLAIM, "verdict": verdict, "css": css, "parts": parts, "beyond": beyond}


def matrix(rows: list[dict[str, Any]], entries: list[Entry] | None = None) -> dict[str, Any]:
    """Property x (variant, topology): the BMC verdicts over T, and the ledger's strength of
    each cell (bounded, all depths on the small domain, violated, open)."""
    props = [r for r in rows if r["kind"] == "property"]
    lcells, _ = ledger_cells(ledger_of(rows) if entries is None else entries)
    cols = sorted({(r["variant"], r["topology"]) for r in props},
                  key=lambda c: (list(VARIANTS).index(c[0]) if c[0] in VARIANTS else 99, c[1]))
    names = [p for p in PROPERTIES if any(r["name"] == p for r in props)]
    names += sorted({r["name"] for r in props} - set(names))
    body = []
    for p in names:
        cells = []
        for v, t in cols:
            s = strength([r for r in props if r["name"] == p and r["variant"] == v
                          and r["topology"] == t])
            s["anchor"] = f"cex-{v}-{t}-{p}" if s["min_violated"] is not None else ""
            s["ledger"] = lcells.get((v, t, p))
            if s["ledger"] and s["ledger"]["strength"] == L_VIOLATED and s["state"] != "violated":
                # the all-depth search broke what BMC proved within its bound
                s["state"], s["text"] = "violated", "violated beyond the bound"
                s["detail"] = s["ledger"]["detail"]
            cells.append(s)
        doc = PROPERTIES[p].doc if p in PROPERTIES else ""
        kind = PROPERTIES[p].kind if p in PROPERTIES else ""
        body.append({"property": p, "doc": doc, "kind": kind, "cells": cells})
    return {"cols": [{"variant": v, "topology": t} for v, t in cols], "rows": body}


def witness_matrix(rows: list[dict[str, Any]]) -> dict[str, Any]:
    wit = [r for r in rows if r["kind"] == "witness"]
    cols = sorted({(r["variant"], r["topology"]) for r in wit})
    names = list(dict.fromkeys(r["name"] for r in wit))
    body = []
    for n in names:
        cells = []
        for v, t in cols:
            rs = sorted([r for r in wit if r["name"] == n and r["variant"] == v
                         and r["topology"] == t], key=lambda r: r["tp_size"])
            reach = [r["tp_size"] for r in rs if r["verdict"] == "REACHABLE"]
            unreach = [r["tp_size"] for r in rs if r["verdict"] == "UNREACHABLE"]
            other = [r["tp_size"] for r in rs if r["verdict"] not in ("REACHABLE", "UNREACHABLE")]
            bad = [r for r in rs if not r.get("ok", True)]
            text = " · ".join(x for x in [
                f"reachable {_tset(reach)}" if reach else "",
                f"unreachable {_tset(unreach)}" if unreach else "",
                f"unknown {_tset(other)}" if other else ""] if x) or "—"
            state = "violated" if bad else ("proved" if rs else "none")
            cells.append({"text": text, "state": state,
                          "note": "; ".join(f"T={r['tp_size']}: {r['verdict']}, declared "
                                            f"{r.get('expected')}" for r in bad)})
        body.append({"name": n, "cells": cells})
    bad_n = sum(not r.get("ok", True) for r in wit)
    return {"cols": [{"variant": v, "topology": t} for v, t in cols], "rows": body,
            "total": len(wit), "as_declared": len(wit) - bad_n}


def time_series(rows: list[dict[str, Any]]) -> dict[str, list[tuple[int, float]]]:
    """Seconds of the bounded proof per (variant, topology, T); the all-depth search is
    timed in the designs section."""
    acc: dict[tuple[str, str, int], float] = {}
    for r in rows:
        if r.get("kind") in ("fixpoint", "every_t"):
            continue
        k = (r["variant"], r["topology"], r["tp_size"])
        acc[k] = acc.get(k, 0.0) + float(r.get("seconds") or 0.0)
    out: dict[str, list[tuple[int, float]]] = {}
    for (v, t, n), s in sorted(acc.items()):
        out.setdefault(f"{v} / {t}", []).append((n, s))
    return out


# -- counterexamples ---------------------------------------------------------------------------
@contextmanager
def _recording_reads() -> Iterator[list[dict[str, Any]]]:
    """Record every get_buf of a concrete replay: what each rank read locally, and the rank's
    pool at that moment (after the step's transfers landed, before the iteration changed it)."""
    from ranksync.spec import buffers

    orig = buffers.get_buf
    log: list[dict[str, Any]] = []

    def wrapped(o: Any, lr: Any, bs: Any) -> Any:
        rd = orig(o, lr, bs)
        n_idx = int(lr.n_indices)
        log.append({"n": int(rd.n), "k": int(rd.k), "ok": bool(rd.ok),
                    "tag": [int(x) for x in lr.tag], "cnt": [int(x) for x in lr.cnt],
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
    """Explain one violated obligation and turn it into swimlane/placement data (JSON-able)."""
    from ranksync.spec.variants import get_variant

    from .explain import explain
    from .timeline import _env

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
        for b in range(len(rd["tag"])):
            tag, cnt = rd["tag"][b], rd["cnt"][b]
            if tag >= 0 and cnt > 0:
                tokens = f"tokens [{tag}, {tag + cnt})"
            elif tag == -2:
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


def counterexample_targets(rows: list[dict[str, Any]]) -> list[tuple[str, str, str, int]]:
    """(variant, property, topology, smallest violating T) for every violated cell."""
    best: dict[tuple[str, str, str], int] = {}
    for r in rows:
        if r["kind"] == "property" and r["verdict"] == VIOLATED:
            key = (r["variant"], r["name"], r["topology"])
            best[key] = min(best.get(key, r["tp_size"]), r["tp_size"])
    order = list(PROPERTIES)
    return sorted(((v, p, t, n) for (v, p, t), n in best.items()),
                  key=lambda x: (list(VARIANTS).index(x[0]) if x[0] in VARIANTS else 99,
                                 order.index(x[1]) if x[1] in order else 99, x[2]))


# -- optional sections ----------------------------------------------------------------------
def _call_flexible(fn: Callable[..., Any], **avail: Any) -> Any:
    """Call fn with the subset of `avail` its signature names; TypeError if it needs more."""
    sig = inspect.signature(fn)
    kw: dict[str, Any] = {}
    for name, p in sig.parameters.items():
        if name in avail:
            kw[name] = avail[name]
        elif p.default is inspect.Parameter.empty and p.kind not in (
                p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TypeError(f"{fn.__qualname__} needs argument {name!r}")
    return fn(**kw)


def _load_json(path: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise click.UsageError(f"cannot read JSON results {path}: {e}") from None


def optional_section(title: str, json_path: str | None, module: str, func: str,
                     **avail: Any) -> dict[str, Any]:
    """{"status": "ok" | "not run" | "error", "data", "note", "seconds", "source"}."""
    t0 = time.perf_counter()
    if json_path:
        return {"title": title, "status": "ok", "data": _load_json(json_path),
                "note": "", "source": json_path, "seconds": 0.0}
    try:
        fn = getattr(import_module(module), func)
    except (ModuleNotFoundError, AttributeError) as e:
        return {"title": title, "status": "not run", "data": None, "source": "",
                "note": f"{module}.{func} is not available ({e})", "seconds": 0.0}
    try:
        data = _call_flexible(fn, **avail)
    except Exception as e:  # noqa: BLE001 - the report must still be written
        return {"title": title, "status": "error", "data": None, "source": f"{module}.{func}",
                "note": f"{type(e).__name__}: {e}", "seconds": time.perf_counter() - t0}
    return {"title": title, "status": "ok", "data": data, "source": f"{module}.{func}",
            "note": "", "seconds": time.perf_counter() - t0}


def kill_from_rows(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """A kill matrix from prove rows when the config checks mutant variants: a mutant is
    killed by a property that it violates where `seed` does not (same topology and T)."""
    props = [r for r in rows if r["kind"] == "property"]
    seed = {(r["topology"], r["tp_size"], r["name"]): r["verdict"] for r in props
            if r["variant"] == "seed"}
    muts = sorted({r["variant"] for r in props if r["variant"] in MUTANTS})
    if not muts or not seed:
        return None
    matrix_: dict[str, dict[str, str]] = {}
    for m in muts:
        row: dict[str, str] = {}
        for p in PROPERTIES:
            killed = [r for r in props if r["variant"] == m and r["name"] == p
                      and r["verdict"] == VIOLATED
                      and seed.get((r["topology"], r["tp_size"], p)) == PROVED]
            row[p] = (f"killed (T={min(r['tp_size'] for r in killed)})" if killed else "—")
        matrix_[m] = row
    return {"matrix": matrix_, "derived_from": "prove rows (mutant variants in the config)"}


def table_of(data: Any) -> dict[str, Any] | None:
    """Best-effort tabulation of a section's JSON: {"head", "rows", "summary"} or None."""
    if isinstance(data, dict):
        summary = {k: v for k, v in data.items()
                   if isinstance(v, (str, int, float, bool)) or v is None}
        for key in ("matrix", "kill_matrix"):
            m = data.get(key)
            if isinstance(m, dict) and m and all(isinstance(v, dict) for v in m.values()):
                cols = list(dict.fromkeys(c for v in m.values() for c in v))
                return {"head": ["", *cols], "summary": summary,
                        "rows": [[str(k), *[_cellstr(v.get(c)) for c in cols]]
                                 for k, v in m.items()]}
        for key in ("results", "rows", "traces", "mutants"):
            lst = data.get(key)
            if isinstance(lst, list) and lst and all(isinstance(x, dict) for x in lst):
                t = _list_table(lst)
                t["summary"] = summary
                return t
        if summary:
            return {"head": [], "rows": [], "summary": summary}
        return None
    if isinstance(data, list) and data and all(isinstance(x, dict) for x in data):
        t = _list_table(data)
        t["summary"] = {}
        return t
    return None


def _cellstr(v: Any) -> str:
    if v is True:
        return "yes"
    if v is False:
        return "no"
    if v is None:
        return "—"
    if isinstance(v, (dict, list)):
        return json.dumps(v, separators=(",", ":"))[:80]
    return str(v)


def _list_table(lst: list[dict[str, Any]]) -> dict[str, Any]:
    cols = [c for c in dict.fromkeys(k for x in lst for k in x)
            if not any(isinstance(x.get(c), (dict, list)) and c != "divergence" for x in lst)]
    if any(c in cols for c in ("name", "trace")):
        cols = [c for c in cols if c != "path"]
    cols = cols[:8]
    return {"head": cols, "rows": [[_cellstr(x.get(c)) for c in cols] for x in lst]}


def _status_counts(data: Any) -> str:
    lst = data.get("results") if isinstance(data, dict) else data
    if isinstance(lst, list) and lst and all(isinstance(x, dict) for x in lst):
        c = Counter(str(x["status"]) if "status" in x else
                    ("pass" if x.get("ok") else "diverged/failed") for x in lst)
        return ", ".join(f"{n} {s}" for s, n in c.most_common())
    if isinstance(data, dict) and "ok" in data:
        return "ok" if data["ok"] else "FAILED"
    return ""


# -- environment ----------------------------------------------------------------------------
def versions() -> dict[str, str]:
    import z3

    def ver(pkg: str) -> str:
        try:
            return md.version(pkg)
        except md.PackageNotFoundError:
            return "not installed"

    out = {"ranksync": ver("ranksync"), "python": platform.python_version(),
           "z3": z3.get_version_string(), "torch": ver("torch"), "jinja2": ver("jinja2"),
           "rich": ver("rich"), "platform": platform.platform()}
    try:
        root = Path(__file__).resolve().parent.parent
        rev = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=5)
        if rev.returncode == 0:
            dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain"],
                                   capture_output=True, text=True, timeout=5).stdout.strip()
            out["git"] = rev.stdout.strip() + (" (modified)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return out


# -- assembling -------------------------------------------------------------------------------
def load_rows(paths: list[str]) -> tuple[list[dict[str, Any]], float, str | None]:
    """Rows of one or more `prove --json` (or `witnesses --json`) outputs; later files win."""
    by_key: dict[tuple[Any, ...], dict[str, Any]] = {}
    wall, cfg = 0.0, None
    for p in paths:
        d = _load_json(p)
        rows = d.get("rows") if isinstance(d, dict) else d
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise click.UsageError(f"{p}: not the JSON of `ranksync prove --json`")
        need = {"variant", "topology", "tp_size", "kind", "name", "verdict"}
        for r in rows:
            if not need <= r.keys():
                raise click.UsageError(f"{p}: a row lacks {sorted(need - r.keys())}")
            r.setdefault("ok", r.get("verdict") == r.get("expected"))
            by_key[(r["variant"], r["topology"], r["tp_size"], r["kind"], r["name"])] = r
        if isinstance(d, dict):
            wall += float(d.get("wall_seconds") or 0.0)
            cfg = d.get("config") or cfg
    return list(by_key.values()), wall, cfg


def _progress() -> Progress:
    return Progress(console=Console(stderr=True), transient=True,
                    disable=not sys.stderr.isatty())


def run_prove(pc: ProveConfig, jobs: int | None) -> tuple[list[dict[str, Any]], float]:
    from .prove import run_all

    t0 = time.perf_counter()
    with _progress() as prog:
        n = len(pc.variants) * len(pc.topologies) * len(pc.tp_sizes) + \
            len(pc.fixpoint_groups())
        task = prog.add_task("prove", total=n)
        rows = run_all(pc, jobs, lambda g, r: prog.advance(task))
    return [r.to_json() for r in rows], time.perf_counter() - t0


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


def build(rows: list[dict[str, Any]], cexs: list[dict[str, Any]], sections: dict[str, Any],
          meta: dict[str, Any]) -> dict[str, Any]:
    props = [r for r in rows if r["kind"] == "property"]
    for c in cexs:
        if c.get("verdict") == VIOLATED:
            c["swimlane_svg"] = svg.swimlane(c)
            c["placement_svg"] = svg.placement(c) if c.get("placement") else ""
    bound = dict.fromkeys(("depth", "length", "block_sizes", "default_allocate_tokens",
                           "pool_blocks", "stale", "faults", "pool_pressure", "progress_bound"))
    bound.update(next((r["bound"] for r in props if r.get("bound")), {}))
    entries = ledger_of(rows)
    not_declared = [r for r in rows if r.get("expected") is None]
    mismatched = [r for r in rows if r.get("expected") is not None
                  and r["verdict"] != r["expected"]]
    return {
        "title": "ranksync design-review evidence",
        "claim": claim_verdict(rows), "matrix": matrix(rows, entries),
        "designs": designs(rows, entries), "ledger": [e.to_json() for e in entries],
        "witnesses": witness_matrix(rows),
        "counterexamples": cexs, "sections": sections, "meta": meta, "bound": bound,
        "time_svg": svg.time_plot(time_series(rows), "prove time against T"),
        "time_series": time_series(rows),
        "obligations": {"total": len(rows), "properties": len(props),
                        "fixpoint": sum(r["kind"] == "fixpoint" for r in rows),
                        "undeclared": len(not_declared), "mismatched": len(mismatched),
                        "unknown": sum(r["verdict"] == UNKNOWN for r in rows),
                        "mismatched_rows": [
                            f"{r['variant']}/{r['topology']}/T={r['tp_size']} {r['name']}: "
                            f"{r['verdict']}" + (f", declared {r['expected']}" if r.get("expected")
                                                 else f" ({r.get('reason') or 'no verdict'})")
                            for r in rows if r in mismatched or r["verdict"] == UNKNOWN]},
    }


def render(doc: dict[str, Any]) -> tuple[str, str]:
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                             autoescape=jinja2.select_autoescape(["html", "j2"]),
                             trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["tableof"] = table_of
    env.filters["counts"] = _status_counts
    env.filters["md"] = _md_escape
    html = env.get_template("report.html.j2").render(**doc, css=(TEMPLATES / "report.css")
                                                     .read_text(encoding="utf-8"))
    md_env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                                autoescape=False, trim_blocks=True, lstrip_blocks=True,
                                undefined=jinja2.StrictUndefined)
    md_env.filters.update(env.filters)
    md_text = md_env.get_template("report.md.j2").render(**doc)
    return html, md_text


def _md_escape(s: Any) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def junit_report(doc: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """<testsuites>: prove obligations, counterexample reproduction, conformance, engine-diff."""
    from .report_text import junit_xml

    root = ET.Element("testsuites", name="ranksync.report")
    root.append(ET.fromstring(junit_xml(row_objects(rows), "ranksync.prove")))
    cex = doc["counterexamples"]
    ts = ET.SubElement(root, "testsuite", name="ranksync.counterexamples", tests=str(len(cex)),
                       failures=str(sum(c.get("verdict") != VIOLATED for c in cex)))
    for c in cex:
        tc = ET.SubElement(ts, "testcase", classname=f"ranksync.counterexamples.{c['variant']}."
                           f"{c['topology']}", name=f"T{c['tp_size']}.{c['property']}",
                           time=f"{c.get('seconds', 0.0):.3f}")
        if c.get("verdict") != VIOLATED:
            f = ET.SubElement(tc, "failure", message=f"explain: {c.get('verdict')}")
            f.text = c.get("error") or c.get("text", "")
    for key, sec in doc["sections"].items():
        data = sec.get("data")
        lst = data.get("results") if isinstance(data, dict) else None
        if sec["status"] != "ok" or not isinstance(lst, list):
            continue
        ts = ET.SubElement(root, "testsuite", name=f"ranksync.{key}", tests=str(len(lst)))
        nf = 0
        for x in lst:
            if not isinstance(x, dict):
                continue
            tc = ET.SubElement(ts, "testcase", classname=f"ranksync.{key}",
                               name=str(x.get("trace") or x.get("name") or "?"))
            st = str(x.get("status", "pass" if x.get("ok", True) else "failed"))
            if st == "skipped":
                ET.SubElement(tc, "skipped", message=str(x.get("note", "")))
            elif st not in ("pass", "ok", "passed", "True"):
                nf += 1
                f = ET.SubElement(tc, "failure", message=st)
                f.text = json.dumps(x.get("divergence") or x.get("note") or "")
        ts.set("failures", str(nf))
    return ET.tostring(root, encoding="unicode")


def pyproject_settings() -> dict[str, Any]:
    """[tool.ranksync.report] of ./pyproject.toml: defaults for out, tp_sizes, engine_src."""
    p = Path.cwd() / "pyproject.toml"
    if not p.is_file():
        return {}
    import tomllib

    try:
        tool = tomllib.loads(p.read_text(encoding="utf-8")).get("tool", {}).get("ranksync", {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return {}
    rep = tool.get("report", {}) if isinstance(tool, dict) else {}
    return rep if isinstance(rep, dict) else {}


def summary_table(con: Console, doc: dict[str, Any], out: Path) -> None:
    t = Table(title="ranksync report")
    for col in ("section", "status", "detail"):
        t.add_column(col)
    ob = doc["obligations"]
    t.add_row("claim", doc["claim"]["css"], esc(doc["claim"]["verdict"]))
    ds = doc["designs"]
    if ds["rows"]:
        t.add_row("designs compared", "ok" if not ds["counts"][OPEN] else "open",
                  f"{len(ds['rows'])} variant·topology × {len(ds['props'])} properties: "
                  + ", ".join(f"{n} {LEDGER_MARK[k]}" for k, n in ds["counts"].items() if n))
    t.add_row("obligations", "ok" if not ob["mismatched"] and not ob["unknown"] else "differs",
              f"{ob['total']} checked, {ob['mismatched']} not as declared, {ob['unknown']} "
              f"unknown, {ob['undeclared']} undeclared")
    cx = doc["counterexamples"]
    t.add_row("counterexamples", "ok" if all(c.get("verdict") == VIOLATED for c in cx)
              else "differs", f"{len(cx)} explained")
    for sec in doc["sections"].values():
        t.add_row(sec["title"], sec["status"],
                  esc(sec.get("note") or _status_counts(sec["data"]))[:300])
    con.print(t)
    con.print(esc(f"wrote {out / 'index.html'} and {out / 'report.md'}"))


@click.command("report")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="output directory (default: report, or [tool.ranksync.report] out)")
@click.option("--config", "config_path", type=click.Path(), help="TOML config (as for prove)")
@click.option("--from-json", "from_json", multiple=True, type=click.Path(exists=True,
              dir_okay=False), help="reuse `ranksync prove --json` output (repeatable)")
@click.option("--tp-sizes", callback=lambda c, p, v: _csv(c, p, v),
              help="when proving here: limit T, e.g. 1,2")
@click.option("--jobs", type=int, help="worker processes (default from the config)")
@click.option("--no-counterexamples", is_flag=True, help="skip explain (faster)")
@click.option("--mutants-json", type=click.Path(exists=True, dir_okay=False),
              help="reuse a kill matrix (JSON) instead of running mutants")
@click.option("--replay-json", type=click.Path(exists=True, dir_okay=False),
              help="reuse a conformance replay summary (JSON)")
@click.option("--engine-diff-json", type=click.Path(exists=True, dir_okay=False),
              help="reuse `ranksync engine-diff --json` output")
@click.option("--engine-src", type=click.Path(), help="run engine-diff on the counterexample "
              "traces against this checkout (or $RANKSYNC_ENGINE_SRC)")
@click.option("--history-json", type=click.Path(exists=True, dir_okay=False),
              help="`ranksync history --json` output: the engine history section")
@click.option("--mutant-tp-sizes", callback=lambda c, p, v: _csv(c, p, v),
              help="T for the mutation kill matrix (default 2)")
@click.option("--skip", multiple=True, type=click.Choice(["mutants", "replay", "engine-diff"]),
              help="do not run this section (repeatable)")
@click.option("--junit", type=click.Path(dir_okay=False), help="also write JUnit XML here")
@click.option("--strict", is_flag=True, help="exit 1 if an obligation is not as declared")
def report(out_dir: str | None, config_path: str | None, from_json: tuple[str, ...],
           tp_sizes: list[int] | None, jobs: int | None, no_counterexamples: bool,
           mutants_json: str | None, replay_json: str | None, engine_diff_json: str | None,
           engine_src: str | None, mutant_tp_sizes: list[int] | None, skip: tuple[str, ...],
           junit: str | None, strict: bool, history_json: str | None = None) -> None:
    """Write the design-review evidence as OUT/index.html (self-contained) and OUT/report.md."""
    from .cli import console, load_config

    t_start = time.perf_counter()
    settings = pyproject_settings()
    out = Path(out_dir or settings.get("out") or "report")
    con = console()
    rows: list[dict[str, Any]]
    if from_json:
        rows, prove_wall, json_cfg = load_rows(list(from_json))
        if not config_path and json_cfg and Path(json_cfg).is_file():
            config_path = json_cfg
        pc = load_config(config_path)
        source = "reused: " + ", ".join(from_json)
    else:
        pc = load_config(config_path)
        tps = tp_sizes or settings.get("tp_sizes")
        if tps:
            pc.tp_sizes = [int(t) for t in tps]
        rows, prove_wall = run_prove(pc, jobs)
        source = f"run here (T ∈ {pc.tp_sizes})"
    if not rows:
        raise click.UsageError("no obligations to report")
    jobs_n = jobs or pc.jobs
    t0 = time.perf_counter()
    targets = [] if no_counterexamples else counterexample_targets(rows)
    cfg_arg = config_path if config_path else None
    cexs = run_counterexamples(pc, targets, jobs_n, cfg_arg)
    cex_wall = time.perf_counter() - t0
    out.mkdir(parents=True, exist_ok=True)
    tdir = out / "traces"
    tdir.mkdir(exist_ok=True)
    for c in cexs:
        if c.get("trace"):
            (tdir / f"{c['id']}.json").write_text(json.dumps(c["trace"], indent=1) + "\n")
    sections: dict[str, Any] = {}
    # mutants: given JSON, else derived from prove rows, else the mutants module
    derived = None if mutants_json else kill_from_rows(rows)
    if "mutants" in skip and not mutants_json:
        sections["mutants"] = _not_run("mutation kill matrix", "skipped (--skip mutants)")
    elif derived is not None:
        sections["mutants"] = {"title": "mutation kill matrix", "status": "ok", "data": derived,
                               "note": "", "source": "prove rows", "seconds": 0.0}
    else:
        mpc = copy.copy(pc)
        mpc.tp_sizes = mutant_tp_sizes or [2]
        with _spinner(f"mutants (T ∈ {mpc.tp_sizes})"):
            sections["mutants"] = optional_section(
                "mutation kill matrix", mutants_json, "ranksync.checker.mutants", "kill_matrix",
                pc=mpc, config=mpc, cfg=mpc, jobs=jobs_n, tp_sizes=mpc.tp_sizes,
                mutants=list(MUTANTS))
    if sections["mutants"]["status"] == "ok":
        sections["mutants"]["data"] = kill_table(sections["mutants"]["data"])
    has_traces = any(tdir.glob("*.json"))
    if "replay" in skip and not replay_json:
        sections["replay"] = _not_run("conformance replay (reference)", "skipped (--skip replay)")
    elif not replay_json and not has_traces:
        sections["replay"] = _not_run("conformance replay (reference)",
                                      "no counterexample traces to replay")
    else:
        with _spinner("conformance replay"):
            sections["replay"] = optional_section(
                "conformance replay (reference)", replay_json, "ranksync.checker.conformance",
                "replay_summary", paths=[str(tdir)], trace_dir=str(tdir), backend="inprocess")
    src = engine_src or os.environ.get("RANKSYNC_ENGINE_SRC") or settings.get("engine_src")
    if engine_diff_json:
        sections["engine_diff"] = optional_section("engine-diff", engine_diff_json, "", "")
    elif "engine-diff" in skip or not src:
        sections["engine_diff"] = _not_run("engine-diff", "not configured (--engine-src, "
                                           "$RANKSYNC_ENGINE_SRC or [tool.ranksync.report] "
                                           "engine_src)")
    else:
        with _spinner("engine-diff"):
            sections["engine_diff"] = _engine_diff(str(src), sorted(str(p) for p in
                                                                   tdir.glob("*.json")))
    from .history.output import section_from_file

    sections["history"] = section_from_file(history_json)
    meta: dict[str, Any] = {"versions": versions(), "config_path": pc.path,
            "config_text": _read(pc.path), "tp_sizes": sorted({r["tp_size"] for r in rows}),
            "variants": sorted({r["variant"] for r in rows}),
            "topologies": sorted({r["topology"] for r in rows}), "source": source,
            "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "command": " ".join(["ranksync", *sys.argv[1:]]) if sys.argv else "",
            "reused": (["prove"] if from_json else [])
            + [k for k, sec in sections.items() if sec.get("source", "").endswith(".json")],
            "wall": {"prove": prove_wall, "counterexamples": cex_wall,
                     **{k: s.get("seconds", 0.0) for k, s in sections.items()}}}
    doc = build(rows, cexs, sections, meta)
    meta["wall"]["report"] = time.perf_counter() - t_start
    html, md_text = render(doc)
    (out / "index.html").write_text(html, encoding="utf-8")
    (out / "report.md").write_text(md_text, encoding="utf-8")
    dump = {k: v for k, v in doc.items() if k not in ("time_svg",)}
    dump["counterexamples"] = [{k: v for k, v in c.items() if not k.endswith("_svg")}
                               for c in cexs]
    dump["rows"] = rows
    (out / "report.json").write_text(json.dumps(dump, indent=1, default=str) + "\n")
    if junit:
        Path(junit).parent.mkdir(parents=True, exist_ok=True)
        Path(junit).write_text(junit_report(doc, rows), encoding="utf-8")
    summary_table(con, doc, out)
    bad = doc["obligations"]["mismatched"] or doc["obligations"]["unknown"]
    sys.exit(1 if strict and bad else 0)



def _csv(ctx: Any, param: Any, value: str | None) -> list[int] | None:
    from .cli import csv_ints

    return csv_ints(ctx, param, value)


@contextmanager
def _spinner(what: str) -> Iterator[None]:
    with _progress() as prog:
        prog.add_task(what, total=None)
        yield


def kill_table(data: Any) -> Any:
    """The mutants module's result (Kill objects or their JSON) as a mutant x property matrix
    plus the reference columns; anything else is passed through."""
    if not isinstance(data, list) or not data:
        return data
    items = [x.to_json() if hasattr(x, "to_json") else x for x in data]
    if not all(isinstance(x, dict) and "mutant" in x for x in items):
        return items
    m: dict[str, dict[str, str]] = {}
    for x in items:
        flips = [str(f) for f in x.get("model_flips", [])]
        row: dict[str, str] = {
            "verdict": "killed" if x.get("ok") else "NOT KILLED",
            "reference": (f"killed {x.get('reference_divergent')}/{x.get('reference_traces')}"
                          if x.get("killed_reference") else
                          f"survived 0/{x.get('reference_traces')}")}
        for p in PROPERTIES:
            hit = [f for f in flips if f.startswith(p + " (")]
            where = []
            for f in hit:  # "name (topology b, T=2): PROVED -> VIOLATED"
                inner = f[len(p) + 2:].split(")")[0].replace("topology ", "").split(", T=")
                where.append("·T".join(inner))
            row[p] = "killed " + ", ".join(where) if hit else "—"
        other = [f for f in flips if f.split(" (")[0] not in PROPERTIES]
        row["witnesses flipped"] = str(len(other)) if other else "—"
        row["mutation"] = VARIANTS[x["mutant"]].description if x["mutant"] in VARIANTS else ""
        m[x["mutant"]] = row
    return {"matrix": m, "mutants": items}


def _default_config() -> Path:
    from .cli import default_config_path

    return default_config_path()


def _not_run(title: str, note: str) -> dict[str, Any]:
    return {"title": title, "status": "not run", "data": None, "note": note, "source": "",
            "seconds": 0.0}


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError:
        return ""


def _engine_diff(src: str, traces: list[str]) -> dict[str, Any]:
    t0 = time.perf_counter()
    traces = [t for t in traces if json.loads(Path(t).read_text()).get("variant")
              in ("seed", "prefix")]
    if not traces:
        return _not_run("engine-diff", "no seed/prefix counterexample traces")
    try:
        from .enginediff.driver import run_traces

        results, about = run_traces(src, traces, variant_check=True)
    except Exception as e:  # noqa: BLE001 - shown in the report
        return {"title": "engine-diff", "status": "error", "data": None, "source": src,
                "note": f"{type(e).__name__}: {e}", "seconds": time.perf_counter() - t0}
    failed = any(r.status in ("diverged", "error") for r in results)
    return {"title": "engine-diff", "status": "ok", "source": src, "note": about,
            "data": {"engine": about, "ok": not failed,
                     "results": [r.to_json() for r in results]},
            "seconds": time.perf_counter() - t0}
