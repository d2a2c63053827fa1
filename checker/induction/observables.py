"""Named quantities of a model state, the vocabulary of invariants.

An invariant clause speaks of one rank `i` (or two, `i` and `j`), of a block `b` of a rank,
and of the globals `g`. This module turns a `State` (of Python values or of Z3 terms) into
those names; the same code serves mining (on reachable concrete states) and checking (on a
frame). Besides the state variables themselves it names a few *views* that invariants of
this protocol need: the current allocation's blocks seen through the buffers and the
allocator (`a0.owned`, `a0.content0`, ...), the session record's blocks likewise, and the
pending messages in the two queues.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, fields
from functools import partial
from typing import Any

from ranksync.spec.config import ModelConfig
from ranksync.spec.embedding import Params
from ranksync.spec.ops import Ops, Term
from ranksync.spec.state import INIT_MSG, RESUME_MSG, LangRank, Session, State

LANG_SKIP = {"embedding_indices", "free_slots", "held_slots", "owned", "nfree", "nheld",
             "content", "cnt", "aux0", "aux1", "aux_room", "partial_content", "partial_mrope"}
SESS_SKIP = {"inbox", "outbox", "inbox_next", "outbox_next", "rec_dst"}
SEND_SKIP = {"cq"}
GLOBALS = ("encoded", "src_alive", "src_frees", "deadlock", "faulted")


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


def _views(o: Ops, cfg: ModelConfig, lr: LangRank, idx: list[Term], n: Term, pre: str
           ) -> dict[str, Term]:
    """Block list `idx[:n]` seen through the rank's allocator and buffers, entry by entry."""
    out: dict[str, Term] = {}
    S = cfg.slots
    for q, b in enumerate(idx):
        k = f"{pre}{q}"
        out[f"{k}.live"] = q < n
        out[f"{k}.owned"] = o.select(lr.owned, b, False)
        out[f"{k}.nfree"] = o.select(lr.nfree, b, 0)
        out[f"{k}.cnt"] = o.select(lr.cnt, b, 0)
        for s in range(S):
            out[f"{k}.content{s}"] = o.select(lr.content, b * S + s, 0)
    out[f"{pre}0.aux0"] = o.select(lr.aux0, idx[0], 0)
    out[f"{pre}0.aux1"] = o.select(lr.aux1, idx[0], 0)
    out[f"{pre}0.room"] = o.select(lr.aux_room, idx[0], False)
    for q1 in range(len(idx)):
        for q2 in range(q1 + 1, len(idx)):
            out[f"{pre}{q1}.same{q2}"] = idx[q1] == idx[q2]
    return out


def _queues(o: Ops, ss: Session, idx: list[Term]) -> dict[str, Term]:
    """The pending messages of both queues; the newest pending resume's fields, and whether
    its blocks are the current allocation's."""
    out: dict[str, Term] = {}
    pend_in = [o.And(m["valid"], j >= ss.inbox_next) for j, m in enumerate(ss.inbox)]
    out["inq.count"] = o.count(pend_in)
    for kind, tag in ((INIT_MSG, "init"), (RESUME_MSG, "resume")):
        is_k = [o.And(p, m["kind"] == kind) for p, m in zip(pend_in, ss.inbox, strict=True)]
        out[f"inq.{tag}s"] = o.count(is_k)
        last: dict[str, Term] = {k: 0 for k in ("sent", "allocated", "n")}
        blocks: list[Term] = [0] * len(idx)
        for hit, m in zip(is_k, ss.inbox, strict=True):
            for k in last:
                last[k] = o.If(hit, m[k], last[k])
            blocks = [o.If(hit, x, y) for x, y in zip(m["blocks"], blocks, strict=True)]
        for k, v in last.items():
            out[f"inq.{tag}.{k}"] = v
        for q, (b, a) in enumerate(zip(blocks, idx, strict=True)):
            out[f"inq.{tag}.blocks{q}_is_a{q}"] = b == a
    pend_out = [o.And(m["valid"], j >= ss.outbox_next) for j, m in enumerate(ss.outbox)]
    out["outq.count"] = o.count(pend_out)
    hi: Term = -1
    for p, m in zip(pend_out, ss.outbox, strict=True):
        hi = o.If(o.And(p, m["status"] > hi), m["status"], hi)
    out["outq.max"] = hi
    out["outq.failed"] = o.Or(*[o.And(p, m["status"] == 0)
                                for p, m in zip(pend_out, ss.outbox, strict=True)])
    return out


def _group(make: Callable[[], dict[str, Term]], keys: list[str]
           ) -> dict[str, Callable[[], Term]]:
    """Thunks for `keys`, all served by one memoized call of `make`."""
    memo: list[dict[str, Term]] = []

    def get(k: str) -> Term:
        if not memo:
            memo.append(make())
        return memo[0][k]
    return {k: partial(get, k) for k in keys}


def rank(o: Ops, cfg: ModelConfig, st: State, p: Params, r: int) -> Lazy:
    """Every name of rank r: its language state, its session, its sender, and views."""
    lr, ss = st.lang[r], st.sess[r]
    snd = st.send[cfg.sender_of(r)]
    mb = cfg.max_blocks

    def make() -> dict[str, Callable[[], Term]]:
        out: dict[str, Callable[[], Term]] = {}
        for rec, pre, skip in ((lr, "", LANG_SKIP), (ss, "s.", SESS_SKIP),
                               (snd, "e.", SEND_SKIP)):
            for f in fields(rec):
                if f.name not in skip:
                    out[pre + f.name] = partial(getattr, rec, f.name)
        out["e.cq0"] = partial(operator.getitem, snd.cq, 0)
        out["receives"] = partial(operator.getitem, p.receives, r)
        for pre, idx, n in (("a", lr.embedding_indices, lr.n_indices),
                            ("r", ss.rec_dst, ss.rec_n_dst)):
            out.update(_group(partial(_views, o, cfg, lr, idx, n, pre), _view_names(cfg, pre)))
        for q in range(mb):
            out[f"r{q}.is_a{q}"] = partial(operator.eq, ss.rec_dst[q], lr.embedding_indices[q])
        qkeys = [f"s.{k}" for k in _queue_names(mb)]
        out.update(_group(partial(_prefixed, "s.", partial(_queues, o, ss,
                                                           lr.embedding_indices)), qkeys))
        for pos in range(cfg.positions):
            out[f"partial_content{pos}"] = partial(operator.getitem, lr.partial_content, pos)
        return out

    return Lazy(make)


def _prefixed(pre: str, make: Callable[[], dict[str, Term]]) -> dict[str, Term]:
    return {pre + k: v for k, v in make().items()}


def _view_names(cfg: ModelConfig, pre: str) -> list[str]:
    mb = cfg.max_blocks
    out = []
    for q in range(mb):
        out += [f"{pre}{q}.live", f"{pre}{q}.owned", f"{pre}{q}.nfree", f"{pre}{q}.cnt"]
        out += [f"{pre}{q}.content{s}" for s in range(cfg.slots)]
    out += [f"{pre}0.aux0", f"{pre}0.aux1", f"{pre}0.room"]
    out += [f"{pre}{q1}.same{q2}" for q1 in range(mb) for q2 in range(q1 + 1, mb)]
    return out


def _queue_names(mb: int) -> list[str]:
    out = ["inq.count"]
    for tag in ("init", "resume"):
        out += [f"inq.{tag}s", f"inq.{tag}.sent", f"inq.{tag}.allocated", f"inq.{tag}.n"]
        out += [f"inq.{tag}.blocks{q}_is_a{q}" for q in range(mb)]
    return out + ["outq.count", "outq.max", "outq.failed"]


def block(o: Ops, cfg: ModelConfig, st: State, r: int, b: int) -> dict[str, Term]:
    """Names of block b of rank r."""
    lr, ss = st.lang[r], st.sess[r]
    out: dict[str, Term] = {
        "owned": lr.owned[b], "nfree": lr.nfree[b], "nheld": lr.nheld[b], "cnt": lr.cnt[b],
        "aux0": lr.aux0[b], "aux1": lr.aux1[b], "room": lr.aux_room[b],
        "in_a": o.Or(*[o.And(q < lr.n_indices, x == b)
                       for q, x in enumerate(lr.embedding_indices)]),
        "in_r": o.Or(*[o.And(q < ss.rec_n_dst, x == b) for q, x in enumerate(ss.rec_dst)]),
    }
    for s in range(cfg.slots):
        out[f"content{s}"] = lr.content[b * cfg.slots + s]
    return out


def globals_(st: State, p: Params) -> dict[str, Term]:
    out: dict[str, Term] = {k: getattr(st, k) for k in GLOBALS}
    out.update(L=p.length, bs=p.bs, D=p.default_tokens)
    return out


def names(cfg: ModelConfig) -> tuple[list[Name], list[Name], list[Name]]:
    """The rank, block and global names with their kinds (from a concrete template)."""
    from ranksync.spec.ops import PyOps

    from .frame import _template

    st = _template(cfg)
    o = PyOps(cfg.block_sizes)
    p = Params(length=1, bs=cfg.block_sizes[0], default_tokens=1,
               receives=[True] * cfg.tp_size, delta=cfg.mrope_delta)
    st.sess[0].inbox.append({"valid": False, "kind": 0, "sent": 0, "allocated": 0,
                             "blocks": [0] * cfg.max_blocks, "n": 0})
    rk = [Name(k, _kind(v)) for k, v in rank(o, cfg, st, p, 0).items()]
    bk = [Name(k, _kind(v)) for k, v in block(o, cfg, st, 0, 0).items()]
    gk = [Name(k, _kind(v)) for k, v in globals_(st, p).items()]
    return rk, bk, gk
