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
    """(task, its obligations) for each task of checker/prove.py `tasks`: check_every_t,
    check_group and check_fixpoint."""
    from .fixpoint import ALWAYS
    from .prove import WITNESS_MAX_T, check_every_t, check_fixpoint, tasks

    for fn, (v, t, n) in tasks(pc):
        if fn is check_every_t:
            yield ("every_t", v, t, 0), [(v, t, 0, "every_t", x) for x in pc.every_t[v][t]]
        elif fn is check_fixpoint:
            yield ("fixpoint", v, t, n), [(v, t, n, "fixpoint", p) for p in ALWAYS]
        else:
            props = pc.properties_of(v, t)
            wit = [f"premise: {p}" for p in PROPERTIES if p in props]
            wit += list(branch_witnesses(get_variant(v)))
            if pc.check_witnesses == "none":
                wit = []
            elif pc.check_witnesses == "reachable":  # as check_group: at T <= WITNESS_MAX_T
                wit = [w for w in wit if pc.expected_witness(v, t, w, n) == "REACHABLE"
                       and n <= WITNESS_MAX_T]
            yield (v, t, n), ([(v, t, n, "property", p) for p in props]
                              + [(v, t, n, "witness", w) for w in wit])


def obligation_keys(pc: ProveConfig) -> list[Key]:
    return [k for _g, ks in group_keys(pc) for k in ks]
