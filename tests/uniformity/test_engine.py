"""The check on the engine itself: skipped unless RANKSYNC_ENGINE_SRC names extracted
checkouts (directories holding python/sglang, separated by the path separator as for the
other engine tests), e.g. `git --git-dir=.../sglang archive d94e4a0ab python/sglang | tar -x
-C /tmp/engine-d94` and the same for 28ac79bbe."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from ranksync.checker.uniformity.analysis import analyse
from ranksync.checker.uniformity.crosscheck import cross_check, load_model_map
from ranksync.checker.uniformity.facts import load_facts
from ranksync.checker.uniformity.program import collect_paths
from ranksync.spec.properties import PROPERTIES

SRC = [Path(p) for p in os.environ.get("RANKSYNC_ENGINE_SRC", "").split(os.pathsep) if p]
CHECKOUTS = [p for p in SRC
             if (p / "python/sglang/srt/disaggregation/multimodal_language.py").is_file()]
DECISION = "if actual_total_length > sent_tokens"


@pytest.mark.skipif(not CHECKOUTS, reason="RANKSYNC_ENGINE_SRC names no engine checkout")
@pytest.mark.parametrize("root", CHECKOUTS, ids=str)
def test_resume_transfer_findings(root: Path) -> None:
    srt = root / "python/sglang/srt"
    lang_src = (srt / "disaggregation/multimodal_language.py").read_text()
    files = collect_paths([str(srt / "disaggregation"),
                           *map(str, sorted((srt / "managers").glob("scheduler*.py")))])
    res = analyse(files, root, load_facts())
    cross_check(res.findings, load_model_map(), set(PROPERTIES))
    lang = {f.condition: f for f in res.findings if f.file.endswith("multimodal_language.py")}
    # per-rank allocation results decide queue membership (the model confirms: agreement)
    assert "if self.req_to_metadata_buffer_idx_allocator.available_size() <= 0" in lang
    assert lang["if new_allocation is None"].model["status"] == "confirmed"
    # the hand-off kind follows local buffer reads (the model confirms: handoff_agreement)
    assert lang["if ori_input_length == embedding_length"].model["property"] == \
        "handoff_agreement"
    if "ReduceOp.MAX" in lang_src:  # the seed (d94e4a0ab): the MAX makes the decision uniform
        assert DECISION not in lang
    else:  # before it (28ac79bbe): each rank decides on its own buffer reads
        assert lang[DECISION].model["status"] == "confirmed"
        assert "get_buf" in lang[DECISION].chain[-1].text
