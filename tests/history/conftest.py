"""A throwaway engine git repository built from tests/engine_standin: one commit per stand-in
configuration (standin_config.py defaults), and a small trace set from the model."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ranksync.checker.conformance import trace_set
from ranksync.spec.config import ModelConfig

STANDIN = Path(__file__).resolve().parents[1] / "engine_standin"
CONFIG = "python/sglang/srt/disaggregation/standin_config.py"
LANG = "python/sglang/srt/disaggregation/multimodal_language.py"

# (tag, file, old, new): each commit's change against the stand-in as shipped
COMMITS = [
    ("seed", None, "", ""),
    ("prefix", CONFIG, '"RANKSYNC_STANDIN_VARIANT", "seed"', '"RANKSYNC_STANDIN_VARIANT", "prefix"'),
    ("swap_rows", CONFIG, '"RANKSYNC_STANDIN_BUG", ""', '"RANKSYNC_STANDIN_BUG", "swap_rows"'),
    ("swap_rows_tp1", CONFIG, '"RANKSYNC_STANDIN_BUG", ""',
     '"RANKSYNC_STANDIN_BUG", "swap_rows_tp1"'),
    ("renamed_log", CONFIG, '"RANKSYNC_STANDIN_BUG", ""', '"RANKSYNC_STANDIN_BUG", "renamed_log"'),
    ("broken", LANG, "import torch\n", "import torch\nimport sglang.srt.ranksync_missing  # noqa\n"),
]
# (tp, E, trace name suffixes): a few witnesses per layout, E > T included
WANTED = {(2, 1): ("violation-integrity", "transfer-success-resumed-assembly-final-assembly",
                   "two-resumes-of-one-request", "transfer-failed-failure-handler",
                   "premise-progress"),
          (1, 2): ("premise-agreement", "random-0"),
          (2, 2): ("transfer-transferring-l-s-resume", "premise-no-leak")}


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                                          "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
                                          "PATH": "/usr/bin:/bin"}).stdout.strip()


@pytest.fixture(scope="session")
def engine_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, str]]:
    """(git dir, tag -> sha); every commit holds the stand-in with one change."""
    root = tmp_path_factory.mktemp("engine-repo")
    _git(root, "init", "-q")
    shas: dict[str, str] = {}
    for tag, path, old, new in COMMITS:
        if (root / "python").exists():
            shutil.rmtree(root / "python")
        shutil.copytree(STANDIN / "python", root / "python",
                        ignore=shutil.ignore_patterns("__pycache__"))
        if path is not None:
            f = root / path
            text = f.read_text()
            assert old in text, (tag, old)
            f.write_text(text.replace(old, new, 1))
        _git(root, "add", "-A")
        _git(root, "commit", "-q", "--allow-empty", "-m", tag)
        shas[tag] = _git(root, "rev-parse", "HEAD")
    return str(root / ".git"), shas


@pytest.fixture(scope="session")
def small_traces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("traces")
    for (t, e), names in WANTED.items():
        cfg = ModelConfig(tp_size=t, topology="a", embedding_tp_size=e, depth=6)
        got: dict[str, Any] = trace_set(cfg, "seed", 1, 0, bmc_witnesses=False)
        for name, tr in got.items():
            if name.endswith(names):
                (out / f"{name}-E{e}.json").write_text(json.dumps(tr))
    return out
