"""`ranksync uniformity --history`: run the check on each commit of an engine repository and
say which findings appear and disappear from one commit to the next (in the order given)."""

from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath
from typing import Any

from .findings import Finding
from .program import InputError


@dataclass
class CommitResult:
    commit: str
    subject: str
    files: int
    findings: list[Finding]
    appeared: list[Finding] = field(default_factory=list)
    disappeared: list[Finding] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"commit": self.commit, "subject": self.subject, "files": self.files,
                "findings": [f.to_json() for f in self.findings],
                "appeared": [f.fingerprint for f in self.appeared],
                "disappeared": [f.fingerprint for f in self.disappeared]}


def _git(repo: Path, *args: str, binary: bool = False) -> Any:
    r = subprocess.run(["git", "--git-dir", str(repo), *args], capture_output=True,
                       check=False)
    if r.returncode != 0:
        msg = r.stderr.decode(errors="replace").strip().splitlines()
        raise InputError(f"git {' '.join(args[:2])}: {msg[-1] if msg else 'failed'}")
    return r.stdout if binary else r.stdout.decode(errors="replace")


def resolve_commits(repo: Path, commits: list[str]) -> list[tuple[str, str]]:
    """(full hash, subject) of each commit; InputError for an unknown one or a bad repo."""
    if not repo.exists():
        raise InputError(f"{repo}: no such git directory")
    out = []
    for c in commits:
        try:
            full = _git(repo, "rev-parse", "--verify", "--quiet", f"{c}^{{commit}}").strip()
        except InputError:
            raise InputError(f"{c}: not a commit of {repo}") from None
        out.append((full, _git(repo, "log", "-1", "--format=%s", full).strip()))
    return out


def _roots(patterns: list[str]) -> list[str]:
    """The directories to archive: each pattern's part before its first wildcard."""
    out = []
    for p in patterns:
        parts = PurePosixPath(p).parts
        keep = []
        for part in parts:
            if any(ch in part for ch in "*?["):
                break
            keep.append(part)
        out.append("/".join(keep) or ".")
    return sorted(set(out))


def selected(name: str, patterns: list[str]) -> bool:
    return any(fnmatchcase(name, p) or name.startswith(p.rstrip("/") + "/") for p in patterns)


def extract(repo: Path, commit: str, patterns: list[str], dest: Path) -> list[Path]:
    """The commit's Python files matching `patterns` (repo-relative paths or globs), written
    under `dest`."""
    files = []
    for root in _roots(patterns):
        try:
            data = _git(repo, "archive", "--format=tar", commit, "--", root, binary=True)
        except InputError:
            continue  # the path does not exist at this commit
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            for m in tar.getmembers():
                if m.isfile() and m.name.endswith(".py") and selected(m.name, patterns):
                    target = dest / m.name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    fh = tar.extractfile(m)
                    assert fh is not None
                    target.write_bytes(fh.read())
                    files.append(target)
    return sorted(set(files))


def run_history(repo: Path, commits: list[tuple[str, str]], patterns: list[str],
                check: Callable[[list[Path], Path], list[Finding]]) -> list[CommitResult]:
    results: list[CommitResult] = []
    for full, subject in commits:
        with tempfile.TemporaryDirectory(prefix="ranksync-uniformity-") as tmp:
            paths = extract(repo, full, patterns, Path(tmp))
            findings = check(paths, Path(tmp)) if paths else []
        res = CommitResult(full, subject, len(paths), findings)
        if results:
            before = {f.fingerprint: f for f in results[-1].findings}
            now = {f.fingerprint: f for f in findings}
            res.appeared = [f for fp, f in now.items() if fp not in before]
            res.disappeared = [f for fp, f in before.items() if fp not in now]
        else:
            res.appeared = list(findings)
        results.append(res)
    return results


def history_text(results: list[CommitResult]) -> str:
    out = []
    for i, r in enumerate(results):
        n_open = sum(f.acknowledged is None for f in r.findings)
        out.append(f"{r.commit[:9]} {r.subject[:70]}")
        out.append(f"  {len(r.findings)} findings ({n_open} not acknowledged) in {r.files} files"
                   + ("" if i else " (first commit: every finding listed as new)"))
        for sign, fs in (("+", r.appeared), ("-", r.disappeared)):
            for f in fs:
                out.append(f"  {sign} {f.rule.id} {f.file}:{f.line} {f.function} {f.kind}: "
                           f"{f.condition} [{f.fingerprint}]")
    return "\n".join(out)
