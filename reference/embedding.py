"""Embedding (encoder) side: manager in ENCODE mode, sender, scheduler steps (protocol.md §7).

Every embedding rank computes the same embedding (§4) and holds ``transfer_infos`` for the
language ranks that are its sessions. The schedule drives the threads one step at a time:
``embedding_thread_step`` (one message, §7.4), ``transfer_worker_step`` (one chunk, §7.3).
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field

from .allocator import ReqToMetadataBlockAllocator
from .buffers import MultimodalDataBuffers, SetBufRequest
from .kvpoll import KVPoll, update_status
from .source import SourceData
from .trace import Scenario
from .transport import CopyRequest, Frames, Transport, is_cancel, session_id
from .variants import SEED, Variant

logger = logging.getLogger("ranksync.reference.embedding")

QUEUE_SIZE = 4  # SGLANG_DISAGGREGATION_QUEUE_SIZE default (§2)


@dataclass
class TransferEmbeddingInfo:
    """Per-session transfer record (§7.2)."""

    room: int
    endpoint: str
    dst_port: int
    mooncake_session_id: str
    dst_embedding_indices: list[int]
    required_dst_info_num: int
    allocated_tokens: int
    sent_tokens: int = 0
    src_embedding_indices: list[int] | None = None
    total_tokens: int | None = None


@dataclass
class TransferEmbeddingChunk:
    room: int
    embedding_indices: list[int]
    is_last: bool
    total_tokens: int
    # per_session (trace-format "Designs"): a resume chunk serves this session only.
    session: str | None = None


def _parse_blocks(frame: str) -> list[int]:
    return [int(x) for x in frame.split(",") if x != ""]


def _session_port_of(sid: str) -> int:
    return int(sid.rsplit(":", 1)[1])


@dataclass
class MooncakeEmbeddingManager:
    """ENCODE-mode manager of one embedding rank: ``request_status``, ``transfer_infos``,
    the shard queues and what its ``embedding_thread`` / ``transfer_worker`` threads do."""

    rank: int
    transport: Transport
    src_buffers: MultimodalDataBuffers
    session_ranks: dict[str, int]  # session id -> language rank (registration, §6)
    freed_src_blocks: set[int]
    queue_size: int = QUEUE_SIZE
    request_status: dict[int, KVPoll] = field(default_factory=dict)
    transfer_infos: dict[int, dict[str, TransferEmbeddingInfo]] = field(default_factory=dict)
    failed_sessions: set[str] = field(default_factory=set)
    failure_records: dict[int, str] = field(default_factory=dict)
    room_queue: dict[int, int] = field(default_factory=dict)
    # design change per_session (trace-format "Designs")
    per_session: bool = False

    def __post_init__(self) -> None:
        self.transfer_queues: list[deque[TransferEmbeddingChunk]] = [
            deque() for _ in range(self.queue_size)
        ]
        self.worker_dead = [False] * self.queue_size

    def update_status(self, room: int, status: KVPoll) -> None:
        update_status(self.request_status, room, status)

    def check_status(self, room: int) -> KVPoll | None:
        return self.request_status.get(room)

    def _sessions(self, room: int) -> list[tuple[str, TransferEmbeddingInfo]]:
        # trace-format: sessions of one embedding rank are processed in ascending
        # language-rank order (the engine: insertion order of the init messages).
        infos = self.transfer_infos.get(room, {})
        return sorted(infos.items(), key=lambda kv: self.session_ranks[kv[0]])

    def _shard(self, room: int) -> int:
        if room not in self.room_queue:
            ports = sum(_session_port_of(s) for s in self.transfer_infos.get(room, {}))
            self.room_queue[room] = ports % self.queue_size
        return self.room_queue[room]

    # -- §7.1 add_transfer_request ---------------------------------------------------------
    def add_transfer_request(
        self, room: int, embedding_indices: list[int], is_last: bool, total_tokens: int, block_size: int
    ) -> None:
        status = self.request_status.get(room)
        if status is None or status == KVPoll.Failed:
            return
        if not self.transfer_infos.get(room):
            return  # "dummy rank ... already marked as success": nothing changes (§4)
        if status in (KVPoll.Transferring, KVPoll.Success):
            logger.debug("Skip duplicate transfer for room=%s, status=%s", room, status)
            return
        self.transfer_queues[self._shard(room)].append(
            TransferEmbeddingChunk(room, list(embedding_indices), is_last, total_tokens)
        )

    # -- §7.4 embedding_thread: one message --------------------------------------------------
    def embedding_thread_step(self, frames: Frames) -> None:
        if frames[0] == "None":  # registration: handshake is done before step 0
            self.failed_sessions.discard(frames[3])
            return
        if is_cancel(frames):
            self._cancel(int(frames[0]), frames[3])
            return
        room = int(frames[0])
        endpoint, dst_port, sid = frames[1], int(frames[2]), frames[3]
        dst = _parse_blocks(frames[4])
        required = int(frames[5])
        if len(frames) >= 8:
            sent, allocated = int(frames[6]), int(frames[7])
            info = self.transfer_infos.get(room, {}).get(sid)
            if info is None:
                logger.error("Cannot resume: room=%s session=%s not found in transfer_infos", room, sid)
                return
            # Overwrite, never merge: the record forgets what the worker counted (§7.2).
            info.sent_tokens = sent
            info.allocated_tokens = allocated
            info.dst_embedding_indices = dst
            logger.info("Resume transfer for room=%s, sent_tokens=%s, allocated_tokens=%s", room, sent, allocated)
            if info.src_embedding_indices is not None and (info.total_tokens or 0) > 0:
                q = self._shard(room)
                self.transfer_queues[q].append(
                    TransferEmbeddingChunk(
                        room, list(info.src_embedding_indices), True, info.total_tokens or 0,
                        session=sid if self.per_session else None,
                    )
                )
                logger.info(
                    "Resume transfer triggered: room=%s, queue_idx=%s, src_blocks=%s",
                    room, q, len(info.src_embedding_indices),
                )
            else:
                logger.error(
                    "Cannot trigger resume: missing src_embedding_indices or total_tokens for room=%s session=%s",
                    room, sid,
                )
            return
        allocated = int(frames[6])
        self.transfer_infos.setdefault(room, {})[sid] = TransferEmbeddingInfo(
            room=room,
            endpoint=endpoint,
            dst_port=dst_port,
            mooncake_session_id=sid,
            dst_embedding_indices=dst,
            required_dst_info_num=required,
            allocated_tokens=allocated,
        )
        if len(self.transfer_infos[room]) == required:
            self.update_status(room, KVPoll.WaitingForInput)

    # -- §7.3 transfer_worker: one chunk -------------------------------------------------
    def transfer_worker_step(self, queue_idx: int, fail_first_session: bool = False) -> bool:
        """Process the oldest chunk of one shard; False if there was none (or it is dead)."""
        if self.worker_dead[queue_idx] or not self.transfer_queues[queue_idx]:
            return False
        chunk = self.transfer_queues[queue_idx].popleft()
        room = chunk.room
        if self.per_session:
            return self._per_session_step(queue_idx, chunk, fail_first_session)
        try:
            processed: list[str] = []
            for i, (sid, info) in enumerate(self._sessions(room)):
                if sid in self.failed_sessions:
                    self._fail(room, sid, f"Session {sid} failed.")
                    break
                ret, partial = self._send_session(chunk, sid, info, fail_first_session and i == 0)
                if ret != 0:
                    self.failed_sessions.add(sid)
                    self._fail(room, sid, f"Failed to send embedding chunk of {room} to {info.endpoint}:{info.dst_port}")
                    break
                processed.append(sid)
                if len(processed) == info.required_dst_info_num:
                    # The status of *this* chunk's last send; says nothing of which round.
                    status = KVPoll.Transferring if partial else KVPoll.Success
                    self.update_status(room, status)
                    for s in processed:
                        self.transport.send_status(self.session_ranks[s], room, status)
            self._finish_chunk(room)
        except Exception as exc:  # §7.3 step 8: the worker thread dies
            self._worker_died(queue_idx, exc)
        return True

    def _finish_chunk(self, room: int) -> None:
        """§7.3 step 7: drop the room's records once it is absent or at Success."""
        if room not in self.request_status or self.request_status[room] == KVPoll.Success:
            self.transfer_infos.pop(room, None)

    def _worker_died(self, queue_idx: int, exc: Exception) -> None:
        logger.exception(
            "Transfer thread failed because of %s. Embedding instance with bootstrap_port=%s is dead.",
            exc, "n/a",
        )
        self.worker_dead[queue_idx] = True

    def _send_session(self, chunk: TransferEmbeddingChunk, sid: str, info: TransferEmbeddingInfo,
                      fail: bool
                      ) -> tuple[int, bool]:
        """§7.3 step 5 for one session: remember the source blocks, write min(remaining,
        allocated) tokens, advance sent_tokens if the write succeeded."""
        if info.src_embedding_indices is None:
            info.src_embedding_indices = list(chunk.embedding_indices)
            info.total_tokens = chunk.total_tokens
        sent_before = info.sent_tokens
        ret, partial = self.send_embedding(
            sid, chunk.embedding_indices, info.dst_embedding_indices, chunk.total_tokens,
            self.src_buffers.block_size, info.sent_tokens, info.allocated_tokens, fail=fail)
        if ret == 0:
            info.sent_tokens += min(chunk.total_tokens - sent_before, info.allocated_tokens)
        return ret, partial

    def _per_session_step(self, queue_idx: int, chunk: TransferEmbeddingChunk, fail_first: bool) -> bool:
        """§7.3 under the design change ``per_session``: a resume chunk serves its session
        only; each processed session gets its own status right after its write (Success iff
        it now holds all L tokens); the room is Success once every session of this rank
        holds L tokens, Transferring before; sessions marked failed are skipped (no write,
        no status). The room status goes through ``update_status`` (§3.1) like every other
        update, so a later session's chunk raises a Failed room again."""
        room = chunk.room
        try:
            sessions = self._sessions(room)
            if chunk.session is not None:
                sessions = [(sid, info) for sid, info in sessions if sid == chunk.session]
            for i, (sid, info) in enumerate(sessions):
                if sid in self.failed_sessions:
                    continue
                ret, _partial = self._send_session(chunk, sid, info, fail_first and i == 0)
                if ret != 0:  # §7.3 step 4 is unchanged: the chunk stops here
                    self.failed_sessions.add(sid)
                    self._fail(room, sid, f"Failed to send embedding chunk of {room} to {info.endpoint}:{info.dst_port}")
                    break
                own = KVPoll.Success if info.sent_tokens >= chunk.total_tokens else KVPoll.Transferring
                infos = self.transfer_infos.get(room, {}).values()
                done = all(x.total_tokens is not None and x.sent_tokens >= x.total_tokens for x in infos)
                # §3.1 as everywhere: this raises a Failed room again (max(Failed, s) = s).
                self.update_status(room, KVPoll.Success if done else KVPoll.Transferring)
                self.transport.send_status(self.session_ranks[sid], room, own)
            self._finish_chunk(room)
        except Exception as exc:  # §7.3 step 8: the worker thread dies
            self._worker_died(queue_idx, exc)
        return True

    def _cancel(self, room: int, sid: str) -> None:
        """Design change ``cancel``: a cancel message from session ``sid`` (FIFO with init and
        resume). No later write to the session; the room is Failed (the inflight poll frees
        the source blocks); Failed goes to that session even without ``transfer_infos``."""
        logger.info("Cancel for room=%s session=%s", room, sid)
        self.failed_sessions.add(sid)
        self.failure_records.setdefault(room, f"Cancelled by session {sid}")
        self.update_status(room, KVPoll.Failed)
        self.transport.send_status(self.session_ranks[sid], room, KVPoll.Failed)

    def _fail(self, room: int, sid: str, reason: str) -> None:
        logger.error("Session %s failed with embedding_chunk.room=%r", sid, room)
        self.failure_records[room] = reason
        self.update_status(room, KVPoll.Failed)
        self.transport.send_status(self.session_ranks[sid], room, KVPoll.Failed)

    def send_embedding(
        self,
        sid: str,
        src_indices: list[int],
        dst_indices: list[int],
        total_tokens: int,
        block_size: int,
        sent_tokens: int,
        allocated_tokens: int,
        fail: bool = False,
    ) -> tuple[int, bool]:
        """§7.3 step 3: one (possibly partial) send to one session."""
        bs = block_size
        n_dst = len(dst_indices)
        if n_dst == 0 or allocated_tokens // n_dst != bs:
            implied = allocated_tokens // n_dst if n_dst else "n/a"
            raise ValueError(
                f"Block size mismatch: Embedding side uses {bs}, but Language side allocated "
                f"{allocated_tokens} tokens for {n_dst} blocks (implies block_size={implied})"
            )
        remaining = total_tokens - sent_tokens
        if remaining > allocated_tokens:
            to_send, partial = allocated_tokens, True
            logger.warning(
                "Partial transfer: remaining=%s > allocated=%s. Will transfer %s tokens.",
                remaining, allocated_tokens, allocated_tokens,
            )
        else:
            to_send, partial = remaining, False
        d = max(-(-to_send // bs), 0)
        if d > n_dst:
            raise ValueError(f"Insufficient dst blocks: need {d} blocks for {to_send} tokens, but only have {n_dst} blocks")
        start_block = sent_tokens // bs  # copying restarts at a source block boundary (§9.2)
        pairs = list(zip(src_indices[start_block : start_block + d], dst_indices[:d], strict=False))
        item_lens = self.src_buffers.get_buf_infos().item_lens
        requests: list[CopyRequest] = []
        writes: list[dict[str, object]] = []
        for k, (s, t_dst) in enumerate(pairs):
            t = bs if k < d - 1 else to_send - (d - 1) * bs
            for a in range(3):  # embeddings, fill ids, mrope: first item_len·t/bs bytes
                n = item_lens[a] * t // bs
                requests.append(CopyRequest(a, s * item_lens[a], t_dst * item_lens[a], n))
            with_aux = sent_tokens == 0 and k == 0
            if with_aux:
                requests.append(CopyRequest(3, s * item_lens[3], t_dst * item_lens[3], item_lens[3]))
            aux_row = self.src_buffers.aux_datas[s]
            writes.append(
                {
                    "block": t_dst,
                    "start": (start_block + k) * bs,
                    "count": t,
                    "aux": [int(aux_row[0]), int(aux_row[1])] if with_aux else None,
                    "garbage": s in self.freed_src_blocks,
                }
            )
        lang_rank = self.session_ranks[sid]
        ret = self.transport.batch_transfer_sync(lang_rank, self.src_buffers, requests, fail=fail)
        if ret == 0 and self.transport.delivers_data(lang_rank):
            for w in writes:
                self.transport.record_write(lang_rank, w)
        return ret, partial

    def clear(self, room: int) -> None:
        self.request_status.pop(room, None)
        self.transfer_infos.pop(room, None)


class MooncakeEmbeddingSender:
    """Sender of one room on one embedding rank (§7.1)."""

    def __init__(self, mgr: MooncakeEmbeddingManager, room: int) -> None:
        self.mgr = mgr
        self.room = room
        mgr.update_status(room, KVPoll.Bootstrapping)

    def poll(self) -> KVPoll | None:
        return self.mgr.check_status(self.room)

    def send_embedding(self, embedding_indices: list[int], last_chunk: bool, total_tokens: int, block_size: int) -> None:
        self.mgr.add_transfer_request(self.room, embedding_indices, last_chunk, total_tokens, block_size)

    def clear(self) -> None:
        self.mgr.clear(self.room)


class EmbeddingRank:
    """Scheduler of one embedding rank: source blocks, ``set_buf``, inflight bookkeeping."""

    def __init__(
        self, rank: int, scenario: Scenario, transport: Transport, source: SourceData, variant: Variant = SEED
    ) -> None:
        bs = scenario.block_size
        n_src = -(-scenario.embedding_length // bs)
        self.rank = rank
        self.scenario = scenario
        self.source = source
        self.allocator = ReqToMetadataBlockAllocator(n_src, bs)
        self.buffers = MultimodalDataBuffers(n_src, bs, scenario.hidden)
        self.freed_src_blocks: set[int] = set()
        sessions = {session_id(r): r for r in scenario.sessions_of(rank)}
        self.manager = MooncakeEmbeddingManager(
            rank=rank,
            transport=transport,
            src_buffers=self.buffers,
            session_ranks=sessions,
            freed_src_blocks=self.freed_src_blocks,
            per_session=variant.per_session,
        )
        self.sender = MooncakeEmbeddingSender(self.manager, scenario.room)
        # pop_bootstrapped would allocate after the handshake; the ids are not observed.
        blocks = self.allocator.alloc(scenario.embedding_length, scenario.rid)
        assert blocks is not None
        self.src_indices = blocks

    def encode(self) -> None:
        """§7.1 step 3: ``set_buf`` then ``send_embedding`` (-> add_transfer_request)."""
        self.buffers.set_buf(
            SetBufRequest(
                embedding=self.source.embedding,
                fill_ids=self.source.fill_ids,
                mrope_positions=self.source.mrope_positions,
                mrope_position_delta=self.source.delta,
                embedding_indices=self.src_indices,
                room=self.scenario.room,  # every variant records it; only ``gate`` reads it
            )
        )
        self.sender.send_embedding(self.src_indices, True, self.scenario.embedding_length, self.scenario.block_size)

    def free_source(self) -> None:
        """Release the source blocks. Their token data become garbage for any later chunk
        (trace-format: source token q reads as content id -(10000 + q)); the reference
        overwrites them with those ids in ``set_buf``'s layout, so a late copy carries the
        garbage like any other data. The aux row is left as it was."""
        self.allocator.free(block_indices=self.src_indices)
        self.freed_src_blocks.update(self.src_indices)
        src = self.source
        self.buffers.write_tokens(
            self.src_indices, src.garbage_embedding, src.garbage_fill_ids, src.garbage_mrope_positions
        )


class EmbeddingSide:
    """All E embedding ranks, driven by the schedule's environment events."""

    def __init__(
        self, scenario: Scenario, transport: Transport, source: SourceData, variant: Variant = SEED
    ) -> None:
        self.scenario = scenario
        self.transport = transport
        self.ranks = [
            EmbeddingRank(e, scenario, transport, source, variant) for e in range(scenario.embedding_tp_size)
        ]
        self.inflight = False
        self.encoded = False

    def process_messages(self, lang_rank: int) -> None:
        """``messages``: the embedding thread of r's embedding rank drains r's messages."""
        emb = self.ranks[self.scenario.embedding_rank_of(lang_rank)]
        fifo = self.transport.to_embedding[lang_rank]
        while fifo:
            emb.manager.embedding_thread_step(fifo.popleft())

    def encode(self) -> None:
        if not self.encoded:
            waiting = [e.rank for e in self.ranks if e.sender.poll() == KVPoll.Bootstrapping]
            if waiting:
                from .trace import TraceError

                raise TraceError(
                    f"encode scheduled before embedding rank(s) {waiting} saw all their init messages"
                )
        self.encoded = True
        for e in self.ranks:
            e.encode()
        self.inflight = True

    def process_chunk(self, emb_rank: int, fail: bool) -> None:
        mgr = self.ranks[emb_rank].manager
        room = self.scenario.room
        if room not in mgr.room_queue:
            return  # nothing was ever queued for the room on this rank
        mgr.transfer_worker_step(mgr.room_queue[room], fail_first_session=fail)

    def emb_finish(self) -> None:
        """Inflight queue (§7.1 step 4): MIN over embedding ranks of the room status."""
        if not self.inflight:
            return
        polls = [e.sender.poll() for e in self.ranks]
        status = min(int(p) if p is not None else int(KVPoll.Failed) for p in polls)
        if status == KVPoll.Success:
            for e in self.ranks:
                e.sender.clear()
                e.free_source()
            self.inflight = False
        elif status == KVPoll.Failed:
            # Abort and free. The sender's failure_exception() starts with clear(), so the
            # room's transfer_infos and status go too (engine behaviour protocol.md omits).
            for e in self.ranks:
                e.sender.clear()
                e.free_source()
            self.inflight = False
