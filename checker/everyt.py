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
from dataclasses import replace
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


Chain = list[tuple[str, list[Clause]]]
# bounded liveness: where a window starts (its premise, for every rank), where it must end
GOALS: dict[str, tuple[list[str], list[str]]] = {
    "progress": (["g.encoded"],
                 ["i.phase == DONE or i.phase == FAILED_OUT", "not g.deadlock"]),
    "no_leak": (["i.phase == DONE or i.phase == FAILED_OUT", "not g.deadlock"],
                ["not g.src_alive", "not ib.owned or (i.phase == DONE and ib.in_a)"]),
}


def read_invariant(variant: str, topology: str) -> tuple[list[Clause], dict[str, str]]:
    clauses, meta, _ = read_all(variant, topology)
    return clauses, meta


def read_all(variant: str, topology: str
             ) -> tuple[list[Clause], dict[str, str], dict[str, Chain]]:
    """The clauses, the `#: key = value` metadata and the liveness chains of a stored
    invariant (`#: chain NAME` then `#: after env|lang` stages)."""
    path = invariant_path(variant, topology)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvariantError(f"no invariant for {variant} / topology {topology}: {path} "
                             f"(`ranksync invariants mine {variant} --topology {topology}` "
                             f"writes one)") from None
    meta: dict[str, str] = {}
    clauses: list[Clause] = []
    chains: dict[str, Chain] = {}
    into = clauses
    for n, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if s.startswith("#:"):
            words = s[2:].split()
            if words[:1] == ["chain"] and len(words) == 2:
                chains[words[1]] = []
            elif words[:1] == ["after"] and len(words) == 2 and words[1] in ("env", "lang") \
                    and chains:
                into = []
                next(reversed(chains.values())).append((words[1], into))
            else:
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
            into.append(c)
    return clauses, meta, chains


_DOMAIN_KEYS = ("pool_blocks", "block_sizes", "length_range", "default_alloc_range")


def domain(base: ModelConfig, meta: dict[str, str], where: str = "") -> ModelConfig:
    """The configuration the invariant is proved for: `base` narrowed by the invariant's
    `#: domain = pool_blocks=3 length_range=1..3 block_sizes=1 default_alloc_range=1..1`
    (an invariant proved on a smaller domain must not be read as one for the default)."""
    spec = meta.get("domain", "").split()
    out = base
    for item in spec:
        key, _, val = item.partition("=")
        if key not in _DOMAIN_KEYS or not val:
            raise InvariantError(f"{where}: domain item {item!r}: use KEY=VALUE with KEY in "
                                 f"{', '.join(_DOMAIN_KEYS)}")
        try:
            if key == "pool_blocks":
                out = replace(out, pool_blocks=int(val))
            elif key == "block_sizes":
                out = replace(out, block_sizes=tuple(int(x) for x in val.split(",")))
            else:
                lo, _, hi = val.partition("..")
                out = replace(out, **{key: (int(lo), int(hi or lo))})
        except ValueError:
            raise InvariantError(f"{where}: domain item {item!r} is not numeric") from None
    return out


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
    clauses, meta, chains = read_all(variant, topology)
    base = domain(base, meta, str(invariant_path(variant, topology)))
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
        if name in GOALS:
            a = _liveness(pv, base, name, chains)
        else:
            a = pv.excludes(name, _bad(name, variant))
        out.append(_row(name, a, a.seconds + setup / max(1, len(names)), clauses, env, ""))
    return out


def _liveness(pv: Prover, base: ModelConfig, name: str, chains: dict[str, Chain]) -> Answer:
    """`progress` / `no_leak` (B eager steps) from the invariant's chain of stages."""
    from .induction.prover import chain

    if name not in chains:
        return Answer("UNKNOWN", what=f"the invariant has no `#: chain {name}`")
    stages = chains[name]
    steps = sum(1 for cls, _ in stages if cls == "lang")
    if steps > base.progress_bound:
        return Answer("CTI", what=f"the chain takes {steps} iterations, the property allows "
                                  f"{base.progress_bound}")
    start, goal = ([Clause(t) for t in ts] for ts in GOALS[name])
    return chain(pv, start, [(c, s) for c, s in stages], goal)  # type: ignore[misc]


def _row(name: str, a: Answer, seconds: float, clauses: list[Clause], env: str, pre: str
         ) -> dict[str, Any]:
    why = ""
    if a.verdict == "CTI":
        why = f"{pre}counterexample to induction ({a.cls} step): {a.what}"
    elif a.verdict == "UNKNOWN":
        why = f"{pre}solver: {a.what}"
    return {"name": name, "verdict": a.verdict, "seconds": seconds, "reason": why,
            "clauses": len(clauses), "env": env, "answer": a}
