"""Tests of the reference implementation (reference/). gloo tests spawn processes."""

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "gloo: spawns one OS process per rank over torch.distributed/gloo (slow)"
    )
