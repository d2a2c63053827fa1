"""Fuzz the log surface (`ranksync logcheck`): lines generated from every §10 message format
(checker/logcheck/formats.toml: random numbers, rids, ranks up to TP999, timestamps or none),
mixed with garbage, cut lines and bytes that are not UTF-8. The default run parses and
groups (--max-analyse 0); RANKSYNC_FUZZ_ANALYSE=1 also runs the solver on one request."""

from __future__ import annotations

import os

from hypothesis import event, given
from hypothesis import strategies as st
from ranksync.checker.logcheck.formats import formats

from .fuzzing import fuzz_settings, run_in, sandbox

# every entry of the alias table (checker/logcheck/formats.toml), as its compiled pattern
messages = st.one_of(*[st.from_regex(f.regex, fullmatch=True) for f in formats()])
prefixes = st.one_of(
    st.builds(lambda r: f"[TP{r}] ", st.integers(0, 4)),
    st.builds(lambda r: f"[2026-01-01 00:00:00 TP{r}] ",
              st.one_of(st.integers(0, 3), st.sampled_from([15, 16, 999, 10**12]))),
    st.sampled_from(["", "[TP", "TP0] ", "[x TP-1] "]))
lines = st.one_of(st.builds(lambda p, m: p + m, prefixes, messages),
                  st.builds(lambda p, m, n: p + m[:n], prefixes, messages, st.integers(0, 30)),
                  st.text(max_size=40).map(lambda s: s.replace("\n", " ")))


@fuzz_settings("log")
@given(body=st.lists(lines, min_size=0, max_size=12),
       tail=st.one_of(st.none(), st.binary(max_size=6)),
       opts=st.lists(st.sampled_from([["--match", "exact"], ["--topologies", "b"],
                                      ["--unknown-rid", "separate"], ["--ranks", "4"],
                                      ["--json"], ["--strict"], ["--format", "sarif"]]),
                     max_size=2))
def test_fuzz_log(body, tail, opts):
    data = "\n".join(body).encode("utf-8", "surrogatepass") + (tail or b"")
    analyse = "1" if os.environ.get("RANKSYNC_FUZZ_ANALYSE") else "0"
    with sandbox() as box:
        (box / "in.log").write_bytes(data)
        args = ["logcheck", "in.log", "--max-analyse", analyse, "--jobs", "1",
                "--timeout", "5", *[x for o in opts for x in o]]
        r = run_in(box, args, cap=60, saved=("log", data))
        event(f"exit {r.code}")
