"""State variables of the model (TLA+ `VARIABLES`), one request, and `Init`.

Token data are abstracted to *tags*: a language block holding source tokens [s, s+t) has
tag = s and cnt = t (protocol.md §5.1: every write copies the first t tokens of one source
block into the first t slots of one destination block). Anything that is not this request's
data carries a negative tag, so integrity is a statement about tags and counts.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from .config import WAITING_FOR_INPUT, ModelConfig
from .ops import Term

# queue membership of the request on one language rank
PREALLOC, TRANSFER, DONE, FAILED_OUT = 0, 1, 2, 3
PHASE_NAMES = {0: "prealloc", 1: "transfer", 2: "handed off", 3: "removed (failed)"}
STALE = -1  # an earlier occupant's data, or zeros
GARBAGE = -2  # copied from source blocks the embedding side had already freed
NO_LATCH = -1
INIT_MSG, RESUME_MSG = 0, 1
ALL_SESSIONS = -1  # a chunk for every session of the room (the engine's only kind)


@dataclass
class LangRank:
    """One language TP rank: its queues' view of the request, allocator and buffers (§8, §5)."""

    phase: Term
    waiting_for_input: Term
    status: Term  # request_status[room] in this rank's language manager (§3.1)
    conclude_state: Term  # the receiver's latched poll (§3.2); NO_LATCH if none
    aborted: Term  # failure_records holds "Aborted by AbortReq."
    embedding_indices: list[Term]
    n_indices: Term
    # req.partial_* (§8.1); present iff `cached`
    cached: Term
    partial_total: Term  # partial_aux_datas[0]
    partial_delta: Term  # partial_aux_datas[1]
    partial_sent_tokens: Term
    partial_len: Term  # len(partial_fill_ids)
    partial_ok: Term  # the cached rows are source tokens [0, partial_len) in order
    partial_exact: Term  # ... and were read with the writer's per-block counts (mrope stride)
    resume_pending: Term  # wait: req has an outstanding resume
    draining: Term  # cancel: the failure handler kept embedding_indices until the Failed ack
    # ReqToMetadataBlockAllocator (§5.2): free_blocks == free_slots[:n_free]
    free_slots: list[Term]
    n_free: Term
    owned: list[Term]  # per block: allocated to this request
    nfree: list[Term]  # per block: occurrences in free_blocks
    # MultimodalDataBuffers (§5.1), per block
    tag: list[Term]
    cnt: list[Term]
    aux0: list[Term]
    aux1: list[Term]
    aux_room: list[Term]  # the aux row carries this request's room (written by its transfer)


@dataclass
class Session:
    """The session of one language rank at its embedding rank, and the channels between them."""

    # language -> embedding messages, one slot per step (FIFO per socket, §6)
    inbox: list[dict[str, Any]]
    inbox_next: Term  # slots below this index have been processed
    # TransferEmbeddingInfo (§7.2)
    record: Term  # transfer_infos[room][session] exists
    rec_sent_tokens: Term
    rec_allocated_tokens: Term
    rec_dst: list[Term]
    rec_n_dst: Term
    src_known: Term  # src_embedding_indices remembered
    failed_session: Term
    # embedding -> language status messages, one slot per step
    outbox: list[dict[str, Any]]
    outbox_next: Term
    # bookkeeping for properties (not engine state)
    landed: Term  # tokens of this request written into this rank's blocks so far
    awaiting_chunk: Term  # a processed resume whose chunk has not run yet
    # cancel: the language side's last message (nothing follows it, so FIFO order is kept)
    cancel_sent: Term
    cancel_done: Term  # processed by the embedding thread


@dataclass
class Sender:
    """One embedding TP rank's manager state for the room (§7)."""

    inits: Term  # sessions whose init was processed
    infos: Term  # transfer_infos[room] present
    status: Term  # request_status[room]
    chunks: Term  # chunks queued on the room's shard, not yet processed
    worker_dead: Term
    # per_session: the queued chunks' targets, oldest first (ALL_SESSIONS or a language rank)
    cq: list[Term]


@dataclass
class State:
    lang: list[LangRank]
    sess: list[Session]
    send: list[Sender]
    encoded: Term  # the embedding forward ran and the first chunks were queued
    src_alive: Term  # the embedding side still holds the request's source blocks
    src_frees: Term
    deadlock: Term


def copy_rank(x: Any) -> Any:
    """Shallow copy of a state record with fresh lists (the model updates functionally)."""
    kw = {}
    for f in fields(x):
        v = getattr(x, f.name)
        kw[f.name] = list(v) if isinstance(v, list) else v
    return type(x)(**kw)


def init_state(cfg: ModelConfig, aux0: list[list[Term]], aux1: list[list[Term]]) -> State:
    """`Init`: request added to every rank's prealloc queue, receiver at WaitingForInput,
    free list [0..P-1], buffers zero except for the given (earlier occupants') aux rows."""
    p, mb = cfg.pool_blocks, cfg.max_blocks
    lang = [
        LangRank(
            phase=PREALLOC, waiting_for_input=False, status=WAITING_FOR_INPUT,
            conclude_state=NO_LATCH, aborted=False,
            embedding_indices=[0] * mb, n_indices=0,
            cached=False, partial_total=0, partial_delta=0, partial_sent_tokens=0,
            partial_len=0, partial_ok=True, partial_exact=True, resume_pending=False,
            draining=False,
            free_slots=list(range(p)) + [0] * (2 * mb), n_free=p,
            owned=[False] * p, nfree=[1] * p,
            tag=[STALE] * p, cnt=[0] * p, aux0=list(aux0[r]), aux1=list(aux1[r]),
            aux_room=[False] * p,
        )
        for r in range(cfg.tp_size)
    ]
    sess = [
        Session(
            inbox=[], inbox_next=0, record=False, rec_sent_tokens=0, rec_allocated_tokens=0,
            rec_dst=[0] * mb, rec_n_dst=0, src_known=False, failed_session=False,
            outbox=[], outbox_next=0, landed=0, awaiting_chunk=False,
            cancel_sent=False, cancel_done=False,
        )
        for _ in range(cfg.tp_size)
    ]
    send = [Sender(inits=0, infos=False, status=1, chunks=0, worker_dead=False,
                   cq=[ALL_SESSIONS] * (1 + cfg.depth * len(cfg.sessions_of(e))))
            for e in range(cfg.n_senders)]
    return State(lang=lang, sess=sess, send=send, encoded=False, src_alive=False,
                 src_frees=0, deadlock=False)
