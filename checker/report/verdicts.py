"""The report's first screen: one sentence per design that answers the reviewer's question,
derived from the results (never written by hand), e.g.

    seed: the two synced numbers agree on every rank (every T, every depth); the inputs to
    the forward do not (T ≥ 2, topology b) — see counterexample

Three levels, each a property: `seed_claim` (the two synced numbers), `agreement` (the
branches), `handoff_agreement` (the inputs to the forward). How strong a "holds" is comes
from the ledger (checker/ledger.py) entry of each topology, rendered generically: a strength
the ledger adds later shows under its own name. Colours follow the verdict as a property of
the design: a violated property is red whether or not the config declared it.
"""

from __future__ import annotations

from typing import Any

from ranksync.spec.variants import MUTANTS, VARIANTS

from ..ledger import BOUNDED, OPEN, Entry
from ..ledger import VIOLATED as L_VIOLATED
from .cells import _tset, strength

LEVELS = (("seed_claim", "the two synced numbers"), ("agreement", "the branches"),
          ("handoff_agreement", "the inputs to the forward"))
LEVEL_PROPS = tuple(p for p, _ in LEVELS)
# short phrases for the ledger's strengths; any other strength is shown by its name
PHRASE = {"all T (to the depth)": "every T, to the depth checked",
          "all depths (small domain)": "every depth, on the small domain"}


def _strength_phrase(e: Entry) -> str:
    if e.strength == BOUNDED:  # "T in {1,2}, depth 6, L [1, 6]": the bound is the claim
        return e.detail.split(";")[0].split(" (")[0]
    return PHRASE.get(e.strength, e.strength)


def _join_topologies(parts: dict[str, list[str]]) -> str:
    """{"every T": ["a", "b"]} -> "every T"; two texts -> "X (topology a); Y (topology b)"."""
    if len(parts) == 1:
        return next(iter(parts))
    return "; ".join(f"{txt} (topology {', '.join(ts)})" for txt, ts in parts.items())


def _where_violated(rows: list[dict[str, Any]], prop: str, variant: str,
                    entries: dict[str, Entry]) -> tuple[str, list[str]]:
    """"T ≥ 2, topology b" from the BMC rows (or the ledger's detail for a violation only
    the all-depth search found), and the counterexample anchors."""
    by: dict[str, list[str]] = {}
    anchors = []
    for topo, e in sorted(entries.items()):
        if e.strength != L_VIOLATED:
            continue
        s = strength([r for r in rows if r["kind"] == "property" and r["variant"] == variant
                      and r["name"] == prop and r["topology"] == topo])
        if s["min_violated"] is None:
            txt = e.detail  # beyond the bounded proof's depth
        else:
            # only the T checked: "from T = 2" says where it starts, not that it holds
            # for every larger T
            ts = [p["T"] for p in s["per_t"] if p["verdict"] == "VIOLATED"]
            later = [p for p in s["per_t"] if p["T"] >= s["min_violated"]]
            if len(ts) == len(s["per_t"]) and len(ts) > 1:
                txt = "every T checked"
            elif all(p["verdict"] == "VIOLATED" for p in later) and len(later) > 1:
                txt = f"from T = {s['min_violated']}"
            else:
                txt = _tset(ts)
            anchors.append(f"cex-{variant}-{topo}-{prop}")
        by.setdefault(txt, []).append(topo)
    where = "; ".join(f"{txt}, topolog{'ies' if len(ts) > 1 else 'y'} {' and '.join(ts)}"
                      for txt, ts in by.items())
    return where, anchors


def clause(rows: list[dict[str, Any]], variant: str, prop: str, subject: str,
           entries: dict[str, Entry]) -> dict[str, Any] | None:
    """One level of one design: state (proved / violated / open), its text and anchors."""
    if not entries:
        return None
    states = {e.strength for e in entries.values()}
    if L_VIOLATED in states:
        where, anchors = _where_violated(rows, prop, variant, entries)
        return {"property": prop, "state": "violated", "anchors": anchors,
                "text": f"{subject} do not ({where})"}
    if OPEN in states or not states:
        which = ", ".join(t for t, e in sorted(entries.items()) if e.strength == OPEN)
        return {"property": prop, "state": "unknown", "anchors": [],
                "text": f"{subject}: not decided (topology {which}: not proved at every T)"}
    parts: dict[str, list[str]] = {}
    for topo, e in sorted(entries.items()):
        parts.setdefault(_strength_phrase(e), []).append(topo)
    return {"property": prop, "state": "proved", "anchors": [],
            "text": f"{subject} agree on every rank ({_join_topologies(parts)})"}


def design_sentences(rows: list[dict[str, Any]], entries: list[Entry]) -> list[dict[str, Any]]:
    """One sentence per design (variant; mutants are not designs) with its clauses; the
    sentence's state is its worst clause, and the design's other violated properties are
    counted so a green sentence never hides a red design."""
    by: dict[str, dict[str, dict[str, Entry]]] = {}
    for e in entries:
        by.setdefault(e.variant, {}).setdefault(e.property, {})[e.topology] = e
    order = [v for v in VARIANTS if v in by and v not in MUTANTS]
    order += sorted(v for v in by if v not in VARIANTS)
    out = []
    for v in order:
        clauses = [c for prop, subj in LEVELS
                   if (c := clause(rows, v, prop, subj, by[v].get(prop, {}))) is not None]
        if not clauses:
            continue
        merged = _merge(clauses)
        violated = sorted(p for p, tops in by[v].items()
                          if any(e.strength == L_VIOLATED for e in tops.values()))
        state = ("violated" if violated else
                 "unknown" if any(c["state"] == "unknown" for c in clauses) else "proved")
        others = [p for p in violated if p not in {c["property"] for c in clauses}]
        out.append({"variant": v, "clauses": merged, "state": state,
                    "sentence": f"{v}: " + "; ".join(c["text"] for c in merged),
                    "violated": violated, "others_violated": others,
                    "properties": len(by[v])})
    return out


def _merge(clauses: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Adjacent levels that hold with the same strength read as one clause: "the two synced
    numbers and the branches agree on every rank (every T)"."""
    out: list[dict[str, Any]] = []
    for c in clauses:
        prev = out[-1] if out else None
        if prev and prev["state"] == c["state"] == "proved" and \
                prev["text"].split(" agree ", 1)[1] == c["text"].split(" agree ", 1)[1]:
            subj = prev["text"].split(" agree ", 1)[0].replace(" and ", ", ")
            prev["text"] = f"{subj} and {c['text']}"
            prev["property"] += "," + c["property"]
            continue
        out.append(dict(c))
    return out
