"""Stand-in engine code for the uniformity tests, written for them (not engine code).

Never imported or run: `ranksync uniformity` only parses it."""

import torch
import torch.distributed as dist


def poll_and_all_reduce(receivers, group):
    """MIN over the group of every receiver's local poll."""
    local = torch.tensor([int(r.poll()) for r in receivers], dtype=torch.uint8)
    dist.all_reduce(local, op=dist.ReduceOp.MIN, group=group)
    return local.tolist()


class BlockAllocator:
    def __init__(self, n):
        self.free_blocks = list(range(n))

    def available_size(self):
        return len(self.free_blocks)

    def alloc(self, k):
        if k > len(self.free_blocks):
            return None
        out, self.free_blocks = self.free_blocks[:k], self.free_blocks[k:]
        return out

    def free(self, blocks):
        self.free_blocks += blocks
