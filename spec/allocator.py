"""`ReqToMetadataBlockAllocator` of one language rank (protocol.md §5.2), over `Ops`.

free_blocks is a FIFO deque kept as a fixed window `free_slots[:n_free]` (head at 0); alloc
pops from the head, free appends to the tail with no ownership or duplicate check, exactly
like the engine. The window holds the whole pool plus room for the duplicates of two double
frees; only a run that has already broken `conservation` could overflow it. `owned`/`nfree`
are ghost variables for the ownership and conservation properties.
"""

from __future__ import annotations

from dataclasses import dataclass

from .ops import Ops, Term
from .state import LangRank


@dataclass
class AllocResult:
    ok: Term  # not None
    blocks: list[Term]
    n: Term


def alloc(o: Ops, lr: LangRank, num_tokens: Term, bs: Term, fail: Term, max_blocks: int,
          when: Term = True) -> AllocResult:
    """alloc(num_tokens): ceil(num_tokens / bs) blocks from the head, or None if fewer are free.

    Only acts `when` the engine calls it. `fail` models blocks held by other requests. Requests for more than the
    whole pool are None as well (only differs from the engine once a double free has put
    duplicates in the deque, which `conservation` already reports)."""
    need = o.ceil_div(num_tokens, bs)
    ok = o.And(when, o.Not(fail), need <= lr.n_free, need <= max_blocks)
    blocks = lr.free_slots[:max_blocks]
    p = len(lr.owned)
    for b in range(p):
        hits = o.count([o.And(i < need, blocks[i] == b) for i in range(max_blocks)])
        lr.owned[b] = o.Or(lr.owned[b], o.And(ok, hits > 0))
        lr.nfree[b] = lr.nfree[b] - o.If(ok, hits, 0)
    w = len(lr.free_slots)
    shifted = [o.select(lr.free_slots[i:i + max_blocks + 1], need, 0) for i in range(w)]
    lr.free_slots = [o.If(ok, shifted[i], lr.free_slots[i]) for i in range(w)]
    lr.n_free = o.If(ok, lr.n_free - need, lr.n_free)
    return AllocResult(ok=ok, blocks=blocks, n=o.If(ok, need, 0))


def free(o: Ops, lr: LangRank, blocks: list[Term], n: Term, when: Term = True) -> Term:
    """free(block_indices): append to the tail. Returns "freed a block this request does not
    own" (a double free, or a foreign block)."""
    mb = len(blocks)
    foreign = o.Or(*[o.And(when, i < n, o.Not(o.select(lr.owned, blocks[i], False)))
                     for i in range(mb)])
    new_slots = list(lr.free_slots)
    for s in range(len(new_slots)):
        v = new_slots[s]
        for i in range(min(mb, s + 1)):
            v = o.If(o.And(when, i < n, lr.n_free + i == s), blocks[i], v)
        new_slots[s] = v
    lr.free_slots = new_slots
    for b in range(len(lr.owned)):
        hits = o.count([o.And(when, i < n, blocks[i] == b) for i in range(mb)])
        lr.owned[b] = o.And(lr.owned[b], hits == 0)
        lr.nfree[b] = lr.nfree[b] + hits
    lr.n_free = o.If(when, lr.n_free + n, lr.n_free)
    return foreign
