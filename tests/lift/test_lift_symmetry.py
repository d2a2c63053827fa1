"""The step of the symmetry argument (checker/lift.py) on sampled runs: where every rank has
its own sender (topology b, topology a with E = T), a copied rank does exactly what its
original does, step by step, and every property's `bad` predicate has the same value; with
E fixed and per-session chunks (hardened, topology a, E = 1) the same check finds runs where
copies diverge, so it can fail."""

from __future__ import annotations

import random

import pytest
from lift_cases import config
from ranksync.checker.lift import lift, rank_maps, target_config
from ranksync.checker.simulate import random_scenario
from ranksync.spec.observe import step_events
from ranksync.spec.ops import PyOps
from ranksync.spec.properties import PROPERTIES
from ranksync.spec.variants import get_variant


def diverges(small, tp: int) -> bool:
    """The lift to tp ranks does something its original did not, or a property differs."""
    target = target_config(small.cfg, tp)
    m = rank_maps(small, target)[0]
    big = lift(small, target, m)
    v = get_variant(small.variant)
    r1, r2 = small.replay(), big.replay()
    o = PyOps(small.cfg.block_sizes)
    for k in range(len(r1.steps)):
        e1, e2 = step_events(small.cfg, v, r1, k), step_events(big.cfg, v, r2, k)
        for r, q in enumerate(m):
            if repr(e2["ranks"][r]).replace(f"rank={r} ", "rank=* ") != \
                    repr(e1["ranks"][q]).replace(f"rank={q} ", "rank=* "):
                return True
        for p in PROPERTIES.values():
            if bool(p.bad(o, small.cfg, r1, k)) != bool(p.bad(o, big.cfg, r2, k)):
                return True
    return False


def samples(variant: str, topology: str, e: int | None, n: int, seed: int = 1):
    over = {"embedding_tp_size": e} if e else {}
    cfg = config().model_config(2, topology, **over)
    rng = random.Random(seed)
    return [random_scenario(cfg, variant, rng) for _ in range(n)]


@pytest.mark.parametrize("variant", ["prefix", "seed", "hardened"])
@pytest.mark.parametrize("topology,e", [("b", None), ("a", 2)], ids=["b", "a-E=T"])
def test_copies_act_alike_where_each_rank_has_its_sender(variant, topology, e):
    for sc in samples(variant, topology, e, 12):
        assert not diverges(sc, 5), sc


def test_the_check_finds_divergence_with_shared_sender():
    assert any(diverges(sc, 5) for sc in samples("hardened", "a", 1, 30))
