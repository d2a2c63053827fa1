"""The report's optional sections (mutation kill matrix, conformance replay, engine-diff): run
through their modules, read from JSON, or "not run" with the reason; generic tabulation."""

from __future__ import annotations

import inspect
import json
import time
from collections import Counter
from collections.abc import Callable
from importlib import import_module
from pathlib import Path
from typing import Any

import click
from ranksync.spec.properties import PROPERTIES
from ranksync.spec.variants import MUTANTS, VARIANTS

from .cells import PROVED, VIOLATED


def _call_flexible(fn: Callable[..., Any], **avail: Any) -> Any:
    """Call fn with the subset of `avail` its signature names; TypeError if it needs more."""
    sig = inspect.signature(fn)
    kw: dict[str, Any] = {}
    for name, p in sig.parameters.items():
        if name in avail:
            kw[name] = avail[name]
        elif p.default is inspect.Parameter.empty and p.kind not in (
                p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TypeError(f"{fn.__qualname__} needs argument {name!r}")
    return fn(**kw)


def _load_json(path: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise click.UsageError(f"cannot read JSON results {path}: {e}") from None


def optional_section(title: str, json_path: str | None, module: str, func: str,
                     **avail: Any) -> dict[str, Any]:
    """{"status": "ok" | "not run" | "error", "data", "note", "seconds", "source"}."""
    t0 = time.perf_counter()
    if json_path:
        return {"title": title, "status": "ok", "data": _load_json(json_path),
                "note": "", "source": json_path, "seconds": 0.0}
    try:
        fn = getattr(import_module(module), func)
    except (ModuleNotFoundError, AttributeError) as e:
        return {"title": title, "status": "not run", "data": None, "source": "",
                "note": f"{module}.{func} is not available ({e})", "seconds": 0.0}
    try:
        data = _call_flexible(fn, **avail)
    except Exception as e:  # noqa: BLE001 - the report must still be written
        return {"title": title, "status": "error", "data": None, "source": f"{module}.{func}",
                "note": f"{type(e).__name__}: {e}", "seconds": time.perf_counter() - t0}
    return {"title": title, "status": "ok", "data": data, "source": f"{module}.{func}",
            "note": "", "seconds": time.perf_counter() - t0}


def kill_from_rows(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """A kill matrix from prove rows when the config checks mutant variants: a mutant is
    killed by a property that it violates where `seed` does not (same topology and T)."""
    props = [r for r in rows if r["kind"] == "property"]
    seed = {(r["topology"], r["tp_size"], r["name"]): r["verdict"] for r in props
            if r["variant"] == "seed"}
    muts = sorted({r["variant"] for r in props if r["variant"] in MUTANTS})
    if not muts or not seed:
        return None
    matrix_: dict[str, dict[str, str]] = {}
    for m in muts:
        row: dict[str, str] = {}
        for p in PROPERTIES:
            killed = [r for r in props if r["variant"] == m and r["name"] == p
                      and r["verdict"] == VIOLATED
                      and seed.get((r["topology"], r["tp_size"], p)) == PROVED]
            row[p] = (f"killed (T={min(r['tp_size'] for r in killed)})" if killed else "—")
        matrix_[m] = row
    return {"matrix": matrix_, "derived_from": "prove rows (mutant variants in the config)"}


def table_of(data: Any) -> dict[str, Any] | None:
    """Best-effort tabulation of a section's JSON: {"head", "rows", "summary"} or None."""
    if isinstance(data, dict):
        summary = {k: v for k, v in data.items()
                   if isinstance(v, (str, int, float, bool)) or v is None}
        for key in ("matrix", "kill_matrix"):
            m = data.get(key)
            if isinstance(m, dict) and m and all(isinstance(v, dict) for v in m.values()):
                cols = list(dict.fromkeys(c for v in m.values() for c in v))
                return {"head": ["", *cols], "summary": summary,
                        "rows": [[str(k), *[_cellstr(v.get(c)) for c in cols]]
                                 for k, v in m.items()]}
        for key in ("results", "rows", "traces", "mutants"):
            lst = data.get(key)
            if isinstance(lst, list) and lst and all(isinstance(x, dict) for x in lst):
                t = _list_table(lst)
                t["summary"] = summary
                return t
        if summary:
            return {"head": [], "rows": [], "summary": summary}
        return None
    if isinstance(data, list) and data and all(isinstance(x, dict) for x in data):
        t = _list_table(data)
        t["summary"] = {}
        return t
    return None


def _cellstr(v: Any) -> str:
    if v is True:
        return "yes"
    if v is False:
        return "no"
    if v is None:
        return "—"
    if isinstance(v, (dict, list)):
        return json.dumps(v, separators=(",", ":"))[:80]
    return str(v)


def _list_table(lst: list[dict[str, Any]]) -> dict[str, Any]:
    cols = [c for c in dict.fromkeys(k for x in lst for k in x)
            if not any(isinstance(x.get(c), (dict, list)) and c != "divergence" for x in lst)]
    if any(c in cols for c in ("name", "trace")):
        cols = [c for c in cols if c != "path"]
    cols = cols[:8]
    return {"head": cols, "rows": [[_cellstr(x.get(c)) for c in cols] for x in lst]}


def _status_counts(data: Any) -> str:
    lst = data.get("results") if isinstance(data, dict) else data
    if isinstance(lst, list) and lst and all(isinstance(x, dict) for x in lst):
        c = Counter(str(x["status"]) if "status" in x else
                    ("pass" if x.get("ok") else "diverged/failed") for x in lst)
        return ", ".join(f"{n} {s}" for s, n in c.most_common())
    if isinstance(data, dict) and "ok" in data:
        return "ok" if data["ok"] else "FAILED"
    return ""


def kill_table(data: Any) -> Any:
    """The mutants module's result (Kill objects or their JSON) as a mutant x property matrix
    plus the reference columns; anything else is passed through."""
    if not isinstance(data, list) or not data:
        return data
    items = [x.to_json() if hasattr(x, "to_json") else x for x in data]
    if not all(isinstance(x, dict) and "mutant" in x for x in items):
        return items
    m: dict[str, dict[str, str]] = {}
    for x in items:
        flips = [str(f) for f in x.get("model_flips", [])]
        row: dict[str, str] = {
            "verdict": "killed" if x.get("ok") else "NOT KILLED",
            "reference": (f"killed {x.get('reference_divergent')}/{x.get('reference_traces')}"
                          if x.get("killed_reference") else
                          f"survived 0/{x.get('reference_traces')}")}
        for p in PROPERTIES:
            hit = [f for f in flips if f.startswith(p + " (")]
            where = []
            for f in hit:  # "name (topology b, T=2): PROVED -> VIOLATED"
                inner = f[len(p) + 2:].split(")")[0].replace("topology ", "").split(", T=")
                where.append("·T".join(inner))
            row[p] = "killed " + ", ".join(where) if hit else "—"
        other = [f for f in flips if f.split(" (")[0] not in PROPERTIES]
        row["witnesses flipped"] = str(len(other)) if other else "—"
        row["mutation"] = VARIANTS[x["mutant"]].description if x["mutant"] in VARIANTS else ""
        m[x["mutant"]] = row
    return {"matrix": m, "mutants": items}


def _not_run(title: str, note: str) -> dict[str, Any]:
    return {"title": title, "status": "not run", "data": None, "note": note, "source": "",
            "seconds": 0.0}


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError:
        return ""


def _engine_diff(src: str, traces: list[str]) -> dict[str, Any]:
    t0 = time.perf_counter()
    traces = [t for t in traces if json.loads(Path(t).read_text()).get("variant")
              in ("seed", "prefix")]
    if not traces:
        return _not_run("engine-diff", "no seed/prefix counterexample traces")
    try:
        from ..enginediff.driver import run_traces

        results, about = run_traces(src, traces, variant_check=True)
    except Exception as e:  # noqa: BLE001 - shown in the report
        return {"title": "engine-diff", "status": "error", "data": None, "source": src,
                "note": f"{type(e).__name__}: {e}", "seconds": time.perf_counter() - t0}
    failed = any(r.status in ("diverged", "error") for r in results)
    return {"title": "engine-diff", "status": "ok", "source": src, "note": about,
            "data": {"engine": about, "ok": not failed,
                     "results": [r.to_json() for r in results]},
            "seconds": time.perf_counter() - t0}
