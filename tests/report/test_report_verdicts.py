"""The report's first screen: one sentence per design, derived from the rows and the ledger
(synthetic rows, no solver); colours follow the design, not the declarations."""

from __future__ import annotations

from typing import Any

from ranksync.checker.ledger import Entry
from ranksync.checker.report import cells
from ranksync.checker.report.verdicts import design_sentences


def row(v: str, t: str, n: int, name: str, verdict: str, kind: str = "property",
        expected: str | None = None) -> dict[str, Any]:
    return {"variant": v, "topology": t, "tp_size": n, "kind": kind, "name": name,
            "verdict": verdict, "expected": expected or verdict, "method": "bmc",
            "seconds": 0.1, "step": 3 if verdict == "VIOLATED" else None, "reason": "",
            "bound": {"depth": 6, "length": [1, 6]}}


def seed_rows() -> list[dict[str, Any]]:
    rows = [row("seed", t, n, p, "PROVED") for t in "ab" for n in (1, 2)
            for p in ("seed_claim", "agreement")]
    rows += [row("seed", "a", n, "handoff_agreement", "PROVED") for n in (1, 2)]
    rows += [row("seed", "b", 1, "handoff_agreement", "PROVED"),
             row("seed", "b", 2, "handoff_agreement", "VIOLATED")]
    return rows


def test_sentence_from_results():
    rows = seed_rows()
    (d,) = design_sentences(rows, cells.ledger_of(rows))
    assert d["sentence"] == (
        "seed: the two synced numbers and the branches agree on every rank (T in {1,2}, "
        "depth 6, L [1, 6]); the inputs to the forward do not (T = 2, topology b)")
    assert d["state"] == "violated"
    assert d["clauses"][-1]["anchors"] == ["cex-seed-b-handoff_agreement"]


def test_declared_violation_is_still_red():
    rows = seed_rows()
    for r in rows:
        r["expected"] = r["verdict"]  # everything as declared
    (d,) = design_sentences(rows, cells.ledger_of(rows))
    assert d["state"] == "violated"
    c = cells.claim_verdict(rows + [row("seed", "a", 1, "integrity", "VIOLATED")])
    assert c["verdict"].startswith("HOLDS") and c["claim_css"] == "proved"
    assert c["css"] == "violated" and c["design_violates"] == 2


def test_a_design_that_holds_but_violates_something_else():
    rows = [row("hardened", t, n, p, "PROVED") for t in "ab" for n in (1, 2)
            for p in ("seed_claim", "agreement", "handoff_agreement")]
    rows += [row("hardened", "a", 2, "no_leak", "VIOLATED")]
    (d,) = design_sentences(rows, cells.ledger_of(rows))
    assert all(c["state"] == "proved" for c in d["clauses"])
    assert d["state"] == "violated" and d["others_violated"] == ["no_leak"]


def test_strengths_render_from_the_ledger_generically():
    entries = [Entry("gate", "a", "seed_claim", "every T, every depth", "x"),
               Entry("gate", "b", "seed_claim", "every T, every depth", "x"),
               Entry("gate", "a", "agreement", "all T (to the depth)", "y"),
               Entry("gate", "b", "agreement", "bounded", "T in {1,2}, depth 6; more"),
               Entry("gate", "a", "handoff_agreement", "open", "not proved at every T"),
               Entry("gate", "b", "handoff_agreement", "bounded", "T in {1}, depth 6")]
    (d,) = design_sentences([], entries)
    texts = [c["text"] for c in d["clauses"]]
    assert texts[0] == "the two synced numbers agree on every rank (every T, every depth)"
    assert texts[1] == ("the branches agree on every rank (every T, to the depth checked "
                        "(topology a); T in {1,2}, depth 6 (topology b))")
    assert texts[2].startswith("the inputs to the forward: not decided (topology a")
    assert d["state"] == "unknown"


def test_mutants_are_not_designs():
    rows = [row("max_to_min", "a", 2, "seed_claim", "VIOLATED")] + seed_rows()
    assert [d["variant"] for d in design_sentences(rows, cells.ledger_of(rows))] == ["seed"]


def test_where_a_violation_starts_says_only_what_was_checked():
    rows = [row("prefix", t, n, "seed_claim", "PROVED" if n == 1 else "VIOLATED")
            for t in "ab" for n in (1, 2, 4)]
    rows += [row("prefix", t, n, "agreement", "VIOLATED") for t in "ab" for n in (1, 2)]
    (d,) = design_sentences(rows, cells.ledger_of(rows))
    assert [c["text"] for c in d["clauses"]] == [
        "the two synced numbers do not (from T = 2, topologies a and b)",
        "the branches do not (every T checked, topologies a and b)"]
