"""`--format text|json|github|sarif|junit` (and `--json`, `--output FILE`) for any command
that builds an `Outcome`."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import click

from ..limits import writable_file
from . import FORMATS
from .locate import root_dir
from .model import Finding, Outcome
from .term import console

F = TypeVar("F", bound=Callable[..., Any])


def format_options(fn: F) -> F:
    """--format, --json (= --format json), --output and --sarif on a click command."""
    fn = click.option("--sarif", "sarif_path", type=click.Path(dir_okay=False),
                      callback=writable_file,
                      help="also write SARIF 2.1.0 here (any --format)")(fn)
    fn = click.option("--output", "-o", "output", type=click.Path(dir_okay=False),
                      callback=writable_file,
                      help="write the json/sarif/junit output to this file instead of "
                      "stdout")(fn)
    fn = click.option("--json", "as_json", is_flag=True,
                      help="same as --format json")(fn)
    fn = click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
                      help="text (default), json (versioned: schema_version), github "
                      "(annotations + job summary), sarif (2.1.0), junit")(fn)
    return fn


def chosen(fmt: str | None, as_json: bool) -> str:
    if fmt and as_json and fmt != "json":
        raise click.UsageError("--json and --format are exclusive")
    return "json" if as_json else (fmt or "text")


def version() -> str:
    try:
        return metadata.version("ranksync")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def sarif_text(out: Outcome) -> str:
    from .sarif import sarif

    return json.dumps(sarif(out.command, version(), out.rules, out.findings, root_dir(),
                            out.exit_code, " ".join(["ranksync", *sys.argv[1:]])), indent=1)


def _write(path: str, text: str) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text + "\n", encoding="utf-8")


def emit(out: Outcome, fmt: str, output: str | None = None,
         notices: list[Finding] | None = None, sarif_path: str | None = None) -> None:
    """Write `out` as `fmt` (and SARIF to `sarif_path`). For a machine format the human text
    goes to stderr, so a pipe or file gets only the document; for `github` the annotations
    go to stdout (where the runner reads workflow commands), the summary to
    $GITHUB_STEP_SUMMARY."""
    if sarif_path:
        _write(sarif_path, sarif_text(out))
    if fmt == "text":
        out.render_text(console())
        return
    out.render_text(console(stderr=True))
    if fmt == "github":
        from .github import append_summary, workflow_commands

        for line in workflow_commands(out.findings, notices or []):
            click.echo(line)
        append_summary(out.summary_md)
        return
    if fmt == "json":
        text = json.dumps(out.document, indent=1)
    elif fmt == "sarif":
        text = sarif_text(out)
    elif fmt == "junit":
        text = out.junit
    else:
        raise click.UsageError(f"unknown format {fmt!r}")
    if output:
        _write(output, text)
    else:
        click.echo(text)
