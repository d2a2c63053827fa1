"""The obligations a prove run will check, known before it runs: (variant, topology, T,
kind, name) in the order checker/prove.py produces them. Used for progress totals and by the
pytest plugin, whose items exist before the run; defined beside the tasks in prove.py."""

from __future__ import annotations

from .prove import Key, group_keys, obligation_keys

__all__ = ["Key", "group_keys", "obligation_keys"]
