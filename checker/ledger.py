"""The ledger of proof strength: for each (variant, topology, property), the strongest claim
the run supports, with its bounds. Nothing stronger is ever claimed than was checked:

- `violated`: a run breaks it (the smallest T and its step are given);
- `every T, every depth`: an inductive invariant proves it for every TP size and every run
  length (`[every_t]`, checker/everyt.py), on the parameter domain of the configuration's
  [model] ranges, with one embedding rank per language rank (topology b, and topology a with
  E >= T); the bounded rows at the configuration's T rest on it;
- `all depths (small domain)`: the explicit search of `[fixpoint]` closed with no violation
  and a reached premise, for every T it was run at, and each T of `[prove]` holds;
- `bounded`: proved at every T of `[prove]` (by BMC to the unrolling depth, or trivially at
  T = 1), nothing beyond;
- `open`: not proved at every T of `[prove]` (undecided or not checked).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ranksync.spec.properties import PROPERTIES

from .prove import EVERY_T, Row

VIOLATED, EVERY_T_DEPTH, ALL_DEPTHS, BOUNDED, OPEN = (
    "violated", "every T, every depth", "all depths (small domain)", "bounded", "open")


@dataclass
class Entry:
    variant: str
    topology: str
    property: str
    strength: str
    detail: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _ts(xs: set[int]) -> str:
    return "{" + ",".join(str(t) for t in sorted(xs)) + "}"


def _holds(r: Row) -> bool:
    """An every-T obligation that holds: a property PROVED, or a witness (a situation, not a
    property) UNREACHABLE at every T."""
    return r.verdict == "PROVED" or (r.verdict == "UNREACHABLE" and r.name not in PROPERTIES)


def ledger(rows: list[Row]) -> list[Entry]:
    keys: dict[tuple[str, str, str], list[Row]] = {}
    for r in rows:
        if r.kind in ("property", "fixpoint", "every_t") and not r.name.startswith("premise"):
            keys.setdefault((r.variant, r.topology, r.name), []).append(r)
    out = []
    for (v, topo, name), rs in keys.items():
        bounded = [r for r in rs if r.kind == "property"]
        fp_rows = [r for r in rs if r.kind == "fixpoint"]
        every = [r for r in rs if r.kind == "every_t"]
        bad = sorted((r for r in rs if r.verdict == "VIOLATED"), key=lambda r: r.tp_size)
        if bad:
            r = bad[0]
            how = "all-depth search" if r.kind == "fixpoint" else \
                f"{r.method}, depth {r.bound.get('depth')}"
            out.append(Entry(v, topo, name, VIOLATED, f"T={r.tp_size}, step {r.step} ({how})"))
            continue
        proved_t = {r.tp_size for r in bounded if r.verdict == "PROVED"}
        if every and all(_holds(r) for r in every):
            b = every[0].bound
            env = " any embedding side;" if b.get("env") else \
                " the modelled embedding side, one embedding rank per language rank;"
            out.append(Entry(v, topo, name, EVERY_T_DEPTH,
                             f"inductive invariant;{env} L {b.get('length')}, block sizes "
                             f"{b.get('block_sizes')}, default allocation "
                             f"{b.get('default_allocate_tokens')}, pool {b.get('pool_blocks')}"
                             + (f"; bounded rows at T in {_ts(proved_t)} rest on it"
                                if proved_t else "")))
            continue
        if not bounded or len(proved_t) < len(bounded):
            why = "; every-T proof failed" if every else ""
            out.append(Entry(v, topo, name, OPEN, f"not proved at every T{why}"))
            continue
        depth = bounded[0].bound.get("depth")
        methods = sorted({r.method for r in bounded} - {EVERY_T})
        detail = f"T in {_ts(proved_t)}, depth {depth}, L {bounded[0].bound.get('length')} " \
                 f"({', '.join(methods)})"
        if fp_rows and all(r.verdict == "PROVED" for r in fp_rows):
            b = fp_rows[0].bound
            out.append(Entry(v, topo, name, ALL_DEPTHS,
                             f"all depths for T in {_ts({r.tp_size for r in fp_rows})}, "
                             f"L {b.get('length')}, pool {b.get('pool_blocks')}, stale zeros; "
                             f"{detail}"))
        else:  # an all-depth search that did not close is said, so it is not mistaken for none
            tried = "/".join(sorted({r.verdict for r in fp_rows}))
            out.append(Entry(v, topo, name, BOUNDED,
                             detail + (f" (all-depth search: {tried})" if fp_rows else "")))
    return out
