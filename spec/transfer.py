"""`MultimodalLanguageTransferQueue.pop_transferred` (protocol.md §8.4) on every rank in lockstep.

The engine's steps, with its names (reference/language.py has the same ones):
`poll_and_all_reduce` (with the design `gate`), then for the request, by the reduced status:
Failed -> `_handle_failed_request`; Success -> `get_buf` or `_resumed_assembly`, then
`_final_assembly`; Transferring -> `_transferring` (the variant's procedure), which is cut at
its collectives: `_transferring_values` (cached path, or the first path's local `get_buf`),
the two MAX all-reduces, `_transferring_decide` (cache, free, alloc), the design
`alloc_agree`'s MIN all-reduce, `_transferring_resume` (resume message, or the failure handler).
"""

from __future__ import annotations

from typing import NamedTuple

from . import allocator, buffers
from .branches import (
    LEFT_MOCK,
    LEFT_NO_MM,
    TR_FAILED,
    TR_NO_MEMORY,
    TR_NONE,
    TR_OVERLONG,
    TR_RESUME,
    TR_SUCCESS,
    TR_SUCCESS_RESUMED,
    TR_UNEXPECTED,
    TR_WAIT,
    TR_WAIT_RESUME,
    LangObs,
    agree_on_alloc,
    commit_if_agreed,
    handle_failed_request,
    poll_if,
    send_message,
)
from .config import FAILED, SUCCESS, TRANSFERRING, ModelConfig
from .embedding import Params, collective
from .ops import Ops, Term
from .state import DONE, RESUME_MSG, TRANSFER, LangRank, State
from .variants import Variant


def _transfer_poll(o: Ops, v: Variant, lr: LangRank, ob: LangObs, when: Term) -> Term:
    """What this rank contributes to the transfer queue's poll_and_all_reduce."""
    ob.poll_tr = o.And(when, lr.phase == TRANSFER)
    val = poll_if(o, lr, ob.poll_tr)
    if v.gate:  # Success counts as Transferring until this rank's metadata has landed
        landed = o.Or(lr.cached, o.select(lr.aux_room, lr.embedding_indices[0], False))
        held = o.And(val == SUCCESS, o.Not(landed))
        ob.vals["gated"] = held
        val = o.If(held, TRANSFERRING, val)
    return val


def _partial_aux(o: Ops, v: Variant, lr: LangRank) -> tuple[Term, Term]:
    """partial_aux_datas as read now: the cached values, or (a view) the current aux row of
    the block it was read from."""
    if v.cache_aux_view:
        return (o.select(lr.aux0, lr.partial_aux_block, 0),
                o.select(lr.aux1, lr.partial_aux_block, 0))
    return lr.partial_total, lr.partial_delta


def _resumed_assembly(o: Ops, cfg: ModelConfig, lr: LangRank, p: Params, total: Term
                      ) -> tuple[buffers.Read, list[Term], list[Term]]:
    """Cached part ++ the current blocks' first `remaining` tokens (counts from the cache
    only; the current blocks' aux rows are not consulted). Returns the new part and the merged
    content and mrope, position by position."""
    rem = total - lr.partial_sent_tokens
    new = buffers.gather(o, cfg, lr, lr.embedding_indices, lr.n_indices, rem, p.bs)
    content, mrope = [], []
    for pos in range(cfg.positions):
        cached = pos < lr.partial_len
        content.append(o.If(cached, lr.partial_content[pos],
                            o.select(new.content, pos - lr.partial_len, 0)))
        for row in range(3):
            fresh = o.select(new.mrope[row::3], pos - lr.partial_len, 0)
            mrope.append(o.If(cached, lr.partial_mrope[3 * pos + row], fresh))
    return new, content, mrope


def _final_assembly(o: Ops, cfg: ModelConfig, v: Variant, lr: LangRank, p: Params,
                    ob: LangObs, success: Term, resumed: Term, rd: buffers.Read) -> Term:
    """§8.4 final assembly on the data read (get_buf, or the resumed assembly): hand off with
    mm_inputs absent or a mock, or fail if there are more ids than `embedding_length`.
    Returns "more ids than embedding_length" (the failure handler's case)."""
    p_total, p_delta = _partial_aux(o, v, lr)
    new, merged, merged_mrope = _resumed_assembly(o, cfg, lr, p, p_total)
    ori = o.If(resumed, lr.partial_len + new.k, rd.k)
    emb_len = o.If(resumed, p_total, rd.n)
    overlong = o.And(success, ori > emb_len)
    mock = o.And(success, ori < emb_len)
    content = [o.If(resumed, a, b) for a, b in zip(merged, rd.content, strict=True)]
    mrope = [o.If(resumed, a, b) for a, b in zip(merged_mrope, rd.mrope, strict=True)]
    delta = o.If(resumed, p_delta, rd.aux1)
    ob.handoff = o.And(success, o.Not(overlong))
    data_ok = o.And(*[o.Or(pos >= ori, c == pos) for pos, c in enumerate(content)])
    mrope_ok = o.And(*[o.Or(pos >= ori, m == 3 * pos + row)
                       for pos in range(cfg.positions) for row in range(3)
                       for m in [mrope[3 * pos + row]]])
    ob.intact = o.And(ori == p.length, data_ok, o.Or(o.Not(mock), o.And(mrope_ok,
                                                                          delta == p.delta)))
    ob.left = o.If(ob.handoff, o.If(mock, LEFT_MOCK, LEFT_NO_MM), ob.left)
    ob.length, ob.content, ob.mrope, ob.delta = ori, content, mrope, delta
    ob.vals.update(ori=ori, emb_len=emb_len, mock=mock, resumed=resumed, new_k=new.k,
                   partial_len=lr.partial_len, partial_total=p_total,
                   partial_sent=lr.partial_sent_tokens,
                   remaining=p_total - lr.partial_sent_tokens, n_indices=lr.n_indices)
    return overlong


class _Decided(NamedTuple):
    """One rank's Transferring procedure up to its resume allocation (the agreement on that
    allocation needs every rank's outcome before any rank goes on)."""

    dec: Term  # L > S: free, alloc(L - S)
    a: allocator.AllocResult
    sent: Term
    wait: Term
    old: list[Term]
    n_old: Term


def _transferring_decide(o: Ops, cfg: ModelConfig, v: Variant, lr: LangRank, p: Params,
                         ob: LangObs, tr: Term, first: Term, rd: buffers.Read, l_syn: Term,
                         s_syn: Term) -> _Decided:
    """Steps 1-2 of the Transferring procedure up to the resume allocation: (L, S) from the
    first path (synced, or local for prefix) or the cache; if L > S cache once, free, alloc."""
    total = o.If(first, l_syn, _partial_aux(o, v, lr)[0])
    sent = o.If(first, s_syn, lr.partial_sent_tokens)
    wait = o.And(tr, o.Not(first), lr.resume_pending) if not v.resend_while_pending else False
    dec = o.And(tr, o.Not(wait), total > sent)
    need = total - sent
    ob.decision = tr
    ob.vals.update(first=first, total=total, sent=sent, need=need,
                   free_first=v.free_before_alloc)
    do_cache = o.And(dec, {"once": o.Not(lr.cached), "never": False, "every": True}[v.cache])
    lr.partial_total = o.If(do_cache, total if v.cache_total == "synced" else rd.n,
                            lr.partial_total)
    lr.partial_delta = o.If(do_cache, rd.aux1, lr.partial_delta)
    lr.partial_aux_block = o.If(do_cache, lr.embedding_indices[0], lr.partial_aux_block)
    lr.partial_sent_tokens = o.If(do_cache, sent, lr.partial_sent_tokens)
    lr.partial_len = o.If(do_cache, rd.k, lr.partial_len)
    lr.partial_content = [o.If(do_cache, x, y) for x, y in zip(rd.content, lr.partial_content,
                                                                strict=True)]
    lr.partial_mrope = [o.If(do_cache, x, y) for x, y in zip(rd.mrope, lr.partial_mrope,
                                                              strict=True)]
    lr.cached = o.Or(lr.cached, do_cache)
    old, n_old = list(lr.embedding_indices), lr.n_indices
    ob.freed = o.Or(ob.freed, dec)
    if v.free_before_alloc:
        ob.bad_free = o.Or(ob.bad_free, allocator.free(o, lr, old, n_old, dec))
    a = allocator.alloc(o, lr, need, p.bs, cfg.max_blocks, dec)
    if not v.free_before_alloc:  # the alloc line moved above the free line
        ob.bad_free = o.Or(ob.bad_free, allocator.free(o, lr, old, n_old, dec))
    return _Decided(dec, a, sent, wait, old, n_old)


def _transferring_resume(o: Ops, cfg: ModelConfig, v: Variant, st: State, r: int, p: Params,
                         ob: LangObs, d: _Decided, agreed: Term) -> tuple[Term, Term]:
    """Step 2's end: the failure handler if alloc returned None (or the ranks did not agree),
    else `embedding_indices := new` and `resume_transfer`. Returns (resumed, out of memory)."""
    lr, ss = st.lang[r], st.sess[r]
    ok = d.a.ok
    if v.alloc_agree:
        ob.n_min_tr = d.dec
        ok, rollback = commit_if_agreed(o, lr, ob, d.a, agreed)
        ob.vals.update(tr_agreed=agreed, tr_rollback=rollback)
    nomem = o.And(d.dec, o.Not(ok))
    # frees embedding_indices: still the old ones (no_refree: already freed, not again)
    handle_failed_request(o, v, st, r, ob, nomem, free=v.refree_on_nomem)
    lr.embedding_indices = [o.If(ok, d.a.blocks[i], lr.embedding_indices[i])
                            for i in range(cfg.max_blocks)]
    lr.n_indices = o.If(ok, d.a.n, lr.n_indices)
    allocated = o.mul(d.a.n, p.bs)
    msg_sent = d.sent if v.resume_sent == "S" else 0
    outstanding = o.Or(ss.awaiting_chunk, *[
        o.And(m["valid"], m["kind"] == RESUME_MSG, j >= ss.inbox_next)
        for j, m in enumerate(ss.inbox)])
    ob.resume = ok
    lr.resume_pending = o.Or(lr.resume_pending, ok)
    ob.resume_invalid = o.And(ok, o.Or(ss.landed >= p.length, outstanding,
                                       msg_sent != ss.landed))
    send_message(st, r, ok, RESUME_MSG, msg_sent, allocated, d.a.blocks, d.a.n)
    ob.vals.update(resume_blocks=d.a.blocks, resume_n=d.a.n, resume_allocated=allocated,
                   resume_sent=msg_sent, old_blocks=d.old, old_n=d.n_old, landed=ss.landed,
                   outstanding=outstanding)
    return ok, nomem


def pop_transferred(o: Ops, cfg: ModelConfig, v: Variant, st: State, p: Params,
                    obs: list[LangObs], when: Term) -> None:
    """§8.4 on every rank: one MIN poll, then the branch of the reduced status."""
    L = st.lang
    polls = [_transfer_poll(o, v, lr, ob, when) for lr, ob in zip(L, obs, strict=True)]
    pt = collective(o, p, "poll_transfer", polls, "min")
    reads = [buffers.get_buf(o, cfg, lr, p.bs) for lr in L]
    is_tr = [o.And(ob.poll_tr, pt == TRANSFERRING) for ob in obs]
    first = [o.And(t, o.Not(lr.cached) if v.cached_path else True) for t, lr in zip(is_tr, L, strict=True)]
    # the first path's two MAX all-reduces (prefix: none, the local values are used)
    synced = v.sync_op is not None
    l_red = collective(o, p, "sync_total", [rd.n for rd in reads], v.sync_op or "max")
    s_red = collective(o, p, "sync_sent", [rd.k for rd in reads], v.sync_op or "max")
    decided: list[_Decided] = []
    for r, lr in enumerate(L):
        ob, rd = obs[r], reads[r]
        ob.vals["p_tr"] = pt
        ob.n_max = o.If(o.And(first[r], synced), 2 if v.sync_sent else 1, 0)
        failed = o.And(ob.poll_tr, pt == FAILED)
        success = o.And(ob.poll_tr, pt == SUCCESS)
        handle_failed_request(o, v, st, r, ob, failed)
        resumed = o.And(success, lr.cached)
        overlong = _final_assembly(o, cfg, v, lr, p, ob, success, resumed, rd)
        handle_failed_request(o, v, st, r, ob, overlong)
        lr.phase = o.If(ob.handoff, DONE, lr.phase)
        lr.cached = o.And(lr.cached, o.Not(resumed))  # del req.partial_*
        l_syn = l_red if synced else rd.n
        s_syn = s_red if (synced and v.sync_sent) else rd.k
        decided.append(_transferring_decide(o, cfg, v, lr, p, ob, is_tr[r], first[r], rd,
                                            l_syn, s_syn))
        ob.vals.update(failed=failed, overlong=overlong, resumed_success=resumed,
                       fresh=o.And(success, o.Not(resumed)))
    # alloc_agree: the ranks that allocated agree on the outcome before anyone sends a resume
    agreed = agree_on_alloc(o, p, "agree_resume", [d.a.ok for d in decided],
                            [d.dec for d in decided]) if v.alloc_agree else True
    for r, ob in enumerate(obs):
        d, vals = decided[r], ob.vals
        ok, nomem = _transferring_resume(o, cfg, v, st, r, p, ob, d, agreed)
        ob.tr_branch = o.If(
            vals["failed"], TR_FAILED,
            o.If(vals["overlong"], TR_OVERLONG,
                 o.If(vals["resumed_success"], TR_SUCCESS_RESUMED,
                      o.If(vals["fresh"], TR_SUCCESS,
                           o.If(ok, TR_RESUME,
                                o.If(nomem, TR_NO_MEMORY,
                                     o.If(d.wait, TR_WAIT_RESUME, o.If(is_tr[r], TR_UNEXPECTED,
                                          o.If(ob.poll_tr, TR_WAIT, TR_NONE)))))))))
