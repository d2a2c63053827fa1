"""The design switches of docs/trace-format.md "Designs", one hand-built scenario (or more) per
change, each checking the documented difference against a variant without the change.

Single switches run as ``seed+<change>`` (the reference's ``BASE+change`` variant names);
the named designs (``gate``, ``hardened_lang``, ``hardened``, ``hardened-minus-<c>``) too.
Scenarios: bs = 4, first allocation 1 block, L = 10 (first send 4 tokens, resume R = 6).
"""

from __future__ import annotations

from typing import Any

import pytest
from ranksync.reference.buffers import MultimodalDataBuffers, SetBufRequest, aux_room
from ranksync.reference.runner import run_trace
from ranksync.reference.source import SourceData
from ranksync.reference.trace import TraceError
from ranksync.reference.variants import (
    CHANGES,
    HARDENED_CHANGES,
    VARIANTS,
    changes_of,
    get_variant,
)
from ref_cases import (
    ABORTED,
    INTACT10,
    RID,
    UNKNOWN,
    ev_log,
    failed_msg,
    handoff,
    init_step_events,
    scenario,
    trace,
    write,
)

FIRST: dict[str, Any] = {"messages": [0, 1], "encode": True, "chunks": [0], "deliver": [0, 1]}
CACHED = ev_log("INFO", f"Using cached partial_aux_datas for rid={RID}: actual_total_length=10, sent_tokens=4")
SYNCED = ev_log("INFO", f"Synced aux_datas across ranks for rid={RID}: actual_total_length=10, sent_tokens=4")
PARTIAL = ev_log("INFO", f"Partial transfer detected for rid={RID}: received 4/10 tokens, need to resume for 6 more tokens")
INITIATED = ev_log("INFO", f"Resume transfer initiated for rid={RID}: allocated 2 blocks (8 tokens)")
PENDING = ev_log("INFO", f"Resume transfer pending for rid={RID}: waiting for the resumed data")
NOMEM = ev_log("ERROR", f"Not enough memory to resume transfer for rid={RID}, need 6 tokens")
INTACT = INTACT10
REMOVED = {"ev": "removed", "reason": "failed"}
CANCEL = {"ev": "cancel"}
MAX10 = {"ev": "all_reduce_max", "value": 10}
MAX4 = {"ev": "all_reduce_max", "value": 4}


def poll(s: int, queue: str = "transfer") -> dict[str, Any]:
    return {"ev": "poll", "queue": queue, "result": [s]}


def agree(v: int) -> dict[str, Any]:
    return {"ev": "all_reduce_min", "value": v}


def free(blocks: list[int]) -> dict[str, Any]:
    return {"ev": "free", "blocks": blocks}


def alloc(n: int, result: list[int] | None) -> dict[str, Any]:
    return {"ev": "alloc", "num_tokens": n, "result": result}


def resume(blocks: list[int]) -> dict[str, Any]:
    return {"ev": "resume", "blocks": blocks, "sent_tokens": 4, "allocated_tokens": 8}


def run(variant: str, sc: dict[str, Any], sched: list[dict[str, Any]]) -> Any:
    return run_trace(trace(variant, sc, sched))


def kinds(evs: list[dict[str, Any]]) -> list[str]:
    return [e["ev"] for e in evs]


# -- variants --------------------------------------------------------------------------------


def test_design_variants_and_switches() -> None:
    assert changes_of(VARIANTS["gate"]) == ("gate", "no_sync")
    assert changes_of(VARIANTS["hardened_lang"]) == ("wait", "no_refree")
    assert changes_of(VARIANTS["hardened"]) == HARDENED_CHANGES
    assert set(HARDENED_CHANGES) < set(CHANGES)
    for c in HARDENED_CHANGES:
        v = VARIANTS[f"hardened-minus-{c}"]
        assert changes_of(v) == tuple(x for x in HARDENED_CHANGES if x != c)
        assert v.synced and v.cache and v.sync_op == "max"  # on top of seed
    assert changes_of(get_variant("seed+cancel+gate")) == ("gate", "cancel")
    assert changes_of(VARIANTS["seed"]) == ()
    with pytest.raises(ValueError):
        get_variant("seed+no_such_change")
    with pytest.raises(TraceError):
        run("hardened+bogus", scenario(), [{}])


@pytest.mark.parametrize("name", sorted(v for v in VARIANTS if v.startswith(("hardened", "gate"))))
def test_every_design_runs_the_nominal_case(name: str) -> None:
    # per_session: one chunk per resume message, so two chunks for the two sessions
    sched = [{}, FIRST, {"messages": [0, 1], "chunks": [0], "lang": False},
             {"chunks": [0], "deliver": [0, 1]}, {"emb_finish": True}]
    res = run(name, scenario(), sched)
    assert res.deadlock_step is None
    for r in (0, 1):
        assert res.events[3][r][-1] == INTACT, name


# -- gate ------------------------------------------------------------------------------------


def test_aux_row_carries_the_room_only_when_written_by_the_embedding_side() -> None:
    src = SourceData(3, 2, 5)
    bufs = MultimodalDataBuffers(4, 4, 2)
    bufs.aux_datas[1, 0] = 3  # an earlier occupant's row
    assert aux_room(bufs.aux_datas[1]) is None and aux_room(bufs.aux_datas[0]) is None
    bufs.set_buf(SetBufRequest(src.embedding, src.fill_ids, src.mrope_positions, 5, [2], room=77))
    assert aux_room(bufs.aux_datas[2]) == 77
    assert bufs.aux_datas[2, :2].tolist() == [3, 5]


def _dummy_with_stale_aux(variant: str) -> Any:
    """Topology b, T = 2, rank 1 a dummy whose block 0 holds an earlier occupant's aux row
    [3, 5]; L = 3 fits the first allocation: one complete chunk, Success to both ranks."""
    sc = scenario(topology="b", tp_size=2, embedding_tp_size=2, receivers=[0], embedding_length=3,
                  initial_aux=[[], [[3, 5]]])
    both = {"messages": [0, 1], "encode": True, "chunks": [0, 1], "deliver": [0, 1]}
    return run(variant, sc, [{}, both, {}])


def test_gate_holds_the_min_while_a_dummy_rank_has_no_metadata() -> None:
    seed = _dummy_with_stale_aux("seed")
    assert seed.delivered[1] == [[4], [4]] and seed.writes[1][1] == []
    # seed: the dummy reads the stale row (n = 3) and hands off three zero tokens
    assert seed.events[1][1] == [poll(4), handoff([-1, -1, -1], 3, False)]
    gate = _dummy_with_stale_aux("gate")
    assert gate.delivered[1] == [[4], [4]]
    unexpected = ev_log("WARNING", "Unexpected: Transferring status but sent_tokens=3 >= actual_total_length=3")
    for step in (1, 2):
        # the dummy contributes Transferring: no rank hands off; no_sync: no MAX all-reduce
        assert gate.events[step] == [[poll(3), unexpected], [poll(3), unexpected]]


def test_gate_passes_the_metadata_rank_and_the_resumed_request() -> None:
    short = run("seed+gate", scenario(embedding_length=3), [{}, FIRST])
    for r in (0, 1):  # the aux row of block 0 carries room 77
        assert short.events[1][r] == [poll(4), handoff([0, 1, 2], 3, True)]
    # resumed: embedding_indices[0] = block 1 never gets an aux row, partial_aux_datas passes
    sc = scenario(initial_aux=[[[0, 0], [10, -3]]] * 2)  # and a stale row that is not ours
    res = run("seed+gate", sc, [{}, FIRST, {"messages": [0, 1], "chunks": [0], "deliver": [0, 1]}])
    for r in (0, 1):
        assert res.events[2][r][0] == poll(4) and res.events[2][r][-1] == INTACT


def test_gate_without_partial_metadata_blocks_success_of_a_stale_resume_block() -> None:
    """skip_cache + gate: no partial_aux_datas, and the resume block's aux row carries no
    room, so Success never passes the gate."""
    res = run("skip_cache+gate", scenario(), [{}, FIRST, {"messages": [0, 1], "chunks": [0], "deliver": [0, 1]}])
    assert res.delivered[2] == [[4], [4]]
    assert all(res.events[2][r][0] == poll(3) for r in (0, 1))
    assert all(e["ev"] != "handoff" for r in (0, 1) for e in res.events[2][r])


# -- no_sync ---------------------------------------------------------------------------------


def test_no_sync_first_path_has_no_all_reduce_and_no_synced_log() -> None:
    sched = [{}, FIRST, {}]
    seed = run("seed", scenario(), sched)
    assert seed.events[1][0][:4] == [poll(3), MAX10, MAX4, SYNCED]
    res = run("seed+no_sync", scenario(), sched)
    for r in (0, 1):
        assert res.events[1][r] == [poll(3), PARTIAL, free([0]), alloc(6, [1, 2]), resume([1, 2]), INITIATED]
        # the cached path is unchanged (and, without wait, resumes again)
        assert res.events[2][r][:3] == [poll(3), CACHED, PARTIAL]


def test_no_sync_in_topology_b_dummies_take_the_local_values() -> None:
    sc = scenario(topology="b", tp_size=2, embedding_tp_size=2, receivers=[0])
    res = run("seed+no_sync", sc, [{}, {"messages": [0, 1], "encode": True, "chunks": [0, 1], "deliver": [0, 1]}])
    assert res.events[1][0][1] == PARTIAL
    assert res.events[1][1] == [
        poll(3), ev_log("WARNING", "Unexpected: Transferring status but sent_tokens=0 >= actual_total_length=0"),
    ]


# -- wait, no_refree (hardened_lang) ----------------------------------------------------------

SLOW_SUCCESS = [
    {},
    FIRST,
    {"messages": [0, 1], "chunks": [0], "deliver": [0]},  # Success reaches rank 0 only
    {},
    {"deliver": [1]},
]


def test_wait_does_not_resume_again_while_the_resume_is_outstanding() -> None:
    seed = run("seed", scenario(), SLOW_SUCCESS)
    assert kinds(seed.events[2][0]).count("resume") == 1  # seed resumes again
    res = run("hardened_lang", scenario(), SLOW_SUCCESS)
    for r in (0, 1):
        assert res.events[2][r] == [poll(3), CACHED, PENDING]
        assert res.events[3][r] == [poll(3), CACHED, PENDING]
        assert res.events[4][r][-1] == INTACT
        assert res.free_blocks[r] == [3, 4, 5, 6, 7, 0]


def test_no_refree_on_failed_resume_allocation() -> None:
    sched = [{}, {**FIRST, "others_alloc": [0, 1]}]
    seed = run("seed", scenario(pool_blocks=4), sched)
    assert seed.free_blocks[0] == [0, 0]
    res = run("seed+no_refree", scenario(pool_blocks=4), sched)
    for r in (0, 1):
        assert res.events[1][r][5:] == [
            free([0]), alloc(6, None), NOMEM, ev_log("ERROR", failed_msg(r, UNKNOWN)), REMOVED,
        ]
        assert res.free_blocks[r] == [0]


# -- alloc_agree -----------------------------------------------------------------------------


def test_alloc_agree_prealloc_failure_on_one_rank_keeps_every_rank_in_prealloc() -> None:
    """Other requests hold all of rank 1's pool in step 0 and free one block in step 1."""
    sched = [{"others_alloc": [1]}, {"others_free": [1]}]
    seed = run("seed", scenario(), sched)
    # seed: rank 0 inits and enters the transfer MIN; rank 1 has nothing free (no alloc
    # call, §8.3) and stays behind: deadlock
    assert seed.deadlock_step == 0
    assert seed.events[0][0] == [*init_step_events([0], 4)[:3], {"ev": "deadlock"}]
    assert seed.events[0][1] == [poll(2, "prealloc"), {"ev": "deadlock"}]
    res = run("seed+alloc_agree", scenario(), sched)
    assert res.events[0] == [
        [poll(2, "prealloc"), alloc(4, [0]), agree(0), free([0])],
        [poll(2, "prealloc"), agree(0)],  # contributes 0 without calling alloc
    ]
    # next iteration: every rank waiting, no handshake poll; both allocate and init together
    assert res.events[1] == [
        [alloc(4, [1]), agree(1), {"ev": "init", "blocks": [1], "allocated_tokens": 4}, poll(2)],
        [alloc(4, [0]), agree(1), {"ev": "init", "blocks": [0], "allocated_tokens": 4}, poll(2)],
    ]


def test_alloc_agree_resume_failure_on_one_rank_fails_every_rank() -> None:
    sched = [{}, {**FIRST, "others_alloc": [1]}, {}, {}]
    assert run("seed", scenario(), sched).deadlock_step == 2
    res = run("seed+alloc_agree", scenario(), sched)
    assert res.deadlock_step is None
    head = [poll(3), MAX10, MAX4, SYNCED, PARTIAL, free([0])]
    assert res.events[1] == [
        [*head, alloc(6, [1, 2]), agree(0), free([1, 2]), NOMEM,
         ev_log("ERROR", failed_msg(0, UNKNOWN)), free([0]), REMOVED],
        [*head, alloc(6, None), agree(0), NOMEM, ev_log("ERROR", failed_msg(1, UNKNOWN)), free([0]), REMOVED],
    ]
    assert res.events[2] == [[], []] and res.events[3] == [[], []]
    # in hardened: no second free (no_refree), a cancel instead of the handler's free
    hard = run("hardened", scenario(), sched)
    assert hard.events[1][0][6:] == [
        alloc(6, [1, 2]), agree(0), free([1, 2]), NOMEM, ev_log("ERROR", failed_msg(0, UNKNOWN)), CANCEL, REMOVED,
    ]
    assert hard.free_blocks == [[3, 4, 5, 6, 7, 0, 1, 2], [0]]


# -- per_session -----------------------------------------------------------------------------

# T = 2, E = 1: both ranks are sessions of embedding rank 0. Only rank 1's resume is
# processed before the chunk; rank 0's comes one step later.
ONE_RESUME_AT_A_TIME = [
    {},
    FIRST,
    {"messages": [1], "chunks": [0], "deliver": [0, 1], "emb_finish": True},
    {"messages": [0], "chunks": [0], "deliver": [0, 1], "emb_finish": True},
]
RANK1_RESUME_WRITES = [write(1, 4, 4), write(2, 8, 2)]


def test_seed_resume_chunk_writes_every_session() -> None:
    seed = run("hardened_lang", scenario(), ONE_RESUME_AT_A_TIME)
    assert seed.writes[2][1] == RANK1_RESUME_WRITES
    # rank 0's record still names its freed first block: tokens 4..7 land in block 0, and
    # the chunk's status (from rank 1's complete send) is Success for both
    assert seed.writes[2][0] == [write(0, 4, 4)]
    assert seed.delivered[2] == [[4], [4]]
    assert seed.events[2][0][-1]["ev"] == "handoff" and not seed.events[2][0][-1]["intact"]


def test_per_session_resume_chunk_serves_the_resuming_session_only() -> None:
    res = run("seed+wait+per_session", scenario(), ONE_RESUME_AT_A_TIME)
    assert res.writes[2] == [[], RANK1_RESUME_WRITES]
    assert res.delivered[2] == [[], [4]]
    # the room is not Success while rank 0's session lacks tokens: emb_finish keeps the
    # source blocks, so rank 0's resume later copies real data (not garbage)
    assert res.events[2] == [[poll(3), CACHED, PENDING]] * 2
    assert res.writes[3] == [RANK1_RESUME_WRITES, []]
    assert res.delivered[3] == [[4], []]
    for r in (0, 1):
        assert res.events[3][r][0] == poll(4) and res.events[3][r][-1] == INTACT


def test_per_session_statuses_are_each_sessions_own() -> None:
    """First chunk: rank 0's session fails; seed stops the loop (rank 1 gets nothing), so
    does per_session for a failed write (§7.3 step 4 unchanged). A *later* chunk skips the
    failed session and still serves the other one."""
    sched = [
        {},
        FIRST,
        {"abort": True, "messages": [0, 1]},  # both resumes processed; both ranks cancel
        {"messages": [0], "chunks": [0], "deliver": [0]},  # rank 0's cancel, then its chunk
        {"chunks": [0], "deliver": [1]},  # rank 1's resume chunk
    ]
    base = run("seed+wait+cancel", scenario(), sched)
    per = run("seed+wait+cancel+per_session", scenario(), sched)
    # seed loop: the failed first session breaks every later chunk (Failed to it again)
    assert base.writes[3] == [[], []] and base.writes[4] == [[], []]
    assert base.delivered[3] == [[0, 0], []] and base.delivered[4] == [[], []]
    # per_session: rank 0's session is skipped (no write, no status); rank 1's chunk lands
    # in rank 1's blocks, which rank 1 still holds (cancel keeps them until Failed)
    assert per.writes[3] == [[], []] and per.delivered[3] == [[0], []]
    assert per.writes[4] == [[], RANK1_RESUME_WRITES] and per.delivered[4] == [[], [4]]
    assert per.events[3][0] == [free([1, 2])]  # rank 0 got Failed: deferred free
    assert per.events[4][1] == []  # rank 1 got Success, not Failed: keeps its blocks


# -- cancel ----------------------------------------------------------------------------------


def test_cancel_defers_the_free_until_failed_is_delivered() -> None:
    sched = [{}, FIRST, {"abort": True}, {}, {"messages": [0, 1]}, {"deliver": [0]}, {"deliver": [1], "emb_finish": True}]
    seed = run("seed", scenario(), sched)
    assert seed.events[2][0] == [poll(0), ev_log("ERROR", failed_msg(0, ABORTED)), free([1, 2]), REMOVED]
    res = run("seed+cancel", scenario(), sched)
    for r in (0, 1):
        assert res.events[2][r] == [poll(0), ev_log("ERROR", failed_msg(r, ABORTED)), CANCEL, REMOVED]
    assert res.events[3] == [[], []] and res.events[4] == [[], []]  # blocks [1, 2] still held
    assert res.delivered[4] == [[], []]
    assert res.delivered[5] == [[0], []] and res.events[5] == [[free([1, 2])], []]
    assert res.delivered[6] == [[], [0]] and res.events[6] == [[], [free([1, 2])]]
    assert res.free_blocks == [[3, 4, 5, 6, 7, 0, 1, 2]] * 2


def test_cancel_is_the_first_event_of_the_step_before_the_prealloc_queue() -> None:
    sched = [{}, FIRST, {"abort": True}, {"messages": [0, 1], "deliver": [0, 1]}]
    res = run("hardened", scenario(), sched)
    assert res.events[3] == [[free([1, 2])], [free([1, 2])]]


def test_cancel_after_the_embedding_side_forgot_the_room_still_gets_failed() -> None:
    """L = 3: one complete chunk; Success reaches rank 0 only, the embedding side finishes
    (clear(): transfer_infos and status gone), then an abort. The cancel still brings
    Failed back (after rank 1's pending Success, FIFO)."""
    sc = scenario(embedding_length=3)
    sched = [
        {},
        {"messages": [0, 1], "encode": True, "chunks": [0], "deliver": [0]},
        {"emb_finish": True, "abort": True},
        {"messages": [0, 1], "deliver": [0, 1]},
    ]
    res = run("seed+cancel", sc, sched)
    for r in (0, 1):
        assert res.events[2][r] == [poll(0), ev_log("ERROR", failed_msg(r, ABORTED)), CANCEL, REMOVED]
        assert res.events[3][r] == [free([0])]
    assert res.delivered[3] == [[0], [4, 0]]


def test_cancel_a_failed_status_seen_before_the_handler_frees_at_the_next_iteration() -> None:
    """Rank 0's chunk write fails: Failed reaches rank 0 before its failure handler (which
    clears the room); that Failed counts. Rank 1 (aborted by the MIN) waits for the reply
    to its cancel."""
    sched = [{}, {**FIRST, "chunk_fail": [0]}, {}, {"messages": [0, 1]}, {"deliver": [0, 1]}]
    res = run("hardened", scenario(), sched)
    assert res.delivered[1] == [[0], []]
    for r in (0, 1):
        assert res.events[1][r] == [poll(0), ev_log("ERROR", failed_msg(r, UNKNOWN)), CANCEL, REMOVED]
    assert res.events[2] == [[free([0])], []]
    assert res.events[3] == [[], []]
    assert res.delivered[4] == [[0], [0]] and res.events[4] == [[], [free([0])]]
    assert res.free_blocks == [[1, 2, 3, 4, 5, 6, 7, 0]] * 2


def test_cancel_on_resume_allocation_failure_without_no_refree_frees_again_later() -> None:
    sched = [{}, {**FIRST, "others_alloc": [0, 1]}, {"messages": [0, 1], "deliver": [0, 1]}]
    minus = run("hardened-minus-no_refree", scenario(pool_blocks=4), sched)
    assert minus.events[1][0][-2:] == [CANCEL, REMOVED]
    assert minus.events[2][0] == [free([0])]  # the deferred free of the already-freed blocks
    assert minus.free_blocks[0] == [0, 0]
    hard = run("hardened", scenario(pool_blocks=4), sched)
    assert hard.events[1][0][-2:] == [CANCEL, REMOVED]
    assert hard.events[2][0] == [] and hard.delivered[2][0] == [0]
    assert hard.free_blocks[0] == [0]


# -- data_to_all -----------------------------------------------------------------------------


def _b_nominal(variant: str) -> Any:
    sc = scenario(topology="b", tp_size=2, embedding_tp_size=2, receivers=[0])
    both = {"messages": [0, 1], "encode": True, "chunks": [0, 1], "deliver": [0, 1]}
    return run(variant, sc, [{}, both, {"messages": [0, 1], "chunks": [0, 1], "deliver": [0, 1]}])


def test_data_to_all_writes_every_rank_in_topology_b() -> None:
    seed = _b_nominal("seed")
    assert seed.writes[1][1] == [] and seed.writes[2][1] == []
    assert seed.events[2][1][-1]["intact"] is False  # the dummy hands off a mock
    res = _b_nominal("seed+data_to_all")
    for r in (0, 1):
        assert res.writes[1][r] == [write(0, 0, 4, [10, -3])]
        assert res.writes[2][r] == [write(1, 4, 4), write(2, 8, 2)]
        assert res.events[2][r][-1] == INTACT
    hard = _b_nominal("hardened")
    assert all(hard.events[2][r][-1] == INTACT for r in (0, 1))
    minus = _b_nominal("hardened-minus-data_to_all")
    assert minus.writes[2][1] == [] and minus.events[2][1][-1]["intact"] is False


# -- gloo ------------------------------------------------------------------------------------


@pytest.mark.gloo
@pytest.mark.parametrize(
    "variant,sched",
    [
        ("hardened", [{"others_alloc": [1]}, {"others_free": [1]}, {**FIRST, "others_alloc": [0]},
                      {"messages": [0, 1], "deliver": [0, 1]}]),
        ("gate", [{}, FIRST, {"messages": [0, 1], "chunks": [0], "deliver": [0, 1]}]),
    ],
)
def test_designs_identical_on_gloo_processes(variant: str, sched: list[dict[str, Any]]) -> None:
    t = trace(variant, scenario(), sched)
    a, b = run_trace(t, "inprocess"), run_trace(t, "gloo", timeout=60)
    assert a.to_expected() == b.to_expected()
    assert a.free_blocks == b.free_blocks and a.deadlock_step == b.deadlock_step
    seen = {e["ev"] for step in a.events for evs in step for e in evs}
    assert ("all_reduce_min" in seen and "cancel" in seen) if variant == "hardened" else "handoff" in seen
