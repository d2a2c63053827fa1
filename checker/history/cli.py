"""``ranksync history --engine-repo GITDIR COMMITS...``: every commit judged by its own runs.

Exit status: 0 every commit as declared (``--expect``; without it: every commit ran and
violates nothing), 1 a verdict or property differs from the declaration (without it: some
commit violates a property, lost a mapping or could not load), 2 bad input, 4 the harness
failed (a harness error is never a verdict about the engine).
"""

from __future__ import annotations

import json
import os
import sys
import tomllib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import click

from . import output

DEFAULT_CACHE = Path(".ranksync-cache") / "history"


def _die(msg: str) -> None:
    click.echo(f"ranksync history: error: {msg}", err=True)
    sys.exit(2)


def _job(args: tuple[Any, ...]) -> dict[str, Any]:
    from .runs import run_commit

    try:
        return run_commit(*args)
    except Exception as e:  # noqa: BLE001 - reported as the commit's harness error (exit 4)
        import traceback

        return {"label": args[1], "commit": args[2], "verdict": "error",
                "reason": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc(),
                "properties": {}}


def load_expect(path: str) -> dict[str, dict[str, Any]]:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        _die(f"--expect {path}: {e}")
    commits = data.get("commit", {})
    if not isinstance(commits, dict):
        _die(f"--expect {path}: [commit.<sha>] tables expected")
    return commits


def compare(results: list[dict[str, Any]], expect: dict[str, dict[str, Any]] | None
            ) -> list[str]:
    """Differences from the declaration (or, without one, everything that is not clean)."""
    out = []
    for c in results:
        viol = sorted(n for n, p in c.get("properties", {}).items() if p["status"] == "violated")
        if expect is None:
            if c["verdict"] != "ran" or viol:
                out.append(f"{c['label']}: {c['verdict']}" + (f", violates {', '.join(viol)}"
                                                              if viol else ""))
            continue
        want = next((v for k, v in expect.items() if c["commit"].startswith(k)
                     or c["label"].startswith(k) or k.startswith(c["label"])), None)
        if want is None:
            out.append(f"{c['label']}: no declaration in --expect")
            continue
        if want.get("verdict") != c["verdict"]:
            out.append(f"{c['label']}: verdict {c['verdict']}, declared {want.get('verdict')}")
        if sorted(want.get("violated", [])) != viol and c["verdict"] != "could not load":
            out.append(f"{c['label']}: violates {viol}, declared {sorted(want.get('violated', []))}")
    return out


@click.command("history")
@click.option("--engine-repo", required=True, help="git directory of the engine fork")
@click.argument("commits", nargs=-1, required=True)
@click.option("--traces", "trace_paths", multiple=True, type=click.Path(),
              help="trace files or directories (default: the model's trace set, generated "
              "and cached)")
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False),
              default=str(DEFAULT_CACHE), show_default=True)
@click.option("--no-cache", is_flag=True, help="run every commit again")
@click.option("--jobs", type=int, default=None, help="commits run in parallel "
              "(default: CPU count)")
@click.option("--connection", type=click.Choice(["auto", "scripted"]), default="auto",
              show_default=True, help="auto: the engine's own connection code where it loads")
@click.option("--variants", default=",".join(("prefix", "seed", "gate", "hardened_lang",
                                              "hardened")), show_default=True,
              help="model variants and designs the runs are compared with")
@click.option("--random-runs", type=int, default=3, show_default=True,
              help="random runs per variant and layout in the default trace set")
@click.option("--expect", "expect_path", type=click.Path(), help="declared verdicts (TOML)")
@click.option("--logs", "logs_dir", type=click.Path(file_okay=False),
              help="write each commit's engine log lines here")
@click.option("--save-traces", "save_dir", type=click.Path(file_okay=False),
              help="write every run of the trace set here (for `ranksync engine-diff`)")
@click.option("--layouts", "by_layout", is_flag=True,
              help="also print each commit's properties per rank layout (T, E)")
@click.option("--json", "as_json", is_flag=True)
@click.option("--junit", type=click.Path(dir_okay=False))
def history(engine_repo: str, commits: tuple[str, ...], trace_paths: tuple[str, ...],
            cache_dir: str, no_cache: bool, jobs: int | None, connection: str, variants: str,
            random_runs: int, expect_path: str | None, logs_dir: str | None,
            save_dir: str | None, by_layout: bool, as_json: bool, junit: str | None) -> None:
    """Run the trace set on every commit's own code (language side and, where it loads,
    the connection layer on both sides), evaluate every property on the recorded runs,
    and print commit x property."""
    from ranksync.spec.properties import PROPERTIES
    from ranksync.spec.variants import VARIANTS

    from . import runs, traceset

    if not Path(engine_repo).is_dir():
        _die(f"--engine-repo {engine_repo}: not a directory")
    if jobs is not None and jobs < 1 or random_runs < 0:
        _die("--jobs must be >= 1 and --random-runs >= 0")
    vs = [v for v in variants.split(",") if v]
    unknown = [v for v in vs if v not in VARIANTS]
    if unknown:
        _die(f"unknown variant(s) {', '.join(unknown)}; known: {', '.join(VARIANTS)}")
    expect = load_expect(expect_path) if expect_path else None
    try:
        resolved = runs.resolve(engine_repo, list(commits))
        for _label, sha in resolved:
            runs.tree_of(engine_repo, sha)
    except runs.RepoError as e:
        _die(str(e))
    cache = None if no_cache else Path(cache_dir)
    if trace_paths:
        from ..conformance import expand
        from ..enginediff.traces import TraceError

        files = expand(trace_paths)
        if not files:
            _die("--traces: no trace files found")
        try:
            ts = traceset.from_files(files)
        except TraceError as e:
            _die(str(e))
    else:
        ts = traceset.default_set(cache, random_runs)
    expected = traceset.expectations(ts, vs, cache)
    if save_dir:
        traceset.save(ts, Path(save_dir))
    n = jobs or os.cpu_count() or 1
    done: dict[int, dict[str, Any]] = {}
    if logs_dir is None:  # nothing changed: answer from the cache without starting workers
        for i, (label, sha) in enumerate(resolved):
            hit = runs.cached_result(engine_repo, label, sha, ts, expected, cache, connection)
            if hit is not None:
                done[i] = hit
    todo = [i for i in range(len(resolved)) if i not in done]
    args = [(engine_repo, *resolved[i], ts, expected, cache, connection,
             Path(logs_dir) if logs_dir else None) for i in todo]
    if n > 1 and len(args) > 1:
        import multiprocessing as mp

        with ProcessPoolExecutor(max_workers=min(n, len(args)),
                                 mp_context=mp.get_context("spawn")) as ex:
            done.update(zip(todo, ex.map(_job, args), strict=True))
    else:
        done.update(zip(todo, map(_job, args), strict=True))
    results = [done[i] for i in range(len(resolved))]
    d = output.doc(results, list(PROPERTIES), {
        "engine_repo": engine_repo, "traceset": ts.digest, "runs": len(ts.runs),
        "traceset_params": ts.params, "variants": vs, "connection": connection})
    if junit:
        Path(junit).write_text(output.junit(d), encoding="utf-8")
    click.echo(json.dumps(d, indent=1) if as_json else output.text(d) + (
        "\n\n" + output.layouts(d) if by_layout else ""))
    if any(c["verdict"] == "error" for c in results):
        sys.exit(4)
    diffs = compare(results, expect)
    if diffs and not as_json:
        click.echo("\n" + ("differs from --expect:" if expect else "not clean:"), err=True)
        for x in diffs:
            click.echo(f"  {x}", err=True)
    sys.exit(1 if diffs else 0)
