"""The trace set `ranksync history` runs on every commit, and the model's expectations.

A *run* is one (scenario, schedule): the engine's behaviour depends on nothing else, so the
same schedule found by several variants' trace sets is run once. For every variant or design
compared, the model's expected events for each run are computed by replaying the schedule on
the model (milliseconds per run, once per trace set; SandTable's split: model steps are
cheap, engine runs are not).

Default set: the model's trace sets (every branch and premise witness the seeded simulation
reaches, every counterexample, seeded random runs) of `prefix` and `seed`, topology a,
T in {1, 2, 4} x E in {1, 2, 4} (E > T included).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = 1
DEFAULT_LAYOUTS = tuple((t, e) for t in (1, 2, 4) for e in (1, 2, 4))
DEFAULT_VARIANTS = ("prefix", "seed")
COMPARED = ("prefix", "seed", "gate", "hardened_lang", "hardened")


@dataclass
class TraceSet:
    runs: list[dict[str, Any]]  # {"id", "names", "trace"}
    params: dict[str, Any]
    digest: str


def code_digest(*dirs: str) -> str:
    """Hash of the sources a result depends on (a change invalidates the cache)."""
    root = Path(__file__).resolve().parents[2]
    h = hashlib.sha256()
    for d in dirs:
        for p in sorted((root / d).rglob("*")):
            if p.suffix in (".py", ".toml") and "__pycache__" not in p.parts:
                h.update(str(p.relative_to(root)).encode())
                h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _key(trace: dict[str, Any]) -> str:
    s = dict(trace["scenario"], rid="")
    return hashlib.sha256(json.dumps([s, trace["schedule"]], sort_keys=True).encode()
                          ).hexdigest()


def dedupe(traces: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One run per (scenario, schedule); each gets its own rid (logs stay apart)."""
    runs: dict[str, dict[str, Any]] = {}
    for tr in traces:
        s = tr["scenario"]
        label = f"{tr.get('name', 'trace')}@E{s.get('embedding_tp_size', s['tp_size'])}"
        k = _key(tr)
        if k in runs:
            runs[k]["names"].append(label)
            continue
        run_id = label
        n = 2
        while any(r["id"] == run_id for r in runs.values()):
            run_id, n = f"{label}#{n}", n + 1
        t = json.loads(json.dumps(tr))
        t["scenario"]["rid"] = f"r{len(runs)}"
        t["name"] = run_id
        t["expected"] = _rerender(t)
        runs[k] = {"id": run_id, "names": [label], "trace": t}
    return list(runs.values())


def _rerender(tr: dict[str, Any]) -> list[dict[str, Any]]:
    from ..conformance import model_expected

    return model_expected(tr)


def generate(random_runs: int = 3, seed: int = 0, layouts: Iterable[tuple[int, int]] =
             DEFAULT_LAYOUTS, variants: Iterable[str] = DEFAULT_VARIANTS) -> list[dict[str, Any]]:
    from ranksync.spec.config import ModelConfig

    from ..conformance import trace_set

    out = []
    for t, e in layouts:
        cfg = ModelConfig(tp_size=t, topology="a", embedding_tp_size=e, depth=6)
        for v in variants:
            out += list(trace_set(cfg, v, random_runs, seed, bmc_witnesses=False).values())
    return out


def default_set(cache: Path | None, random_runs: int = 3) -> TraceSet:
    params = {"layouts": [list(x) for x in DEFAULT_LAYOUTS], "variants": list(DEFAULT_VARIANTS),
              "random_runs": random_runs, "seed": 0, "depth": 6, "model": code_digest("spec")}
    name = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    path = cache / f"traceset-{name}.json" if cache else None
    if path is not None and path.is_file():
        return from_json(json.loads(path.read_text()))
    runs = dedupe(generate(random_runs))
    ts = TraceSet(runs, params, _digest(runs))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(to_json(ts)))
    return ts


def from_files(paths: list[Path]) -> TraceSet:
    from ..enginediff.traces import load_trace

    runs = dedupe(load_trace(p) for p in paths)
    return TraceSet(runs, {"files": [str(p) for p in paths]}, _digest(runs))


def _digest(runs: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps([r["trace"] for r in runs], sort_keys=True).encode()
                          ).hexdigest()[:16]


def to_json(ts: TraceSet) -> dict[str, Any]:
    return {"schema_version": SCHEMA, "params": ts.params, "digest": ts.digest, "runs": ts.runs}


def from_json(d: dict[str, Any]) -> TraceSet:
    return TraceSet(d["runs"], d["params"], d["digest"])


def expectations(ts: TraceSet, variants: Iterable[str], cache: Path | None
                 ) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """variant -> run id -> the model's expected events for that run's schedule."""
    from ..conformance import model_expected

    key = hashlib.sha256(json.dumps([ts.digest, sorted(variants), code_digest("spec")]
                                    ).encode()).hexdigest()[:16]
    path = cache / f"expected-{key}.json" if cache else None
    if path is not None and path.is_file():
        return dict(json.loads(path.read_text()))
    out: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for v in variants:
        out[v] = {r["id"]: model_expected(dict(r["trace"], variant=v)) for r in ts.runs}
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(out))
    return out


def file_name(run_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_@" else "-" for c in run_id) + ".json"


def save(ts: TraceSet, out: Path) -> None:
    """Every run as a trace file (its first source variant's expectation), named by run id."""
    out.mkdir(parents=True, exist_ok=True)
    for r in ts.runs:
        (out / file_name(r["id"])).write_text(json.dumps(r["trace"], indent=1))
