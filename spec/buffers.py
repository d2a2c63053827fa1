"""`MultimodalDataBuffers` reads and writes of one language rank (protocol.md §5.1), on content
ids (spec/content.py).

A read returns, position by position, the content id of each token and the three mrope values
of its column. The mrope rows of a block are laid out with the writer's t as row stride, so a
reader that uses another t gets the values of other slots and rows: value `(row, slot)` of a
read with stride `t` is flat index `row * t + slot` of the block, which the last write (stride
`cnt`) filled iff it is below `3 * cnt`; beyond that it comes from an older write, which the
model does not track (`mrope_unknown`).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import content as ids
from .config import ModelConfig
from .ops import Ops, Term
from .state import LangRank


@dataclass
class Read:
    n: Term  # the count the reader was driven by (aux[0] for get_buf)
    k: Term  # tokens returned
    content: list[Term]  # per position (meaningful below k)
    mrope: list[Term]  # per position and row
    aux1: Term  # aux[1] of the first block


def _mrope_value(o: Ops, cfg: ModelConfig, slots: list[Term], t_w: Term, s: int, row: int,
                 t_read: Term, v: int) -> Term:
    """Row `row` of slot `s` of a block (its slots' ids `slots`, last written with stride
    t_w) read with stride t_read (<= block size v)."""
    unknown = ids.mrope_unknown(cfg)
    out: Term = unknown
    for tr in range(s + 1, v + 1):  # slot s is read only if s < t_read
        per_w: Term = unknown
        for tw in range(1, cfg.slots + 1):
            idx = row * tr + s
            val = 3 * slots[idx % tw] + idx // tw if idx < 3 * tw else unknown
            per_w = o.If(t_w == tw, val, per_w)
        out = o.If(t_read == tr, per_w, out)
    return out


def gather(o: Ops, cfg: ModelConfig, lr: LangRank, blocks: list[Term], nblocks: Term,
           want: Term, bs: Term) -> Read:
    """Walk `blocks` taking t = min(bs, want - gathered) tokens each, stop when t <= 0.
    The common loop of get_buf and of the resumed assembly (§8.4)."""
    mb, S = len(blocks), cfg.slots
    # each block's slot ids and last-write stride, read once
    held = [[o.select(lr.content, blk * S + s, ids.ZERO) for s in range(S)] for blk in blocks]
    strides = [o.select(lr.cnt, blk, 0) for blk in blocks]
    unknown = ids.mrope_unknown(cfg)
    content: list[Term] = []
    mrope: list[Term] = []
    for p in range(cfg.positions):
        def at(v: int, p: int = p) -> tuple[Term, list[Term]]:
            q, s = divmod(p, v)
            if q >= mb:
                return ids.ZERO, [unknown] * 3
            t_read = o.Min(v, want - q * v)
            return held[q][s], [_mrope_value(o, cfg, held[q], strides[q], s, j, t_read, v)
                                for j in range(3)]
        c, m = at(cfg.block_sizes[-1])
        for v in reversed(cfg.block_sizes[:-1]):
            c2, m2 = at(v)
            c = o.If(bs == v, c2, c)
            m = [o.If(bs == v, y, x) for x, y in zip(m, m2, strict=True)]
        content.append(c)
        mrope += m
    k = o.Min(o.Max(want, 0), o.mul(nblocks, bs))
    return Read(n=want, k=k, content=content, mrope=mrope,
                aux1=o.select(lr.aux1, blocks[0], 0))


def get_buf(o: Ops, cfg: ModelConfig, lr: LangRank, bs: Term) -> Read:
    """get_buf(embedding_indices): n := aux[0] of the first block, gather n tokens."""
    n = o.select(lr.aux0, lr.embedding_indices[0], 0)
    return gather(o, cfg, lr, lr.embedding_indices, lr.n_indices, n, bs)


def write_block(o: Ops, cfg: ModelConfig, lr: LangRank, block: Term, when: Term, start: Term,
                t: Term, alive: Term, aux: Term, length: Term, delta: Term) -> None:
    """One block pair of send_embedding (§7.3 step 5): t tokens from source position `start`
    (garbage if the source blocks were freed: not `alive`), and the aux row if `aux`."""
    gb = ids.garbage_base(cfg)
    for b in range(cfg.pool_blocks):
        hit = o.And(when, block == b)
        for s in range(cfg.slots):
            i = b * cfg.slots + s
            val = o.If(alive, start + s, -(gb + start + s))
            lr.content[i] = o.If(o.And(hit, s < t), val, lr.content[i])
        lr.cnt[b] = o.If(hit, t, lr.cnt[b])
        lr.aux0[b] = o.If(o.And(hit, aux), length, lr.aux0[b])
        lr.aux1[b] = o.If(o.And(hit, aux), delta, lr.aux1[b])
        lr.aux_room[b] = o.Or(o.And(hit, aux), lr.aux_room[b])  # rows without aux stay
