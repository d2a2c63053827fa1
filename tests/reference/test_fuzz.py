"""Random valid schedules must run to the end (or a deadlock) without internal errors, and
ranks must agree whenever protocol.md says they act on identical inputs."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ranksync.reference.runner import run_trace
from ranksync.reference.trace import TraceError
from ranksync.reference.variants import VARIANTS
from ref_cases import scenario, trace

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
        "alloc_fail": _ranks(T),
        "lang": st.booleans(),
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    variant=st.sampled_from(sorted(VARIANTS)),
    length=st.integers(1, 14),
    pool=st.integers(2, 6),
    aux=st.lists(st.tuples(st.integers(0, 12), st.integers(-2, 2)), min_size=6, max_size=6),
    steps=st.lists(step_st, min_size=1, max_size=9),
    fail=st.booleans(),
)
def test_random_schedules_run(
    variant: str, length: int, pool: int, aux: list[tuple[int, int]], steps: list[dict[str, Any]], fail: bool
) -> None:
    sched: list[dict[str, Any]] = [{}, {"messages": [0, 1], "encode": True}, *steps]
    if fail:
        sched.append({"chunks": [0], "chunk_fail": [0]})
    sched += [{"messages": [0, 1], "chunks": [0], "deliver": [0, 1]}] * 3
    sc = scenario(embedding_length=length, pool_blocks=pool, initial_aux=[[list(a) for a in aux[:pool]]] * T)
    try:
        res = run_trace(trace(variant, sc, sched))
    except TraceError:
        raise AssertionError("a valid schedule was rejected") from None
    assert len(res.events) == (res.deadlock_step + 1 if res.deadlock_step is not None else len(sched))
    for i, per_rank in enumerate(res.events):
        polls = [[e for e in evs if e["ev"] in ("poll", "all_reduce_max")] for evs in per_rank]
        if i != res.deadlock_step:
            assert polls[0] == polls[1]  # matched collectives give identical results
