"""Trace format version 2 on the reference: validation of the new fields (one clear line per
malformed trace), the hand-written example traces under traces/, and the comparison rules."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from ranksync.reference.__main__ import main as reference_main
from ranksync.reference.compare import mismatches
from ranksync.reference.runner import run_trace
from ranksync.reference.trace import TraceError
from ref_cases import scenario, trace

TRACES = sorted((Path(__file__).parent / "traces").glob("*.json"))
FIRST = {"messages": [0, 1], "encode": True, "chunks": [0], "deliver": [0, 1]}


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


# -- validation ---------------------------------------------------------------------------

MALFORMED: list[tuple[str, Any, str]] = [
    ("version 1", lambda t: t.update(version=1), "version 2 only"),
    ("alloc_fail", lambda t: t["schedule"].append({"alloc_fail": [0]}), "removed in trace format version 2"),
    ("others_alloc rank", lambda t: t["schedule"].append({"others_alloc": [2]}), "others_alloc: rank 2"),
    ("others_free type", lambda t: t["schedule"].append({"others_free": 1}), "others_free: expected a list"),
    ("held also free", lambda t: t["scenario"].update(initial_held=[[3], []]), "block 3 is already in initial_free[0]"),
    ("block missing", lambda t: t["scenario"].update(initial_free=[[0, 1, 2]]), "in neither initial_free nor initial_held"),
    ("duplicate free", lambda t: t["scenario"].update(initial_free=[[0, 0, 1, 2, 3, 4, 5, 6, 7]]), "block 0 is already"),
    ("block range", lambda t: t["scenario"].update(initial_held=[[8]]), "block 8 outside [0, 8)"),
    ("free not list", lambda t: t["scenario"].update(initial_free=[5]), "expected a list of block ids"),
    ("content length", lambda t: t["scenario"].update(initial_content=[[[-2, -2]]]), "expected a list of 4 content ids"),
    ("content type", lambda t: t["scenario"].update(initial_content=[[[-2, -2, "x", -2]]]), "is not an integer"),
    ("content >= L", lambda t: t["scenario"].update(initial_content=[[[-2, -2, 10, -2]]]), "names no token (L = 10)"),
    ("content range", lambda t: t["scenario"].update(hidden=1, initial_content=[[[-40000] * 4]]), "does not fit"),
    ("L too long", lambda t: t["scenario"].update(hidden=1, embedding_length=30000), "garbage content id"),
    ("taken ranks", lambda t: t.update(expected=[{"step": 0, "ranks": [[], []], "taken": [[]]}]), "one list per language rank"),
    ("taken entry", lambda t: t.update(expected=[{"step": 0, "ranks": [[], []], "taken": [[{"block": 1}], []]}]),
     "expected an object with block, content and aux"),
    ("taken content", lambda t: t.update(expected=[{"step": 0, "ranks": [[], []],
                                                     "taken": [[{"block": 1, "content": [1], "aux": [0, 0]}], []]}]),
     "taken[0][0].content"),
    ("taken aux", lambda t: t.update(expected=[{"step": 0, "ranks": [[], []],
                                                 "taken": [[{"block": 1, "content": [-2] * 4, "aux": [0]}], []]}]),
     "taken[0][0].aux"),
]


@pytest.mark.parametrize("mutate,message", [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_v2_trace_raises_one_clear_line(mutate: Any, message: str) -> None:
    t = trace("seed", scenario(), [{}])
    mutate(t)
    with pytest.raises(TraceError) as info:
        run_trace(t)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_cli_exits_2_on_a_malformed_v2_trace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = trace("seed", scenario(initial_held=[[0]]), [{}])
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    assert reference_main([str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("malformed trace: scenario.initial_held[0]") and "\n" not in err


def test_defaults_are_the_whole_pool_free_and_zeros() -> None:
    res = run_trace(trace("seed", scenario(pool_blocks=3), [{}, {"others_alloc": [0], "lang": False}]))
    assert res.taken[1] == [[{"block": b, "content": [-1] * 4, "aux": [0, 0]} for b in (1, 2)], []]
    assert res.free_blocks == [[], [1, 2]] and res.others_held == [[1, 2], []]


# -- hand-written example traces ----------------------------------------------------------


@pytest.mark.parametrize("path", TRACES, ids=lambda p: p.stem)
def test_hand_written_trace_replays_without_mismatch(path: Path) -> None:
    t = _load(path)
    assert run_trace(t).mismatches(t["expected"]) == []


def test_hand_written_traces_exercise_v2() -> None:
    """Between them: initial_held, others_free, others_alloc with taken, a mock hand-off
    with mrope, content of another request handed off, the FIFO hand-back."""
    text = " ".join(p.read_text() for p in TRACES)
    for frag in ('"initial_held"', '"others_free"', '"others_alloc"', '"mm_inputs": "mock"', '"content": [-70]'):
        assert frag in text, frag
    assert len(TRACES) >= 3


def _handoffs(t: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for st in t["expected"] for evs in st["ranks"] for e in evs if e["ev"] == "handoff"]


def test_comparison_checks_content_mrope_delta_and_taken() -> None:
    t = _load(next(p for p in TRACES if "dummy" in p.name))
    got = run_trace(t).to_expected()
    mock = next(e for e in _handoffs(t) if e["mm_inputs"] == "mock")

    def differs(edit: Any) -> list[str]:
        bad = copy.deepcopy(t)
        edit(bad, next(e for e in _handoffs(bad) if e["mm_inputs"] == "mock"))
        return mismatches(bad["expected"], got)

    assert differs(lambda b, h: h["content"].__setitem__(0, -71))
    assert differs(lambda b, h: h.update(delta=-4))
    assert differs(lambda b, h: h["mrope"][1].__setitem__(0, -210))  # the scramble is checked
    assert differs(lambda b, h: b["expected"][2]["taken"][0].reverse())  # block order
    # null mrope values match anything; what others leave is input, not compared
    assert not differs(lambda b, h: h["mrope"][1].__setitem__(0, None))
    assert not differs(lambda b, h: b["expected"][2]["taken"][0][0].update(content=[-99, -99]))
    assert mock["mrope"] == [[-210], [-213], [-209]]


def test_comparison_write_garbage_defaults_to_false_and_deadlock_rule() -> None:
    t = _load(next(p for p in TRACES if "fifo" in p.name))
    got = run_trace(t).to_expected()
    bad = copy.deepcopy(t)
    del bad["expected"][1]["writes"][0][0]["garbage"]
    assert mismatches(bad["expected"], got) == []
    bad["expected"][1]["writes"][0][0]["garbage"] = True
    assert mismatches(bad["expected"], got) == [
        f"step 1 writes[0]: expected {bad['expected'][1]['writes'][0]!r}, got {got[1]['writes'][0]!r}"
    ]
    # a deadlocked step only needs a deadlock at the end of every rank's events
    dl = [{"ev": "poll", "queue": "transfer", "result": [3]}, {"ev": "deadlock"}]
    exp = [{"step": 0, "ranks": [[{"ev": "deadlock"}], [{"ev": "deadlock"}]]}]
    assert mismatches(exp, [{"step": 0, "ranks": [dl, [{"ev": "deadlock"}]]}]) == []
    assert mismatches(exp, [{"step": 0, "ranks": [dl, []]}])


@pytest.mark.gloo
def test_hand_written_trace_on_gloo_processes() -> None:
    """The mock hand-off of another request's data, with taken blocks, on 2 gloo processes."""
    t = _load(next(p for p in TRACES if "dummy" in p.name))
    res = run_trace(t, "gloo", timeout=60)
    assert res.mismatches(t["expected"]) == []
    assert res.to_expected() == run_trace(t).to_expected()
