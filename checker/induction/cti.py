"""A counterexample to induction, shown like `explain` shows a run: the state the step starts
from (per rank, the fields that matter), what the environment did, and each rank's events
and log lines in the engine's words -- replayed on the concrete model, never a solver dump.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import z3
from ranksync.spec.config import STATUS_NAMES
from ranksync.spec.embedding import Params
from ranksync.spec.model import Choices, step
from ranksync.spec.observe import rank_events
from ranksync.spec.ops import PyOps
from ranksync.spec.state import PHASE_NAMES

from ..timeline import _event
from .frame import concrete
from .prover import Answer

SHOWN = ("phase", "waiting_for_input", "status", "conclude_state", "cached", "partial_total",
         "partial_sent_tokens", "partial_len", "resume_pending", "n_indices", "n_free",
         "n_held")


def _val(m: z3.ModelRef, x: Any) -> Any:
    if isinstance(x, bool | int):
        return x
    v = m.eval(x, model_completion=True)
    return z3.is_true(v) if z3.is_bool(v) else v.as_signed_long()


def render(a: Answer, extra: tuple[str, ...] = ()) -> str:
    q, m = a.query, a.model
    if q is None or m is None:
        return f"{a.verdict}: {a.cls}: {a.what}"
    o = PyOps(q.cfg.block_sizes)
    start = concrete(m, q.start)
    p = Params(length=_val(m, q.params.length), bs=_val(m, q.params.bs),
               default_tokens=_val(m, q.params.default_tokens),
               receives=[_val(m, x) for x in q.params.receives], delta=q.params.delta)
    ch = Choices(**{f.name: concrete(m, getattr(q.choices, f.name))
                    for f in fields(Choices)})
    post, rec = step(o, q.cfg, q.variant, start, p, ch)
    lines = [f"counterexample to induction ({a.cls} step) breaks: {a.what}",
             f"  L={p.length} block_size={p.bs} default_allocate_tokens={p.default_tokens}"
             f" ranks: " + ", ".join(f"TP{r}={role}" for r, role in enumerate(q.roles))]
    for r, lr in enumerate(start.lang):
        vals = ", ".join(f"{k}={_show(k, getattr(lr, k))}" for k in SHOWN)
        lines.append(f"  [TP{r} {q.roles[r]}] before: {vals}; blocks "
                     f"{lr.embedding_indices[:lr.n_indices]}; deadlock={start.deadlock}")
    lines += _names_before_after(o, q, a.what, start, post, p, extra)
    env = _env_effects(rec, ch)
    if env:
        lines.append("  env: " + env)
    for r, ob in enumerate(rec.obs):
        if rec.mismatch:
            lines.append(f"  [TP{r}] DEADLOCK: collective calls differ across ranks")
            continue
        for e in rank_events(q.cfg, q.variant, r, ob) if rec.iterated else []:
            lines.append(f"  [TP{r}] {_event(e)}")
    return "\n".join(lines)


def _names_before_after(o: PyOps, q: Any, what: str, pre: Any, post: Any, p: Params,
                        extra: tuple[str, ...] = ()) -> list[str]:
    """The broken clause's names (and `extra` ones, "i.NAME") on ranks i and j, before and
    after the step."""
    from . import observables as obs
    from .clauses import Clause, ClauseError

    try:
        names = Clause(what.split(": ", 1)[-1]).names()
    except ClauseError:
        names = set()
    names |= {tuple(x.split(".", 1)) for x in extra}  # type: ignore[misc]
    out = []
    for r in (0, 1):
        for tag, st in (("before", pre), ("after ", post)):
            rk = obs.rank(o, q.cfg, st, p, r)
            g = obs.globals_(st, p)
            vals = []
            for role, n in sorted(names):
                src = g if role == "g" else rk if role in ("i", "j") else None
                if src is None or n not in src or (role == "j") != (r == 1) and role != "g":
                    continue
                vals.append(f"{role}.{n}={src[n]}")
            if vals:
                out.append(f"  [TP{r}] {tag}: " + ", ".join(vals))
    return out


def _env_effects(rec: Any, ch: Choices) -> str:
    parts = []
    for r, ws in enumerate(rec.effects.writes):
        got = [f"block {w['block']}<-[{w['start']}+{w['count']}]" for w in ws if w["when"]]
        if got:
            parts.append(f"TP{r} written " + " ".join(got))
    for r, ds in enumerate(rec.effects.delivered):
        got = [STATUS_NAMES.get(d["status"], str(d["status"])) for d in ds if d["when"]]
        if got:
            parts.append(f"TP{r} delivered " + "+".join(got))
    for f in ("messages", "chunks", "chunk_fail", "others_free", "others_alloc"):
        xs = [i for i, x in enumerate(getattr(ch, f)) if x]
        if xs:
            parts.append(f"{f} {xs}")
    for f in ("encode", "emb_finish", "abort"):
        if getattr(ch, f):
            parts.append(f)
    return "; ".join(parts)


def _show(k: str, v: Any) -> str:
    if k == "phase":
        return PHASE_NAMES.get(v, str(v))
    if k in ("status", "conclude_state"):
        return STATUS_NAMES.get(v, str(v))
    return str(v)
