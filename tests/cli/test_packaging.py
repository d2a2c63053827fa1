"""Packaging: packaged configs and templates, --version, `python -m ranksync`, and the one-line
error of the commands that need the [torch] extra. The installed wheel itself is exercised by
.ci/wheel-smoke (a fresh venv outside the checkout, no torch)."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from click.testing import CliRunner
from ranksync.checker.cli import main
from ranksync.checker.config import ConfigError, load, packaged_config

ROOT = Path(__file__).resolve().parents[2]


def test_packaged_configs_are_the_source_configs():
    for src in sorted((ROOT / "configs").glob("*.toml")):
        assert packaged_config(src.name).read_text() == src.read_text()
    pc = load("ranksync:full.toml")  # extends default.toml beside it
    assert pc.tp_sizes and pc.expect


def test_extends_a_packaged_config(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('extends = "ranksync:default.toml"\n[prove]\ntp_sizes = [1]\n'
                 'variants = ["seed"]\ntopologies = ["a"]\n')
    pc = load(p)
    assert pc.tp_sizes == [1] and pc.expect["seed"]["a"]
    p.write_text('extends = "ranksync:nope.toml"\n')
    with pytest.raises(ConfigError, match="no such config file"):
        load(p)


def test_version_and_python_m():
    r = CliRunner().invoke(main, ["--version"])
    assert r.exit_code == 0 and metadata.version("ranksync") in r.output
    # cwd: not the checkout's root, whose ranksync/ folder would shadow the installed package
    out = subprocess.run([sys.executable, "-m", "ranksync", "--version"], capture_output=True,
                         text=True, timeout=60, cwd=Path(__file__).parent)
    assert out.returncode == 0 and out.stdout.startswith("ranksync, version ")


@pytest.mark.parametrize("args", [["engine-diff", "--engine-src", ".", "x.json"],
                                  ["replay", "x.json"], ["mutants", "--tp-sizes", "1"]])
def test_torch_commands_name_the_extra(monkeypatch, args):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'ranksync[torch]'" in lines[0], r.stderr


def test_torch_commands_run_with_torch(tmp_path):
    """The check is about torch only: with torch present, replay goes on to its own input
    check (no trace files)."""
    pytest.importorskip("torch")
    r = CliRunner().invoke(main, ["replay", str(tmp_path)])
    assert r.exit_code == 2 and "no trace files found" in r.stderr


def test_every_package_is_in_the_wheel():
    """Each source directory with an __init__.py is listed in [tool.setuptools] packages (a
    new subpackage missing there would be absent from the wheel)."""
    import tomllib

    st = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(st["packages"])
    roots = {d: pkg for pkg, d in st["package-dir"].items()}
    found = set()
    for d, pkg in roots.items():
        for init in (ROOT / d).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / d).parts
            found.add(".".join([pkg, *rel]))
    assert found - listed == set()
