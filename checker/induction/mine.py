"""Invariant candidates mined from reachable states (the DistAI recipe: simulate, enumerate
candidates from templates, keep those every sample satisfies; Houdini then keeps the inductive
ones).

Samples are the states of seeded random runs of the concrete model at small T, with every
model step split into its environment part and its language iteration (the action classes of
the induction queries), so intermediate states are sampled too. Templates, per scope (a rank
`i`, two ranks `i`/`j` including a rank with itself, a block `b` of a rank, the globals):
a boolean name or its negation; an integer name equal to a constant or within the observed
range; two integer names of the same kind equal or ordered; and `not G or F` for a *guard* G
(a boolean, or a small-domain integer equal to a constant) with enough support and a fact F
of the first kinds. Pair candidates compare a name across the two ranks, also under a guard on
both; every pair candidate is also tried with `g.deadlock or` in front (after a deadlock the
state is meaningless and nothing is claimed).
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from ranksync.spec.config import ModelConfig
from ranksync.spec.model import Run
from ranksync.spec.ops import PyOps
from ranksync.spec.state import State

from ..simulate import random_scenario
from . import observables as obs
from .clauses import Clause

KINDS = [  # the kind of an integer name, by pattern (first match)
    ("status", r"(^|\.)(status|conclude_state)$|outq\.max$"),
    ("phase", r"(^|\.)phase$"),
    ("content", r"content\d*$"),
    ("delta", r"delta$|aux1$"),
    ("count", r"(^|\.)(n_indices|n_free|n_held|rec_n_dst|chunks|inits|src_frees|count|"
              r"resumes|nfree|nheld|mine)$|\.n$"),
    ("tokens", r"total|sent|len$|landed|allocated|aux0|cnt$|^(L|D|bs)$|\.k$|tokens$"),
]
GUARD_MAX = 6  # an integer with at most this many values observed can be a guard
GUARD_KINDS = ("phase", "status", "count")  # integers that name a control state
MIN_SUPPORT = 3


def kind(name: str) -> str:
    base = name.split(".", 1)[1] if name[:2] in ("i.", "j.", "g.") or name[:3] in ("ib.", "jb.") \
        else name
    for k, pat in KINDS:
        if re.search(pat, base):
            return k
    return "other"


@dataclass
class Samples:
    cfg: ModelConfig
    states: list[tuple[State, Any, ModelConfig]]


def split_schedule(schedule: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each step as its environment part, then its language iteration."""
    out = []
    for s in schedule:
        out.append({**s, "lang": False, "abort": False})
        if s.get("lang", True):
            out.append({"lang": True, "abort": s.get("abort", False)})
    return out


def collect(base: ModelConfig, variant: str, runs: int, tp_sizes: Iterable[int] = (2, 3),
            seed: int = 0) -> Samples:
    rng = random.Random(f"mine/{seed}/{variant}/{base}")
    out: list[tuple[State, Any, ModelConfig]] = []
    for t in tp_sizes:
        # one embedding rank per language rank: the queries' layout (checker/induction/query)
        cfg = replace(base, tp_size=t, receivers=None,
                      embedding_tp_size=t if base.topology == "a" else 1)
        for _ in range(runs):
            sc = random_scenario(cfg, variant, rng)
            sc.schedule = split_schedule(sc.schedule)
            run: Run = sc.replay()
            for st in run.states:
                out.append((st, run.params, cfg))
                if st.deadlock:  # nothing is claimed after a deadlock; one such state is enough
                    break
    return Samples(base, out)


def _table(rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    keys = rows[0].keys()
    return {k: np.array([int(r[k]) for r in rows], dtype=np.int64) for k in keys}


@dataclass
class Tables:
    rank: dict[str, np.ndarray]  # one row per (state, rank)
    pair: list[tuple[np.ndarray, np.ndarray, np.ndarray]]  # (i row, j row, global row)
    block: dict[str, np.ndarray]  # one row per (state, rank, block)
    block_rank: np.ndarray  # rank row of each block row
    block_pair: tuple[np.ndarray, np.ndarray, np.ndarray]  # i, j rows (same block id), global
    glob: dict[str, np.ndarray]  # one row per state
    rank_glob: np.ndarray  # global row of each rank row


def tabulate(s: Samples) -> Tables:
    ranks: list[dict[str, Any]] = []
    blocks: list[dict[str, Any]] = []
    globs: list[dict[str, Any]] = []
    rank_glob, block_rank, pi, pj, pg, bi, bj, bg = [], [], [], [], [], [], [], []
    for g_row, (st, p, cfg) in enumerate(s.states):
        o = PyOps(cfg.block_sizes)
        globs.append(obs.globals_(st, p))
        first = len(ranks)
        bfirst = len(blocks)
        P = cfg.pool_blocks
        for r in range(cfg.tp_size):
            ranks.append(dict(obs.rank(o, cfg, st, p, r).items()))
            rank_glob.append(g_row)
            for b in range(P):
                blocks.append(obs.block(o, cfg, st, r, b))
                block_rank.append(first + r)
        for r1 in range(cfg.tp_size):
            for r2 in range(cfg.tp_size):
                pi.append(first + r1)
                pj.append(first + r2)
                pg.append(g_row)
                for b in range(P):
                    bi.append(bfirst + r1 * P + b)
                    bj.append(bfirst + r2 * P + b)
                    bg.append(g_row)
    return Tables(rank=_table(ranks), pair=[(np.array(pi), np.array(pj), np.array(pg))],
                  block=_table(blocks), block_rank=np.array(block_rank),
                  block_pair=(np.array(bi), np.array(bj), np.array(bg)), glob=_table(globs),
                  rank_glob=np.array(rank_glob))


# -- templates ----------------------------------------------------------------------------
@dataclass
class Atom:
    text: str
    val: np.ndarray  # bool per row


def candidates(tab: Tables, bools: dict[str, set[str]]) -> list[Clause]:
    """Every template instance true on every sample (see the module doc)."""
    out: list[str] = []
    out += _scope(tab.rank, "i", bools["rank"], tab.glob, tab.rank_glob)
    out += _scope(tab.block, "ib", bools["block"], None, None)
    out += _scope(tab.glob, "g", bools["glob"], None, None)
    out += _pairs(tab, bools)
    return [Clause(t) for t in dict.fromkeys(out)]


def _atoms_typed(tab: dict[str, np.ndarray], role: str, bools: set[str],
                 extra: dict[str, np.ndarray] | None = None
                 ) -> tuple[list[Atom], list[Atom], list[Atom]]:
    """(guards, facts, ranges) of one role's names. `extra`: globals aligned to the rows,
    compared with same-kind names."""
    guards: list[Atom] = []
    facts: list[Atom] = []
    ranges: list[Atom] = []
    ints: dict[str, np.ndarray] = {}
    for k, v in tab.items():
        name = f"{role}.{k}"
        if k in bools:
            b = v.astype(bool)
            guards += [Atom(name, b), Atom(f"not {name}", ~b)]
            facts += [Atom(name, b), Atom(f"not {name}", ~b)]
            continue
        ints[name] = v
        vals = np.unique(v)
        kd = kind(k)
        if len(vals) <= GUARD_MAX and kd in GUARD_KINDS:
            for c in vals:
                guards.append(Atom(f"{name} == {int(c)}", v == c))
        if len(vals) <= GUARD_MAX and kd in (*GUARD_KINDS, "delta"):
            for c in vals:
                facts.append(Atom(f"{name} == {int(c)}", v == c))
        ranges += [Atom(f"{name} >= {int(vals[0])}", v >= vals[0]),
                   Atom(f"{name} <= {int(vals[-1])}", v <= vals[-1])]
    for k, v in (extra or {}).items():
        if kind(k) in ("tokens", "count"):
            ints[f"g.{k}"] = v
    by_kind: dict[str, list[str]] = {}
    for k in ints:
        by_kind.setdefault(kind(k), []).append(k)
    for kd, ks in by_kind.items():
        if kd == "other":
            continue
        for na, nb in itertools.combinations(ks, 2):
            if na.startswith("g.") and nb.startswith("g."):
                continue
            va, vb = ints[na], ints[nb]
            facts.append(Atom(f"{na} == {nb}", va == vb))
            if kd in ("tokens", "count"):
                facts += [Atom(f"{na} <= {nb}", va <= vb), Atom(f"{nb} <= {na}", vb <= va)]
    return guards, facts, ranges


def _scope(tab: dict[str, np.ndarray], role: str, bools: set[str],
           glob: dict[str, np.ndarray] | None, glob_rows: np.ndarray | None) -> list[str]:
    extra = {k: v[glob_rows] for k, v in glob.items()} if glob is not None and \
        glob_rows is not None else None
    guards, facts, ranges = _atoms_typed(tab, role, bools, extra)
    out = [a.text for a in facts + ranges if a.val.all()]
    open_facts = [f for f in facts if not f.val.all()]
    if not open_facts:
        return out
    fmat = np.stack([f.val for f in open_facts])  # facts x rows
    for g in guards:
        sup = int(g.val.sum())
        if sup < MIN_SUPPORT or sup == len(g.val):
            if sup == 0:
                out.append(_negate(g.text))
            continue
        ok: list[bool] = np.asarray(fmat[:, g.val].all(axis=1)).tolist()
        for f in (f for f, y in zip(open_facts, ok, strict=True) if y):
            if f.text != g.text:
                out.append(f"{_negate(g.text)} or {f.text}")
    return out


def _negate(text: str) -> str:
    if text.startswith("not "):
        return text[4:]
    if " == " in text:
        return text.replace(" == ", " != ", 1)
    return f"not {text}"


def _pairs(tab: Tables, bools: dict[str, set[str]]) -> list[str]:
    """i/j comparisons of the same name, plain, under a guard on both, and with the deadlock
    let off; and guard agreement (a guard of i implies the same guard of j)."""
    out: list[str] = []
    pi, pj, pg = tab.pair[0]
    dead = tab.glob["deadlock"][pg].astype(bool)
    live = ~dead
    guards, _facts, _r = _atoms_typed(tab.rank, "X", bools["rank"])
    eqs = {k: tab.rank[k][pi] == tab.rank[k][pj] for k in tab.rank}
    gi = [(g, g.val[pi] & g.val[pj]) for g in guards
          if MIN_SUPPORT <= int((g.val[pi] & g.val[pj]).sum()) < len(pi)]
    for k, e in eqs.items():
        if e.all():
            out.append(f"i.{k} == j.{k}")
        elif e[live].all():
            out.append(f"g.deadlock or i.{k} == j.{k}")
        else:
            for g, both in gi:
                if e[both & live].all():
                    gt = g.text
                    out.append(f"g.deadlock or not ({gt.replace('X.', 'i.')} and "
                               f"{gt.replace('X.', 'j.')}) or i.{k} == j.{k}")
    for g in guards:
        a, b = g.val[pi], g.val[pj]
        if int(a.sum()) >= MIN_SUPPORT and (~a | b)[live].all() and not (~a | b).all():
            out.append(f"g.deadlock or {_negate(g.text.replace('X.', 'i.'))} or "
                       f"{g.text.replace('X.', 'j.')}")
        elif int(a.sum()) >= MIN_SUPPORT and (~a | b).all():
            out.append(f"{_negate(g.text.replace('X.', 'i.'))} or {g.text.replace('X.', 'j.')}")
    bi, bj, bg = tab.block_pair
    bdead = tab.glob["deadlock"][bg].astype(bool)
    for k, v in tab.block.items():
        e = v[bi] == v[bj]
        if e.all():
            out.append(f"ib.{k} == jb.{k}")
        elif e[~bdead].all():
            out.append(f"g.deadlock or ib.{k} == jb.{k}")
        elif kind(k) == "content":
            neg = (v[bi] < 0) & (v[bj] < 0)
            if e[neg].all():
                out.append(f"not (ib.{k} < 0 and jb.{k} < 0) or ib.{k} == jb.{k}")
    return out


# the names focused mining uses: control state, the views, token counts (not block ids)
FOCUS = re.compile(
    r"^(phase|waiting_for_input|status|conclude_state|aborted|n_indices|cached|partial_total|"
    r"partial_delta|partial_sent_tokens|partial_len|resume_pending|draining|n_free|n_held|"
    r"receives|s\.(record|rec_sent_tokens|rec_allocated_tokens|rec_n_dst|src_known|"
    r"failed_session|landed|awaiting_chunk|cancel_sent|cancel_done|inq\..*|outq\..*)|"
    r"e\.(inits|infos|status|chunks|worker_dead|mine|cq0)|[ar]\.\w+|w[hdr]\.\w+|d\.\w+|"
    r"owned|nfree|nheld|in_a|in_r|cnt|aux0|aux1|room|encoded|src_alive|src_frees|deadlock|"
    r"faulted|L|bs|D|delta)$")


def focus(tab: Tables) -> Tables:
    """The tables restricted to FOCUS names."""
    def keep(t: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {k: v for k, v in t.items() if FOCUS.match(k)}
    return Tables(rank=keep(tab.rank), pair=tab.pair, block=keep(tab.block),
                  block_rank=tab.block_rank, block_pair=tab.block_pair, glob=keep(tab.glob),
                  rank_glob=tab.rank_glob)


def bool_names(cfg: ModelConfig) -> dict[str, set[str]]:
    rk, bk, gk = obs.names(cfg)
    return {"rank": {n.name for n in rk if n.kind == "bool"},
            "block": {n.name for n in bk if n.kind == "bool"},
            "glob": {n.name for n in gk if n.kind == "bool"}}


def mine(base: ModelConfig, variant: str, runs: int, seed: int = 0,
         tp_sizes: Iterable[int] = (2, 3), focused: bool = True) -> list[Clause]:
    s = collect(base, variant, runs, tp_sizes, seed)
    tab = tabulate(s)
    return candidates(focus(tab) if focused else tab, bool_names(base))


__all__ = ["mine", "collect", "tabulate", "candidates"]
