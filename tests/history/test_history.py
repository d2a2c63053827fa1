"""`ranksync history` on a throwaway repository of stand-in engines (conftest.py): the
verdicts, a property table equal to the model's own on the same runs, a bug only a property
catches, a renamed log line, an import that fails, the outputs, the cache, bad input."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from click.testing import CliRunner
from ranksync.checker.conformance import expand, scenario_from_trace
from ranksync.checker.history import mapping as M
from ranksync.checker.history import traceset
from ranksync.checker.history.cli import history
from ranksync.spec.ops import PyOps
from ranksync.spec.properties import PROPERTIES

# one worker runs the module: its `report` fixture (a history run, ~40 s) is then built once
pytestmark = [pytest.mark.gloo, pytest.mark.xdist_group("history-report")]


def run(args: list[str]) -> tuple[int, str, str]:
    r = CliRunner().invoke(history, args)
    return r.exit_code, r.stdout, r.stderr


@pytest.fixture(scope="module")
def report(engine_repo: tuple[str, dict[str, str]], small_traces: Path,
           tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    repo, shas = engine_repo
    cache = tmp_path_factory.mktemp("cache")
    code, out, err = run(["--engine-repo", repo, *(shas[t] for t in
                                                   ("seed", "swap_rows", "swap_rows_tp1",
                                                    "renamed_log", "broken")),
                          "--traces", str(small_traces), "--cache", str(cache), "--jobs", "2",
                          "--json"])
    assert code == 1, (out, err)  # the stand-ins violate properties (declared nowhere here)
    d = json.loads(out)
    d["by"] = {next(t for t, s in shas.items() if s == c["commit"]): c for c in d["commits"]}
    d["cache"] = str(cache)
    return d


def _model_table(paths: list[Path]) -> dict[str, dict[str, Any]]:
    """The model's own verdicts on the same runs (its run of each schedule, with every
    `encode` the schedule leaves out because it could not fire counted as fired)."""
    ts = traceset.from_files(paths)
    out: dict[str, dict[str, Any]] = {}
    for r in ts.runs:
        sc = scenario_from_trace(r["trace"])
        first = sc.replay()
        for k, s in enumerate(sc.schedule):
            st = first.states[k]
            if st.encoded or not all(x.status == 2 for x in st.send):
                s["encode"] = True
        mrun, o = sc.replay(), PyOps(sc.cfg.block_sizes)
        for name, p in PROPERTIES.items():
            row = out.setdefault(name, {"status": "not exercised"})
            steps = range(len(mrun.steps))
            bad = next((k for k in steps if p.bad(o, sc.cfg, mrun, k)), None)
            if bad is not None and row["status"] != "violated":
                row.update(status="violated", run=r["id"], step=bad)
            elif any(p.premise(o, sc.cfg, mrun, k) for k in steps) and row["status"] == \
                    "not exercised":
                row["status"] = "holds"
    return out


def test_standin_property_table_is_the_models(report: dict[str, Any], small_traces: Path):
    seed = report["by"]["seed"]
    assert seed["verdict"] == "ran", seed
    assert seed["connection"] == "driven" and seed["modes"] == {"driven": seed["runs"]}
    model = _model_table(expand([str(small_traces)]))
    for name, want in model.items():
        got = seed["properties"][name]
        assert got["status"] == want["status"], (name, got, want)
        if want["status"] == "violated":
            assert (got["run"], got["step"]) == (want["run"], want["step"]), (name, got, want)
    assert {p["status"] for p in seed["properties"].values()} >= {"violated", "holds"}


def test_bug_with_the_models_log_lines_is_caught_by_a_property(report: dict[str, Any],
                                                               engine_repo: Any):
    seed, bug = report["by"]["seed"], report["by"]["swap_rows"]
    assert seed["properties"]["integrity"]["status"] != "violated" or \
        seed["properties"]["integrity"]["run"] != bug["properties"]["integrity"].get("run")
    p = bug["properties"]["integrity"]
    assert bug["verdict"] == "ran" and p["status"] == "violated"
    assert p["run"] and p["step"] is not None and p["ranks"]
    # every log line, collective, allocator call and message matched the model's trace:
    # the runs differ from it only in what was handed off
    bdivs, sdivs = bug["divergences"]["seed"]["first"], seed["divergences"]["seed"]["first"]
    extra = {(d["run"], d["step"], d["rank"]) for d in bdivs} - {
        (d["run"], d["step"], d["rank"]) for d in sdivs}
    assert extra
    for d in bdivs:
        if (d["run"], d["step"], d["rank"]) in extra:
            assert d["what"] == "events" and d["expected"]["ev"] == "handoff", d
            assert d["actual"]["ev"] == "handoff" and d["actual"]["intact"] is False, d


def test_ranks_handing_off_different_rows_break_handoff_agreement(report: dict[str, Any]):
    """handoff_agreement reads each rank's handed-off data (content ids decoded from the
    engine's own buffers): the same swap on every rank keeps the ranks in agreement, a swap
    on TP1 only does not."""
    seed, every, one = (report["by"][t] for t in ("seed", "swap_rows", "swap_rows_tp1"))

    def runs(c: dict[str, Any]) -> set[str]:
        p = c["properties"]["handoff_agreement"]
        assert p["status"] in ("holds", "violated"), p  # its premise was reached
        return {v["run"] for v in p.get("all") or []}

    assert runs(every) == runs(seed)  # the seed stand-in's own violations, no more
    assert every["properties"]["integrity"]["status"] == "violated"
    new = runs(one) - runs(seed)
    assert one["verdict"] == "ran" and new, one["properties"]["handoff_agreement"]
    first = next(v for v in one["properties"]["handoff_agreement"]["all"] if v["run"] in new)
    assert first["step"] is not None and first["ranks"], first


def test_renamed_log_line_is_mapping_broken(report: dict[str, Any]):
    c = report["by"]["renamed_log"]
    assert c["verdict"] == "mapping broken"
    assert "Synced aux data over ranks" in c["reason"] and "Synced aux_datas" in c["reason"]
    assert c["mapping_errors"][0]["what"] == "log format"


def test_failed_import_could_not_load(report: dict[str, Any]):
    c = report["by"]["broken"]
    assert c["verdict"] == "could not load"
    assert "ranksync_missing" in c["reason"]


def test_outputs_cache_and_declarations(report: dict[str, Any], engine_repo: Any,
                                        small_traces: Path, tmp_path: Path):
    repo, shas = engine_repo
    assert report["schema_version"] == 1 and report["properties"] == list(PROPERTIES)
    args = ["--engine-repo", repo, shas["seed"], shas["broken"], "--traces", str(small_traces),
            "--cache", report["cache"], "--jobs", "1"]
    t0 = time.perf_counter()
    code, out, _err = run([*args, "--junit", str(tmp_path / "j.xml")])
    assert time.perf_counter() - t0 < 20 and code == 1
    assert "(cached)" in out and "could not load" in out
    suites = ET.parse(tmp_path / "j.xml").getroot().findall("testsuite")
    assert len(suites) == 2
    assert any(tc.find("failure") is not None for tc in suites[0].iter("testcase"))
    seed = report["by"]["seed"]
    viol = [n for n, p in seed["properties"].items() if p["status"] == "violated"]
    decl = tmp_path / "expect.toml"
    decl.write_text(f'[commit.{shas["seed"][:12]}]\nverdict = "ran"\nviolated = {json.dumps(viol)}\n'
                    f'[commit.{shas["broken"][:12]}]\nverdict = "could not load"\n')
    assert run([*args, "--expect", str(decl)])[0] == 0
    decl.write_text(decl.read_text().replace('"could not load"', '"ran"'))
    assert run([*args, "--expect", str(decl)])[0] == 1


@pytest.mark.parametrize("args,needle", [
    (["--engine-repo", "/nonexistent", "HEAD"], "not a directory"),
    (["COMMIT", "nosuchcommit"], "nosuchcommit"),
    (["COMMIT", "--variants", "nope"], "unknown variant"),
    (["COMMIT", "--jobs", "0"], "--jobs"),
])
def test_bad_input_exit_2(engine_repo: Any, args: list[str], needle: str):
    repo, shas = engine_repo
    full = ["--engine-repo", repo] + [shas["seed"] if a == "COMMIT" else a for a in args] \
        if args[0] == "COMMIT" else args
    code, _out, err = run(full)
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err


def test_divergences_are_all_listed():
    exp = [{"ranks": [[{"ev": "a"}], [{"ev": "b"}]]}, {"ranks": [[{"ev": "c"}], []]}]
    act = [[[{"ev": "x"}], [{"ev": "b"}, {"ev": "get_buf", "seam": True}]], [[{"ev": "y"}], []]]
    got = M.divergences(exp, act, None)
    assert [(d["step"], d["rank"]) for d in got] == [(0, 0), (1, 0)]
