"""`ranksync logcheck FILE...`: which variants and topologies of the model can produce these
engine log lines, and which properties the lines decide.

Exit status:
  0  the analysis ran (whatever it found: the report states, per request, which
     variant/topology explains the lines, which cannot and why, and each property's verdict);
     with --strict: 1 if some analysed request is explained by no variant/topology, a
     property is decided violated, or a solver check was UNKNOWN;
     Lines that look like protocol lines but match no known format (formats.toml: every
     format of every listed engine commit) are reported with their line number and the
     nearest known format, and the rest of the log is still checked; with --strict they
     count as failures;
  2  bad input: not a log at all (missing/empty/binary file, not UTF-8, no line with the
     `[... TP<r>]` prefix) or bad options; one line on stderr, no traceback.
"""

from __future__ import annotations

import math
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import click
from ranksync.spec.config import ModelConfig
from ranksync.spec.properties import PROPERTIES
from ranksync.spec.variants import VARIANTS

from .. import limits as L
from ..output.emit import chosen, emit, format_options
from . import model_query as Q
from .findings import outcome
from .observations import Collector, RequestObs
from .parser import (
    InputError,
    LogFormatError,
    Parsed,
    Unmatched,
    has_tp_prefix,
    iter_file,
    parse_line,
)


def _die(msg: str) -> None:
    click.echo(f"ranksync logcheck: error: {L.one_line(msg)}", err=True)
    sys.exit(2)


def _csv(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [x.strip() for x in value.split(",") if x.strip()]


def _ints(value: str | None, what: str) -> list[int] | None:
    xs = _csv(value)
    if xs is None:
        return None
    try:
        return [int(x) for x in xs]
    except ValueError:
        _die(f"{what}: expected comma-separated integers, got {value!r}")
        raise


def read_logs(files: list[str], col: Collector) -> None:
    """Stream every file through the parser into the collector (InputError on bad input)."""
    for f in files:
        name = f if f == "-" else str(Path(f))
        if f != "-":
            p = Path(f)
            if p.exists() and p.is_file() and p.stat().st_size == 0:
                raise InputError(f"{f}: empty file")
        col.stats.files += 1
        n_lines, prefixed, protocol = 0, False, 0
        for lineno, line in iter_file(f):
            n_lines += 1
            try:
                parsed = parse_line(line)
            except LogFormatError as e:
                raise InputError(f"{name}:{lineno}: {e}") from None
            if not prefixed:
                prefixed = isinstance(parsed, Parsed) or has_tp_prefix(line)
            if isinstance(parsed, Parsed) and parsed.tp >= L.MAX_TP:
                raise InputError(f"{name}:{lineno}: rank TP{parsed.tp}; at most {L.MAX_TP} "
                                 f"ranks (TP0..TP{L.MAX_TP - 1}) can be analysed")
            if isinstance(parsed, Unmatched):
                col.feed_unmatched(parsed, name, lineno)  # reported; the rest is still checked
            elif parsed is not None:
                protocol += 1
                col.feed(parsed, name, lineno)
        col.stats.lines += n_lines
        if n_lines == 0 or (f == "-" and n_lines == 0):
            raise InputError(f"{name}: empty input")
        if not prefixed:
            raise InputError(f"{name}: unknown format: no line has the engine's "
                             "'[<asctime> TP<r>]' prefix (protocol.md §10)")


def _job(args: tuple[ModelConfig, str, RequestObs, str, list[str], int, bool, bool]
         ) -> Q.ComboResult:
    cfg, variant, req, match, props, timeout_ms, trace, verbose = args
    return Q.analyse(cfg, variant, req, match, props, timeout_ms,  # type: ignore[arg-type]
                     trace, verbose)


def _base_model(config_path: str | None) -> dict[str, Any]:
    """stale / faults / pool_pressure / progress_bound / pool from the prover configuration."""
    from ranksync.checker.cliutil import default_config_path
    from ranksync.checker.config import ConfigError, load

    try:
        pc = load(Path(config_path) if config_path else default_config_path())
    except ConfigError as e:
        _die(str(e))
        raise
    m = dict(pc.model)
    keep = {k: tuple(m[k]) if isinstance(m[k], list) else m[k]
            for k in ("stale", "faults", "pool_pressure", "held_range", "progress_bound") if k in m}
    keep["_pool"] = int(m.get("pool_blocks", 4))
    keep["_block_sizes"] = tuple(m.get("block_sizes", (1, 2)))
    keep["_timeout"] = float(pc.timeout_seconds)
    return keep


@click.command("logcheck", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option("--match", "match", type=click.Choice(["subsequence", "exact"]),
              default="subsequence", show_default=True,
              help="subsequence: the log is an excerpt (the model may emit more lines); "
              "exact: the log holds every §10.1 line of each rank that appears in it")
@click.option("--variants", default="prefix,seed", show_default=True,
              help="comma-separated model variants")
@click.option("--topologies", default="a,b", show_default=True)
@click.option("--ranks", type=int, help="T (default: highest TP rank seen + 1)")
@click.option("--embedding-ranks", help="topology a: E values to try (default: divisors of T)")
@click.option("--receivers", help="topology b: ranks that receive data (default: symbolic)")
@click.option("--block-size", type=int, help="tokens per block (default: derived from "
              "'allocated m blocks (A tokens)', else 8192 for engine-sized numbers)")
@click.option("--default-allocate-tokens", type=int, help="first allocation in tokens "
              "(default: 8192 when block_size is 8192, else symbolic in [1, 2*bs])")
@click.option("--max-length", type=int, help="upper end of L's range")
@click.option("--pool-blocks", type=int, help="blocks per language rank in the model")
@click.option("--depth", type=int, help="iterations unrolled (default: longest rank + 3)")
@click.option("--properties", "props", default="agreement,seed_claim", show_default=True,
              help="properties to decide, comma-separated, or 'all'")
@click.option("--rid", "rids", multiple=True, help="analyse only this request (repeatable; "
              "'?' = the lines without rid)")
@click.option("--max-analyse", type=int, default=4, show_default=True,
              help="requests checked with the solver (disagreeing ones first)")
@click.option("--max-requests", type=int, default=10_000, show_default=True,
              help="distinct requests kept in memory")
@click.option("--max-lines-per-rank", type=int, default=256, show_default=True,
              help="lines kept per (request, rank); longer sequences are not analysed")
@click.option("--unknown-rid", type=click.Choice(["auto", "separate", "attach"]),
              default="auto", show_default=True,
              help="lines without rid: their own request, or attached to the only named one "
              "(auto: attach when the log names exactly one request)")
@click.option("--timeout", type=float, help="seconds per solver check (default: config)")
@click.option("--jobs", type=int, default=min(2, L.max_jobs()), show_default=True,
              help="worker processes (at most the CPU count unless --force)")
@click.option("--force", is_flag=True, help="allow --jobs above the CPU count")
@click.option("--traces", type=click.Choice(["first", "all", "none"]), default="first",
              show_default=True, help="model timelines shown per request")
@click.option("--config", "config_path", type=click.Path(), help="prover config (model "
              "assumptions: stale, faults, pool_pressure)")
@format_options
@click.option("--verbose", "-v", is_flag=True, help="every event in the timelines")
@click.option("--strict", is_flag=True, help="exit 1 on an unexplained request, a decided "
              "violation or an UNKNOWN check")
def logcheck(files: tuple[str, ...], match: str, variants: str, topologies: str,
             ranks: int | None, embedding_ranks: str | None, receivers: str | None,
             block_size: int | None, default_allocate_tokens: int | None,
             max_length: int | None, pool_blocks: int | None, depth: int | None, props: str,
             rids: tuple[str, ...], max_analyse: int, max_requests: int,
             max_lines_per_rank: int, unknown_rid: str, timeout: float | None, jobs: int,
             force: bool,
             traces: str, config_path: str | None, fmt: str | None, as_json: bool,
             output: str | None, sarif_path: str | None, verbose: bool, strict: bool) -> None:
    """Check engine log lines (protocol.md §10) against the model: which variants and
    topologies can produce them (with a model run that does), which cannot (and the line
    that cannot be produced), and which properties the lines decide."""
    form = chosen(fmt, as_json)
    vs = _csv(variants) or []
    for v in vs:
        if v not in VARIANTS:
            _die(f"unknown variant {v!r}; known: {', '.join(VARIANTS)}")
    tops = _csv(topologies) or []
    for t in tops:
        if t not in ("a", "b"):
            _die(f"unknown topology {t!r}; known: a, b")
    plist = list(PROPERTIES) if props.strip() == "all" else (_csv(props) or [])
    for pname in plist:
        if pname not in PROPERTIES:
            _die(f"unknown property {pname!r}; known: {', '.join(PROPERTIES)}, all")
    es = _ints(embedding_ranks, "--embedding-ranks")
    recv = _ints(receivers, "--receivers")
    for name, val in (("--block-size", block_size), ("--default-allocate-tokens",
                      default_allocate_tokens), ("--max-length", max_length),
                      ("--pool-blocks", pool_blocks), ("--depth", depth), ("--ranks", ranks)):
        if val is not None and val < 1:
            _die(f"{name} must be >= 1")
    for name, val, cap in (("--depth", depth, L.MAX_DEPTH), ("--ranks", ranks, L.MAX_TP),
                           ("--pool-blocks", pool_blocks, L.MAX_POOL),
                           ("--block-size", block_size, L.MAX_TRACE_TOKENS),
                           ("--default-allocate-tokens", default_allocate_tokens,
                            L.MAX_TRACE_TOKENS),
                           ("--max-length", max_length, 1 << 30),
                           ("--max-analyse", max_analyse, 1000),
                           ("--max-requests", max_requests, 1_000_000),
                           ("--max-lines-per-rank", max_lines_per_rank, 100_000)):
        if val is not None and val > cap:
            _die(f"{name} must be <= {cap}, got {val}")
    for xs, name in ((es, "--embedding-ranks"), (recv, "--receivers")):
        if xs and any(not 0 <= x <= L.MAX_TP for x in xs):
            _die(f"{name}: values must be in 0..{L.MAX_TP}")
    if jobs < 1 or max_analyse < 0 or max_requests < 1 or max_lines_per_rank < 1:
        _die("--jobs, --max-requests, --max-lines-per-rank must be >= 1, --max-analyse >= 0")
    problem = L.check_jobs(jobs, force)
    if problem:
        _die(problem)
    if timeout is not None and not (math.isfinite(timeout) and
                                    L.MIN_TIMEOUT <= timeout <= L.MAX_TIMEOUT):
        _die(f"--timeout must be a number of seconds in [{L.MIN_TIMEOUT}, {L.MAX_TIMEOUT:g}] "
             f"(the solver counts milliseconds), got {timeout}")

    base = _base_model(config_path)
    timeout_ms = int(1000 * (timeout or base.pop("_timeout")))
    base.pop("_timeout", None)
    base_pool = base.pop("_pool")
    base_bss = base.pop("_block_sizes")

    col = Collector(max_requests=max_requests, max_lines=max_lines_per_rank)
    try:
        read_logs(list(files), col)
        reqs = col.finish(unknown_rid)  # type: ignore[arg-type]
    except InputError as e:
        _die(str(e))
        raise
    except ValueError as e:
        _die(str(e))
        raise

    if rids:
        want = {None if r == "?" else r for r in rids}
        reqs = [r for r in reqs if r.rid in want]
        if not reqs:
            _die(f"no lines for --rid {', '.join(rids)} in the log")
    order = sorted(reqs, key=lambda r: (not r.signature_differs(), -r.n_lines()))
    picked = [r for r in order if not r.overflow][:max_analyse]
    skipped = [r for r in order if r not in picked]

    # one job per (request, variant, topology, E)
    plan: list[tuple[RequestObs, Q.Scale, list[ModelConfig], str]] = []
    for req in picked:
        try:
            sc = Q.derive_scale(req, block_size=block_size,
                                default_tokens=default_allocate_tokens, ranks=ranks,
                                depth=depth, pool_blocks=pool_blocks, max_length=max_length,
                                base_pool=base_pool, base_block_sizes=base_bss)
            for v in vs:
                for t in tops:
                    cfgs = Q.model_configs(base, sc, t, es, tuple(sorted(set(recv)))
                                           if recv and t == "b" else None)
                    for cfg in cfgs:
                        plan.append((req, sc, [cfg], v))
        except ValueError as e:
            _die(str(e))
    want_trace = traces != "none"
    args = [(p[2][0], p[3], p[0], match, plist, timeout_ms, want_trace, verbose) for p in plan]
    if jobs > 1 and len(args) > 1:
        import multiprocessing as mp

        with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("fork")) as ex:
            results = list(ex.map(_job, args))
    else:
        results = [_job(a) for a in args]

    report = _report(col, reqs, picked, skipped, plan, results, match, plist)
    out = outcome(report, strict, _text(report, traces))
    emit(out, form, output, None, sarif_path)
    sys.exit(out.exit_code)


def _report(col: Collector, reqs: list[RequestObs], chosen: list[RequestObs],
            skipped: list[RequestObs], plan: list[tuple[RequestObs, Q.Scale,
                                                         list[ModelConfig], str]],
            results: list[Q.ComboResult], match: str, plist: list[str]) -> dict[str, Any]:
    st = col.stats
    out: dict[str, Any] = {
        "match": match, "properties": plist,
        "input": {"files": st.files, "lines": st.lines, "protocol_lines": st.protocol_lines,
                  "language_lines": st.language_lines, "embedding_lines": st.embedding_lines,
                  "requests": len(reqs), "dropped_requests": st.dropped_requests,
                  "dropped_lines": st.dropped_lines},
        "embedding_side": {"counts": dict(col.embedding_counts),
                           "examples": col.embedding_examples,
                           "note": "embedding-side lines are parsed and reported but not "
                                   "matched against the model"},
        "requests": [], "not_analysed": [], "strict_failures": 0,
        "unmatched": {"count": st.unmatched_lines, "lines": col.unmatched},
        "reported_only": {"counts": dict(col.info_counts),
                          "note": "language lines of kinds the model does not emit"},
    }
    for r in skipped:
        why = ("more lines on a rank than --max-lines-per-rank" if r.overflow else
               "beyond --max-analyse")
        out["not_analysed"].append({"request": r.label, "lines": r.n_lines(), "reason": why})
    fails = 0
    for req in chosen:
        rows = [(sc, res) for (q, sc, _c, _v), res in zip(plan, results, strict=True)
                if q is req]
        sc = rows[0][0] if rows else None
        combos = [res for _sc, res in rows]
        explained = [c.label for c in combos if c.verdict == "consistent"]
        unexplained = [c.label for c in combos if c.verdict == "inconsistent"]
        unknown = [c.label for c in combos if c.verdict == "unknown"]
        props: dict[str, dict[str, str]] = {}
        for c in combos:
            for p in c.properties:
                props.setdefault(p.name, {})[c.label] = p.verdict
        fails += (not explained) + len(unknown) + sum(
            1 for c in combos for p in c.properties if p.verdict in ("violated", "unknown"))
        out["requests"].append({
            "request": req.label, "rid": req.rid, "dp": req.dp, "pp": req.pp,
            "lines": {f"TP{r}": [o.to_json() for o in seq] for r, seq in sorted(req.ranks.items())},
            "screen_ranks_differ": req.signature_differs(),
            "scale": {"block_sizes": list(sc.block_sizes),
                      "default_alloc_range": list(sc.default_alloc_range),
                      "length_range": list(sc.length_range), "pool_blocks": sc.pool_blocks,
                      "tp_size": sc.tp_size, "depth": sc.depth, "notes": sc.notes}
            if sc else None,
            "explained_by": explained, "not_explained_by": unexplained, "unknown": unknown,
            "property_verdicts": props,
            "combos": [c.to_json() for c in combos]})
    out["strict_failures"] = fails + st.unmatched_lines
    return out


def _text(rep: dict[str, Any], traces: str) -> str:
    i = rep["input"]
    L = [f"ranksync logcheck: {i['files']} file(s), {i['lines']} lines, {i['protocol_lines']} "
         f"protocol lines ({i['language_lines']} language, {i['embedding_lines']} "
         f"embedding side), {i['requests']} request(s); match: {rep['match']}"]
    if i["dropped_requests"] or i["dropped_lines"]:
        more = "at least " if i["dropped_requests"] >= Collector.MAX_DROPPED_KEYS else ""
        L.append(f"CAP: {more}{i['dropped_requests']} request(s) beyond --max-requests and "
                 f"{i['dropped_lines']} line(s) not kept (see --max-requests, "
                 f"--max-lines-per-rank)")
    un = rep["unmatched"]
    if un["count"]:
        L.append(f"UNMATCHED: {un['count']} line(s) look like protocol lines but match no known "
                 "format (checked the rest):")
        for u in un["lines"]:
            L.append(f"   {u['file']}:{u['line']}: {u['message']!r}")
            L.append(f"      {u['reason']}; nearest known format: {u['nearest']!r} "
                     f"({u['nearest_kind']}; {', '.join(u['nearest_commits']) or 'no listed commit'})")
        if un["count"] > len(un["lines"]):
            L.append(f"   ... and {un['count'] - len(un['lines'])} more")
    if rep["reported_only"]["counts"]:
        L.append("language lines the model does not emit (reported, not matched): " + ", ".join(
            f"{k} x{n}" for k, n in sorted(rep["reported_only"]["counts"].items())))
    if rep["embedding_side"]["counts"]:
        L.append("embedding side (reported, not matched against the model): " + ", ".join(
            f"{k} x{n}" for k, n in sorted(rep["embedding_side"]["counts"].items())))
    if not rep["requests"] and not rep["not_analysed"]:
        L.append("no language-side protocol lines (§10.1): nothing to check against the model")
    for r in rep["requests"]:
        L.append("")
        L.append(f"== request {r['request']}")
        for rank, seq in r["lines"].items():
            for o in seq:
                vals = ", ".join(f"{k}={v}" for k, v in o["values"].items())
                L.append(f"   [{rank}] {o['kind']}({vals})   {o['file']}:{o['line']}")
        s = r["scale"]
        L.append(f"   model scale: T={s['tp_size']}, depth {s['depth']}; " + "; ".join(s["notes"]))
        if r["screen_ranks_differ"]:
            L.append("   ranks logged different kinds of lines (whether in the same iteration "
                     "is for the model to say)")
        head = f"   {'variant/topology':28} {'verdict':14}"
        for p in rep["properties"]:
            head += f" {p:12}"
        L.append(head + "  time")
        for c in r["combos"]:
            lab = c["variant"] + "/" + c["topology"]
            if c["topology"] == "a" and c["embedding_tp_size"] is not None:
                lab += f" E={c['embedding_tp_size']}"
            if c["topology"] == "b" and c["receivers"] is not None:
                lab += f" recv={c['receivers']}"
            row = f"   {lab:28} {c['verdict'].upper() if c['verdict'] != 'consistent' else 'consistent':14}"
            pv = {p["property"]: p["verdict"] for p in c["properties"]}
            for p in rep["properties"]:
                row += f" {pv.get(p, '-'):12}"
            L.append(row + f"  {c['seconds']:.1f}s")
            if c["verdict"] == "inconsistent":
                L.append(f"      why: {c['reason']}")
            elif c["verdict"] == "unknown":
                L.append(f"      {c['reason']}")
            else:
                pl = "; ".join(f"{k}: " + ",".join(f"it{x}" for x in v)
                               for k, v in c["placement"].items() if v)
                if pl:
                    L.append(f"      observed lines at iterations: {pl}")
        L.append(f"   bound: {r['combos'][0]['bound'] if r['combos'] else '-'}")
        L.append("   explained by: " + (", ".join(r["explained_by"]) or "NONE"))
        if r["not_explained_by"]:
            L.append("   not explained by: " + ", ".join(r["not_explained_by"]) +
                     " (no run within the bound)")
        if r["unknown"]:
            L.append("   UNKNOWN (solver): " + ", ".join(r["unknown"]))
        for p, per in r["property_verdicts"].items():
            verdicts = sorted(set(per.values()))
            if verdicts == ["violated"]:
                msg = "VIOLATED in every explaining run of every explaining variant/topology"
            elif verdicts == ["holds"]:
                msg = "holds in every explaining run"
            elif verdicts == ["undecided"]:
                msg = ("NOT DECIDED by these lines: explaining runs exist where it holds and "
                       "where it is violated")
            else:
                msg = "depends on variant/topology: " + ", ".join(f"{k}: {v}"
                                                                   for k, v in per.items())
            L.append(f"   {p}: {msg}")
            for c in r["combos"]:
                for q in c["properties"]:
                    if q["property"] == p and q["verdict"] in ("violated", "undecided"):
                        lab = c["variant"] + "/" + c["topology"] + (
                            f" E={c['embedding_tp_size']}" if c["embedding_tp_size"] else "")
                        L.append(f"      {lab}: {q['detail']}")
        shown = 0
        # the plainest explanation first (no faults, no stale aux rows)
        for c in sorted(r["combos"], key=lambda c: not c.get("plain_run")):
            if c["timeline"] and (traces == "all" or shown == 0):
                L.append("")
                L.extend("   " + x for x in c["timeline"].splitlines())
                shown += 1
    for n in rep["not_analysed"]:
        L.append(f"not analysed: {n['request']} ({n['lines']} lines): {n['reason']}")
    return "\n".join(L)
