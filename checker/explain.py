"""`ranksync explain`: the shortest, then minimised, counterexample of one property as a
per-rank timeline, with its causes (checker/cause.py) and the ranks side by side
(checker/sidebyside.py); or what was proved, to which bound, with a run that exercises it.

The headline says which level of agreement the result speaks about and whether the
configuration is the engine's or a model what-if (naming it)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import z3
from ranksync.spec.config import ModelConfig
from ranksync.spec.ops import PyOps
from ranksync.spec.properties import PROPERTIES, Pred, Property
from ranksync.spec.state import DONE, FAILED_OUT
from ranksync.spec.variants import get_variant

from . import bmc, cause_query
from .cause import KIND_WORDS, Analysis, analyse
from .cause_text import describe
from .minimise import minimise
from .prove import bound_of
from .scenario import Scenario, from_model
from .sidebyside import side_by_side
from .timeline import render

VACUOUS = "VACUOUS"
# the three levels of agreement a reviewer can quote, weakest first
LEVELS = {"seed_claim": "the two numbers agree", "agreement": "the branches agree",
          "handoff_agreement": "the inputs to the forward agree"}
EXERCISED = "<== the property is exercised here"


@dataclass
class Explanation:
    verdict: str
    cfg: ModelConfig
    variant: str
    prop: str
    step: int | None
    scenario: Scenario | None
    trace: dict[str, Any] | None
    text: str
    analysis: Analysis | None = None
    cause: str | None = None  # the --cause asked for
    cause_found: bool | None = None  # with --cause: a counterexample of that kind exists

    def to_json(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "variant": self.variant, "property": self.prop,
                "level": LEVELS.get(self.prop), "configuration": config_label(self.cfg),
                "topology": self.cfg.topology, "tp_size": self.cfg.tp_size, "step": self.step,
                "bound": bound_of(self.cfg), "cause_asked": self.cause,
                "cause_found": self.cause_found,
                "causes": self.analysis.to_json() if self.analysis else None,
                "trace": self.trace, "text": self.text}


def config_label(cfg: ModelConfig) -> str:
    """engine (topology a, shared history, shared or no pool pressure) or model what-if."""
    if cfg.what_ifs:
        return "model what-if: " + "; ".join(cfg.what_ifs)
    restricted = [x for x, on in [("fresh buffers (stale = zeros)", cfg.stale == "zeros"),
                                  ("no faults", not cfg.faults),
                                  ("no other requests", cfg.pool_pressure == "none")] if on]
    return ("engine: topology a, leftovers from a shared history, other requests alike on "
            "every rank" + (f" (restricted to {', '.join(restricted)})" if restricted else ""))


def headline(verdict: str, variant: str, cfg: ModelConfig, prop: Property) -> list[str]:
    level = LEVELS.get(prop.name)
    head = f"{verdict}: {variant} / topology {cfg.topology} / T={cfg.tp_size}: {prop.name} " \
           f"({prop.kind})"
    if level and verdict == bmc.VIOLATED:
        head += f' -- "{level}" does NOT hold'
    elif level and verdict == bmc.PROVED:
        head += f' -- "{level}" holds within the bound'
    out = [head]
    if level:
        others = [f'"{v}" is {k}' for k, v in LEVELS.items() if k != prop.name]
        out.append(f'level: this result is about "{level}" only; ' + " and ".join(others) +
                   ", each decided on its own")
    out += [f"configuration: {config_label(cfg)}", f"property: {prop.doc}",
            f"bound: depth {cfg.depth} iterations, L in {list(cfg.length_range)}, block_size in "
            f"{list(cfg.block_sizes)}, default_allocate_tokens in "
            f"{list(cfg.default_alloc_range)}, pool {cfg.pool_blocks} blocks/rank, stale rows: "
            f"{cfg.stale}, faults: {cfg.faults}, pool pressure: {cfg.pool_pressure} "
            f"(held at start {list(cfg.held)})"]
    return out


def explain(cfg: ModelConfig, variant: str, prop_name: str, timeout_ms: int = 120_000,
            verbose: bool = False, cause: str | None = None) -> Explanation:
    """Explain one property. `cause` (stale | fault | pool | none): show a counterexample
    whose causes include that kind of ingredient (none: a run without any ingredient)."""
    prop = PROPERTIES[prop_name]
    u = bmc.build(cfg, get_variant(variant), timeout_ms)
    if cause is not None:
        return _explain_cause(u, variant, prop, cause, verbose)
    res = bmc.check_property(u, prop, shortest=True)
    if res.verdict == bmc.VIOLATED:
        assert res.model is not None and res.step is not None
        goal = z3.Or(*bmc._terms(u, prop.bad)[: res.step + 1])
        return _violation(u, variant, prop, goal, res.model, verbose)
    if res.verdict == bmc.PROVED:
        return _proved(u, variant, prop, verbose)
    return _unknown(u, variant, prop, res.reason)


def _unknown(u: bmc.Unrolling, variant: str, prop: Property, why: str) -> Explanation:
    text = "\n".join(headline(bmc.UNKNOWN, variant, u.cfg, prop) + [f"solver: {why}"])
    return Explanation(bmc.UNKNOWN, u.cfg, variant, prop.name, None, None, None, text)


def _explain_cause(u: bmc.Unrolling, variant: str, prop: Property, cause: str,
                   verbose: bool) -> Explanation:
    goals = cause_query.goals(u, prop, cause)
    r, k, m, why = bmc._first_sat(u, goals, shortest=True)
    if r == "sat":
        assert k is not None and m is not None
        ex = _violation(u, variant, prop, z3.Or(*goals[: k + 1]), m, verbose, cause)
        ex.cause, ex.cause_found = cause, True
        return ex
    if r != "sat" and r != "unsat":
        return _unknown(u, variant, prop, why)
    # none of that kind: say whether the property is violated at all
    res = bmc.check_property(u, prop)
    none = ("no counterexample without any leftover aux row, fault or pool event" if
            cause == "none" else f"no counterexample whose causes include {KIND_WORDS[cause]}"
            ) + " exists within the bound"
    if res.verdict == bmc.VIOLATED:
        text = headline(bmc.VIOLATED, variant, u.cfg, prop) + [
            none + "; the property is violated by other runs: `" +
            reproduce(variant, prop.name, u.cfg).removeprefix("reproduce: ") + "` shows one"]
        return Explanation(bmc.VIOLATED, u.cfg, variant, prop.name, None, None, None,
                           "\n".join(text), cause=cause, cause_found=False)
    if res.verdict == bmc.PROVED:
        ex = _proved(u, variant, prop, verbose)
        ex.text += "\n" + none + " (the property holds)"
        ex.cause, ex.cause_found = cause, False
        return ex
    return _unknown(u, variant, prop, res.reason)


def _violation(u: bmc.Unrolling, variant: str, prop: Property, goal: Any, m: z3.ModelRef,
               verbose: bool, cause: str | None = None) -> Explanation:
    cfg = u.cfg
    m = minimise(u, goal, m)
    k = bmc.first_step(u, m, bmc._terms(u, prop.bad))
    sc = from_model(u, m, k)
    run = sc.replay()
    _confirm(cfg, prop.bad, run, k)
    an = analyse(sc, prop, run)
    _confirm_cause(an, cause)
    tr = sc.trace(f"{variant}-{cfg.topology}-T{cfg.tp_size}-{prop.name}", run)
    title = "\n".join(headline(bmc.VIOLATED, variant, cfg, prop))
    lines = [render(sc, tr, title, focus={k}, verbose=verbose)]
    side = side_by_side(prop.name, cfg, run, k, sc.length)
    lines += side + describe(sc, run, an) + [reproduce(variant, prop.name, cfg, cause)]
    return Explanation(bmc.VIOLATED, cfg, variant, prop.name, k, sc, tr, "\n".join(lines), an,
                       cause)


def _confirm_cause(an: Analysis, cause: str | None) -> None:
    """The concrete but-for test must agree with the solver's (guards cause_query)."""
    if cause is None:
        return
    ok = not an.present if cause == "none" else cause in an.kinds()
    if not ok:
        raise RuntimeError(f"internal error: the solver's run has no {cause} cause on the "
                           "concrete replay; please report this with the command line")


def _handed_off(o: Any, cfg: ModelConfig, run: Any, k: int) -> Any:
    """Every rank has handed the request to the TP forward by the end of step k."""
    st = run.states[k + 1]
    return o.And(o.Not(st.deadlock), *[lr.phase == DONE for lr in st.lang])


def _left_queues(o: Any, cfg: ModelConfig, run: Any, k: int) -> Any:
    """Every rank has taken the request out of its queues by the end of step k."""
    st = run.states[k + 1]
    return o.And(o.Not(st.deadlock), *[o.Or(lr.phase == DONE, lr.phase == FAILED_OUT)
                                       for lr in st.lang])


def witness(u: bmc.Unrolling, prop: Property) -> tuple[bmc.Result, int | None]:
    """A run that exercises the property (its premise holds at some step), preferring, each
    within a short solver budget, one that goes on until every rank has handed the request
    off without any leftover row, fault or pool event (the whole protocol, nominal), then one
    until every rank has handed it off, then one until every rank has taken it out of its
    queues. Returns the result and the last step to show."""
    terms = bmc._terms(u, prop.premise)
    quick = replace(u, timeout_ms=min(u.timeout_ms, 60_000))
    clean = z3.And(*cause_query.no_ingredients(u))
    for end_pred, extra in [(_handed_off, clean), (_handed_off, True), (_left_queues, True)]:
        done = bmc._terms(u, end_pred)
        _r, m, _why = bmc.solve(quick, z3.And(extra, z3.Or(*[
            z3.And(terms[j], z3.Or(*done[j:])) for j in range(len(terms))])))
        if m is not None:
            j = bmc.first_step(u, m, terms)
            end = next(i for i in range(j, len(done))
                       if z3.is_true(m.eval(done[i], model_completion=True)))
            return bmc.Result(bmc.REACHABLE, j, m), end
    w = bmc.check_reachable(u, prop.premise)
    return w, w.step


def _proved(u: bmc.Unrolling, variant: str, prop: Property, verbose: bool) -> Explanation:
    cfg = u.cfg
    lines = headline(bmc.PROVED, variant, cfg, prop)
    lines.append(f"no run of at most {cfg.depth} iterations violates it.")
    w, end = witness(u, prop)
    if w.verdict == bmc.REACHABLE and w.model is not None and end is not None:
        sc = from_model(u, w.model, end)
        run = sc.replay()
        o = PyOps(cfg.block_sizes)
        marks = {k for k in range(len(run.steps)) if prop.premise(o, cfg, run, k)}
        if not marks:
            raise RuntimeError("internal error: the concrete replay does not exercise the "
                               "property; please report this with the command line")
        tr = sc.trace("witness", run)
        lines.append(render(sc, tr, "a run that exercises it (premise: the situation in which "
                                    "the property says something):", focus=marks,
                            verbose=verbose, mark=EXERCISED))
        lines += side_by_side(prop.name, cfg, run, min(marks), sc.length)
        return Explanation(bmc.PROVED, cfg, variant, prop.name, min(marks), sc, tr,
                           "\n".join(lines))
    if w.verdict == bmc.UNKNOWN:
        lines.append(f"premise: UNKNOWN ({w.reason}) -- whether the proof is vacuous is "
                     "undecided")
        return Explanation(bmc.UNKNOWN, cfg, variant, prop.name, None, None, None,
                           "\n".join(lines))
    lines.append(f"premise: {w.verdict} -- the proof is vacuous: no run within the bound is "
                 "in the situation the property speaks about")
    return Explanation(VACUOUS, cfg, variant, prop.name, None, None, None, "\n".join(lines))


def _confirm(cfg: ModelConfig, bad: Pred, run: Any, k: int) -> None:
    """The concrete model must reproduce what the solver found (guards the Ops abstraction)."""
    if not bad(PyOps(cfg.block_sizes), cfg, run, k):
        raise RuntimeError("internal error: the concrete replay does not violate the property "
                           "the solver reported; please report this with the command line")


def reproduce(variant: str, prop: str, cfg: ModelConfig, cause: str | None = None) -> str:
    cmd = f"ranksync explain {variant} {prop} --topology {cfg.topology} --ranks {cfg.tp_size}"
    if cfg.topology == "a" and cfg.embedding_tp_size != 1:
        cmd += f" --embedding-ranks {cfg.embedding_tp_size}"
    if cfg.receivers is not None:
        cmd += " --receivers " + ",".join(map(str, cfg.receivers))
    if not cfg.faults:
        cmd += " --no-faults"
    if cfg.stale != "history":
        cmd += f" --stale {cfg.stale}"
    if cfg.pool_pressure != "shared":
        cmd += f" --pool-pressure {cfg.pool_pressure}"
    if cause:
        cmd += f" --cause {cause}"
    return f"reproduce: {cmd}"
