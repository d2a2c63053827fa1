"""Fuzz the command line: argument vectors built from every option of every command (read
from click, so new options are fuzzed too) with hostile values (0, negative, 2^63, nan, inf,
6.0, empty, unknown names, unwritable and missing paths). The expensive part of an accepted
run is stubbed (the prover, the solver of explain, the trace set of traces; logcheck runs
with --max-analyse 0): this surface checks parsing and validation."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock

import click
from hypothesis import event, given
from hypothesis import strategies as st
from ranksync.checker.cli import main

from .fuzzing import fuzz_settings, run_in, sandbox, stubbed

COMMANDS = ["prove", "witnesses", "explain", "logcheck", "replay", "engine-diff", "traces"]
OUTPUTS = {"--junit", "--output", "-o", "--sarif", "--artifacts", "--out", "--dump"}
TRACE = Path(__file__).parents[1] / "reference" / "traces" / \
    "seed-a-t2-pressure-fifo-handback.json"
LOG = Path(__file__).parents[1] / "logcheck" / "data" / "seed_excerpt.log"
VALUES = ["0", "1", "2", "4", "-1", "17", "40", "41", str(2**63), "9" * 30, "nan", "inf",
          "-inf", "1e9", "6.0", "0.0009", "", ",", "1,2", "0,2", "1,,2", "a", "b", "a,b", "c",
          "seed", "prefix,seed", "nosuch", "all", "agreement", "json", "sarif", "text",
          "out.xml", "outdir", "/proc/x/y", "missing.toml", str(TRACE), str(LOG),
          "ranksync:default.toml", "\x00", "é"]


def _options(name: str) -> list[tuple[str, bool]]:
    cmd = main.commands[name]
    out = []
    for p in cmd.params:
        if isinstance(p, click.Option):
            out += [(o, p.is_flag) for o in p.opts + p.secondary_opts]
    return out


OPTS = {n: _options(n) for n in COMMANDS}


@st.composite
def argv(draw: Any) -> list[str]:
    name = draw(st.sampled_from(COMMANDS))
    args = [name]
    positional = st.sampled_from(["seed", "agreement", str(TRACE), str(LOG), "nosuch", "-"])
    for _ in range(draw(st.integers(0, 2))):
        args.append(draw(positional))
    for _ in range(draw(st.integers(0, 5))):
        opt, flag = draw(st.sampled_from(OPTS[name]))
        args.append(opt)
        if not flag:
            args.append(draw(st.one_of(st.sampled_from(VALUES), st.text(max_size=6))))
    if draw(st.booleans()):
        args.insert(draw(st.integers(1, len(args))), draw(st.sampled_from(VALUES)))
    if name == "logcheck":
        args += ["--max-analyse", "0"]  # the last occurrence wins: no solver
    return args


def _explanation(*_a: Any, **_k: Any) -> Any:
    return SimpleNamespace(verdict="PROVED", text="PROVED (stub)", to_json=lambda: {})


@fuzz_settings("argv")
@given(args=argv())
def test_fuzz_argv(args):
    outputs = tuple(v for o, v in zip(args, args[1:], strict=False) if o in OUTPUTS)
    with sandbox() as box, stubbed(), \
            mock.patch("ranksync.checker.explain.explain", _explanation), \
            mock.patch("ranksync.checker.conformance.trace_set", lambda *a, **k: {}):
        r = run_in(box, args, outputs=outputs, cap=30,
                   saved=("argv", json.dumps(args).encode()))
        event(f"{args[0]}: exit {r.code}")
