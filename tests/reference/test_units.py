"""Unit tests of the engine-shaped classes (protocol.md §3, §5, §7)."""

from __future__ import annotations

import pytest
import torch
from ranksync.reference.allocator import ReqToMetadataBlockAllocator, SharedPoolAllocator
from ranksync.reference.buffers import MultimodalDataBuffers, SetBufRequest
from ranksync.reference.collectives import InProcessGroup, ReduceOp
from ranksync.reference.embedding import EmbeddingSide
from ranksync.reference.kvpoll import KVPoll, update_status
from ranksync.reference.runner import run_trace
from ranksync.reference.source import SourceData
from ranksync.reference.trace import TraceError, parse_scenario
from ranksync.reference.transport import Transport, init_frames, resume_frames
from ref_cases import ROOM, scenario, trace, write

# -- §3.1 ---------------------------------------------------------------------------------


def test_update_status_max_and_failed() -> None:
    st: dict[int, KVPoll] = {}
    update_status(st, 1, KVPoll.Transferring)
    update_status(st, 1, KVPoll.WaitingForInput)
    assert st[1] == KVPoll.Transferring  # never decreases
    update_status(st, 1, KVPoll.Success)
    update_status(st, 1, KVPoll.Transferring)
    assert st[1] == KVPoll.Success  # Transferring after Success is ignored
    update_status(st, 1, KVPoll.Failed)
    assert st[1] == KVPoll.Failed


# -- §5.2 allocator -----------------------------------------------------------------------


def test_allocator_fifo_and_free_to_tail() -> None:
    a = ReqToMetadataBlockAllocator(4, block_size=8)
    assert a.alloc(8, "r") == [0]
    assert a.alloc(9, "s") == [1, 2]  # ceil(9/8) = 2 from the head
    a.free([0])
    assert list(a.free_blocks) == [3, 0]  # appended at the tail
    assert a.alloc(None, "t") == [3]  # None -> 1 block, FIFO: 3 before 0
    assert a.alloc(16, "u") is None  # 1 free, 2 needed
    assert a.available_size() == 1


def test_allocator_fake_double_free_and_req_id() -> None:
    a = ReqToMetadataBlockAllocator(4, block_size=8)
    fake = a.alloc(100, "w", fake=True)
    assert fake is not None and len(fake) == 1 and 0 <= fake[0] < 4
    assert list(a.free_blocks) == [0, 1, 2, 3]  # untouched by fake alloc
    a.free([2], fake=True)
    assert list(a.free_blocks) == [0, 1, 2, 3]  # fake free is a no-op
    got = a.alloc(8, "r")
    assert got == [0]
    a.free([0])
    a.free([0])  # no ownership/duplicate check
    assert list(a.free_blocks) == [1, 2, 3, 0, 0]
    assert a.req_to_blocks["r"] == [0]  # block_indices path leaves the record
    a.free(req_id="r")
    assert list(a.free_blocks) == [1, 2, 3, 0, 0, 0]
    with pytest.raises(ValueError):
        a.free(req_id="r")


def test_shared_pool_others_free_and_alloc() -> None:
    a = SharedPoolAllocator(2, free=[2, 0], held=[3, 1], size=4)
    assert a.alloc(2, "r") == [2]  # the given free list, head first
    assert a.others_free() == 3  # the block held longest goes to the tail
    assert list(a.free_blocks) == [0, 3] and list(a.held) == [1]
    assert a.others_alloc() == [0, 3]  # every free block, head first
    assert list(a.free_blocks) == [] and list(a.held) == [1, 0, 3]
    assert a.available_size() == 0 and a.alloc(1, "s") is None
    assert a.others_free() == 1 and a.others_free() == 0 and a.others_free() == 3
    assert a.others_free() is None  # nothing held: nothing happens
    assert list(a.free_blocks) == [1, 0, 3]


def test_fifo_hands_back_the_very_block_just_freed_when_the_pool_is_held() -> None:
    """trace-format v2: blocks do not come back by themselves; with every other block held
    by other requests, the next allocation gets the block this rank just freed."""
    a = SharedPoolAllocator(4, free=list(range(4)), held=[], size=4)
    mine = a.alloc(4, "r")
    assert mine == [0]
    a.others_alloc()
    a.free(mine)
    assert a.alloc(4, "r") == [0]
    a.free([0])
    a.others_free()  # block 1 comes back behind block 0
    assert a.alloc(8, "r") == [0, 1]
    assert a.alloc(4, "r") is None


# -- §5.1 buffers -------------------------------------------------------------------------


def _setbuf(bufs: MultimodalDataBuffers, src: SourceData, blocks: list[int]) -> None:
    bufs.set_buf(
        SetBufRequest(src.embedding, src.fill_ids, src.mrope_positions, src.delta, blocks)
    )


def test_buffers_layout_and_roundtrip() -> None:
    bs, hidden = 4, 3
    bufs = MultimodalDataBuffers(4, bs, hidden)
    infos = bufs.get_buf_infos()
    assert infos.item_lens == [bs * hidden * 2, bs * 4, 3 * bs * 4, 16 * 4]
    assert infos.data_lens == [4 * n for n in infos.item_lens]
    src = SourceData(7, hidden, delta=5)
    _setbuf(bufs, src, [2, 0])  # 4 tokens in block 2, 3 in block 0
    assert bufs.aux_datas[2, :2].tolist() == [7, 5]
    assert bufs.aux_datas[0].tolist() == [0] * 16  # aux only in the first block
    # the last block's mrope is (3, 3) row-major with row stride 3
    assert bufs.mrope_positions[0, :9].tolist() == src.mrope_positions[:, 4:7].reshape(-1).tolist()
    emb, ids, mrope, aux = bufs.get_buf([2, 0])
    assert ids.tolist() == src.fill_ids.tolist()
    assert torch.equal(emb.view(torch.int16), src.embedding.view(torch.int16))
    assert torch.equal(mrope, src.mrope_positions)
    assert src.is_intact(ids.tolist(), emb, True, mrope, int(aux[1]))
    aux[0] = 99  # get_buf returns a view of the aux row
    assert int(bufs.aux_datas[2, 0]) == 99


def test_get_buf_row_stride_mismatch_and_truncation() -> None:
    bs = 4
    bufs = MultimodalDataBuffers(3, bs, 1)
    src = SourceData(3, 1, delta=0)
    _setbuf(bufs, src, [1])  # t = 3 tokens: mrope stored with row stride 3
    bufs.aux_datas[1, 0] = 4  # a reader believing t = 4 reshapes with row stride 4
    _, ids, mrope, _ = bufs.get_buf([1])
    p = src.mrope_positions
    assert mrope[0].tolist() == [int(p[0, 0]), int(p[0, 1]), int(p[0, 2]), int(p[1, 0])]
    assert ids.tolist()[:3] == src.fill_ids.tolist() and ids.tolist()[3] == 0
    bufs.aux_datas[1, 0] = 100  # n > len(blocks) * bs: only len(blocks) * bs tokens
    emb, ids, mrope, _ = bufs.get_buf([1, 2])
    assert ids.shape == (8,) and emb.shape == (8, 1) and mrope.shape == (3, 8)


def test_get_buf_n_zero() -> None:
    bufs = MultimodalDataBuffers(2, 4, 5)
    emb, ids, mrope, aux = bufs.get_buf([1, 0])
    assert emb.shape == (0, 5) and emb.dtype == torch.bfloat16
    assert ids.shape == (0,) and mrope.shape == (3, 0) and int(aux[0]) == 0


# -- §7 embedding side --------------------------------------------------------------------


def _emb_side(**over: object) -> tuple[EmbeddingSide, Transport]:
    # E = 1, T = 2: both language ranks are sessions of embedding rank 0.
    sc = parse_scenario(scenario(**over))
    tr = Transport(sc.tp_size, sc.receivers)
    return EmbeddingSide(sc, tr, SourceData(sc.embedding_length, sc.hidden, sc.mrope_delta)), tr


def _send(tr: Transport, rank: int, frames: list[str]) -> None:
    tr.send_to_embedding(rank, frames)
    tr.flush_outboxes()


def test_worker_partial_send_aux_first_block_and_resume() -> None:
    side, tr = _emb_side(default_allocate_tokens=8, embedding_length=20)
    mgr = side.ranks[0].manager
    _send(tr, 0, init_frames(ROOM, 0, [5, 6], 2, 8))
    side.process_messages(0)
    assert mgr.request_status[ROOM] == KVPoll.Bootstrapping  # 1 of 2 sessions
    _send(tr, 1, init_frames(ROOM, 1, [1, 2], 2, 8))
    side.process_messages(1)
    assert mgr.request_status[ROOM] == KVPoll.WaitingForInput
    side.encode()
    tr.begin_step()
    side.process_chunk(0, fail=False)
    # partial: 8 of 20 tokens per session, aux row only in the first block pair
    assert tr.step_writes[0] == [write(5, 0, 4, [20, -3]), write(6, 4, 4)]
    assert tr.step_writes[1][0]["block"] == 1
    infos = mgr.transfer_infos[ROOM]
    assert [i.sent_tokens for i in infos.values()] == [8, 8]
    assert mgr.request_status[ROOM] == KVPoll.Transferring
    assert list(tr.to_language[0]) == [(ROOM, KVPoll.Transferring)]
    assert list(tr.to_language[1]) == [(ROOM, KVPoll.Transferring)]
    # resume overwrites sent/allocated/dst of the record and queues one chunk per message
    _send(tr, 0, resume_frames(ROOM, 0, [7, 0, 3], 2, 3, 12))
    _send(tr, 0, resume_frames(ROOM, 0, [7, 0, 3], 2, 8, 12))
    side.process_messages(0)
    rec0 = infos["127.0.0.1:17000"]
    assert (rec0.sent_tokens, rec0.allocated_tokens, rec0.dst_embedding_indices) == (8, 12, [7, 0, 3])
    q = mgr.transfer_queues[mgr.room_queue[ROOM]]
    assert len(q) == 2
    tr.begin_step()
    side.process_chunk(0, fail=False)
    # session 0: 12 remaining fit in 12 -> complete, from source block 8 div 4 = 2, no aux
    assert tr.step_writes[0] == [write(7, 8, 4), write(0, 12, 4), write(3, 16, 4)]
    # session 1 still holds its old record: 8 more tokens into its *old* blocks, partial
    assert tr.step_writes[1] == [write(1, 8, 4), write(2, 12, 4)]
    assert mgr.request_status[ROOM] == KVPoll.Transferring  # last send partial
    assert ROOM in mgr.transfer_infos
    _send(tr, 1, resume_frames(ROOM, 1, [4, 5, 6], 2, 8, 12))
    side.process_messages(1)
    side.process_chunk(0, fail=False)  # the second resume-0 chunk: rank 0 has 0 left
    assert mgr.request_status[ROOM] == KVPoll.Success
    assert ROOM not in mgr.transfer_infos  # popped on Success
    _send(tr, 1, resume_frames(ROOM, 1, [4], 2, 8, 4))
    side.process_messages(1)  # record gone: "Cannot resume", nothing queued
    assert len(q) == 1  # the chunk of rank 1's first resume is still queued


def test_worker_chunk_fail_marks_first_session_only() -> None:
    side, tr = _emb_side()
    mgr = side.ranks[0].manager
    for r in (0, 1):
        _send(tr, r, init_frames(ROOM, r, [0], 2, 4))
        side.process_messages(r)
    side.encode()
    tr.begin_step()
    side.process_chunk(0, fail=True)
    assert tr.step_writes == [[], []]
    assert list(tr.to_language[0]) == [(ROOM, KVPoll.Failed)]
    assert list(tr.to_language[1]) == []  # the loop stops at the failed session
    assert mgr.request_status[ROOM] == KVPoll.Failed
    side.emb_finish()
    assert side.ranks[0].freed_src_blocks  # aborted and freed


def test_topology_b_non_receiver_gets_status_only() -> None:
    side, tr = _emb_side(topology="b", embedding_tp_size=2, receivers=[1])
    for r in (0, 1):
        _send(tr, r, init_frames(ROOM, r, [0], 1, 4))
        side.process_messages(r)
    side.encode()
    tr.begin_step()
    side.process_chunk(0, fail=False)
    side.process_chunk(1, fail=False)
    assert tr.step_writes[0] == [] and len(tr.step_writes[1]) == 1
    assert list(tr.to_language[0]) == [(ROOM, KVPoll.Transferring)]


# -- collectives --------------------------------------------------------------------------


def test_inprocess_group_matches_and_detects_deadlock() -> None:
    g = InProcessGroup(3)
    out: dict[int, list[int]] = {}

    def rank_fn(r: int, calls: int) -> None:
        for _ in range(calls):
            t = torch.tensor([r + 1, 5 - r], dtype=torch.uint8)
            g.rank_group(r).all_reduce(t, ReduceOp.MIN)
            out[r] = t.tolist()

    assert g.run([lambda r=r: rank_fn(r, 2) for r in range(3)]) is False
    assert out == {0: [1, 3], 1: [1, 3], 2: [1, 3]}
    assert g.run([lambda r=r: rank_fn(r, 1 if r else 2) for r in range(3)]) is True

    def mixed(r: int) -> None:
        t = torch.tensor([r], dtype=torch.int64)
        g.rank_group(r).all_reduce(t, ReduceOp.MAX if r == 0 else ReduceOp.MIN)

    assert g.run([lambda r=r: mixed(r) for r in range(3)]) is True

    def boom() -> None:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        g.run([boom, lambda: rank_fn(1, 1), lambda: rank_fn(2, 1)])


# -- trace validation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: t.update(format="x"),
        lambda t: t.update(variant="nope"),
        lambda t: t["scenario"].update(tp_size=0),
        lambda t: t["scenario"].update(embedding_tp_size=0),
        lambda t: t["scenario"].update(hidden=True),
        lambda t: t["scenario"].update(topology="b"),  # receivers missing
        lambda t: t["schedule"].append({"bogus": 1}),
        lambda t: t["schedule"].append({"chunks": [0], "chunk_fail": [1]}),
        lambda t: t["schedule"].append({"messages": [5]}),
        lambda t: t["schedule"].append({"encode": True}),  # before any init was processed
        lambda t: t.update(expected=[]),
    ],
)
def test_malformed_traces_raise_trace_error(mutate: object) -> None:
    t = trace("seed", scenario(), [{}])
    mutate(t)  # type: ignore[operator]
    with pytest.raises(TraceError):
        run_trace(t)
    assert issubclass(TraceError, ValueError)
