"""Variants: ``prefix`` (28ac79bbe), ``seed`` (d94e4a0ab) and the mutants of
docs/trace-format.md, each a small explicit switch in the Transferring procedure (§8.4, §14).
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Variant:
    name: str
    # prefix: local L/S on every Transferring iteration, no all-reduce, no cached path.
    synced: bool = True
    # max_to_min: both syncing all-reduces use MIN.
    sync_op: str = "max"
    # drop_sync_sent: no all-reduce of sent_tokens (local S is used).
    sync_sent: bool = True
    # local_total_in_cache: partial_aux_datas[0] := local aux[0] instead of the synced L.
    cache_local_total: bool = False
    # skip_cache: no partial_* attribute is ever set.
    cache: bool = True
    # recache_every_iteration: re-read and re-cache on every L > S iteration.
    recache_every_iteration: bool = False
    # stale_resume_sent: the resume message carries sent_tokens = 0.
    stale_resume_sent: bool = False
    # alloc_before_free: the new allocation is made before the old one is freed.
    alloc_before_free: bool = False
    # hardened: on the cached path, wait while this request's resume is outstanding
    wait_while_resume_pending: bool = False
    # hardened: a failed resume allocation does not free the (already freed) blocks again
    no_refree_on_failed_resume: bool = False


SEED = Variant("seed")
PREFIX = Variant("prefix", synced=False)

VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        PREFIX,
        SEED,
        replace(SEED, name="hardened", wait_while_resume_pending=True,
                no_refree_on_failed_resume=True),
        replace(SEED, name="max_to_min", sync_op="min"),
        replace(SEED, name="drop_sync_sent", sync_sent=False),
        replace(SEED, name="local_total_in_cache", cache_local_total=True),
        replace(SEED, name="skip_cache", cache=False),
        replace(SEED, name="recache_every_iteration", recache_every_iteration=True),
        replace(SEED, name="stale_resume_sent", stale_resume_sent=True),
        replace(SEED, name="alloc_before_free", alloc_before_free=True),
    )
}


def get_variant(name: str) -> Variant:
    try:
        return VARIANTS[name]
    except KeyError:
        raise ValueError(f"unknown variant {name!r}; known: {sorted(VARIANTS)}") from None
