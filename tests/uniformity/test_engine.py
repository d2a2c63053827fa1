"""The check on the engine itself, at d94e4a0ab: skipped unless RANKSYNC_ENGINE_SRC points
at an extracted checkout (the directory holding python/sglang), e.g.
`git --git-dir=.../sglang archive d94e4a0ab python/sglang | tar -x -C /tmp/engine-d94`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from ranksync.checker.uniformity.analysis import analyse
from ranksync.checker.uniformity.crosscheck import cross_check, load_model_map
from ranksync.checker.uniformity.facts import load_facts
from ranksync.checker.uniformity.program import collect_paths
from ranksync.spec.properties import PROPERTIES

SRC = os.environ.get("RANKSYNC_ENGINE_SRC")
pytestmark = pytest.mark.skipif(not SRC, reason="RANKSYNC_ENGINE_SRC not set")


def test_d94_resume_transfer_findings() -> None:
    root = Path(SRC or ".")
    srt = root / "python/sglang/srt"
    if not (srt / "disaggregation/multimodal_language.py").is_file():
        pytest.skip(f"{root} is not an engine checkout")
    files = collect_paths([str(srt / "disaggregation"),
                           *map(str, sorted((srt / "managers").glob("scheduler*.py")))])
    res = analyse(files, root, load_facts())
    cross_check(res.findings, load_model_map(), set(PROPERTIES))
    lang = {(f.function.split(".")[-1], f.condition): f for f in res.findings
            if f.file.endswith("multimodal_language.py")}
    conds = {c for _, c in lang}
    # per-rank allocation results decide queue membership (the model confirms: agreement)
    assert "if new_allocation is None" in conds
    assert "if self.req_to_metadata_buffer_idx_allocator.available_size() <= 0" in conds
    # the hand-off kind follows local buffer reads (the model confirms: integrity)
    assert "if ori_input_length == embedding_length" in conds
    # the seed's MAX all-reduce makes the resume decision uniform: no finding there
    assert "if actual_total_length > sent_tokens" not in conds
    statuses = {f.model["status"] for f in lang.values()}
    assert "confirmed" in statuses and "gap" not in statuses
