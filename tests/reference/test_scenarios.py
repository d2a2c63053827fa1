"""Scenario tests written by hand from protocol.md (in-process backend).

Every scenario uses bs = 4, a first allocation of 1 block (4 tokens) and L = 10, so the
first send is partial (4 tokens) and the resume needs R = 6 tokens = 2 blocks (8 tokens).
"""

from __future__ import annotations

from typing import Any

from ranksync.reference.runner import run_trace
from ranksync.reference.variants import VARIANTS
from ref_cases import (
    ABORTED,
    INTACT10,
    RID,
    ROOM,
    UNKNOWN,
    ev_log,
    failed_msg,
    handoff,
    init_step_events,
    scenario,
    trace,
    write,
)

SYNCED = ev_log("INFO", f"Synced aux_datas across ranks for rid={RID}: actual_total_length=10, sent_tokens=4")
PARTIAL = ev_log("INFO", f"Partial transfer detected for rid={RID}: received 4/10 tokens, need to resume for 6 more tokens")
CACHED = ev_log("INFO", f"Using cached partial_aux_datas for rid={RID}: actual_total_length=10, sent_tokens=4")
UNEXPECTED_0 = ev_log("WARNING", "Unexpected: Transferring status but sent_tokens=0 >= actual_total_length=0")
INITIATED = ev_log("INFO", f"Resume transfer initiated for rid={RID}: allocated 2 blocks (8 tokens)")


def poll(queue: str, s: int) -> dict[str, Any]:
    return {"ev": "poll", "queue": queue, "result": [s]}


def resume_path(old: list[int], new: list[int], cached: bool = False) -> list[dict[str, Any]]:
    """seed, (L, S) = (10, 4): first path (two MAX) or cached path, then free/alloc/resume."""
    head = [CACHED] if cached else [
        {"ev": "all_reduce_max", "value": 10}, {"ev": "all_reduce_max", "value": 4}, SYNCED,
    ]
    return [
        poll("transfer", 3), *head, PARTIAL,
        {"ev": "free", "blocks": old},
        {"ev": "alloc", "num_tokens": 6, "result": new},
        {"ev": "resume", "blocks": new, "sent_tokens": 4, "allocated_tokens": 8},
        INITIATED,
    ]


def resumed_success(partial_rows: int, new_rows: int, hidden: int = 2) -> list[dict[str, Any]]:
    return [
        poll("transfer", 4),
        ev_log("INFO", f"Resume transfer for rid={RID}: partial_sent=4, total_expected=10, remaining_expected=6, allocated_blocks=2"),
        ev_log(
            "INFO",
            f"Merging resumed transfer data for rid={RID}: partial_embeds_shape=torch.Size([{partial_rows}, {hidden}]), "
            f"new_embeds_shape=torch.Size([{new_rows}, {hidden}]), partial_fill_ids_len={partial_rows}, "
            f"new_fill_ids_len={new_rows}, partial_mrope_shape=torch.Size([3, {partial_rows}]), "
            f"new_mrope_shape=torch.Size([3, {new_rows}])",
        ),
    ]


FIRST: dict[str, Any] = {"messages": [0, 1], "encode": True, "chunks": [0], "deliver": [0, 1]}


def test_nominal_worked_example_scaled() -> None:
    """§12 with E = 2, T = 4, bs = 4: every rank allocates D = [0], resumes into N = [1, 2]."""
    all4 = [0, 1, 2, 3]
    sc = scenario(tp_size=4, embedding_tp_size=2, pool_blocks=4)
    sched = [
        {},
        {"messages": all4, "encode": True, "chunks": [0, 1], "deliver": all4},
        # both resume messages reach each embedding rank before its first resume chunk
        {"messages": all4, "chunks": [0, 1], "lang": False},
        {"chunks": [0, 1], "deliver": all4},  # second resume chunks: records popped, no-ops
        {"emb_finish": True},
    ]
    res = run_trace(trace("seed", sc, sched))
    assert res.deadlock_step is None
    for r in all4:
        assert res.events[0][r] == init_step_events([0], 4)
        assert res.writes[1][r] == [write(0, 0, 4, [10, -3])]
        assert res.delivered[1][r] == [3]
        assert res.events[1][r] == resume_path([0], [1, 2])
        # resume chunk: 6 tokens from source block 4 div 4 = 1, no aux row
        assert res.writes[2][r] == [write(1, 4, 4), write(2, 8, 2)]
        assert res.writes[3][r] == [] and res.delivered[3][r] == [4]
        assert res.events[3][r] == [
            *resumed_success(4, 6),
            ev_log("INFO", "Concatenating mrope_positions: partial shape=torch.Size([3, 4]), new shape=torch.Size([3, 6])"),
            INTACT10,
        ]
        assert res.events[4][r] == []
        assert res.free_blocks[r] == [3, 0]  # N = [1, 2] held by the handed-off request


def _topology_b(variant: str) -> Any:
    sc = scenario(topology="b", tp_size=4, embedding_tp_size=4, receivers=[0, 2], pool_blocks=4)
    all4 = [0, 1, 2, 3]
    sched = [
        {},
        {"messages": all4, "encode": True, "chunks": all4, "deliver": all4},
        {"messages": all4, "chunks": all4, "deliver": all4},
        {"emb_finish": True},
    ]
    return run_trace(trace(variant, sc, sched))


def test_prefix_reproduces_the_reported_divergence() -> None:
    """The seed README's log: TP0/TP2 resume, TP1/TP3 "Unexpected ... 0 >= 0"."""
    res = _topology_b("prefix")
    receiver = [
        poll("transfer", 3), PARTIAL,
        {"ev": "free", "blocks": [0]},
        {"ev": "alloc", "num_tokens": 6, "result": [1, 2]},
        {"ev": "resume", "blocks": [1, 2], "sent_tokens": 4, "allocated_tokens": 8},
        INITIATED,
    ]
    dummy = [poll("transfer", 3), UNEXPECTED_0]
    assert [res.events[1][r] for r in range(4)] == [receiver, dummy, receiver, dummy]
    assert res.writes[1][1] == [] and res.writes[1][3] == []  # status only
    # Only embedding ranks 0 and 2 got a resume: 0 and 2 reach Success, 1 and 3 stay
    # Transferring, so the MIN stays Transferring; ranks 0 and 2 now read aux of block 1
    # (never written) and also log "Unexpected". Nobody ever hands off.
    assert res.delivered[2] == [[4], [], [4], []]
    assert all(res.events[2][r] == dummy for r in range(4))
    assert res.free_blocks == [[3, 0], [1, 2, 3], [3, 0], [1, 2, 3]]  # allocators diverged


def test_seed_agrees_in_topology_b_but_dummy_ranks_hand_off_a_mock() -> None:
    res = _topology_b("seed")
    assert all(res.events[1][r] == resume_path([0], [1, 2]) for r in range(4))
    assert res.delivered[2] == [[4]] * 4
    for r in (0, 2):
        assert res.events[2][r][-1] == INTACT10
    # The 6 new tokens of a dummy come from never-written blocks 1 and 2: zeros (content
    # -1), whose mrope values carry no row (null)
    zeros_mrope = [[None] * 6] * 3
    for r in (1, 3):
        # cache is empty, partial_aux_datas = [10 (synced), 0 (local aux[1])]: 6 < 10 -> mock
        assert res.events[2][r] == [
            *resumed_success(0, 6),
            ev_log("INFO", "Using only new mrope_positions: shape=torch.Size([3, 6])"),
            handoff([-1] * 6, 10, False, mock=(0, zeros_mrope)),
        ]


def test_seed_extra_transferring_iterations_resume_again_and_lose_data() -> None:
    """§8.4: the cached path recomputes L > S on every Transferring iteration, so while one
    rank is still locally Transferring every rank frees its blocks and resumes again."""
    sched = [
        {},
        FIRST,
        # resume lands in N = [1, 2] on both ranks; Success reaches rank 0 only
        {"messages": [0, 1], "chunks": [0], "deliver": [0]},
        {},  # MIN still Transferring
        {"messages": [0, 1], "chunks": [0], "deliver": [1]},
    ]
    res = run_trace(trace("seed", scenario(), sched))
    for r in (0, 1):
        assert res.events[1][r] == resume_path([0], [1, 2])
        assert res.writes[2][r] == [write(1, 4, 4), write(2, 8, 2)]
        # FIFO: after free [1, 2] the free list is [3..7, 0, 1, 2]
        assert res.events[2][r] == resume_path([1, 2], [3, 4], cached=True)
        assert res.events[3][r] == resume_path([3, 4], [5, 6], cached=True)
        # the embedding side popped the room's records on Success: later resumes find none
        assert res.writes[4][r] == []
        assert res.events[4][r][:3] == resumed_success(4, 6)
        # the cache (tokens 0..3) and blocks [5, 6], never written: zeros
        assert res.events[4][r][-1] == handoff([0, 1, 2, 3] + [-1] * 6, 10, False)
    assert res.delivered[4] == [[], [4]]


def test_alloc_failure_on_resume_double_frees() -> None:
    """§8.4 + §8.6: the old blocks are freed, alloc fails, and the failure handler frees
    ``embedding_indices`` - still the old blocks - a second time. Other requests hold the
    rest of the pool (others_alloc), so the 2 blocks needed are not there."""
    sc = scenario(pool_blocks=4)
    res = run_trace(trace("seed", sc, [{}, {**FIRST, "others_alloc": [0, 1]}, {}]))
    assert res.taken[1] == [[{"block": b, "content": [-1] * 4, "aux": [0, 0]} for b in (1, 2, 3)]] * 2
    for r in (0, 1):
        assert res.events[1][r] == [
            poll("transfer", 3), {"ev": "all_reduce_max", "value": 10}, {"ev": "all_reduce_max", "value": 4},
            SYNCED, PARTIAL,
            {"ev": "free", "blocks": [0]},
            {"ev": "alloc", "num_tokens": 6, "result": None},
            ev_log("ERROR", f"Not enough memory to resume transfer for rid={RID}, need 6 tokens"),
            ev_log("ERROR", failed_msg(r, UNKNOWN)),
            {"ev": "free", "blocks": [0]},
            {"ev": "removed", "reason": "failed"},
        ]
        assert res.events[2][r] == []
        assert res.free_blocks[r] == [0, 0]  # block 0 twice in the free list
        assert res.others_held[r] == [1, 2, 3]


def test_fifo_hands_back_the_block_just_freed_under_pressure() -> None:
    """L = 8: the resume needs R = 4 tokens = 1 block. Other requests hold every other
    block, so the FIFO hands back block 0, freed one line earlier; the resume lands in it
    and the request is intact. A block the others free goes to the tail."""
    sc = scenario(embedding_length=8)
    sched = [
        {},
        {**FIRST, "others_alloc": [0, 1]},
        {"messages": [0, 1], "chunks": [0], "deliver": [0, 1], "others_free": [0, 1], "lang": False},
        {"others_free": [0]},
    ]
    res = run_trace(trace("seed", sc, sched))
    initiated = ev_log("INFO", f"Resume transfer initiated for rid={RID}: allocated 1 blocks (4 tokens)")
    for r in (0, 1):
        assert [b["block"] for b in res.taken[1][r]] == [1, 2, 3, 4, 5, 6, 7]
        assert res.events[1][r][5:] == [
            {"ev": "free", "blocks": [0]},
            {"ev": "alloc", "num_tokens": 4, "result": [0]},
            {"ev": "resume", "blocks": [0], "sent_tokens": 4, "allocated_tokens": 4},
            initiated,
        ]
        assert res.writes[2][r] == [write(0, 4, 4)]
        assert res.events[3][r][-1] == handoff(list(range(8)), 8, True)
    assert res.free_blocks == [[1, 2], [1]]  # others_free: 1 (both ranks), then 2 (rank 0)
    assert res.others_held == [[3, 4, 5, 6, 7], [2, 3, 4, 5, 6, 7]]


def test_alloc_failure_on_one_rank_deadlocks() -> None:
    res = run_trace(trace("seed", scenario(), [{}, {**FIRST, "others_alloc": [1]}, {}, {}]))
    assert res.events[1][0] == resume_path([0], [1, 2])
    assert res.events[1][1][-1] == {"ev": "removed", "reason": "failed"}
    # rank 0 enters the transfer MIN, rank 1 has an empty queue and calls nothing
    assert res.deadlock_step == 2
    assert res.events[2] == [[{"ev": "deadlock"}], [{"ev": "deadlock"}]]
    assert len(res.events) == 3


def test_alloc_before_free_mutant_does_not_double_free() -> None:
    res = run_trace(trace("alloc_before_free", scenario(pool_blocks=4), [{}, {**FIRST, "others_alloc": [0, 1]}]))
    kinds = [e["ev"] for e in res.events[1][0]]
    assert kinds[5:7] == ["alloc", "free"]
    assert res.events[1][0][5]["result"] is None
    assert res.free_blocks[0] == [0, 0]  # the handler still frees the old blocks again


def test_abort_after_resume_frees_current_allocation() -> None:
    res = run_trace(trace("seed", scenario(), [{}, FIRST, {"abort": True}, {}]))
    for r in (0, 1):
        assert res.events[2][r] == [
            poll("transfer", 0),
            ev_log("ERROR", failed_msg(r, ABORTED)),
            {"ev": "free", "blocks": [1, 2]},
            {"ev": "removed", "reason": "failed"},
        ]
        assert res.events[3][r] == []
        assert res.free_blocks[r] == [3, 4, 5, 6, 7, 0, 1, 2]


def test_abort_in_prealloc_queue() -> None:
    res = run_trace(trace("seed", scenario(), [{"abort": True}, {}]))
    msg = (
        f"MultimodalLanguage handshake failed for request rank=0 language_req.req.rid={RID!r} "
        f"language_req.req.bootstrap_room={ROOM} with exception "
        f"EmbeddingTransferError(bootstrap_room={ROOM}): {ABORTED}"
    )
    assert res.events[0][0] == [poll("prealloc", 0), ev_log("ERROR", msg)]
    assert res.events[1][0] == []


def test_chunk_failure_reaches_one_rank_and_min_fails_all() -> None:
    step = {"messages": [0, 1], "encode": True, "chunks": [0], "chunk_fail": [0], "deliver": [0, 1]}
    res = run_trace(trace("seed", scenario(), [{}, step]))
    assert res.delivered[1] == [[0], []] and res.writes[1] == [[], []]
    for r in (0, 1):
        assert res.events[1][r] == [
            poll("transfer", 0),
            ev_log("ERROR", failed_msg(r, UNKNOWN)),
            {"ev": "free", "blocks": [0]},
            {"ev": "removed", "reason": "failed"},
        ]


def test_short_embedding_success_without_resume() -> None:
    """L <= first allocation: Success on the first chunk, plain get_buf, no mrope mock."""
    sc = scenario(embedding_length=3)
    res = run_trace(trace("prefix", sc, [{}, FIRST]))
    assert res.writes[1][0] == [write(0, 0, 3, [3, -3])]
    assert res.events[1][0] == [poll("transfer", 4), handoff([0, 1, 2], 3, True)]


def test_stale_aux_in_resume_block_prefix_resumes_twice() -> None:
    """prefix reads aux of its *current* (resume) blocks: an earlier occupant's aux row there
    makes a second resume look needed."""
    sc = scenario(initial_aux=[[[0, 0], [9, 1]], [[0, 0], [9, 1]]])
    res = run_trace(trace("prefix", sc, [{}, FIRST, {"messages": [0, 1], "chunks": [0], "deliver": [0]}]))
    # block 1 now holds tokens 4..7 (4 tokens) and its stale aux says 9: L=9 > S=8
    assert res.events[2][0][1] == ev_log("INFO", f"Partial transfer detected for rid={RID}: received 8/9 tokens, need to resume for 1 more tokens")
    assert res.events[2][0][4]["ev"] == "resume" and res.events[2][0][4]["sent_tokens"] == 8


def test_stale_resume_sent_mutant_resends_from_zero_with_aux() -> None:
    res = run_trace(trace("stale_resume_sent", scenario(), [{}, FIRST, {"messages": [0, 1], "chunks": [0]}]))
    assert res.events[1][0][-2] == {"ev": "resume", "blocks": [1, 2], "sent_tokens": 0, "allocated_tokens": 8}
    # record sent_tokens := 0: 10 remaining > 8 allocated -> partial, from token 0, aux again
    assert res.writes[2][0] == [write(1, 0, 4, [10, -3]), write(2, 4, 4)]


def test_every_variant_runs_the_nominal_case() -> None:
    sched = [{}, FIRST, {"messages": [0, 1], "chunks": [0], "deliver": [0, 1]}]
    for name in VARIANTS:
        res = run_trace(trace(name, scenario(), sched))
        assert len(res.events) == 3, name
    drop = run_trace(trace("drop_sync_sent", scenario(), sched))
    assert [e["ev"] for e in drop.events[1][0]].count("all_reduce_max") == 1
    skip = run_trace(trace("skip_cache", scenario(), sched))
    # no cache: Success reads aux of block 1 (0) -> zero tokens handed off
    assert skip.events[2][0][-1] == handoff([], 0, False)


def test_prefix_cached_aux_row_is_a_view_another_request_overwrites() -> None:
    """prefix caches ``partial_aux_datas`` as the aux row of the first block itself (a view,
    §5.1 / §14; engine 28ac79bbe). Block 0 is freed at the resume; another request takes it
    and leaves its own aux row [7, 0] there: prefix now expects 7 tokens. seed caches a new
    tensor and is unaffected."""
    sched = [
        {},
        FIRST,
        {"others_alloc": [0, 1], "lang": False},
        {"messages": [0, 1], "chunks": [0], "deliver": [0, 1]},
    ]
    t = trace("prefix", scenario(), sched)
    t["expected"] = [{}, {}, {"taken": [[{"block": 0, "content": [-9] * 4, "aux": [7, 0]}]] * 2}, {}]
    res = run_trace(t)
    assert [x["block"] for x in res.taken[2][0]] == [3, 4, 5, 6, 7, 0]
    for r in (0, 1):
        assert res.events[3][r][1] == ev_log(
            "INFO",
            f"Resume transfer for rid={RID}: partial_sent=4, total_expected=7, remaining_expected=3, allocated_blocks=2",
        )
        assert res.events[3][r][-1] == handoff(list(range(7)), 7, False)
    t["variant"] = "seed"
    seed = run_trace(t)
    assert all(seed.events[3][r][-1] == INTACT10 for r in (0, 1))
