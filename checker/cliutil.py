"""Helpers shared by the subcommands: the console, bad-input exits, config loading, option
parsing. Subcommand modules import these from here, never from `checker/cli.py` (the entry
point imports them all: importing it back would be a cycle)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console

from .config import ConfigError, ProveConfig, load, packaged_config
from .limits import MAX_LIFT_TP, MAX_TP, check_jobs, max_jobs, one_line

DEFAULT_CONFIG = packaged_config("default.toml")


def console() -> Console:
    """stdout for people: NO_COLOR, COLUMNS, and no escape codes or cut lines in a pipe."""
    from .output.term import console as term_console

    return term_console()


def fail_input(msg: str) -> NoReturn:
    click.echo(f"ranksync: error: {one_line(msg)}", err=True)
    sys.exit(2)


def load_config(path: str | None) -> ProveConfig:
    try:
        return load(path or default_config_path())
    except ConfigError as e:
        fail_input(str(e))


def default_config_path() -> Path:
    """./pyproject.toml if it has a [tool.ranksync] table, else the packaged default.toml."""
    cwd = Path.cwd() / "pyproject.toml"
    if cwd.is_file():
        import tomllib
        try:
            if "ranksync" in tomllib.loads(cwd.read_text()).get("tool", {}):
                return cwd
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            pass
    return DEFAULT_CONFIG


def _ints(value: str, lo: int, hi: int, what: str) -> list[int]:
    try:
        out = [int(x) for x in value.split(",") if x.strip()]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {value!r}") from None
    if not out or any(not lo <= x <= hi for x in out):
        raise click.BadParameter(f"expected {what} in {lo}..{hi}, got {value!r}")
    return out


def csv_ints(_ctx: Any, _param: Any, value: str | None) -> list[int] | None:
    """A comma-separated list of ranks (0..MAX_LIFT_TP-1: explain lifts to large T)."""
    return None if value is None else _ints(value, 0, MAX_LIFT_TP - 1, "ranks")


def tp_sizes(_ctx: Any, _param: Any, value: str | None) -> list[int] | None:
    """--tp-sizes: comma-separated T, each in 1..MAX_TP (the documented cap)."""
    return None if value is None else _ints(value, 1, MAX_TP, "T (tensor-parallel sizes)")


def workers(jobs: int | None, force: bool, configured: int) -> int:
    """The worker count: --jobs (at most the CPU count unless --force), else the config's,
    capped to the CPU count."""
    problem = check_jobs(jobs, force)
    if problem:
        fail_input(problem)
    return jobs if jobs is not None else min(configured, max_jobs())


JOBS_HELP = "worker processes (default from the config; at most the CPU count unless --force)"


TORCH_HINT = "pip install 'ranksync[torch]'"


def has_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def require_torch(command: str) -> None:
    """One line and exit 2 when a command that runs the reference or the engine lacks torch."""
    if not has_torch():
        fail_input(f"`ranksync {command}` runs the torch reference/engine harness, and torch is "
                   f"not installed: {TORCH_HINT}")
