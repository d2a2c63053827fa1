"""What both language queues share (protocol.md §3.2, §8.3, §8.4, §8.6): the branch labels,
the per-rank record of one iteration (`LangObs`), `receiver.poll`, the failure handler
`_handle_failed_request`, and the design `alloc_agree`'s MIN all-reduce. spec/language.py
(the iteration and the prealloc queue) and spec/transfer.py (`pop_transferred`) build on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import allocator
from .config import FAILED, SUCCESS
from .embedding import Params, collective
from .ops import Ops, Term
from .state import FAILED_OUT, NO_LATCH, PREALLOC, TRANSFER, LangRank, State
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
# what a rank hands to the TP forward when the request leaves its queues (handoff_agreement)
LEFT_NO, LEFT_NO_MM, LEFT_MOCK, LEFT_REMOVED = 0, 1, 2, 3
KIND_NAMES = {LEFT_NO: "still queued", LEFT_NO_MM: "hand-off, mm_inputs absent",
              LEFT_MOCK: "hand-off, mock mm_inputs", LEFT_REMOVED: "removed (failed)"}


@dataclass
class LangObs:
    """Everything one rank did in one iteration, as terms (rendered by spec.observe)."""

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
    # the input handed to the TP forward (meaningful when `left` is a hand-off)
    left: Term = LEFT_NO
    length: Term = 0  # len(origin_input_ids)
    content: list[Term] = field(default_factory=list)  # per position
    mrope: list[Term] = field(default_factory=list)  # per position and row (mock only)
    delta: Term = 0  # mrope_position_delta (mock only)


def poll(o: Ops, lr: LangRank) -> Term:
    """receiver.poll() (§3.2): latched state, else request_status, latching Success/Failed."""
    p = o.If(lr.conclude_state != NO_LATCH, lr.conclude_state, lr.status)
    lr.conclude_state = o.If(o.And(lr.conclude_state == NO_LATCH,
                                   o.Or(lr.status == SUCCESS, lr.status == FAILED)),
                             lr.status, lr.conclude_state)
    return p


def poll_if(o: Ops, lr: LangRank, called: Term) -> Term:
    """poll() only if this rank calls poll_and_all_reduce (latching is a side effect)."""
    before = lr.conclude_state
    val = poll(o, lr)
    lr.conclude_state = o.If(called, lr.conclude_state, before)
    return o.If(called, val, NOT_POLLED)


def send_message(st: State, r: int, valid: Term, kind: int, sent: Term, allocated: Term,
                 blocks: list[Term], n: Term) -> None:
    st.sess[r].inbox.append({"valid": valid, "kind": kind, "sent": sent,
                             "allocated": allocated, "blocks": list(blocks), "n": n})


def handle_failed_request(o: Ops, v: Variant, st: State, r: int, ob: LangObs, when: Term,
                          free: bool = True) -> None:
    """_handle_failed_request (§8.6): log, failure_exception(), free(embedding_indices).
    cancel: send a cancel instead, and keep the blocks until the Failed ack (`deferred_frees`)."""
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


def deferred_frees(o: Ops, lr: LangRank, ob: LangObs, when: Term) -> None:
    """cancel: at the start of an iteration, free the kept blocks once Failed has arrived."""
    go = o.And(when, lr.draining, lr.status == FAILED)
    ob.kept_freed = go
    ob.vals.update(kept_blocks=list(lr.embedding_indices), kept_n=lr.n_indices)
    ob.bad_free = o.Or(ob.bad_free, allocator.free(o, lr, lr.embedding_indices, lr.n_indices, go))
    ob.freed = o.Or(ob.freed, go)
    lr.draining = o.And(lr.draining, o.Not(go))


def abort_requests(o: Ops, lr: LangRank, abort: Term, when: Term) -> None:
    """An abort request reaches the rank (§11): receiver.abort() latches Failed."""
    inq = o.And(when, abort, o.Or(lr.phase == PREALLOC, lr.phase == TRANSFER))
    lr.conclude_state = o.If(inq, FAILED, lr.conclude_state)
    lr.aborted = o.Or(lr.aborted, inq)


def agree_on_alloc(o: Ops, p: Params, name: str, oks: list[Term], joins: list[Term]) -> Term:
    """alloc_agree: MIN all-reduce of "alloc returned blocks" over the ranks that allocate."""
    return collective(o, p, name, [o.If(j, ok, True) for ok, j in zip(oks, joins, strict=True)],
                      "and")


def commit_if_agreed(o: Ops, lr: LangRank, ob: LangObs, a: allocator.AllocResult,
                     agreed: Term) -> tuple[Term, Term]:
    """alloc_agree: keep this rank's blocks only if every rank got some; otherwise give them
    back (the rollback `free`). Returns (kept, rolled back)."""
    rollback = o.And(a.ok, o.Not(agreed))
    ob.bad_free = o.Or(ob.bad_free, allocator.free(o, lr, a.blocks, a.n, rollback))
    return o.And(a.ok, agreed), rollback


