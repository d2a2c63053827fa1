"""Fuzz the TOML config surface: the default config with values replaced (wrong types, nan,
inf, huge, negative, values at and beyond the caps), keys dropped, misspelled or added, and
raw text mutations. Accepted configs must be within the documented caps."""

from __future__ import annotations

import math
import tomllib
from typing import Any

import tomli_w
from hypothesis import event, given
from hypothesis import strategies as st
from ranksync.checker import limits as L
from ranksync.checker.config import ConfigError, load, packaged_config

from .fuzzing import fuzz_settings, run_in, sandbox, stubbed

BASE_TEXT = packaged_config("default.toml").read_text(encoding="utf-8")
BASE = tomllib.loads(BASE_TEXT)

EDGES = [0, 1, -1, 2, 4, 6, 16, 17, 40, 41, 64, 65, 1024, 2**31, 2**63, -(2**63), 6.0, 0.5,
         0.0009, 0.001, 1e9, 1e308, math.nan, math.inf, -math.inf, True, False, "", "a", "b",
         "seed", "PROVED", "VIOLATED", "UNREACHABLE", [], [0], [1, 2], [2, 1], [0, 0],
         [1, 10**9], {}, {"default": "PROVED"}, {"default": "PROVED", "T0": "PROVED"}]
scalars = st.one_of(st.sampled_from(EDGES), st.integers(-(2**70), 2**70),
                    st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=8), st.booleans())
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(min_size=1, max_size=6), inner,
                                                 max_size=3)), max_leaves=6)


def _paths(d: dict[str, Any], pre: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for k, v in d.items():
        out.append((*pre, k))
        if isinstance(v, dict):
            out += _paths(v, (*pre, k))
    return out


PATHS = _paths(BASE)


def _apply(base: dict[str, Any], path: tuple[str, ...], op: str, val: Any, key: str
           ) -> dict[str, Any]:
    import copy

    d = copy.deepcopy(base)
    node = d
    for k in path[:-1]:
        node = node.get(k) if isinstance(node, dict) else None
    if not isinstance(node, dict) or path[-1] not in node:
        return d  # an earlier edit removed or replaced this path
    last = path[-1]
    if op == "set":
        node[last] = val
    elif op == "drop":
        node.pop(last, None)
    elif op == "rename":
        node[last + key] = node.pop(last)
    elif op == "add":
        node[key or "x"] = val
    return d


edits = st.lists(st.tuples(st.sampled_from(PATHS), st.sampled_from(["set", "drop", "rename",
                                                                  "add"]),
                           values, st.text(max_size=4)), min_size=1, max_size=4)


def _accepted_within_caps(path: str) -> None:
    """An accepted config names only values within the caps, and every model it implies
    can be built."""
    try:
        pc = load(path)
    except ConfigError:
        return
    assert all(1 <= t <= L.MAX_TP for t in pc.tp_sizes)
    assert L.MIN_TIMEOUT <= pc.timeout_seconds <= L.MAX_TIMEOUT
    assert int(pc.timeout_seconds * 1000) >= 1  # never 0 ms = no limit
    assert 0 <= pc.simulations <= L.MAX_SIMULATIONS
    for t in pc.tp_sizes:
        for topo in pc.topologies:
            cfg = pc.model_config(t, topo)
            assert cfg.depth <= L.MAX_DEPTH and cfg.pool_blocks <= L.MAX_POOL
            assert max(cfg.length_range) <= L.MAX_LENGTH


@fuzz_settings("config")
@given(edits=edits, raw=st.one_of(st.none(), st.tuples(st.integers(0, len(BASE_TEXT)),
                                                        st.integers(0, 40), st.text(max_size=20))))
def test_fuzz_config(edits, raw):
    doc = BASE
    for path, op, val, key in edits:
        doc = _apply(doc, path, op, val, key)
    try:
        text = tomli_w.dumps(doc)
    except (TypeError, ValueError):
        text = BASE_TEXT
    if raw is not None:  # a raw text mutation: cut and insert at a random place
        at, cut, ins = raw
        text = text[:at] + ins + text[at + cut:]
    with sandbox() as box, stubbed():
        (box / "c.toml").write_text(text, encoding="utf-8", errors="surrogatepass")
        r = run_in(box, ["prove", "--config", "c.toml", "--json"], cap=10,
                   saved=("config", text.encode("utf-8", "surrogatepass")))
        event(f"exit {r.code}")
        _accepted_within_caps(str(box / "c.toml"))
