"""The ranks side by side (checker/sidebyside.py): content ids decoded in words, the hand-off
table with `<>` where ranks differ, and the integrity view next to the source."""

from __future__ import annotations

import re

from ranksync.checker.cause import first_violation
from ranksync.checker.cliutil import DEFAULT_CONFIG
from ranksync.checker.config import load
from ranksync.checker.scenario import Scenario
from ranksync.checker.sidebyside import decode, label, side_by_side, summary
from ranksync.spec import content as ids
from ranksync.spec.properties import PROPERTIES

PC = load(DEFAULT_CONFIG)


def test_content_ids_in_words():
    cfg = PC.model_config(2, "a")
    gb = ids.garbage_base(cfg)
    assert decode(cfg, 3) == ("token", 3)
    assert decode(cfg, ids.ZERO) == ("zeros", None)
    assert decode(cfg, ids.stale(cfg, 2, 1)) == ("leftover", 2)
    assert decode(cfg, ids.stale(cfg, 3, 0, r=1)) == ("own leftover", (1, 3))
    assert decode(cfg, -(gb + 4)) == ("garbage", 4)
    assert label(cfg, ids.stale(cfg, 2, 0)) == "block 2's leftover from an earlier request"
    assert summary(cfg, [0, 1, 2, ids.ZERO, ids.ZERO, ids.stale(cfg, 1, 0),
                         ids.stale(cfg, 1, 1), -(gb + 2), -(gb + 3)]) == (
        "tokens 0..2 of the request, zeros (2 tokens), block 1's leftover from an earlier "
        "request (2 tokens), garbage from freed source blocks (source tokens 2..3)")
    assert summary(cfg, [1, 0]) == "token 1, token 0"  # out of order is not a run


def mock_vs_real() -> Scenario:
    """seed, topology b, receivers {0} (what-if): TP0 hands off the 5 source tokens, TP1 (no
    data) a mock of 3 zero tokens, in the same iteration (found by seeded simulation)."""
    cfg = PC.model_config(2, "b", receivers=(0,), faults=False, pool_pressure="none")
    eager = {"messages": [0, 1], "encode": True, "chunks": [0, 1], "emb_finish": True,
             "deliver": [0, 1], "lang": True}
    return Scenario(cfg=cfg, variant="seed", length=5, bs=1, default_tokens=2, receivers=[0],
                    aux0=[[0] * 4, [0] * 4], aux1=[[0] * 4, [0] * 4], held=[0, 0],
                    schedule=[{**eager, "deliver": [0]}, eager, eager])


def test_handoff_table_marks_where_ranks_differ():
    sc = mock_vs_real()
    run = sc.replay()
    k = first_violation(sc, PROPERTIES["handoff_agreement"], run)
    assert k == 2
    lines = side_by_side("handoff_agreement", sc.cfg, run, k, sc.length)
    assert lines[0] == "what each rank hands to the TP forward at iteration 2:"
    assert lines[1].split() == ["TP0", "TP1"]
    text = "\n".join(lines)
    assert "hand-off, mm_inputs absent" in text and "hand-off, mock mm_inputs" in text
    content = next(ln for ln in lines if ln.strip().startswith("content"))
    assert "tokens 0..4 of the request" in content and "zeros (3 tokens)" in content
    assert content.endswith("<>")
    emb = next(ln for ln in lines if ln.strip().startswith("embedding_length"))
    assert emb.split() == ["embedding_length", "5", "5"]  # same n, different data
    assert "mrope_position_delta" in text


def test_integrity_view_is_next_to_the_source():
    sc = mock_vs_real()
    run = sc.replay()
    k = first_violation(sc, PROPERTIES["integrity"], run)
    lines = side_by_side("integrity", sc.cfg, run, k, sc.length)
    assert lines[1].split() == ["source", "TP0", "TP1"]
    pos0 = next(ln for ln in lines if ln.strip().startswith("position 0"))
    assert pos0.split("  ")[-1] == "<>" and "token 0" in pos0 and "zeros" in pos0
    delta = next(ln for ln in lines if ln.strip().startswith("mrope_position_delta"))
    # TP0 hands off no mrope (mm_inputs absent): blank and not compared; TP1's mock differs
    assert delta.split()[:3] == ["mrope_position_delta", "7", "0"] and delta.endswith("<>")


def test_branches_and_numbers_views():
    sc = mock_vs_real()
    run = sc.replay()
    br = side_by_side("agreement", sc.cfg, run, 1, sc.length)
    assert br[0] == "the branches at iteration 1:"
    assert any(ln.strip().startswith("transfer branch") for ln in br)
    nums = side_by_side("seed_claim", sc.cfg, run, 1, sc.length)
    own = next(ln for ln in nums if "own get_buf read" in ln)
    pair = next(ln for ln in nums if "(L, S)" in ln)
    assert re.findall(r"\(\d+, \d+\)|<>", own) == ["(5, 2)", "(0, 0)", "<>"]  # TP1: no data
    assert not pair.endswith("<>") and "(5, 2)" in pair  # the seed's MAX: the numbers agree
    assert side_by_side("conservation", sc.cfg, run, 1, sc.length) == []
