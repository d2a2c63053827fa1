"""The designs under review, each a small diff of one Transferring procedure (protocol.md §8.4).

`seed` is engine commit d94e4a0ab (the fix of ../shared/seed/), `prefix` is 28ac79bbe (before
it). Mutants are one-line changes to `seed`, applied identically by the model and the reference
(docs/trace-format.md, "Mutants"). A reviewer reads a variant as the fields that differ.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal


@dataclass(frozen=True)
class Variant:
    name: str
    # step 1: "if req has partial_aux_datas" -> use the cache (seed) instead of reading buffers
    cached_path: bool
    # step 1, first path: all_reduce op applied to the local (L, S); None = no all-reduce (prefix)
    sync_op: Literal["max", "min"] | None
    # step 1, first path: whether S is all-reduced too (the seed reduces both)
    sync_sent: bool = True
    # step 2: partial_aux_datas[0] := synced L ("synced") or the local aux[0] ("local")
    cache_total: Literal["synced", "local"] = "synced"
    # step 2: cache only when partial_input_embeds is absent ("once"), never, or every time
    cache: Literal["once", "never", "every"] = "once"
    # step 2: sent_tokens in the resume message: S, or 0
    resume_sent: Literal["S", "zero"] = "S"
    # step 2: free(current) then alloc(R) (engine) or alloc first
    free_before_alloc: bool = True
    # cached path: send another resume while this request's resume is outstanding (engine), or
    # wait for the resumed data (hardened)
    resend_while_pending: bool = True
    # resume allocation failed: the failure handler frees embedding_indices although the resume
    # path has just freed them (engine), or only marks the request failed (hardened)
    refree_on_nomem: bool = True
    # -- issue 7 designs (docs/trace-format.md "Designs"); defaults are the engine's behaviour --
    # transfer poll: Success counts as Transferring until this rank's aux row carries the room
    gate: bool = False
    # every alloc is followed by a MIN all-reduce of "got blocks"; a partial success rolls back
    alloc_agree: bool = False
    # embedding transfer layer: a resume chunk writes (and reports to) its own session only,
    # statuses are per session, the room is Success once every session has all L tokens
    per_session: bool = False
    # failure handler sends a cancel and frees only once Failed (the ack) is delivered
    cancel: bool = False
    # topology b: every language rank's sender writes data (no dummy ranks)
    data_to_all: bool = False
    description: str = ""

    @property
    def cache_aux_view(self) -> bool:
        """partial_aux_datas is get_buf's aux row itself, a view of the first block's row that
        later writes to that block change (prefix, 28ac79bbe), not a new tensor (seed: it
        holds the synced total)."""
        return self.sync_op is None


SEED = Variant(
    name="seed",
    cached_path=True,
    sync_op="max",
    description="d94e4a0ab: MAX all-reduce of (L, S) on the first Transferring, then the "
    "cached partial_aux_datas / partial_sent_tokens on later ones",
)

PREFIX = Variant(
    name="prefix",
    cached_path=False,
    sync_op=None,
    cache_total="local",
    description="28ac79bbe: local get_buf on every Transferring iteration, no all-reduce, "
    "no cached path",
)

MUTANTS: dict[str, Variant] = {
    v.name: v
    for v in [
        replace(SEED, name="max_to_min", sync_op="min", description="MAX -> MIN"),
        replace(SEED, name="drop_sync_sent", sync_sent=False, description="sent_tokens not all-reduced"),
        replace(SEED, name="local_total_in_cache", cache_total="local",
                description="partial_aux_datas[0] := local aux[0]"),
        replace(SEED, name="skip_cache", cache="never", description="partial data never cached"),
        replace(SEED, name="recache_every_iteration", cache="every",
                description="partial data re-cached on every L > S iteration"),
        replace(SEED, name="stale_resume_sent", resume_sent="zero",
                description="resume message carries sent_tokens=0"),
        replace(SEED, name="alloc_before_free", free_before_alloc=False,
                description="alloc(R) before free(current)"),
    ]
}

# The designs of issue 7, each a set of named changes to `seed` (name -> field, value).
CHANGES: dict[str, tuple[str, object]] = {
    "gate": ("gate", True),
    "no_sync": ("sync_op", None),
    "wait": ("resend_while_pending", False),
    "no_refree": ("refree_on_nomem", False),
    "alloc_agree": ("alloc_agree", True),
    "per_session": ("per_session", True),
    "cancel": ("cancel", True),
    "data_to_all": ("data_to_all", True),
}


def design(name: str, changes: list[str], description: str) -> Variant:
    kw = dict(CHANGES[c] for c in changes)
    return replace(SEED, name=name, description=description, **kw)  # type: ignore[arg-type]


HARDENED_CHANGES = ["wait", "no_refree", "alloc_agree", "per_session", "cancel", "data_to_all"]
DESIGNS: dict[str, Variant] = {v.name: v for v in [
    design("gate", ["gate", "no_sync"], "seed with the MAX all-reduce replaced by the "
           "upstream gate-then-MIN: Success counts as Transferring until the rank's metadata landed"),
    design("hardened_lang", ["wait", "no_refree"], "seed + wait while a resume is outstanding + "
           "no double free on resume allocation failure (language side only)"),
    design("hardened", HARDENED_CHANGES, "the team's design: " + ", ".join(HARDENED_CHANGES)),
    *[design(f"hardened-minus-{c}", [x for x in HARDENED_CHANGES if x != c],
             f"hardened without {c}") for c in HARDENED_CHANGES],
]}
HARDENED = DESIGNS["hardened"]

VARIANTS: dict[str, Variant] = {"prefix": PREFIX, "seed": SEED, **DESIGNS, **MUTANTS}


def get_variant(name: str) -> Variant:
    try:
        return VARIANTS[name]
    except KeyError:
        raise ValueError(f"unknown variant {name!r}; known: {', '.join(VARIANTS)}") from None
