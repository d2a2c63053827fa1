"""Named quantities of a model state, the vocabulary of invariants.

An invariant clause speaks of one rank `i` (or two, `i` and `j`), of a block `b` of a rank,
and of the globals `g`. This module turns a `State` (of Python values or of Z3 terms) into
those names; the same code serves mining (on reachable concrete states) and checking (on a
frame). Besides the state variables it names *views* that say what the protocol would do
next, computed by the model's own functions:

- `wh.*` (would hand off): the final assembly this rank would run if the reduced status were
  Success now (`_final_assembly` on `get_buf` or the resumed assembly): length, intact, mock,
  more ids than `embedding_length`;
- `wd.*` (would decide): the Transferring procedure's (L, S) with this rank's own values (the
  cache, or its local `get_buf` before any all-reduce), and whether L > S;
- `wr.*` (would write): what the next chunk for this rank's session would do with its record:
  tokens, partial, whether it writes only blocks the request owns, whether the worker dies;
- `a.*` / `r.*`: the current allocation and the session record's blocks seen through the
  allocator (all owned, all distinct, the record names the allocation);
- `s.inq.*` / `s.outq.*`: the pending messages of the two queues.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from ranksync.spec import buffers
from ranksync.spec.config import FAILED, SUCCESS, TRANSFERRING, ModelConfig
from ranksync.spec.embedding import Params
from ranksync.spec.ops import Ops, Term
from ranksync.spec.state import ALL_SESSIONS, INIT_MSG, RESUME_MSG, LangRank, Session, State

LANG = ("phase", "waiting_for_input", "status", "conclude_state", "aborted", "n_indices",
        "cached", "partial_total", "partial_delta", "partial_sent_tokens", "partial_len",
        "resume_pending", "draining", "n_free", "n_held")
SESS = ("record", "rec_sent_tokens", "rec_allocated_tokens", "rec_n_dst", "src_known",
        "failed_session", "landed", "awaiting_chunk", "cancel_sent", "cancel_done")
SEND = ("inits", "infos", "status", "chunks", "worker_dead")
GLOBALS = ("encoded", "src_alive", "src_frees", "deadlock", "faulted", "failed_any")


class Lazy(Mapping[str, Term]):
    """Names computed on first use (a query builds only what its clauses mention)."""

    def __init__(self, make: Callable[[], dict[str, Callable[[], Term]]]) -> None:
        self._make = make
        self._thunks: dict[str, Callable[[], Term]] | None = None
        self._vals: dict[str, Term] = {}

    def _t(self) -> dict[str, Callable[[], Term]]:
        if self._thunks is None:
            self._thunks = self._make()
        return self._thunks

    def __getitem__(self, k: str) -> Term:
        if k not in self._vals:
            self._vals[k] = self._t()[k]()
        return self._vals[k]

    def __iter__(self) -> Iterator[str]:
        return iter(self._t())

    def __len__(self) -> int:
        return len(self._t())


@dataclass(frozen=True)
class Name:
    name: str
    kind: str  # "bool" | "int"


def _kind(x: Any) -> str:
    return "bool" if isinstance(x, bool) or (hasattr(x, "sort") and str(x.sort()) == "Bool") \
        else "int"


def _group(make: Callable[[], dict[str, Term]]) -> Callable[[str], Term]:
    """A getter for the names one memoized call of `make` computes."""
    memo: list[dict[str, Term]] = []

    def get(k: str) -> Term:
        if not memo:
            memo.append(make())
        return memo[0][k]
    return get


# -- views ------------------------------------------------------------------------------
def _blocks_view(o: Ops, lr: LangRank, idx: list[Term], n: Term) -> dict[str, Term]:
    live = [q < n for q in range(len(idx))]
    return {
        "owned": o.And(*[o.Or(o.Not(lv), o.select(lr.owned, b, False))
                         for lv, b in zip(live, idx, strict=True)]),
        "distinct": o.And(*[o.Or(o.Not(live[q2]), idx[q1] != idx[q2])
                            for q1 in range(len(idx)) for q2 in range(q1 + 1, len(idx))]),
        "none_free": o.And(*[o.Or(o.Not(lv), o.select(lr.nfree, b, 0) == 0)
                             for lv, b in zip(live, idx, strict=True)]),
    }


def _data(o: Ops, cfg: ModelConfig, lr: LangRank, ss: Session, p: Params) -> dict[str, Term]:
    """Is the data where this request expects it? The cache holds tokens [0, partial_len)
    (read with the writer's strides); the current allocation holds, from position `base`
    (partial_len if cached, else 0), the tokens that have landed since, each block written
    with the stride a full read will use."""
    P = cfg.positions
    cache_ok = o.And(*[o.Or(pos >= lr.partial_len, o.And(
        lr.partial_content[pos] == pos, *[lr.partial_mrope[3 * pos + j] == 3 * pos + j
                                          for j in range(3)])) for pos in range(P)])
    base = o.If(lr.cached, lr.partial_len, 0)
    filled = ss.landed - base
    conds = []
    for q, blk in enumerate(lr.embedding_indices):
        for s in range(cfg.slots):
            pos = o.mul(q, p.bs) + s
            inside = o.And(q < lr.n_indices, s < p.bs, pos < filled)
            c = o.select(lr.content, blk * cfg.slots + s, 0)
            conds.append(o.Or(o.Not(inside), c == base + pos))
        start = o.mul(q, p.bs)
        stride = o.Min(p.bs, filled - start)
        conds.append(o.Or(o.Not(o.And(q < lr.n_indices, start < filled)),
                          o.select(lr.cnt, blk, 0) == stride))
    first = lr.embedding_indices[0]
    aligned = o.mul(o.floor_div(lr.partial_len, p.bs), p.bs) == lr.partial_len
    return {"cache_ok": cache_ok, "alloc_ok": o.And(*conds), "aligned": aligned,
            "aux_ok": o.And(o.select(lr.aux0, first, 0) == p.length,
                            o.select(lr.aux1, first, 0) == p.delta),
            "filled": filled}


def _pool(o: Ops, lr: LangRank) -> dict[str, Term]:
    """The allocator's ghost counts summed over blocks."""
    return {"free_sum": o.Sum(list(lr.nfree)), "held_sum": o.Sum(list(lr.nheld)),
            "owned": o.count(list(lr.owned))}


def _would_handoff(o: Ops, cfg: ModelConfig, lr: LangRank, p: Params) -> dict[str, Term]:
    from ranksync.spec.branches import LangObs
    from ranksync.spec.transfer import _final_assembly
    from ranksync.spec.variants import SEED

    ob = LangObs()
    rd = buffers.get_buf(o, cfg, lr, p.bs)
    # the vocabulary of the designs that have invariants (seed, hardened): partial_aux_datas
    # is a copy (SEED.cache_aux_view is False); a view design (prefix) has no invariant
    over = _final_assembly(o, cfg, SEED, lr, p, ob, True, lr.cached, rd)
    return {"k": ob.length, "intact": ob.intact, "mock": ob.vals["mock"], "overlong": over,
            "emb_len": ob.vals["emb_len"]}


def _would_decide(o: Ops, cfg: ModelConfig, lr: LangRank, p: Params) -> dict[str, Term]:
    rd = buffers.get_buf(o, cfg, lr, p.bs)
    total = o.If(lr.cached, lr.partial_total, rd.n)
    sent = o.If(lr.cached, lr.partial_sent_tokens, rd.k)
    return {"total": total, "sent": sent, "dec": total > sent, "aux0": rd.n, "k": rd.k}


def _would_write(o: Ops, cfg: ModelConfig, lr: LangRank, ss: Session, p: Params
                 ) -> dict[str, Term]:
    remaining = p.length - ss.rec_sent_tokens
    tokens = o.Min(remaining, ss.rec_allocated_tokens)
    d = o.ceil_div(tokens, p.bs)
    return {
        "tokens": tokens, "partial": remaining > ss.rec_allocated_tokens,
        "dies": d > ss.rec_n_dst,
        "owned": o.And(*[o.Or(q >= d, o.select(lr.owned, b, False))
                         for q, b in enumerate(ss.rec_dst)]),
    }


def _queues(o: Ops, ss: Session, idx: list[Term], n: Term) -> dict[str, Term]:
    """The pending messages of both queues; the newest pending init/resume and whether its
    blocks are the current allocation."""
    out: dict[str, Term] = {}
    pend_in = [o.And(m["valid"], j >= ss.inbox_next) for j, m in enumerate(ss.inbox)]
    out["inq.count"] = o.count(pend_in)
    for kind, tag in ((INIT_MSG, "init"), (RESUME_MSG, "resume")):
        is_k = [o.And(p, m["kind"] == kind) for p, m in zip(pend_in, ss.inbox, strict=True)]
        out[f"inq.{tag}s"] = o.count(is_k)
        last: dict[str, Term] = {k: 0 for k in ("sent", "allocated", "n")}
        same: Term = False
        for hit, m in zip(is_k, ss.inbox, strict=True):
            for k in last:
                last[k] = o.If(hit, m[k], last[k])
            same = o.If(hit, o.And(m["n"] == n, *[o.Or(q >= n, b == a) for q, (b, a) in
                                                   enumerate(zip(m["blocks"], idx, strict=True))]),
                        same)
        for k, v in last.items():
            out[f"inq.{tag}.{k}"] = v
        out[f"inq.{tag}.is_a"] = same
    pend_out = [o.And(m["valid"], j >= ss.outbox_next) for j, m in enumerate(ss.outbox)]
    out["outq.count"] = o.count(pend_out)
    hi: Term = -1
    for p, m in zip(pend_out, ss.outbox, strict=True):
        hi = o.If(o.And(p, m["status"] > hi), m["status"], hi)
    out["outq.max"] = hi
    out["outq.failed"] = o.Or(*[o.And(p, m["status"] == 0)
                                for p, m in zip(pend_out, ss.outbox, strict=True)])
    out["outq.success"] = o.Or(*[o.And(p, m["status"] == SUCCESS)
                                 for p, m in zip(pend_out, ss.outbox, strict=True)])
    # every pending message is one the protocol sends
    out["outq.ok"] = o.And(*[o.Or(o.Not(p), m["status"] == FAILED, m["status"] == TRANSFERRING,
                                  m["status"] == SUCCESS)
                             for p, m in zip(pend_out, ss.outbox, strict=True)])
    out["inq.ok"] = o.And(*[o.Or(o.Not(p), m["kind"] == INIT_MSG, m["kind"] == RESUME_MSG)
                            for p, m in zip(pend_in, ss.inbox, strict=True)])
    return out


def _chunks_for(o: Ops, snd: Any, r: int) -> Term:
    """Queued chunks whose target includes session r."""
    return o.count([o.And(q < snd.chunks, o.Or(t == ALL_SESSIONS, t == r))
                    for q, t in enumerate(snd.cq)])


def _rest_all(o: Ops, snd: Any) -> Term:
    """The shard queue's free slots hold ALL_SESSIONS (what a chunk queued without a target
    becomes: `scheduler_send_first_chunk` only counts it)."""
    return o.And(*[o.Or(q < snd.chunks, t == ALL_SESSIONS) for q, t in enumerate(snd.cq)])


def rank(o: Ops, cfg: ModelConfig, st: State, p: Params, r: int) -> Lazy:
    """Every name of rank r: its language state, its session, its sender, and views."""
    lr, ss = st.lang[r], st.sess[r]
    snd = st.send[cfg.sender_of(r)]

    def make() -> dict[str, Callable[[], Term]]:
        out: dict[str, Callable[[], Term]] = {}
        for recd, pre, names in ((lr, "", LANG), (ss, "s.", SESS), (snd, "e.", SEND)):
            for nm in names:
                out[pre + nm] = partial(getattr, recd, nm)
        out["e.mine"] = partial(_chunks_for, o, snd, r)
        out["e.rest_all"] = partial(_rest_all, o, snd)
        for k in range(len(lr.free_slots)):  # the deques, slot by slot (block ids)
            out[f"free{k}"] = partial(_entry, lr.free_slots, k)
            out[f"held{k}"] = partial(_entry, lr.held_slots, k)
        for q in range(len(lr.embedding_indices)):
            out[f"idx{q}"] = partial(_entry, lr.embedding_indices, q)
        out["receives"] = partial(_id, p.receives[r])
        views: list[tuple[str, Callable[[], dict[str, Term]], list[str]]] = [
            ("a.", partial(_blocks_view, o, lr, lr.embedding_indices, lr.n_indices),
             ["owned", "distinct", "none_free"]),
            ("r.", partial(_blocks_view, o, lr, ss.rec_dst, ss.rec_n_dst),
             ["owned", "distinct", "none_free"]),
            ("wh.", partial(_would_handoff, o, cfg, lr, p),
             ["k", "intact", "mock", "overlong", "emb_len"]),
            ("wd.", partial(_would_decide, o, cfg, lr, p), ["total", "sent", "dec", "aux0", "k"]),
            ("wr.", partial(_would_write, o, cfg, lr, ss, p),
             ["tokens", "partial", "dies", "owned"]),
            ("d.", partial(_data, o, cfg, lr, ss, p), ["cache_ok", "alloc_ok", "aux_ok",
                                                       "filled", "aligned"]),
            ("pool.", partial(_pool, o, lr), ["free_sum", "held_sum", "owned"]),
            ("s.", partial(_queues, o, ss, lr.embedding_indices, lr.n_indices),
             [f"inq.{x}" for x in ("count", "inits", "resumes", "init.sent", "init.allocated",
                                   "init.n", "init.is_a", "resume.sent", "resume.allocated",
                                   "resume.n", "resume.is_a")]
             + ["outq.count", "outq.max", "outq.failed", "outq.success", "outq.ok",
                "inq.ok"]),
        ]
        for pre, make_v, vkeys in views:
            get = _group(make_v)
            for vk in vkeys:
                out[pre + vk] = partial(get, vk)
        out["r.is_a"] = partial(_record_is_alloc, o, lr, ss)
        return out

    return Lazy(make)


def _id(x: Term) -> Term:
    return x


def _entry(xs: list[Term], k: int) -> Term:
    return xs[k]


def _record_is_alloc(o: Ops, lr: LangRank, ss: Session) -> Term:
    return o.And(ss.rec_n_dst == lr.n_indices, *[
        o.Or(q >= lr.n_indices, b == a)
        for q, (b, a) in enumerate(zip(ss.rec_dst, lr.embedding_indices, strict=True))])


def block(o: Ops, cfg: ModelConfig, st: State, r: int, b: int) -> dict[str, Term]:
    """Names of block b of rank r."""
    lr, ss = st.lang[r], st.sess[r]
    out: dict[str, Term] = {
        "owned": lr.owned[b], "nfree": lr.nfree[b], "nheld": lr.nheld[b], "cnt": lr.cnt[b],
        "aux0": lr.aux0[b], "aux1": lr.aux1[b], "room": lr.aux_room[b],
        "in_a": o.Or(*[o.And(q < lr.n_indices, x == b)
                       for q, x in enumerate(lr.embedding_indices)]),
        "in_r": o.Or(*[o.And(q < ss.rec_n_dst, x == b) for q, x in enumerate(ss.rec_dst)]),
        # occurrences in the deques (the ghost counts must match them)
        "free_count": o.count([o.And(k < lr.n_free, x == b)
                               for k, x in enumerate(lr.free_slots)]),
        "held_count": o.count([o.And(k < lr.n_held, x == b)
                               for k, x in enumerate(lr.held_slots)]),
    }
    for s in range(cfg.slots):
        out[f"content{s}"] = lr.content[b * cfg.slots + s]
    return out


def globals_(st: State, p: Params) -> dict[str, Term]:
    out: dict[str, Term] = {k: getattr(st, k) for k in GLOBALS}
    out.update(L=p.length, bs=p.bs, D=p.default_tokens, delta=p.delta,
               P=len(st.lang[0].owned) if st.lang else 0)  # the pool, blocks per rank
    return out


def names(cfg: ModelConfig) -> tuple[list[Name], list[Name], list[Name]]:
    """The rank, block and global names with their kinds (from a concrete template)."""
    from ranksync.spec.ops import PyOps

    from .frame import _template

    st = _template(cfg)
    o = PyOps(cfg.block_sizes)
    p = Params(length=1, bs=cfg.block_sizes[0], default_tokens=1,
               receives=[True] * cfg.tp_size, delta=cfg.mrope_delta)
    rk = [Name(k, _kind(v)) for k, v in rank(o, cfg, st, p, 0).items()]
    bk = [Name(k, _kind(v)) for k, v in block(o, cfg, st, 0, 0).items()]
    gk = [Name(k, _kind(v)) for k, v in globals_(st, p).items()]
    return rk, bk, gk
