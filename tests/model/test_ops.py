"""The model is written once against `Ops`: Z3 evaluating concrete inputs must agree with the
Python interpretation on every branch and every property, step by step."""

from __future__ import annotations

import random

import z3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ranksync.checker import bmc
from ranksync.checker.scenario import LIST_FIELDS
from ranksync.checker.simulate import random_scenario
from ranksync.spec.ops import PyOps, Z3Ops
from ranksync.spec.properties import PROPERTIES
from ranksync.spec.variants import get_variant


def pin(u: bmc.Unrolling, sc) -> list:
    sy, cfg = u.sym, u.cfg
    eq = [sy.length == sc.length, sy.bs == sc.bs, sy.default_tokens == sc.default_tokens]
    for r in range(cfg.tp_size):
        if not isinstance(sy.receives[r], bool):
            eq.append(sy.receives[r] == (r in sc.receivers))
        eq.append(sy.held[r] == sc.held[r])
        for b in range(cfg.pool_blocks):
            eq += [sy.aux0[r][b] == sc.aux0[r][b], sy.aux1[r][b] == sc.aux1[r][b]]
    for ch, s in zip(sy.choices, sc.schedule, strict=True):
        for f in LIST_FIELDS:
            eq += [x == (i in s.get(f, [])) for i, x in enumerate(getattr(ch, f))]
        rows = s.get("taken_aux")
        for r in range(cfg.tp_size):
            for b in range(cfg.pool_blocks):
                a0, a1 = rows[r][b] if rows else (0, 0)
                eq += [ch.taken_aux0[r][b] == a0, ch.taken_aux1[r][b] == a1]
        for f in ("encode", "emb_finish", "abort", "lang"):
            eq.append(getattr(ch, f) == s[f])
    return eq


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 10_000), variant=st.sampled_from(["seed", "prefix"]),
       topology=st.sampled_from(["a", "b"]), tp=st.sampled_from([1, 2, 3]))
def test_z3_and_python_agree(pc, seed, variant, topology, tp):
    cfg = pc.model_config(tp, topology, depth=5)
    sc = random_scenario(cfg, variant, random.Random(seed))
    run = sc.replay()
    u = bmc.build(cfg, get_variant(variant))
    u.assumptions += pin(u, sc)
    r, m, _ = bmc.solve(u, z3.BoolVal(True))
    assert m is not None, "pinned inputs must be consistent with the assumptions"
    o, zo = PyOps(cfg.block_sizes), Z3Ops(cfg.block_sizes, bmc.model_width(cfg))
    for k in range(cfg.depth):
        for name, prop in PROPERTIES.items():
            sym = prop.bad(zo, cfg, u.run, k)
            val = sym if isinstance(sym, bool) else z3.is_true(m.eval(sym, model_completion=True))
            assert val == bool(prop.bad(o, cfg, run, k)), (name, k)
        for r_, (zob, pob) in enumerate(zip(u.run.steps[k].obs, run.steps[k].obs, strict=True)):
            tb = zob.tr_branch
            zval = tb if isinstance(tb, int) else m.eval(tb, model_completion=True).as_signed_long()
            assert zval == pob.tr_branch, (k, r_)
