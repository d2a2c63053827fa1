"""Stand-in: the replicated patterns of replicated.py with their synchronisation removed;
each must be found (written for the tests; not engine code)."""

import torch
import torch.distributed as dist

from .utils import poll_and_all_reduce

FAILED = 0


class Resumer:
    def __init__(self, group, block_allocator, buffers, gloo_group, tp_rank):
        self.group = group
        self.block_allocator = block_allocator
        self.buffers = buffers
        self.gloo_group = gloo_group
        self.tp_rank = tp_rank
        self.pending = []

    def resume_max_on_total_only(self, entry):
        """MAX of the total but not of the count: the count stays local"""
        ids, aux = self.buffers.get_buf(entry.blocks)
        total = int(aux[0])
        got = len(ids)
        total_t = torch.tensor([total], dtype=torch.int64)
        dist.all_reduce(total_t, op=dist.ReduceOp.MAX, group=self.gloo_group)
        total = int(total_t.item())
        if total > got:
            self.block_allocator.free(entry.blocks)
            entry.blocks = self.block_allocator.alloc(total - got)

    def resume_read_before_reduce(self, entry):
        """the reduced tensor is read before the all-reduce"""
        _ids, aux = self.buffers.get_buf(entry.blocks)
        total_t = torch.tensor([int(aux[0])])
        total = int(total_t.item())
        dist.all_reduce(total_t, op=dist.ReduceOp.MAX, group=self.gloo_group)
        if total > 0:
            self.block_allocator.free(entry.blocks)

    def pop_done_local_poll(self):
        """each rank's own poll instead of the MIN"""
        keep = []
        for entry in self.pending:
            if entry.receiver.poll() == FAILED:
                self.block_allocator.free(entry.blocks)
                continue
            keep.append(entry)
        self.pending = keep
        return poll_and_all_reduce([e.receiver for e in self.pending], self.group)

    def count_without_broadcast(self, local):
        """rank 0's list used without the broadcast"""
        if self.tp_rank == 0:
            reqs = local
        else:
            reqs = []
        if reqs:
            dist.barrier(group=self.group)
