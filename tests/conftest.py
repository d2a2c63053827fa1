"""Repository-wide pytest configuration.

`python -m pytest` runs on every core (pytest-xdist, `-n auto --dist loadgroup` in
pyproject.toml) and leaves out the tests marked `slow` (long proofs; CI runs them as a step
of their own: `python -m pytest -m slow`). Tests that share one prove run of the default
configuration (tests/report, tests/test_obligations.py) stay on one worker, so the run is
made once per session, not once per worker (`pytest_xdist_make_scheduler`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

import pytest

pytest_plugins = ["pytester"]  # tests/plugin runs pytest inside pytest

_OWN_CACHE = pytest.StashKey[str]()
SHARED_PROVE = ("tests/report/", "tests/test_obligations.py")  # node id prefixes


def pytest_configure(config: pytest.Config) -> None:
    # a fresh result cache per session (checker/cache.py): tests never reuse results of an
    # earlier run or of the user's, and never write into ~/.cache
    if "RANKSYNC_CACHE_DIR" not in os.environ:
        os.environ["RANKSYNC_CACHE_DIR"] = tempfile.mkdtemp(prefix="ranksync-cache-")
        config.stash[_OWN_CACHE] = os.environ["RANKSYNC_CACHE_DIR"]
    config.addinivalue_line("markers", "gloo: runs real torch.distributed gloo processes")
    config.addinivalue_line("markers", "slow: a long proof; excluded from `python -m pytest`, "
                            "run by CI as `python -m pytest -m slow`")
    config.addinivalue_line("markers", "heavy: logcheck's model queries on the history model "
                            "(minutes each on 2 cores); not in CI: `python -m pytest -m heavy`")


def pytest_unconfigure(config: pytest.Config) -> None:
    own = config.stash.get(_OWN_CACHE, None)
    if own:  # the process that made it (the xdist controller) removes it
        shutil.rmtree(own, ignore_errors=True)
        os.environ.pop("RANKSYNC_CACHE_DIR", None)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadgroup` done here: pytest-xdist 3.8 marks a group by rewriting
    `item._nodeid`, which pytest 9 no longer reads, so its own loadgroup runs a group on
    every worker. One work unit for the tests that share the default prove run, one per test
    for the rest."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class Grouped(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return "default-prove" if nodeid.startswith(SHARED_PROVE) else nodeid

    return Grouped(config, log)
