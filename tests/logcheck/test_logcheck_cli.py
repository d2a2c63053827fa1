"""`ranksync logcheck` end to end: bad input exits 2, the model explains its own logs, a
disagreement the logs pin to one iteration is decided, and the seed's excerpt."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from ranksync.checker.logcheck.cli import logcheck
from ranksync.checker.scenario import Scenario
from ranksync.spec.config import ModelConfig

LIGHT = str(Path(__file__).parent / "data" / "light.toml")  # zero stale rows, no pressure


def run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(logcheck, list(args))
    return r.exit_code, r.stdout, r.stderr


# --- bad input ---------------------------------------------------------------------------
@pytest.mark.parametrize("content,needle", [
    (None, "no such file"),
    (b"", "empty file"),
    (b"\x7fELF\x00\x01\x02\x00\x00binary", "binary"),
    (b"[TP0] ok\n\xff\xfe\xfa garbage\n", "not UTF-8"),
    (b'{"json": "not a log"}\n{"x": 1}\n', "unknown format"),
])
def test_bad_input_exit_2(tmp_path: Path, content: bytes | None, needle: str):
    f = tmp_path / "in.log"
    if content is not None:
        f.write_bytes(content)
    code, out, err = run(str(f))
    assert code == 2, (out, err)
    assert needle in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_bad_option_exit_2(data: Path):
    code, _out, err = run(str(data / "seed_excerpt.log"), "--variants", "nope")
    assert code == 2 and "unknown variant" in err


# --- the model explains its own log ----------------------------------------------------------
def model_log(tmp_path: Path, variant: str, cfg: ModelConfig, schedule: list[dict],
              length: int) -> Path:
    """The §10.1 lines of a concrete model run, as the engine would log them."""
    sc = Scenario(cfg=cfg, variant=variant, length=length, bs=1, default_tokens=1,
                  receivers=list(range(cfg.tp_size)),
                  aux0=[[0] * cfg.pool_blocks for _ in range(cfg.tp_size)],
                  aux1=[[0] * cfg.pool_blocks for _ in range(cfg.tp_size)],
                  held=[0] * cfg.tp_size, schedule=schedule)
    tr = sc.trace("t")
    lines = [f"[2025-06-01 10:00:{k:02d} TP{r}] {e['msg']}"
             for k, st in enumerate(tr["expected"]) for r, evs in enumerate(st["ranks"])
             for e in evs if e["ev"] == "log"]
    lines.insert(1, "[2025-06-01 10:00:00 TP0] Prefill batch. #new-seq: 1 (unrelated)")
    f = tmp_path / "model.log"
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return f


def eager(n: int, T: int) -> list[dict]:
    return [{"messages": list(range(T)), "encode": True, "chunks": [0], "chunk_fail": [],
             "emb_finish": True, "deliver": list(range(T)), "abort": False,
             "lang": True} for _ in range(n)]


@pytest.mark.heavy
def test_model_log_of_seed_topology_a_is_explained_by_seed_a(tmp_path: Path):
    cfg = ModelConfig(tp_size=2, topology="a", embedding_tp_size=1, depth=4, block_sizes=(1,),
                      length_range=(1, 6), default_alloc_range=(1, 1))
    f = model_log(tmp_path, "seed", cfg, eager(4, 2), length=3)
    text = f.read_text()
    assert "Synced aux_datas" in text and "Merging resumed transfer data" in text
    code, out, err = run(str(f), "--match", "exact", "--topologies", "a",
                         "--embedding-ranks", "1", "--json", "--depth", "4",
                         "--default-allocate-tokens", "1", "--config", LIGHT)
    assert code == 0, err
    rep = json.loads(out)
    (req,) = rep["requests"]
    assert req["rid"] == "req-0"
    assert req["explained_by"] == ["seed/a E=1"]
    assert req["not_explained_by"] == ["prefix/a E=1"]  # prefix never logs "Synced ..."
    assert req["property_verdicts"]["agreement"] == {"seed/a E=1": "holds"}
    seed = next(c for c in req["combos"] if c["variant"] == "seed")
    assert "Merging resumed transfer data" in seed["timeline"]


# --- a disagreement pinned to one iteration ------------------------------------------------
@pytest.mark.heavy
def test_agreement_violation_decided(tmp_path: Path):
    f = tmp_path / "split.log"
    f.write_text(
        "[TP0] Partial transfer detected for rid=r1: received 1/2 tokens, need to resume for 1 "
        "more tokens\n"
        "[TP1] Unexpected: Transferring status but sent_tokens=0 >= actual_total_length=0\n"
        "[TP0] Resume transfer initiated for rid=r1: allocated 1 blocks (1 tokens)\n",
        encoding="utf-8")
    code, out, err = run(str(f), "--match", "exact", "--variants", "prefix", "--topologies",
                         "b", "--properties", "agreement", "--json", "--jobs", "1", "--config", LIGHT)
    assert code == 0, err
    (req,) = json.loads(out)["requests"]
    assert req["explained_by"] == ["prefix/b"]
    assert req["property_verdicts"]["agreement"] == {"prefix/b": "violated"}
    # the same lines as an excerpt: they might come from different iterations
    code, out, _err = run(str(f), "--match", "subsequence", "--variants", "prefix",
                          "--topologies", "b", "--properties", "agreement", "--json",
                          "--traces", "none", "--jobs", "1", "--config", LIGHT)
    (req,) = json.loads(out)["requests"]
    assert req["property_verdicts"]["agreement"] == {"prefix/b": "undecided"}


# --- the seed's excerpt --------------------------------------------------------------------
@pytest.mark.heavy
def test_seed_excerpt_topology_b(data: Path):
    code, out, err = run(str(data / "seed_excerpt.log"), "--topologies", "b", "--json",
                         "--config", LIGHT)
    assert code == 0, err
    (req,) = json.loads(out)["requests"]
    assert req["rid"] is None
    assert req["scale"]["block_sizes"] == [8192] and req["scale"]["tp_size"] == 4
    assert req["explained_by"] == ["prefix/b"]
    assert req["not_explained_by"] == ["seed/b"]
    seed = next(c for c in req["combos"] if c["variant"] == "seed")
    assert "unexpected(S=0, L=0)" in seed["reason"]
    assert req["property_verdicts"]["agreement"] == {"prefix/b": "undecided"}
