"""The check on stand-in engine code (tests/uniformity/standin, written for these tests):
every finding class and branch kind is caught, every replicated pattern passes, and each
replicated pattern with its synchronisation removed is caught."""

from __future__ import annotations

from pathlib import Path

import pytest
from uniformity_cases import STANDIN, by_function, run

DIVERGENT = {  # function -> (rule, branch kind, the rank-local source named in the chain)
    "sync_if_data": ("RSU001", "if", "buffer read"),
    "barrier_per_block": ("RSU001", "loop", "buffer read"),
    "drain": ("RSU001", "loop", "allocator result"),
    "fail_or_sync": ("RSU001", "try/except", "recorded failure"),
    "swapped": ("RSU001", "if", "buffer read"),
    "pop_allocated": ("RSU002", "early continue", "allocator result"),
    "admit": ("RSU002", "early return", "allocator result"),
    "release_on_rank0": ("RSU003", "if", "rank id"),
    "hand_off": ("RSU004", "if", "buffer read"),
}


def test_every_class_and_branch_kind_is_caught() -> None:
    found = by_function(run(STANDIN / "divergent.py"))
    assert set(found) == set(DIVERGENT)
    for fn, (rule, kind, source) in DIVERGENT.items():
        (f,) = found[fn]
        assert (f.rule.id, f.kind) == (rule, kind), fn
        assert source in f.chain[-1].text, (fn, f.chain)
    assert {r for r, _, _ in DIVERGENT.values()} == {"RSU001", "RSU002", "RSU003", "RSU004"}


def test_order_of_collectives_is_a_difference() -> None:
    (f,) = by_function(run(STANDIN / "divergent.py"))["swapped"]
    assert "different order" in f.differences[0].text


def test_replicated_patterns_pass() -> None:
    """The seed's MAX read back, a MIN poll through poll_and_all_reduce, broadcast_pyobj, an
    in-place dist.broadcast, a group coordinator's all_reduce: rank-local inputs, no
    finding."""
    res = run(STANDIN / "replicated.py", STANDIN / "utils.py")
    assert res.findings == []
    assert res.branches >= 8  # the branches exist and were examined


def test_replicated_patterns_without_their_sync_are_caught() -> None:
    found = by_function(run(STANDIN / "mutants.py", STANDIN / "utils.py"))
    assert set(found) == {"resume_max_on_total_only", "resume_read_before_reduce",
                          "pop_done_local_poll", "count_without_broadcast"}
    (f,) = found["resume_max_on_total_only"]
    assert [s.text.split(" ")[0] for s in f.chain[:2]] == ["got", "ids"]  # the count, not
    (f,) = found["resume_read_before_reduce"]  # the total, which the MAX made uniform
    assert "total = int(total_t.item())" in f.chain[0].text
    assert found["pop_done_local_poll"][0].rule.id == "RSU002"


def test_chain_goes_through_fields_and_calls(tmp_path: Path) -> None:
    src = tmp_path / "mod.py"
    src.write_text(
        "import torch.distributed as dist\n"
        "class Q:\n"
        "    def fill(self, e):\n"
        "        e.cached_len = self.length(e)\n"
        "    def length(self, e):\n"
        "        return len(self.buffers.get_buf(e.blocks)[0])\n"
        "    def use(self, e):\n"
        "        if e.cached_len > 2:\n"
        "            dist.barrier()\n")
    (f,) = run(src, root=tmp_path).findings
    texts = [s.text for s in f.chain]
    assert texts[0].startswith(".cached_len assigned")
    assert any("Q.length() returns" in t for t in texts)
    assert "buffer read" in texts[-1]


def test_element_sensitivity_and_assumptions(tmp_path: Path) -> None:
    """A synced value cached next to a local one in a list: the synced element is uniform;
    `if self.gloo_group is not None:` is taken as always true (declared fact)."""
    src = tmp_path / "mod.py"
    body = (
        "import torch, torch.distributed as dist\n"
        "class Q:\n"
        "    def first(self, e):\n"
        "        ids, aux = self.buffers.get_buf(e.blocks)\n"
        "        n = torch.tensor([int(aux[0])])\n"
        "        if self.gloo_group is not None:\n"
        "            dist.all_reduce(n, group=self.gloo_group)\n"
        "        e.cache = [int(n.item()), aux[1]]\n"
        "    def later(self, e):\n"
        "        if e.cache[IDX] > 0:\n"
        "            dist.barrier()\n")
    src.write_text(body.replace("IDX", "0"))
    assert run(src, root=tmp_path).findings == []
    src.write_text(body.replace("IDX", "1"))
    assert [f.function for f in run(src, root=tmp_path).findings] == ["Q.later"]
    src.write_text(body.replace("IDX", "0").replace("is not None", "is None"))
    assert [f.function for f in run(src, root=tmp_path).findings] == ["Q.later"]


def test_fingerprints_survive_moved_lines(tmp_path: Path) -> None:
    text = (STANDIN / "divergent.py").read_text()
    a = tmp_path / "divergent.py"
    a.write_text(text)
    before = {f.fingerprint: f.line for f in run(a, root=tmp_path).findings}
    a.write_text("\n\n\n" + text.replace("count > 0", "count  >  0"))
    after = {f.fingerprint: f.line for f in run(a, root=tmp_path).findings}
    assert set(after) == set(before)
    assert all(after[k] == before[k] + 3 for k in before)


@pytest.mark.parametrize("drop", [True, False])
def test_user_facts_extend_and_drop(tmp_path: Path, drop: bool) -> None:
    from ranksync.checker.uniformity.analysis import analyse
    from ranksync.checker.uniformity.facts import load_facts

    src = tmp_path / "mod.py"
    src.write_text("class Q:\n"
                   "    def step(self):\n"
                   "        if self.pool.free_count() > 0:\n"
                   "            my_group_sync(self.group)\n"
                   "        if self.block_allocator.available_size() > 0:\n"
                   "            my_group_sync(self.group)\n")
    user = tmp_path / "facts.toml"
    user.write_text('schema_version = 1\n'
                    + ('drop = ["*allocator.available_size"]\n' if drop else "")
                    + '[collective]\nmy_group_sync = {}\n'
                    '[rank_local.calls]\n"pool.free_count" = "free blocks of the pool"\n')
    assert analyse([src], tmp_path, load_facts()).findings == []  # my_group_sync unknown
    found = analyse([src], tmp_path, load_facts(user)).findings
    assert [f.line for f in found] == ([3] if drop else [3, 5])
