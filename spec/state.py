"""State variables of the model (TLA+ `VARIABLES`), one request, and `Init`.

Token data are content ids (spec/content.py): slot s of block b of a rank holds
`content[b * slots + s]`, and `cnt[b]` is how many tokens the block's last write put there
(the row stride of its mrope positions, protocol.md §5.1).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from .config import WAITING_FOR_INPUT, ModelConfig
from .ops import Ops, Term

# queue membership of the request on one language rank
PREALLOC, TRANSFER, DONE, FAILED_OUT = 0, 1, 2, 3
PHASE_NAMES = {0: "prealloc", 1: "transfer", 2: "handed off", 3: "removed (failed)"}
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
    partial_aux_block: Term  # cache_aux_view: partial_aux_datas is this block's aux row
    partial_sent_tokens: Term
    partial_len: Term  # len(partial_fill_ids)
    partial_content: list[Term]  # partial_fill_ids / partial_input_embeds, as content ids
    partial_mrope: list[Term]  # partial_mrope_positions, [position * 3 + row]
    resume_pending: Term  # wait: req has an outstanding resume
    draining: Term  # cancel: the failure handler kept embedding_indices until the Failed ack
    # ReqToMetadataBlockAllocator (§5.2): free_blocks == free_slots[:n_free]; the blocks other
    # live requests hold, in the order they will free them: held_slots[:n_held]
    free_slots: list[Term]
    n_free: Term
    held_slots: list[Term]
    n_held: Term
    owned: list[Term]  # ghost, per block: allocated to this request
    nfree: list[Term]  # ghost, per block: occurrences in free_blocks
    nheld: list[Term]  # ghost, per block: held by other requests
    # MultimodalDataBuffers (§5.1)
    content: list[Term]  # per block and slot
    cnt: list[Term]  # per block: tokens of its last write
    aux0: list[Term]
    aux1: list[Term]
    aux_room: list[Term]  # the aux row carries this request's room (written by its transfer)


@dataclass
class Session:
    """The session of one language rank at its embedding rank, and the channels between them."""

    # language -> embedding messages, one slot per message (FIFO per socket, §6)
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
    # embedding -> language status messages
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
    faulted: Term  # ghost: an abort, a transfer failure or pool pressure has happened
    failed_any: Term  # ghost: some session has been marked failed (so some rank gets Failed)


@dataclass
class Leftovers:
    """What earlier and other requests left on one rank at the start (its part of `Init`)."""

    aux0: list[Term]  # per block
    aux1: list[Term]
    content: list[Term]  # per block and slot
    held: Term  # blocks held by other live requests: the last `held` block ids


def copy_rank(x: Any) -> Any:
    """Shallow copy of a state record with fresh lists (the model updates functionally)."""
    kw = {}
    for f in fields(x):
        v = getattr(x, f.name)
        kw[f.name] = list(v) if isinstance(v, list) else v
    return type(x)(**kw)


def copy_state(st: State) -> State:
    return State(lang=[copy_rank(x) for x in st.lang], sess=[copy_rank(x) for x in st.sess],
                 send=[copy_rank(x) for x in st.send], encoded=st.encoded,
                 src_alive=st.src_alive, src_frees=st.src_frees, deadlock=st.deadlock,
                 faulted=st.faulted, failed_any=st.failed_any)


def window(cfg: ModelConfig) -> int:
    """Slots of the free and held lists: the pool plus room for the duplicates of two double
    frees (only a run that has already broken `conservation` needs more)."""
    return cfg.pool_blocks + 2 * cfg.max_blocks


def init_rank(o: Ops, cfg: ModelConfig, left: Leftovers) -> LangRank:
    """One rank of `Init`: the request in the prealloc queue with its receiver at
    WaitingForInput; free list [0 .. P-H-1], blocks P-H .. P-1 held by other requests (block
    ids renamed so, which loses nothing: their leftovers are per block)."""
    p, w = cfg.pool_blocks, window(cfg)
    free = p - left.held
    return LangRank(
        phase=PREALLOC, waiting_for_input=False, status=WAITING_FOR_INPUT,
        conclude_state=NO_LATCH, aborted=False,
        embedding_indices=[0] * cfg.max_blocks, n_indices=0,
        cached=False, partial_total=0, partial_delta=0, partial_aux_block=0,
        partial_sent_tokens=0, partial_len=0,
        partial_content=[0] * cfg.positions, partial_mrope=[0] * (3 * cfg.positions),
        resume_pending=False, draining=False,
        free_slots=list(range(p)) + [0] * (w - p), n_free=free,
        held_slots=[free + i for i in range(w)], n_held=left.held,
        owned=[False] * p, nfree=[o.If(b < free, 1, 0) for b in range(p)],
        nheld=[o.If(b < free, 0, 1) for b in range(p)],
        content=list(left.content), cnt=[0] * p, aux0=list(left.aux0), aux1=list(left.aux1),
        aux_room=[False] * p,
    )


def init_state(o: Ops, cfg: ModelConfig, left: list[Leftovers]) -> State:
    """`Init`: every rank as `init_rank`, every session and sender before the init message."""
    lang = [init_rank(o, cfg, left[r]) for r in range(cfg.tp_size)]
    sess = [
        Session(
            inbox=[], inbox_next=0, record=False, rec_sent_tokens=0, rec_allocated_tokens=0,
            rec_dst=[0] * cfg.max_blocks, rec_n_dst=0, src_known=False, failed_session=False,
            outbox=[], outbox_next=0, landed=0, awaiting_chunk=False,
            cancel_sent=False, cancel_done=False,
        )
        for _ in range(cfg.tp_size)
    ]
    send = [Sender(inits=0, infos=False, status=1, chunks=0, worker_dead=False,
                   cq=[ALL_SESSIONS] * (1 + cfg.depth * len(cfg.sessions_of(e))))
            for e in range(cfg.n_senders)]
    faulted = o.Or(*[x.held > 0 for x in left])
    return State(lang=lang, sess=sess, send=send, encoded=False, src_alive=False,
                 src_frees=0, deadlock=False, faulted=faulted, failed_any=False)
