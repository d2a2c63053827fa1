"""Variants: ``prefix`` (28ac79bbe), ``seed`` (d94e4a0ab), the mutants and the designs of
docs/trace-format.md. Each mutant is a small explicit switch in the Transferring procedure
(§8.4, §14); each design is a set of named changes to ``seed`` ("Designs"), every change an
independent boolean switch so that any subset can be run (:func:`with_changes`).
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

    # -- design changes (trace-format "Designs") ---------------------------------------------
    # gate: in the transfer-queue MIN poll a local Success counts as Transferring unless the
    # aux row of embedding_indices[0] carries the request's room or partial_aux_datas exists.
    gate: bool = False
    # no_sync: the first Transferring path uses the local (L, S), no MAX all-reduce, no
    # "Synced ..." log (the cached path is unchanged).
    no_sync: bool = False
    # wait: on the cached path, wait while this request's resume is outstanding.
    wait: bool = False
    # no_refree: a failed resume allocation does not free the (already freed) blocks again.
    no_refree: bool = False
    # alloc_agree: every alloc of the request is followed by a MIN all-reduce of "succeeded".
    alloc_agree: bool = False
    # per_session: resume chunks serve the resuming session only, statuses are per session.
    per_session: bool = False
    # cancel: the transfer-queue failure handler sends a cancel message and frees the blocks
    # only once the room's status is Failed; the embedding thread handles cancel messages.
    cancel: bool = False
    # data_to_all: topology b, every language rank's sender writes data.
    data_to_all: bool = False


# The design changes, in the order a rank meets them (trace-format "Designs").
CHANGES = ("gate", "no_sync", "wait", "no_refree", "alloc_agree", "per_session", "cancel", "data_to_all")
HARDENED_CHANGES = ("wait", "no_refree", "alloc_agree", "per_session", "cancel", "data_to_all")

SEED = Variant("seed")
PREFIX = Variant("prefix", synced=False)


def with_changes(name: str, changes: tuple[str, ...] | list[str], base: Variant = SEED) -> Variant:
    """``base`` with the named design changes switched on."""
    unknown = sorted(set(changes) - set(CHANGES))
    if unknown:
        raise ValueError(f"unknown design change(s) {unknown}; known: {list(CHANGES)}")
    return replace(base, name=name, **{c: True for c in changes})


def changes_of(v: Variant) -> tuple[str, ...]:
    """The design changes switched on in ``v``, in :data:`CHANGES` order."""
    return tuple(c for c in CHANGES if getattr(v, c))


DESIGNS: tuple[Variant, ...] = (
    with_changes("gate", ("gate", "no_sync")),
    with_changes("hardened_lang", ("wait", "no_refree")),
    with_changes("hardened", HARDENED_CHANGES),
    *(
        with_changes(f"hardened-minus-{c}", tuple(x for x in HARDENED_CHANGES if x != c))
        for c in HARDENED_CHANGES
    ),
)

VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        PREFIX,
        SEED,
        *DESIGNS,
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
    """A named variant, or ``BASE+change+change...`` (any named variant with any subset of
    the design changes switched on, e.g. ``seed+per_session``; the reference's own
    extension for testing one switch at a time)."""
    base, *changes = name.split("+")
    try:
        v = VARIANTS[base]
    except KeyError:
        raise ValueError(f"unknown variant {name!r}; known: {sorted(VARIANTS)}") from None
    return with_changes(name, changes, v) if changes else v
