"""Stand-in: one branch per finding class and branch kind, each on a rank-local condition
(written for the tests; not engine code)."""

import torch
import torch.distributed as dist

from .utils import poll_and_all_reduce


class Transfers:
    def __init__(self, group, block_allocator, buffers, tp_rank):
        self.group = group
        self.block_allocator = block_allocator
        self.buffers = buffers
        self.tp_rank = tp_rank
        self.pending = []

    def poll_pending(self):
        return poll_and_all_reduce([e.receiver for e in self.pending], self.group)

    def sync_if_data(self, entry):
        """collective on one side only (RSU001, if)"""
        ids, _aux = self.buffers.get_buf(entry.blocks)
        count = len(ids)
        if count > 0:
            t = torch.tensor([count])
            dist.all_reduce(t, group=self.group)

    def barrier_per_block(self, entry):
        """collective count follows a local length (RSU001, loop)"""
        rows, _aux = self.buffers.get_buf(entry.blocks)
        for _row in rows:
            dist.barrier(group=self.group)

    def drain(self):
        """a while loop on the pool's local state issues collectives (RSU001, loop)"""
        while self.block_allocator.available_size() > 0:
            dist.barrier(group=self.group)

    def fail_or_sync(self, entry):
        """a collective only in the handler of a rank-local failure (RSU001, try/except)"""
        try:
            entry.receiver.failure_exception()
        except Exception:
            dist.barrier(group=self.group)

    def swapped(self, entry):
        """the same collectives in a different order (RSU001, if)"""
        _ids, aux = self.buffers.get_buf(entry.blocks)
        t = torch.tensor([1])
        if aux[1] > 0:
            dist.all_reduce(t, group=self.group)
            dist.barrier(group=self.group)
        else:
            dist.barrier(group=self.group)
            dist.all_reduce(t, group=self.group)

    def pop_allocated(self):
        """removal from the polled queue decided by the allocator (RSU002, early continue)"""
        moved = set()
        for i, entry in enumerate(self.pending):
            blocks = self.block_allocator.alloc(4)
            if blocks is None:
                continue
            entry.blocks = blocks
            moved.add(i)
        self.pending = [e for i, e in enumerate(self.pending) if i not in moved]

    def admit(self, entry):
        """the polled queue grows only where the pool has room (RSU002, early return)"""
        if self.block_allocator.available_size() < 2:
            return
        self.pending.append(entry)

    def release_on_rank0(self, blocks):
        """allocator call on one rank only (RSU003, if)"""
        if self.tp_rank == 0:
            self.block_allocator.free(blocks)

    def hand_off(self, entry, req):
        """what reaches the TP forward follows a local buffer read (RSU004, if)"""
        ids, aux = self.buffers.get_buf(entry.blocks)
        if len(ids) == int(aux[0]):
            req.input_embeds = ids
        else:
            req.input_embeds = ids[:1]
