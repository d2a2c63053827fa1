"""Fuzz the trace JSON surface (`ranksync replay`, in-process reference): valid traces with
values replaced, entries dropped or added, lists cut or grown, and raw byte mutations. A
trace is either rejected as bad input (exit 2, one line) or replayed (0 or 1)."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

from hypothesis import event, given
from hypothesis import strategies as st

from .fuzzing import fuzz_settings, run_in, sandbox

TRACES = sorted((Path(__file__).parents[1] / "reference" / "traces").glob("*.json"))
BASES = [json.loads(p.read_text()) for p in TRACES]

EDGES = [0, 1, -1, 2, 3, 5, 16, 17, 2**20, 2**20 + 1, 10**9, 2**63, 2.0, 0.5, math.nan,
         True, None, "", "a", "b", "seed", "deadlock", [], [0], [0, 1], [[0, 1]], {},
         {"ev": "poll"}, {"ev": "deadlock"}]
scalars = st.one_of(st.sampled_from(EDGES), st.integers(-(2**65), 2**65), st.text(max_size=6),
                    st.floats(allow_nan=False, allow_infinity=False))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(min_size=1, max_size=6), inner,
                                                 max_size=3)), max_leaves=6)


def paths(x: Any, pre: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = []
    items = x.items() if isinstance(x, dict) else enumerate(x) if isinstance(x, list) else []
    for k, v in items:
        out.append((*pre, k))
        out += paths(v, (*pre, k))
    return out


def mutate(doc: Any, pick: int, op: str, val: Any) -> Any:
    ps = paths(doc)
    if not ps:
        return doc
    path = ps[pick % len(ps)]
    d = copy.deepcopy(doc)
    node = d
    for k in path[:-1]:
        node = node[k]
    last = path[-1]
    if op == "set":
        node[last] = val
    elif op == "drop":
        del node[last]
    elif op == "grow" and isinstance(node[last], list):
        node[last] = node[last] + node[last][:1] * 3
    elif op == "add" and isinstance(node, dict):
        node[f"x{last}"] = val
    return d


@fuzz_settings("trace")
@given(base=st.sampled_from(range(len(BASES))),
       edits=st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(
           ["set", "drop", "grow", "add"]), values), min_size=0, max_size=3),
       raw=st.one_of(st.none(), st.tuples(st.integers(0, 4000), st.binary(max_size=8))))
def test_fuzz_trace(base, edits, raw):
    doc = BASES[base]
    for pick, op, val in edits:
        doc = mutate(doc, pick, op, val)
    data = json.dumps(doc).encode()
    if raw is not None:
        at, ins = raw
        data = data[:at] + ins + data[at + len(ins):]
    with sandbox() as box:
        (box / "t.json").write_bytes(data)
        r = run_in(box, ["replay", "t.json"], allowed=(0, 1, 2), cap=20,
                   saved=("trace", data))
        event(f"exit {r.code}")
        if r.code == 1:  # a replayed trace that diverges: the divergence names a step
            assert "DIVERGES" in r.stdout
            event("diverges: " + r.stdout.split("): ", 1)[-1].split(":")[0][:60])
