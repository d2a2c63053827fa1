"""The alias table of protocol log lines (formats.toml): load, compile, match, nearest format.

Every entry maps one message format of one commit range to a canonical kind and named values.
`match_message` returns the first entry that matches a whole message; `looks_like_protocol`
says whether an unmatched message should be reported (it starts like a known format, or
mentions the protocol's vocabulary) rather than ignored as an unrelated line; `nearest`
names the known format closest to it.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

TABLE = Path(__file__).with_name("formats.toml")

# Values each model-matched kind carries, in the order stored (names used in reports).
MODEL_VALUES: dict[str, tuple[str, ...]] = {
    "cached": ("L", "S"), "synced": ("L", "S"), "partial": ("S", "L", "R"),
    "no_memory": ("R",), "resume_initiated": ("blocks", "tokens"), "unexpected": ("S", "L"),
    "resumed_success": ("S", "L", "R", "blocks"),
    "merging": ("partial_rows", "new_rows", "partial_ids", "new_ids", "partial_mrope",
                "new_mrope"),
    "mrope_concat": ("partial", "new"), "mrope_partial": ("partial",), "mrope_new": ("new",),
    "transfer_failed": ("rank",), "handshake_failed": ("rank",), "unexpected_poll": ("p",),
}
# language-side kinds that the model does not emit (reported, not matched against it)
INFO_KINDS = ("alloc_wait", "wait_resume")

_TYPES = {
    "int": r"-?\d+", "str": r"\S+?", "rid": r"\S+?", "qrid": r"'[^']*'|\"[^\"]*\"",
    "shape0": r"torch\.Size\(\[\d+(?:, \d+)*\]\)", "shape1": r"torch\.Size\(\[\d+(?:, \d+)*\]\)",
    "rest": r".*",
}
_PLACE = re.compile(r"\{(\w+)(?::(\w+))?\}")
# Annotation marks a human may append to a quoted line (the seed note's ✅ / ❌): symbols only.
TRAILER = r"[\s\u2190-\u2bff\u2700-\u27bf\U0001f300-\U0001faff\ufe0f]*"
# protocol vocabulary: an unmatched line mentioning it is reported, not ignored
_VOCAB = re.compile(r"rid=|room=|sent_tokens|actual_total_length|aux_datas|[Rr]esume transfer"
                    r"|partial_|embedding_indices|MultiModalLanguage|MultimodalEmbedding")


_NOT_2D = object()  # a shape placeholder that matched a shape of another rank


class FormatTableError(ValueError):
    """formats.toml is malformed (a packaging error, not user input)."""


@dataclass(frozen=True)
class Format:
    index: int
    kind: str
    level: str
    template: str
    commits: tuple[str, ...]
    regex: re.Pattern[str]
    head: str  # literal text before the first placeholder or optional part
    fields: tuple[tuple[str, str], ...]  # (name, type) in template order
    loose: bool = False  # a generic head: a non-matching line is unrelated, not unmatched
    note: str = ""

    @property
    def side(self) -> str:
        return "embedding" if self.kind.startswith(("emb_", "lang_losing")) else "language"

    def literal(self) -> str:
        """The template with placeholders shown as <name> (for 'nearest format' messages)."""
        return _PLACE.sub(lambda m: f"<{m.group(1)}>", self.template).replace("<<", "[").replace(
            ">>", "]")


@dataclass(frozen=True)
class Match:
    fmt: Format
    values: dict[str, Any] = field(default_factory=dict)  # ints, strings, or None

    @property
    def kind(self) -> str:
        return self.fmt.kind


def _compile(template: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    out, fields, i = [], [], 0
    while i < len(template):
        if template.startswith("<<", i):
            out.append("(?:")
            i += 2
            continue
        if template.startswith(">>", i):
            out.append(")?")
            i += 2
            continue
        m = _PLACE.match(template, i)
        if m:
            name, typ = m.group(1), m.group(2) or "int"
            if typ not in _TYPES:
                raise FormatTableError(f"unknown placeholder type {typ!r} in {template!r}")
            if name == "_":
                out.append(f"(?:{_TYPES[typ]})")
            else:
                out.append(f"(?P<{name}>{_TYPES[typ]})")
                fields.append((name, typ))
            i = m.end()
            continue
        out.append(re.escape(template[i]))
        i += 1
    return "".join(out), tuple(fields)


def _head(template: str) -> str:
    cut = min([x for x in (template.find("{"), template.find("<<")) if x >= 0] + [len(template)])
    return template[:cut]


@cache
def formats(path: str | None = None) -> tuple[Format, ...]:
    """The table, in file order (earlier entries win when two match)."""
    p = Path(path) if path else TABLE
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise FormatTableError(f"{p}: {e}") from e
    if data.get("schema_version") != 1:
        raise FormatTableError(f"{p}: schema_version must be 1")
    out = []
    for i, ent in enumerate(data.get("format", [])):
        try:
            rx, fields = _compile(ent["template"])
            names = [n for n, _t in fields]
            if len(set(names)) != len(names):
                raise FormatTableError(f"duplicate placeholder in {ent['template']!r}")
            out.append(Format(i, ent["kind"], ent["level"], ent["template"],
                              tuple(ent.get("commits", [])), re.compile(rx + TRAILER + r"\Z"),
                              _head(ent["template"]),
                              fields, bool(ent.get("loose", False)), ent.get("note", "")))
        except KeyError as k:
            raise FormatTableError(f"{p}: format #{i} lacks {k}") from None
    return tuple(out)


def _value(typ: str, s: str | None) -> Any:
    if s is None:
        return None
    if typ == "int":
        return int(s)
    if typ in ("shape0", "shape1"):
        dims = [int(x) for x in s[len("torch.Size(["):-2].split(", ")]
        if len(dims) != 2:
            return _NOT_2D
        return dims[0 if typ == "shape0" else 1]
    if typ == "qrid":
        return s[1:-1]
    return s


def match_message(msg: str) -> Match | None:
    """The first format that matches the whole message (up to an annotation trailer)."""
    for f in formats():
        if not msg.startswith(f.head):
            continue
        m = f.regex.match(msg)
        if m is None:
            continue
        vals = {n: _value(t, m.group(n)) for n, t in f.fields}
        if any(v is _NOT_2D for v in vals.values()):
            continue
        return Match(f, vals)
    return None


def heads() -> tuple[str, ...]:
    return tuple(sorted({f.head for f in formats() if len(f.head) >= 6}, key=len, reverse=True))


def looks_like_protocol(msg: str) -> bool:
    """An unmatched message that starts like a known (non-loose) format or a prefix of one, or
    uses the protocol's vocabulary."""
    s = msg.strip()
    for f in formats():
        if f.loose or len(f.head) < 6:
            continue
        if s.startswith(f.head) or (len(s) >= 6 and f.head.startswith(s)):
            return True
    return bool(_VOCAB.search(s))


def nearest(msg: str) -> Format:
    """The known format closest to the message: the longest common prefix, then the difflib
    ratio of the whole text."""
    def score(f: Format) -> tuple[int, float]:
        lit = f.literal()
        n = next((i for i, (a, b) in enumerate(zip(msg, lit, strict=False)) if a != b),
                 min(len(msg), len(lit)))
        return n, difflib.SequenceMatcher(None, msg, lit, autojunk=False).ratio()
    return max(formats(), key=score)


def values_tuple(m: Match) -> tuple[Any, ...]:
    """The canonical values of a model-matched kind, None where this format omits one."""
    names = MODEL_VALUES.get(m.kind)
    if names is None:
        return tuple(v for n, v in m.values.items() if n not in ("rid", "room", "session"))
    return tuple(m.values.get(n) for n in names)


def kinds_of_commit(commit: str) -> dict[str, list[Format]]:
    """kind -> the formats a commit (prefix match either way) is declared to emit."""
    out: dict[str, list[Format]] = {}
    for f in formats():
        if any(c.startswith(commit) or commit.startswith(c) for c in f.commits):
            out.setdefault(f.kind, []).append(f)
    return out
