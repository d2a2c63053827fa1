"""`ranksync report`: the design-review evidence as one self-contained HTML page and a Markdown
version for pull requests.

Sections: the claim under review and, per design, one sentence that answers it; the designs
compared (one row per variant and topology, one column per property, each cell the strength
the ledger of checker/ledger.py gives it); the property x variant x topology matrix; every
counterexample (smallest violating T, via `explain`) as a rank swimlane with its block
placement, log lines and a reproduce command; witnesses; the mutation kill matrix;
conformance replay and engine-diff summaries; versions, configuration, wall times and prove
time against T.

Optional sections (mutants, replay, engine-diff) are run through their modules when those
exist, or read from JSON given on the command line; a missing module shows "not run".
"""

from __future__ import annotations

import copy
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from ranksync.spec.variants import MUTANTS

from ..config import ProveConfig
from ..limits import writable_dir, writable_file
from .counterexamples import _progress, counterexample_targets, run_counterexamples
from .render import build, junit_report, render, summary_table, versions
from .sections import (
    _engine_diff,
    _load_json,
    _not_run,
    _read,
    kill_from_rows,
    kill_table,
    optional_section,
)
from .verdicts import LEVEL_PROPS


def load_rows(paths: list[str]) -> tuple[list[dict[str, Any]], float, str | None]:
    """Rows of one or more `prove --json` (or `witnesses --json`) outputs; later files win."""
    by_key: dict[tuple[Any, ...], dict[str, Any]] = {}
    wall, cfg = 0.0, None
    for p in paths:
        d = _load_json(p)
        rows = d.get("rows") if isinstance(d, dict) else d
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise click.UsageError(f"{p}: not the JSON of `ranksync prove --json`")
        need = {"variant", "topology", "tp_size", "kind", "name", "verdict"}
        for r in rows:
            if not need <= r.keys():
                raise click.UsageError(f"{p}: a row lacks {sorted(need - r.keys())}")
            r.setdefault("ok", r.get("verdict") == r.get("expected"))
            by_key[(r["variant"], r["topology"], r["tp_size"], r["kind"], r["name"])] = r
        if isinstance(d, dict):
            wall += float(d.get("wall_seconds") or 0.0)
            cfg = d.get("config") or cfg
    return list(by_key.values()), wall, cfg


def run_prove(pc: ProveConfig, jobs: int | None) -> tuple[list[dict[str, Any]], float]:
    from ..progress import run_with_progress

    rows, wall = run_with_progress(pc, jobs)
    return [r.to_json() for r in rows], wall


def pyproject_settings() -> dict[str, Any]:
    """[tool.ranksync.report] of ./pyproject.toml: defaults for out, tp_sizes, engine_src."""
    p = Path.cwd() / "pyproject.toml"
    if not p.is_file():
        return {}
    import tomllib

    try:
        tool = tomllib.loads(p.read_text(encoding="utf-8")).get("tool", {}).get("ranksync", {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return {}
    rep = tool.get("report", {}) if isinstance(tool, dict) else {}
    return rep if isinstance(rep, dict) else {}


@click.command("report")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), callback=writable_dir,
              help="output directory (default: report, or [tool.ranksync.report] out)")
@click.option("--config", "config_path", type=click.Path(), help="TOML config (as for prove)")
@click.option("--from-json", "from_json", multiple=True, type=click.Path(exists=True,
              dir_okay=False), help="reuse `ranksync prove --json` output (repeatable)")
@click.option("--tp-sizes", callback=lambda c, p, v: _csv(c, p, v),
              help="when proving here: limit T, e.g. 1,2")
@click.option("--jobs", type=int, help="worker processes (default from the config, at most the CPU count)")
@click.option("--counterexamples", "cex_mode", type=click.Choice(["levels", "all", "none"]),
              default="levels", show_default=True,
              help="explain the violated cells of the first screen's three levels (seed_claim, "
              "agreement, handoff_agreement), every violated cell, or none; the others show "
              "their `ranksync explain` command")
@click.option("--no-counterexamples", is_flag=True, help="same as --counterexamples none")
@click.option("--mutants", "mutants_mode", type=click.Choice(["cached", "run"]),
              default="cached", show_default=True,
              help="the kill matrix of an earlier `ranksync mutants` with the same sources and "
              "config (else not run: it takes minutes), or run it here")
@click.option("--mutants-json", type=click.Path(exists=True, dir_okay=False),
              help="reuse a kill matrix (JSON) instead of running mutants")
@click.option("--replay-json", type=click.Path(exists=True, dir_okay=False),
              help="reuse a conformance replay summary (JSON)")
@click.option("--engine-diff-json", type=click.Path(exists=True, dir_okay=False),
              help="reuse `ranksync engine-diff --json` output")
@click.option("--engine-src", type=click.Path(), help="run engine-diff on the counterexample "
              "traces against this checkout (or $RANKSYNC_ENGINE_SRC)")
@click.option("--history-json", type=click.Path(exists=True, dir_okay=False),
              help="`ranksync history --json` output: the engine history section")
@click.option("--mutant-tp-sizes", callback=lambda c, p, v: _csv(c, p, v),
              help="T for the mutation kill matrix (default 2)")
@click.option("--skip", multiple=True, type=click.Choice(["mutants", "replay", "engine-diff"]),
              help="do not run this section (repeatable)")
@click.option("--junit", type=click.Path(dir_okay=False), callback=writable_file,
              help="also write JUnit XML here")
@click.option("--strict", is_flag=True, help="exit 1 if an obligation is not as declared")
def report(out_dir: str | None, config_path: str | None, from_json: tuple[str, ...],
           tp_sizes: list[int] | None, jobs: int | None, cex_mode: str,
           no_counterexamples: bool, mutants_mode: str, mutants_json: str | None,
           replay_json: str | None, engine_diff_json: str | None, engine_src: str | None,
           mutant_tp_sizes: list[int] | None, skip: tuple[str, ...], junit: str | None,
           strict: bool, history_json: str | None = None) -> None:
    """Write the design-review evidence as OUT/index.html (self-contained) and OUT/report.md.

    Reuses what is there: the rows of an earlier `ranksync prove` of the same config and
    sources (checker/cache.py) or --from-json, cached counterexamples and kill matrix."""
    from .. import cache
    from ..cliutil import console, fail_input, load_config
    from ..limits import check_jobs, check_writable

    t_start = time.perf_counter()
    settings = pyproject_settings()
    out = Path(out_dir or settings.get("out") or "report")
    problem = check_writable(out, "report directory", directory=True)
    if problem:
        fail_input(problem)
    problem = check_jobs(jobs)
    if problem:
        fail_input(problem)
    con = console()
    reused: list[str] = []
    rows: list[dict[str, Any]]
    if from_json:
        rows, prove_wall, json_cfg = load_rows(list(from_json))
        if not config_path and json_cfg and Path(json_cfg).is_file():
            config_path = json_cfg
        pc = load_config(config_path)
        source = "reused: " + ", ".join(from_json)
        reused.append("prove")
    else:
        pc = load_config(config_path)
        tps = tp_sizes or settings.get("tp_sizes")
        if tps:
            pc.tp_sizes = [int(t) for t in tps]
        hit = cache.get("prove", cache.prove_inputs(pc))
        if hit is not None:
            rows, prove_wall = hit["rows"], float(hit["wall_seconds"])
            source = (f"reused from the cache of an earlier `ranksync prove` of this config "
                      f"and these sources (T ∈ {pc.tp_sizes})")
            reused.append("prove")
        else:
            rows, prove_wall = run_prove(pc, jobs)
            cache.put("prove", cache.prove_inputs(pc), {"rows": rows,
                                                       "wall_seconds": prove_wall})
            source = f"run here (T ∈ {pc.tp_sizes})"
    if not rows:
        raise click.UsageError("no obligations to report")
    jobs_n = jobs or pc.jobs
    t0 = time.perf_counter()
    mode = "none" if no_counterexamples else cex_mode
    targets = counterexample_targets(rows, None if mode == "all" else LEVEL_PROPS) \
        if mode != "none" else []
    cfg_arg = config_path if config_path else None
    cexs = run_counterexamples(pc, targets, jobs_n, cfg_arg)
    cex_wall = time.perf_counter() - t0
    out.mkdir(parents=True, exist_ok=True)
    tdir = out / "traces"
    tdir.mkdir(exist_ok=True)
    for old in tdir.glob("*.json"):  # never show an earlier run's counterexamples as this one's
        old.unlink()
    for c in cexs:
        if c.get("trace"):
            (tdir / f"{c['id']}.json").write_text(json.dumps(c["trace"], indent=1) + "\n")
    sections = gather_sections(
        rows, pc, tdir, jobs_n, skip, mutants_mode, mutants_json, mutant_tp_sizes,
        replay_json, engine_diff_json,
        engine_src or os.environ.get("RANKSYNC_ENGINE_SRC") or settings.get("engine_src"))
    from ..history.output import section_from_file

    sections["history"] = section_from_file(history_json)
    reused += [k for k, sec in sections.items()
               if str(sec.get("source", "")).endswith((".json", "cache"))]
    meta: dict[str, Any] = {
        "versions": versions(), "config_path": pc.path, "config_text": _read(pc.path),
        # every-T rows carry tp_size 0 (no T): said apart, never listed as a T
        "tp_sizes": sorted({r["tp_size"] for r in rows if r["kind"] != "every_t"}),
        "every_t": any(r["kind"] == "every_t" for r in rows),
        "variants": sorted({r["variant"] for r in rows}),
        "topologies": sorted({r["topology"] for r in rows}), "source": source,
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(["ranksync", *sys.argv[1:]]) if sys.argv else "",
        "counterexamples": {"levels": "the first screen's three levels", "all": "every "
                            "violated cell", "none": "none (--counterexamples none)"}[mode],
        "reused": reused,
        "wall": {"prove": prove_wall, "counterexamples": cex_wall,
                 **{k: s.get("seconds", 0.0) for k, s in sections.items()}}}
    doc = build(rows, cexs, sections, meta)
    meta["wall"]["report"] = time.perf_counter() - t_start
    html, md_text = render(doc)
    (out / "index.html").write_text(html, encoding="utf-8")
    (out / "report.md").write_text(md_text, encoding="utf-8")
    dump = {k: v for k, v in doc.items() if k not in ("time_svg",)}
    dump["counterexamples"] = [{k: v for k, v in c.items() if not k.endswith("_svg")}
                               for c in cexs]
    dump["rows"] = rows
    (out / "report.json").write_text(json.dumps(dump, indent=1, default=str) + "\n")
    if junit:
        Path(junit).parent.mkdir(parents=True, exist_ok=True)
        Path(junit).write_text(junit_report(doc, rows), encoding="utf-8")
    summary_table(con, doc, out)
    bad = doc["obligations"]["mismatched"] or doc["obligations"]["unknown"]
    sys.exit(1 if strict and bad else 0)


def gather_sections(rows: list[dict[str, Any]], pc: ProveConfig, tdir: Path, jobs: int,
                    skip: tuple[str, ...], mutants_mode: str, mutants_json: str | None,
                    mutant_tp_sizes: list[int] | None, replay_json: str | None,
                    engine_diff_json: str | None, src: str | None) -> dict[str, Any]:
    """The optional sections: each from its JSON, the cache, its module, or "not run" with
    the reason (skipped, no torch, not configured)."""
    from ..cliutil import TORCH_HINT, has_torch

    sections: dict[str, Any] = {}
    no_torch = "" if has_torch() else f"needs the torch reference: {TORCH_HINT}"
    sections["mutants"] = mutants_section(rows, pc, jobs, skip, mutants_mode, mutants_json,
                                          mutant_tp_sizes, no_torch)
    if sections["mutants"]["status"] == "ok":
        sections["mutants"]["data"] = kill_table(sections["mutants"]["data"])
    has_traces = any(tdir.glob("*.json"))
    if "replay" in skip and not replay_json:
        sections["replay"] = _not_run("conformance replay (reference)", "skipped (--skip replay)")
    elif not replay_json and not has_traces:
        sections["replay"] = _not_run("conformance replay (reference)",
                                      "no counterexample traces to replay")
    elif no_torch and not replay_json:
        sections["replay"] = _not_run("conformance replay (reference)", no_torch)
    else:
        with _spinner("conformance replay"):
            sections["replay"] = optional_section(
                "conformance replay (reference)", replay_json, "ranksync.checker.conformance",
                "replay_summary", paths=[str(tdir)], trace_dir=str(tdir), backend="inprocess")
    if engine_diff_json:
        sections["engine_diff"] = optional_section("engine-diff", engine_diff_json, "", "")
    elif "engine-diff" in skip or not src:
        sections["engine_diff"] = _not_run("engine-diff", "not configured (--engine-src, "
                                           "$RANKSYNC_ENGINE_SRC or [tool.ranksync.report] "
                                           "engine_src)")
    elif no_torch:
        sections["engine_diff"] = _not_run("engine-diff", no_torch)
    else:
        with _spinner("engine-diff"):
            sections["engine_diff"] = _engine_diff(str(src), sorted(str(p) for p in
                                                                   tdir.glob("*.json")))
    return sections


def mutants_section(rows: list[dict[str, Any]], pc: ProveConfig, jobs: int,
                    skip: tuple[str, ...], mode: str, mutants_json: str | None,
                    mutant_tp_sizes: list[int] | None, no_torch: str) -> dict[str, Any]:
    """Given JSON; else derived from prove rows (a config with mutant variants); else the
    cached kill matrix of `ranksync mutants`; else run here (--mutants run) or not run."""
    from .. import cache
    from ..mutants import cache_inputs

    title = "mutation kill matrix"
    if mutants_json:
        return optional_section(title, mutants_json, "", "")
    if "mutants" in skip:
        return _not_run(title, "skipped (--skip mutants)")
    derived = kill_from_rows(rows)
    if derived is not None:
        return {"title": title, "status": "ok", "data": derived, "note": "",
                "source": "prove rows", "seconds": 0.0}
    mpc = copy.copy(pc)
    mpc.tp_sizes = mutant_tp_sizes or [2]
    names = list(MUTANTS)
    hit = cache.get("mutants", cache_inputs(mpc, names))
    if hit is not None:
        return {"title": title, "status": "ok", "data": hit, "source": "ranksync mutants, cache",
                "note": f"T ∈ {mpc.tp_sizes}, topologies {', '.join(mpc.topologies)}",
                "seconds": 0.0}
    if no_torch:
        return _not_run(title, no_torch)
    if mode != "run":
        return _not_run(title, "no kill matrix for these sources and this config yet: it "
                        "takes minutes, so the report does not run it by default; run "
                        f"`ranksync mutants --tp-sizes {','.join(map(str, mpc.tp_sizes))}` "
                        "(cached for the next report) or pass --mutants run")
    with _spinner(f"mutants (T ∈ {mpc.tp_sizes})"):
        sec = optional_section(title, None, "ranksync.checker.mutants", "kill_matrix",
                               pc=mpc, mutants=names)
    if sec["status"] == "ok":
        sec["data"] = [k.to_json() if hasattr(k, "to_json") else k for k in sec["data"]]
        cache.put("mutants", cache_inputs(mpc, names), sec["data"])
    return sec


def _csv(ctx: Any, param: Any, value: str | None) -> list[int] | None:
    from ..cliutil import tp_sizes

    return tp_sizes(ctx, param, value)


@contextmanager
def _spinner(what: str) -> Iterator[None]:
    with _progress() as prog:
        prog.add_task(what, total=None)
        yield
