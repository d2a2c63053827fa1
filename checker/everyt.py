"""Proofs for every T and every depth: the stored inductive invariants of `spec/invariants/`.

`[every_t]` in a configuration lists, per variant and topology, the properties (and the
witnesses that must stay unreachable) to prove with the invariant
`spec/invariants/<variant>.<topology>.inv` (checker/induction/clauses.py for the syntax; a
`#: env = havoc` line says the proof holds for *any* environment, not only the modelled
embedding side). Each obligation becomes one row of kind `every_t` (tp_size 0 = every T):
PROVED, CTI (the invariant is not inductive, or does not exclude the violation: a failure,
with the counterexample to induction as the reason) or UNKNOWN.
"""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path
from typing import Any

from ranksync.spec.config import ModelConfig
from ranksync.spec.properties import PROPERTIES, branch_witnesses
from ranksync.spec.variants import get_variant

from .induction.clauses import Clause, ClauseError
from .induction.prover import Answer, Prover

STRENGTH = "every T, every depth"


class InvariantError(ValueError):
    pass


def invariant_path(variant: str, topology: str) -> Path:
    return Path(str(resources.files("ranksync.spec") / "invariants" /
                    f"{variant}.{topology}.inv"))


def read_invariant(variant: str, topology: str) -> tuple[list[Clause], dict[str, str]]:
    """The clauses and the `#: key = value` metadata of a stored invariant."""
    path = invariant_path(variant, topology)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvariantError(f"no invariant for {variant} / topology {topology}: {path} "
                             f"(`ranksync invariants mine {variant} --topology {topology}` "
                             f"writes one)") from None
    meta: dict[str, str] = {}
    clauses = []
    for n, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if s.startswith("#:"):
            k, _, v = s[2:].partition("=")
            meta[k.strip()] = v.strip()
            continue
        s = s.split("#", 1)[0].strip()
        if s:
            c = Clause(s)
            try:
                c.tree  # noqa: B018 - parse now, report the line
            except ClauseError as e:
                raise InvariantError(f"{path}:{n}: {e}") from None
            clauses.append(c)
    return clauses, meta


def _bad(name: str, variant: str) -> Any:
    if name in PROPERTIES:
        return PROPERTIES[name].bad
    wit = branch_witnesses(get_variant(variant))
    key = name[len("premise: "):] if name.startswith("premise: ") else None
    if key in PROPERTIES:
        return PROPERTIES[key].premise
    if name in wit:
        return wit[name]
    raise InvariantError(f"[every_t] names {name!r}: neither a property nor a witness")


def prove(base: ModelConfig, variant: str, topology: str, names: list[str],
          timeout_ms: int) -> list[dict[str, Any]]:
    """One result per name: verdict, seconds, reason (the CTI in words)."""
    t0 = time.perf_counter()
    clauses, meta = read_invariant(variant, topology)
    env = meta.get("env", "model")
    if env not in ("model", "havoc"):
        raise InvariantError(f"{invariant_path(variant, topology)}: env must be model or havoc")
    pv = Prover(base, get_variant(variant), env, clauses, timeout_ms)  # type: ignore[arg-type]
    ind = pv.inductive()
    out = []
    setup = time.perf_counter() - t0
    for name in names:
        if ind.verdict != "PROVED":
            out.append(_row(name, ind, setup, clauses, env, "not inductive: "))
            continue
        a = pv.excludes(name, _bad(name, variant))
        out.append(_row(name, a, a.seconds + setup / max(1, len(names)), clauses, env, ""))
    return out


def _row(name: str, a: Answer, seconds: float, clauses: list[Clause], env: str, pre: str
         ) -> dict[str, Any]:
    why = ""
    if a.verdict == "CTI":
        why = f"{pre}counterexample to induction ({a.cls} step): {a.what}"
    elif a.verdict == "UNKNOWN":
        why = f"{pre}solver: {a.what}"
    return {"name": name, "verdict": a.verdict, "seconds": seconds, "reason": why,
            "clauses": len(clauses), "env": env, "answer": a}
