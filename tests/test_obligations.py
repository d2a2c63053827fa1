"""Every obligation of a small configuration as a pytest item: its verdict must equal the
declared one (configs/default.toml, [expect] / [witnesses]; an undeclared witness must be
REACHABLE). Obligations with no declared verdict are skipped with the reason.

The configuration is `$RANKSYNC_OBLIGATIONS_CONFIG` or the default one, restricted to the TP
sizes in `$RANKSYNC_OBLIGATIONS_TP_SIZES` (default 1,2: about 20 s on 2 cores). All items
share one `run_all` (a session fixture); collection itself runs no solver.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from ranksync.checker.config import ProveConfig, load
from ranksync.checker.obligations import obligation_keys
from ranksync.checker.prove import Row, cached_run_all

ROOT = Path(__file__).resolve().parent.parent


def _config() -> ProveConfig:
    path = os.environ.get("RANKSYNC_OBLIGATIONS_CONFIG") or str(ROOT / "configs" / "default.toml")
    pc = load(path)
    sizes = os.environ.get("RANKSYNC_OBLIGATIONS_TP_SIZES", "1,2")
    wanted = [int(x) for x in sizes.split(",") if x.strip()]
    pc.tp_sizes = [t for t in pc.tp_sizes if t in wanted] or wanted
    return fast(pc)


def fast(pc: ProveConfig) -> ProveConfig:
    """The hardened invariants' every-T proofs take about a minute: CI proves them in its
    `ranksync prove` step; the shared run keeps the seed's."""
    if not os.environ.get("RANKSYNC_OBLIGATIONS_CONFIG"):
        pc.every_t = {v: tops for v, tops in pc.every_t.items() if v != "hardened"}
    return pc


PC = _config()
KEYS = obligation_keys(PC)


def _id(k: tuple[Any, ...]) -> str:
    v, t, n, kind, name = k
    return f"{v}-{t}-T{n}-{kind}-{name}".replace(" ", "_")


def shared_rows(config: pytest.Config, pc: ProveConfig) -> list[Row]:
    """One prove run per configuration and test session (shared by tests/report and
    tests/test_obligations.py)."""
    return cached_run_all(config.__dict__.setdefault("_ranksync_prove_cache", {}), pc)


@pytest.fixture(scope="session")
def verdicts(pytestconfig: pytest.Config) -> dict[tuple[Any, ...], Row]:
    rows = shared_rows(pytestconfig, PC)
    return {(r.variant, r.topology, r.tp_size, r.kind, r.name): r for r in rows}


@pytest.mark.parametrize("key", KEYS, ids=[_id(k) for k in KEYS])
def test_obligation(key: tuple[Any, ...], verdicts: dict[tuple[Any, ...], Row]) -> None:
    v, t, n, kind, name = key
    r = verdicts.get(key)
    assert r is not None, f"prove did not check {key}"
    if r.verdict == "UNKNOWN":
        pytest.fail(f"solver gave no verdict ({r.reason}); raise timeout_seconds or lower T")
    where = "" if r.step is None else f" at iteration {r.step}"
    if r.expected is None:
        pytest.skip(f"no declared verdict (got {r.verdict}{where}): declare it under "
                    f"[expect.{v}.{t}] in {PC.path}")
    assert r.verdict == r.expected, (
        f"{v} / topology {t} / T={n} {kind} {name!r}: {r.verdict}{where} by {r.method}, "
        f"declared {r.expected}. See `ranksync explain {v} {name} --topology {t} --ranks {n}`"
        if kind in ("property", "every_t") else
        f"{v} / topology {t} / T={n} witness {name!r}: {r.verdict}, declared {r.expected} "
        f"(declare it under [witnesses.{v}.{t}] in {PC.path} if this is intended)")
