"""Parser and collector: formats of protocol.md §10, bad input, bounded memory."""

from __future__ import annotations

import pytest
from ranksync.checker.logcheck import parser as P
from ranksync.checker.logcheck.observations import Collector


def test_seed_note_lines(data):
    lines = (data / "seed_excerpt.log").read_text(encoding="utf-8").splitlines()
    got = [P.parse_line(x) for x in lines]
    assert [(g.kind, g.tp, g.rid, g.values) for g in got if g] == [
        (P.RESUME_INITIATED, 0, None, (2, 16384)), (P.RESUME_INITIATED, 2, None, (2, 16384)),
        (P.UNEXPECTED, 1, None, (0, 0)), (P.UNEXPECTED, 3, None, (0, 0))]


@pytest.mark.parametrize("line,kind,tp,dp,rid,values", [
    ("[2025-06-01 10:00:00 TP3] Synced aux_datas across ranks for rid=abc: "
     "actual_total_length=20000, sent_tokens=8192", P.SYNCED, 3, None, "abc", (20000, 8192)),
    ("[2025-06-01 10:00:00 DP1 TP0] Partial transfer detected for rid=x1: received 8192/20000 "
     "tokens, need to resume for 11808 more tokens", P.PARTIAL, 0, 1, "x1", (8192, 20000, 11808)),
    ("[TP1] Resume transfer for rid=r: partial_sent=1, total_expected=3, remaining_expected=2, "
     "allocated_blocks=2", P.RESUMED_SUCCESS, 1, None, "r", (1, 3, 2, 2)),
    ("[TP1] Using only new mrope_positions: shape=torch.Size([3, 2])", P.MROPE_NEW, 1, None,
     None, (2,)),
    ("[2025-06-01 10:00:00 PP0 TP2] MultiModalLanguage transfer failed for request rank=2 "
     "language_req.req.rid='q' language_req.req.bootstrap_room=7 with exception E: boom",
     P.TRANSFER_FAILED, 2, None, "q", (2,)),
])
def test_formats(line, kind, tp, dp, rid, values):
    g = P.parse_line(line)
    assert g is not None and (g.kind, g.tp, g.dp, g.rid, g.values) == (kind, tp, dp, rid, values)


@pytest.mark.parametrize("line", [
    "[TP0] Prefill batch. #new-seq: 1, #new-token: 20000",
    "[2025-06-01 10:00:00] Resume transfer initiated elsewhere",  # no TP tag, not at start
    "plain text", "", "[TP0] Session abc created",
])
def test_unrelated(line):
    assert P.parse_line(line) is None


@pytest.mark.parametrize("line", [
    "[TP0] Resume transfer initiated for rid=a: allocated 2 blocks (163",
    "[TP0] Unexpected: Transferring status but sent_tokens=x >= actual_total_length=0",
    "[TP0] Resume transf",
    "Resume transfer initiated: allocated 2 blocks (16384 tokens)",
    "[TP0] Synced aux_datas across ranks for rid=a: actual_total_length=1, sent_tokens=1 junk",
])
def test_garbled_lines_are_reported_with_the_nearest_format(line):
    got = P.parse_line(line)
    assert isinstance(got, P.Unmatched), got
    assert got.nearest.kind in (P.RESUME_INITIATED, P.UNEXPECTED, P.SYNCED, "wait_resume",
                                P.RESUMED_SUCCESS, P.EMB_RESUME_ACCEPTED,
                                P.EMB_RESUME_TRIGGERED), got
    assert "nearest known format" in got.describe()


def test_caps_bounded():
    col = Collector(max_requests=3, max_lines=2)
    for i in range(10):
        for k in range(5):
            g = P.parse_line(f"[TP0] Not enough memory to resume transfer for rid=r{i}, "
                             f"need {k} tokens")
            assert g is not None
            col.feed(g, "f", k)
    reqs = col.finish()
    assert len(reqs) == 3 and all(len(r.ranks[0]) == 2 and r.overflow == {0} for r in reqs)
    assert col.stats.dropped_requests == 7
    assert col.stats.dropped_lines == 7 * 5 + 3 * 3


def test_unknown_rid_attached_to_single_request():
    col = Collector()
    for n, line in enumerate([
            "[TP0] Synced aux_datas across ranks for rid=a: actual_total_length=0, sent_tokens=0",
            "[TP0] Unexpected: Transferring status but sent_tokens=0 >= actual_total_length=0"]):
        g = P.parse_line(line)
        assert g is not None
        col.feed(g, "f", n)
    reqs = col.finish("auto")
    assert len(reqs) == 1 and reqs[0].attached_unknown
    assert [o.kind for o in reqs[0].ranks[0]] == [P.SYNCED, P.UNEXPECTED]
