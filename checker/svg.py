"""Hand-made inline SVG for the report: rank swimlanes, block placement, prove time against T.

Every function takes plain JSON-able data (as `report.counterexample` produces it) and returns
one `<svg>` element as a string: no scripts, no external fonts or images, so the page stays
self-contained and renders the same offline.
"""

from __future__ import annotations

import math
from html import escape
from typing import Any

FONT = "font-family='ui-monospace,SFMono-Regular,Menlo,Consolas,monospace'"
RED, RED_BG = "#b42318", "#fde8e6"
GREEN, GREEN_BG = "#1a7f37", "#e6f4ea"
BLUE, BLUE_BG = "#1f5fbf", "#e8f0fc"
GREY, GREY_BG, INK = "#6b7280", "#f3f4f6", "#111827"
AMBER_BG = "#fff4d6"
PALETTE = ["#1f5fbf", "#b42318", "#1a7f37", "#8a4baf", "#c26b00", "#00838f", "#5d4037"]


def _t(s: Any) -> str:
    return escape(str(s), quote=True)


def _fit(s: str, width_px: float, char_px: float = 6.4) -> str:
    n = max(4, int(width_px / char_px))
    return s if len(s) <= n else s[: n - 1] + "…"


def _text(x: float, y: float, s: str, *, size: int = 11, fill: str = INK, anchor: str = "start",
          weight: str = "normal", width: float | None = None, title: str | None = None) -> str:
    shown = _fit(s, width, size * 0.6) if width else s
    tip = title if title is not None else (s if shown != s else None)
    inner = _t(shown) + (f"<title>{_t(tip)}</title>" if tip else "")
    return (f"<text x='{x:.1f}' y='{y:.1f}' font-size='{size}' fill='{fill}' "
            f"text-anchor='{anchor}' font-weight='{weight}'>{inner}</text>")


def _rect(x: float, y: float, w: float, h: float, fill: str, stroke: str = "none",
          sw: float = 1, rx: float = 3, dash: str | None = None, title: str | None = None) -> str:
    d = f" stroke-dasharray='{dash}'" if dash else ""
    tip = f"<title>{_t(title)}</title>" if title else ""
    return (f"<rect x='{x:.1f}' y='{y:.1f}' width='{w:.1f}' height='{h:.1f}' rx='{rx}' "
            f"fill='{fill}' stroke='{stroke}' stroke-width='{sw}'{d}>{tip}</rect>")


def _svg(w: float, h: float, body: list[str], label: str) -> str:
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{w:.0f}' height='{h:.0f}' "
            f"viewBox='0 0 {w:.0f} {h:.0f}' role='img' aria-label='{_t(label)}' {FONT}>"
            + "".join(body) + "</svg>")


# -- swimlanes -------------------------------------------------------------------------------
def swimlane(cx: dict[str, Any]) -> str:
    """One lane per TP rank, one column per scheduler iteration. Each cell reads top to bottom
    as the iteration does: local read -> collective -> branch. The collectives of a column are
    drawn as one bar across the lanes (red and dashed when the ranks' sequences differ); the
    branch of a diverging or violating rank is red; the violating iteration is outlined."""
    steps: list[dict[str, Any]] = cx["steps"]
    T = int(cx["tp_size"])
    focus = cx.get("step")
    lw, cw, env_h, lane_h, pad = 56, 228, 50, 92, 8
    w = lw + cw * len(steps) + pad
    h = 28 + env_h + lane_h * T + 6
    out: list[str] = []
    top = 28
    for j, st in enumerate(steps):
        x = lw + j * cw
        is_focus = st["step"] == focus
        out.append(_text(x + cw / 2, 16, f"iteration {st['step']}" + ("  ◀ violation"
                                                                        if is_focus else ""),
                         size=12, anchor="middle", weight="bold", fill=RED if is_focus else INK))
        out.append(_rect(x + 3, top, cw - 6, env_h - 6, AMBER_BG, "#e5c46b", title=st["env"]))
        lines = st.get("env_lines") or [st["env"]]
        for i, line in enumerate(lines[:3]):
            shown = line if i < 2 or len(lines) <= 3 else line + " …"
            out.append(_text(x + 8, top + 14 + 13 * i, shown, size=10, width=cw - 20,
                             title=st["env"]))
    for r in range(T):
        y = top + env_h + r * lane_h
        out.append(_rect(0, y + 2, w, lane_h - 4, GREY_BG if r % 2 == 0 else "#ffffff", rx=0))
        out.append(_text(8, y + lane_h / 2 + 4, f"TP{r}", size=13, weight="bold"))
        recv = cx.get("receivers")
        if cx.get("topology") == "b" and recv is not None:
            out.append(_text(8, y + lane_h / 2 + 18, "data" if r in recv else "dummy", size=9,
                             fill=BLUE if r in recv else GREY))
    for j, st in enumerate(steps):
        x = lw + j * cw
        ys, ye = top + env_h, top + env_h + lane_h * T
        if st["step"] == focus:
            out.append(_rect(x + 1, ys, cw - 2, ye - ys, "none", RED, 2, rx=4))
        coll = st.get("collective")
        if coll:
            cxx = x + cw / 2
            bad = st.get("mismatch", False)
            dash = " stroke-dasharray='5 4'" if bad else ""
            out.append(f"<line x1='{cxx:.1f}' y1='{ys + 30:.1f}' x2='{cxx:.1f}' "
                       f"y2='{ye - 30:.1f}' stroke='{RED if bad else BLUE}' stroke-width='3' "
                       f"stroke-opacity='0.35'{dash}/>")
        for r, rc in enumerate(st["ranks"]):
            y = ys + r * lane_h
            out += _cell(x + 6, y + 6, cw - 12, lane_h - 12, rc)
    title = (f"{cx['variant']} / topology {cx['topology']} / T={T}: {cx['property']} "
             "swimlane")
    return _svg(w, h, out, title)


def _cell(x: float, y: float, w: float, h: float, rc: dict[str, Any]) -> list[str]:
    out: list[str] = []
    row = (h - 4) / 3
    rd = rc.get("read") or "—"
    out.append(_rect(x, y, w, row - 2, "#ffffff", "#d1d5db", title=rc.get("read_title") or rd))
    out.append(_text(x + 5, y + row / 2 + 2, rd, size=10, width=w - 10,
                     fill=INK if rc.get("read") else GREY))
    co = rc.get("collective") or "—"
    out.append(_rect(x, y + row, w, row - 2, BLUE_BG if rc.get("collective") else "#ffffff",
                     "#b6c8ea" if rc.get("collective") else "#d1d5db", title=co))
    out.append(_text(x + 5, y + row * 1.5 + 2, co, size=10, width=w - 10,
                     fill=BLUE if rc.get("collective") else GREY))
    br = rc.get("branch") or "—"
    hot = bool(rc.get("diverges"))
    fill = RED_BG if hot else (GREEN_BG if rc.get("branch") else "#ffffff")
    stroke = RED if hot else ("#9ccfa9" if rc.get("branch") else "#d1d5db")
    tip = br + (f" — {rc['why']}" if rc.get("why") else "")
    out.append(_rect(x, y + 2 * row, w, row, fill, stroke, 2 if hot else 1, title=tip))
    out.append(_text(x + 5, y + row * 2.5 + 3, ("▶ " if hot else "") + br, size=10,
                     width=w - 10, fill=RED if hot else INK, weight="bold" if hot else "normal",
                     title=tip))
    return out


# -- block placement ---------------------------------------------------------------------------
def placement(cx: dict[str, Any]) -> str:
    """Each rank's pool at the key iteration, as the ranks' reads saw it: which source tokens
    each block holds (tag/cnt), its aux row, and which blocks the request holds
    (embedding_indices, numbered in order)."""
    pl = cx["placement"]
    ranks: list[dict[str, Any]] = pl["ranks"]
    P = max((len(r["blocks"]) for r in ranks), default=0)
    lw, bw, bh, gap = 56, 128, 62, 8
    w = lw + P * (bw + gap) + 8
    h = 24 + len(ranks) * (bh + gap) + 4
    out: list[str] = [_text(lw, 14, f"pool at iteration {pl['step']} (after the step's "
                            "transfers landed, as the ranks read it)", size=11, fill=GREY)]
    for r, rk in enumerate(ranks):
        y = 24 + r * (bh + gap)
        out.append(_text(8, y + bh / 2 + 4, f"TP{r}", size=13, weight="bold"))
        for b, blk in enumerate(rk["blocks"]):
            x = lw + b * (bw + gap)
            held = blk.get("index") is not None
            data = blk["tag"] >= 0 and blk["cnt"] > 0
            fill = BLUE_BG if data else ("#fbeaea" if blk["tag"] == -2 else "#ffffff")
            stroke = BLUE if held else "#c4c9d2"
            out.append(_rect(x, y, bw, bh, fill, stroke, 2.5 if held else 1,
                             dash=None if blk["owned"] or not held else "4 3",
                             title=blk["title"]))
            out.append(_text(x + 6, y + 14, f"block {b}", size=10, fill=GREY, weight="bold"))
            if held:
                out.append(_text(x + bw - 6, y + 14, f"#{blk['index']}", size=10, fill=BLUE,
                                 anchor="end", weight="bold"))
            out.append(_text(x + 6, y + 31, blk["tokens"], size=11, width=bw - 12,
                             fill=INK if data else GREY))
            aux_hot = blk.get("aux_read", False)
            out.append(_rect(x + 4, y + 38, bw - 8, 18, AMBER_BG if aux_hot else GREY_BG,
                             "#e5c46b" if aux_hot else "none"))
            out.append(_text(x + 8, y + 51, f"aux [{blk['aux0']}, {blk['aux1']}]", size=10,
                             fill=INK if blk["aux0"] else GREY))
    return _svg(w, h, out, f"block placement at iteration {pl['step']}")


# -- prove time against T ----------------------------------------------------------------------
def time_plot(series: dict[str, list[tuple[int, float]]], title: str = "prove time") -> str:
    """Seconds against T, one polyline per series (log-scaled y when the range is wide)."""
    pts = [(t, s) for xs in series.values() for t, s in xs]
    if not pts:
        return ""
    W, H, lm, r_, t_, b_ = 640, 300, 60, 170, 24, 40
    H = max(H, t_ + 10 + 18 * len(series))  # room for one legend line per series
    ts = sorted({t for t, _ in pts})
    ymax = max(s for _, s in pts) or 1.0
    ymin = min(s for _, s in pts if s > 0) if any(s > 0 for _, s in pts) else 0.01
    log = ymax / max(ymin, 1e-3) > 50
    lo = math.log10(max(ymin, 1e-3)) if log else 0.0
    hi = math.log10(ymax) if log else ymax * 1.1

    def X(t: int) -> float:
        if len(ts) == 1:
            return lm + (W - lm - r_) / 2
        return lm + (W - lm - r_) * (ts.index(t) / (len(ts) - 1))

    def Y(s: float) -> float:
        v = math.log10(max(s, 10 ** lo)) if log else s
        return t_ + (H - t_ - b_) * (1 - (v - lo) / ((hi - lo) or 1))

    out = [_rect(lm, t_, W - lm - r_, H - t_ - b_, "#ffffff", "#d1d5db", rx=0)]
    ticks = ([10 ** e for e in range(math.floor(lo), math.ceil(hi) + 1)] if log
             else [hi * i / 4 for i in range(5)])
    for v in ticks:
        yy = Y(v)
        if t_ - 1 <= yy <= H - b_ + 1:
            out.append(f"<line x1='{lm}' x2='{W - r_}' y1='{yy:.1f}' y2='{yy:.1f}' "
                       f"stroke='#eef0f3'/>")
            out.append(_text(lm - 6, yy + 4, f"{v:g}", size=10, anchor="end", fill=GREY))
    for t in ts:
        out.append(_text(X(t), H - b_ + 16, f"T={t}", size=10, anchor="middle", fill=GREY))
    out.append(_text(lm + (W - lm - r_) / 2, H - 6, "TP size T", size=11, anchor="middle"))
    out.append(_text(14, t_ + (H - t_ - b_) / 2, "s", size=11, anchor="middle"))
    for i, (name, xs) in enumerate(sorted(series.items())):
        c = PALETTE[i % len(PALETTE)]
        xs = sorted(xs)
        path = " ".join(f"{X(t):.1f},{Y(s):.1f}" for t, s in xs)
        out.append(f"<polyline points='{path}' fill='none' stroke='{c}' stroke-width='2'/>")
        for t, s in xs:
            out.append(f"<circle cx='{X(t):.1f}' cy='{Y(s):.1f}' r='3.5' fill='{c}'>"
                       f"<title>{_t(name)} T={t}: {s:.2f} s</title></circle>")
        ly = t_ + 10 + i * 18
        out.append(f"<line x1='{W - r_ + 12}' x2='{W - r_ + 32}' y1='{ly}' y2='{ly}' "
                   f"stroke='{c}' stroke-width='2'/>")
        out.append(_text(W - r_ + 38, ly + 4, name, size=11))
    if log:
        out.append(_text(lm + 4, t_ - 8, "log scale", size=10, fill=GREY))
    return _svg(W, H, out, title)
