"""`MultimodalDataBuffers` reads and writes of one language rank (protocol.md §5.1), on tags.

A read of t tokens from block b is *correct* at position `pos` when the block holds source
tokens starting at `pos` (tag == pos) and at least t of them were written (t <= cnt). It is
*exact* when t == cnt: the mrope rows are laid out with the writer's t as row stride, so a
reader using another t gets wrong positions even though the rows and ids are right.
"""

from __future__ import annotations

from dataclasses import dataclass

from .ops import Ops, Term
from .state import LangRank


@dataclass
class Read:
    n: Term  # the count the reader was driven by (aux[0] for get_buf)
    k: Term  # tokens returned
    ok: Term  # rows/ids are source tokens [start, start+k) in order
    exact: Term  # and the mrope rows too
    aux1: Term  # aux[1] of the first block


def gather(o: Ops, lr: LangRank, blocks: list[Term], nblocks: Term, want: Term, bs: Term,
           start: Term) -> Read:
    """Walk `blocks` taking t = min(bs, want - gathered) tokens each, stop when t <= 0.
    The common loop of get_buf and of the resumed assembly (§8.4)."""
    ok: Term = True
    exact: Term = True
    for i in range(len(blocks)):
        t = o.Min(bs, want - i * bs)
        used = o.And(i < nblocks, t > 0)
        tag = o.select(lr.tag, blocks[i], 0)
        cnt = o.select(lr.cnt, blocks[i], 0)
        ok = o.And(ok, o.Or(o.Not(used), o.And(tag == start + i * bs, t <= cnt)))
        exact = o.And(exact, o.Or(o.Not(used), t == cnt))
    k = o.Min(o.Max(want, 0), o.mul(nblocks, bs))
    return Read(n=want, k=k, ok=ok, exact=exact, aux1=o.select(lr.aux1, blocks[0], 0))


def get_buf(o: Ops, lr: LangRank, bs: Term) -> Read:
    """get_buf(embedding_indices): n := aux[0] of the first block, gather n tokens."""
    n = o.select(lr.aux0, lr.embedding_indices[0], 0)
    return gather(o, lr, lr.embedding_indices, lr.n_indices, n, bs, 0)


def write_block(o: Ops, lr: LangRank, block: Term, when: Term, tag: Term, cnt: Term,
                aux: Term, length: Term, delta: Term) -> None:
    """One block pair of send_embedding (§7.3 step 5): data, and the aux row if `aux`."""
    for b in range(len(lr.tag)):
        hit = o.And(when, block == b)
        lr.tag[b] = o.If(hit, tag, lr.tag[b])
        lr.cnt[b] = o.If(hit, cnt, lr.cnt[b])
        lr.aux0[b] = o.If(o.And(hit, aux), length, lr.aux0[b])
        lr.aux1[b] = o.If(o.And(hit, aux), delta, lr.aux1[b])
        lr.aux_room[b] = o.Or(o.And(hit, aux), lr.aux_room[b])  # rows without aux stay
