"""The report renders in a headless browser: the DOM after rendering holds the matrix and the
swimlanes, and a screenshot is not blank. Skips when no Chromium is installed
(`apt-get install -y chromium`; or set $RANKSYNC_CHROMIUM to a chromium/chrome binary)."""

from __future__ import annotations

import os
import re
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
    assert dom.count('<figure class="swimlane">') >= 2
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


# -- no table is cut off, at a laptop and at a phone width --------------------------------------
MEASURE = """<script>
(() => {
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  const W = document.documentElement.clientWidth, bad = [];
  const tables = [...document.querySelectorAll('table')];
  tables.forEach((t, i) => {
    const r = t.getBoundingClientRect();
    const name = t.id || t.className || ('table ' + i);
    if (r.left < -1 || r.right > W + 1)
      bad.push(name + ': spans ' + Math.round(r.left) + '..' + Math.round(r.right) + ' of ' + W);
    if (t.scrollWidth > t.clientWidth + 1)
      bad.push(name + ': content ' + t.scrollWidth + ' wider than ' + t.clientWidth);
  });
  const page = document.documentElement.scrollWidth;
  if (page > W + 1) bad.push('page scrolls sideways: ' + page + ' > ' + W);
  parent.postMessage(JSON.stringify({width: W, tables: tables.length, bad: bad}), '*');
})();
</script>"""
# the page in an iframe of the given width (a window cannot be narrower than ~500 px);
# the measure comes back by postMessage and is written where --dump-dom shows it
FRAME = """<!DOCTYPE html><html><body style="margin:0">
<iframe src="{src}" style="width:{width}px;height:900px;border:0"></iframe>
<script>addEventListener('message', e => {{ const p = document.createElement('pre');
p.id = 'clip-report'; p.textContent = e.data; document.body.appendChild(p); }});</script>
</body></html>"""

WIDTHS = {"laptop": 1280, "phone": 390}


def clipping(html: Path, width: int, tmp_path: Path) -> dict:
    import html as h
    import json

    page = tmp_path / f"measure-{width}.html"
    page.write_text(html.read_text(encoding="utf-8").replace("</body>", MEASURE + "</body>"),
                    encoding="utf-8")
    frame = tmp_path / f"frame-{width}.html"
    frame.write_text(FRAME.format(src=page.name, width=width), encoding="utf-8")
    res = run_browser(f"--window-size={width + 40},1000", "--virtual-time-budget=5000",
                      "--dump-dom", frame.as_uri())
    m = re.search(r'<pre id="clip-report">(.*?)</pre>', res.stdout, re.S)
    assert m, res.stderr[-2000:]
    return json.loads(h.unescape(m.group(1)))


def designs_page(tmp_path: Path) -> Path:
    """A wide report: every design of the spec, both topologies, every property (the designs
    table and the per-variant matrices of configs/designs.toml)."""
    from ranksync.checker import report as rep
    from ranksync.spec.properties import PROPERTIES
    from ranksync.spec.variants import MUTANTS, VARIANTS

    rows = [{"variant": v, "topology": t, "tp_size": n, "kind": "property", "name": p,
             "verdict": "VIOLATED" if (len(v) + len(p)) % 3 == 0 else "PROVED", "expected": None,
             "method": "bmc", "seconds": 0.1, "step": 2, "reason": "",
             "bound": {"depth": 6, "length": [1, 5]}}
            for v in VARIANTS if v not in MUTANTS for t in "ab" for n in (1, 2)
            for p in PROPERTIES]
    meta = {"versions": {"python": "3"}, "config_path": "configs/designs.toml",
            "config_text": "", "tp_sizes": [1, 2], "variants": sorted({r["variant"] for r in rows}),
            "topologies": ["a", "b"], "source": "synthetic", "generated": "now", "command": "",
            "reused": [], "wall": {"prove": 1.0}}
    html, _md = rep.render(rep.build(rows, [], {k: rep._not_run(k, "-") for k in
                                                ("mutants", "replay", "engine_diff")}, meta))
    p = tmp_path / "designs.html"
    p.write_text(html, encoding="utf-8")
    return p


@pytest.mark.parametrize("device", sorted(WIDTHS))
def test_no_table_is_cut_off(report_dir: Path, tmp_path: Path, device: str) -> None:
    width = WIDTHS[device]
    for page in (report_dir / "index.html", designs_page(tmp_path)):
        got = clipping(page, width, tmp_path)
        assert width - 20 <= got["width"] <= width, got  # laid out at that width (scrollbar)
        assert got["tables"] >= 5
        assert got["bad"] == [], (page.name, got["bad"])
    keep = os.environ.get("RANKSYNC_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        run_browser(f"--screenshot={Path(keep) / f'report-{device}.png'}",
                    f"--window-size={width},2400", (report_dir / "index.html").as_uri())


def test_the_measure_can_fail(tmp_path: Path) -> None:
    """A table wider than the window is reported (the check is not vacuous)."""
    page = tmp_path / "wide.html"
    page.write_text("<!DOCTYPE html><html><body><table id='wide'><tr>"
                    + "".join(f"<td>column_{i}_with_a_long_unbreakable_name</td>"
                              for i in range(30)) + "</tr></table></body></html>")
    got = clipping(page, 1280, tmp_path)
    assert any(b.startswith("wide: ") for b in got["bad"]) or any(
        b.startswith("page scrolls") for b in got["bad"]), got
