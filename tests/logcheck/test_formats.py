"""The alias table (checker/logcheck/formats.toml): every entry parses what it declares, the
lines of later commits are accepted, an unknown line is reported with its nearest format and
the rest of the log is still checked. Opt-in: every entry's literal text is in the source of
every commit it lists (RANKSYNC_ENGINE_GIT = the fork's git directory)."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from ranksync.checker.logcheck import formats as F
from ranksync.checker.logcheck import parser as P
from ranksync.checker.logcheck.cli import logcheck

SAMPLE = {"int": "7", "str": "x9", "rid": "req-3", "qrid": "'req-3'", "shape0": "torch.Size([5, 4])",
          "shape1": "torch.Size([3, 5])", "rest": "E: boom"}


def render(f: F.Format, with_optional: bool = True) -> str:
    t = f.template
    t = re.sub(r"<<(.*?)>>", (lambda m: m.group(1)) if with_optional else "", t)
    return re.sub(r"\{(\w+)(?::(\w+))?\}", lambda m: SAMPLE[m.group(2) or "int"], t)


@pytest.mark.parametrize("fmt", F.formats(), ids=lambda f: f"{f.index}-{f.kind}")
def test_every_entry_parses_as_its_kind(fmt: F.Format) -> None:
    for opt in (True, False):
        got = P.parse_line(f"[2025-10-23 10:00:00 TP1] {render(fmt, opt)}")
        assert isinstance(got, P.Parsed), (fmt.template, got)
        assert got.kind == fmt.kind and got.tp == 1
        named = dict(fmt.fields)
        if not got.model_kind:
            continue
        for name, val in zip(P.VALUE_NAMES[fmt.kind], got.values, strict=True):
            if name in named:  # a value this format prints is read back
                assert val == 7 or (named[name].startswith("shape") and val in (3, 5)), (name, val)
            else:
                assert val is None


def test_issue_lines_of_later_commits() -> None:
    lines = {
        "[TP0] Merging resumed transfer data for rid=r1": (P.MERGING, (None,) * 6, {}),
        "[TP0] Resume transfer initiated for rid=r1: allocated 1 blocks (4 tokens), "
        "sent_tokens=4": (P.RESUME_INITIATED, (1, 4), {"S": 4}),
        "[TP0] Partial transfer detected for rid=r1: received 4/6 tokens (current batch: 4), "
        "need to resume for 2 more tokens": (P.PARTIAL, (4, 6, 2), {"batch": 4}),
        "[TP0] First Transferring, synced aux_datas: rid=r1, actual_total_length=6, "
        "sent_tokens=4": (P.SYNCED, (6, 4), {}),
    }
    for line, (kind, values, extras) in lines.items():
        got = P.parse_line(line)
        assert isinstance(got, P.Parsed) and (got.kind, got.values, got.extras) == (
            kind, values, extras), (line, got)


def test_renamed_line_is_unmatched_with_nearest_format() -> None:
    got = P.parse_line("[TP0] Synced aux data over ranks for rid=r1: actual_total_length=6, "
                       "sent_tokens=4")
    assert isinstance(got, P.Unmatched)
    assert got.nearest.kind == P.SYNCED
    assert "Synced aux_datas" in got.describe()


def test_table_errors_are_caught(tmp_path: Path) -> None:
    bad = tmp_path / "t.toml"
    bad.write_text('schema_version = 1\n[[format]]\nkind = "x"\nlevel = "INFO"\n'
                   'template = "a {n:nope}"\n')
    with pytest.raises(F.FormatTableError):
        F.formats(str(bad))
    bad.write_text('schema_version = 2\n')
    with pytest.raises(F.FormatTableError):
        F.formats(str(bad))


def test_logcheck_reports_unmatched_line_and_checks_the_rest(tmp_path: Path) -> None:
    log = tmp_path / "caff.log"
    log.write_text(
        "[2025-10-23 10:00:00 TP0] First Transferring, synced aux_datas: rid=r1, "
        "actual_total_length=2, sent_tokens=1\n"
        "[2025-10-23 10:00:00 TP0] Partial transfer detected for rid=r1: received 1/2 tokens, "
        "need to resume for 1 more tokens\n"
        "[2025-10-23 10:00:00 TP0] Sinced aux_datas across ranks for rid=r1: junk\n"
        "[2025-10-23 10:00:00 TP0] Resume transfer initiated for rid=r1: allocated 1 blocks "
        "(1 tokens), sent_tokens=1\n", encoding="utf-8")
    args = [str(log), "--variants", "seed", "--topologies", "a", "--embedding-ranks", "1",
            "--properties", "agreement", "--traces", "none", "--jobs", "1", "--json"]
    r = CliRunner().invoke(logcheck, args)
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert rep["unmatched"]["count"] == 1
    (u,) = rep["unmatched"]["lines"]
    assert u["line"] == 3 and u["nearest_kind"] == P.SYNCED
    (req,) = rep["requests"]
    assert [o["kind"] for o in req["lines"]["TP0"]] == [P.SYNCED, P.PARTIAL, P.RESUME_INITIATED]
    assert req["explained_by"] == ["seed/a E=1"]
    strict = CliRunner().invoke(logcheck, [*args, "--strict"])
    assert strict.exit_code == 1
    text = CliRunner().invoke(logcheck, args[:-1])
    assert "caff.log:3" in text.stdout and "nearest known format" in text.stdout


# --- opt-in: the table against the engine's sources ------------------------------------------
GIT = os.environ.get("RANKSYNC_ENGINE_GIT", "")
FILES = ("multimodal_language.py", "mooncake/conn_multimodal.py", "mooncake/conn.py",
         "multimodal_embedding.py")


def _fstrings(commit: str) -> list[str]:
    """Every string literal of the commit's protocol files, f-string fields shown as {}."""
    out = []
    for f in FILES:
        r = subprocess.run(["git", "--git-dir", GIT, "show",
                            f"{commit}:python/sglang/srt/disaggregation/{f}"],
                           capture_output=True, text=True, check=False)
        if r.returncode:
            continue
        for node in ast.walk(ast.parse(r.stdout)):
            if isinstance(node, ast.JoinedStr):
                out.append("".join(v.value if isinstance(v, ast.Constant) else "{}"
                                   for v in node.values))
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                out.append(node.value)
    return out


def _norm(template: str, optional: bool) -> str:
    t = re.sub(r"<<(.*?)>>", (lambda m: m.group(1)) if optional else "", template)
    return re.sub(r"\{[^}]*\}", "{}", t)


@pytest.mark.skipif(not GIT, reason="RANKSYNC_ENGINE_GIT not set (the fork's git directory)")
def test_every_listed_commit_has_the_format() -> None:
    sources: dict[str, list[str]] = {}
    for f in F.formats():
        for c in f.commits:
            lits = sources.setdefault(c, _fstrings(c))
            assert any(_norm(f.template, opt) in lit for lit in lits for opt in (True, False)), (
                c, f.template)


# --- logs each listed commit's own code printed (tests/logcheck/data/commits, from
# `ranksync history --logs`: the language ranks' log lines of a few runs; no engine code) ---
COMMIT_LOGS = sorted((Path(__file__).parent / "data" / "commits").glob("*.log"))


def test_a_log_of_every_listed_commit_is_accepted():
    from ranksync.checker.logcheck.observations import Collector

    assert len(COMMIT_LOGS) == 12
    for f in COMMIT_LOGS:
        col = Collector()
        for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            got = P.parse_line(line)
            assert isinstance(got, P.Parsed), (f.name, n, line, got)
            col.feed(got, f.name, n)
        assert col.finish() and col.stats.unmatched_lines == 0, f.name


def test_a_later_commits_log_is_checked_against_the_model():
    f = next(p for p in COMMIT_LOGS if p.name.startswith("caff70bd5"))
    r = CliRunner().invoke(logcheck, [str(f), "--rid", "r59", "--variants", "seed",
                                      "--topologies", "a", "--embedding-ranks", "1",
                                      "--properties", "agreement", "--traces", "none",
                                      "--jobs", "1", "--json"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    (req,) = rep["requests"]
    assert rep["unmatched"]["count"] == 0 and req["combos"][0]["verdict"] in (
        "consistent", "inconsistent")
