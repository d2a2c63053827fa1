"""Ask the model (Z3, bounded) which runs produce a request's observed log lines.

For one request, one variant and one topology (and E for topology a), the model is unrolled
with `checker.bmc.build` and constrained so that, on every rank that appears in the log, the
§10.1 lines the model's run emits (exactly the lines `spec.observe.rank_events` renders, in
the same order) match the observed lines:

* `exact`: the rank's emitted lines are the observed lines, one to one, in order (the log
  is complete for that rank; ranks absent from the log are unconstrained);
* `subsequence`: the observed lines are a subsequence of the emitted ones (the log is an
  excerpt). Matching is greedy (an emitted line that matches the next observed line is
  taken), which is complete for subsequence matching of a fixed run.

Values are compared as the engine prints them: L, S, R, blocks, tokens, shapes (the hidden
size in shapes and the rank / exception text of failure lines are not compared).

Verdicts are bounded: "no run" means no run of at most `depth` iterations within the
configured ranges (reported with every answer).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

import z3
from ranksync.spec.branches import (
    PRE_HANDSHAKE_FAILED,
    TR_FAILED,
    TR_NO_MEMORY,
    TR_OVERLONG,
    TR_RESUME,
    TR_SUCCESS_RESUMED,
    TR_UNEXPECTED,
)
from ranksync.spec.config import ModelConfig
from ranksync.spec.model import Run
from ranksync.spec.ops import Z3Ops
from ranksync.spec.properties import PROPERTIES
from ranksync.spec.variants import Variant, get_variant

from .. import bmc
from ..limits import MAX_DEPTH, MAX_TP
from ..scenario import Scenario, from_model
from ..timeline import render
from . import formats as F
from . import parser as P
from .observations import Obs, RequestObs

Match = Literal["exact", "subsequence"]
PROTOCOL_BLOCK_SIZE = 8192  # SGLANG_EMBEDDING_CACHE_BLOCK_SIZE default (§2)
PROTOCOL_DEFAULT_ALLOC = 8192  # SGLANG_EMBEDDING_DEFAULT_ALLOCATE_BUFFER_SIZE default (§2)


# --- scale: the model configuration the observed numbers need ------------------------------
@dataclass
class Scale:
    block_sizes: tuple[int, ...]
    default_alloc_range: tuple[int, int]
    length_range: tuple[int, int]
    pool_blocks: int
    tp_size: int
    depth: int
    notes: list[str] = field(default_factory=list)


def derive_scale(req: RequestObs, *, block_size: int | None = None,
                 default_tokens: int | None = None, ranks: int | None = None,
                 depth: int | None = None, pool_blocks: int | None = None,
                 max_length: int | None = None, base_pool: int = 4,
                 base_block_sizes: tuple[int, ...] = (1, 2)) -> Scale:
    """Block size from `allocated m blocks (A tokens)` (A / m), else the option, else the
    protocol default when the numbers are engine-sized; L's range wide enough for every
    observed number; T from the highest rank seen."""
    notes: list[str] = []
    obs = [o for seq in req.ranks.values() for o in seq]
    big = max([abs(v) for o in obs for v in o.values if v is not None and o.kind not in
               (P.TRANSFER_FAILED, P.HANDSHAKE_FAILED)] + [0])
    pairs = [(m, a) for o in obs if o.kind == P.RESUME_INITIATED
             for m, a in [o.values[:2]] if isinstance(m, int) and isinstance(a, int)]
    implied = sorted({a // m for m, a in pairs if m > 0 and a % m == 0})
    if block_size is not None:
        bss: tuple[int, ...] = (block_size,)
        notes.append(f"block_size {block_size} (option)")
    elif implied:
        bss = tuple(implied)
        notes.append(f"block_size {'/'.join(map(str, implied))} (from 'allocated m blocks "
                     f"(A tokens)': A/m)")
        if len(implied) > 1:
            notes.append("WARNING: the observed lines imply different block sizes")
    elif big > 64:
        bss = (PROTOCOL_BLOCK_SIZE,)
        notes.append(f"block_size {PROTOCOL_BLOCK_SIZE} (protocol default; no 'allocated m "
                     "blocks' line to derive it from)")
    else:
        bss = base_block_sizes
        notes.append(f"block_size in {list(bss)} (the config's range; small numbers, no "
                     "'allocated m blocks' line)")
    bs = max(bss)
    if default_tokens is not None:
        drange = (default_tokens, default_tokens)
        notes.append(f"default_allocate_tokens {default_tokens} (option)")
    elif bs == PROTOCOL_BLOCK_SIZE:
        drange = (PROTOCOL_DEFAULT_ALLOC, PROTOCOL_DEFAULT_ALLOC)
        notes.append(f"default_allocate_tokens {PROTOCOL_DEFAULT_ALLOC} (protocol default)")
    else:
        drange = (1, 2 * bs)
        notes.append(f"default_allocate_tokens in [1, {2 * bs}] (symbolic)")
    max_m = max([v for o in obs if o.kind in (P.RESUME_INITIATED,)
                 for v in [o.values[0]] if isinstance(v, int)] +
                [v for o in obs if o.kind == P.RESUMED_SUCCESS
                 for v in [o.values[3]] if isinstance(v, int)] + [0])
    first_blocks = -(-drange[1] // min(bss))
    pool = pool_blocks or max(base_pool, first_blocks + max_m + 1)
    pool = min(pool, 16)
    hi = max_length or max(big, drange[1]) + pool * bs
    notes.append(f"L in [1, {hi}], pool {pool} blocks/rank")
    seen = max(req.ranks) + 1 if req.ranks else 1
    if ranks is not None and ranks < seen:
        raise ValueError(f"--ranks {ranks} but the log has rank TP{seen - 1}")
    T = ranks or seen
    if T > MAX_TP:
        raise ValueError(f"request {req.rid or '?'}: the log names rank TP{seen - 1}; at most "
                         f"{MAX_TP} ranks (TP0..TP{MAX_TP - 1}) can be analysed")
    longest = max([len(v) for v in req.ranks.values()] + [0])
    d = depth or max(4, longest + 3)
    if d > MAX_DEPTH:
        raise ValueError(f"request {req.rid or '?'}: a rank has {longest} protocol lines, which "
                         f"needs depth {d}, above the cap {MAX_DEPTH} (--rid selects requests, "
                         "--max-lines-per-rank skips long ones)")
    return Scale(bss, drange, (1, hi), pool, T, d, notes)


# --- what the model emits ------------------------------------------------------------------
Alt = tuple[Any, str, list[Any]]  # (condition, kind, values; None = not compared)


def emitted_slots(o: Z3Ops, v: Variant, run: Run, r: int, k: int) -> list[list[Alt]]:
    """The §10.1 lines rank r may emit in iteration k, in order (spec.observe.rank_events):
    one slot per line position, each a list of mutually exclusive alternatives."""
    rec = run.steps[k]
    ob = rec.obs[r]
    vals = ob.vals
    live = o.And(rec.iterated, o.Not(rec.mismatch))
    tb = ob.tr_branch
    synced = v.sync_op is not None

    def c(*xs: Any) -> Any:
        return o.And(live, *xs)

    res_s = o.And(o.Or(tb == TR_SUCCESS_RESUMED, tb == TR_OVERLONG), vals["resumed"])
    pl, nk = vals["partial_len"], vals["new_k"]
    dec3 = o.Or(tb == TR_RESUME, tb == TR_NO_MEMORY, tb == TR_UNEXPECTED)
    slots: list[list[Alt]] = [
        [(c(ob.pre_branch == PRE_HANDSHAKE_FAILED), P.HANDSHAKE_FAILED, [None])],
        [(c(tb == TR_FAILED), P.TRANSFER_FAILED, [None])],
        [(c(res_s), P.RESUMED_SUCCESS, [vals["partial_sent"], vals["partial_total"],
                                        vals["remaining"], vals["n_indices"]])],
        [(c(res_s), P.MERGING, [pl, nk, pl, nk, pl, nk])],
        [(c(res_s, pl > 0, nk > 0), P.MROPE_CONCAT, [pl, nk]),
         (c(res_s, pl > 0, o.Not(nk > 0)), P.MROPE_PARTIAL, [pl]),
         (c(res_s, o.Not(pl > 0)), P.MROPE_NEW, [nk])],
        [(c(tb == TR_OVERLONG), P.TRANSFER_FAILED, [None])],
    ]
    tot, sent = vals["total"], vals["sent"]
    pre: list[Alt] = []
    if v.cached_path:
        pre.append((c(dec3, o.Not(vals["first"])), P.CACHED, [tot, sent]))
        if synced:
            pre.append((c(dec3, vals["first"]), P.SYNCED, [tot, sent]))
    elif synced:
        pre.append((c(dec3), P.SYNCED, [tot, sent]))
    if pre:
        slots.append(pre)
    slots += [
        [(c(tb == TR_UNEXPECTED), P.UNEXPECTED, [sent, tot]),
         (c(o.Or(tb == TR_RESUME, tb == TR_NO_MEMORY)), P.PARTIAL, [sent, tot, vals["need"]])],
        [(c(tb == TR_NO_MEMORY), P.NO_MEMORY, [vals["need"]]),
         (c(tb == TR_RESUME), P.RESUME_INITIATED, [vals["resume_n"], vals["resume_allocated"]])],
        [(c(tb == TR_NO_MEMORY), P.TRANSFER_FAILED, [None])],
    ]
    return [[a for a in s if not _false(a[0])] for s in slots if any(not _false(a[0]) for a in s)]


def _false(t: Any) -> bool:
    return t is False or (not isinstance(t, bool) and z3.is_false(t))


def _bool(t: Any) -> Any:
    return z3.BoolVal(t) if isinstance(t, bool) else t


def _eq(term: Any, value: int, width: int) -> Any:
    if isinstance(term, bool):
        return z3.BoolVal(int(term) == value)
    if isinstance(term, int):
        return z3.BoolVal(term == value)
    if not -(1 << (width - 2)) < value < (1 << (width - 2)):
        return z3.BoolVal(False)  # not representable: the model cannot print it
    return term == value


def _matches(alts: list[Alt], ob: Obs, width: int) -> Any:
    out = []
    for cond, kind, vals in alts:
        if kind != ob.kind:
            continue
        eqs = [_eq(t, x, width) for t, x in zip(vals, ob.values, strict=False)
               if t is not None and x is not None]  # None: this commit's format omits it
        out.append(z3.And(_bool(cond), *eqs))
    return z3.Or(*out) if out else z3.BoolVal(False)


@dataclass
class Encoding:
    goal: Any  # the observations are produced
    active: list[Any]  # per step: some observed line is not matched before this step
    pos: dict[int, list[Any]]  # per observed rank: lines matched before step k (k <= depth)


def encode(u: bmc.Unrolling, observed: dict[int, list[Obs]], match: Match) -> Encoding:
    """Constraints: on every rank in `observed`, the emitted lines match the observed ones."""
    cfg, v = u.cfg, u.variant
    w = bmc.model_width(cfg)
    o = Z3Ops(cfg.block_sizes, w)
    goal: list[Any] = []
    pos_at: dict[int, list[Any]] = {}
    for r, obs in observed.items():
        if r >= cfg.tp_size:
            goal.append(z3.BoolVal(False))
            continue
        n = len(obs)
        pw = max(2, (n + 1).bit_length() + 1)
        pos: Any = z3.BitVecVal(0, pw)
        starts = []
        for k in range(cfg.depth):
            starts.append(pos)
            for alts in emitted_slots(o, v, u.run, r, k):
                emitted = z3.Or(*[_bool(a[0]) for a in alts])
                choice = z3.Or(*[z3.And(pos == j, _matches(alts, obs[j], w))
                                 for j in range(n)]) if n else z3.BoolVal(False)
                if match == "exact":
                    goal.append(z3.Implies(emitted, choice))
                    take = emitted
                else:
                    take = z3.And(emitted, choice)
                pos = z3.If(take, pos + 1, pos)
        starts.append(pos)
        goal.append(pos == n)
        pos_at[r] = starts
    active = []
    for k in range(cfg.depth):
        pend = [pos_at[r][k] != len(observed[r]) for r in pos_at if observed[r]]
        active.append(z3.Or(*pend) if pend else z3.BoolVal(False))
    return Encoding(z3.And(*goal) if goal else z3.BoolVal(True), active, pos_at)


def placement(u: bmc.Unrolling, m: z3.ModelRef, enc: Encoding) -> dict[int, list[int]]:
    """Per rank: the iteration in which each observed line is emitted in model m."""
    out: dict[int, list[int]] = {}
    for r, ps in enc.pos.items():
        vals = [m.eval(p, model_completion=True).as_long() for p in ps]
        out[r] = [next(k for k in range(u.cfg.depth) if vals[k + 1] > j)
                  for j in range(vals[-1])]
    return out


def placement_text(pl: dict[int, list[int]]) -> str:
    return "; ".join(f"TP{r}: " + ",".join(f"line {j + 1}@it{k}" for j, k in enumerate(ks))
                     for r, ks in pl.items() if ks)


# --- the analysis of one (variant, topology[, E]) --------------------------------------------
@dataclass
class PropVerdict:
    name: str
    verdict: str  # "violated" | "holds" | "undecided" | "unknown"
    detail: str = ""
    step: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"property": self.name, "verdict": self.verdict, "detail": self.detail,
                "step": self.step}


@dataclass
class ComboResult:
    variant: str
    topology: str
    embedding_tp_size: int | None
    receivers: tuple[int, ...] | None
    verdict: str  # "consistent" | "inconsistent" | "unknown"
    bound: str
    seconds: float
    reason: str = ""
    scenario: dict[str, Any] | None = None
    timeline: str = ""
    properties: list[PropVerdict] = field(default_factory=list)
    placement: dict[int, list[int]] = field(default_factory=dict)
    plain: bool = False  # the shown run uses no faults and no stale aux rows

    @property
    def label(self) -> str:
        s = f"{self.variant}/{self.topology}"
        if self.topology == "a" and self.embedding_tp_size is not None:
            s += f" E={self.embedding_tp_size}"
        if self.topology == "b" and self.receivers is not None:
            s += f" receivers={list(self.receivers)}"
        return s

    def to_json(self) -> dict[str, Any]:
        return {"variant": self.variant, "topology": self.topology,
                "embedding_tp_size": self.embedding_tp_size,
                "receivers": list(self.receivers) if self.receivers is not None else None,
                "verdict": self.verdict, "bound": self.bound, "seconds": round(self.seconds, 3),
                "reason": self.reason, "scenario": self.scenario,
                "properties": [p.to_json() for p in self.properties],
                "placement": {f"TP{r}": ks for r, ks in self.placement.items()},
                "plain_run": self.plain,
                "timeline": self.timeline}


def bound_text(cfg: ModelConfig) -> str:
    return (f"depth {cfg.depth} iterations, T={cfg.tp_size}, block_size in "
            f"{list(cfg.block_sizes)}, default_allocate_tokens in "
            f"{list(cfg.default_alloc_range)}, L in {list(cfg.length_range)}, pool "
            f"{cfg.pool_blocks} blocks/rank, stale aux rows: {cfg.stale}, faults: {cfg.faults}, "
            f"pool pressure: {cfg.pool_pressure}")


def _solve(u: bmc.Unrolling, goal: Any) -> tuple[str, z3.ModelRef | None, str]:
    r, m, why = bmc.solve(u, goal)
    return ("sat" if r == z3.sat else "unsat" if r == z3.unsat else "unknown"), m, why


def analyse(cfg: ModelConfig, variant: str, req: RequestObs, match: Match,
            properties: list[str], timeout_ms: int = 60_000, trace: bool = True,
            verbose: bool = False) -> ComboResult:
    t0 = time.perf_counter()
    v = get_variant(variant)
    u = bmc.build(cfg, v, timeout_ms)
    observed = {r: seq for r, seq in sorted(req.ranks.items()) if r not in req.overflow}
    enc = encode(u, observed, match)
    res = ComboResult(variant, cfg.topology, cfg.n_senders if cfg.topology == "a" else None,
                      cfg.receivers, "unknown", bound_text(cfg), 0.0)
    status, m, why = _solve(u, enc.goal)
    if status == "unknown":
        res.reason = f"solver: {why}"
    elif status == "unsat":
        res.verdict = "inconsistent"
        res.reason = diagnose(u, observed, match)
    else:
        assert m is not None
        res.verdict = "consistent"
        if trace:  # prefer a plain explanation: no faults, no stale aux rows
            st2, m2, _w = _solve(u, z3.And(enc.goal, _plain(u)))
            res.plain = st2 == "sat"
            m = m2 if m2 is not None else m
        focus = None
        res.placement = placement(u, m, enc)
        for name in properties:
            pv = _property(u, enc, name, m)
            res.properties.append(pv)
            if pv.verdict == "violated" and focus is None:
                focus = pv.step
        if trace:
            res.scenario, res.timeline = _explain_trace(u, m, enc, observed, match, req,
                                                        focus, verbose)
    res.seconds = time.perf_counter() - t0
    return res


def _plain(u: bmc.Unrolling) -> Any:
    sy = u.sym
    faults = [x for ch in sy.choices for x in [ch.abort, *ch.chunk_fail, *ch.others_alloc]
              if not isinstance(x, bool)]
    stale = [x == 0 for row in sy.aux0 + sy.aux1 for x in row]
    return z3.And(*[z3.Not(x) for x in faults], *stale)


def _property(u: bmc.Unrolling, enc: Encoding, name: str, m0: z3.ModelRef) -> PropVerdict:
    """Decided by the logs? violated: every explaining run violates it while the observed
    lines are being produced (before the last observed line); holds: none does; undecided:
    both kinds of run exist. m0 is an explaining run already found."""
    prop = PROPERTIES[name]
    bad = [z3.And(t, a) for t, a in zip(bmc._terms(u, prop.bad), enc.active, strict=True)]
    any_bad = z3.Or(*bad)
    m_ok: z3.ModelRef | None
    m_bad: z3.ModelRef | None
    if z3.is_true(m0.eval(any_bad, model_completion=True)):
        m_bad = m0
        st, m_ok, why = _solve(u, z3.And(enc.goal, z3.Not(any_bad)))
    else:
        m_ok = m0
        st, m_bad, why = _solve(u, z3.And(enc.goal, any_bad))
    if st == "unknown":
        return PropVerdict(name, "unknown", f"solver: {why}")
    if m_ok is None:
        assert m_bad is not None
        k = bmc.first_step(u, m_bad, bad)
        return PropVerdict(name, "violated", f"every run that produces these lines violates it "
                           f"(e.g. at iteration {k}; {placement_text(placement(u, m_bad, enc))})",
                           k)
    if m_bad is None:
        return PropVerdict(name, "holds", "no run that produces these lines violates it before "
                           "the last observed line")
    k = bmc.first_step(u, m_bad, bad)
    return PropVerdict(name, "undecided", "runs that produce these lines exist with a violation "
                       f"(at iteration {k}; {placement_text(placement(u, m_bad, enc))}) and "
                       f"without one ({placement_text(placement(u, m_ok, enc))})", k)


def _last_step(u: bmc.Unrolling, m: z3.ModelRef, enc: Encoding) -> int:
    for k in range(u.cfg.depth - 1, -1, -1):
        if z3.is_true(m.eval(enc.active[k], model_completion=True)):
            return k
    return 0


def _explain_trace(u: bmc.Unrolling, m: z3.ModelRef, enc: Encoding,
                   observed: dict[int, list[Obs]], match: Match, req: RequestObs,
                   focus: int | None, verbose: bool) -> tuple[dict[str, Any], str]:
    upto = _last_step(u, m, enc) if match == "subsequence" else u.cfg.depth - 1
    sc = from_model(u, m, upto)
    run = sc.replay()
    tr = sc.trace(f"logcheck-{u.variant.name}-{u.cfg.topology}", run)
    ok = confirm(sc, tr, observed, match)
    title = (f"a run of {u.variant.name}/topology {u.cfg.topology} that produces the observed "
             f"lines of {req.label}" + ("" if ok else " (WARNING: the concrete replay does not "
                                        "reproduce the lines; please report)"))
    text = render(sc, tr, title, focus=focus if focus is not None and focus <= upto else None,
                  verbose=verbose)
    return sc.scenario_json() | {"schedule": sc.schedule}, text


def confirm(sc: Scenario, trace: dict[str, Any], observed: dict[int, list[Obs]],
            match: Match) -> bool:
    """Re-check on the concrete replay: parse the model's own rendered log lines with the
    log parser and match them against the observations in Python."""
    per_rank: dict[int, list[tuple[str, tuple[int | None, ...]]]] = {r: [] for r in observed}
    for st in trace["expected"]:
        for r, evs in enumerate(st["ranks"]):
            if r not in per_rank:
                continue
            for e in evs:
                if e["ev"] != "log":
                    continue
                got = P.parse_message(e["msg"])
                if got is not None and got.kind in P.KIND_CODE:
                    per_rank[r].append((got.kind, F.values_tuple(got)))
    for r, obs in observed.items():
        if not py_match(per_rank[r], obs, match):
            return False
    return True


_UNCHECKED = {P.TRANSFER_FAILED: 0, P.HANDSHAKE_FAILED: 0}


def _same(a: tuple[str, tuple[int | None, ...]], b: Obs) -> bool:
    """The emitted line is the observed one (values the observed format omits match any)."""
    if a[0] != b.kind:
        return False
    if b.kind in _UNCHECKED:
        return True
    return len(a[1]) == len(b.values) and all(
        y is None or x == y for x, y in zip(a[1], b.values, strict=True))


def py_match(emitted: list[tuple[str, tuple[int | None, ...]]], obs: list[Obs], match: Match
             ) -> bool:
    if match == "exact":
        return len(emitted) == len(obs) and all(_same(a, b) for a, b in
                                                zip(emitted, obs, strict=True))
    j = 0
    for a in emitted:
        if j < len(obs) and _same(a, obs[j]):
            j += 1
    return j == len(obs)


# --- why no run produces the lines ---------------------------------------------------------
def diagnose(u: bmc.Unrolling, observed: dict[int, list[Obs]], match: Match,
             max_checks: int = 16) -> str:
    """Narrow an UNSAT down: a single line no run emits; else the first line of a rank that
    cannot follow that rank's earlier lines; else a combination of ranks."""
    checks = 0
    seen: set[tuple[str, tuple[int | None, ...]]] = set()
    for r, obs in observed.items():
        for ob in obs:
            key = (ob.kind, ob.values)
            if key in seen or checks >= max_checks:
                continue
            seen.add(key)
            checks += 1
            st, _m, _w = _solve(u, encode(u, {r: [ob]}, "subsequence").goal)
            if st == "unsat":
                return (f"no run emits the line {ob.describe()} (TP{r}, {ob.where()}) at all"
                        + _hint(ob, u.variant))
    for r, obs in observed.items():
        if len(obs) < 2 and match == "subsequence":
            continue
        lo, hi = 0, len(obs)  # prefix of length lo is producible; of length hi is not?
        st, _m, _w = _solve(u, encode(u, {r: obs}, match).goal)
        if st != "unsat":
            continue
        while hi - lo > 1:
            mid = (lo + hi) // 2
            st, _m, _w = _solve(u, encode(u, {r: obs[:mid]}, "subsequence").goal)
            if st == "unsat":
                hi = mid
            else:
                lo = mid
        if match == "exact":
            st2, _m, _w = _solve(u, encode(u, {r: obs}, "subsequence").goal)
            if st2 != "unsat":
                return (f"TP{r}: its lines occur in some run, but never as the complete log of "
                        f"the rank (the run emits further lines between or after them; the "
                        f"log looks like an excerpt: try --match subsequence)")
        bad = obs[hi - 1]
        return (f"TP{r}: line {bad.describe()} ({bad.where()}) cannot follow the rank's "
                f"earlier lines {', '.join(o.describe() for o in obs[:hi - 1])}")
    ranks = [r for r in observed if observed[r]]
    for i, a in enumerate(ranks):
        for b in ranks[i + 1:]:
            st, _m, _w = _solve(u, encode(u, {a: observed[a], b: observed[b]}, match).goal)
            if st == "unsat":
                return (f"each rank's lines occur in some run, but TP{a}'s and TP{b}'s never "
                        f"in the same run")
    return "each rank's lines occur in some run, but not all ranks' lines in the same run"


def _hint(ob: Obs, v: Variant) -> str:
    if ob.kind == P.UNEXPECTED_POLL:
        return " (the model's polls are always KVPoll values)"
    if ob.kind == P.UNEXPECTED and v.sync_op == "max" and v.cached_path:
        return (": under this variant the first Transferring iteration decides on the MAX "
                "over ranks of (aux[0], tokens read), and a rank that saw Transferring has "
                "received the first chunk with its aux row, so L > 0 there; later iterations "
                "use the cache, written only when L > S")
    return ""


# --- the question for one request ------------------------------------------------------------
def model_configs(base: dict[str, Any], scale: Scale, topology: str,
                  embedding_ranks: list[int] | None, receivers: tuple[int, ...] | None
                  ) -> list[ModelConfig]:
    common = dict(base)
    common.update(block_sizes=scale.block_sizes, default_alloc_range=scale.default_alloc_range,
                  length_range=scale.length_range, pool_blocks=scale.pool_blocks,
                  depth=scale.depth)
    T = scale.tp_size
    if topology == "a":
        es = embedding_ranks or [e for e in range(1, T + 1) if T % e == 0]
        return [ModelConfig(tp_size=T, topology="a", embedding_tp_size=e, **common)
                for e in es if 1 <= e <= T]
    return [ModelConfig(tp_size=T, topology="b", receivers=receivers, **common)]
