"""Engine harness tests: the CI stand-in engine on gloo, bad input, and (opt-in) the real engine.

The real-engine test runs only when RANKSYNC_ENGINE_SRC names one or more checkout roots
(separated by os.pathsep), e.g. worktrees of the fork at d94e4a0ab and 28ac79bbe.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner
from ranksync.checker.enginediff import encoding, scripted
from ranksync.checker.enginediff.cli import engine_diff
from ranksync.checker.enginediff.driver import first_divergence
from ranksync.checker.enginediff.loader import EngineSourceError, check_engine, engine_modules
from ranksync.checker.enginediff.traces import TraceError, load_trace

HERE = Path(__file__).parent
TRACES = sorted(str(p) for p in (HERE / "traces").glob("*.json"))
STANDIN = HERE.parent / "engine_standin"


def _run(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(engine_diff, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


def _report(output: str) -> dict[str, Any]:
    report = json.loads(output)
    assert isinstance(report, dict)
    return report


# --- stand-in engine on gloo -------------------------------------------------------------


def test_standin_seed_traces_pass() -> None:
    code, out = _run(["--engine-src", str(STANDIN), "--variant-check", "--json", *TRACES])
    report = _report(out)
    by_name = {r["trace"]: r for r in report["results"]}
    assert code == 0, out
    for name, res in by_name.items():
        assert res["status"] == ("pass" if name.startswith("seed-") else "skipped"), res
    assert by_name["seed-a-t2-others-alloc-rank1"]["ending"] == "deadlock"
    assert not multiprocessing.active_children()


def test_standin_prefix_passes_prefix_and_diverges_on_seed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANKSYNC_STANDIN_VARIANT", "prefix")
    code, out = _run(["--engine-src", str(STANDIN), "--json", *TRACES])
    report = _report(out)
    assert code == 1
    assert "variant prefix" in report["engine"]
    for res in report["results"]:
        if res["variant"] == "prefix" or res["trace"] == "seed-a-t2-abort":
            assert res["status"] == "pass", res  # the abort never reaches Transferring
        else:
            assert res["status"] == "diverged", res
    nominal = next(r for r in report["results"] if r["trace"] == "seed-a-t2-nominal-resume")
    assert nominal["divergence"] == {
        "step": 1, "rank": 0, "index": 1,
        "expected": {"ev": "all_reduce_max", "value": 10},
        "actual": {"ev": "log", "level": "INFO",
                   "msg": "Partial transfer detected for rid=req-1: received 4/10 tokens, "
                          "need to resume for 6 more tokens"}}


def test_hang_is_killed_within_timeout(tmp_path: Path) -> None:
    engine = tmp_path / "engine"
    shutil.copytree(STANDIN, engine)
    ml = engine / "python/sglang/srt/disaggregation/multimodal_language.py"
    ml.write_text(ml.read_text() + "\n\nimport time as _t\n"
                  "_real_pop = MultimodalLanguageTransferQueue.pop_transferred\n"
                  "def _hang(self):\n    _t.sleep(600)\n"
                  "MultimodalLanguageTransferQueue.pop_transferred = _hang\n")
    trace = next(t for t in TRACES if t.endswith("seed-a-t2-nominal-resume.json"))
    code, out = _run(["--engine-src", str(engine), "--timeout", "6", "--json", trace])
    assert code == 1
    res = _report(out)["results"][0]
    assert res["status"] == "diverged" and res["divergence"]["actual"] == {"ev": "timeout"}
    assert not multiprocessing.active_children()


# --- bad input: exit code 2 and a one-line message ---------------------------------------


def _bad(args: list[str]) -> str:
    code, out = _run(args)
    assert code == 2, out
    assert "Traceback" not in out
    assert out.startswith("error: ") and out.count("\n") == 1
    return out


def test_bad_engine_paths(tmp_path: Path) -> None:
    assert "does not exist" in _bad(["--engine-src", str(tmp_path / "nope"), TRACES[0]])
    assert "not an engine checkout" in _bad(["--engine-src", str(tmp_path), TRACES[0]])
    engine = tmp_path / "old"
    shutil.copytree(STANDIN, engine)
    ml = engine / "python/sglang/srt/disaggregation/multimodal_language.py"
    ml.write_text(ml.read_text().replace("class MultimodalLanguageTransferQueue",
                                         "class SomethingElse"))
    assert "has no MultimodalLanguageTransferQueue" in _bad(
        ["--engine-src", str(engine), TRACES[0]])
    (engine / "python/sglang/srt/disaggregation/fake/conn.py").unlink()
    assert "has no" in _bad(["--engine-src", str(engine), TRACES[0]])


def test_bad_traces(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{ not json")
    assert "malformed JSON" in _bad(["--engine-src", str(STANDIN), str(broken)])
    assert "cannot read" in _bad(["--engine-src", str(STANDIN), str(tmp_path / "missing.json")])
    short = json.loads(Path(TRACES[0]).read_text())
    short["expected"].pop()
    bad = tmp_path / "short.json"
    bad.write_text(json.dumps(short))
    assert "steps" in _bad(["--engine-src", str(STANDIN), str(bad)])


# --- pieces, in process --------------------------------------------------------------------


def test_loader_restores_sys_modules() -> None:
    before = {k for k in sys.modules if k.startswith("sglang")}
    with engine_modules(STANDIN) as eng:
        assert eng.language.__name__ == "sglang.srt.disaggregation.multimodal_language"
        assert Path(eng.language.__file__ or "").is_relative_to(STANDIN.resolve())
    assert {k for k in sys.modules if k.startswith("sglang")} == before
    with pytest.raises(EngineSourceError):
        check_engine(HERE)


def test_trace_files_are_valid() -> None:
    for path in TRACES:
        load_trace(path)
    with pytest.raises(TraceError):
        load_trace(HERE / "test_enginediff.py")


def test_first_divergence() -> None:
    exp = [{"ranks": [[{"ev": "a"}], [{"ev": "b"}]]}, {"ranks": [[], [{"ev": "c"}]]}]
    assert first_divergence(exp, [[[{"ev": "a"}], [{"ev": "b"}]], [[], [{"ev": "c"}]]]) is None
    assert first_divergence(exp, [[[{"ev": "a"}], [{"ev": "b"}]]]) == {
        "step": 1, "rank": 1, "index": 0, "expected": {"ev": "c"}, "actual": None}
    assert first_divergence(exp, [[[{"ev": "a"}, {"ev": "x"}], [{"ev": "b"}]]])["index"] == 1
    dead = {"ev": "deadlock"}
    exp_dead = [{"ranks": [[{"ev": "p"}, dead], [dead]]}]
    assert first_divergence(exp_dead, [[[dead], [{"ev": "q"}, dead]]]) is None
    assert first_divergence(exp_dead, [[[dead], [{"ev": "q"}]]]) == {
        "step": 0, "rank": 1, "index": 1, "expected": dead, "actual": None}


def test_encoding_distinguishes_tokens() -> None:
    emb = encoding.source_embeddings(0, 300, 4)
    assert len({tuple(r) for r in emb.tolist()}) == 300
    assert torch.equal(emb.to(torch.bfloat16).to(torch.float32), emb)
    assert (emb.abs().sum(dim=1) > 0).all()
    ids = encoding.source_ids(0, 10)
    assert encoding.intact(ids.tolist(), emb[:10], None, 10, 4, 5)
    assert not encoding.intact(ids.tolist()[:9], emb[:9], None, 10, 4, 5)
    swapped = emb[:10].clone()
    swapped[[3, 4]] = swapped[[4, 3]]
    assert not encoding.intact(ids.tolist(), swapped, None, 10, 4, 5)


def test_scripted_receiver_status_rules() -> None:
    mgr = scripted.ScriptedManager()
    rx = scripted.ScriptedReceiver(mgr, "h:1", bootstrap_room=7)
    assert rx.poll() == scripted.WAITING_FOR_INPUT
    mgr.update_status(7, scripted.SUCCESS)
    mgr.update_status(7, scripted.TRANSFERRING)  # ignored after Success
    assert rx.poll() == scripted.SUCCESS
    mgr.update_status(7, scripted.FAILED)
    assert rx.poll() == scripted.SUCCESS  # latched
    rx2 = scripted.ScriptedReceiver(mgr, "h:1", bootstrap_room=8)
    rx2.abort()
    assert rx2.poll() == scripted.FAILED
    with pytest.raises(scripted.EmbeddingTransferError) as err:
        rx2.failure_exception()
    assert str(err.value) == "EmbeddingTransferError(bootstrap_room=8): Aborted by AbortReq."
    assert 8 not in mgr.request_status


# --- the real engine (opt-in) --------------------------------------------------------------

ENGINE_SRCS = [p for p in os.environ.get("RANKSYNC_ENGINE_SRC", "").split(os.pathsep) if p]


@pytest.mark.skipif(not ENGINE_SRCS, reason="RANKSYNC_ENGINE_SRC not set (no engine checkout)")
@pytest.mark.parametrize("src", ENGINE_SRCS)
def test_real_engine_matches_hand_made_traces(src: str) -> None:
    code, out = _run(["--engine-src", src, "--variant-check", "--json", *TRACES])
    report = _report(out)
    assert code == 0, out
    ran = [r for r in report["results"] if r["status"] != "skipped"]
    assert ran, f"no trace matches the engine's variant: {report['engine']}"
    assert all(r["status"] == "pass" for r in ran), out
