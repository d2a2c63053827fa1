"""Every input that once broke the contract (issue 14's list and the fuzz suite's finds),
replayed on every run. Each is bad input: exit 2 with one line. Add a failing fuzz input
(saved under $RANKSYNC_FUZZ_SAVE) to corpus/<surface>/ with a name that says what it is."""

from __future__ import annotations

import json
from pathlib import Path
from unittest import mock

import pytest

from .fuzzing import CORPUS, run_in, sandbox, stubbed

FILES = sorted(p for p in CORPUS.rglob("*") if p.is_file())


def _args(p: Path, box: Path) -> list[str]:
    surface = p.parent.name
    if surface == "argv":
        return list(json.loads(p.read_text()))
    local = box / p.name
    local.write_bytes(p.read_bytes())
    return {"config": ["prove", "--config", p.name],
            "trace": ["replay", p.name],
            "log": ["logcheck", p.name, "--max-analyse", "0"]}[surface]


def test_corpus_is_not_empty():
    assert {p.parent.name for p in FILES} == {"argv", "config", "log", "trace"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_corpus_input_is_bad_input(path):
    with sandbox() as box, stubbed(), \
            mock.patch("ranksync.checker.conformance.trace_set", lambda *a, **k: {}):
        args = _args(path, box)
        outputs = (path.name, *(v for o, v in zip(args, args[1:], strict=False)
                                if o in ("--out", "--dump", "--junit")))
        run_in(box, args, outputs=outputs, allowed=(2,), cap=20)
