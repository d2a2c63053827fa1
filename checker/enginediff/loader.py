"""Load the engine's real language-side modules from a checkout, with stand-ins for the rest.

The engine files are imported under their own names (``sglang.srt.disaggregation.*``) because
they import each other by absolute name. Before importing, synthetic package modules
``sglang``, ``sglang.srt`` and ``sglang.srt.disaggregation`` are installed in ``sys.modules``;
the last one has ``__path__`` set to the checkout's ``disaggregation/`` directory, so the import
system finds the real ``utils.py``, ``base/``, ``fake/`` and ``multimodal_language.py`` there.
Every other module those files import is a stand-in from :mod:`.stubs` (already in
``sys.modules``, so the real file is never read). Nothing else of the engine is executed: the
real ``sglang/__init__.py`` and ``sglang/srt/__init__.py`` are never imported.

:func:`engine_modules` restores ``sys.modules`` on exit (used to validate a checkout in the
parent process); :func:`load_engine` leaves the modules installed (used in rank processes).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from . import stubs

DISAGG = "sglang.srt.disaggregation"
REL_DIR = Path("python/sglang/srt/disaggregation")
REQUIRED_FILES = ("multimodal_language.py", "utils.py", "base/__init__.py", "base/conn.py",
                  "fake/__init__.py", "fake/conn.py")
REQUIRED_NAMES = {
    "multimodal_language": ("MultimodalLanguagePreallocQueue", "MultimodalLanguageTransferQueue",
                            "SchedulerDisaggregationMultiModalLanguageMixin"),
    "utils": ("MultimodalDataBuffers", "ReqToMetadataBlockAllocator", "poll_and_all_reduce",
              "TransferBackend"),
    "base": ("KVPoll",),
    "fake": ("FakeKVReceiver",),
}
KNOWN_COMMITS = {"d94e4a0ab": "seed", "28ac79bbe": "prefix"}
CONN = f"{DISAGG}.mooncake.conn_multimodal"


class EngineSourceError(Exception):
    """The given path is not a usable engine checkout (message is one line, user-facing)."""


@dataclass
class EngineModules:
    src: Path
    language: ModuleType  # multimodal_language
    utils: ModuleType
    base: ModuleType
    fake: ModuleType
    connection: ModuleType | None = None  # the real mooncake/conn_multimodal, if it loads
    connection_note: str = ""  # why the connection layer is scripted (when it is)
    scripted: ModuleType | None = None  # the scripted stand-in of conn_multimodal

    def use_connection(self, driven: bool) -> None:
        """Make `get_kv_class` hand out the real connection classes or the scripted ones."""
        mod = self.connection if driven else self.scripted
        if mod is None:
            raise EngineSourceError(f"{self.src}: no driven connection ({self.connection_note})")
        sys.modules[CONN] = mod
        pkg = sys.modules[f"{DISAGG}.mooncake"]
        pkg.__dict__["conn_multimodal"] = mod
        pkg.__dict__.update({n: getattr(mod, n) for n in stubs.EMBEDDING_NAMES
                             if hasattr(mod, n)})


def _restore_modules(saved: dict[str, ModuleType | None]) -> None:
    """Put back the sys.modules entries a stand-in import replaced (None: was absent)."""
    for k, v in saved.items():
        if v is None:
            sys.modules.pop(k, None)
        else:
            sys.modules[k] = v


def disagg_dir(src: str | os.PathLike[str]) -> Path:
    """Check that ``src`` is a checkout root holding the language-side files; return the dir."""
    root = Path(src).expanduser()
    if not root.exists():
        raise EngineSourceError(f"engine source {root} does not exist")
    if not root.is_dir():
        raise EngineSourceError(f"engine source {root} is not a directory")
    d = root / REL_DIR
    if not d.is_dir():
        raise EngineSourceError(
            f"{root} is not an engine checkout: no {REL_DIR}/ (give the checkout root)")
    missing = [f for f in REQUIRED_FILES if not (d / f).is_file()]
    if missing:
        raise EngineSourceError(
            f"{root}: this revision has no {', '.join(str(REL_DIR / m) for m in missing)}")
    return d.resolve()


def _install(d: Path) -> None:
    for name, mod in stubs.stub_modules().items():
        sys.modules[name] = mod
    pkg = ModuleType(DISAGG)
    pkg.__path__ = [str(d)]
    pkg.__dict__["__ranksync_stub__"] = True
    sys.modules[DISAGG] = pkg
    sys.modules["sglang.srt"].__dict__["disaggregation"] = pkg
    # `common/__init__` imports the KV connection (heavy); its utils (FastQueue) are plain
    common = ModuleType(f"{DISAGG}.common")
    common.__path__ = [str(d / "common")]
    common.__dict__["__ranksync_stub__"] = True
    sys.modules[common.__name__] = common
    pkg.__dict__["common"] = common
    for name in [n for n in sys.modules if n.startswith(DISAGG + ".")]:
        if not getattr(sys.modules[name], "__ranksync_stub__", False):
            del sys.modules[name]


def _import(name: str, d: Path) -> ModuleType:
    full = f"{DISAGG}.{name}"
    try:
        return importlib.import_module(full)
    except ModuleNotFoundError as e:
        raise EngineSourceError(
            f"{d}: {full} imports {e.name!r}, which the harness does not stand in for") from e
    except Exception as e:  # noqa: BLE001 - any failure of foreign code is a bad source
        first = str(e).splitlines()[0] if str(e) else ""
        raise EngineSourceError(
            f"{d}: importing {full} failed: {type(e).__name__}: {first}") from e


def _load(d: Path) -> EngineModules:
    os.environ.pop("DISAGGREGATION_TEST_FAILURE_PROB", None)
    _install(d)
    mods = {
        "base": _import("base", d),
        "fake": _import("fake", d),
        "utils": _import("utils", d),
        "multimodal_language": _import("multimodal_language", d),
    }
    for key, names in REQUIRED_NAMES.items():
        mod = mods[key]
        missing = [n for n in names if not hasattr(mod, n)]
        if missing:
            raise EngineSourceError(
                f"{d}: this revision's {mod.__name__} has no {', '.join(missing)}")
    stub_conn = sys.modules[CONN]
    conn, note = _load_connection(d)
    eng = EngineModules(src=d.parents[3], language=mods["multimodal_language"],
                        utils=mods["utils"], base=mods["base"], fake=mods["fake"],
                        connection=conn, connection_note=note, scripted=stub_conn)
    eng.use_connection(False)
    return eng


THIRD_PARTY = ("zmq", "requests", "aiohttp", "aiohttp.web")


def _why_not_unified(d: Path) -> str:
    """A revision without conn_multimodal.py: say why its connection cannot be driven."""
    conn = d / "mooncake" / "conn.py"
    text = conn.read_text(errors="replace") if conn.is_file() else ""
    if "MooncakeEmbeddingManager" not in text:
        return "this revision has no mooncake/conn_multimodal.py and no embedding classes"
    from . import transport

    name = f"{DISAGG}.mooncake.ranksync_probe_conn"
    saved = {k: sys.modules.get(k) for k in THIRD_PARTY}
    sys.modules.update({"zmq": transport.zmq_module(), "requests": transport.requests_module(),
                        **transport.aiohttp_modules()})
    try:
        spec = importlib.util.spec_from_file_location(name, conn)
        assert spec is not None and spec.loader is not None
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
        what = "it imports"
    except ModuleNotFoundError as e:
        what = f"it imports {e.name!r}, which the harness does not stand in"
    except Exception as e:  # noqa: BLE001 - reported, not raised
        what = f"importing it fails: {type(e).__name__}: {(str(e).splitlines() or [''])[0]}"
    finally:
        _restore_modules(saved)
    return ("no mooncake/conn_multimodal.py: the embedding classes are aliases of the KV "
            "connection in mooncake/conn.py (MooncakeEmbeddingManager = MooncakeKVManager, "
            f"built on common/conn.py's CommonKVManager); {what}, and its KV bootstrap "
            "protocol (role, PP/DP attention tables) has no stand-in here")


def _load_connection(d: Path) -> tuple[ModuleType | None, str]:
    """Import the engine's own `mooncake/conn_multimodal.py` over the in-memory transport
    (transport.py), or say why not; on failure the scripted stand-in stays installed."""
    if not (d / "mooncake" / "conn_multimodal.py").is_file():
        return None, _why_not_unified(d)
    from . import transport

    mooncake = sys.modules[f"{DISAGG}.mooncake"]
    stub_conn = sys.modules[CONN]
    saved = {k: sys.modules.get(k) for k in THIRD_PARTY}
    sys.modules.update({"zmq": transport.zmq_module(), "requests": transport.requests_module(),
                        **transport.aiohttp_modules()})
    te = f"{DISAGG}.mooncake.transfer_engine"
    sys.modules[te] = transport.transfer_engine_module(te)
    mooncake.__path__ = [str(d / "mooncake")]
    del sys.modules[CONN]
    try:
        mod = importlib.import_module(CONN)
        missing = [n for n in ("MooncakeEmbeddingManager", "MooncakeEmbeddingSender",
                               "MooncakeEmbeddingReceiver") if not hasattr(mod, n)]
        if missing:
            raise ImportError(f"it has no {', '.join(missing)}")
    except Exception as e:  # noqa: BLE001 - any failure means: scripted connection
        sys.modules[CONN] = stub_conn
        mooncake.__path__ = []
        first = (str(e).splitlines() or [""])[0]
        what = f"imports {e.name!r}, which the harness does not stand in" if isinstance(
            e, ModuleNotFoundError) else f"{type(e).__name__}: {first}"
        return None, f"importing mooncake/conn_multimodal.py failed: {what}"
    finally:
        _restore_modules(saved)
    mod.__dict__["threading"] = transport.threading_shim()
    mooncake.__dict__["conn_multimodal"] = mod
    mooncake.__dict__.update({n: getattr(mod, n) for n in stubs.EMBEDDING_NAMES
                              if hasattr(mod, n)})
    return mod, ""


def load_engine(src: str | os.PathLike[str]) -> EngineModules:
    """Import the engine's language-side modules; they stay installed in ``sys.modules``."""
    return _load(disagg_dir(src))


@contextmanager
def engine_modules(src: str | os.PathLike[str]) -> Iterator[EngineModules]:
    """Like :func:`load_engine`, restoring every ``sglang*`` entry of ``sys.modules`` on exit."""
    d = disagg_dir(src)
    saved = {k: v for k, v in sys.modules.items() if k == "sglang" or k.startswith("sglang.")}
    try:
        yield _load(d)
    finally:
        for k in [k for k in sys.modules if k == "sglang" or k.startswith("sglang.")]:
            del sys.modules[k]
        sys.modules.update(saved)


def check_engine(src: str | os.PathLike[str]) -> None:
    """Raise :class:`EngineSourceError` unless the checkout loads (sys.modules is restored)."""
    with engine_modules(src):
        pass


def detect_variant(engine: EngineModules) -> tuple[str | None, str]:
    """Which protocol variant the loaded engine is, and how that was decided.

    Order: a ``RANKSYNC_VARIANT`` attribute of the language module (the CI stand-in), then the
    checkout's git HEAD (the two commits of protocol.md §14), else unknown.
    """
    declared = getattr(engine.language, "RANKSYNC_VARIANT", None)
    if isinstance(declared, str):
        return declared, "declared by the module"
    try:
        head = subprocess.run(["git", "-C", str(engine.src), "rev-parse", "HEAD"],
                              capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None, "no git"
    sha = head.stdout.strip()
    for prefix, variant in KNOWN_COMMITS.items():
        if sha.startswith(prefix):
            return variant, f"git HEAD {sha[:12]}"
    return None, f"git HEAD {sha[:12] or 'unknown'} is neither {' nor '.join(KNOWN_COMMITS)}"
