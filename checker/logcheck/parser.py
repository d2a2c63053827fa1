"""Parse engine log lines of protocol.md §10 into compact records, one line at a time.

A protocol line is `[<asctime> <tags>] <message>` where <tags> holds `TP<r>` and optionally
`DP<d>`, `PP<p>` (any order); the timestamp may be absent (`[TP0] ...`, as in the seed's
excerpt). The message is one of the formats of §10.1 (language side) or §10.2/§10.3
(embedding side / connection layer). The `for rid={rid}` part of the language formats is
optional, since the seed's excerpt has lines without it; such lines get `rid=None`.

`parse_line` returns a `Parsed` record, or None for an unrelated line, and raises
`LogFormatError` for a line that starts like a protocol line but does not match its format
(truncated or garbled). Nothing here keeps lines: callers stream.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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

# Values each language kind carries, in the order stored (names used in reports).
VALUE_NAMES: dict[str, tuple[str, ...]] = {
    CACHED: ("L", "S"), SYNCED: ("L", "S"), PARTIAL: ("S", "L", "R"), NO_MEMORY: ("R",),
    RESUME_INITIATED: ("blocks", "tokens"), UNEXPECTED: ("S", "L"),
    RESUMED_SUCCESS: ("S", "L", "R", "blocks"),
    MERGING: ("partial_rows", "new_rows", "partial_ids", "new_ids", "partial_mrope",
              "new_mrope"),
    MROPE_CONCAT: ("partial", "new"), MROPE_PARTIAL: ("partial",), MROPE_NEW: ("new",),
    TRANSFER_FAILED: ("rank",), HANDSHAKE_FAILED: ("rank",), UNEXPECTED_POLL: ("p",),
}
LANGUAGE_KINDS = tuple(VALUE_NAMES)
KIND_CODE = {k: i for i, k in enumerate(LANGUAGE_KINDS)}

_RID = r"(?: for rid=(?P<rid>\S+?))?"
_INT = r"(-?\d+)"
_SIZE = r"torch\.Size\(\[(\d+(?:, \d+)*)?\]\)"

# (kind, head that identifies the message, full regex of the message); heads are matched at
# the start of the message, the regex must then match the whole message.
_FORMATS: list[tuple[str, str, str]] = [
    (CACHED, "Using cached partial_aux_datas",
     rf"Using cached partial_aux_datas{_RID}: actual_total_length={_INT}, sent_tokens={_INT}"),
    (SYNCED, "Synced aux_datas across ranks",
     rf"Synced aux_datas across ranks{_RID}: actual_total_length={_INT}, sent_tokens={_INT}"),
    (PARTIAL, "Partial transfer detected",
     rf"Partial transfer detected{_RID}: received {_INT}/{_INT} tokens, need to resume for "
     rf"{_INT} more tokens"),
    (NO_MEMORY, "Not enough memory to resume transfer",
     rf"Not enough memory to resume transfer{_RID}, need {_INT} tokens"),
    (RESUME_INITIATED, "Resume transfer initiated",
     rf"Resume transfer initiated{_RID}: allocated {_INT} blocks \({_INT} tokens\)"),
    (UNEXPECTED, "Unexpected: Transferring status",
     rf"Unexpected: Transferring status but sent_tokens={_INT} >= actual_total_length={_INT}"),
    (RESUMED_SUCCESS, "Resume transfer for rid=",
     rf"Resume transfer{_RID}: partial_sent={_INT}, total_expected={_INT}, "
     rf"remaining_expected={_INT}, allocated_blocks={_INT}"),
    (RESUMED_SUCCESS, "Resume transfer: partial_sent=",
     rf"Resume transfer{_RID}: partial_sent={_INT}, total_expected={_INT}, "
     rf"remaining_expected={_INT}, allocated_blocks={_INT}"),
    (MERGING, "Merging resumed transfer data",
     rf"Merging resumed transfer data{_RID}: partial_embeds_shape={_SIZE}, "
     rf"new_embeds_shape={_SIZE}, partial_fill_ids_len={_INT}, new_fill_ids_len={_INT}, "
     rf"partial_mrope_shape={_SIZE}, new_mrope_shape={_SIZE}"),
    (MROPE_CONCAT, "Concatenating mrope_positions",
     rf"Concatenating mrope_positions: partial shape={_SIZE}, new shape={_SIZE}"),
    (MROPE_PARTIAL, "Using only partial mrope_positions",
     rf"Using only partial mrope_positions: shape={_SIZE}"),
    (MROPE_NEW, "Using only new mrope_positions",
     rf"Using only new mrope_positions: shape={_SIZE}"),
    (TRANSFER_FAILED, "MultiModalLanguage transfer failed",
     r"MultiModalLanguage transfer failed for request rank=(-?\d+) language_req\.req\.rid="
     r"(?P<qrid>'[^']*'|\"[^\"]*\") language_req\.req\.bootstrap_room=(\S+)(?: with exception .*)?"),
    (HANDSHAKE_FAILED, "MultimodalLanguage handshake failed",
     r"MultimodalLanguage handshake failed for request rank=(-?\d+) language_req\.req\.rid="
     r"(?P<qrid>'[^']*'|\"[^\"]*\") language_req\.req\.bootstrap_room=(\S+)(?: with exception .*)?"),
    (UNEXPECTED_POLL, "Unexpected poll case", rf"Unexpected poll case: {_INT}"),
    # embedding side / connection layer
    (EMB_PARTIAL, "Partial transfer: remaining=",
     rf"Partial transfer: remaining={_INT} > allocated={_INT}\. Will transfer {_INT} tokens\."),
    (EMB_RESUME_ACCEPTED, "Resume transfer for room=",
     rf"Resume transfer for room=(\S+), sent_tokens={_INT}, allocated_tokens={_INT}"),
    (EMB_RESUME_TRIGGERED, "Resume transfer triggered",
     rf"Resume transfer triggered: room=(\S+), queue_idx={_INT}, src_blocks={_INT}"),
    (EMB_CANNOT_TRIGGER, "Cannot trigger resume",
     r"Cannot trigger resume: missing src_embedding_indices or total_tokens for room=(\S+) "
     r"session=(\S+)"),
    (EMB_CANNOT_RESUME, "Cannot resume: room=",
     r"Cannot resume: room=(\S+) session=(\S+) not found in transfer_infos"),
    (EMB_SKIP_DUPLICATE, "Skip duplicate transfer",
     r"Skip duplicate transfer for room=(\S+), status=(\S+)"),
    (EMB_SESSION_FAILED, "Session ", r"Session (\S+) failed(?:\.| with .*)"),
    (EMB_WORKER_DEAD, "Transfer thread failed because of",
     r"Transfer thread failed because of .*\. Embedding instance with bootstrap_port=(\S+) "
     r"is dead\."),
    (EMB_BLOCK_MISMATCH, "Block size mismatch",
     rf"Block size mismatch: Embedding side uses {_INT}, but Language side allocated {_INT} "
     rf"tokens for {_INT} blocks \(implies block_size={_INT}\)"),
    (EMB_INSUFFICIENT, "Insufficient dst blocks",
     rf"Insufficient dst blocks: need {_INT} blocks for {_INT} tokens, but only have {_INT} "
     rf"blocks"),
    (LANG_LOSING_CONNECTION, "Losing connection with embedding instance",
     r"Losing connection with embedding instance \(bootstrap_addr: (\S+)\), affected (\d+) "
     r"requests"),
    (EMB_BOOTSTRAP_FAILED, "MultimodalEmbedding bootstrap failed",
     r"MultimodalEmbedding bootstrap failed for request rank=(-?\d+) req\.rid="
     r"(?P<qrid>'[^']*'|\"[^\"]*\") req\.bootstrap_room=(\S+)(?: with exception .*)?"),
    (EMB_TRANSFER_FAILED, "MultimodalEmbedding transfer failed",
     r"MultimodalEmbedding transfer failed for request rank=(-?\d+) req\.rid="
     r"(?P<qrid>'[^']*'|\"[^\"]*\") req\.bootstrap_room=(\S+)(?: with exception .*)?"),
]
# longest heads first, so "Using only partial" is not taken for a shorter head
_FORMATS.sort(key=lambda f: -len(f[1]))
_COMPILED = [(k, h, re.compile(rx)) for k, h, rx in _FORMATS]
_HEAD_RE = re.compile("|".join(re.escape(h) for _k, h, _r in _FORMATS))
_HEAD_PREFIXES = {h[:i] for _k, h, _r in _FORMATS for i in range(6, len(h))}
# Annotation marks a human may append to a quoted line (the seed note's ✅ / ❌): symbols only.
_TRAILER_RE = re.compile(r"[\s\u2190-\u2bff\u2700-\u27bf\U0001f300-\U0001faff\ufe0f]*")
_PREFIX_RE = re.compile(r"\[(?P<inner>[^\[\]]*)\] ?")
_TAG_RE = re.compile(r"(TP|DP|PP|EP|CP|MOE_EP|ATTN_TP)(\d+)")
_LEVEL_RE = re.compile(r"(?:(?:INFO|WARNING|ERROR|DEBUG|CRITICAL|EXCEPTION)(?::| -)? )")


# heads too generic to call a non-matching line garbled: such a line is unrelated
_LOOSE = {EMB_SESSION_FAILED, EMB_WORKER_DEAD}


class LogFormatError(ValueError):
    """A line that looks like a protocol line but is not (truncated, garbled)."""


@dataclass(frozen=True)
class Parsed:
    kind: str
    tp: int
    dp: int | None
    pp: int | None
    rid: str | None
    values: tuple[int, ...]
    side: str  # "language" | "embedding"
    extra: str = ""  # room / session for embedding-side lines


def _tags(inner: str) -> dict[str, int] | None:
    """TP/DP/PP tags at the end of the bracket (after the optional timestamp)."""
    out: dict[str, int] = {}
    for tok in reversed(inner.split()):
        m = _TAG_RE.fullmatch(tok)
        if not m:
            break
        out.setdefault(m.group(1), int(m.group(2)))
    return out if "TP" in out else None


def _shape(s: str | None) -> tuple[int, ...]:
    return tuple(int(x) for x in s.split(", ")) if s else ()


def _values(kind: str, m: re.Match[str]) -> tuple[tuple[int, ...], str]:
    g = [x for x in m.groups()]
    named = set(m.groupdict())
    # positional groups without the named ones
    idx_named = {m.re.groupindex[n] - 1 for n in named}
    pos = [x for i, x in enumerate(g) if i not in idx_named]
    if kind in (MERGING,):
        pe, ne, pid, nid, pm, nm = pos
        pes, nes, pms, nms = _shape(pe), _shape(ne), _shape(pm), _shape(nm)
        if len(pes) != 2 or len(nes) != 2 or len(pms) != 2 or len(nms) != 2:
            raise LogFormatError("shapes of the Merging line are not 2-dimensional")
        return (pes[0], nes[0], int(pid), int(nid), pms[1], nms[1]), ""
    if kind == MROPE_CONCAT:
        a, b = _shape(pos[0]), _shape(pos[1])
        if len(a) != 2 or len(b) != 2:
            raise LogFormatError("mrope shapes are not 2-dimensional")
        return (a[1], b[1]), ""
    if kind in (MROPE_PARTIAL, MROPE_NEW):
        a = _shape(pos[0])
        if len(a) != 2:
            raise LogFormatError("mrope shape is not 2-dimensional")
        return (a[1],), ""
    if kind in (TRANSFER_FAILED, HANDSHAKE_FAILED, EMB_BOOTSTRAP_FAILED, EMB_TRANSFER_FAILED):
        return (int(pos[0]),), pos[1]
    if kind in (EMB_RESUME_ACCEPTED, EMB_RESUME_TRIGGERED):
        return tuple(int(x) for x in pos[1:]), pos[0]
    if kind in (EMB_CANNOT_TRIGGER, EMB_CANNOT_RESUME, EMB_SKIP_DUPLICATE):
        return (), " ".join(pos)
    if kind in (EMB_SESSION_FAILED, EMB_WORKER_DEAD, LANG_LOSING_CONNECTION):
        return tuple(int(x) for x in pos[1:] if x and x.isdigit()), pos[0] or ""
    return tuple(int(x) for x in pos), ""


def parse_message(msg: str) -> tuple[str, tuple[int, ...], str | None, str] | None:
    """(kind, values, rid, extra) for a protocol message, None for an unrelated one."""
    if not _HEAD_RE.match(msg):
        if len(msg.rstrip()) >= 6 and msg.rstrip() in _HEAD_PREFIXES:
            raise LogFormatError(f"truncated protocol line: {msg.strip()!r}")
        return None
    for kind, head, rx in _COMPILED:
        if not msg.startswith(head):
            continue
        m = rx.match(msg)
        if (m is None or not _TRAILER_RE.fullmatch(msg, m.end())) and kind in _LOOSE:
            return None
        if m is None or not _TRAILER_RE.fullmatch(msg, m.end()):
            text = msg.strip()
            text = text if len(text) <= 120 else text[:117] + "..."
            raise LogFormatError(f"garbled or truncated {kind!r} line: {text!r}")
        vals, extra = _values(kind, m)
        gd = m.groupdict()
        rid = gd.get("rid")
        if rid is None and gd.get("qrid"):
            rid = gd["qrid"][1:-1]
        return kind, vals, rid, extra
    raise AssertionError("head matched but no format")  # pragma: no cover


def parse_line(line: str) -> Parsed | None:
    """One log line (without or with its newline)."""
    if "\x00" in line:
        raise LogFormatError("NUL byte in line (binary data?)")
    s = line.rstrip("\r\n")
    if len(s) >= 100 and _HEAD_RE.search(s) is None:  # fast path: unrelated line
        if s.startswith("[") and "]" not in s and re.search(r"\bTP\d*$|\[TP", s):
            raise LogFormatError("truncated [... TP<r>] prefix")
        return None
    m = _PREFIX_RE.match(s)
    tags = _tags(m.group("inner")) if m else None
    if m is None or tags is None:
        body = s.lstrip()
        if _HEAD_RE.match(body) or _HEAD_RE.match(_strip_level(body)):
            raise LogFormatError("protocol message without a [<asctime> TP<r>] prefix")
        if s.startswith("[") and "]" not in s and re.search(r"\bTP\d*$|\[TP", s):
            raise LogFormatError("truncated [... TP<r>] prefix")
        return None
    msg = _strip_level(s[m.end():])
    got = parse_message(msg)
    if got is None:
        return None
    kind, vals, rid, extra = got
    side = "language" if kind in KIND_CODE else "embedding"
    return Parsed(kind, tags["TP"], tags.get("DP"), tags.get("PP"), rid, vals, side, extra)


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
