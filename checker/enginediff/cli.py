"""``ranksync engine-diff``: run traces on the engine's own language-side code and compare.

Exit status: 0 no divergence, 1 at least one divergence (or a run error), 2 bad input.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..limits import one_line, seconds, writable_dir
from .loader import EngineSourceError
from .traces import TraceError, load_trace

if TYPE_CHECKING:  # the driver imports torch: only load it when the command runs
    from .driver import TraceResult


def _short(event: object) -> str:
    return "(none)" if event is None else json.dumps(event, sort_keys=False)


def _text(res: TraceResult) -> str:
    head = f"{res.status.upper():8} {res.name} [{res.variant}, T={res.tp_size}" + (
        f", {res.mode}]" if res.mode else "]")
    if res.note:
        head += f" - {res.note}"
    d = res.divergence
    if d is None:
        return head
    return (f"{head}\n  first divergence at step {d['step']}, rank {d['rank']}, "
            f"event #{d['index']}:\n    expected: {_short(d['expected'])}\n"
            f"    actual:   {_short(d['actual'])}")


@click.command("engine-diff")
@click.option("--engine-src", required=True, type=click.Path(path_type=Path),
              help="Engine checkout root (holds python/sglang/srt/disaggregation/).")
@click.option("--ranks", type=click.IntRange(min=1), default=None,
              help="Only run traces with this tp_size (others are reported as skipped).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--variant-check", is_flag=True,
              help="Skip traces whose variant is not the engine checkout's (seed/prefix).")
@click.option("--dump", "dump_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, callback=writable_dir,
              help="Write each run trace, with expected events replaced by the engine's, here.")
@click.option("--timeout", "timeout_s", default=None, callback=seconds,
              help="Seconds before a group of rank processes is killed (default 60 + 2/step).")
@click.option("--connection", type=click.Choice(["auto", "driven", "scripted"]),
              default="auto", show_default=True,
              help="auto: the engine's own connection code on both sides where it loads and "
              "the trace is topology a; scripted: the trace's writes and statuses replayed")
@click.argument("traces", nargs=-1, required=True, type=click.Path(path_type=Path))
def engine_diff(engine_src: Path, ranks: int | None, as_json: bool, variant_check: bool,
                dump_dir: Path | None, timeout_s: float | None, connection: str,
                traces: tuple[Path, ...]) -> None:
    """Run TRACE files on the engine's real language queues, one process per rank (gloo)."""
    from ..cliutil import require_torch

    require_torch("engine-diff")
    try:
        from .driver import actual_trace, run_traces

        results, about = run_traces(str(engine_src), [str(t) for t in traces], ranks=ranks,
                                    variant_check=variant_check, deadline_s=timeout_s,
                                    connection=connection)
    except (EngineSourceError, TraceError) as e:
        click.echo(f"error: {one_line(str(e))}", err=True)
        sys.exit(2)
    if dump_dir is not None:
        dump_dir.mkdir(parents=True, exist_ok=True)
        for res in results:
            if res.actual:
                out = actual_trace(load_trace(res.path), res)
                (dump_dir / Path(res.path).name).write_text(json.dumps(out, indent=1) + "\n")
    failed = any(r.status in ("diverged", "error") for r in results)
    if as_json:
        click.echo(json.dumps({"engine": about, "ok": not failed,
                               "results": [r.to_json() for r in results]}, indent=2))
    else:
        click.echo(about)
        for res in results:
            click.echo(_text(res))
        counts = {s: sum(r.status == s for r in results)
                  for s in ("pass", "diverged", "error", "skipped")}
        click.echo(", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no traces")
    sys.exit(1 if failed else 0)


def main() -> None:
    engine_diff()


if __name__ == "__main__":
    main()
