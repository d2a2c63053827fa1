"""Stand-in for the language side's queues (protocol.md §8, §10.1, §14), for CI.

Written from protocol.md, not from the engine. Same module path, class names and interfaces
as the engine, so the ranksync engine harness can load it in place of a checkout.
The Transferring procedure is the ``seed`` one (§8.4) unless ``standin_config.VARIANT``
(environment variable ``RANKSYNC_STANDIN_VARIANT``) is ``prefix`` (§14); ``standin_config.BUG``
switches on a deliberate defect for the harness's tests.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import torch
import torch.distributed as dist
from sglang.srt.disaggregation.base import KVArgs, KVPoll
from sglang.srt.disaggregation.fake.conn import FakeKVReceiver
from sglang.srt.disaggregation.standin_config import BUG, VARIANT
from sglang.srt.disaggregation.utils import (
    FAKE_BOOTSTRAP_HOST,
    DisaggregationMode,
    KVClassType,
    MultimodalDataBuffers,
    ReqToMetadataBlockAllocator,
    TransferBackend,
    get_kv_class,
    poll_and_all_reduce,
    prepare_abort,
)
from sglang.srt.managers.schedule_batch import (
    FINISH_ABORT,
    Modality,
    MultimodalDataItem,
    MultimodalInputs,
)

RANKSYNC_VARIANT = VARIANT
PARTIAL_ATTRS = ("partial_input_embeds", "partial_fill_ids", "partial_mrope_positions",
                 "partial_aux_datas", "partial_sent_tokens")

logger = logging.getLogger(__name__)


@dataclass
class MultimodalLanguageRequest:
    req: Any
    embedding_receiver: Any
    waiting_for_input: bool = False
    embedding_indices: list[int] | None = None


def _is_fake(entry: MultimodalLanguageRequest) -> bool:
    return isinstance(entry.embedding_receiver, FakeKVReceiver)


def _ids(entry: MultimodalLanguageRequest) -> str:
    return (f"language_req.req.rid={entry.req.rid!r} "
            f"language_req.req.bootstrap_room={entry.req.bootstrap_room}")


def _failure_suffix(entry: MultimodalLanguageRequest) -> str:
    try:
        entry.embedding_receiver.failure_exception()
    except Exception as e:  # noqa: BLE001 - the receiver raises its failure reason
        return f" with exception {e}"
    return ""


class MultimodalLanguagePreallocQueue:
    """Handshake and first allocation (§8.3)."""

    def __init__(self, req_to_metadata_buffer_idx_allocator: ReqToMetadataBlockAllocator,
                 metadata_buffers: MultimodalDataBuffers, tp_rank: int, tp_size: int,
                 scheduler: Any, transfer_backend: TransferBackend, bootstrap_port: int,
                 gloo_group: Any) -> None:
        self.allocator = req_to_metadata_buffer_idx_allocator
        self.metadata_buffers = metadata_buffers
        self.tp_rank, self.tp_size = tp_rank, tp_size
        self.scheduler = scheduler
        self.transfer_backend = transfer_backend
        self.bootstrap_port = bootstrap_port
        self.gloo_group = gloo_group
        self.queue: list[MultimodalLanguageRequest] = []
        self.default_allocate_tokens = int(
            os.getenv("SGLANG_EMBEDDING_DEFAULT_ALLOCATE_BUFFER_SIZE", "8192"))
        kv_args = KVArgs()
        kv_args.engine_rank = tp_rank
        kv_args.aux_data_ptrs, kv_args.aux_data_lens, kv_args.aux_item_lens = (
            metadata_buffers.get_buf_infos())
        manager_class = get_kv_class(transfer_backend, KVClassType.MANAGER, is_multimodal=True)
        self.data_manager = manager_class(kv_args, DisaggregationMode.LANGUAGE,
                                          scheduler.server_args)

    def add(self, req: Any) -> None:
        backend = (TransferBackend.FAKE if req.bootstrap_host == FAKE_BOOTSTRAP_HOST
                   else self.transfer_backend)
        receiver_class = get_kv_class(backend, KVClassType.RECEIVER, is_multimodal=True)
        receiver = receiver_class(mgr=self.data_manager,
                                  bootstrap_addr=f"{req.bootstrap_host}:{self.bootstrap_port}",
                                  bootstrap_room=req.bootstrap_room,
                                  prefill_dp_rank=req.data_parallel_rank)
        self.queue.append(MultimodalLanguageRequest(req=req, embedding_receiver=receiver))

    def extend(self, reqs: list[Any]) -> None:
        for req in reqs:
            self.add(req)

    def _update_handshake_waiters(self) -> None:
        if not self.queue or all(e.waiting_for_input for e in self.queue):
            return
        polls = poll_and_all_reduce([e.embedding_receiver for e in self.queue], self.gloo_group)
        for entry, status in zip(self.queue, polls, strict=True):
            if status == KVPoll.WaitingForInput:
                entry.waiting_for_input = True
            elif status == KVPoll.Failed:
                message = (f"MultimodalLanguage handshake failed for request "
                           f"rank={self.tp_rank} {_ids(entry)}")
                message += _failure_suffix(entry)
                logger.error(message)
                prepare_abort(entry.req, message, status_code=HTTPStatus.INTERNAL_SERVER_ERROR)

    def pop_preallocated(self) -> list[MultimodalLanguageRequest]:
        self._update_handshake_waiters()
        keep: list[MultimodalLanguageRequest] = []
        ready: list[MultimodalLanguageRequest] = []
        aborted = {id(e) for e in self.queue if isinstance(e.req.finished_reason, FINISH_ABORT)}
        for entry in (e for e in self.queue if id(e) in aborted):
            self.scheduler.stream_output([entry.req], entry.req.return_logprob)
        stopped = False
        for entry in self.queue:
            if id(entry) in aborted:
                continue
            if stopped or not entry.waiting_for_input:
                keep.append(entry)
                continue
            if self.allocator.available_size() <= 0:
                stopped = True
                keep.append(entry)
                continue
            blocks = self.allocator.alloc(num_tokens=self.default_allocate_tokens,
                                          req_id=entry.req.rid, fake=_is_fake(entry))
            entry.embedding_indices = blocks
            if blocks is None:
                stopped = True
                keep.append(entry)
                continue
            entry.embedding_receiver.init(
                embedding_indices=blocks,
                allocated_tokens=len(blocks) * self.metadata_buffers.block_size)
            ready.append(entry)
        self.queue = keep
        return ready


class MultimodalLanguageTransferQueue:
    """The transfer decision procedure (§8.4), per rank."""

    def __init__(self, gloo_group: Any, req_to_metadata_buffer_idx_allocator:
                 ReqToMetadataBlockAllocator, metadata_buffers: MultimodalDataBuffers,
                 scheduler: Any, tree_cache: Any) -> None:
        self.gloo_group = gloo_group
        self.allocator = req_to_metadata_buffer_idx_allocator
        self.metadata_buffers = metadata_buffers
        self.scheduler = scheduler
        self.tree_cache = tree_cache
        self.queue: list[MultimodalLanguageRequest] = []

    def add(self, entry: MultimodalLanguageRequest) -> None:
        self.queue.append(entry)

    def extend(self, entries: list[MultimodalLanguageRequest]) -> None:
        self.queue.extend(entries)

    def _handle_failed_request(self, entry: MultimodalLanguageRequest) -> None:
        message = (f"MultiModalLanguage transfer failed for request "
                   f"rank={self.scheduler.tp_rank} {_ids(entry)}")
        message += _failure_suffix(entry)
        logger.error(message)
        prepare_abort(entry.req, message, status_code=HTTPStatus.INTERNAL_SERVER_ERROR)
        self.scheduler.stream_output([entry.req], entry.req.return_logprob)
        self.allocator.free(block_indices=entry.embedding_indices, req_id=entry.req.rid,
                            fake=_is_fake(entry))

    # -- Success ---------------------------------------------------------------------------

    def _resumed_data(self, entry: MultimodalLanguageRequest) -> tuple[Any, Any, Any, Any]:
        req = entry.req
        blocks = entry.embedding_indices or []
        sent = req.partial_sent_tokens
        total = int(req.partial_aux_datas[0])
        remaining = total - sent
        logger.info(f"Resume transfer for rid={req.rid}: partial_sent={sent}, "
                    f"total_expected={total}, remaining_expected={remaining}, "
                    f"allocated_blocks={len(blocks)}")
        embeds, ids, mrope = self.metadata_buffers.read_blocks(blocks, remaining)
        old_mrope = req.partial_mrope_positions
        logger.info(f"Merging resumed transfer data for rid={req.rid}: "
                    f"partial_embeds_shape={req.partial_input_embeds.shape}, "
                    f"new_embeds_shape={embeds.shape}, "
                    f"partial_fill_ids_len={len(req.partial_fill_ids)}, "
                    f"new_fill_ids_len={len(ids)}, partial_mrope_shape={old_mrope.shape}, "
                    f"new_mrope_shape={mrope.shape}")
        embeds = torch.cat([req.partial_input_embeds, embeds])
        ids = torch.cat([torch.tensor(req.partial_fill_ids), ids])
        if old_mrope.numel() > 0 and mrope.numel() > 0:
            logger.info(f"Concatenating mrope_positions: partial shape={old_mrope.shape}, "
                        f"new shape={mrope.shape}")
            mrope = torch.cat([old_mrope, mrope], dim=-1)
        elif old_mrope.numel() > 0:
            logger.info(f"Using only partial mrope_positions: shape={old_mrope.shape}")
            mrope = old_mrope
        else:
            logger.info(f"Using only new mrope_positions: shape={mrope.shape}")
        aux = req.partial_aux_datas
        for name in PARTIAL_ATTRS:
            delattr(req, name)
        return embeds, ids, mrope, aux

    def _on_success(self, entry: MultimodalLanguageRequest) -> bool:
        """Hand off (True) or fail (False)."""
        req = entry.req
        if _is_fake(entry):
            self.allocator.free(block_indices=entry.embedding_indices, fake=True)
            return True
        if hasattr(req, "partial_input_embeds"):
            embeds, ids, mrope, aux = self._resumed_data(entry)
        else:
            embeds, ids, mrope, aux = self.metadata_buffers.get_buf(entry.embedding_indices or [])
        length, delta = int(aux[0]), aux[1]
        swap = BUG == "swap_rows" or (BUG == "swap_rows_tp1" and self.scheduler.tp_rank == 1)
        if swap and embeds.shape[0] >= 2:  # logs and events stay the model's
            embeds = embeds.clone()
            embeds[[0, 1]] = embeds[[1, 0]]
        req.input_embeds = embeds
        req.origin_input_ids = ids.tolist()
        got = len(req.origin_input_ids)
        if got > length:
            self._handle_failed_request(entry)
            return False
        mm_inputs = None
        if got < length:
            mm_inputs = MultimodalInputs(
                mm_items=[MultimodalDataItem(modality=Modality.IMAGE, model_specific_data={})])
            mm_inputs.mrope_positions = mrope
            mm_inputs.mrope_position_delta = torch.tensor([delta]).unsqueeze(1)
        req.multimodal_inputs = mm_inputs
        req.embedding_indices = entry.embedding_indices
        return True

    # -- Transferring ----------------------------------------------------------------------

    def _totals(self, entry: MultimodalLanguageRequest) -> tuple[int, int]:
        req = entry.req
        if RANKSYNC_VARIANT == "prefix":
            _, ids, _, aux = self.metadata_buffers.get_buf(entry.embedding_indices or [])
            return int(aux[0]), len(ids)
        if hasattr(req, "partial_aux_datas"):
            total, sent = int(req.partial_aux_datas[0]), req.partial_sent_tokens
            logger.info(f"Using cached partial_aux_datas for rid={req.rid}: "
                        f"actual_total_length={total}, sent_tokens={sent}")
            return total, sent
        _, ids, _, aux = self.metadata_buffers.get_buf(entry.embedding_indices or [])
        total_t = torch.tensor([int(aux[0])], dtype=torch.int64)
        sent_t = torch.tensor([len(ids)], dtype=torch.int64)
        dist.all_reduce(total_t, op=dist.ReduceOp.MAX, group=self.gloo_group)
        dist.all_reduce(sent_t, op=dist.ReduceOp.MAX, group=self.gloo_group)
        total, sent = int(total_t.item()), int(sent_t.item())
        head = "Synced aux data over ranks" if BUG == "renamed_log" else \
            "Synced aux_datas across ranks"
        logger.info(f"{head} for rid={req.rid}: actual_total_length={total}, sent_tokens={sent}")
        return total, sent

    def _on_transferring(self, entry: MultimodalLanguageRequest) -> bool:
        """Resume if data is missing; False iff the request failed (allocation)."""
        req = entry.req
        total, sent = self._totals(entry)
        if total <= sent:
            logger.warning(f"Unexpected: Transferring status but sent_tokens={sent} >= "
                           f"actual_total_length={total}")
            return True
        remaining = total - sent
        logger.info(f"Partial transfer detected for rid={req.rid}: received {sent}/{total} "
                    f"tokens, need to resume for {remaining} more tokens")
        if not hasattr(req, "partial_input_embeds"):
            embeds, ids, mrope, aux = self.metadata_buffers.get_buf(entry.embedding_indices or [])
            req.partial_input_embeds = embeds
            req.partial_fill_ids = ids.tolist()
            req.partial_mrope_positions = mrope
            if RANKSYNC_VARIANT == "prefix":
                req.partial_aux_datas = aux
            else:
                req.partial_aux_datas = torch.tensor([total, int(aux[1])])
            req.partial_sent_tokens = sent
        self.allocator.free(block_indices=entry.embedding_indices, req_id=req.rid,
                            fake=_is_fake(entry))
        blocks = self.allocator.alloc(num_tokens=remaining, req_id=req.rid, fake=_is_fake(entry))
        if blocks is None:
            logger.error(f"Not enough memory to resume transfer for rid={req.rid}, "
                         f"need {remaining} tokens")
            self._handle_failed_request(entry)
            return False
        entry.embedding_indices = blocks
        allocated = len(blocks) * self.metadata_buffers.block_size
        entry.embedding_receiver.resume_transfer(embedding_indices=blocks, sent_tokens=sent,
                                                 allocated_tokens=allocated)
        logger.info(f"Resume transfer initiated for rid={req.rid}: "
                    f"allocated {len(blocks)} blocks ({allocated} tokens)")
        return True

    def pop_transferred(self) -> list[Any]:
        if not self.queue:
            return []
        polls = poll_and_all_reduce([e.embedding_receiver for e in self.queue], self.gloo_group)
        handed: list[Any] = []
        leaving: list[MultimodalLanguageRequest] = []
        for entry, status in zip(self.queue, polls, strict=True):
            if status == KVPoll.Failed:
                self._handle_failed_request(entry)
                leaving.append(entry)
            elif status == KVPoll.Success:
                if self._on_success(entry):
                    handed.append(entry.req)
                leaving.append(entry)
            elif status == KVPoll.Transferring:
                if not _is_fake(entry) and not self._on_transferring(entry):
                    leaving.append(entry)
            elif status not in (KVPoll.Bootstrapping, KVPoll.WaitingForInput):
                raise ValueError(f"Unexpected poll case: {status}")
        for entry in leaving:
            assert entry.embedding_indices, "a leaving request must hold blocks"
        gone = {id(e) for e in leaving}
        self.queue = [e for e in self.queue if id(e) not in gone]
        return handed


class SchedulerDisaggregationMultiModalLanguageMixin:
    def process_multimodal_language_queue(self: Any) -> None:
        """One language scheduler iteration of the two queues (§8.2)."""
        ready = self.disagg_language_prealloc_queue.pop_preallocated()
        self.disagg_language_transfer_queue.extend(ready)
        self.waiting_queue.extend(self.disagg_language_transfer_queue.pop_transferred())
