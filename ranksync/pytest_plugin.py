"""pytest plugin: `pytest --ranksync` checks every obligation of a ranksync configuration as
one test item each, so an engine repository gets the verdicts in its own test run.

Opt-in (nothing happens without --ranksync) and, like Hypothesis' plugin, this module imports
nothing heavy when pytest loads it: the prover (z3, the model) is imported only when the
flag is given. Registered through `[project.entry-points.pytest11]`.

Node ids are stable: `<config>::<variant>-<topology>-T<n>-<kind>-<name>` (spaces as `_`),
e.g. `pyproject.toml::seed-b-T2-property-agreement`. All items share one prove run, made by
the first item that runs; under pytest-xdist they stay on one worker (xdist_group).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ranksync.checker.config import ProveConfig
    from ranksync.checker.prove import Row

GROUP = "ranksync"


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("ranksync", "ranksync: machine-checked protocol obligations")
    g.addoption("--ranksync", action="store_true", default=False,
                help="check every obligation of the ranksync configuration as a test item")
    g.addoption("--ranksync-config", default=None, metavar="PATH",
                help="config (default: [tool.ranksync] of <rootdir>/pyproject.toml, else the "
                "packaged ranksync:default.toml)")
    g.addoption("--ranksync-tp-sizes", default=None, metavar="T,T",
                help="only these TP sizes (e.g. 1,2)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "ranksync: an obligation checked by ranksync")


def _config_path(config: pytest.Config) -> str:
    given = config.getoption("--ranksync-config")
    if given:
        return str(given)
    pp = Path(str(config.rootpath)) / "pyproject.toml"
    if pp.is_file():
        import tomllib

        try:
            if "ranksync" in tomllib.loads(pp.read_text("utf-8")).get("tool", {}):
                return str(pp)
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            pass
    return "ranksync:default.toml"


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    if not config.getoption("--ranksync"):
        return
    from ranksync.checker.config import ConfigError, load, packaged_config

    arg = _config_path(config)
    try:
        pc = load(arg)
    except ConfigError as e:
        raise pytest.UsageError(f"ranksync: {e}") from None
    sizes = config.getoption("--ranksync-tp-sizes")
    if sizes:
        try:
            pc.tp_sizes = [int(x) for x in sizes.split(",") if x.strip()]
        except ValueError:
            raise pytest.UsageError(f"--ranksync-tp-sizes: not integers: {sizes!r}") from None
    path = packaged_config(arg[9:]) if arg.startswith("ranksync:") else Path(arg).resolve()
    col = ConfigFile.from_parent(session, path=path, pc=pc, arg=arg)
    items.extend(col.collect())


class ConfigFile(pytest.File):
    def __init__(self, *, pc: ProveConfig, arg: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.pc = pc
        self.arg = arg
        self.rows: dict[tuple[Any, ...], Row] | None = None

    def collect(self) -> list[pytest.Item]:  # type: ignore[override]
        from ranksync.checker.obligations import obligation_keys

        out: list[pytest.Item] = []
        for key in obligation_keys(self.pc):
            v, t, n, kind, name = key
            item = Obligation.from_parent(self, name=f"{v}-{t}-T{n}-{kind}-{name}".replace(
                " ", "_"), key=key)
            item.add_marker(pytest.mark.ranksync)
            item.add_marker(pytest.mark.xdist_group(GROUP))
            out.append(item)
        return out

    def verdicts(self) -> dict[tuple[Any, ...], Row]:
        if self.rows is None:
            from ranksync.checker.prove import run_all

            self.rows = {(r.variant, r.topology, r.tp_size, r.kind, r.name): r
                         for r in run_all(self.pc)}
        return self.rows


class ObligationFailed(Exception):
    pass


class Obligation(pytest.Item):
    def __init__(self, *, key: tuple[Any, ...], **kw: Any) -> None:
        super().__init__(**kw)
        self.key = key

    def runtest(self) -> None:
        from ranksync.checker.prove_out import command, expectation, where

        parent = self.parent
        assert isinstance(parent, ConfigFile)
        r = parent.verdicts().get(self.key)
        if r is None:
            raise ObligationFailed(f"ranksync did not check {self.key}")
        if not r.ok:
            arg = None if parent.arg == "ranksync:default.toml" else parent.arg
            raise ObligationFailed(f"{where(r)}: {expectation(r)}\n"
                                   f"explain: {command(r, arg)}")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str:
        if isinstance(excinfo.value, ObligationFailed):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"ranksync {self.name}"
