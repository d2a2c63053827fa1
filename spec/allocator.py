"""`ReqToMetadataBlockAllocator` of one language rank (protocol.md §5.2), over `Ops`, and the
other live requests that share its pool.

free_blocks is a FIFO deque kept as a fixed window `free_slots[:n_free]` (head at 0); alloc
pops from the head, free appends to the tail with no ownership or duplicate check, exactly
like the engine. The blocks other requests hold are `held_slots[:n_held]`, in the order they
will free them: `others_free` appends the oldest to the free tail, `others_alloc` takes every
free block (pool pressure). So under pressure the deque hands back the very blocks a rank has
just freed, with whatever they still hold. `owned`/`nfree`/`nheld` are ghost variables for the
ownership and conservation properties.
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


def _append(o: Ops, slots: list[Term], n: Term, blocks: list[Term], k: Term, when: Term
            ) -> list[Term]:
    """slots with blocks[:k] written at positions n, n+1, ... (a deque append)."""
    out = list(slots)
    for s in range(len(out)):
        v = out[s]
        for i in range(min(len(blocks), s + 1)):
            v = o.If(o.And(when, i < k, n + i == s), blocks[i], v)
        out[s] = v
    return out


def _pop(o: Ops, slots: list[Term], k: Term, when: Term, limit: int) -> list[Term]:
    """slots without their first k (k <= limit) entries."""
    w = len(slots)
    shifted = [o.select(slots[i:i + limit + 1], k, 0) for i in range(w)]
    return [o.If(when, shifted[i], slots[i]) for i in range(w)]


def alloc(o: Ops, lr: LangRank, num_tokens: Term, bs: Term, max_blocks: int,
          when: Term = True) -> AllocResult:
    """alloc(num_tokens): ceil(num_tokens / bs) blocks from the head, or None if fewer are
    free. Only acts `when` the engine calls it. Requests for more than the whole pool are None
    as well (only differs from the engine once a double free has put duplicates in the deque,
    which `conservation` already reports)."""
    need = o.ceil_div(num_tokens, bs)
    ok = o.And(when, need <= lr.n_free, need <= max_blocks)
    blocks = lr.free_slots[:max_blocks]
    for b in range(len(lr.owned)):
        hits = o.count([o.And(i < need, blocks[i] == b) for i in range(max_blocks)])
        lr.owned[b] = o.Or(lr.owned[b], o.And(ok, hits > 0))
        lr.nfree[b] = lr.nfree[b] - o.If(ok, hits, 0)
    lr.free_slots = _pop(o, lr.free_slots, need, ok, max_blocks)
    lr.n_free = o.If(ok, lr.n_free - need, lr.n_free)
    return AllocResult(ok=ok, blocks=blocks, n=o.If(ok, need, 0))


def free(o: Ops, lr: LangRank, blocks: list[Term], n: Term, when: Term = True) -> Term:
    """free(block_indices): append to the tail. Returns "freed a block this request does not
    own" (a double free, or a foreign block)."""
    mb = len(blocks)
    foreign = o.Or(*[o.And(when, i < n, o.Not(o.select(lr.owned, blocks[i], False)))
                     for i in range(mb)])
    lr.free_slots = _append(o, lr.free_slots, lr.n_free, blocks, n, when)
    for b in range(len(lr.owned)):
        hits = o.count([o.And(when, i < n, blocks[i] == b) for i in range(mb)])
        lr.owned[b] = o.And(lr.owned[b], hits == 0)
        lr.nfree[b] = lr.nfree[b] + hits
    lr.n_free = o.If(when, lr.n_free + n, lr.n_free)
    return foreign


def others_free(o: Ops, lr: LangRank, when: Term) -> None:
    """Another live request frees the block it has held longest (to the tail of the deque)."""
    go = o.And(when, lr.n_held > 0)
    b = lr.held_slots[0]
    lr.held_slots = _pop(o, lr.held_slots, 1, go, 1)
    lr.n_held = o.If(go, lr.n_held - 1, lr.n_held)
    lr.free_slots = _append(o, lr.free_slots, lr.n_free, [b], 1, go)
    lr.n_free = o.If(go, lr.n_free + 1, lr.n_free)
    for x in range(len(lr.nheld)):
        hit = o.And(go, b == x)
        lr.nheld[x] = o.If(hit, lr.nheld[x] - 1, lr.nheld[x])
        lr.nfree[x] = o.If(hit, lr.nfree[x] + 1, lr.nfree[x])


def others_alloc(o: Ops, lr: LangRank, when: Term, slots: int, aux0: list[Term],
                 aux1: list[Term], content: list[Term]) -> list[Term]:
    """Other requests allocate every free block (pool pressure): the deque is emptied into
    their held list. What they leave in a block (`aux0[b]`, `aux1[b]`, `content[b*slots+s]`)
    is in place for when it comes back. Returns, per block, whether it was taken."""
    taken = [o.And(when, lr.nfree[b] > 0) for b in range(len(lr.nfree))]
    lr.held_slots = _append(o, lr.held_slots, lr.n_held, lr.free_slots, lr.n_free, when)
    lr.n_held = o.If(when, lr.n_held + lr.n_free, lr.n_held)
    lr.n_free = o.If(when, 0, lr.n_free)
    for b, t in enumerate(taken):
        lr.nheld[b] = o.If(t, lr.nheld[b] + lr.nfree[b], lr.nheld[b])
        lr.nfree[b] = o.If(t, 0, lr.nfree[b])
        lr.aux0[b] = o.If(t, aux0[b], lr.aux0[b])
        lr.aux1[b] = o.If(t, aux1[b], lr.aux1[b])
        lr.aux_room[b] = o.And(lr.aux_room[b], o.Not(t))
        lr.cnt[b] = o.If(t, 0, lr.cnt[b])
        for s in range(slots):
            i = b * slots + s
            lr.content[i] = o.If(t, content[i], lr.content[i])
    return taken
