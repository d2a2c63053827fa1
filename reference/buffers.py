"""``MultimodalDataBuffers`` (protocol.md §5.1): four zero-initialised CPU tensors."""

from __future__ import annotations

from dataclasses import dataclass

import torch

AUX_WIDTH = 16
# aux[2..15] are unused by the engine (§5.1). The embedding side also records the request's
# room there (trace-format "Designs", gate): aux[2] = 1 marks a row that carries a room,
# aux[3] = the room (as int32). Rows of earlier occupants (scenario initial_aux, zeros)
# carry none.
AUX_HAS_ROOM = 2
AUX_ROOM = 3


def room_as_int32(room: int) -> int:
    """The room as it is stored in an int32 aux entry (two's complement wrap)."""
    return (room + 2**31) % 2**32 - 2**31


def aux_room(row: torch.Tensor) -> int | None:
    """The room an aux row carries, or None (never written by the embedding side)."""
    return int(row[AUX_ROOM]) if int(row[AUX_HAS_ROOM]) == 1 else None


@dataclass
class BufInfos:
    """What ``get_buf_infos`` returns: base pointers, total bytes, bytes of one block row."""

    ptrs: list[int]
    data_lens: list[int]
    item_lens: list[int]


class MultimodalDataBuffers:
    """Arrays, in transfer order: input_embeddings, fill_ids, mrope_positions, aux_datas."""

    def __init__(self, size: int, block_size: int, embedding_dim: int) -> None:
        self.size = size
        self.block_size = block_size
        self.embedding_dim = embedding_dim
        # Zeroed once here; nothing ever clears them again (§5.1).
        self.input_embeddings = torch.zeros((size, block_size * embedding_dim), dtype=torch.bfloat16)
        self.fill_ids = torch.zeros((size, block_size), dtype=torch.int32)
        self.mrope_positions = torch.zeros((size, 3 * block_size), dtype=torch.int32)
        self.aux_datas = torch.zeros((size, AUX_WIDTH), dtype=torch.int32)

    def arrays(self) -> list[torch.Tensor]:
        return [self.input_embeddings, self.fill_ids, self.mrope_positions, self.aux_datas]

    def get_buf_infos(self) -> BufInfos:
        arrays = self.arrays()
        return BufInfos(
            ptrs=[a.data_ptr() for a in arrays],
            data_lens=[a.nbytes for a in arrays],
            item_lens=[a[0].nbytes for a in arrays],
        )

    def byte_view(self, array_index: int) -> torch.Tensor:
        """Flat uint8 view of one array: the transfer layer copies raw bytes (§7.3 step 5)."""
        return self.arrays()[array_index].reshape(-1).view(torch.uint8)

    def get_buf(
        self, block_indices: list[int]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reader (§5.1): n := aux[0] of the *first* block; gather min(n, len·bs) tokens.

        Each block contributes t = min(bs, n - gathered) tokens and its mrope slice is
        reshaped (3, t): a block written with a different t reads back scrambled.
        """
        bs, hidden = self.block_size, self.embedding_dim
        aux = self.aux_datas[block_indices[0]]  # a view, not a copy
        n = int(aux[0])
        embs: list[torch.Tensor] = []
        ids: list[torch.Tensor] = []
        mropes: list[torch.Tensor] = []
        gathered = 0
        for block in block_indices:
            if gathered >= n:
                break
            t = min(bs, n - gathered)
            embs.append(self.input_embeddings[block, : t * hidden].reshape(t, hidden))
            ids.append(self.fill_ids[block, :t])
            mropes.append(self.mrope_positions[block, : 3 * t].reshape(3, t))
            gathered += t
        if not embs:
            return (
                torch.empty((0, hidden), dtype=torch.bfloat16),
                torch.empty((0,), dtype=torch.int32),
                torch.empty((3, 0), dtype=torch.int32),
                aux,
            )
        return torch.cat(embs, 0), torch.cat(ids, 0), torch.cat(mropes, 1), aux

    def set_buf(self, req: SetBufRequest) -> None:
        """Writer (§5.1): block k gets tokens [k·bs, min((k+1)·bs, L)); aux only in block 0."""
        self.write_tokens(req.embedding_indices, req.embedding, req.fill_ids, req.mrope_positions)
        length = int(req.embedding.shape[0])
        first = req.embedding_indices[0]
        self.aux_datas[first, 0] = length
        if req.mrope_position_delta is not None:
            self.aux_datas[first, 1] = req.mrope_position_delta
        if req.room is not None:
            self.aux_datas[first, AUX_HAS_ROOM] = 1
            self.aux_datas[first, AUX_ROOM] = room_as_int32(req.room)


    def write_tokens(
        self,
        embedding_indices: list[int],
        embedding: torch.Tensor,
        fill_ids: torch.Tensor,
        mrope_positions: torch.Tensor | None,
    ) -> None:
        """The token part of ``set_buf`` (no aux row): block k gets tokens [k·bs, min((k+1)·bs, L))."""
        bs, hidden = self.block_size, self.embedding_dim
        length = int(embedding.shape[0])
        for k, block in enumerate(embedding_indices):
            lo, hi = k * bs, min((k + 1) * bs, length)
            if lo >= hi:
                break
            t = hi - lo
            self.fill_ids[block, :t] = fill_ids[lo:hi]
            self.input_embeddings[block, : t * hidden] = embedding[lo:hi].reshape(-1)
            if mrope_positions is not None:
                # (3, t) row-major: the row stride is this block's t (§5.1).
                self.mrope_positions[block, : 3 * t] = mrope_positions[:, lo:hi].reshape(-1)


@dataclass
class SetBufRequest:
    """The fields of the embedding-side request that ``set_buf`` reads."""

    embedding: torch.Tensor  # [L, hidden] bf16
    fill_ids: torch.Tensor  # [L] int32
    mrope_positions: torch.Tensor | None  # [3, L] int32
    mrope_position_delta: int | None
    embedding_indices: list[int]
    room: int | None = None  # the request's bootstrap room, recorded in the aux row
