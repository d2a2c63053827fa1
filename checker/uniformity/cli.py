"""`ranksync uniformity`: exit 0 no unacknowledged finding, 1 findings, 2 bad input (checked
before any work: unreadable path, not Python, bad baseline / facts / model map, unknown
commit), 4 internal error. Bad input and internal errors print one line, no traceback."""

from __future__ import annotations

import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import click

from .crosscheck import ModelMapError, cross_check, load_model_map
from .facts import FactsError, load_facts
from .findings import BaselineError, Finding, apply_baseline, baseline_template, load_baseline


def _fail(code: int, msg: str) -> None:
    click.echo(f"ranksync uniformity: {msg}", err=True)
    sys.exit(code)


def _version() -> str:
    try:
        from importlib.metadata import version
        return version("ranksync")
    except Exception:  # noqa: BLE001 - running from a source tree without metadata
        return "0"


def _properties() -> set[str]:
    from ranksync.spec.properties import PROPERTIES
    return set(PROPERTIES)


@click.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json", "sarif"]), default="text",
              show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="write here, not stdout")
@click.option("--baseline", type=click.Path(), help="TOML file acknowledging findings by "
              "fingerprint, each with a reason")
@click.option("--write-baseline", type=click.Path(dir_okay=False),
              help="write a baseline template listing every finding (reasons to fill in)")
@click.option("--facts", "facts_path", type=click.Path(),
              help="TOML extending the shipped facts (collectives, sources, effects)")
@click.option("--model-map", type=click.Path(), help="TOML mapping findings to model "
              "properties (default: the shipped map for the resume-transfer code)")
@click.option("--root", type=click.Path(file_okay=False),
              help="paths in findings are relative to this (default: the current directory)")
@click.option("--history", "repo", type=click.Path(file_okay=False),
              help="a git directory: run on each of --commits (PATHS are repo-relative paths "
                   "or globs)")
@click.option("--commits", help="comma-separated commits for --history, in the order to "
              "compare")
def uniformity(paths: tuple[str, ...], fmt: str, output: str | None, baseline: str | None,
               write_baseline: str | None, facts_path: str | None, model_map: str | None,
               root: str | None, repo: str | None, commits: str | None) -> None:
    """Rank-uniformity check: branches on a rank-local value whose sides differ in the
    collectives issued, a polled queue's membership, allocator calls or the hand-off."""
    try:
        _run(paths, fmt, output, baseline, write_baseline, facts_path, model_map, root, repo,
             commits)
    except SystemExit:
        raise
    except Exception as e:  # noqa: BLE001 - exit 4, one line, never a traceback
        where = traceback.extract_tb(e.__traceback__)[-1]
        _fail(4, f"internal error: {e.__class__.__name__}: {e} "
                 f"({Path(where.filename).name}:{where.lineno})")


def _run(paths: tuple[str, ...], fmt: str, output: str | None, baseline_path: str | None,
         write_baseline: str | None, facts_path: str | None, model_map: str | None,
         root_opt: str | None, repo: str | None, commits: str | None) -> None:
    from .analysis import analyse
    from .history import history_text, resolve_commits, run_history
    from .output import Report, text
    from .program import InputError, ModuleCache, collect_paths
    from .sarif import sarif

    # -- all input checked before any work --
    try:
        facts = load_facts(Path(facts_path) if facts_path else None)
        mm = load_model_map(Path(model_map) if model_map else None)
        base = load_baseline(Path(baseline_path)) if baseline_path else None
    except (FactsError, ModelMapError, BaselineError) as e:
        _fail(2, str(e))
        return
    for out_path in (output, write_baseline):
        if out_path and not Path(out_path).resolve().parent.is_dir():
            _fail(2, f"{out_path}: its directory does not exist")
    props = _properties()
    version = _version()

    cache: ModuleCache = {}  # unchanged files are parsed once across --history commits

    def check(files: list[Path], root: Path) -> tuple[list[Finding], Any]:
        res = analyse(files, root, facts, cache)
        cross_check(res.findings, mm, props)
        apply_baseline(res.findings, base)
        return res.findings, res

    if repo is not None or commits is not None:
        if repo is None or not commits:
            _fail(2, "--history and --commits go together")
        if fmt == "sarif":
            _fail(2, "--history prints text or json")
        try:
            resolved = resolve_commits(Path(repo or ""),
                                       [c.strip() for c in (commits or "").split(",")
                                        if c.strip()])
        except InputError as e:
            _fail(2, str(e))
            return
        try:
            results = run_history(Path(repo or ""), resolved, list(paths),
                                  lambda fs, r: check(fs, r)[0])
        except InputError as e:
            _fail(2, str(e))
            return
        if not any(r.files for r in results):
            _fail(2, f"no Python file matches {' '.join(paths)} at any of the commits")
        out = json.dumps({"schema_version": 1, "tool": "ranksync uniformity --history",
                          "version": version, "commits": [r.to_json() for r in results]},
                         indent=1) if fmt == "json" else history_text(results)
        _emit(out, output)
        last = results[-1].findings if results else []
        sys.exit(1 if any(f.acknowledged is None for f in last) else 0)

    root = Path(root_opt) if root_opt else Path.cwd()
    try:
        files = collect_paths(list(paths))
        t0 = time.perf_counter()
        findings, res = check(files, root)
    except InputError as e:
        _fail(2, str(e))
        return
    report = Report(findings, len(files), res.branches, res.rank_local,
                    time.perf_counter() - t0, str(root), facts.sources,
                    baseline=base.path if base else None)
    report.stale = apply_baseline(findings, base)
    if write_baseline:
        Path(write_baseline).write_text(baseline_template(findings), encoding="utf-8")
    if fmt == "json":
        out = json.dumps(report.to_json(version), indent=1)
    elif fmt == "sarif":
        out = json.dumps(sarif(report, version, root), indent=1)
    else:
        out = text(report)
    _emit(out, output)
    sys.exit(1 if report.open else 0)


def _emit(out: str, output: str | None) -> None:
    if output:
        Path(output).write_text(out + "\n", encoding="utf-8")
    else:
        click.echo(out)
