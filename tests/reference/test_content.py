"""Content ids in the reference's buffers (trace-format v2 "Content ids", reference/content.py):
the encoding is injective, decodes exactly, survives bf16, and the data really travel."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from ranksync.reference import content as C
from ranksync.reference.buffers import MultimodalDataBuffers
from ranksync.reference.embedding import EmbeddingSide
from ranksync.reference.events import handoff_event
from ranksync.reference.kvpoll import KVPoll
from ranksync.reference.source import SourceData
from ranksync.reference.trace import parse_scenario
from ranksync.reference.transport import Transport, init_frames
from ref_cases import ROOM, mrope_of, scenario, write


def _ids(hidden: int) -> st.SearchStrategy[list[int]]:
    m = C.max_abs_id(hidden)
    return st.lists(st.integers(-m - 1, m - 1), min_size=1, max_size=40)


@settings(max_examples=200, deadline=None)
@given(hidden=st.integers(1, 4), data=st.data())
def test_every_encoding_round_trips_exactly(hidden: int, data: st.DataObject) -> None:
    ids = data.draw(_ids(hidden))
    t = torch.tensor(ids, dtype=torch.int64)
    assert C.decode_fill_ids(C.fill_ids(t)) == ids
    assert C.decode_embedding_rows(C.embedding_rows(t, hidden)) == ids
    rows = C.decode_mrope(C.mrope_positions(t))
    assert rows == mrope_of(ids)


@settings(max_examples=100, deadline=None)
@given(hidden=st.integers(1, 3), data=st.data())
def test_embedding_rows_are_exact_bf16_numbers(hidden: int, data: st.DataObject) -> None:
    """Finite, never -0: a trip through float32 / float64 and back changes no bit, and
    distinct ids are distinct *numbers* (not only distinct bit patterns)."""
    ids = data.draw(_ids(hidden))
    rows = C.embedding_rows(torch.tensor(ids), hidden)
    assert rows.dtype == torch.bfloat16 and bool(torch.isfinite(rows).all())
    assert not bool(((rows == 0) & torch.signbit(rows)).any())
    for wide in (torch.float32, torch.float64):
        back = rows.to(wide).to(torch.bfloat16)
        assert torch.equal(back.view(torch.int16), rows.view(torch.int16))
        assert C.decode_embedding_rows(back) == ids
    by_value = {tuple(r) for r in rows.to(torch.float64).tolist()}
    assert len(by_value) == len(set(ids))


def test_hidden_one_covers_source_and_garbage_ids_of_long_requests() -> None:
    ids = list(range(-32640, 32639))  # the whole range hidden = 1 allows
    rows = C.embedding_rows(torch.tensor(ids), 1)
    assert len(set(rows.view(torch.int16).reshape(-1).tolist())) == len(ids)
    assert C.decode_embedding_rows(rows) == ids
    assert C.check_id(C.garbage_id(22_640), 1) is None
    assert C.check_id(C.garbage_id(22_641), 1) is not None
    with pytest.raises(ValueError):
        C.embedding_rows(torch.tensor([32639]), 1)


def test_naive_bf16_values_would_not_be_injective() -> None:
    """Why the encoding is built from bit patterns: bf16 holds integers exactly only up to
    256, so writing the id as a value would merge tokens 256 and 257."""
    naive = torch.tensor([256.0, 257.0]).to(torch.bfloat16)
    assert naive[0] == naive[1]
    rows = C.embedding_rows(torch.tensor([256, 257]), 1)
    assert C.decode_embedding_rows(rows) == [256, 257]


@pytest.mark.parametrize("bits", [0x7F80, 0x7FC0, -128, -32768])  # +inf, NaN, -inf, -0
def test_patterns_outside_the_encoding_are_rejected(bits: int) -> None:
    row = torch.tensor([[bits]], dtype=torch.int16).view(torch.bfloat16)
    with pytest.raises(ValueError):
        C.decode_embedding_rows(row)


def test_fresh_buffers_are_content_minus_one_and_content_minus_one_is_zeros() -> None:
    bufs = MultimodalDataBuffers(2, 4, 3)
    assert C.read_block_ids(bufs, 0) == [-1] * 4  # fill ids 0
    assert C.decode_embedding_rows(bufs.input_embeddings[1].reshape(4, 3)) == [-1] * 4
    assert C.decode_mrope(bufs.mrope_positions[0].reshape(3, 4)) == [[None] * 4] * 3
    C.write_block(bufs, 0, [-1] * 4)
    assert all(int(a.view(torch.uint8).abs().sum()) == 0 for a in bufs.arrays())  # still zeros
    C.write_block(bufs, 1, [-1, -5, 2, -1])
    assert bufs.fill_ids[1].tolist() == [0, -4, 3, 0]  # c + 1: content -1 is zero
    assert C.decode_mrope(bufs.mrope_positions[1].reshape(3, 4)) == mrope_of([-1, -5, 2, -1])
    assert C.decode_mrope(bufs.mrope_positions[1].reshape(3, 4))[0] == [None, -15, 6, None]


def test_a_reader_with_another_t_gets_scrambled_positions() -> None:
    """§5.1: mrope is (3, t) row-major with the writer's t; reading 3 tokens of a block
    written whole (t = 4) takes the first 9 entries as (3, 3)."""
    bufs = MultimodalDataBuffers(1, 4, 1)
    C.write_block(bufs, 0, [10, 11, 12, 13])
    bufs.aux_datas[0, 0] = 3
    _, ids, mrope, _ = bufs.get_buf([0])
    assert C.decode_fill_ids(ids) == [10, 11, 12]
    assert C.decode_mrope(mrope) == [[30, 33, 36], [39, 31, 34], [37, 40, 32]]


def test_handoff_event_decodes_content_delta_and_mrope() -> None:
    src = SourceData(3, 2, delta=7)
    ev = handoff_event(src.fill_ids.tolist(), src.embedding, (src.mrope_positions, 7), 5, False)
    assert ev == {
        "ev": "handoff", "length": 3, "embedding_length": 5, "mm_inputs": "mock", "intact": False,
        "content": [0, 1, 2], "delta": 7, "mrope": [[0, 3, 6], [1, 4, 7], [2, 5, 8]],
    }
    none = handoff_event(src.fill_ids.tolist(), src.embedding, None, 3, True)
    assert "mrope" not in none and "delta" not in none and none["content"] == [0, 1, 2]
    # fill ids and embedding rows always travel together; if not, that is a bug
    with pytest.raises(AssertionError):
        handoff_event(src.fill_ids.tolist(), src.embedding.flip(0), None, 3, True)


def test_a_chunk_from_freed_source_blocks_copies_garbage_ids() -> None:
    """The embedding side freed its source blocks while a chunk was still queued: the chunk
    copies -(10000 + q) for source token q and reports ``garbage``."""
    sc = parse_scenario(scenario(tp_size=1, embedding_length=6, default_allocate_tokens=8))
    tr = Transport(1, (0,))
    dst = MultimodalDataBuffers(sc.pool_blocks, sc.block_size, sc.hidden)
    tr.dst_buffers[0] = dst
    side = EmbeddingSide(sc, tr, SourceData(sc.embedding_length, sc.hidden, sc.mrope_delta))
    tr.send_to_embedding(0, init_frames(ROOM, 0, [3, 5], 1, 8))
    tr.flush_outboxes()
    side.process_messages(0)
    side.encode()
    side.ranks[0].free_source()  # the chunk is queued, not yet processed
    tr.begin_step()
    side.process_chunk(0, fail=False)
    assert tr.step_writes[0] == [write(3, 0, 4, [6, -3], garbage=True), write(5, 4, 2, garbage=True)]
    emb, ids, mrope, _ = dst.get_buf([3, 5])
    garbage = [C.garbage_id(q) for q in range(6)]
    assert C.decode_fill_ids(ids) == garbage == C.decode_embedding_rows(emb)
    assert C.decode_mrope(mrope) == [[3 * c + r for c in garbage] for r in range(3)]
    assert side.ranks[0].manager.request_status[ROOM] == KVPoll.Success
