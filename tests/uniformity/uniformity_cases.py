"""Helpers of the uniformity tests: run the check on stand-in files."""

from __future__ import annotations

from pathlib import Path

from ranksync.checker.uniformity.analysis import Analysis, analyse
from ranksync.checker.uniformity.facts import load_facts

STANDIN = Path(__file__).parent / "standin"


def run(*files: Path, root: Path = STANDIN) -> Analysis:
    return analyse(list(files), root, load_facts())


def by_function(res: Analysis) -> dict[str, list]:
    out: dict[str, list] = {}
    for f in res.findings:
        out.setdefault(f.function.split(".")[-1], []).append(f)
    return out
