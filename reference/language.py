"""Language side: receiver, prealloc queue, transfer queue (protocol.md §3.2, §8)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from .allocator import SharedPoolAllocator
from .buffers import MultimodalDataBuffers, aux_room, room_as_int32
from .collectives import CollectiveGroup, ReduceOp, poll_and_all_reduce
from .content import leave_block
from .events import Recorder, handoff_event
from .kvpoll import KVPoll, update_status
from .source import SourceData
from .trace import Scenario
from .transport import Transport, cancel_frames, init_frames, resume_frames
from .variants import Variant

DEFAULT_FAILURE_REASON = "Failed due to an unknown reason from another rank"
ABORT_REASON = "Aborted by AbortReq."
PARTIAL_ATTRS = (
    "partial_input_embeds",
    "partial_fill_ids",
    "partial_mrope_positions",
    "partial_aux_datas",
    "partial_sent_tokens",
)


class EmbeddingTransferError(Exception):
    def __init__(self, bootstrap_room: int, failure_reason: str) -> None:
        super().__init__(failure_reason)
        self.bootstrap_room = bootstrap_room
        self.failure_reason = failure_reason

    def __str__(self) -> str:
        return f"EmbeddingTransferError(bootstrap_room={self.bootstrap_room}): {self.failure_reason}"


@dataclass
class LanguageManager:
    """LANGUAGE-mode manager state of one rank: the per-room status store (§3.1, §3.2)."""

    request_status: dict[int, KVPoll] = field(default_factory=dict)
    failure_records: dict[int, str] = field(default_factory=dict)

    def update_status(self, room: int, status: KVPoll) -> None:
        update_status(self.request_status, room, status)


class MooncakeEmbeddingReceiver:
    """One per request per language rank; one session with one embedding rank (§4)."""

    def __init__(
        self,
        mgr: LanguageManager,
        transport: Transport,
        recorder: Recorder,
        lang_rank: int,
        bootstrap_room: int,
        target_tp_rank: int,
        required_dst_info_num: int,
    ) -> None:
        self.mgr = mgr
        self.transport = transport
        self.recorder = recorder
        self.lang_rank = lang_rank
        self.bootstrap_room = bootstrap_room
        self.target_tp_rank = target_tp_rank
        self.required_dst_info_num = required_dst_info_num
        self.conclude_state: KVPoll | None = None
        mgr.update_status(bootstrap_room, KVPoll.Bootstrapping)
        # The trace starts after the bootstrap handshake (trace-format "Schedule").
        mgr.update_status(bootstrap_room, KVPoll.WaitingForInput)

    def init(self, embedding_indices: list[int], allocated_tokens: int) -> None:
        self.recorder.emit({"ev": "init", "blocks": list(embedding_indices), "allocated_tokens": allocated_tokens})
        self.transport.send_to_embedding(
            self.lang_rank,
            init_frames(self.bootstrap_room, self.lang_rank, embedding_indices, self.required_dst_info_num, allocated_tokens),
        )

    def resume_transfer(self, embedding_indices: list[int], sent_tokens: int, allocated_tokens: int) -> None:
        self.recorder.emit(
            {"ev": "resume", "blocks": list(embedding_indices), "sent_tokens": sent_tokens, "allocated_tokens": allocated_tokens}
        )
        self.transport.send_to_embedding(
            self.lang_rank,
            resume_frames(
                self.bootstrap_room, self.lang_rank, embedding_indices,
                self.required_dst_info_num, sent_tokens, allocated_tokens,
            ),
        )

    def cancel(self) -> None:
        """Design change ``cancel``: tell the embedding rank to stop serving this session."""
        self.recorder.emit({"ev": "cancel"})
        self.transport.send_to_embedding(self.lang_rank, cancel_frames(self.bootstrap_room, self.lang_rank))

    def poll(self) -> KVPoll:
        """§3.2: the latched state if any; Success/Failed latch forever."""
        if self.conclude_state is not None:
            return self.conclude_state
        status = self.mgr.request_status.get(self.bootstrap_room)
        if status is None:  # cleared by failure_exception(); the request has left the queue
            return KVPoll.Failed
        if status in (KVPoll.Success, KVPoll.Failed):
            self.conclude_state = status
        return status

    def abort(self) -> None:
        """Latch Failed; ``request_status`` is not touched (§3.2, §11)."""
        self.conclude_state = KVPoll.Failed
        self.mgr.failure_records[self.bootstrap_room] = ABORT_REASON

    def clear(self) -> None:
        self.mgr.request_status.pop(self.bootstrap_room, None)
        self.mgr.failure_records.pop(self.bootstrap_room, None)

    def failure_exception(self) -> None:
        reason = self.mgr.failure_records.get(self.bootstrap_room, DEFAULT_FAILURE_REASON)
        self.clear()
        raise EmbeddingTransferError(self.bootstrap_room, reason)


class Req:
    """The engine ``Req`` fields this protocol touches; ``partial_*`` attributes are attached
    and removed dynamically (tested with ``hasattr``, §8.1)."""

    def __init__(self, rid: str, bootstrap_room: int) -> None:
        self.rid = rid
        self.bootstrap_room = bootstrap_room
        self.input_embeds: torch.Tensor | None = None
        self.origin_input_ids: list[int] | None = None
        self.multimodal_inputs: MockMultimodalInputs | None = None
        self.embedding_indices: list[int] | None = None
        self.finished_reason: dict[str, Any] | None = None


@dataclass
class MockMultimodalInputs:
    """Built when fewer ids than ``embedding_length`` arrived (§8.4 final assembly, step 4)."""

    mrope_positions: torch.Tensor
    mrope_position_delta: list[list[int]]
    modality: str = "IMAGE"


@dataclass
class MultimodalLanguageRequest:
    req: Req
    embedding_receiver: MooncakeEmbeddingReceiver
    waiting_for_input: bool = False
    embedding_indices: list[int] = field(default_factory=list)
    aborted: bool = False


def prepare_abort(req: Req, message: str, status_code: int) -> None:
    req.finished_reason = {"type": "abort", "message": message, "status_code": status_code}


class MultimodalLanguagePreallocQueue:
    """§8.3: handshake waiters and the first allocation."""

    def __init__(self, rank: LanguageRank) -> None:
        self.rank = rank
        self.queue: list[MultimodalLanguageRequest] = []

    def add(self, lreq: MultimodalLanguageRequest) -> None:
        self.queue.append(lreq)

    def _update_handshake_waiters(self) -> None:
        if not self.queue or all(lr.waiting_for_input for lr in self.queue):
            return
        polls = poll_and_all_reduce([lr.embedding_receiver for lr in self.queue], self.rank.gloo_group)
        self.rank.recorder.emit({"ev": "poll", "queue": "prealloc", "result": polls})
        for lr, poll in zip(self.queue, polls, strict=True):
            if poll == KVPoll.WaitingForInput:
                lr.waiting_for_input = True
            elif poll == KVPoll.Failed:
                msg = (
                    f"MultimodalLanguage handshake failed for request rank={self.rank.rank} "
                    f"language_req.req.rid={lr.req.rid!r} language_req.req.bootstrap_room={lr.req.bootstrap_room}"
                )
                try:
                    lr.embedding_receiver.failure_exception()
                except Exception as exc:
                    msg += f" with exception {exc}"
                self.rank.recorder.error(msg)
                prepare_abort(lr.req, msg, 500)
                lr.aborted = True

    def pop_preallocated(self) -> list[MultimodalLanguageRequest]:
        self._update_handshake_waiters()
        self.queue = [lr for lr in self.queue if not lr.aborted]  # streamed out and dropped
        rank = self.rank
        bs = rank.scenario.block_size
        done: list[MultimodalLanguageRequest] = []
        agree = rank.variant.alloc_agree
        for lr in self.queue:
            if not lr.waiting_for_input:
                continue
            blocks: list[int] | None = None
            if rank.allocator.available_size() > 0:
                n = rank.scenario.default_allocate_tokens
                blocks = rank.allocator.alloc(num_tokens=n, req_id=lr.req.rid, fake=False)
                rank.recorder.emit({"ev": "alloc", "num_tokens": n, "result": blocks})
            elif not agree:
                break
            if agree:
                # alloc_agree: a rank with nothing free takes part too (it contributes 0).
                blocks = rank.agree_on_alloc(blocks)
            if blocks is None:
                break  # alloc_agree: the request stays in the prealloc queue on every rank
            lr.embedding_indices = blocks
            lr.embedding_receiver.init(embedding_indices=blocks, allocated_tokens=len(blocks) * bs)
            done.append(lr)
        self.queue = [lr for lr in self.queue if all(lr is not d for d in done)]
        return done


class MultimodalLanguageTransferQueue:
    """§8.4: the decision procedure, one MIN poll per iteration."""

    def __init__(self, rank: LanguageRank) -> None:
        self.rank = rank
        self.queue: list[MultimodalLanguageRequest] = []

    def extend(self, reqs: list[MultimodalLanguageRequest]) -> None:
        self.queue.extend(reqs)

    # -- helpers ----------------------------------------------------------------------
    def _free(self, blocks: list[int]) -> None:
        self.rank.allocator.free(block_indices=blocks)
        self.rank.recorder.emit({"ev": "free", "blocks": list(blocks)})

    def _alloc(self, num_tokens: int, rid: str) -> list[int] | None:
        blocks = self.rank.allocator.alloc(num_tokens=num_tokens, req_id=rid)
        self.rank.recorder.emit({"ev": "alloc", "num_tokens": num_tokens, "result": blocks})
        return blocks

    def _sync(self, value: int) -> int:
        """One of the seed's MAX all-reduces (MIN under the max_to_min mutant)."""
        op = ReduceOp.MAX if self.rank.variant.sync_op == "max" else ReduceOp.MIN
        tensor = torch.tensor([value], dtype=torch.int64)
        self.rank.gloo_group.all_reduce(tensor, op)
        out = int(tensor.item())
        self.rank.recorder.emit({"ev": "all_reduce_max", "value": out})
        return out

    def _handle_failed_request(self, lreq: MultimodalLanguageRequest, free: bool = True) -> None:
        """§8.6: note it frees ``embedding_indices``, whatever was already freed.

        ``free=False``: no_refree after a failed resume allocation (nothing is held). Under
        the design change ``cancel`` the free is replaced by a cancel message, and the blocks
        are kept until the room's status is Failed (:meth:`LanguageRank.deferred_frees`)."""
        req = lreq.req
        # cancel: a Failed the embedding side already sent counts, although
        # failure_exception() (clear()) drops the room from request_status just below.
        confirmed = self.rank.manager.request_status.get(req.bootstrap_room) == KVPoll.Failed
        msg = (
            f"MultiModalLanguage transfer failed for request rank={self.rank.rank} "
            f"language_req.req.rid={req.rid!r} language_req.req.bootstrap_room={req.bootstrap_room}"
        )
        try:
            lreq.embedding_receiver.failure_exception()
        except Exception as exc:
            msg += f" with exception {exc}"
        self.rank.recorder.error(msg)
        prepare_abort(req, msg, 500)
        if self.rank.variant.cancel:
            lreq.embedding_receiver.cancel()
            if free:
                self.rank.held_blocks.append((req.bootstrap_room, list(lreq.embedding_indices), confirmed))
        elif free:
            self._free(lreq.embedding_indices)

    # -- §8.4 ---------------------------------------------------------------------------
    def pop_transferred(self) -> list[Req]:
        if not self.queue:
            return []
        rec = self.rank.recorder
        pollers = [_GatedPoller(self.rank, lr) if self.rank.variant.gate else lr.embedding_receiver for lr in self.queue]
        polls = poll_and_all_reduce(pollers, self.rank.gloo_group)
        rec.emit({"ev": "poll", "queue": "transfer", "result": polls})
        transferred: list[Req] = []
        leaving: list[MultimodalLanguageRequest] = []
        for lreq, poll in zip(self.queue, polls, strict=True):
            if poll == KVPoll.Failed:
                self._handle_failed_request(lreq)
                rec.emit({"ev": "removed", "reason": "failed"})
                leaving.append(lreq)
            elif poll == KVPoll.Success:
                if not hasattr(lreq.req, "partial_input_embeds"):
                    parts = self.rank.buffers.get_buf(lreq.embedding_indices)
                else:
                    parts = self._resumed_assembly(lreq)
                if self._final_assembly(lreq, *parts):
                    transferred.append(lreq.req)
                else:
                    self._handle_failed_request(lreq)
                    rec.emit({"ev": "removed", "reason": "failed"})
                leaving.append(lreq)
            elif poll == KVPoll.Transferring:
                if self._transferring(lreq):
                    leaving.append(lreq)
            elif poll in (KVPoll.Bootstrapping, KVPoll.WaitingForInput):
                pass
            else:
                raise ValueError(f"Unexpected poll case: {poll}")
        for lreq in leaving:
            assert lreq.embedding_indices, "removed request without embedding_indices"
        self.queue = [lr for lr in self.queue if all(lr is not x for x in leaving)]
        return transferred

    def _transferring(self, lreq: MultimodalLanguageRequest) -> bool:
        """The Transferring procedure (§8.4; prefix per §14). True if the request left."""
        rank, v, rec = self.rank, self.rank.variant, self.rank.recorder
        req, rid, bs = lreq.req, lreq.req.rid, rank.scenario.block_size
        if not v.synced:  # prefix: local values every time, no cached path
            _, ids, _, aux = rank.buffers.get_buf(lreq.embedding_indices)
            total, sent = int(aux[0]), int(ids.shape[0])
        elif hasattr(req, "partial_aux_datas"):
            total, sent = int(req.partial_aux_datas[0]), int(req.partial_sent_tokens)  # type: ignore[attr-defined]
            rec.info(f"Using cached partial_aux_datas for rid={rid}: actual_total_length={total}, sent_tokens={sent}")
            if v.wait and getattr(req, "resume_pending", False):
                rec.info(f"Resume transfer pending for rid={rid}: waiting for the resumed data")
                return False
        else:
            _, ids, _, aux = rank.buffers.get_buf(lreq.embedding_indices)
            total, sent = int(aux[0]), int(ids.shape[0])
            if not v.no_sync:  # no_sync: the local values, no all-reduce, no log
                total = self._sync(total)
                if v.sync_sent:
                    sent = self._sync(sent)
                rec.info(f"Synced aux_datas across ranks for rid={rid}: actual_total_length={total}, sent_tokens={sent}")

        if total <= sent:
            rec.warning(f"Unexpected: Transferring status but sent_tokens={sent} >= actual_total_length={total}")
            return False
        remaining = total - sent
        rec.info(
            f"Partial transfer detected for rid={rid}: received {sent}/{total} tokens, "
            f"need to resume for {remaining} more tokens"
        )
        if v.cache and (v.recache_every_iteration or not hasattr(req, "partial_input_embeds")):
            emb, ids, mrope, aux = rank.buffers.get_buf(lreq.embedding_indices)
            req.partial_input_embeds = emb  # type: ignore[attr-defined]
            req.partial_fill_ids = [int(x) for x in ids.tolist()]  # type: ignore[attr-defined]
            req.partial_mrope_positions = mrope  # type: ignore[attr-defined]
            if not v.synced:
                req.partial_aux_datas = aux  # type: ignore[attr-defined]  # prefix: the local row (a view)
            else:
                cached_total = int(aux[0]) if v.cache_local_total else total
                req.partial_aux_datas = torch.tensor([cached_total, int(aux[1])], dtype=torch.int32)  # type: ignore[attr-defined]
            req.partial_sent_tokens = sent  # type: ignore[attr-defined]
        old = lreq.embedding_indices
        if v.alloc_before_free:
            new = self._alloc(remaining, rid)
            if v.alloc_agree:
                new = rank.agree_on_alloc(new)
            self._free(old)
        else:
            self._free(old)  # old blocks go back to the free list before the resume lands
            new = self._alloc(remaining, rid)
            if v.alloc_agree:
                new = rank.agree_on_alloc(new)
        if new is None:
            rec.error(f"Not enough memory to resume transfer for rid={rid}, need {remaining} tokens")
            # embedding_indices still names the blocks just freed: the handler frees them again
            # (no_refree: it does not).
            self._handle_failed_request(lreq, free=not v.no_refree)
            rec.emit({"ev": "removed", "reason": "failed"})
            return True
        lreq.embedding_indices = new
        allocated = len(new) * bs
        lreq.embedding_receiver.resume_transfer(new, 0 if v.stale_resume_sent else sent, allocated)
        req.resume_pending = True  # type: ignore[attr-defined]
        rec.info(f"Resume transfer initiated for rid={rid}: allocated {len(new)} blocks ({allocated} tokens)")
        return False

    def _resumed_assembly(
        self, lreq: MultimodalLanguageRequest
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """§8.4 resumed assembly: cache ++ the current blocks, counts from the cache only."""
        rank, rec, req = self.rank, self.rank.recorder, lreq.req
        bs, hidden = rank.scenario.block_size, rank.scenario.hidden
        bufs = rank.buffers
        partial_sent = int(req.partial_sent_tokens)  # type: ignore[attr-defined]
        total = int(req.partial_aux_datas[0])  # type: ignore[attr-defined]
        remaining = total - partial_sent
        rec.info(
            f"Resume transfer for rid={req.rid}: partial_sent={partial_sent}, total_expected={total}, "
            f"remaining_expected={remaining}, allocated_blocks={len(lreq.embedding_indices)}"
        )
        embs: list[torch.Tensor] = []
        ids: list[torch.Tensor] = []
        mropes: list[torch.Tensor] = []
        gathered = 0
        for block in lreq.embedding_indices:
            t = min(bs, remaining - gathered)
            if t <= 0:
                break
            embs.append(bufs.input_embeddings[block, : t * hidden].reshape(t, hidden))
            ids.append(bufs.fill_ids[block, :t])
            mropes.append(bufs.mrope_positions[block, : 3 * t].reshape(3, t))
            gathered += t
        new_emb = torch.cat(embs, 0) if embs else torch.empty((0, hidden), dtype=torch.bfloat16)
        new_ids = torch.cat(ids, 0) if ids else torch.empty((0,), dtype=torch.int32)
        new_mrope = torch.cat(mropes, 1) if mropes else torch.empty((3, 0), dtype=torch.int32)
        p_emb: torch.Tensor = req.partial_input_embeds  # type: ignore[attr-defined]
        p_ids: list[int] = req.partial_fill_ids  # type: ignore[attr-defined]
        p_mrope: torch.Tensor = req.partial_mrope_positions  # type: ignore[attr-defined]
        rec.info(
            f"Merging resumed transfer data for rid={req.rid}: partial_embeds_shape={p_emb.shape}, "
            f"new_embeds_shape={new_emb.shape}, partial_fill_ids_len={len(p_ids)}, "
            f"new_fill_ids_len={len(new_ids)}, partial_mrope_shape={p_mrope.shape}, "
            f"new_mrope_shape={new_mrope.shape}"
        )
        emb = torch.cat([p_emb, new_emb], 0)
        fill_ids = torch.cat([torch.tensor(p_ids, dtype=torch.int64), new_ids.to(torch.int64)], 0)
        if p_mrope.numel() > 0 and new_mrope.numel() > 0:
            rec.info(f"Concatenating mrope_positions: partial shape={p_mrope.shape}, new shape={new_mrope.shape}")
            mrope = torch.cat([p_mrope, new_mrope], -1)
        elif p_mrope.numel() > 0:
            rec.info(f"Using only partial mrope_positions: shape={p_mrope.shape}")
            mrope = p_mrope
        else:
            rec.info(f"Using only new mrope_positions: shape={new_mrope.shape}")
            mrope = new_mrope
        aux: torch.Tensor = req.partial_aux_datas  # type: ignore[attr-defined]
        for name in PARTIAL_ATTRS:
            delattr(req, name)
        return emb, fill_ids, mrope, aux

    def _final_assembly(
        self,
        lreq: MultimodalLanguageRequest,
        emb: torch.Tensor,
        ids: torch.Tensor,
        mrope: torch.Tensor,
        aux: torch.Tensor,
    ) -> bool:
        """§8.4 final assembly; False when more ids than ``embedding_length`` (-> failure)."""
        req = lreq.req
        embedding_length, delta = int(aux[0]), int(aux[1])
        req.input_embeds = emb
        req.origin_input_ids = [int(x) for x in ids.tolist()]
        ori_input_length = len(req.origin_input_ids)
        if ori_input_length == embedding_length:
            mm: MockMultimodalInputs | None = None
        elif ori_input_length < embedding_length:
            mm = MockMultimodalInputs(mrope_positions=mrope, mrope_position_delta=[[delta]])
        else:
            return False
        req.multimodal_inputs = mm
        req.embedding_indices = lreq.embedding_indices
        intact = self.rank.source.is_intact(
            req.origin_input_ids, emb, mm is not None, mrope if mm is not None else None,
            delta if mm is not None else None,
        )
        mock = None if mm is None else (mm.mrope_positions, mm.mrope_position_delta[0][0])
        self.rank.recorder.emit(handoff_event(req.origin_input_ids, emb, mock, embedding_length, intact))
        return True


class _GatedPoller:
    """Design change ``gate``: what one request contributes to the transfer-queue MIN.

    A local Success counts as Transferring unless the aux row of ``embedding_indices[0]``
    carries the request's room or the request has ``partial_aux_datas`` (its metadata
    landed in the first round)."""

    def __init__(self, rank: LanguageRank, lreq: MultimodalLanguageRequest) -> None:
        self.rank = rank
        self.lreq = lreq

    def poll(self) -> KVPoll:
        status = self.lreq.embedding_receiver.poll()
        if status != KVPoll.Success:
            return status
        req = self.lreq.req
        if hasattr(req, "partial_aux_datas"):
            return status
        row = self.rank.buffers.aux_datas[self.lreq.embedding_indices[0]]
        if aux_room(row) == room_as_int32(req.bootstrap_room):
            return status
        return KVPoll.Transferring


class LanguageRank:
    """One language TP rank: allocator, buffers, manager state, the two queues (§8.2)."""

    def __init__(
        self,
        rank: int,
        scenario: Scenario,
        variant: Variant,
        transport: Transport,
        source: SourceData,
        gloo_group: CollectiveGroup,
    ) -> None:
        self.rank = rank
        self.scenario = scenario
        self.variant = variant
        self.source = source
        self.gloo_group = gloo_group
        self.recorder = Recorder(rank)
        self.allocator = SharedPoolAllocator(
            scenario.block_size, list(scenario.initial_free[rank]), list(scenario.initial_held[rank]),
            scenario.pool_blocks,
        )
        self.buffers = MultimodalDataBuffers(scenario.pool_blocks, scenario.block_size, scenario.hidden)
        for block, (aux0, aux1) in enumerate(scenario.initial_aux[rank]):
            leave_block(self.buffers, block, scenario.initial_content[rank][block], (aux0, aux1))
        transport.dst_buffers[rank] = self.buffers
        self.manager = LanguageManager()
        self.prealloc_queue = MultimodalLanguagePreallocQueue(self)
        self.transfer_queue = MultimodalLanguageTransferQueue(self)
        self.waiting_queue: list[Req] = []
        # cancel: (room, blocks, Failed already seen) kept by failed requests until the room's
        # status is Failed
        self.held_blocks: list[tuple[int, list[int], bool]] = []
        self.receiver = MooncakeEmbeddingReceiver(
            self.manager, transport, self.recorder, rank, scenario.room,
            target_tp_rank=scenario.embedding_rank_of(rank),
            required_dst_info_num=scenario.required_dst_info_num,
        )
        self.prealloc_queue.add(MultimodalLanguageRequest(Req(scenario.rid, scenario.room), self.receiver))

    def deliver(self, room: int, status: KVPoll) -> None:
        """A status message processed by ``language_thread`` (§3.2)."""
        self.manager.update_status(room, status)

    def abort(self) -> None:
        """An abort request for the room reaches this rank (§11)."""
        for lr in self.prealloc_queue.queue + self.transfer_queue.queue:
            lr.embedding_receiver.abort()

    def agree_on_alloc(self, blocks: list[int] | None) -> list[int] | None:
        """Design change ``alloc_agree``: MIN over ranks of "this rank's alloc returned
        blocks". On 0 a rank that got blocks frees them; every rank then acts as if its
        allocation had failed (None)."""
        tensor = torch.tensor([1 if blocks is not None else 0], dtype=torch.int64)
        self.gloo_group.all_reduce(tensor, ReduceOp.MIN)
        value = int(tensor.item())
        self.recorder.emit({"ev": "all_reduce_min", "value": value})
        if value == 0:
            if blocks is not None:
                self.allocator.free(block_indices=blocks)
                self.recorder.emit({"ev": "free", "blocks": list(blocks)})
            return None
        return blocks

    def deferred_frees(self) -> None:
        """cancel: at the start of an iteration, release the blocks of failed requests whose
        room the embedding side has confirmed Failed: a Failed in ``request_status`` now, or
        one that was there when the failure handler ran (the embedding side sends Failed only
        to a session it has marked failed, so it writes there no more)."""
        keep: list[tuple[int, list[int], bool]] = []
        for room, blocks, confirmed in self.held_blocks:
            if confirmed or self.manager.request_status.get(room) == KVPoll.Failed:
                self.allocator.free(block_indices=blocks)
                self.recorder.emit({"ev": "free", "blocks": list(blocks)})
            else:
                keep.append((room, blocks, confirmed))
        self.held_blocks = keep

    def process_multimodal_language_queue(self) -> None:
        """One scheduler iteration (§8.2)."""
        self.deferred_frees()
        preallocated = self.prealloc_queue.pop_preallocated()
        self.transfer_queue.extend(preallocated)
        self.waiting_queue.extend(self.transfer_queue.pop_transferred())
