"""Embedding-side actions and the channels (protocol.md §3.1, §7), over `Ops`.

Each function is one named action of `Next`; its name is the engine's function. They mutate
the (already copied) state in place and record observable effects in `Effects`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import buffers
from .config import (
    ABSENT,
    FAILED,
    SUCCESS,
    TRANSFERRING,
    WAITING_FOR_INPUT,
    ModelConfig,
)
from .ops import Ops, Term
from .state import ALL_SESSIONS, INIT_MSG, RESUME_MSG, Sender, State
from .variants import Variant


@dataclass
class Params:
    """The request and configuration values that stay symbolic."""

    length: Term  # L: embedding rows of the request
    bs: Term  # SGLANG_EMBEDDING_CACHE_BLOCK_SIZE
    default_tokens: Term  # SGLANG_EMBEDDING_DEFAULT_ALLOCATE_BUFFER_SIZE
    receives: list[Term]  # per language rank: its sender writes data (always true in topology a)
    delta: Term
    # the rest of the group (checker/alltp.py): (name, own contributions, op) -> the reduced
    # value, for a model of one rank among any number; None = the ranks modelled are all
    rest: Any = None


def collective(o: Ops, p: Params, name: str, xs: list[Term], op: str) -> Term:
    """A MIN/MAX/AND across ranks: over the modelled ranks, or joined with the rest."""
    out = xs[0]
    for x in xs[1:]:
        out = o.And(out, x) if op == "and" else o.Min(out, x) if op == "min" else o.Max(out, x)
    return out if p.rest is None else p.rest(name, out, op)


@dataclass
class Effects:
    """What the environment did to each language rank in one step (for traces and properties)."""

    writes: list[list[dict[str, Any]]]
    delivered: list[list[dict[str, Any]]]
    bad_write: Term = False  # a write into a block the request does not own on that rank
    bad_source: Term = False  # a chunk copied from source blocks already freed


def update_status(o: Ops, old: Term, s: Term) -> Term:
    """§3.1: absent -> s; Failed wins; otherwise the maximum."""
    return o.If(old == ABSENT, s, o.If(s == FAILED, FAILED, o.Max(old, s)))


def _enqueue(o: Ops, snd: Sender, when: Term, target: int) -> None:
    """per_session: append a chunk for `target` to the shard queue (slots >= chunks are free)."""
    snd.cq = [o.If(o.And(when, snd.chunks == i), target, x) for i, x in enumerate(snd.cq)]


def embedding_thread(o: Ops, cfg: ModelConfig, v: Variant, st: State, r: int, when: Term
                     ) -> None:
    """§7.4: the embedding thread drains every unprocessed message of language rank r."""
    ss, e = st.sess[r], cfg.sender_of(r)
    snd = st.send[e]
    required = len(cfg.sessions_of(e))
    for j, m in enumerate(ss.inbox):
        act = o.And(when, m["valid"], j >= ss.inbox_next)
        is_init = o.And(act, m["kind"] == INIT_MSG)
        # init: create transfer_infos[room][session]; WaitingForInput once all sessions are in
        ss.record = o.Or(ss.record, is_init)
        snd.infos = o.Or(snd.infos, is_init)
        ss.rec_sent_tokens = o.If(is_init, 0, ss.rec_sent_tokens)
        snd.inits = o.If(is_init, snd.inits + 1, snd.inits)
        snd.status = o.If(o.And(is_init, snd.inits == required),
                          update_status(o, snd.status, WAITING_FOR_INPUT), snd.status)
        # resume with a record: overwrite sent/allocated/dst, queue one chunk
        res = o.And(act, m["kind"] == RESUME_MSG, ss.record, snd.infos)
        upd = o.Or(is_init, res)
        ss.rec_sent_tokens = o.If(res, m["sent"], ss.rec_sent_tokens)
        ss.rec_allocated_tokens = o.If(upd, m["allocated"], ss.rec_allocated_tokens)
        ss.rec_dst = [o.If(upd, m["blocks"][i], ss.rec_dst[i]) for i in range(len(ss.rec_dst))]
        ss.rec_n_dst = o.If(upd, m["n"], ss.rec_n_dst)
        trig = o.And(res, ss.src_known)  # "Resume transfer triggered"
        if v.per_session:
            _enqueue(o, snd, trig, r)
        snd.chunks = o.If(trig, snd.chunks + 1, snd.chunks)
        ss.awaiting_chunk = o.Or(ss.awaiting_chunk, trig)
    ss.inbox_next = o.If(when, len(ss.inbox), ss.inbox_next)
    if v.cancel:  # the last message the rank sends, so processing it after the inbox is FIFO
        c = o.And(when, ss.cancel_sent, o.Not(ss.cancel_done))
        ss.cancel_done = o.Or(ss.cancel_done, c)
        ss.failed_session = o.Or(ss.failed_session, c)
        st.failed_any = o.Or(st.failed_any, c)
        snd.status = o.If(c, update_status(o, snd.status, FAILED), snd.status)
        ss.outbox.append({"valid": c, "status": FAILED})


def scheduler_send_first_chunk(o: Ops, cfg: ModelConfig, st: State, when: Term) -> Term:
    """§7.1 step 3: after the forward, every embedding rank calls add_transfer_request.
    Enabled once every embedding rank is bootstrapped (its MIN is past Bootstrapping)."""
    ready = o.And(*[s.status == WAITING_FOR_INPUT for s in st.send])
    fire = o.And(when, o.Not(st.encoded), ready)
    for s in st.send:
        # returns early if no transfer_infos, or already Transferring/Success/Failed
        q = o.And(fire, s.infos, s.status == WAITING_FOR_INPUT)
        s.chunks = o.If(q, s.chunks + 1, s.chunks)
    st.encoded = o.Or(st.encoded, fire)
    st.src_alive = o.Or(st.src_alive, fire)
    return fire


def transfer_worker(o: Ops, cfg: ModelConfig, v: Variant, st: State, p: Params, e: int,
                    when: Term, fail: Term, eff: Effects) -> None:
    """§7.3: process the oldest chunk of the room: one send per session, then one status.
    per_session: the chunk's target sessions only, each told its own status."""
    snd = st.send[e]
    act = o.And(when, snd.chunks > 0, o.Not(snd.worker_dead))
    target = snd.cq[0] if v.per_session else ALL_SESSIONS
    if v.per_session:
        snd.cq = [o.If(act, y, x) for x, y in zip(snd.cq, snd.cq[1:] + [ALL_SESSIONS], strict=True)]
    snd.chunks = o.If(act, snd.chunks - 1, snd.chunks)
    live = o.And(act, snd.infos)  # transfer_infos popped -> nothing to process
    eff.bad_source = o.Or(eff.bad_source, o.And(live, o.Not(st.src_alive)))
    sessions = cfg.sessions_of(e)
    going: Term = live  # still inside the for loop over sessions
    untouched: Term = True  # no session processed yet in this chunk
    partial: Term = False
    failed_to: list[Term] = []
    sent_to: list[tuple[Term, Term]] = []  # per session: processed, its own partial flag
    for idx, r in enumerate(sessions):
        ss, lr = st.sess[r], st.lang[r]
        if v.per_session:
            inc = o.And(going, o.Or(target == ALL_SESSIONS, target == r),
                        o.Not(ss.failed_session))  # failed sessions are skipped
            f = o.And(inc, fail, untouched)
        else:
            # a failed session (injected on the first session, or marked earlier): Failed, break
            inc = going
            f = o.And(going, o.Or(ss.failed_session, fail if idx == 0 else False))
        untouched = o.And(untouched, o.Not(inc))
        ss.failed_session = o.Or(ss.failed_session, f)
        st.failed_any = o.Or(st.failed_any, f)
        failed_to.append(f)
        snd.status = o.If(f, FAILED, snd.status)
        go = o.And(inc, o.Not(f))
        ss.src_known = o.Or(ss.src_known, go)
        sent = ss.rec_sent_tokens
        remaining = p.length - sent
        is_partial = remaining > ss.rec_allocated_tokens
        tokens = o.Min(remaining, ss.rec_allocated_tokens)
        d = o.ceil_div(tokens, p.bs)
        # "Insufficient dst blocks" raises: the worker thread dies (RuntimeError)
        dies = o.And(go, d > ss.rec_n_dst)
        snd.worker_dead = o.Or(snd.worker_dead, dies)
        go = o.And(go, o.Not(dies))
        first_block = o.floor_div(sent, p.bs)
        receives = True if v.data_to_all else p.receives[r]
        writes = []
        for i in range(cfg.max_blocks):
            w = o.And(go, receives, i < d)
            blk = ss.rec_dst[i]
            t = o.If(i == d - 1, tokens - (d - 1) * p.bs, p.bs)
            start = o.mul(first_block + i, p.bs)
            aux = o.And(sent == 0, i == 0)
            eff.bad_write = o.Or(eff.bad_write,
                                 o.And(w, o.Not(o.select(lr.owned, blk, False))))
            buffers.write_block(o, cfg, lr, blk, w, start, t, st.src_alive, aux, p.length,
                                p.delta)
            writes.append({"when": w, "block": blk, "start": start, "count": t, "aux": aux,
                           "garbage": o.Not(st.src_alive)})
        eff.writes[r].extend(writes)
        ss.landed = o.If(o.And(go, receives, tokens > 0), ss.landed + tokens, ss.landed)
        ss.rec_sent_tokens = o.If(go, sent + tokens, sent)
        ss.awaiting_chunk = o.And(ss.awaiting_chunk, o.Not(go))
        partial = o.If(go, is_partial, partial)
        sent_to.append((go, is_partial))
        if v.per_session:
            going = o.And(going, o.Not(f), o.Not(o.And(inc, dies)))
        else:
            going = go
    if v.per_session:
        done = o.And(*[st.sess[r].rec_sent_tokens >= p.length for r in sessions])
        room = o.If(done, SUCCESS, TRANSFERRING)
        any_go = o.Or(*[g for g, _ in sent_to])
        snd.status = o.If(o.And(going, any_go), update_status(o, snd.status, room), snd.status)
        for idx, r in enumerate(sessions):
            g, part = sent_to[idx]
            val = o.If(failed_to[idx], FAILED, o.If(part, TRANSFERRING, SUCCESS))
            st.sess[r].outbox.append({"valid": o.Or(o.And(going, g), failed_to[idx]),
                                      "status": val})
    else:
        # all sessions sent: one status to every session of this chunk (§7.3 step 6)
        status = o.If(partial, TRANSFERRING, SUCCESS)
        snd.status = o.If(going, update_status(o, snd.status, status), snd.status)
        for idx, r in enumerate(sessions):
            val = o.If(failed_to[idx], FAILED, status)
            st.sess[r].outbox.append({"valid": o.Or(going, failed_to[idx]), "status": val})
    # step 7: pop transfer_infos when the room is absent or at Success
    pop = o.And(live, o.Or(snd.status == ABSENT, snd.status == SUCCESS))
    snd.infos = o.And(snd.infos, o.Not(pop))
    for r in sessions:
        st.sess[r].record = o.And(st.sess[r].record, o.Not(pop))


def scheduler_inflight_poll(o: Ops, cfg: ModelConfig, st: State, p: Params, when: Term
                            ) -> Term:
    """§7.1 step 4: MIN over embedding ranks; Success or Failed -> clear() and free the
    source blocks (both paths clear: failure_exception() calls clear())."""
    m = collective(o, p, "inflight_min", [s.status for s in st.send], "min")
    fire = o.And(when, st.src_alive, o.Or(m == SUCCESS, m == FAILED))
    for s in st.send:
        s.infos = o.And(s.infos, o.Not(fire))
        s.status = o.If(fire, ABSENT, s.status)
    for ss in st.sess:
        ss.record = o.And(ss.record, o.Not(fire))
    st.src_alive = o.And(st.src_alive, o.Not(fire))
    st.src_frees = o.If(fire, st.src_frees + 1, st.src_frees)
    return fire


def language_thread_deliver(o: Ops, st: State, r: int, when: Term, eff: Effects) -> None:
    """§3.2: every pending status message for rank r is applied with update_status."""
    ss, lr = st.sess[r], st.lang[r]
    for j, m in enumerate(ss.outbox):
        act = o.And(when, m["valid"], j >= ss.outbox_next)
        lr.status = o.If(act, update_status(o, lr.status, m["status"]), lr.status)
        eff.delivered[r].append({"when": act, "status": m["status"]})
    ss.outbox_next = o.If(when, len(ss.outbox), ss.outbox_next)
