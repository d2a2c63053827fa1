"""The obligations a prove run will check, known before it runs: (variant, topology, T,
kind, name) in the order checker/prove.py produces them. Used for progress totals and by the
pytest plugin, whose items exist before the run."""

from __future__ import annotations

from collections.abc import Iterator

from ranksync.spec.properties import PROPERTIES, branch_witnesses
from ranksync.spec.variants import get_variant

from .config import ProveConfig

Key = tuple[str, str, int, str, str]


def group_keys(pc: ProveConfig) -> Iterator[tuple[tuple[object, ...], list[Key]]]:
    """(unit of work, its obligations): check_group, check_fixpoint, check_all_t."""
    from . import alltp
    from .fixpoint import ALWAYS

    for v in pc.variants:
        wit = [f"premise: {n}" for n in PROPERTIES] + list(branch_witnesses(get_variant(v)))
        for t in pc.topologies:
            for n in pc.tp_sizes:
                yield (v, t, n), ([(v, t, n, "property", p) for p in PROPERTIES]
                                  + [(v, t, n, "witness", w) for w in wit])
    for v, t, n in pc.fixpoint_groups():
        yield ("fixpoint", v, t, n), [(v, t, n, "fixpoint", p) for p in ALWAYS]
    for v in pc.all_t:
        yield ("all_t", v, "b", 0), [(v, "b", 0, "all_t", p) for p in alltp.PER_RANK]


def obligation_keys(pc: ProveConfig) -> list[Key]:
    return [k for _g, ks in group_keys(pc) for k in ks]
