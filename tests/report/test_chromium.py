"""The report renders in a headless browser: the DOM after rendering holds the matrix and the
swimlanes, and a screenshot is not blank. Skips when no Chromium is installed
(`apt-get install -y chromium`; or set $RANKSYNC_CHROMIUM to a chromium/chrome binary)."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

import pytest

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium() -> str | None:
    env = os.environ.get("RANKSYNC_CHROMIUM")
    if env:
        return env
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


BROWSER = chromium()
pytestmark = pytest.mark.skipif(
    BROWSER is None, reason="no headless Chromium: `apt-get install -y chromium` (Debian) or "
    "set RANKSYNC_CHROMIUM; CI installs it")


def run_browser(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    assert BROWSER is not None
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([BROWSER, *FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=timeout)


def png_pixels(path: Path) -> tuple[int, int, bytes]:
    """Width, height and the (still filtered) scanline bytes of a PNG, stdlib only."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, w, h = 8, b"", 0, 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    return w, h, zlib.decompress(idat)


def test_dom_has_matrix_and_swimlanes(report_dir: Path) -> None:
    res = run_browser("--dump-dom", (report_dir / "index.html").as_uri())
    dom = res.stdout
    assert res.returncode == 0 and "</html>" in dom, res.stderr[-2000:]
    assert 'id="property-matrix"' in dom and 'class="cell violated' in dom
    assert dom.count('<figure class="swimlane">') >= 4
    assert "<svg" in dom and "TP0" in dom and "TP1" in dom
    assert "◀ violation" in dom and 'id="verdict"' in dom


def test_screenshot_not_blank(report_dir: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    res = run_browser(f"--screenshot={shot}", "--window-size=1400,4000",
                      (report_dir / "index.html").as_uri())
    assert shot.is_file(), res.stderr[-2000:]
    w, h, raw = png_pixels(shot)
    assert (w, h) == (1400, 4000)
    # a blank page compresses to a handful of byte values; text, tables and SVG do not
    assert len(set(raw)) > 64, "screenshot looks blank"
    nonzero = sum(1 for b in raw[:: 97] if b) / max(1, len(raw[:: 97]))
    assert nonzero > 0.02, f"screenshot looks blank ({nonzero:.3f} non-zero)"
    keep = os.environ.get("RANKSYNC_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / "report.png")
