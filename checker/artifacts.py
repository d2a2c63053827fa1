"""`--artifacts DIR`: for each property obligation that is not as declared, the run that
shows it, as files a CI workflow uploads: `<id>.trace.json` (the counterexample trace,
docs/trace-format.md; or, for a property that now holds, a run through its premise) and
`<id>.explain.txt` (the `ranksync explain` text). Obligations without a run (UNKNOWN, or a
witness) get the `.explain.txt` with the reason only."""

from __future__ import annotations

import json
from pathlib import Path

from ranksync.spec.properties import PROPERTIES

from .config import ProveConfig
from .prove import Row
from .prove_out import command, expectation, slug, where


def write(pc: ProveConfig, rows: list[Row], out_dir: str, config_arg: str | None
          ) -> list[str]:
    from .explain import explain

    bad = [r for r in rows if not r.ok]
    if not bad:
        return []
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    for r in bad:
        name = slug(f"{r.variant}-{r.topology}-T{r.tp_size}-{r.kind}-{r.name}")
        head = f"{where(r)}: {expectation(r)}\nexplain: {command(r, config_arg)}\n\n"
        text = head + (r.reason or "")
        if r.kind == "property" and r.name in PROPERTIES and r.tp_size > 0 \
                and r.verdict != "UNKNOWN":
            try:
                ex = explain(pc.model_config(r.tp_size, r.topology), r.variant, r.name,
                             int(pc.timeout_seconds * 1000))
            except Exception as e:  # noqa: BLE001 - an artifact must not hide the verdict
                text += f"explain failed: {type(e).__name__}: {e}\n"
            else:
                text = head + ex.text + "\n"
                if ex.trace is not None:
                    p = d / f"{name}.trace.json"
                    p.write_text(json.dumps(ex.trace, indent=1) + "\n", encoding="utf-8")
                    written.append(str(p))
        p = d / f"{name}.explain.txt"
        p.write_text(text, encoding="utf-8")
        written.append(str(p))
    return written
