"""Stand-in: status all-reduce, buffers and block allocator (protocol.md §3.3, §5).

Written from protocol.md for CI; same module path, class names and call interfaces as the
engine, not its code.
"""

from __future__ import annotations

import random
from collections import deque
from enum import Enum
from typing import Any

import torch
import torch.distributed as dist
from sglang.srt.utils import is_npu  # noqa: F401 - same dependency as the engine

FAKE_BOOTSTRAP_HOST = "2.2.2.2"


class DisaggregationMode(Enum):
    NULL = "null"
    ENCODE = "encode"
    LANGUAGE = "language"


class TransferBackend(Enum):
    MOONCAKE = "mooncake"
    FAKE = "fake"


class KVClassType(Enum):
    KVARGS = "kvargs"
    MANAGER = "manager"
    SENDER = "sender"
    RECEIVER = "receiver"


def get_kv_class(backend: TransferBackend, class_type: KVClassType,
                 is_multimodal: bool = False) -> Any:
    from sglang.srt.disaggregation.base import KVArgs
    from sglang.srt.disaggregation.fake import FakeKVReceiver, FakeKVSender

    if backend == TransferBackend.FAKE:
        table: dict[KVClassType, Any] = {KVClassType.KVARGS: KVArgs,
                                         KVClassType.SENDER: FakeKVSender,
                                         KVClassType.RECEIVER: FakeKVReceiver}
        return table.get(class_type)
    from sglang.srt.disaggregation.mooncake import conn_multimodal as mm

    table = {KVClassType.KVARGS: KVArgs,
             KVClassType.MANAGER: mm.MooncakeEmbeddingManager,
             KVClassType.SENDER: mm.MooncakeEmbeddingSender,
             KVClassType.RECEIVER: mm.MooncakeEmbeddingReceiver}
    return table.get(class_type)


def poll_and_all_reduce(pollers: list[Any], gloo_group: Any) -> list[int]:
    """Each rank polls its receivers in queue order; MIN over the group (uint8)."""
    local = torch.tensor([int(p.poll()) for p in pollers], dtype=torch.uint8)
    dist.all_reduce(local, op=dist.ReduceOp.MIN, group=gloo_group)
    return local.tolist()


def prepare_abort(req: Any, error_message: str, status_code: Any = None) -> None:
    from sglang.srt.managers.schedule_batch import FINISH_ABORT

    req.finished_reason = FINISH_ABORT(error_message, status_code)


class MultimodalDataBuffers:
    """Per-rank block buffers, zero-initialised once (§5.1)."""

    def __init__(self, size: int, block_size: int, embedding_dim: int = 8192) -> None:
        self.total_blocks = size
        self.block_size = block_size
        self.embedding_dim = embedding_dim
        self.input_embeddings = torch.zeros((size, block_size * embedding_dim),
                                            dtype=torch.bfloat16)
        self.fill_ids = torch.zeros((size, block_size), dtype=torch.int32)
        self.mrope_positions = torch.zeros((size, 3 * block_size), dtype=torch.int32)
        self.aux_datas = torch.zeros((size, 16), dtype=torch.int32)

    def get_buf_infos(self) -> tuple[list[int], list[int], list[int]]:
        arrays = (self.input_embeddings, self.fill_ids, self.mrope_positions, self.aux_datas)
        return ([a.data_ptr() for a in arrays], [a.nbytes for a in arrays],
                [a[0].nbytes for a in arrays])

    def read_blocks(self, block_indices: list[int], tokens: int
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The first ``tokens`` tokens stored across ``block_indices`` (bs per block)."""
        embeds, ids, mrope = [], [], []
        left = tokens
        for block in block_indices:
            t = min(self.block_size, left)
            if t <= 0:
                break
            embeds.append(self.input_embeddings[block, : t * self.embedding_dim]
                          .reshape(t, self.embedding_dim))
            ids.append(self.fill_ids[block, :t])
            mrope.append(self.mrope_positions[block, : 3 * t].reshape(3, t))
            left -= t
        if not ids:
            return (torch.empty(0, self.embedding_dim, dtype=torch.bfloat16),
                    torch.empty(0, dtype=torch.int32), torch.empty(3, 0, dtype=torch.int32))
        return torch.cat(embeds), torch.cat(ids), torch.cat(mrope, dim=-1)

    def get_buf(self, block_indices: list[int]
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Read n = aux[0] of the first block tokens (capped by the blocks); aux is a view."""
        if not block_indices:
            raise ValueError("block_indices must not be empty")
        aux = self.aux_datas[block_indices[0]]
        embeds, ids, mrope = self.read_blocks(block_indices, int(aux[0]))
        return embeds, ids, mrope, aux


    def set_buf(self, req: Any) -> None:
        """The embedding side's write of a request into its source blocks (§5.1)."""
        length = int(req.embedding.shape[0])
        for k, block in enumerate(req.embedding_indices):
            lo, hi = k * self.block_size, min((k + 1) * self.block_size, length)
            if hi <= lo:
                break
            t = hi - lo
            self.fill_ids[block, :t] = torch.tensor(req.fill_ids[lo:hi], dtype=torch.int32)
            self.input_embeddings[block, : t * self.embedding_dim] = \
                req.embedding[lo:hi].flatten().to(torch.bfloat16)
            mm = req.multimodal_inputs
            if mm is not None and mm.mrope_positions is not None:
                self.mrope_positions[block, : 3 * t] = mm.mrope_positions[:, lo:hi].flatten()
            if k == 0:
                self.aux_datas[block, 0] = length
                if mm is not None and mm.mrope_position_delta is not None:
                    self.aux_datas[block, 1] = int(mm.mrope_position_delta.reshape(-1)[0])


class ReqToMetadataBlockAllocator:
    """FIFO block allocator (§5.2)."""

    def __init__(self, size: int, block_size: int) -> None:
        self.total_blocks = size
        self.block_size = block_size
        self.free_blocks: deque[int] = deque(range(size))
        self.req_to_blocks: dict[Any, list[int]] = {}

    def available_size(self) -> int:
        return len(self.free_blocks)

    def alloc(self, num_tokens: int | None = None, req_id: Any = None,
              fake: bool = False) -> list[int] | None:
        if fake:
            return [random.randrange(self.total_blocks)]
        need = 1 if num_tokens is None else -(-num_tokens // self.block_size)
        if need > len(self.free_blocks):
            return None
        blocks = [self.free_blocks.popleft() for _ in range(need)]
        if req_id is not None:
            self.req_to_blocks[req_id] = blocks
        return blocks

    def free(self, block_indices: list[int] | None = None, req_id: Any = None,
             fake: bool = False) -> None:
        if fake:
            return
        if block_indices is not None:
            self.free_blocks.extend(block_indices)
        elif req_id in self.req_to_blocks:
            self.free_blocks.extend(self.req_to_blocks.pop(req_id))
        else:
            raise ValueError("free needs block_indices or a known req_id")
