"""One commit: extract its `python/sglang`, run the trace set on its own code, and judge.

Verdicts (never a silent pass):

* ``could not load`` — the loader rejected the checkout (which import or stand-in failed);
* ``mapping broken`` — some event or field of the engine's runs could not be observed (a log
  line matching no entry of formats.toml, a decision without its values, a run that hung
  outside the aligned collectives); the property table is shown for what was observed;
* ``ran`` — every run mapped: the property table (violated with the first run and
  iteration / holds / not exercised) is the engine's own;
* ``error`` — the harness itself failed (its bug, exit 4).

Results are cached per (tree hash of `python/sglang`, trace-set digest, code digest): the raw
records per harness digest, the judgement per digest of the judging code and the model.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import tarfile
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from . import mapping as M
from .traceset import TraceSet, code_digest

HARNESS = ("checker/enginediff",)
JUDGE = ("checker/history", "checker/logcheck", "spec")


class RepoError(Exception):
    """Bad --engine-repo or commit (one line, user-facing)."""


def git(repo: str, *args: str, binary: bool = False) -> Any:
    r = subprocess.run(["git", "--git-dir", repo, *args], capture_output=True, check=False,
                       text=not binary, timeout=300)
    if r.returncode != 0:
        err = r.stderr if isinstance(r.stderr, str) else r.stderr.decode(errors="replace")
        raise RepoError((err.strip().splitlines() or ["git failed"])[-1])
    return r.stdout


def resolve(repo: str, specs: list[str]) -> list[tuple[str, str]]:
    """(spec as given or short sha, full sha) for every commit; A..B is git's range."""
    out: list[tuple[str, str]] = []
    for s in specs:
        if ".." in s:
            shas = git(repo, "rev-list", "--reverse", "--topo-order", s).split()
            if not shas:
                raise RepoError(f"range {s} names no commit")
            out += [(x[:9], x) for x in shas]
        else:
            try:
                out.append((s, git(repo, "rev-parse", "--verify", f"{s}^{{commit}}").strip()))
            except RepoError as e:
                raise RepoError(f"commit {s}: {e}") from None
    return out


def tree_of(repo: str, sha: str) -> str:
    try:
        return str(git(repo, "rev-parse", f"{sha}:python/sglang").strip())
    except RepoError as e:
        raise RepoError(f"{sha[:9]} has no python/sglang ({e})") from None


def extract(repo: str, sha: str, dest: Path) -> None:
    data = git(repo, "archive", "--format=tar", sha, "python/sglang", binary=True)
    with tempfile.TemporaryFile() as f:
        f.write(data)
        f.seek(0)
        with tarfile.open(fileobj=f) as tar:
            tar.extractall(dest, filter="data")


def _keys(repo: str, sha: str, ts: TraceSet, expected: dict[str, Any], connection: str
          ) -> tuple[str, str, str]:
    """(tree hash, records key, judgement key)."""
    tree = tree_of(repo, sha)
    rkey = f"{tree[:16]}-{ts.digest}-{code_digest(*HARNESS)}-{connection}"
    return tree, rkey, f"{rkey}-{code_digest(*JUDGE)}-{_digest(expected)}"


def cached_result(repo: str, label: str, sha: str, ts: TraceSet, expected: dict[str, Any],
                  cache: Path | None, connection: str = "auto") -> dict[str, Any] | None:
    """The judged result from the cache, if nothing it depends on changed."""
    if cache is None:
        return None
    t0 = time.perf_counter()
    jpath = cache / "results" / f"{_keys(repo, sha, ts, expected, connection)[2]}.json"
    if not jpath.is_file():
        return None
    res = dict(json.loads(jpath.read_text()))
    res.update(label=label, cached=True, seconds=time.perf_counter() - t0)
    return res


def run_commit(repo: str, label: str, sha: str, ts: TraceSet, expected: dict[str, Any],
               cache: Path | None, connection: str = "auto", logs: Path | None = None
               ) -> dict[str, Any]:
    """The judged result of one commit (a JSON-able dict)."""
    t0 = time.perf_counter()
    if logs is None:
        hit = cached_result(repo, label, sha, ts, expected, cache, connection)
        if hit is not None:
            return hit
    tree, rkey, jkey = _keys(repo, sha, ts, expected, connection)
    jpath = cache / "results" / f"{jkey}.json" if cache else None
    base = {"label": label, "commit": sha, "tree": tree, "traceset": ts.digest,
            "cached": False}
    rpath = cache / "records" / f"{rkey}.json.gz" if cache else None
    if rpath is not None and rpath.is_file():
        raw = json.loads(gzip.decompress(rpath.read_bytes()))
    else:
        raw = _run(repo, sha, ts, connection)
        if rpath is not None and raw.get("verdict") != "error":
            rpath.parent.mkdir(parents=True, exist_ok=True)
            rpath.write_bytes(gzip.compress(json.dumps(raw).encode()))
    res = dict(base, **judge(raw, ts, expected))
    if logs is not None and raw.get("records"):
        write_logs(raw["records"], logs / label)
    res["seconds"] = time.perf_counter() - t0
    if jpath is not None and res["verdict"] != "error":
        jpath.parent.mkdir(parents=True, exist_ok=True)
        jpath.write_text(json.dumps(res))
    return res


def _run(repo: str, sha: str, ts: TraceSet, connection: str) -> dict[str, Any]:
    from ..enginediff.driver import run_records
    from ..enginediff.loader import EngineSourceError, engine_modules

    with tempfile.TemporaryDirectory(prefix="ranksync-history-") as tmp:
        extract(repo, sha, Path(tmp))
        try:
            with engine_modules(tmp) as eng:
                conn, note = eng.connection is not None, eng.connection_note
        except EngineSourceError as e:
            return {"verdict": "could not load", "reason": str(e).replace(tmp, "<checkout>")}
        try:
            recs = run_records(tmp, [r["trace"] for r in ts.runs], connection,
                               has_connection=conn)
        except EngineSourceError as e:
            return {"verdict": "could not load", "reason": str(e).replace(tmp, "<checkout>")}
    return {"verdict": None, "connection": "driven" if conn else "scripted",
            "connection_note": note, "records": [
                {k: v for k, v in asdict(r).items() if k != "trace"} for r in recs]}


def _digest(expected: dict[str, Any]) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(sorted(expected)).encode()).hexdigest()[:8]


def judge(raw: dict[str, Any], ts: TraceSet, expected: dict[str, Any]) -> dict[str, Any]:
    """Properties, mapping errors, divergences and conformance from the raw records."""
    from . import adapter as A

    if raw.get("verdict") == "could not load":
        return {"verdict": "could not load", "reason": raw["reason"], "properties": {}}
    props: dict[str, dict[str, Any]] = {}
    errors: list[dict[str, Any]] = []
    crashes: list[dict[str, Any]] = []
    internal: list[str] = []
    divs: dict[str, list[dict[str, Any]]] = {}
    modes: dict[str, int] = {}
    cut = 0
    layouts: dict[str, dict[str, str]] = {}
    conforms = {v: {"exact": 0, "behaviour": 0} for v in expected}
    for run, rec in zip(ts.runs, raw["records"], strict=True):
        rid = run["id"]
        modes[rec["mode"]] = modes.get(rec["mode"], 0) + 1
        if rec["status"] == "timeout":
            errors.append(dict(M.MappingError("hang", f"{rec['error']}: events after the hang "
                                              "were not observed").to_json(), run=rid))
            continue
        if rec["status"] != "ran" or not rec.get("replicas_agree", True):
            internal.append(f"{rid}: {rec.get('error') or 'embedding side replicas diverged'}")
            continue
        env = rec["env"] if rec["mode"] == "driven" else None
        b = A.build(run["trace"], rec["ranks"], rec["env"], rec["mode"] == "driven")
        errors += [dict(e.to_json(), run=rid) for e in b.errors]
        cut += b.cut
        crashes += [dict(c, run=rid) for c in b.crashes]
        sc = run["trace"]["scenario"]
        lay = layouts.setdefault(f"T{sc['tp_size']} E{sc.get('embedding_tp_size', '-')}", {})
        for name, oc in A.evaluate(b).items():
            lay[name] = "violated" if oc.violated_at is not None or lay.get(name) == "violated" \
                else "holds" if oc.premise or lay.get(name) == "holds" else "not exercised"
            p = props.setdefault(name, {"status": "not exercised", "premise_runs": 0})
            p["premise_runs"] += int(oc.premise)
            if oc.violated_at is not None:
                p["violations"] = p.get("violations", 0) + 1
                if len(p.setdefault("all", [])) < 100:
                    p["all"].append({"run": rid, "step": oc.violated_at, "ranks": oc.ranks})
                if p["status"] != "violated":
                    p.update(status="violated", run=rid, step=oc.violated_at, ranks=oc.ranks)
            elif oc.premise and p["status"] == "not exercised":
                p["status"] = "holds"
        for v, exp in expected.items():
            own = M.divergences(exp[rid], rec["ranks"], env, "exact")
            conforms[v]["exact"] += not own
            conforms[v]["behaviour"] += not own or not M.divergences(exp[rid], rec["ranks"],
                                                                    env, "behaviour")
            divs.setdefault(v, []).extend(dict(d, run=rid) for d in own)
    verdict = ("error" if internal else "mapping broken" if errors else "ran")
    lost = sorted({e["what"] + ": " + e["detail"] for e in errors})
    return {"verdict": verdict, "reason": "; ".join(internal[:3]) if internal else
            ("; ".join(lost[:5]) if errors else ""),
            "connection": raw.get("connection"), "connection_note": raw.get("connection_note"),
            "modes": modes, "properties": props, "layouts": layouts, "cut_runs": cut,
            "mapping_errors": errors[:50],
            "mapping_error_count": len(errors), "crashes": crashes[:20],
            "divergences": {v: {"count": len(ds), "runs": len({d["run"] for d in ds}),
                                "first": ds[:100]} for v, ds in divs.items()},
            "runs": len(ts.runs),
            "conforms": conforms}


def write_logs(records: list[dict[str, Any]], base: Path) -> None:
    """The engine's own log lines of every run, as its process logger would print them:
    language ranks in `<base>.language.log`, the embedding side in `<base>.embedding.log`."""
    base.parent.mkdir(parents=True, exist_ok=True)
    lang, emb = [], []
    for n, rec in enumerate(records):
        for k, per_rank in enumerate(rec.get("ranks", [])):
            stamp = f"2025-10-23 10:{n // 60 % 60:02d}:{n % 60:02d}"
            for r, evs in enumerate(per_rank):
                lang += [f"[{stamp} TP{r}] {e['msg']}" for e in evs
                         if e.get("ev") == "log" and e.get("level") != "DEBUG"]
            env = rec.get("env", [])
            if k < len(env):
                emb += [f"[{stamp} TP{e.get('emb') or 0}] {e['msg']}"
                        for e in env[k].get("emb", [])
                        if e.get("ev") == "emb_log" and e.get("level") != "DEBUG"]
    base.with_suffix(".language.log").write_text("\n".join(lang) + "\n", encoding="utf-8")
    base.with_suffix(".embedding.log").write_text("\n".join(emb) + "\n", encoding="utf-8")
