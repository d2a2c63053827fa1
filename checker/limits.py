"""The documented caps on every input, and the checks every surface shares before any work
starts: strict JSON-Schema validation (an integer is never a float, a number is finite),
"did you mean" hints for unknown keys, worker counts and writable output paths.

Caps (README "Limits"): beyond them a run would not finish on a CI machine or would exhaust
its memory, so a larger value is bad input (exit 2), never a hang.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema import Draft202012Validator

MAX_DEPTH = 40           # scheduler iterations unrolled / simulated
MAX_TP = 16              # language ranks T (and E, and ranks a log or a trace may name)
MAX_LIFT_TP = 128        # explain --ranks above 4: a counterexample lifted by copying ranks
MAX_POOL = 16            # blocks per language rank
MAX_LENGTH = 64          # L, embedding rows of one request (model and traces)
MAX_BLOCK = 64           # tokens per block (model); traces allow engine-sized blocks
MAX_TRACE_TOKENS = 1 << 20  # trace embedding_length / block_size / allocations: ~8 MB of rows
MAX_HIDDEN = 4096        # trace hidden size
MAX_SIMULATIONS = 100_000
MAX_STATES = 5_000_000   # [fixpoint] max_states
MIN_TIMEOUT = 0.001      # Z3's timeout is in milliseconds: below that it would read 0 = none
MAX_TIMEOUT = 86_400.0


def max_jobs() -> int:
    return os.cpu_count() or 1


def check_jobs(jobs: int | None, force: bool = False) -> str | None:
    """None when `jobs` worker processes are allowed, else what is wrong."""
    if jobs is None:
        return None
    if jobs < 1:
        return f"--jobs must be >= 1, got {jobs}"
    if jobs > max_jobs() and not force:
        return (f"--jobs {jobs} is more than this machine's {max_jobs()} CPUs "
                "(pass --force to start that many workers)")
    return None


def suggest(key: str, allowed: Iterable[str]) -> str:
    """' (did you mean X?)' for the closest allowed key, or ''."""
    close = difflib.get_close_matches(str(key), list(allowed), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _strict_types() -> Any:
    """integer: a real int (6.0 and true are not); number: a finite int or float."""
    base = Draft202012Validator.TYPE_CHECKER

    def integer(_c: Any, x: Any) -> bool:
        return isinstance(x, int) and not isinstance(x, bool)

    def number(_c: Any, x: Any) -> bool:
        return (isinstance(x, int) and not isinstance(x, bool)) or \
            (isinstance(x, float) and math.isfinite(x))

    return base.redefine_many({"integer": integer, "number": number})


StrictValidator = jsonschema.validators.extend(Draft202012Validator, type_checker=_strict_types())


def schema_error(data: Any, schema: dict[str, Any]) -> str | None:
    """The first problem of `data` under `schema` as 'at PATH: what is allowed', or None."""
    errors = sorted(StrictValidator(schema).iter_errors(data),
                    key=lambda e: (len(list(e.absolute_path)), list(map(str, e.absolute_path))))
    if not errors:
        return None
    e = jsonschema.exceptions.best_match(errors) or errors[0]
    where = ".".join(str(x) for x in e.absolute_path) or "(top level)"
    msg = e.message
    if e.validator == "additionalProperties" and isinstance(e.instance, dict):
        allowed = list(e.schema.get("properties", {}))
        extra = [k for k in e.instance if k not in allowed and not any(
            re.search(p, k) for p in e.schema.get("patternProperties", {}))]
        if extra:
            k = extra[0]
            pre = f"{where}." if where != "(top level)" else ""
            hint = suggest(k, allowed)
            shown = ", ".join(allowed) if allowed else "none"
            pats = list(e.schema.get("patternProperties", {}))
            if pats:
                shown += ", keys matching " + " or ".join(pats)
            return f"unknown key {pre}{k!r}{hint}; allowed: {shown}"
    if e.validator == "enum" and isinstance(e.instance, str):
        allowed_vals = [str(x) for x in e.validator_value]
        hint = suggest(e.instance, allowed_vals)
        if "propertyNames" in e.schema_path:
            pre = f"{where}." if where != "(top level)" else ""
            return (f"unknown key {pre}{e.instance!r}{hint}; allowed: "
                    f"{_short(', '.join(allowed_vals), 200)}")
        return f"at {where}: {e.instance!r}{hint} is not one of: " \
               f"{_short(', '.join(allowed_vals), 200)}"
    if e.validator in ("type", "minimum", "maximum", "exclusiveMinimum", "enum", "oneOf") and \
            isinstance(e.instance, float) and not math.isfinite(e.instance):
        msg = f"{e.instance} is not a finite number"
    return f"at {where}: {_short(msg)}"


def _short(msg: str, limit: int = 300) -> str:
    msg = " ".join(msg.split())
    return msg if len(msg) <= limit else msg[:limit] + "..."


def check_writable(path: str | os.PathLike[str] | None, what: str, directory: bool = False
                   ) -> str | None:
    """None when `path` can be written (created if needed) now, else why not. Checked before
    the work starts, so results are never lost to an unwritable output at the end. Probes
    by creating (and removing) a temporary file, which also holds for root and for /proc."""
    if path is None:
        return None
    p = Path(path)
    if directory and p.exists() and not p.is_dir():
        return f"{what} {p}: exists and is not a directory"
    if not directory and p.is_dir():
        return f"{what} {p}: is a directory"
    if not directory and p.is_file():
        try:
            with open(p, "a", encoding="utf-8"):
                return None
        except OSError as e:
            return f"{what} {p}: not writable ({e.strerror})"
    where = p if directory and p.exists() else _existing_parent(p)
    if where is None or not where.is_dir():
        return f"{what} {p}: {where} is not a directory"
    try:
        with tempfile.TemporaryFile(dir=where):
            return None
    except OSError as e:
        return f"{what} {p}: cannot create it in {where} ({e.strerror})"


def _existing_parent(p: Path) -> Path | None:
    for q in [p.parent, *p.parent.parents]:
        if q.exists():
            return q
    return None


def writable_file(_ctx: Any, param: Any, value: Any) -> Any:
    """click callback: an output file option is checked while the arguments are parsed."""
    import click

    problem = check_writable(value, param.opts[0])
    if problem:
        raise click.BadParameter(problem.split(": ", 1)[-1], param=param)
    return value


def writable_dir(_ctx: Any, param: Any, value: Any) -> Any:
    """click callback: an output directory option, checked while the arguments are parsed."""
    import click

    problem = check_writable(value, param.opts[0], directory=True)
    if problem:
        raise click.BadParameter(problem.split(": ", 1)[-1], param=param)
    return value


def seconds(_ctx: Any, _param: Any, value: Any) -> float | None:
    """click callback: a finite number of seconds in (0, MAX_TIMEOUT] (click's FloatRange
    fails on nan)."""
    import click

    if value is None:
        return None
    try:
        x = float(value)
    except ValueError:
        raise click.BadParameter(f"expected seconds, got {value!r}") from None
    if not (math.isfinite(x) and 0 < x <= MAX_TIMEOUT):
        raise click.BadParameter(f"expected seconds in (0, {MAX_TIMEOUT:g}], got {value}")
    return x


def one_line(msg: str) -> str:
    """An error message as one printable line: names from the input (keys, paths) may hold
    newlines or control characters, shown escaped."""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in msg)
