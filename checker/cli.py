"""The `ranksync` command line. Exit codes (EXIT_CODES, also in --help and the README)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from ranksync.spec.config import ModelConfig
from ranksync.spec.properties import PROPERTIES
from ranksync.spec.variants import VARIANTS

from .cliutil import JOBS_HELP, csv_ints, fail_input, load_config, tp_sizes, workers
from .config import ProveConfig
from .limits import MAX_DEPTH, MAX_LIFT_TP, MAX_TP, one_line, seconds, writable_dir, writable_file
from .output.emit import chosen, emit, format_options

EXIT_CODES = """\b
Exit codes:
  0  every verdict as declared (explain: PROVED with a reachable premise)
  1  a verdict differs from its declaration, a vacuous PROVED (premise unreachable) that the
     config does not accept, a divergence; explain: it shows a violation
  2  bad usage or input (one line on stderr, checked before any work)
  3  undecided: UNKNOWN, solver timeout, memory or time limit, and nothing differs
  4  internal error (a bug: RANKSYNC_DEBUG=1 shows the traceback)
--json / --format mirror the exit code in their document."""


class Main(click.Group):
    """Bad usage is one line and exit 2; an unexpected exception is one line and exit 4 (a
    bug), never a traceback unless RANKSYNC_DEBUG is set."""

    def main(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        import os

        kwargs["standalone_mode"] = False
        argv = args[0] if args else kwargs.get("args")
        if argv and any("\0" in str(a) for a in argv):  # only possible in-process, not via exec
            click.echo("ranksync: error: an argument contains a NUL byte", err=True)
            sys.exit(2)
        try:
            rv = super().main(*args, **kwargs)
        except click.exceptions.NoArgsIsHelpError as e:
            click.echo(e.ctx.get_help() if e.ctx else str(e))
            sys.exit(2)
        except click.UsageError as e:
            cmd = e.ctx.command_path if e.ctx else "ranksync"
            click.echo(f"{cmd}: error: {one_line(' '.join(e.format_message().split()))}",
                       err=True)
            sys.exit(2)
        except TimeLimit as e:
            click.echo(f"ranksync: {e}: undecided (exit 3)", err=True)
            sys.exit(3)
        except click.exceptions.Abort:
            click.echo("ranksync: interrupted", err=True)
            sys.exit(130)
        except click.exceptions.Exit as e:
            sys.exit(e.exit_code)
        except click.ClickException as e:
            click.echo(f"ranksync: error: {one_line(' '.join(e.format_message().split()))}",
                       err=True)
            sys.exit(2)
        except (SystemExit, KeyboardInterrupt):
            raise
        except Exception as e:
            if os.environ.get("RANKSYNC_DEBUG"):
                raise
            msg = " ".join(str(e).split())[:300]
            click.echo(f"ranksync: internal error: {type(e).__name__}: {msg} "
                       "(a bug: please report it; RANKSYNC_DEBUG=1 shows the traceback)",
                       err=True)
            sys.exit(4)
        finally:
            _stop_time_limit()
        sys.exit(rv if isinstance(rv, int) else 0)


class TimeLimit(Exception):
    pass


def _start_time_limit(seconds: float) -> None:
    """After `seconds` of wall time the run stops as undecided (exit 3): worker processes
    are killed first, so no pool waits for them."""
    import multiprocessing
    import signal

    def expire(_sig: int, _frame: Any) -> None:
        for child in multiprocessing.active_children():
            child.kill()
        raise TimeLimit(f"time limit of {seconds:g} s reached")

    signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)


def _stop_time_limit() -> None:
    import signal

    if hasattr(signal, "setitimer"):
        signal.setitimer(signal.ITIMER_REAL, 0)


@click.group(cls=Main, context_settings={"help_option_names": ["-h", "--help"]},
             epilog=EXIT_CODES)
@click.version_option(package_name="ranksync", prog_name="ranksync")
@click.option("--time-limit", type=str, callback=seconds,
              help="wall-clock limit in seconds for the whole run; reaching it is undecided "
              "(exit 3)")
def main(time_limit: float | None) -> None:
    """Machine-checked evidence for the multi-TP resume-transfer protocol."""
    if time_limit is not None:
        _start_time_limit(time_limit)


@main.command(epilog=EXIT_CODES)
@click.option("--config", "config_path", type=click.Path(), help="TOML config (default: "
              "[tool.ranksync] of ./pyproject.toml, else ranksync:default.toml, the packaged one)")
@format_options
@click.option("--jobs", type=int, help=JOBS_HELP)
@click.option("--force", is_flag=True, help="allow --jobs above the CPU count")
@click.option("--z3-seed", type=click.IntRange(0, 2**32 - 1),
              help="random seed of every solver call (default: the config's z3_seed, 0); "
              "printed with the verdicts")
@click.option("--tp-sizes", callback=tp_sizes, help=f"override: e.g. 1,2,4 (each 1..{MAX_TP})")
@click.option("--variants", help="override: comma-separated variant names")
@click.option("--topologies", help="override: a,b")
@click.option("--junit", type=click.Path(dir_okay=False), callback=writable_file,
              help="also write JUnit XML here")
@click.option("--artifacts", type=click.Path(file_okay=False), callback=writable_dir,
              help="on a verdict that is not "
              "as declared, write its counterexample trace and explain text into this directory")
def prove(config_path: str | None, fmt: str | None, as_json: bool, output: str | None,
          sarif_path: str | None, jobs: int | None, force: bool, z3_seed: int | None,
          tp_sizes: list[int] | None,
          variants: str | None, topologies: str | None, junit: str | None,
          artifacts: str | None) -> None:
    """Check every obligation of a configuration against its declared verdict."""
    from .progress import run_with_progress

    form = chosen(fmt, as_json)
    pc = load_config(config_path)
    if z3_seed is not None:
        pc.z3_seed = z3_seed
    if tp_sizes:
        pc.tp_sizes = tp_sizes
    if variants:
        bad = [v for v in variants.split(",") if v not in VARIANTS]
        if bad:
            fail_input(f"unknown variant(s) {bad}; known: {', '.join(VARIANTS)}")
        pc.variants = variants.split(",")
    if topologies:
        if any(t not in ("a", "b") for t in topologies.split(",")):
            fail_input("topologies must be a and/or b")
        pc.topologies = topologies.split(",")
    rows, wall = run_with_progress(pc, workers(jobs, force, pc.jobs))
    from . import cache

    # `ranksync report` reuses these rows while the sources and the config stay the same
    cache.put("prove", cache.prove_inputs(pc), {"rows": [r.to_json() for r in rows],
                                                "wall_seconds": wall})
    _finish("prove", rows, pc, wall, config_path, form, output, junit, artifacts, sarif_path)


def _finish(command: str, rows: list[Any], pc: ProveConfig, wall: float,
            config_path: str | None, form: str, output: str | None, junit: str | None,
            artifacts: str | None, sarif_path: str | None) -> None:
    from . import artifacts as arts
    from .prove_out import outcome, spec_notices

    written = arts.write(pc, rows, artifacts, config_path) if artifacts else []
    out = outcome(command, rows, pc, wall, config_path, written)
    if junit:
        Path(junit).parent.mkdir(parents=True, exist_ok=True)
        Path(junit).write_text(out.junit, encoding="utf-8")
    emit(out, form, output, spec_notices(out.findings), sarif_path)
    sys.exit(out.exit_code)


@main.command(epilog=EXIT_CODES)
@click.argument("variant")
@click.argument("prop", metavar="PROPERTY")
@click.option("--topology", type=click.Choice(["a", "b"]), default="a", show_default=True,
              help="a: the engine's rank mapping; b: some ranks get status but no data")
@click.option("--ranks", type=click.IntRange(1, MAX_LIFT_TP),
              help="T (default: the smallest T up to 4 that violates)")
@click.option("--receivers", callback=csv_ints, help="topology b: ranks that receive data")
@click.option("--embedding-ranks", type=click.IntRange(1, MAX_TP), help="topology a: E")
@click.option("--depth", type=click.IntRange(1, MAX_DEPTH))
@click.option("--faults/--no-faults", default=None,
              help="allow aborts and transfer failures (default: from the config)")
@click.option("--stale", type=click.Choice(["history", "per_rank", "zeros"]),
              help="leftover buffer contents: from a shared history (the engine), drawn "
              "independently per rank (what-if), or zeros (default: from the config)")
@click.option("--pool-pressure", type=click.Choice(["none", "shared", "per_rank"]),
              help="other requests holding blocks: on every rank alike (the engine), on some "
              "ranks only (what-if), or none (default: from the config)")
@click.option("--cause", type=click.Choice(["stale", "fault", "pool", "none"]),
              help="show a counterexample one of whose causes is a leftover aux row (stale), "
              "an abort or chunk failure (fault), or an event of other requests (pool); none: "
              "one without any of these")
@click.option("--config", "config_path", type=click.Path())
@click.option("--json", "as_json", is_flag=True)
@click.option("--verbose", "-v", is_flag=True, help="show every event, not only log lines")
@click.option("--z3-seed", type=click.IntRange(0, 2**32 - 1),
              help="random seed of the solver (default: the config's z3_seed)")
@click.option("--budget", type=click.FloatRange(min=1), default=60.0, show_default=True,
              help="--ranks above 4: seconds to find the counterexample (simulation, lift, "
              "fallbacks)")
@click.option("--shorter-budget", type=click.FloatRange(min=0), default=20.0, show_default=True,
              help="--ranks above 4: seconds for BMC to look for shorter runs at that T (0: skip)")
def explain(variant: str, prop: str, topology: str, ranks: int | None,
            receivers: list[int] | None, embedding_ranks: int | None, depth: int | None,
            faults: bool | None, stale: str | None, pool_pressure: str | None,
            cause: str | None, config_path: str | None, as_json: bool, verbose: bool,
            budget: float, shorter_budget: float, z3_seed: int | None) -> None:
    """The counterexample of PROPERTY for VARIANT as a per-rank timeline of the engine's log
    lines, with its causes (the leftover rows, faults and pool events it needs), or what was
    proved, to which bound, with a run that exercises it. Above 4 ranks the counterexample of
    the smallest T is lifted to --ranks by copying ranks and confirmed by replay (nothing is
    proved there: no counterexample is UNKNOWN).

    Exit codes: 0 proved (and exercised), 1 violated, or proved vacuously (the premise is
    unreachable), 2 bad input, 3 undecided (solver UNKNOWN or timeout; above 4 ranks, no
    counterexample found). With --cause, 1 also when the property is violated but by no run
    of that kind (the output says so)."""
    from . import bmc
    from .explain import VACUOUS
    from .explain import explain as run_explain
    from .prove import seed_solver

    if variant not in VARIANTS:
        fail_input(f"unknown variant {variant!r}; known: {', '.join(VARIANTS)}")
    if prop not in PROPERTIES:
        fail_input(f"unknown property {prop!r}; known: {', '.join(PROPERTIES)}")
    pc = load_config(config_path)
    seed_solver(pc.z3_seed if z3_seed is None else z3_seed)
    over: dict[str, Any] = {}
    if depth:
        over["depth"] = depth
    if faults is not None:
        over["faults"] = faults
    if stale:
        over["stale"] = stale
    if pool_pressure:
        over["pool_pressure"] = pool_pressure
    if receivers is not None:
        if topology != "b":
            fail_input("--receivers applies to topology b")
        over["receivers"] = tuple(sorted(set(receivers)))
    if embedding_ranks:
        over["embedding_tp_size"] = embedding_ranks

    def cfg_for(t: int) -> ModelConfig:
        try:
            return pc.model_config(t, topology, **over)
        except ValueError as e:
            fail_input(str(e))
            raise

    if ranks is not None and ranks < 1:
        fail_input("--ranks must be >= 1")
    from .explain_lift import LIFT_ABOVE

    # the bounds came from these options: the reproduce line must name them
    tail = (f" --depth {depth}" if depth else "") + (f" --config {config_path}"
                                                       if config_path else "")
    if ranks is not None and ranks > LIFT_ABOVE:
        _explain_lifted(cfg_for(ranks), variant, prop, verbose, pc, (budget, shorter_budget),
                        cause, tail, as_json)
    sizes = [ranks] if ranks else [t for t in (1, 2, 3, 4)]
    cfgs = [cfg_for(t) for t in sizes]  # bad input is reported before any solving
    done = []
    for c in cfgs:
        done.append(run_explain(c, variant, prop, int(pc.timeout_seconds * 1000), verbose,
                                cause))
        if done[-1].verdict == bmc.VIOLATED and done[-1].cause_found is not False:
            break
    # shown: the violation (of the kind asked for), else any violation, else the largest T
    ex = next((x for x in done if x.verdict == bmc.VIOLATED and x.cause_found is not False),
              next((x for x in done if x.verdict == bmc.VIOLATED), done[-1]))
    _with_tail(ex, tail)
    if as_json:
        click.echo(json.dumps(ex.to_json(), indent=1))
    else:
        click.echo(ex.text)
    if ex.verdict in (bmc.VIOLATED, VACUOUS):
        sys.exit(1)
    sys.exit(0 if all(x.verdict == bmc.PROVED for x in done) else 3)


def _with_tail(ex: Any, tail: str) -> None:
    """Options that set the bounds go on the reproduce line."""
    ex.text = "\n".join(ln + tail if ln.startswith("reproduce: ") else ln
                         for ln in ex.text.split("\n"))


def _explain_lifted(cfg: ModelConfig, variant: str, prop: str, verbose: bool, pc: ProveConfig,
                    budgets: tuple[float, float], cause: str | None, tail: str, as_json: bool
                    ) -> None:
    """explain above 4 ranks (checker/explain_lift.py); exits 1 VIOLATED, 3 UNKNOWN (nothing
    to lift was found at T <= 4, with --cause none of that kind, or no lift reproduces)."""
    from .explain_lift import explain_lifted, to_json

    ex, res = explain_lifted(cfg, variant, prop, verbose, budget_s=budgets[0],
                             shorter_budget_s=budgets[1], runs=pc.simulations,
                             seed=pc.seed, cause=cause,
                             timeout_ms=int(pc.timeout_seconds * 1000))
    _with_tail(ex, tail)
    click.echo(json.dumps(to_json(ex, res), indent=1) if as_json else ex.text)
    sys.exit(1 if ex.verdict == "VIOLATED" else 3)


@main.command(epilog=EXIT_CODES)
@click.option("--config", "config_path", type=click.Path())
@format_options
@click.option("--tp-sizes", callback=tp_sizes, help=f"override: e.g. 1,2 (each 1..{MAX_TP})")
@click.option("--junit", type=click.Path(dir_okay=False), callback=writable_file,
              help="also write JUnit XML here")
def witnesses(config_path: str | None, fmt: str | None, as_json: bool, output: str | None,
              sarif_path: str | None, tp_sizes: list[int] | None, junit: str | None) -> None:
    """Reachability of every property's premise and every branch of §8.3/§8.4."""
    from .progress import run_with_progress

    form = chosen(fmt, as_json)
    pc = load_config(config_path)
    if tp_sizes:
        pc.tp_sizes = tp_sizes
    rows, wall = run_with_progress(pc, workers(None, False, pc.jobs))
    _finish("witnesses", [r for r in rows if r.kind == "witness"], pc, wall, config_path,
            form, output, junit, None, sarif_path)


def _register() -> None:
    """Subcommands that live in their own modules."""
    from .conformance import replay, traces
    from .enginediff.cli import engine_diff
    from .history.cli import history
    from .logcheck.cli import logcheck
    from .mutants import mutants
    from .report import report
    from .uniformity.cli import uniformity

    for cmd in (traces, replay, mutants, engine_diff, logcheck, report, uniformity, history):
        main.add_command(cmd)


_register()

if __name__ == "__main__":
    main()
