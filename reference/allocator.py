"""``ReqToMetadataBlockAllocator`` (protocol.md §5.2): a FIFO deque of block ids."""

from __future__ import annotations

import random
from collections import deque


class ReqToMetadataBlockAllocator:
    """One instance per rank; allocation results are never agreed between ranks (§5.2)."""

    def __init__(self, size: int, block_size: int, seed: int = 0) -> None:
        self.size = size
        self.block_size = block_size
        self.free_blocks: deque[int] = deque(range(size))
        self.req_to_blocks: dict[str, list[int]] = {}
        # Fake allocations return a *random* id (§5.2); seeded so runs are reproducible.
        self._rng = random.Random(seed)

    def available_size(self) -> int:
        return len(self.free_blocks)

    def alloc(
        self, num_tokens: int | None = None, req_id: str | None = None, fake: bool = False
    ) -> list[int] | None:
        """Pop ceil(num_tokens / bs) ids from the head, or None if too few are free."""
        if fake:
            return [self._rng.randrange(self.size)]
        if num_tokens is None:
            need = 1
        else:
            need = -(-num_tokens // self.block_size)
        if need > len(self.free_blocks):
            return None
        blocks = [self.free_blocks.popleft() for _ in range(max(need, 0))]
        if req_id is not None:
            self.req_to_blocks[req_id] = blocks
        return blocks

    def free(
        self,
        block_indices: list[int] | None = None,
        req_id: str | None = None,
        fake: bool = False,
    ) -> None:
        """Append to the tail. No duplicate/ownership check: a double free duplicates ids."""
        if fake:
            return
        if block_indices is not None:
            self.free_blocks.extend(block_indices)
        elif req_id is not None and req_id in self.req_to_blocks:
            self.free_blocks.extend(self.req_to_blocks.pop(req_id))
        else:
            raise ValueError(f"free: no block_indices and unknown req_id={req_id!r}")


class SharedPoolAllocator(ReqToMetadataBlockAllocator):
    """A rank's allocator shared with other live requests (trace-format v2 ``initial_free``,
    ``initial_held``, ``others_free``, ``others_alloc``). ``held`` lists the blocks the other
    requests hold, in the order they will free them. They use the very same deque: nothing
    comes back by itself, and under pressure the FIFO hands back the blocks just freed."""

    def __init__(self, block_size: int, free: list[int], held: list[int], size: int) -> None:
        super().__init__(size, block_size)
        self.free_blocks = deque(free)
        self.held: deque[int] = deque(held)

    def others_free(self) -> int | None:
        """The block held longest goes to the tail of the free list (None: none held)."""
        if not self.held:
            return None
        block = self.held.popleft()
        self.free_blocks.append(block)
        return block

    def others_alloc(self) -> list[int]:
        """Other requests take every free block, head first."""
        taken = list(self.free_blocks)
        self.free_blocks.clear()
        self.held.extend(taken)
        return taken
