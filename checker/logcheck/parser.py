"""Parse engine log lines of protocol.md §10 into compact records, one line at a time.

A protocol line is `[<asctime> <tags>] <message>` where <tags> holds `TP<r>` and optionally
`DP<d>`, `PP<p>` (any order); the timestamp may be absent (`[TP0] ...`, as in the seed's
excerpt). The message is one of the formats of §10.1 (language side) or §10.2/§10.3
(embedding side / connection layer), in any of the commits' wordings. The `for rid={rid}`
part of the language formats is optional, since the seed's excerpt has lines without it;
such lines get `rid=None`.

The formats are the alias table `formats.toml` (formats.py): every format a listed engine
commit emits, each mapped to a canonical kind. `parse_line` returns a `Parsed` record, None
for an unrelated line, or `Unmatched` (with the nearest known format) for a line that looks
like a protocol line but matches no known format (renamed, truncated or garbled): callers
report it and go on. Nothing here keeps lines: callers stream.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import formats as F

# --- kinds (language side, §10.1) ----------------------------------------------------------
CACHED = "cached"
SYNCED = "synced"
PARTIAL = "partial"
NO_MEMORY = "no_memory"
RESUME_INITIATED = "resume_initiated"
UNEXPECTED = "unexpected"
RESUMED_SUCCESS = "resumed_success"
MERGING = "merging"
MROPE_CONCAT = "mrope_concat"
MROPE_PARTIAL = "mrope_partial"
MROPE_NEW = "mrope_new"
TRANSFER_FAILED = "transfer_failed"
HANDSHAKE_FAILED = "handshake_failed"
UNEXPECTED_POLL = "unexpected_poll"
# --- kinds (embedding side / connection layer, §10.2, §10.3) ------------------------------
EMB_PARTIAL = "emb_partial_send"
EMB_RESUME_ACCEPTED = "emb_resume_accepted"
EMB_RESUME_TRIGGERED = "emb_resume_triggered"
EMB_CANNOT_TRIGGER = "emb_cannot_trigger"
EMB_CANNOT_RESUME = "emb_cannot_resume"
EMB_SKIP_DUPLICATE = "emb_skip_duplicate"
EMB_SESSION_FAILED = "emb_session_failed"
EMB_WORKER_DEAD = "emb_worker_dead"
EMB_BLOCK_MISMATCH = "emb_block_size_mismatch"
EMB_INSUFFICIENT = "emb_insufficient_dst"
LANG_LOSING_CONNECTION = "lang_losing_connection"
EMB_BOOTSTRAP_FAILED = "emb_bootstrap_failed"
EMB_TRANSFER_FAILED = "emb_transfer_failed"

# Values each language kind carries, in the order stored (names used in reports). Kinds of
# the alias table (formats.toml) that are not here are reported only, not matched.
VALUE_NAMES: dict[str, tuple[str, ...]] = dict(F.MODEL_VALUES)
LANGUAGE_KINDS = tuple(VALUE_NAMES)
KIND_CODE = {k: i for i, k in enumerate(LANGUAGE_KINDS)}

_PREFIX_RE = re.compile(r"\[(?P<inner>[^\[\]]*)\] ?")
_TAG_RE = re.compile(r"(TP|DP|PP|EP|CP|MOE_EP|ATTN_TP)(\d+)")
_LEVEL_RE = re.compile(r"(?:(?:INFO|WARNING|ERROR|DEBUG|CRITICAL|EXCEPTION)(?::| -)? )")


class LogFormatError(ValueError):
    """A line that cannot be a text log line at all (NUL bytes)."""


@dataclass(frozen=True)
class Parsed:
    kind: str
    tp: int
    dp: int | None
    pp: int | None
    rid: str | None
    values: tuple[Any, ...]  # VALUE_NAMES order for model kinds; None where a format omits one
    side: str  # "language" | "embedding"
    extra: str = ""  # room / session for embedding-side lines
    level: str = ""  # the level the matched format is logged at
    fmt: int = -1  # index of the matched entry of formats.toml
    extras: dict[str, Any] = field(default_factory=dict)  # values beyond the canonical ones

    @property
    def model_kind(self) -> bool:
        """A §10.1 line the model emits (matched against it); other lines are reported."""
        return self.kind in KIND_CODE


@dataclass(frozen=True)
class Unmatched:
    """A protocol-looking line that matches no known format (formats.toml)."""

    tp: int | None
    message: str
    reason: str
    nearest: F.Format

    def describe(self) -> str:
        commits = ", ".join(c[:9] for c in self.nearest.commits) or "no listed commit"
        return (f"{self.reason}; nearest known format: {self.nearest.literal()!r} "
                f"({self.nearest.kind}, {commits})")


def _tags(inner: str) -> dict[str, int] | None:
    """TP/DP/PP tags at the end of the bracket (after the optional timestamp)."""
    out: dict[str, int] = {}
    for tok in reversed(inner.split()):
        m = _TAG_RE.fullmatch(tok)
        if not m:
            break
        out.setdefault(m.group(1), int(m.group(2)))
    return out if "TP" in out else None


def parse_message(msg: str) -> F.Match | None:
    """The alias-table entry a message matches (an annotation trailer is allowed)."""
    return F.match_message(msg)


def _parsed(m: F.Match, tags: dict[str, int]) -> Parsed:
    rid = m.values.get("rid")
    canon = set(VALUE_NAMES.get(m.kind, ())) | {"rid"}
    extras = {k: v for k, v in m.values.items() if k not in canon}
    extra = " ".join(str(m.values[k]) for k in ("room", "session", "status", "port", "addr")
                     if m.values.get(k) is not None) if m.fmt.side == "embedding" else ""
    return Parsed(m.kind, tags["TP"], tags.get("DP"), tags.get("PP"),
                  None if rid is None else str(rid), F.values_tuple(m), m.fmt.side, extra,
                  m.fmt.level, m.fmt.index, extras)


def _unmatched(msg: str, tp: int | None, reason: str) -> Unmatched:
    text = msg.strip()
    text = text if len(text) <= 160 else text[:157] + "..."
    return Unmatched(tp, text, reason, F.nearest(msg.strip()))


def parse_line(line: str) -> Parsed | Unmatched | None:
    """One log line (with or without its newline): a protocol line (`Parsed`), a line that
    looks like one but matches no known format (`Unmatched`), or None (unrelated)."""
    if "\x00" in line:
        raise LogFormatError("NUL byte in line (binary data?)")
    s = line.rstrip("\r\n")
    m = _PREFIX_RE.match(s)
    tags = _tags(m.group("inner")) if m else None
    if m is None or tags is None:
        body = _strip_level(s.lstrip())
        if s.startswith("[") and "]" not in s and re.search(r"\bTP\d*$|\[TP", s):
            return _unmatched(s, None, "truncated [... TP<r>] prefix")
        if parse_message(body) is not None or any(body.startswith(h) for h in F.heads()):
            return _unmatched(body, None, "protocol message without a [<asctime> TP<r>] prefix")
        return None
    msg = _strip_level(s[m.end():])
    got = parse_message(msg)
    if got is not None:
        return _parsed(got, tags)
    if F.looks_like_protocol(msg):
        return _unmatched(msg, tags["TP"], "matches no known format (renamed, garbled or "
                          "truncated)")
    return None


def _strip_level(msg: str) -> str:
    lm = _LEVEL_RE.match(msg)
    return msg[lm.end():] if lm else msg


class InputError(Exception):
    """Bad input: the CLI prints the message on one line and exits 2."""


def iter_file(path: str) -> Iterator[tuple[int, str]]:
    """(line number, line) of a text log, streamed; InputError for unreadable / binary files."""
    p = Path(path)
    if path != "-" and not p.exists():
        raise InputError(f"{path}: no such file")
    if path != "-" and p.is_dir():
        raise InputError(f"{path}: is a directory")
    lineno = 0
    try:
        if path == "-":
            import sys
            fh = open(sys.stdin.fileno(), encoding="utf-8", errors="strict", closefd=False)
        else:
            fh = open(p, encoding="utf-8", errors="strict", newline="")
        with fh:
            head = fh.read(4096) if path != "-" else ""
            if "\x00" in head:
                raise InputError(f"{path}: binary file (NUL bytes), not a text log")
            if path != "-":
                fh.seek(0)
            for lineno, line in enumerate(fh, 1):  # noqa: B007 - lineno used after the loop
                yield lineno, line
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: line {lineno + 1}: not UTF-8 text ({e.reason}); "
                         f"binary file?") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror or e}") from None


def has_tp_prefix(line: str) -> bool:
    """The line starts with a `[... TP<r>]` process-logger prefix."""
    m = _PREFIX_RE.match(line)
    return bool(m and _tags(m.group("inner")))
