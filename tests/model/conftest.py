"""Shared fixtures for the model and prover tests."""

from __future__ import annotations

import pytest
from ranksync.checker.cliutil import DEFAULT_CONFIG
from ranksync.checker.config import ProveConfig, load


@pytest.fixture(scope="session")
def pc() -> ProveConfig:
    return load(DEFAULT_CONFIG)
