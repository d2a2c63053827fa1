"""Random valid schedules must run to the end (or a deadlock) without internal errors, and
ranks must agree whenever protocol.md says they act on identical inputs."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ranksync.reference.runner import run_trace
from ranksync.reference.trace import TraceError
from ranksync.reference.variants import VARIANTS
from ref_cases import mrope_of, scenario, trace

T = 2


def _ranks(n: int) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(0, n - 1), unique=True, max_size=n).map(sorted)


step_st = st.fixed_dictionaries(
    {},
    optional={
        "messages": _ranks(T),
        "chunks": st.just([0]),
        "emb_finish": st.booleans(),
        "deliver": _ranks(T),
        "abort": st.booleans(),
        "others_free": _ranks(T),
        "others_alloc": _ranks(T),
        "lang": st.booleans(),
    },
)


@st.composite
def pools(draw: st.DrawFn, pool: int) -> tuple[list[list[int]], list[list[int]], list[list[list[int]]]]:
    """Per rank: a free list (at least one block, so step 0 can allocate) and the held
    blocks (a random split of a permutation), and what earlier or other requests left in
    each block (ids -2..-5 or zeros)."""
    free, held, content = [], [], []
    for _ in range(T):
        order = draw(st.permutations(list(range(pool))))
        cut = draw(st.integers(1, pool))
        free.append(order[:cut])
        held.append(order[cut:])
        content.append(draw(st.lists(st.lists(st.integers(-5, -1), min_size=4, max_size=4), min_size=pool, max_size=pool)))
    return free, held, content


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    variant=st.sampled_from(sorted(VARIANTS)),
    length=st.integers(1, 14),
    pool=st.integers(2, 6),
    aux=st.lists(st.tuples(st.integers(0, 12), st.integers(-2, 2)), min_size=6, max_size=6),
    steps=st.lists(step_st, min_size=1, max_size=9),
    fail=st.booleans(),
    data=st.data(),
)
def test_random_schedules_run(
    variant: str,
    length: int,
    pool: int,
    aux: list[tuple[int, int]],
    steps: list[dict[str, Any]],
    fail: bool,
    data: st.DataObject,
) -> None:
    free, held, content = data.draw(pools(pool))
    sched: list[dict[str, Any]] = [{}, {"messages": [0, 1], "encode": True}, *steps]
    if fail:
        sched.append({"chunks": [0], "chunk_fail": [0]})
    sched += [{"messages": [0, 1], "chunks": [0], "deliver": [0, 1]}] * 3
    sc = scenario(
        embedding_length=length, pool_blocks=pool, initial_aux=[[list(a) for a in aux[:pool]]] * T,
        initial_free=free, initial_held=held, initial_content=content,
    )
    try:
        res = run_trace(trace(variant, sc, sched))
    except TraceError as exc:
        raise AssertionError(f"a valid schedule was rejected: {exc}") from None
    assert len(res.events) == (res.deadlock_step + 1 if res.deadlock_step is not None else len(sched))
    for i, per_rank in enumerate(res.events):
        polls = [[e for e in evs if e["ev"] in ("poll", "all_reduce_max")] for evs in per_rank]
        if i != res.deadlock_step:
            assert polls[0] == polls[1]  # matched collectives give identical results
        for evs in per_rank:
            for e in evs:
                if e["ev"] == "handoff":  # decoded from real tensors; intact iff [0, L)
                    assert len(e["content"]) == e["length"]
                    assert e["intact"] == (e["content"] == list(range(length)) and (
                        e["mm_inputs"] == "none" or (e["mrope"] == mrope_of(e["content"]) and e["delta"] == -3)))
