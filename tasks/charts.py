"""Vector charts for PDF reports: self-contained inline SVG, every text escaped."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from xml.sax.saxutils import escape

from catalog.documents import Chart

PALETTE = ("#1f5f9e", "#e08a2c", "#2a9d8f", "#c44e52", "#7d5ba6", "#8a8a8a")
INK, MUTED, GRID, AXIS = "#1f2933", "#616e7c", "#e4e7eb", "#9aa5b1"
FONT = "DejaVu Sans, sans-serif"
CHAR_W = 6.3  # average advance of an 11 px DejaVu Sans glyph, for layout estimates
TITLE_H, LEGEND_H = 24, 18
MAX_BARS = 30  # categories per bar chart, so a chart never outgrows a page
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

Series = list[tuple[str, list[float | None]]]


def render_chart_svg(chart: Chart, *, width: int = 680, height: int = 240) -> str:
    """An inline SVG of a line (over time) or bar (by category) chart."""
    n = len(chart.labels)
    series = [(s.name, [_finite(v) for v in s.values[:n]]) for s in chart.series]
    if chart.kind not in ("line", "bar"):
        raise ValueError(f"unknown chart kind: {chart.kind!r}")
    if n == 0 or not any(v is not None for _, values in series for v in values):
        return _placeholder(chart, width, height)
    if chart.kind == "line":
        return _line(chart, series, width, height)
    if n > MAX_BARS:
        title = f"{chart.title} (first {MAX_BARS} of {n})"
        chart = Chart("bar", title, chart.labels[:MAX_BARS], chart.series, chart.unit)
        series = [(name, values[:MAX_BARS]) for name, values in series]
    slot = (width - 80) / len(chart.labels)  # px per category if the bars stand upright
    if len(chart.labels) <= 14 and max(len(lb) for lb in chart.labels) * CHAR_W <= slot - 6:
        return _vbar(chart, series, width, height)
    return _hbar(chart, series, width)


def esc(text: object) -> str:
    """Text made safe for an SVG text node or a double-quoted attribute."""
    return escape(_XML_INVALID.sub("", str(text)), {'"': "&quot;"})


def nice_ticks(lo: float, hi: float, max_ticks: int = 6, *, integral: bool = False) -> list[float]:
    """The most round ticks (1, 2, 2.5, 5 × 10ⁿ apart), at most ``max_ticks``, over lo..hi."""
    if hi <= lo:
        hi = lo + 1
    power = 10 ** math.floor(math.log10((hi - lo) / max(1, max_ticks - 1)))
    for step in (m * power for m in (1, 2, 2.5, 5, 10, 20, 25, 50)):
        if integral and step < 1:
            continue
        start, stop = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
        if stop - start < max_ticks:
            break
    return [round(i * step, 10) + 0.0 for i in range(start, stop + 1)]


def axis_labels(ticks: Sequence[float]) -> list[str]:
    """Tick labels sharing one magnitude suffix: 0, 5k, 10k or 0, 0.25, 0.5."""
    size, step = max(abs(t) for t in ticks), ticks[1] - ticks[0]
    divisor, suffix = (1e6, "M") if size >= 1e6 else (1e3, "k") if size >= 1e4 else (1.0, "")
    digits = _decimals(step / divisor, 8)
    return [f"{t / divisor:,.{digits}f}{suffix}" if t else "0" for t in ticks]


def format_value(value: float) -> str:
    """A bar's value label: 1,234 or 12.35 or 3.2M."""
    if abs(value) >= 1e6:
        return f"{value / 1e6:,.{_decimals(value / 1e6, 1)}f}M"
    return f"{value:,.{_decimals(value, 2)}f}"


def _decimals(value: float, limit: int) -> int:
    for digits in range(limit):
        if abs(round(value, digits) - value) < 1e-9 * max(1.0, abs(value)):
            return digits
    return limit


def _finite(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


@dataclass(frozen=True)
class _Scale:
    """A value axis from ``ticks[0]`` to ``ticks[-1]`` mapped onto ``start``..``end`` px."""

    ticks: list[float]
    start: float
    end: float

    @classmethod
    def of(cls, series: Series, start: float, end: float) -> _Scale:
        values = [v for _, vs in series for v in vs if v is not None]
        integral = all(v == int(v) for v in values)
        return cls(nice_ticks(min(0.0, *values), max(0.0, *values), integral=integral), start, end)

    def at(self, value: float) -> float:
        lo, hi = self.ticks[0], self.ticks[-1]
        return self.start + (value - lo) / (hi - lo) * (self.end - self.start)

    def label_width(self) -> float:
        return max(len(label) for label in axis_labels(self.ticks)) * CHAR_W + 12


def _open(chart: Chart, width: int, height: int, names: Sequence[str]) -> list[str]:
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{esc(chart.title)}" '
        f'font-family="{FONT}" font-size="11" fill="{INK}">',
        f'<text class="title" x="0" y="15" font-size="12.5" font-weight="bold">'
        f"{esc(chart.title)}</text>",
    ]
    if len(names) < 2:
        return parts
    x, y = float(width), TITLE_H + 10
    for i in reversed(range(len(names))):
        label = _truncate(names[i], 24)
        x -= len(label) * CHAR_W + 28
        parts += [
            f'<rect class="swatch" x="{x:.1f}" y="{y - 9}" width="10" height="10" rx="2" '
            f'fill="{PALETTE[i % len(PALETTE)]}"/>',
            f'<text x="{x + 14:.1f}" y="{y}" fill="{MUTED}">{esc(label)}</text>',
        ]
    return parts


def _grid(scale: _Scale, left: float, right: float, unit: str) -> list[str]:
    parts = []
    for tick, label in zip(scale.ticks, axis_labels(scale.ticks), strict=True):
        y, colour = scale.at(tick), AXIS if tick == 0 else GRID
        parts.append(
            f'<line x1="{left:.1f}" x2="{right:.1f}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{colour}" stroke-width="1"/>'
        )
        parts.append(
            f'<text x="{left - 6:.1f}" y="{y + 4:.1f}" text-anchor="end" '
            f'fill="{MUTED}">{esc(label)}</text>'
        )
    if unit:
        parts.append(
            f'<text x="{left - 6:.1f}" y="{scale.end - 10:.1f}" text-anchor="end" '
            f'font-size="10" fill="{MUTED}">{esc(unit)}</text>'
        )
    return parts


def _line(chart: Chart, series: Series, width: int, height: int) -> str:
    labels = _short_dates(chart.labels)
    n, top = len(labels), TITLE_H + (LEGEND_H if len(series) > 1 else 0) + 10
    bottom, label_w = height - 24.0, max(len(lb) for lb in labels) * CHAR_W + 14
    scale = _Scale.of(series, bottom, top)
    left, right = scale.label_width(), width - max(8.0, label_w / 2 - 8)  # room for the last label

    def x_at(i: int) -> float:
        return (left + right) / 2 if n == 1 else left + 8 + i * (right - left - 16) / (n - 1)

    parts = _open(chart, width, height, [name for name, _ in series])
    parts += _grid(scale, left, right, chart.unit)
    every = max(1, math.ceil(n * label_w / (right - left)))
    for i in range(0, n, every):
        parts.append(
            f'<text x="{x_at(i):.1f}" y="{bottom + 16:.1f}" text-anchor="middle" '
            f'fill="{MUTED}">{esc(labels[i])}</text>'
        )
    for k, (name, values) in enumerate(series):
        colour, pen, path = PALETTE[k % len(PALETTE)], "M", []
        for i, v in enumerate(values):
            if v is None:
                pen = "M"  # a gap, not a drop to zero
                continue
            path.append(f"{pen}{x_at(i):.1f},{scale.at(v):.1f}")
            pen = "L"
        parts.append(
            f'<path class="series" d="{" ".join(path)}" fill="none" stroke="{colour}" '
            f'stroke-width="2" stroke-linejoin="round" stroke-linecap="round">'
            f"<title>{esc(name)}</title></path>"
        )
        if n <= 40:
            parts += [
                f'<circle cx="{x_at(i):.1f}" cy="{scale.at(v):.1f}" r="2.2" fill="{colour}"/>'
                for i, v in enumerate(values)
                if v is not None
            ]
    return "".join([*parts, "</svg>"])


def _vbar(chart: Chart, series: Series, width: int, height: int) -> str:
    n, k = len(chart.labels), len(series)
    top, bottom = TITLE_H + (LEGEND_H if k > 1 else 0) + 14, height - 24.0
    scale = _Scale.of(series, bottom, top)
    left, right = scale.label_width(), width - 8.0
    zero, slot = scale.at(0.0), (right - left) / n
    bar_w = min(56.0 / k, slot * 0.72 / k)
    parts = _open(chart, width, height, [name for name, _ in series])
    parts += _grid(scale, left, right, chart.unit)
    for i, label in enumerate(chart.labels):
        x0 = left + i * slot + (slot - bar_w * k) / 2
        parts.append(
            f'<text x="{left + (i + 0.5) * slot:.1f}" y="{bottom + 16:.1f}" '
            f'text-anchor="middle" fill="{MUTED}">{esc(label)}</text>'
        )
        for j, (_, values) in enumerate(series):
            v = values[i] if i < len(values) else None
            y = zero if v is None else scale.at(v)
            parts.append(
                f'<rect class="bar" x="{x0 + j * bar_w:.1f}" y="{min(y, zero):.1f}" '
                f'width="{bar_w - (1 if k > 1 else 0):.1f}" '
                f'height="{abs(zero - y):.1f}" fill="{PALETTE[j % len(PALETTE)]}"/>'
            )
            if k == 1 and v is not None:
                parts.append(
                    f'<text x="{x0 + bar_w / 2:.1f}" y="{min(y, zero) - 4:.1f}" '
                    f'text-anchor="middle" font-size="10">{esc(format_value(v))}</text>'
                )
    return "".join([*parts, "</svg>"])


def _hbar(chart: Chart, series: Series, width: int) -> str:
    """Horizontal bars for long or many category names; the height follows the rows."""
    labels = [_truncate(lb, int(width * 0.4 / CHAR_W)) for lb in chart.labels]
    n, k = len(labels), len(series)
    band, top = 13.0 * k + 9, TITLE_H + (LEGEND_H if k > 1 else 0) + 8
    bottom = top + n * band
    height = int(bottom + 22)
    left = max(len(lb) for lb in labels) * CHAR_W + 14
    scale = _Scale.of(series, left, width - 48.0)
    parts = _open(chart, width, height, [name for name, _ in series])
    for tick, label in zip(scale.ticks, axis_labels(scale.ticks), strict=True):
        x, colour = scale.at(tick), AXIS if tick == 0 else GRID
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top:.1f}" y2="{bottom:.1f}" '
            f'stroke="{colour}" stroke-width="1"/>'
        )
        parts.append(
            f'<text x="{x:.1f}" y="{bottom + 15:.1f}" text-anchor="middle" '
            f'fill="{MUTED}">{esc(label)}</text>'
        )
    zero = scale.at(0.0)
    for i, label in enumerate(labels):
        y0 = top + i * band + 4.5
        parts.append(
            f'<text x="{left - 8:.1f}" y="{y0 + 6.5 * k + 4:.1f}" text-anchor="end">'
            f"{esc(label)}</text>"
        )
        for j, (_, values) in enumerate(series):
            v = values[i] if i < len(values) else None
            x = zero if v is None else scale.at(v)
            parts.append(
                f'<rect class="bar" x="{min(x, zero):.1f}" y="{y0 + j * 13:.1f}" '
                f'width="{abs(x - zero):.1f}" height="12" '
                f'fill="{PALETTE[j % len(PALETTE)]}"/>'
            )
            if v is not None:
                parts.append(
                    f'<text x="{max(x, zero) + 4:.1f}" y="{y0 + j * 13 + 10:.1f}" '
                    f'font-size="10" fill="{MUTED}">{esc(format_value(v))}</text>'
                )
    return "".join([*parts, "</svg>"])


def _placeholder(chart: Chart, width: int, height: int) -> str:
    height = min(height, 120)
    parts = _open(chart, width, height, ())
    parts.append(
        f'<rect class="placeholder" x="0.5" y="{TITLE_H + 6}" width="{width - 1}" '
        f'height="{height - TITLE_H - 7}" rx="4" fill="#f5f7fa" stroke="{GRID}"/>'
    )
    parts.append(
        f'<text x="{width / 2:.1f}" y="{(height + TITLE_H) / 2 + 4:.1f}" '
        f'text-anchor="middle" fill="{MUTED}">No data in this period</text>'
    )
    return "".join([*parts, "</svg>"])


def _truncate(text: str, limit: int) -> str:
    """Cut in the middle, so ids and numbered names keep their distinguishing ends."""
    if len(text) <= limit:
        return text
    head = (limit - 1) * 2 // 3
    return text[:head] + "…" + text[len(text) - (limit - 1 - head) :]


def _short_dates(labels: Sequence[str]) -> list[str]:
    """ISO dates within one year read as "Jan 5"; any other labels stay as given."""
    try:
        days = [date.fromisoformat(label) for label in labels]
    except ValueError:
        return list(labels)
    if len(days) < 2 or (max(days) - min(days)).days > 365:
        return list(labels)
    return [f"{d:%b} {d.day}" for d in days]
