"""Stand-in: the replicated patterns, each must pass without a finding (written for the
tests; not engine code)."""

import torch
import torch.distributed as dist

from .utils import poll_and_all_reduce

FAILED, DONE, MOVING = 0, 4, 3


class Resumer:
    def __init__(self, group, block_allocator, buffers, gloo_group):
        self.group = group
        self.block_allocator = block_allocator
        self.buffers = buffers
        self.gloo_group = gloo_group
        self.pending = []

    def resume_after_max(self, entry):
        """The seed's pattern: local length and count, MAX all-reduce, read back."""
        ids, aux = self.buffers.get_buf(entry.blocks)
        total = int(aux[0])
        got = len(ids)
        if self.gloo_group is not None:
            total_t = torch.tensor([total], dtype=torch.int64)
            got_t = torch.tensor([got], dtype=torch.int64)
            dist.all_reduce(total_t, op=dist.ReduceOp.MAX, group=self.gloo_group)
            dist.all_reduce(got_t, op=dist.ReduceOp.MAX, group=self.gloo_group)
            total = int(total_t.item())
            got = int(got_t.item())
        if total > got:
            self.block_allocator.free(entry.blocks)
            entry.blocks = self.block_allocator.alloc(total - got)
            dist.barrier(group=self.group)

    def coordinator_sum(self, entry, tp_group):
        """A group coordinator's all_reduce returns the reduced value."""
        n = torch.tensor([len(self.buffers.get_buf(entry.blocks)[0])])
        n = tp_group.all_reduce(n)
        if n.item() > 0:
            dist.barrier(group=self.group)

    def pop_done(self):
        """A MIN poll through poll_and_all_reduce decides removals from the polled queue."""
        if not self.pending:
            return []
        polls = poll_and_all_reduce([e.receiver for e in self.pending], self.group)
        done, keep = [], []
        for entry, poll in zip(self.pending, polls, strict=True):
            if poll == FAILED:
                self.block_allocator.free(entry.blocks)
                continue
            if poll == DONE:
                done.append(entry)
                continue
            keep.append(entry)
        self.pending = keep
        return done


class Receiver:
    def __init__(self, tp_rank, tp_cpu_group, socket):
        self.tp_rank = tp_rank
        self.tp_cpu_group = tp_cpu_group
        self.socket = socket
        self.waiting_queue = []

    def recv_requests(self):
        """Rank 0 reads the socket; broadcast_pyobj gives every rank its list."""
        if self.tp_rank == 0:
            reqs = self.socket.recv_all()
        else:
            reqs = None
        reqs = broadcast_pyobj(reqs, self.tp_rank, self.tp_cpu_group)
        if reqs:
            self.waiting_queue.extend(reqs)
        return reqs

    def agree_on_count(self, local):
        """dist.broadcast in place: the tensor read back is rank 0's."""
        n = torch.tensor([len(local)])
        dist.broadcast(n, src=0, group=self.tp_cpu_group)
        if n.item() > 0:
            dist.barrier(group=self.tp_cpu_group)


def broadcast_pyobj(data, rank, group):
    return data
