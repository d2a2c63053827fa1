"""Repository-wide pytest configuration.

`python -m pytest` runs on every core (pytest-xdist, `-n auto --dist loadgroup` in
pyproject.toml) and leaves out the tests marked `slow` (long proofs; CI runs them as a step
of their own: `python -m pytest -m slow`). Tests that share one prove run of the default
configuration (tests/report, tests/test_obligations.py) stay on one worker, so the run is
made once per session, not once per worker.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]  # tests/plugin runs pytest inside pytest

HERE = Path(__file__).parent
_OWN_CACHE = pytest.StashKey[str]()
SHARED_PROVE = (HERE / "report", HERE / "test_obligations.py")


def pytest_configure(config: pytest.Config) -> None:
    # a fresh result cache per session (checker/cache.py): tests never reuse results of an
    # earlier run or of the user's, and never write into ~/.cache
    if "RANKSYNC_CACHE_DIR" not in os.environ:
        os.environ["RANKSYNC_CACHE_DIR"] = tempfile.mkdtemp(prefix="ranksync-cache-")
        config.stash[_OWN_CACHE] = os.environ["RANKSYNC_CACHE_DIR"]
    config.addinivalue_line("markers", "gloo: runs real torch.distributed gloo processes")
    config.addinivalue_line("markers", "slow: a long proof; excluded from `python -m pytest`, "
                            "run by CI as `python -m pytest -m slow`")


def pytest_unconfigure(config: pytest.Config) -> None:
    own = config.stash.get(_OWN_CACHE, None)
    if own:  # the process that made it (the xdist controller) removes it
        shutil.rmtree(own, ignore_errors=True)
        os.environ.pop("RANKSYNC_CACHE_DIR", None)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        p = Path(str(item.path))
        if any(p == s or s in p.parents for s in SHARED_PROVE):
            item.add_marker(pytest.mark.xdist_group("default-prove"))
