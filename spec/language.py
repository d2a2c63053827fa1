"""Language-side actions: one scheduler iteration on every TP rank (protocol.md §8.2, §8.3).

`process_multimodal_language_queue` runs the engine's steps on all ranks in lockstep, with the
engine's names (reference/language.py has the same ones): `deferred_frees` (design `cancel`),
the abort requests, `pop_preallocated` (`_update_handshake_waiters`, `alloc`,
`agree_on_alloc`, `receiver.init`), then `pop_transferred` (spec/transfer.py). Each MIN/MAX
all-reduce is computed across ranks between the per-rank parts. If the ranks' sequences of
collective calls differ, the iteration cannot complete (a hang or mismatched reduction):
`deadlock` is set by the model step and the state is meaningless from there on.

Branch labels name the engine's branches of §8.3/§8.4 (see BRANCHES).
"""

from __future__ import annotations

from . import allocator
from .branches import (
    LEFT_NO,
    LEFT_REMOVED,
    PRE_HANDSHAKE_FAILED,
    PRE_INIT,
    PRE_NO_SPACE,
    PRE_NONE,
    PRE_WAIT,
    LangObs,
    abort_requests,
    agree_on_alloc,
    commit_if_agreed,
    deferred_frees,
    poll_if,
    send_message,
)
from .config import FAILED, WAITING_FOR_INPUT, ModelConfig
from .embedding import Params, collective
from .ops import Ops, Term
from .state import DONE, FAILED_OUT, INIT_MSG, PREALLOC, TRANSFER, State
from .transfer import pop_transferred
from .variants import Variant


def _update_handshake_waiters(o: Ops, p: Params, st: State, obs: list[LangObs], when: Term
                              ) -> list[Term]:
    """MIN-poll the prealloc queue (if some entry is not yet waiting_for_input): WaitingForInput
    marks it waiting, Failed removes it ("handshake failed"). Returns per rank: removed."""
    polls = []
    for lr, ob in zip(st.lang, obs, strict=True):
        ob.poll_pre = o.And(when, lr.phase == PREALLOC, o.Not(lr.waiting_for_input))
        polls.append(poll_if(o, lr, ob.poll_pre))
    p_pre = collective(o, p, "poll_prealloc", polls, "min")
    out = []
    for lr, ob in zip(st.lang, obs, strict=True):
        ob.vals["p_pre"] = p_pre
        lr.waiting_for_input = o.Or(lr.waiting_for_input,
                                    o.And(ob.poll_pre, p_pre == WAITING_FOR_INPUT))
        failed = o.And(ob.poll_pre, p_pre == FAILED)
        lr.phase = o.If(failed, FAILED_OUT, lr.phase)
        ob.vals["reason_abort_hs"] = lr.aborted
        out.append(failed)
    return out


def pop_preallocated(o: Ops, cfg: ModelConfig, v: Variant, st: State, p: Params,
                     obs: list[LangObs], when: Term) -> None:
    """§8.3: handshake waiters, then the first allocation and `init` of a waiting request."""
    hs_failed = _update_handshake_waiters(o, p, st, obs, when)
    tries, calls, allocs = [], [], []
    for lr in st.lang:
        try_alloc = o.And(when, lr.phase == PREALLOC, lr.waiting_for_input)
        called = o.And(try_alloc, lr.n_free > 0)  # available_size() > 0
        tries.append(try_alloc)
        calls.append(called)
        allocs.append(allocator.alloc(o, lr, p.default_tokens, p.bs, cfg.max_blocks, called))
    agreed = agree_on_alloc(o, p, "agree_prealloc", [a.ok for a in allocs], tries) \
        if v.alloc_agree else True
    for r, lr in enumerate(st.lang):
        ob, a, try_alloc = obs[r], allocs[r], tries[r]
        ok, rollback = a.ok, False
        if v.alloc_agree:
            ob.n_min_pre = try_alloc
            ok, rollback = commit_if_agreed(o, lr, ob, a, agreed)
        lr.embedding_indices = [o.If(ok, a.blocks[i], lr.embedding_indices[i])
                                for i in range(cfg.max_blocks)]
        lr.n_indices = o.If(ok, a.n, lr.n_indices)
        allocated = o.mul(a.n, p.bs)
        send_message(st, r, ok, INIT_MSG, 0, allocated, a.blocks, a.n)  # receiver.init
        lr.phase = o.If(ok, TRANSFER, lr.phase)
        ob.pre_branch = o.If(hs_failed[r], PRE_HANDSHAKE_FAILED,
                             o.If(ok, PRE_INIT, o.If(try_alloc, PRE_NO_SPACE,
                                                     o.If(ob.poll_pre, PRE_WAIT, PRE_NONE))))
        ob.vals.update(pre_num_tokens=p.default_tokens, pre_alloc_called=calls[r],
                       pre_alloc_blocks=a.blocks, pre_alloc_n=a.n, pre_alloc_ok=a.ok,
                       pre_allocated=allocated, pre_agreed=agreed, pre_rollback=rollback)


def process_multimodal_language_queue(o: Ops, cfg: ModelConfig, v: Variant, st: State,
                                      p: Params, abort: Term, when: Term) -> list[LangObs]:
    """One scheduler iteration on every rank (§8.2)."""
    obs = [LangObs() for _ in st.lang]
    before = [lr.phase for lr in st.lang]
    if v.cancel:
        for lr, ob in zip(st.lang, obs, strict=True):
            deferred_frees(o, lr, ob, when)
    for lr in st.lang:  # abort requests are broadcast input, handled before the queues (§11)
        abort_requests(o, lr, abort, when)
    pop_preallocated(o, cfg, v, st, p, obs, when)
    pop_transferred(o, cfg, v, st, p, obs, when)
    for lr, ob, ph in zip(st.lang, obs, before, strict=True):
        out = o.And(o.Or(ph == PREALLOC, ph == TRANSFER),
                    o.Or(lr.phase == DONE, lr.phase == FAILED_OUT))
        ob.left = o.If(out, o.If(lr.phase == DONE, ob.left, LEFT_REMOVED), LEFT_NO)
    return obs
