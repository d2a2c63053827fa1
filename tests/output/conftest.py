"""One tiny prove run (T = 1, seed, topology a, one verdict declared wrong) shared by the
output-format tests of a worker."""

from __future__ import annotations

from pathlib import Path

import pytest
from ranksync.checker.config import ProveConfig, load
from ranksync.checker.prove import Row, run_all

DATA = Path(__file__).parent / "data"

TINY = (DATA / "broken.toml").read_text()


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[ProveConfig, list[Row], Path]:
    d = tmp_path_factory.mktemp("tiny")
    p = d / "tiny.toml"
    p.write_text(TINY)
    pc = load(p)
    return pc, run_all(pc, 1), d
