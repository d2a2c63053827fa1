"""Causes of a counterexample (checker/cause.py, checker/cause_text.py): the but-for test on a
pinned run whose cause is a leftover aux row, what it says in the engine's terms, and that a
run without the ingredient, or with an ingredient the violation does not need, is told apart.
"""

from __future__ import annotations

import copy

import pytest
import z3
from ranksync.checker import bmc, cause_query
from ranksync.checker.cause import Analysis, Ingredient, analyse, first_violation, remove
from ranksync.checker.cause_text import describe
from ranksync.checker.cliutil import DEFAULT_CONFIG
from ranksync.checker.config import load
from ranksync.checker.explain import _confirm_cause
from ranksync.checker.minimise import minimise
from ranksync.checker.scenario import Scenario, from_model
from ranksync.spec.properties import PROPERTIES
from ranksync.spec.variants import get_variant

PC = load(DEFAULT_CONFIG)
RESUME = PROPERTIES["resume_validity"]


def stale_resume(**kw) -> Scenario:
    """prefix, topology a (the engine's mapping, shared history), T = 1: found by
    `ranksync explain prefix resume_validity --topology a --ranks 1 --cause stale`. The first
    Transferring resumes into block 1, whose aux row still holds 4 from an earlier request;
    the resume message is not yet processed, so at the next Transferring the rank reads that
    row as actual_total_length and sends a second resume while the first is outstanding."""
    cfg = PC.model_config(1, "a", **kw)
    P = cfg.pool_blocks
    return Scenario(
        cfg=cfg, variant="prefix", length=2, bs=1, default_tokens=1, receivers=[0],
        aux0=[[0, 4, 0, 0]], aux1=[[0] * P], held=[0],
        schedule=[{"lang": True},
                  {"messages": [0], "encode": True, "chunks": [0], "deliver": [0],
                   "lang": True},
                  {"chunks": [0], "deliver": [0], "lang": True}])


def test_pinned_stale_row_is_the_cause():
    sc = stale_resume()
    assert first_violation(sc, RESUME) == 2
    an = analyse(sc, RESUME)
    assert [(c.ingredient.kind, c.ingredient.what, c.ingredient.block) for c in an.causes] == \
        [("stale", "row", 1)]
    # the but-for test itself: without the row there is no violation
    assert first_violation(an.causes[0].without, RESUME) is None
    run = sc.replay()
    (line,) = describe(sc, run, an)
    assert line.startswith("cause (stale): block 1's aux row still holds 4 from an earlier "
                           "request")
    assert "at iteration 2 TP0's get_buf reads 4 from it as actual_total_length" in line
    assert "no all-reduce" in line  # prefix decides with its own read
    assert "Unexpected: Transferring status but sent_tokens=0 >= actual_total_length=0" in line


def test_ingredient_the_violation_does_not_need_is_not_a_cause():
    """A second leftover row in a block nobody reads is present, but not a cause."""
    sc = stale_resume()
    sc.aux0[0][3] = 5
    an = analyse(sc, RESUME)
    assert Ingredient("stale", "row", (0,), block=3) in an.present
    assert [c.ingredient.block for c in an.causes] == [1]


def test_without_the_cause_there_is_nothing_to_explain():
    sc = stale_resume()
    sc.aux0[0][1] = 0
    assert first_violation(sc, RESUME) is None
    assert analyse(sc, RESUME).present == []


def test_history_rows_are_one_ingredient_across_ranks():
    """Under the shared history a block's leftover is the same on every rank that got it, so
    removing it removes it everywhere (the model would not allow less)."""
    cfg = PC.model_config(2, "a")
    sc = Scenario(cfg=cfg, variant="seed", length=2, bs=1, default_tokens=1, receivers=[0, 1],
                  aux0=[[0, 4, 0, 0], [0, 4, 0, 0]], aux1=[[0] * 4, [0] * 4], held=[0, 0],
                  schedule=[{"lang": True}])
    ings = [i for i in analyse(sc, PROPERTIES["agreement"]).present]
    assert ings == [Ingredient("stale", "row", (0, 1), block=1)]
    alt = remove(sc, ings[0])
    assert alt.aux0 == [[0] * 4, [0] * 4] and sc.aux0[1][1] == 4  # a copy


def test_faults_and_pool_events_are_ingredients():
    sc = stale_resume()
    sc.schedule[0] = {"lang": True, "abort": False, "others_alloc": [0],
                      "taken_aux": [[[0, 0], [0, 0], [3, 0], [0, 0]]]}
    sc.schedule[1] = {**sc.schedule[1], "chunk_fail": [0]}
    run = sc.replay()
    kinds = {(i.kind, i.what) for i in analyse(sc, RESUME, run).present}
    assert {("pool", "others_alloc"), ("stale", "taken_row"), ("fault", "chunk_fail")} <= kinds


@pytest.mark.parametrize("cause", ["stale", "fault", "none"])
def test_confirm_cause_rejects_a_run_without_that_cause(cause):
    """explain re-checks the solver's cause on the concrete replay: a mismatch is an internal
    error, never a silently wrong headline."""
    sc = stale_resume()
    an = analyse(sc, RESUME)
    if cause == "stale":
        _confirm_cause(an, cause)  # it has one
        with pytest.raises(RuntimeError):
            _confirm_cause(Analysis(an.present, []), cause)
    else:
        with pytest.raises(RuntimeError):
            _confirm_cause(an, cause)


def test_removal_never_leaves_the_scenario_shared():
    sc = stale_resume()
    before = copy.deepcopy(sc)
    for ing in analyse(sc, RESUME).present:
        remove(sc, ing)
    assert sc == before


def test_pinned_max_picks_the_leftover():
    """The mutant skip_cache (re-reads the buffers on every Transferring) under the what-if of
    per-rank leftovers, T = 2: TP0's resume block still holds 5, TP1's holds nothing, and the
    MAX makes 5 everyone's actual_total_length (found by `ranksync explain skip_cache
    resume_validity --topology a --ranks 2 --stale per_rank --cause stale --depth 3`)."""
    cfg = PC.model_config(2, "a", stale="per_rank")
    sc = Scenario(cfg=cfg, variant="skip_cache", length=2, bs=1, default_tokens=1,
                  receivers=[0, 1], aux0=[[0, 5, 0, 0], [0, 0, 0, 0]],
                  aux1=[[0] * 4, [0] * 4], held=[0, 0],
                  schedule=[{"lang": True},
                            {"messages": [0, 1], "chunks": [0], "deliver": [0, 1],
                             "encode": True, "lang": True},
                            {"chunks": [0], "lang": True}])
    an = analyse(sc, RESUME)
    assert [(c.ingredient.what, c.ingredient.ranks, c.ingredient.block) for c in an.causes] \
        == [("row", (0,), 1)]
    (line,) = describe(sc, sc.replay(), an)
    assert "(TP0, drawn for this rank alone: per-rank what-if)" in line
    assert "at iteration 2 TP0's get_buf reads 5 from it as actual_total_length; the MAX " \
           "picks 5 over 0" in line
    # the same row on both ranks (what the shared history gives) is one ingredient, and the
    # MAX then has nothing to pick over
    shared = copy.deepcopy(sc)
    shared.aux0[1][1] = 5
    shared.cfg = PC.model_config(2, "a")
    an2 = analyse(shared, RESUME)
    assert [c.ingredient.ranks for c in an2.causes] == [(0, 1)]
    assert "every rank's get_buf reads 5 from it as actual_total_length; the MAX gives 5" in \
        describe(shared, shared.replay(), an2)[0]


def test_minimisation_keeps_the_cause_the_goal_asks_for():
    """With the cause asserted in the goal, minimisation (which only ever keeps the goal) ends
    with the stale row the violation needs, and with no other stale row; the same
    minimisation under the bare violation goal reaches a smaller run without any stale row
    (here the pool gives back the rank's own block), which is why --cause exists."""
    u = bmc.build(PC.model_config(1, "a", depth=3), get_variant("prefix"))
    goals = cause_query.goals(u, RESUME, "stale")
    r, k, m, _why = bmc._first_sat(u, goals, shortest=True)
    assert r == "sat" and k is not None and m is not None
    kept = from_model(u, minimise(u, z3.Or(*goals[: k + 1]), m), k)
    an = analyse(kept, RESUME)
    assert "stale" in an.kinds()
    assert [i for i in an.present if i.kind == "stale"] == \
        [c.ingredient for c in an.causes if c.ingredient.kind == "stale"]
    bad = bmc._terms(u, RESUME.bad)
    plain = minimise(u, z3.Or(*bad[: k + 1]), m)
    other = from_model(u, plain, bmc.first_step(u, plain, bad))
    assert first_violation(other, RESUME) is not None
    assert "stale" not in analyse(other, RESUME).kinds()
