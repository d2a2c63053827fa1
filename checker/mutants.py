"""`ranksync mutants`: mutation adequacy of the properties and of conformance.

Each mutant (spec/variants.py, docs/trace-format.md "Mutants") is applied by the model and by
the reference independently. It is *killed on the model side* when some obligation (property
or witness) changes verdict against its base variant, and *killed on the reference side* when
the reference running the mutant diverges on the base variant's traces. Self-conformance
(the mutant's own model traces replayed on the mutant reference) checks that both sides
apply the same mutation.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Any

import click
from ranksync.spec.variants import MUTANTS, VARIANTS

from .config import ProveConfig
from .conformance import first_divergence, trace_set
from .prove import check_group


@dataclass
class Kill:
    mutant: str
    base: str
    model_flips: list[str] = field(default_factory=list)
    ref_divergent: int = 0
    ref_traces: int = 0
    ref_example: str = ""
    self_divergent: int = 0
    self_traces: int = 0

    @property
    def killed_model(self) -> bool:
        return bool(self.model_flips)

    @property
    def killed_reference(self) -> bool:
        return self.ref_divergent > 0

    @property
    def ok(self) -> bool:
        return self.killed_model and self.killed_reference and self.self_divergent == 0

    def to_json(self) -> dict[str, Any]:
        return {"mutant": self.mutant, "base": self.base, "model_flips": self.model_flips,
                "killed_model": self.killed_model, "killed_reference": self.killed_reference,
                "reference_divergent": self.ref_divergent, "reference_traces": self.ref_traces,
                "reference_example": self.ref_example, "self_divergent": self.self_divergent,
                "self_traces": self.self_traces, "ok": self.ok}


def _replay(tr: dict[str, Any], variant: str) -> Any:
    from ranksync.reference.runner import run_trace

    try:
        got = run_trace(dict(tr, variant=variant)).to_expected()
    except Exception as e:  # a crash or deadlock of the reference is a divergence too
        return f"{type(e).__name__}: {e}"
    return first_divergence(tr["expected"], got)


def kill_matrix(pc: ProveConfig, mutants: list[str], base: str = "seed",
                random_runs: int = 10) -> list[Kill]:
    groups = [(t, n) for t in pc.topologies for n in pc.tp_sizes]
    base_rows = {(t, n): {(r.kind, r.name): r.verdict for r in check_group(pc, base, t, n)}
                 for t, n in groups}
    base_traces: dict[str, dict[str, Any]] = {}
    for t, n in groups:
        base_traces |= trace_set(pc.model_config(n, t), base, random_runs, pc.seed)
    out = []
    for m in mutants:
        k = Kill(m, base)
        for t, n in groups:
            for r in check_group(pc, m, t, n):
                b = base_rows[(t, n)].get((r.kind, r.name))
                if b != r.verdict:
                    k.model_flips.append(f"{r.name} (topology {t}, T={n}): {b} -> {r.verdict}")
        for name, tr in base_traces.items():
            k.ref_traces += 1
            d = _replay(tr, m)
            if d is not None:
                k.ref_divergent += 1
                k.ref_example = k.ref_example or f"{name}: {d}"
        for t, n in groups:
            for _name, tr in trace_set(pc.model_config(n, t), m, random_runs, pc.seed,
                                       bmc_witnesses=False).items():
                k.self_traces += 1
                k.self_divergent += _replay(tr, m) is not None
        out.append(k)
    return out


def cache_inputs(pc: ProveConfig, names: list[str]) -> dict[str, Any]:
    """What a kill matrix depends on (checker/cache.py adds the sources)."""
    from .cache import prove_inputs

    return {"config": prove_inputs(pc), "mutants": sorted(names)}


@click.command()
@click.option("--config", "config_path", type=click.Path())
@click.option("--tp-sizes", default="2", show_default=True)
@click.option("--topologies", default="a,b", show_default=True)
@click.option("--only", help="comma-separated mutant names (default: all)")
@click.option("--json", "as_json", is_flag=True)
def mutants(config_path: str | None, tp_sizes: str, topologies: str, only: str | None,
            as_json: bool) -> None:
    """Kill matrix: which property and which conformance check kills each mutant."""
    from .cliutil import fail_input, load_config, require_torch

    require_torch("mutants")
    pc = load_config(config_path)
    try:
        pc.tp_sizes = [int(x) for x in tp_sizes.split(",")]
    except ValueError:
        fail_input(f"--tp-sizes: expected integers, got {tp_sizes!r}")
    pc.topologies = topologies.split(",")
    names = only.split(",") if only else list(MUTANTS)
    bad = [n for n in names if n not in MUTANTS]
    if bad:
        fail_input(f"unknown mutant(s) {bad}; known: {', '.join(MUTANTS)}")
    ks = kill_matrix(pc, names)
    from . import cache

    cache.put("mutants", cache_inputs(pc, names), [k.to_json() for k in ks])
    if as_json:
        click.echo(json.dumps([k.to_json() for k in ks], indent=1))
    else:
        for k in ks:
            d = VARIANTS[k.mutant].description
            click.echo(f"{k.mutant} ({d}) -- {'killed' if k.ok else 'NOT KILLED'}")
            click.echo(f"  model: {len(k.model_flips)} verdict(s) flipped"
                       + "".join(f"\n    {f}" for f in k.model_flips[:4]))
            click.echo(f"  reference: {k.ref_divergent}/{k.ref_traces} base traces diverge"
                       + (f"\n    e.g. {k.ref_example[:300]}" if k.ref_example else ""))
            click.echo(f"  self-conformance: {k.self_traces - k.self_divergent}/"
                       f"{k.self_traces} mutant traces conform")
    sys.exit(0 if all(k.ok for k in ks) else 1)
