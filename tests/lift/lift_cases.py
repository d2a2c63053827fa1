"""Shared helpers of the lifting tests: the small-T counterexamples they lift."""

from __future__ import annotations

from functools import cache

from ranksync.checker.cliutil import DEFAULT_CONFIG
from ranksync.checker.config import ProveConfig, load
from ranksync.checker.lift_base import first_hit
from ranksync.checker.scenario import Scenario

CONFIGS = DEFAULT_CONFIG.parent


@cache
def config(name: str = "default.toml") -> ProveConfig:
    return load(CONFIGS / name)


@cache
def smallest_hit(variant: str, topology: str, prop: str, cfg_name: str = "default.toml"
                 ) -> tuple[Scenario, int]:
    """The seeded simulation's counterexample at the smallest T of 1, 2 (deterministic)."""
    pc = config(cfg_name)
    for t in (1, 2):
        hit = first_hit(pc.model_config(t, topology), variant, prop)
        if hit is not None:
            return hit
    raise AssertionError(f"no counterexample of {variant}/{topology}/{prop} at T <= 2")
