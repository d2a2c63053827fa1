"""Differential runs of ranksync traces against the engine's own language-side code.

See README.md in this directory. Entry points: :func:`run_traces` (library) and the click
command :data:`ranksync.checker.enginediff.cli.engine_diff` (``ranksync engine-diff``).
"""

from .driver import TraceResult, first_divergence, run_traces
from .loader import EngineModules, EngineSourceError, check_engine, engine_modules, load_engine
from .traces import TraceError, load_trace

__all__ = ["EngineModules", "EngineSourceError", "TraceError", "TraceResult", "check_engine",
           "engine_modules", "first_divergence", "load_engine", "load_trace", "run_traces"]
