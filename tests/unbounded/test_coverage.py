"""A bounded row rests on an every-T proof only where the proof's domain covers it: the hardened
invariants are proved on pool 3, L <= 3, block size 1 with one embedding rank per language
rank, so the default domain (L <= 6, block size 2, pool 4) or one embedding rank for T ranks
must not borrow their PROVED."""

from __future__ import annotations

from dataclasses import replace

from ranksync.checker.cliutil import packaged_config
from ranksync.checker.config import load
from ranksync.checker.prove import covered_by_every_t


def _pc():
    return load(packaged_config("every-t.toml"))


def test_the_default_domain_is_not_covered():
    pc = _pc()
    assert covered_by_every_t(pc, "hardened", "b", pc.model_config(2, "b")) == []


def test_the_invariants_domain_is_covered():
    pc = _pc()
    small = replace(pc.model_config(2, "b"), pool_blocks=3, length_range=(1, 2),
                    block_sizes=(1,), default_alloc_range=(1, 1))
    assert "integrity" in covered_by_every_t(pc, "hardened", "b", small)


def test_one_sender_for_many_ranks_is_not_covered():
    pc = _pc()
    small = replace(pc.model_config(4, "a"), pool_blocks=3, length_range=(1, 3),
                    block_sizes=(1,), default_alloc_range=(1, 1), embedding_tp_size=1)
    assert covered_by_every_t(pc, "hardened", "a", small) == []
    assert covered_by_every_t(pc, "hardened", "a", replace(small, embedding_tp_size=4))


def test_an_any_environment_proof_covers_any_sender_count():
    pc = _pc()  # seed.inv: env = havoc, the default domain
    assert covered_by_every_t(pc, "seed", "a", pc.model_config(4, "a")) == ["seed_claim"]
