"""The ledger of proof strength: for each (variant, topology, property), the strongest claim
the run supports, with its bounds. Nothing stronger is ever claimed than was checked:

- `violated`: a run breaks it (the smallest T and its step are given);
- `all depths (small domain)`: the explicit search of `[fixpoint]` closed with no violation
  and a reached premise, for every T it was run at, and BMC proved it at every T of `[prove]`;
- `all T (to the depth)`: a per-rank property proved by assume-guarantee over one rank
  (checker/alltp.py) for every T in topology b, and by BMC at every T of `[prove]`;
- `bounded`: BMC proved it at every T of `[prove]`, to the unrolling depth.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .prove import Row

VIOLATED, ALL_DEPTHS, BOUNDED, OPEN = "violated", "all depths (small domain)", "bounded", "open"
ALL_T = "all T (to the depth)"


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


def ledger(rows: list[Row]) -> list[Entry]:
    keys: dict[tuple[str, str, str], list[Row]] = {}
    for r in rows:
        if r.kind in ("property", "fixpoint", "all_t"):
            keys.setdefault((r.variant, r.topology, r.name), []).append(r)
    out = []
    for (v, topo, name), rs in keys.items():
        bmc_rows = [r for r in rs if r.kind == "property"]
        fp_rows = [r for r in rs if r.kind == "fixpoint"]
        all_t = [r for r in rs if r.kind == "all_t"]
        # an all-T VIOLATED may be spurious (over-approximation): it only withholds the claim
        bad = sorted((r for r in rs if r.verdict == "VIOLATED" and r.kind != "all_t"),
                     key=lambda r: r.tp_size)
        if bad:
            r = bad[0]
            how = "all-depth search" if r.kind == "fixpoint" else f"depth {r.bound.get('depth')}"
            out.append(Entry(v, topo, name, VIOLATED, f"T={r.tp_size}, step {r.step} ({how})"))
            continue
        proved_t = {r.tp_size for r in bmc_rows if r.verdict == "PROVED"}
        if not bmc_rows or len(proved_t) < len(bmc_rows):
            out.append(Entry(v, topo, name, OPEN, "not proved at every T"))
            continue
        depth = bmc_rows[0].bound.get("depth")
        bounded = f"T in {_ts(proved_t)}, depth {depth}, L {bmc_rows[0].bound.get('length')}"
        if all_t and all(r.verdict == "PROVED" for r in all_t):
            extra = ""
            if fp_rows and all(r.verdict == "PROVED" for r in fp_rows):
                extra = (f"; all depths for T in {_ts({r.tp_size for r in fp_rows})} on the "
                         f"small domain")
            out.append(Entry(v, topo, name, ALL_T,
                             f"every T (one rank against the rest), depth {depth}{extra}; "
                             f"bounded: {bounded}"))
        elif fp_rows and all(r.verdict == "PROVED" for r in fp_rows):
            b = fp_rows[0].bound
            out.append(Entry(v, topo, name, ALL_DEPTHS,
                             f"all depths for T in {_ts({r.tp_size for r in fp_rows})}, "
                             f"L {b.get('length')}, pool {b.get('pool_blocks')}, stale zeros; "
                             f"bounded: {bounded}"))
        else:
            why = "" if not fp_rows else \
                f" (all-depth search: {', '.join(sorted({r.verdict for r in fp_rows}))})"
            out.append(Entry(v, topo, name, BOUNDED, bounded + why))
    return out
