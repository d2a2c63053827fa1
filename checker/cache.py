"""Results cached by what produced them: a key is the hash of ranksync's own sources (spec/,
checker/, reference/ as installed), the z3 version and the inputs (a config, a variant, ...),
so a cached result is reused only when nothing that could change it has changed.

`ranksync prove` stores its rows and `ranksync mutants` its kill matrix; `ranksync report`
reuses them (and its explained counterexamples) instead of recomputing. The directory is
$RANKSYNC_CACHE_DIR, else $XDG_CACHE_HOME/ranksync, else ~/.cache/ranksync;
RANKSYNC_NO_CACHE=1 turns it off. Writes are atomic (rename), so parallel runs may share it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any


def enabled() -> bool:
    return os.environ.get("RANKSYNC_NO_CACHE", "") in ("", "0")


def directory() -> Path:
    env = os.environ.get("RANKSYNC_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ranksync"


@lru_cache(maxsize=1)
def source_hash() -> str:
    from importlib.util import find_spec

    import z3

    h = hashlib.sha256(z3.get_version_string().encode())
    for name in ("ranksync.spec", "ranksync.checker", "ranksync.reference"):
        spec = find_spec(name)  # the directory only: importing reference would load torch
        if spec is None or not spec.submodule_search_locations:
            continue
        root = Path(list(spec.submodule_search_locations)[0])
        for p in sorted(root.rglob("*")):
            if p.suffix in (".py", ".json", ".toml") and "__pycache__" not in p.parts:
                h.update(p.relative_to(root).as_posix().encode())
                h.update(p.read_bytes())
    return h.hexdigest()[:20]


def key(kind: str, inputs: Any) -> str:
    blob = json.dumps(inputs, sort_keys=True, default=str)
    return f"{kind}-{hashlib.sha256((source_hash() + blob).encode()).hexdigest()[:24]}"


def get(kind: str, inputs: Any) -> Any | None:
    if not enabled():
        return None
    p = directory() / f"{key(kind, inputs)}.json"
    try:
        return json.loads(p.read_text(encoding="utf-8"))["value"]
    except (OSError, ValueError, KeyError):
        return None


def put(kind: str, inputs: Any, value: Any) -> None:
    """Store `value` (JSON-able); a cache that cannot be written is only a slower next run."""
    if not enabled():
        return
    d = directory()
    try:
        d.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=d, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"kind": kind, "sources": source_hash(), "value": value}, fh)
        os.replace(tmp, d / f"{key(kind, inputs)}.json")
    except OSError:
        pass


def prove_inputs(pc: Any) -> dict[str, Any]:
    """What a prove run's rows depend on: the whole configuration but its file name."""
    from dataclasses import asdict

    d = asdict(pc)
    d.pop("path", None)
    d.pop("jobs", None)
    return d
