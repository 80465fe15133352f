"""Server-side SVG charts: no JavaScript, no CDN, no inline styles (CSP-safe; colours
come from CSS classes ``s0``..``s5``). Every label is XML-escaped here. Each chart has a
``<title>``/``<desc>`` and the pages also render the numbers as a table."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from xml.sax.saxutils import escape

W = 640
ROW = 26


def _e(value: object) -> str:
    return escape(str(value), {'"': "&quot;"})


def _open(title: str, height: int, desc: str) -> list[str]:
    tid = f"t-{zlib.crc32(title.encode()):08x}"
    return [
        f'<svg class="chart" viewBox="0 0 {W} {height}" role="img" '
        f'aria-labelledby="{tid}" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{tid}">{_e(title)}</title>',
        f"<desc>{_e(desc)}</desc>",
    ]


def _legend(names: Sequence[str], y: int, x0: int = 60) -> list[str]:
    out = []
    x = x0
    for i, name in enumerate(names):
        out.append(f'<rect class="s{i % 6}" x="{x}" y="{y - 10}" width="12" height="12"/>')
        out.append(f'<text class="legend" x="{x + 18}" y="{y}">{_e(name)}</text>')
        x += 30 + 8 * len(name)
    return out


def hbar_chart(
    title: str,
    rows: Sequence[tuple[str, Sequence[float]]],
    series: Sequence[str],
    *,
    percent: bool = False,
    label_width: int = 200,
) -> str:
    """Horizontal bars, one group per row, one bar per series."""
    n = max(1, len(series))
    group_h = ROW * n + 10
    top = 34 if len(series) > 1 else 10
    height = top + group_h * max(1, len(rows)) + 10
    desc = "; ".join(
        f"{label}: "
        + ", ".join(f"{s} {_fmt(v, percent)}" for s, v in zip(series, values, strict=False))
        for label, values in rows
    )
    out = _open(title, height, desc)
    if len(series) > 1:
        out += _legend(series, 18, label_width)
    vmax = 1.0 if percent else max([v for _, vs in rows for v in vs] + [1.0])
    span = W - label_width - 70
    for gi, (label, values) in enumerate(rows):
        y0 = top + gi * group_h
        out.append(
            f'<text class="label" x="{label_width - 8}" y="{y0 + group_h / 2}" '
            f'text-anchor="end" dominant-baseline="middle">{_e(label)}</text>'
        )
        for si, v in enumerate(values):
            w = 0 if vmax == 0 else max(0.0, v / vmax * span)
            y = y0 + si * ROW
            name = series[si] if si < len(series) else ""
            out.append(
                f'<rect class="s{si % 6}" x="{label_width}" y="{y}" width="{w:.1f}" '
                f'height="{ROW - 6}"><title>{_e(label)} · {_e(name)}'
                f": {_fmt(v, percent)}</title></rect>"
            )
            out.append(
                f'<text class="value" x="{label_width + w + 6:.1f}" y="{y + (ROW - 6) / 2}" '
                f'dominant-baseline="middle">{_fmt(v, percent)}</text>'
            )
    out.append("</svg>")
    return "".join(out)


def line_chart(
    title: str,
    x_labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    percent: bool = True,
) -> str:
    """Lines over time; ``None`` values leave gaps."""
    height = 260
    left, right, top, bottom = 56, 16, 34, 40
    pw, ph = W - left - right, height - top - bottom
    values = [v for _, vs in series for v in vs if v is not None]
    vmax = 1.0 if percent else max([*values, 1.0])
    n = max(1, len(x_labels) - 1)
    desc = "; ".join(
        f"{name}: "
        + ", ".join(
            f"{x} {_fmt(v, percent)}" for x, v in zip(x_labels, vs, strict=False) if v is not None
        )
        for name, vs in series
    )
    out = _open(title, height, desc)
    out += _legend([name for name, _ in series], 18, left)
    for k in range(5):
        frac = k / 4
        y = top + ph - frac * ph
        out.append(f'<line class="grid" x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(
            f'<text class="axis" x="{left - 6}" y="{y:.1f}" text-anchor="end" '
            f'dominant-baseline="middle">{_fmt(frac * vmax, percent)}</text>'
        )
    step = max(1, len(x_labels) // 8)
    for i, lab in enumerate(x_labels):
        if i % step == 0 or i == len(x_labels) - 1:
            x = left + i / n * pw
            out.append(
                f'<text class="axis" x="{x:.1f}" y="{top + ph + 18}" text-anchor="middle">'
                f"{_e(lab)}</text>"
            )
    for si, (name, vs) in enumerate(series):
        pts: list[str] = []
        segs: list[list[str]] = []
        for i, v in enumerate(vs):
            if v is None:
                if pts:
                    segs.append(pts)
                pts = []
                continue
            x = left + i / n * pw
            y = top + ph - (v / vmax if vmax else 0) * ph
            pts.append(f"{x:.1f},{y:.1f}")
            out.append(
                f'<circle class="s{si % 6}" cx="{x:.1f}" cy="{y:.1f}" r="3">'
                f"<title>{_e(name)}, {_e(x_labels[i])}: {_fmt(v, percent)}</title></circle>"
            )
        if pts:
            segs.append(pts)
        for seg in segs:
            out.append(f'<polyline class="line s{si % 6}" points="{" ".join(seg)}"/>')
    out.append("</svg>")
    return "".join(out)


def _fmt(v: float, percent: bool) -> str:
    if percent:
        return f"{v * 100:.0f}%"
    if float(v).is_integer():
        return f"{int(v):,}"
    return f"{v:,.1f}"
