"""Differential runs of ranksync traces against the engine's own language-side code.

See README.md in this directory. Entry points: :func:`run_traces` (library) and the click
command :data:`ranksync.checker.enginediff.cli.engine_diff` (``ranksync engine-diff``).
"""

from typing import Any

from .loader import EngineModules, EngineSourceError, check_engine, engine_modules, load_engine
from .traces import TraceError, load_trace


def __getattr__(name: str) -> Any:
    """The driver imports torch; load it only when used (keeps `ranksync prove` start fast)."""
    if name in ("TraceResult", "first_divergence", "run_traces"):
        from . import driver

        return getattr(driver, name)
    raise AttributeError(name)

__all__ = ["EngineModules", "EngineSourceError", "TraceError", "TraceResult", "check_engine",
           "engine_modules", "first_divergence", "load_engine", "load_trace", "run_traces"]
