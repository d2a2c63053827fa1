"""Every case of issue 14, reproduced: each exits with its documented code and one line, no
traceback, within seconds (in-process)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ranksync.checker import limits
from ranksync.checker.config import packaged_config

from .contract import check, invoke, snapshot

DEFAULT = packaged_config("default.toml").read_text(encoding="utf-8")
TRACE = Path(__file__).parents[1] / "reference" / "traces" / \
    "seed-a-t2-pressure-fifo-handback.json"
LOG = Path(__file__).parents[1] / "logcheck" / "data" / "seed_excerpt.log"


def with_line(tmp_path: Path, key: str, value: str) -> str:
    """default.toml with `key = value` in place of its `key = ...` line."""
    lines = [f"{key} = {value}" if ln.split("=")[0].strip() == key else ln
             for ln in DEFAULT.splitlines()]
    assert lines != DEFAULT.splitlines(), key
    p = tmp_path / "c.toml"
    p.write_text("\n".join(lines) + "\n")
    return str(p)


@pytest.mark.parametrize(("key", "value", "says"), [
    ("depth", "6.0", "model.depth"),
    ("depth", "1000", "maximum of 40"),
    ("timeout_seconds", "nan", "not a finite number"),
    ("timeout_seconds", "inf", "not a finite number"),
    ("timeout_seconds", "0.0009", "minimum of 0.001"),  # would be 0 ms: no limit in Z3
    ("timeout_seconds", "0", "minimum of 0.001"),
    ("simulations", "1000000000", "maximum of 100000"),
    ("pool_blocks", "100000", "maximum of 16"),
    ("length_range", "[1, 1000000000]", "maximum of 64"),
    ("tp_sizes", "[1, 999]", "maximum of 16"),
    ("jobs", "9223372036854775808", "maximum of 1024"),
])
def test_bad_config_values_exit_2(tmp_path, key, value, says):
    r = invoke(["prove", "--config", with_line(tmp_path, key, value)])
    check(r, (2,), cap=10)
    assert says in r.stderr and "c.toml" in r.stderr


def test_misspelled_keys_are_rejected_with_a_hint(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text(DEFAULT.replace('seed_claim = { default = "VIOLATED", T1 = "PROVED" }',
                                 'seed_claim = { default = "VIOLATED", T01 = "PROVED" }'))
    r = invoke(["prove", "--config", str(p)])
    check(r, (2,), cap=10)
    assert "'T01'" in r.stderr and "T[1-9]" in r.stderr
    p.write_text(DEFAULT.replace("depth = 6 ", "depht = 6 "))
    r = invoke(["prove", "--config", str(p)])
    check(r, (2,), cap=10)
    assert "did you mean 'depth'?" in r.stderr
    p.write_text(DEFAULT.replace("[expect.seed.a]", "[expect.sede.a]"))
    r = invoke(["prove", "--config", str(p)])
    check(r, (2,), cap=10)
    assert "did you mean 'seed'?" in r.stderr


@pytest.mark.parametrize("text", ['[tool]\nranksync = "x"\n', "[tool]\nranksync = 3\n",
                                  'tool = "x"\n[tool2]\n'])
def test_pyproject_tool_ranksync_not_a_table(tmp_path, text):
    (tmp_path / "pyproject.toml").write_text(text)
    r = invoke(["prove", "--config", str(tmp_path / "pyproject.toml")])
    check(r, (2,), cap=10)


@pytest.mark.parametrize("args", [
    ["prove", "--jobs", str(2**63)],
    ["prove", "--jobs", str(limits.max_jobs() + 1)],
    ["prove", "--jobs", "0"],
    ["prove", "--tp-sizes", "0"],
    ["prove", "--tp-sizes", "-1"],
    ["prove", "--tp-sizes", str(2**40)],
    ["prove", "--tp-sizes", ","],
    ["witnesses", "--tp-sizes", "17"],
    ["explain", "seed", "agreement", "--depth", "6.0"],
    ["explain", "seed", "agreement", "--ranks", "1000"],
    ["explain", "seed", "agreement", "--topology", "b", "--receivers", "999"],
    ["logcheck", str(LOG), "--jobs", str(2**63)],
    ["logcheck", str(LOG), "--timeout", "nan"],
    ["logcheck", str(LOG), "--timeout", "0.0001"],
    ["logcheck", str(LOG), "--ranks", "1000"],
    ["prove", "--nosuch"],
])
def test_bad_options_exit_2(args):
    check(invoke(args), (2,), cap=10)


@pytest.mark.parametrize(("opt", "kind"), [("--junit", "file"), ("--output", "file"),
                                           ("--sarif", "file"), ("--artifacts", "dir")])
def test_unwritable_outputs_are_rejected_before_the_work(tmp_path, opt, kind):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    target = blocker / "sub" / ("x.xml" if kind == "file" else "d")
    r = invoke(["prove", opt, str(target)])
    check(r, (2,), cap=5)  # the default prove takes minutes: it was not started
    assert opt in r.stderr


def test_unwritable_out_dirs_of_traces_report_engine_diff(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for args in (["traces", "--out", str(blocker)], ["report", "--out", str(blocker / "r")],
                 ["engine-diff", "--engine-src", str(tmp_path), "--dump", str(blocker),
                  str(TRACE)], ["replay", "--junit", str(tmp_path), str(TRACE)]):
        check(invoke(args), (2,), cap=15)


def _trace(tmp_path: Path, edit) -> str:
    tr = json.loads(TRACE.read_text())
    edit(tr)
    p = tmp_path / "t.json"
    p.write_text(json.dumps(tr))
    return str(p)


@pytest.mark.parametrize("edit", [
    lambda t: t.pop("expected"),
    lambda t: t["scenario"].update(embedding_length=10**9),  # ~8 GB of rows before
    lambda t: t["scenario"].update(tp_size=3),  # initial_aux names 2 ranks
    lambda t: t["scenario"].update(tp_size=2.0),
    lambda t: t["scenario"].update(receivers=[5]),
    lambda t: t["expected"].pop(),
    lambda t: t["expected"][0].update(ranks=[[]]),
    lambda t: t["schedule"][0].update(deliverr=[0]),
])
def test_malformed_trace_is_bad_input_not_a_divergence(tmp_path, edit):
    r = invoke(["replay", _trace(tmp_path, edit)])
    check(r, (2,), cap=30)  # the first one imports torch
    assert "DIVERGES" not in r.stdout


def test_trace_not_utf8(tmp_path):
    p = tmp_path / "t.json"
    p.write_bytes(b"\xff\xfe\x00{}")
    check(invoke(["replay", str(p)]), (2,), cap=30)
    from ranksync.checker.enginediff.traces import TraceError, load_trace

    with pytest.raises(TraceError, match="UTF-8"):
        load_trace(p)


def test_logcheck_rank_count_is_capped(tmp_path):
    p = tmp_path / "x.log"
    p.write_text(LOG.read_text().replace("[TP3]", "[TP999]"))
    r = invoke(["logcheck", str(p)])
    check(r, (2,), cap=10)
    assert "TP999" in r.stderr


VACUOUS = """
[model]
depth = 1
pool_blocks = 2
block_sizes = [1]
length_range = [1, 2]
default_alloc_range = [1, 1]
faults = false
pool_pressure = "none"
[prove]
tp_sizes = [1]
variants = ["seed"]
topologies = ["a"]
timeout_seconds = 60
simulations = 20
jobs = 1
{accept}
[prove.properties]
seed = ["progress", "integrity"]
[expect.seed.a]
progress = "PROVED"
integrity = "PROVED"
[witnesses.seed.a]
"""


def _vacuous_config(tmp_path: Path, accept: str) -> str:
    """Depth 1: no run gets past the first allocation, so every premise is UNREACHABLE; all
    witnesses are declared as they are, so only vacuity can fail the run."""
    from ranksync.checker.prove import witness_names

    reach = {"transfer: Bootstrapping/WaitingForInput: nothing", "prealloc: alloc + init"}
    text = VACUOUS.format(accept=accept) + "".join(
        f'"{n}" = "UNREACHABLE"\n' for n in witness_names()
        if n not in reach and not n.startswith("premise: ")) + \
        '"premise: progress" = "UNREACHABLE"\n"premise: integrity" = "UNREACHABLE"\n'
    p = tmp_path / "v.toml"
    p.write_text(text)
    return str(p)


def test_vacuous_proved_fails_unless_accepted(tmp_path):
    r = invoke(["prove", "--config", _vacuous_config(tmp_path, ""), "--json"])
    check(r, (1,), cap=60)
    doc = json.loads(r.stdout)
    assert doc["exit_code"] == 1
    bad = sorted((x["name"], x["verdict"], x["vacuous"]) for x in doc["rows"] if not x["ok"])
    assert bad == [("integrity", "PROVED", True), ("progress", "PROVED", True)]
    r = invoke(["prove", "--config",
                _vacuous_config(tmp_path, 'accept_vacuous = { seed = ["progress"] }'), "--json"])
    check(r, (1,), cap=60)
    assert [x["name"] for x in json.loads(r.stdout)["rows"] if not x["ok"]] == ["integrity"]
    r = invoke(["prove", "--config", _vacuous_config(
        tmp_path, 'accept_vacuous = { seed = ["progress", "integrity"] }'), "--json"])
    check(r, (0,), cap=60)
    assert json.loads(r.stdout)["exit_code"] == 0


def test_undecided_only_exits_3_and_json_mirrors_it(tmp_path):
    text = Path(_vacuous_config(tmp_path, "bmc = false")).read_text()
    p = tmp_path / "u.toml"
    p.write_text(text)
    r = invoke(["prove", "--config", str(p), "--json"])
    check(r, (3,), cap=60)
    assert json.loads(r.stdout)["exit_code"] == 3


def test_explain_exits_1_on_a_violation():
    r = invoke(["explain", "seed", "resume_validity", "--topology", "a", "--ranks", "1"])
    check(r, (1,), cap=120)
    assert r.stdout.startswith("VIOLATED")


def test_report_never_shows_stale_traces(tmp_path):
    """OUT/traces of an earlier run are removed before this run writes its own."""
    out = tmp_path / "r"
    (out / "traces").mkdir(parents=True)
    (out / "traces" / "old-run.json").write_text("{}")
    before = snapshot(tmp_path)
    cfg = _vacuous_config(tmp_path, 'accept_vacuous = { seed = ["progress", "integrity"] }')
    r = invoke(["report", "--out", str(out), "--config", cfg, "--skip", "mutants",
                "--skip", "replay", "--skip", "engine-diff"])
    check(r, (0, 1), cap=120)
    assert not (out / "traces" / "old-run.json").exists()
    assert "traces/old-run.json" in {s.replace("r/", "", 1) for s in before}


def test_help_documents_exit_codes():
    for args in (["--help"], ["prove", "--help"], ["explain", "--help"]):
        r = invoke(args)
        assert r.code == 0 and "Exit codes:" in r.stdout and "3  undecided" in r.stdout


def test_time_limit_stops_the_run_as_undecided():
    """--time-limit bounds a whole run: the default prove takes minutes; after 2 s it stops,
    exit 3, its worker processes killed."""
    import multiprocessing

    r = invoke(["--time-limit", "2", "prove", "--jobs", "2"])
    check(r, (3,), cap=30)
    assert "time limit of 2 s reached" in r.stderr
    assert not multiprocessing.active_children()
    check(invoke(["--time-limit", "0", "prove"]), (2,), cap=5)
    check(invoke(["--time-limit", "nan", "prove"]), (2,), cap=5)
