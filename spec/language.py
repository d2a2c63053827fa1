"""Language-side actions: one scheduler iteration on every TP rank (protocol.md §8).

`process_multimodal_language_queue` runs `pop_preallocated` then `pop_transferred` on all
ranks in lockstep; each MIN/MAX all-reduce is computed across ranks. If the ranks' sequences
of collective calls differ, the iteration cannot complete (a hang or mismatched reduction):
`deadlock` is set and the state is left as it was.

Branch labels name the engine's branches of §8.3/§8.4 (see BRANCHES).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from . import allocator, buffers
from .config import FAILED, SUCCESS, TRANSFERRING, WAITING_FOR_INPUT, ModelConfig
from .embedding import Params, collective
from .ops import Ops, Term
from .state import (
    DONE,
    FAILED_OUT,
    INIT_MSG,
    NO_LATCH,
    PREALLOC,
    RESUME_MSG,
    TRANSFER,
    LangRank,
    State,
)
from .variants import Variant

NOT_POLLED = 7  # above every KVPoll value: a rank that does not poll does not lower the MIN
# prealloc queue (§8.3)
PRE_NONE, PRE_WAIT, PRE_HANDSHAKE_FAILED, PRE_NO_SPACE, PRE_INIT = 0, 1, 2, 3, 4
# transfer queue (§8.4)
TR_NONE, TR_WAIT, TR_FAILED, TR_SUCCESS, TR_SUCCESS_RESUMED, TR_OVERLONG = 0, 1, 2, 3, 4, 5
TR_RESUME, TR_NO_MEMORY, TR_UNEXPECTED, TR_WAIT_RESUME = 6, 7, 8, 9
PRE_BRANCHES = {PRE_NONE: "-", PRE_WAIT: "prealloc: waiting",
                PRE_HANDSHAKE_FAILED: "prealloc: handshake failed",
                PRE_NO_SPACE: "prealloc: no space", PRE_INIT: "prealloc: alloc + init"}
TR_BRANCHES = {TR_NONE: "-", TR_WAIT: "Bootstrapping/WaitingForInput: nothing",
               TR_FAILED: "Failed: failure handler", TR_SUCCESS: "Success: get_buf + final assembly",
               TR_SUCCESS_RESUMED: "Success: resumed assembly + final assembly",
               TR_OVERLONG: "Success: ori_input_length > embedding_length -> failure handler",
               TR_RESUME: "Transferring: L > S -> resume", TR_NO_MEMORY:
               "Transferring: L > S, alloc None -> failure handler",
               TR_UNEXPECTED: "Transferring: L <= S -> 'Unexpected' warning",
               TR_WAIT_RESUME: "Transferring: resume outstanding -> wait (hardened)"}


@dataclass
class LangObs:
    """Everything one rank did in one iteration, as terms (rendered by spec.render)."""

    pre_branch: Term = PRE_NONE
    tr_branch: Term = TR_NONE
    poll_pre: Term = False  # issued the prealloc MIN all-reduce
    poll_tr: Term = False  # issued the transfer MIN all-reduce
    n_max: Term = 0  # MAX all-reduces issued (0 or 2)
    vals: dict[str, Term] = field(default_factory=dict)
    bad_free: Term = False
    freed: Term = False  # free() was called
    handoff: Term = False
    intact: Term = True
    resume: Term = False
    resume_invalid: Term = False
    decision: Term = False  # the Transferring procedure ran (L, S are in vals)
    n_min_pre: Term = False  # alloc_agree: issued the prealloc agreement MIN all-reduce
    n_min_tr: Term = False  # alloc_agree: issued the resume agreement MIN all-reduce
    kept_freed: Term = False  # cancel: freed the kept blocks once Failed was delivered


def poll(o: Ops, lr: LangRank) -> Term:
    """receiver.poll() (§3.2): latched state, else request_status, latching Success/Failed."""
    p = o.If(lr.conclude_state != NO_LATCH, lr.conclude_state, lr.status)
    lr.conclude_state = o.If(o.And(lr.conclude_state == NO_LATCH,
                                   o.Or(lr.status == SUCCESS, lr.status == FAILED)),
                             lr.status, lr.conclude_state)
    return p


def send_message(st: State, r: int, valid: Term, kind: int, sent: Term, allocated: Term,
                 blocks: list[Term], n: Term) -> None:
    st.sess[r].inbox.append({"valid": valid, "kind": kind, "sent": sent,
                             "allocated": allocated, "blocks": list(blocks), "n": n})


def handle_failed_request(o: Ops, v: Variant, st: State, r: int, ob: LangObs, when: Term,
                          free: bool = True) -> None:
    """_handle_failed_request (§8.6): log, failure_exception(), free(embedding_indices).
    cancel: send a cancel instead, and keep the blocks until the Failed ack (`free_kept_blocks`)."""
    lr = st.lang[r]
    ob.vals["reason_abort"] = o.If(when, lr.aborted, ob.vals.get("reason_abort", False))
    if v.cancel:
        st.sess[r].cancel_sent = o.Or(st.sess[r].cancel_sent, when)
        lr.draining = o.Or(lr.draining, o.And(when, free))
    elif free:
        foreign = allocator.free(o, lr, lr.embedding_indices, lr.n_indices, when)
        ob.bad_free = o.Or(ob.bad_free, foreign)
        ob.freed = o.Or(ob.freed, when)
    lr.phase = o.If(when, FAILED_OUT, lr.phase)


def free_kept_blocks(o: Ops, lr: LangRank, ob: LangObs, when: Term) -> None:
    """cancel: at the start of an iteration, free the kept blocks once Failed has arrived."""
    go = o.And(when, lr.draining, lr.status == FAILED)
    ob.kept_freed = go
    ob.vals.update(kept_blocks=list(lr.embedding_indices), kept_n=lr.n_indices)
    ob.bad_free = o.Or(ob.bad_free, allocator.free(o, lr, lr.embedding_indices, lr.n_indices, go))
    ob.freed = o.Or(ob.freed, go)
    lr.draining = o.And(lr.draining, o.Not(go))


def agree(o: Ops, p: Params, name: str, oks: list[Term], joins: list[Term]) -> Term:
    """alloc_agree: MIN all-reduce of "alloc returned blocks" over the ranks that allocate."""
    return collective(o, p, name, [o.If(j, ok, True) for ok, j in zip(oks, joins, strict=True)],
                      "and")


class _Decided(NamedTuple):
    """One rank's Transferring procedure up to its resume allocation (the agreement on that
    allocation needs every rank's outcome before any rank goes on)."""

    dec: Term  # L > S: free, alloc(L - S)
    a: allocator.AllocResult
    sent: Term
    failed: Term
    overlong: Term
    resumed: Term
    fresh: Term
    wait: Term
    tr: Term
    old: list[Term]
    n_old: Term


def commit_if_agreed(o: Ops, lr: LangRank, ob: LangObs, a: allocator.AllocResult,
                     agreed: Term) -> tuple[Term, Term]:
    """alloc_agree: keep this rank's blocks only if every rank got some; otherwise give them
    back (the rollback `free`). Returns (kept, rolled back)."""
    rollback = o.And(a.ok, o.Not(agreed))
    ob.bad_free = o.Or(ob.bad_free, allocator.free(o, lr, a.blocks, a.n, rollback))
    return o.And(a.ok, agreed), rollback


def process_multimodal_language_queue(o: Ops, cfg: ModelConfig, v: Variant, st: State,
                                      p: Params, abort: Term, alloc_fail: list[Term],
                                      when: Term) -> list[LangObs]:
    T = cfg.tp_size
    L = st.lang
    obs = [LangObs() for _ in range(T)]
    if v.cancel:
        for lr, ob in zip(L, obs, strict=True):
            free_kept_blocks(o, lr, ob, when)
    # abort requests are broadcast input, handled before the queues (§11)
    for lr in L:
        inq = o.And(when, abort, o.Or(lr.phase == PREALLOC, lr.phase == TRANSFER))
        lr.conclude_state = o.If(inq, FAILED, lr.conclude_state)
        lr.aborted = o.Or(lr.aborted, inq)

    # ---- pop_preallocated (§8.3) ----
    pre_polls = []
    for r, lr in enumerate(L):
        ob = obs[r]
        ob.poll_pre = o.And(when, lr.phase == PREALLOC, o.Not(lr.waiting_for_input))
        pre_polls.append(poll_if(o, lr, ob.poll_pre))
    p_pre = collective(o, p, "poll_prealloc", pre_polls, "min")
    pre_allocs = []
    for r, lr in enumerate(L):
        ob = obs[r]
        ob.vals["p_pre"] = p_pre
        lr.waiting_for_input = o.Or(lr.waiting_for_input,
                                    o.And(ob.poll_pre, p_pre == WAITING_FOR_INPUT))
        hs_failed = o.And(ob.poll_pre, p_pre == FAILED)
        lr.phase = o.If(hs_failed, FAILED_OUT, lr.phase)
        ob.vals["reason_abort_hs"] = lr.aborted
        try_alloc = o.And(when, lr.phase == PREALLOC, lr.waiting_for_input)
        has_space = lr.n_free > 0  # available_size() > 0
        called = o.And(try_alloc, has_space)
        a = allocator.alloc(o, lr, p.default_tokens, p.bs, alloc_fail[r], cfg.max_blocks, called)
        pre_allocs.append((hs_failed, try_alloc, called, a))
    agreed = agree(o, p, "agree_prealloc", [a.ok for *_, a in pre_allocs],
                   [t for _, t, _, _ in pre_allocs]) \
        if v.alloc_agree else True
    for r, lr in enumerate(L):
        ob = obs[r]
        hs_failed, try_alloc, called, a = pre_allocs[r]
        ok, rollback = a.ok, False
        if v.alloc_agree:
            ob.n_min_pre = try_alloc
            ok, rollback = commit_if_agreed(o, lr, ob, a, agreed)
        lr.embedding_indices = [o.If(ok, a.blocks[i], lr.embedding_indices[i])
                                for i in range(cfg.max_blocks)]
        lr.n_indices = o.If(ok, a.n, lr.n_indices)
        allocated = o.mul(a.n, p.bs)
        send_message(st, r, ok, INIT_MSG, 0, allocated, a.blocks, a.n)
        lr.phase = o.If(ok, TRANSFER, lr.phase)
        ob.pre_branch = o.If(hs_failed, PRE_HANDSHAKE_FAILED,
                             o.If(ok, PRE_INIT, o.If(try_alloc, PRE_NO_SPACE,
                                                     o.If(ob.poll_pre, PRE_WAIT, PRE_NONE))))
        ob.vals.update(pre_num_tokens=p.default_tokens, pre_alloc_called=called,
                       pre_alloc_blocks=a.blocks, pre_alloc_n=a.n, pre_alloc_ok=a.ok,
                       pre_allocated=allocated, pre_agreed=agreed, pre_rollback=rollback)

    # ---- pop_transferred (§8.4) ----
    tr_polls = []
    for r, lr in enumerate(L):
        obs[r].poll_tr = o.And(when, lr.phase == TRANSFER)
        val = poll_if(o, lr, obs[r].poll_tr)
        if v.gate:  # Success counts as Transferring until this rank's metadata has landed
            landed = o.Or(lr.cached, o.select(lr.aux_room, lr.embedding_indices[0], False))
            held = o.And(val == SUCCESS, o.Not(landed))
            obs[r].vals["gated"] = held
            val = o.If(held, TRANSFERRING, val)
        tr_polls.append(val)
    pt = collective(o, p, "poll_transfer", tr_polls, "min")
    reads = [buffers.get_buf(o, lr, p.bs) for lr in L]
    is_tr = [o.And(obs[r].poll_tr, pt == TRANSFERRING) for r in range(T)]
    first = [o.And(is_tr[r], o.Not(L[r].cached) if v.cached_path else True) for r in range(T)]
    synced = v.sync_op is not None
    l_red = collective(o, p, "sync_total", [reads[r].n for r in range(T)], v.sync_op or "max")
    s_red = collective(o, p, "sync_sent", [reads[r].k for r in range(T)], v.sync_op or "max")
    ctx: list[_Decided] = []
    for r, lr in enumerate(L):
        ob, rd = obs[r], reads[r]
        ob.vals["p_tr"] = pt
        ob.n_max = o.If(o.And(first[r], synced), 2 if v.sync_sent else 1, 0)
        failed = o.And(ob.poll_tr, pt == FAILED)
        success = o.And(ob.poll_tr, pt == SUCCESS)
        # -- Failed --
        handle_failed_request(o, v, st, r, ob, failed)
        # -- Success: final assembly on get_buf, or resumed assembly from the cache --
        resumed = o.And(success, lr.cached)
        fresh = o.And(success, o.Not(lr.cached))
        rem = lr.partial_total - lr.partial_sent_tokens
        new = buffers.gather(o, lr, lr.embedding_indices, lr.n_indices, rem, p.bs,
                             lr.partial_len)
        merged = lr.partial_len + new.k
        ori = o.If(resumed, merged, rd.k)
        emb_len = o.If(resumed, lr.partial_total, rd.n)
        overlong = o.And(success, ori > emb_len)
        mock = o.And(success, ori < emb_len)
        data_ok = o.If(resumed, o.And(lr.partial_ok, new.ok), rd.ok)
        exact = o.If(resumed, o.And(lr.partial_exact, new.exact), rd.exact)
        delta = o.If(resumed, lr.partial_delta, rd.aux1)
        ob.handoff = o.And(success, o.Not(overlong))
        ob.intact = o.And(ori == p.length, data_ok,
                          o.Or(o.Not(mock), o.And(exact, delta == p.delta)))
        ob.vals.update(ori=ori, emb_len=emb_len, mock=mock, resumed=resumed, new_k=new.k,
                       partial_len=lr.partial_len, partial_total=lr.partial_total,
                       partial_sent=lr.partial_sent_tokens, remaining=rem,
                       n_indices=lr.n_indices)
        handle_failed_request(o, v, st, r, ob, overlong)
        lr.phase = o.If(ob.handoff, DONE, lr.phase)
        lr.cached = o.And(lr.cached, o.Not(resumed))  # del req.partial_*
        # -- Transferring: the procedure of the variant --
        tr = is_tr[r]
        f = first[r]
        l_loc, s_loc = rd.n, rd.k
        l_syn = l_red if synced else l_loc
        s_syn = s_red if (synced and v.sync_sent) else s_loc
        total = o.If(f, l_syn, lr.partial_total)
        sent = o.If(f, s_syn, lr.partial_sent_tokens)
        wait = o.And(tr, o.Not(f), lr.resume_pending) if not v.resend_while_pending else False
        dec = o.And(tr, o.Not(wait), total > sent)
        need = total - sent
        ob.decision = tr
        ob.vals.update(first=f, total=total, sent=sent, need=need,
                       free_first=v.free_before_alloc)
        do_cache = o.And(dec, {"once": o.Not(lr.cached), "never": False, "every": True}[v.cache])
        lr.partial_total = o.If(do_cache, total if v.cache_total == "synced" else l_loc,
                                lr.partial_total)
        lr.partial_delta = o.If(do_cache, rd.aux1, lr.partial_delta)
        lr.partial_sent_tokens = o.If(do_cache, sent, lr.partial_sent_tokens)
        lr.partial_len = o.If(do_cache, rd.k, lr.partial_len)
        lr.partial_ok = o.If(do_cache, rd.ok, lr.partial_ok)
        lr.partial_exact = o.If(do_cache, rd.exact, lr.partial_exact)
        lr.cached = o.Or(lr.cached, do_cache)
        old, n_old = list(lr.embedding_indices), lr.n_indices
        ob.freed = o.Or(ob.freed, dec)
        if v.free_before_alloc:
            ob.bad_free = o.Or(ob.bad_free, allocator.free(o, lr, old, n_old, dec))
        a = allocator.alloc(o, lr, need, p.bs, alloc_fail[r], cfg.max_blocks, dec)
        if not v.free_before_alloc:  # the alloc line moved above the free line
            ob.bad_free = o.Or(ob.bad_free, allocator.free(o, lr, old, n_old, dec))
        ctx.append(_Decided(dec, a, sent, failed, overlong, resumed, fresh, wait, tr, old, n_old))
    # alloc_agree: the ranks that allocated agree on the outcome before anyone sends a resume
    agreed = agree(o, p, "agree_resume", [c.a.ok for c in ctx], [c.dec for c in ctx]) \
        if v.alloc_agree else True
    for r, lr in enumerate(L):
        ob = obs[r]
        dec, a, sent, failed, overlong, resumed, fresh, wait, tr, old, n_old = ctx[r]
        ok = a.ok
        if v.alloc_agree:
            ob.n_min_tr = dec
            ok, rollback = commit_if_agreed(o, lr, ob, a, agreed)
            ob.vals.update(tr_agreed=agreed, tr_rollback=rollback)
        nomem = o.And(dec, o.Not(ok))
        # frees embedding_indices: still the old ones (no_refree: already freed, not again)
        handle_failed_request(o, v, st, r, ob, nomem, free=v.refree_on_nomem)
        lr.embedding_indices = [o.If(ok, a.blocks[i], lr.embedding_indices[i])
                                for i in range(cfg.max_blocks)]
        lr.n_indices = o.If(ok, a.n, lr.n_indices)
        allocated = o.mul(a.n, p.bs)
        msg_sent = sent if v.resume_sent == "S" else 0
        ss = st.sess[r]
        outstanding = o.Or(ss.awaiting_chunk, *[
            o.And(m["valid"], m["kind"] == RESUME_MSG, j >= ss.inbox_next)
            for j, m in enumerate(ss.inbox)])
        ob.resume = ok
        lr.resume_pending = o.Or(lr.resume_pending, ok)
        ob.resume_invalid = o.And(ok, o.Or(ss.landed >= p.length, outstanding,
                                           msg_sent != ss.landed))
        send_message(st, r, ok, RESUME_MSG, msg_sent, allocated, a.blocks, a.n)
        ob.vals.update(resume_blocks=a.blocks, resume_n=a.n, resume_allocated=allocated,
                       resume_sent=msg_sent, old_blocks=old, old_n=n_old, landed=ss.landed,
                       outstanding=outstanding)
        ob.tr_branch = o.If(
            failed, TR_FAILED,
            o.If(overlong, TR_OVERLONG,
                 o.If(resumed, TR_SUCCESS_RESUMED,
                      o.If(fresh, TR_SUCCESS,
                           o.If(ok, TR_RESUME,
                                o.If(nomem, TR_NO_MEMORY,
                                     o.If(wait, TR_WAIT_RESUME, o.If(tr, TR_UNEXPECTED,
                                          o.If(ob.poll_tr, TR_WAIT, TR_NONE)))))))))
    return obs


def poll_if(o: Ops, lr: LangRank, called: Term) -> Term:
    """poll() only if this rank calls poll_and_all_reduce (latching is a side effect)."""
    before = lr.conclude_state
    val = poll(o, lr)
    lr.conclude_state = o.If(called, lr.conclude_state, before)
    return o.If(called, val, NOT_POLLED)
