"""Proofs for every T, by assume-guarantee over one rank (topology b: one sender per rank).

The ranks of the group touch each other only through collectives (the MIN polls, the MAX
all-reduces, the `alloc_agree` MIN, and the embedding scheduler's MIN over senders). Model one
language rank and its sender concretely and replace every collective by a fresh value that
only obeys what any number of other ranks could make of it: a MIN is at most this rank's
value, a MAX at least, an AND implies this rank's. The rest of the group may also fire the
first chunk only when this rank's sender is ready (the real condition needs every sender).

Every run of T ranks, for any T, projects on each rank to a run of this one-rank system (its
local steps depend on its own state, its own environment choices and the collective results,
which satisfy the constraints), so a *per-rank* property that this system proves holds for
every rank of every T, to the same depth. Only per-rank properties qualify (`PER_RANK`); the
others (agreement, integrity, ...) compare ranks or depend on what the rest actually sends,
which this abstraction forgets, so they are not attempted.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import z3
from ranksync.spec.config import ModelConfig
from ranksync.spec.properties import PROPERTIES
from ranksync.spec.variants import get_variant

from . import bmc

PER_RANK = ["conservation", "block_ownership"]


def rest_of_group(w: int) -> tuple[Any, list[Any]]:
    """The hook for `Params.rest` on `w`-bit terms, and the constraints it adds."""
    asm: list[Any] = []
    n = [0]

    def hook(name: str, own: Any, op: str) -> Any:
        n[0] += 1
        if op == "and":
            y = z3.Bool(f"rest.{name}#{n[0]}")
            asm.append(z3.Implies(y, own))
            return y
        y = z3.BitVec(f"rest.{name}#{n[0]}", w)
        asm.append(z3.And(y >= 0, y <= own) if op == "min" else y >= own)
        return y

    return hook, asm


def check(cfg: ModelConfig, variant: str, prop: str, timeout_ms: int = 120_000) -> bmc.Result:
    """PROVED here means: for every T, every rank, to cfg.depth (topology b). A proof whose
    premise the one-rank system never reaches is VACUOUS, never PROVED."""
    if prop not in PER_RANK:
        raise ValueError(f"{prop} is not a per-rank property; per-rank: {PER_RANK}")
    one = replace(cfg, tp_size=1, topology="b", receivers=None, embedding_tp_size=1)
    u = bmc.build(one, get_variant(variant), timeout_ms, rest=rest_of_group)
    r = bmc.check_property(u, PROPERTIES[prop])
    if r.verdict == bmc.PROVED:
        w = bmc.check_reachable(u, PROPERTIES[prop].premise)
        if w.verdict != bmc.REACHABLE:
            return bmc.Result("VACUOUS", seconds=r.seconds + w.seconds, reason=w.verdict)
    return r
