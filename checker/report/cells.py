"""The report's data from prove rows: proof strength per cell over T, the ledger's cells, the
designs compared, the claim, the property and witness matrices, prove time against T."""

from __future__ import annotations

from collections import Counter
from typing import Any

from ranksync.spec.properties import PROPERTIES
from ranksync.spec.variants import VARIANTS

from ..ledger import ALL_DEPTHS, BOUNDED, OPEN, Entry, ledger
from ..ledger import EVERY_T_DEPTH as ALL_T
from ..ledger import VIOLATED as L_VIOLATED

VIOLATED, PROVED, UNKNOWN = "VIOLATED", "PROVED", "UNKNOWN"
CLAIM = ("With the seed fix (engine commit d94e4a0ab), all language TP ranks use the same "
         "actual_total_length and sent_tokens on a Transferring poll and therefore all make the "
         "same resume decision, dummy ranks included.")
CLAIM_PROPS = ("seed_claim", "agreement")
CLAIM_VARIANT = "seed"


def _tset(ts: list[int]) -> str:
    ts = sorted(set(ts))
    if not ts:
        return ""
    if ts == list(range(1, ts[-1] + 1)) and len(ts) > 1:
        return f"T ≤ {ts[-1]}"
    if len(ts) == 1:
        return f"T = {ts[0]}"
    return "T ∈ {" + ",".join(map(str, ts)) + "}"


def _all_t(r: dict[str, Any]) -> bool:
    """Room for unbounded results (a later issue): a PROVED row whose bound says all T."""
    b = r.get("bound") or {}
    return r["verdict"] == PROVED and (bool(b.get("all_tp")) or b.get("tp_size") == "all"
                                       or r.get("method") in ("induction", "unbounded"))


def strength(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One cell of the matrix: the verdicts of one (property, variant, topology) over T."""
    rows = sorted(rows, key=lambda r: r["tp_size"])
    if not rows:
        return {"state": "none", "text": "not checked", "detail": "", "per_t": [],
                "mismatch": False, "min_violated": None}
    viol = [r for r in rows if r["verdict"] == VIOLATED]
    unk = [r for r in rows if r["verdict"] not in (VIOLATED, PROVED)]
    prov = [r for r in rows if r["verdict"] == PROVED]
    b = rows[0].get("bound") or {}
    depth = f"depth {b.get('depth')}" if b.get("depth") is not None else ""
    parts: list[str] = []
    if viol:
        t0 = viol[0]["tp_size"]
        later = [r for r in rows if r["tp_size"] >= t0]
        state = "violated"
        text = (f"violated from T={t0}" if all(r["verdict"] == VIOLATED for r in later)
                else f"violated at {_tset([r['tp_size'] for r in viol])}")
        if viol[0].get("step") is not None:
            text += f" (iteration {viol[0]['step']})"
        if prov:
            parts.append(f"proved {_tset([r['tp_size'] for r in prov])}")
    elif unk:
        state = "unknown"
        text = f"unknown at {_tset([r['tp_size'] for r in unk])}"
        if prov:
            parts.append(f"proved {_tset([r['tp_size'] for r in prov])}")
    elif any(_all_t(r) for r in prov):
        state, text = "proved", "proved for all T"
    else:
        state, text = "proved", f"proved {_tset([r['tp_size'] for r in prov])}"
        parts.append(depth)
    per_t = [{"T": r["tp_size"], "verdict": r["verdict"], "step": r.get("step"),
              "method": r.get("method"), "expected": r.get("expected"),
              "declared_ok": r.get("expected") in (None, r["verdict"]),
              "seconds": r.get("seconds", 0.0)} for r in rows]
    return {"state": state, "text": text, "detail": "; ".join(p for p in parts if p),
            "per_t": per_t, "mismatch": any(not p["declared_ok"] for p in per_t),
            "min_violated": viol[0]["tp_size"] if viol else None}
LEDGER_MARK = {L_VIOLATED: "✗ violated", ALL_T: "✓ every T, every depth", ALL_DEPTHS: "✓ all depths",
               BOUNDED: "✓ bounded", OPEN: "? open"}
LEDGER_CSS = {L_VIOLATED: "violated", ALL_T: "proved alldepths", ALL_DEPTHS: "proved alldepths",
              BOUNDED: "proved bounded", OPEN: "unknown"}


def row_objects(rows: list[dict[str, Any]]) -> list[Any]:
    """JSON rows as `prove.Row`s; fields a hand-made or older JSON lacks get neutral values."""
    from ..prove import Row

    fields = set(Row.__dataclass_fields__)
    out = []
    for r in rows:
        d: dict[str, Any] = {"expected": None, "method": "", "seconds": 0.0}
        d.update({k: v for k, v in r.items() if k in fields})
        d["bound"] = d.get("bound") or {}
        d["seconds"] = float(d.get("seconds") or 0.0)
        out.append(Row(**d))
    return out


def ledger_of(rows: list[dict[str, Any]]) -> list[Entry]:
    return ledger(row_objects(rows))


def _variant_key(v: str) -> tuple[int, str]:
    return (list(VARIANTS).index(v) if v in VARIANTS else len(VARIANTS), v)


def _prop_order(names: set[str]) -> list[str]:
    return [p for p in PROPERTIES if p in names] + sorted(names - set(PROPERTIES))


def ledger_cells(entries: list[Entry]) -> tuple[dict[tuple[str, str, str], dict[str, Any]],
                                                list[str]]:
    """(variant, topology, property) -> {strength, mark, css, detail, note}; `note` numbers the
    distinct detail strings (the Markdown footnotes), in matrix order."""
    cells: dict[tuple[str, str, str], dict[str, Any]] = {}
    notes: dict[str, int] = {}
    pidx = {p: i for i, p in enumerate(PROPERTIES)}
    order = sorted(entries, key=lambda e: (_variant_key(e.variant), e.topology,
                                           pidx.get(e.property, len(pidx)), e.property))
    for e in order:
        n = notes.setdefault(e.detail, len(notes) + 1) if e.detail else None
        cells[(e.variant, e.topology, e.property)] = {
            "strength": e.strength, "mark": LEDGER_MARK.get(e.strength, e.strength),
            "css": LEDGER_CSS.get(e.strength, "none"), "detail": e.detail, "note": n}
    return cells, list(notes)


def designs(rows: list[dict[str, Any]], entries: list[Entry]) -> dict[str, Any]:
    """Designs compared: one row per (variant, topology), one column per property, each cell
    the ledger's strength; plus the all-depth searches that back the "all depths" cells."""
    cells, notes = ledger_cells(entries)
    keys = sorted({(e.variant, e.topology) for e in entries},
                  key=lambda k: (_variant_key(k[0]), k[1]))
    props = _prop_order({e.property for e in entries})
    body = []
    span = Counter(v for v, _ in keys)
    for i, (v, t) in enumerate(keys):
        desc = VARIANTS[v].description if v in VARIANTS else ""
        first = i == 0 or keys[i - 1][0] != v
        body.append({"variant": v, "topology": t, "description": desc,
                     "span": span[v] if first else 0,
                     "cells": [cells.get((v, t, p)) or {"strength": "", "mark": "—",
                                                        "css": "none", "detail": "not checked",
                                                        "note": None} for p in props]})
    counts = Counter(e.strength for e in entries)
    fp = sorted((r for r in rows if r["kind"] == "fixpoint"),
                key=lambda r: (_variant_key(r["variant"]), r["topology"], r["tp_size"]))
    runs: dict[tuple[str, str, int], dict[str, Any]] = {}
    for r in fp:
        b = r.get("bound") or {}
        run = runs.setdefault((r["variant"], r["topology"], r["tp_size"]), {
            "variant": r["variant"], "topology": r["topology"], "tp_size": r["tp_size"],
            "depth": b.get("depth"), "states": b.get("states"), "closed": b.get("closed"),
            "length": b.get("length"), "pool_blocks": b.get("pool_blocks"),
            "pool_pressure": b.get("pool_pressure"), "seconds": 0.0, "verdicts": Counter()})
        run["seconds"] += float(r.get("seconds") or 0.0)
        run["verdicts"][r["verdict"]] += 1
    fixpoint_runs = [{**x, "verdicts": ", ".join(f"{n} {v}" for v, n in
                                                 sorted(x["verdicts"].items()))}
                     for x in runs.values()]
    return {"props": props, "rows": body, "notes": notes,
            "counts": {s: counts.get(s, 0) for s in (L_VIOLATED, ALL_T, ALL_DEPTHS, BOUNDED,
                                                      OPEN)},
            "marks": LEDGER_MARK, "fixpoint_runs": fixpoint_runs}


def claim_verdict(rows: list[dict[str, Any]]) -> dict[str, Any]:
    props = [r for r in rows if r["kind"] == "property" and r["variant"] == CLAIM_VARIANT]
    parts = []
    for p in CLAIM_PROPS:
        s = strength([r for r in props if r["name"] == p])
        anchors = sorted({f"cex-{CLAIM_VARIANT}-{r['topology']}-{p}" for r in props
                          if r["name"] == p and r["verdict"] == VIOLATED})
        parts.append({"property": p, "doc": PROPERTIES[p].doc, "anchors": anchors, **s})
    states = {p["state"] for p in parts}
    if not props:
        verdict, css = "NOT EVALUATED (the seed variant was not checked)", "unknown"
    elif "violated" in states:
        verdict, css = "REFUTED", "violated"
    elif states & {"unknown", "none"}:
        verdict, css = "INCONCLUSIVE", "unknown"
    else:
        b = props[0].get("bound") or {}
        ts = sorted({r["tp_size"] for r in props})
        verdict = (f"HOLDS within the checked bounds ({_tset(ts)}, depth {b.get('depth')}, "
                   f"L ∈ {b.get('length')}, block sizes {b.get('block_sizes')})")
        css = "proved"
    beyond = []
    for name in PROPERTIES:
        if name in CLAIM_PROPS:
            continue
        s = strength([r for r in props if r["name"] == name])
        if s["state"] == "violated":
            beyond.append({"property": name, "text": s["text"]})
    checked = {r["name"] for r in props}
    violated = sum(strength([r for r in props if r["name"] == n])["state"] == "violated"
                   for n in checked)
    # the box is coloured by the design, not by the claim alone: a claim that holds in a
    # design that violates other properties is not green
    return {"claim": CLAIM, "verdict": verdict, "claim_css": css,
            "css": "violated" if violated else css, "parts": parts, "beyond": beyond,
            "design_violates": violated, "design_properties": len(checked)}


def matrix(rows: list[dict[str, Any]], entries: list[Entry] | None = None) -> dict[str, Any]:
    """Property x (variant, topology): the BMC verdicts over T, and the ledger's strength of
    each cell (bounded, all depths on the small domain, violated, open)."""
    props = [r for r in rows if r["kind"] == "property"]
    lcells, _ = ledger_cells(ledger_of(rows) if entries is None else entries)
    cols = sorted({(r["variant"], r["topology"]) for r in props},
                  key=lambda c: (list(VARIANTS).index(c[0]) if c[0] in VARIANTS else 99, c[1]))
    names = [p for p in PROPERTIES if any(r["name"] == p for r in props)]
    names += sorted({r["name"] for r in props} - set(names))
    body = []
    for p in names:
        cells = []
        for v, t in cols:
            s = strength([r for r in props if r["name"] == p and r["variant"] == v
                          and r["topology"] == t])
            s["anchor"] = f"cex-{v}-{t}-{p}" if s["min_violated"] is not None else ""
            s["ledger"] = lcells.get((v, t, p))
            if s["ledger"] and s["ledger"]["strength"] == L_VIOLATED and s["state"] != "violated":
                # the all-depth search broke what BMC proved within its bound
                s["state"], s["text"] = "violated", "violated beyond the bound"
                s["detail"] = s["ledger"]["detail"]
            cells.append(s)
        doc = PROPERTIES[p].doc if p in PROPERTIES else ""
        kind = PROPERTIES[p].kind if p in PROPERTIES else ""
        body.append({"property": p, "doc": doc, "kind": kind, "cells": cells})
    return {"cols": [{"variant": v, "topology": t} for v, t in cols], "rows": body,
            "groups": _groups(cols)}


def _groups(cols: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """The columns of each variant (one table per variant keeps every table narrow)."""
    out: list[dict[str, Any]] = []
    for i, (v, _t) in enumerate(cols):
        if not out or out[-1]["variant"] != v:
            out.append({"variant": v, "cols": []})
        out[-1]["cols"].append(i)
    return out


def witness_matrix(rows: list[dict[str, Any]]) -> dict[str, Any]:
    wit = [r for r in rows if r["kind"] == "witness"]
    cols = sorted({(r["variant"], r["topology"]) for r in wit},
                  key=lambda c: (_variant_key(c[0]), c[1]))
    names = list(dict.fromkeys(r["name"] for r in wit))
    body = []
    for n in names:
        cells = []
        for v, t in cols:
            rs = sorted([r for r in wit if r["name"] == n and r["variant"] == v
                         and r["topology"] == t], key=lambda r: r["tp_size"])
            reach = [r["tp_size"] for r in rs if r["verdict"] == "REACHABLE"]
            unreach = [r["tp_size"] for r in rs if r["verdict"] == "UNREACHABLE"]
            other = [r["tp_size"] for r in rs if r["verdict"] not in ("REACHABLE", "UNREACHABLE")]
            bad = [r for r in rs if not r.get("ok", True)]
            text = " · ".join(x for x in [
                f"reachable {_tset(reach)}" if reach else "",
                f"unreachable {_tset(unreach)}" if unreach else "",
                f"unknown {_tset(other)}" if other else ""] if x) or "—"
            state = "violated" if bad else ("proved" if rs else "none")
            cells.append({"text": text, "state": state,
                          "note": "; ".join(f"T={r['tp_size']}: {r['verdict']}, declared "
                                            f"{r.get('expected')}" for r in bad)})
        body.append({"name": n, "cells": cells})
    bad_n = sum(not r.get("ok", True) for r in wit)
    return {"cols": [{"variant": v, "topology": t} for v, t in cols], "rows": body,
            "groups": _groups(cols), "total": len(wit), "as_declared": len(wit) - bad_n}


def time_series(rows: list[dict[str, Any]]) -> dict[str, list[tuple[int, float]]]:
    """Seconds of the bounded proof per (variant, topology, T); the all-depth search is
    timed in the designs section."""
    acc: dict[tuple[str, str, int], float] = {}
    for r in rows:
        if r.get("kind") in ("fixpoint", "every_t"):
            continue
        k = (r["variant"], r["topology"], r["tp_size"])
        acc[k] = acc.get(k, 0.0) + float(r.get("seconds") or 0.0)
    out: dict[str, list[tuple[int, float]]] = {}
    for (v, t, n), s in sorted(acc.items()):
        out.setdefault(f"{v} / {t}", []).append((n, s))
    return out
