"""Server-side SVG charts for the analytics dashboard: no JavaScript, no CDN, no inline styles.

Each chart function takes plain Python data (numbers as int, float or Decimal; labels as str) and
returns a complete ``<svg>`` string that a template can ``mark_safe``:
- every piece of text (labels come from users: a play may be named ``<script>``) is escaped;
- colours, sizes and fonts are presentation attributes (``fill=``, ``stroke=``, ``font-size=``) plus
  ``chart-*`` CSS classes, never ``style=``, so a Content-Security-Policy without
  'unsafe-inline' still renders them;
- ``role="img"`` with ``<title>`` and ``<desc>`` (a text summary of the data) for screen readers;
- output is deterministic (same input, same bytes), so it can be cached and compared;
- empty input gives a small "No data yet" SVG instead of an exception.

Value formats: ``percent`` (0.253 -> 25.3%), ``points`` (a difference of rates in percentage
points, 0.02 -> +2.0 pp), ``money`` (12000 -> 12,000; compact 12k on axes) and ``number``.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from django.utils.html import escape

Number = int | float | Decimal
ValueFormat = Literal["percent", "points", "money", "number"]

FONT_FAMILY = "system-ui, -apple-system, Segoe UI, Roboto, sans-serif"
TEXT = "#1d2330"
MUTED = "#626b7a"
GRID = "#e3e6eb"
AXIS = "#cdd2da"
POSITIVE = "#157347"
NEGATIVE = "#b42318"
INCONCLUSIVE = "#626b7a"
BAR = "#4f46e5"
TOTAL = "#4338ca"
# Heatmap colour scale, light to dark indigo (the app's accent).
SCALE_LOW = "#eef0ff"
SCALE_HIGH = "#312e81"
SERIES_COLOURS = ("#4f46e5", "#0e7490", "#b45309", "#be123c", "#15803d", "#6b7280")
CHAR_WIDTH = 6.6  # px per character at font-size 12, for layout estimates
MAX_LABEL_CHARS = 28
NO_DATA = "No data yet"


# --- Formatting -------------------------------------------------------------------------------


def _decimals_for(step: float) -> int:
    """Fewest decimals that show ticks ``step`` apart exactly (2.5 -> 1, 0.25 -> 2, 20 -> 0)."""
    for decimals in range(7):
        if abs(step * 10**decimals - round(step * 10**decimals)) < 1e-6:
            return decimals
    return 6


def _grouped(value: float, decimals: int) -> str:
    return f"{value:,.{decimals}f}"


def _compact_money(value: float) -> str:
    magnitude = abs(value)
    for threshold, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if magnitude >= threshold:
            scaled = value / threshold
            return f"{scaled:.1f}".rstrip("0").rstrip(".") + suffix
    return _grouped(value, 0 if value == round(value) else 2)


def format_value(value: Number | None, kind: ValueFormat, *, decimals: int | None = None) -> str:
    """Human text for a value: percent 0.253 -> "25.3%", points 0.02 -> "+2.0 pp", money 12000 ->
    "12,000" (cents only when present), number -> "1,234.5". None -> "—"."""
    if value is None:
        return "—"
    number = float(value)
    if kind == "percent":
        return f"{number * 100:.{1 if decimals is None else decimals}f}%"
    if kind == "points":
        return f"{number * 100:+.{1 if decimals is None else decimals}f} pp"
    if kind == "money":
        if decimals is None:
            decimals = 0 if Decimal(str(value)) == Decimal(str(value)).to_integral_value() else 2
        return _grouped(number, decimals)
    if kind == "number":
        return _grouped(number, _decimals_for(number) if decimals is None else decimals)
    raise ValueError(f"unknown value format {kind!r}")


def _tick_label(value: float, kind: ValueFormat, step: float) -> str:
    if kind == "money":
        return _compact_money(value)
    scale = 100 if kind in ("percent", "points") else 1
    label = format_value(value, kind, decimals=_decimals_for(step * scale))
    return label.replace("+0.0 pp", "0 pp").replace("+0 pp", "0 pp")


def _cell_label(value: Number, kind: ValueFormat) -> str:
    """Short text that fits in a heatmap cell."""
    if kind == "money":
        return _compact_money(float(value))
    if kind == "percent":
        return format_value(value, kind, decimals=0)
    return format_value(value, kind)


def _n(x: float) -> str:
    """A coordinate with at most 2 decimals and no float noise, for byte-stable output."""
    text = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _clip(label: str, limit: int = MAX_LABEL_CHARS) -> str:
    label = str(label)
    return label if len(label) <= limit else label[: limit - 1] + "…"


# --- SVG building blocks ----------------------------------------------------------------------


def _tag(name: str, attrs: Mapping[str, object], content: str | None = None) -> str:
    rendered = "".join(
        f' {key}="{escape(_n(value) if isinstance(value, float) else value)}"'
        for key, value in attrs.items()
        if value is not None
    )
    if content is None:
        return f"<{name}{rendered}/>"
    return f"<{name}{rendered}>{content}</{name}>"


def _text(
    x: float, y: float, label: str, *, css: str, anchor="start", size=11, fill=TEXT, clip=False, **extra
) -> str:
    """A text element. With ``clip`` (category labels such as play names) a label longer than
    MAX_LABEL_CHARS is shortened with an ellipsis and keeps its full text as a tooltip."""
    label = str(label)
    shown = _clip(label) if clip else label
    tooltip = _tag("title", {}, escape(label)) if shown != label else ""
    attrs = {
        "class": css,
        "x": float(x),
        "y": float(y),
        "text-anchor": anchor,
        "font-size": size,
        "fill": fill,
    }
    return _tag("text", {**attrs, **extra}, tooltip + escape(shown))


def _line(x1, y1, x2, y2, *, css: str, stroke=AXIS, width=1, **extra) -> str:
    attrs = {"class": css, "x1": float(x1), "y1": float(y1), "x2": float(x2), "y2": float(y2)}
    return _tag("line", {**attrs, "stroke": stroke, "stroke-width": width, **extra})


def _rect(x, y, width, height, *, css: str, fill: str, tooltip: str = "") -> str:
    attrs = {
        "class": css,
        "x": float(x),
        "y": float(y),
        "width": float(max(width, 0)),
        "height": float(max(height, 0)),
    }
    return _tag("rect", {**attrs, "fill": fill}, _tag("title", {}, escape(tooltip)) if tooltip else None)


def _uid(kind: str, *parts: object) -> str:
    """A deterministic id prefix, unique enough for several charts on one page."""
    digest = hashlib.sha1(repr((kind, *parts)).encode(), usedforsecurity=False).hexdigest()[:10]
    return f"chart-{kind}-{digest}"


def _svg(kind: str, uid: str, width: float, height: float, title: str, desc: str, body: Sequence[str]) -> str:
    attrs = {
        "xmlns": "http://www.w3.org/2000/svg",
        "class": f"chart chart-{kind}",
        "width": _n(width),
        "height": _n(height),
        "viewBox": f"0 0 {_n(width)} {_n(height)}",
        "role": "img",
        "aria-labelledby": f"{uid}-title {uid}-desc",
        "font-family": FONT_FAMILY,
    }
    head = _tag("title", {"id": f"{uid}-title"}, escape(title)) + _tag(
        "desc", {"id": f"{uid}-desc"}, escape(desc)
    )
    return _tag("svg", attrs, head + "".join(body))


def no_data_svg(title: str, *, kind: str = "empty", width: float = 640, height: float = 80) -> str:
    """The placeholder a chart returns when it has nothing to draw."""
    uid = _uid(kind, title, "empty")
    body = [
        _text(width / 2, height / 2 + 4, NO_DATA, css="chart-empty", anchor="middle", size=13, fill=MUTED)
    ]
    return _svg(kind, uid, width, height, title, f"{title}: {NO_DATA.lower()}.", body)


# --- Scales and axes --------------------------------------------------------------------------


@dataclass(frozen=True)
class LinearScale:
    """Maps the data interval [lo, hi] onto the pixel interval [start, end] (end may be < start)."""

    lo: float
    hi: float
    start: float
    end: float

    def __call__(self, value: Number) -> float:
        return self.start + (float(value) - self.lo) / (self.hi - self.lo) * (self.end - self.start)


def nice_ticks(lo: float, hi: float, count: int = 5) -> tuple[list[float], float]:
    """Round tick values covering [lo, hi] (steps of 1, 2, 2.5 or 5 x 10^k) and the step."""
    lo, hi = float(lo), float(hi)
    if hi == lo:
        # A single value: give it room (a range of all zeros becomes 0..1).
        pad = abs(lo) * 0.5
        lo, hi = (lo - pad, hi + pad) if pad else (0.0, 1.0)
    raw = (hi - lo) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw - 1e-12)
    first = math.floor(lo / step + 1e-9) * step
    last = math.ceil(hi / step - 1e-9) * step
    ticks = [round(first + i * step, 10) for i in range(round((last - first) / step) + 1)]
    return ticks, step


def _value_axis(values: Sequence[float], start: float, end: float) -> tuple[LinearScale, list[float], float]:
    """A nice scale over the values and zero (bars, lifts and LTV lines need the baseline)."""
    ticks, step = nice_ticks(min(*values, 0.0), max(*values, 0.0))
    return LinearScale(ticks[0], ticks[-1], start, end), ticks, step


def _horizontal_value_axis(scale, ticks, step, kind, top, bottom, title) -> list[str]:
    """Vertical grid lines and tick labels under a horizontal value axis, plus the axis title."""
    parts = []
    for tick in ticks:
        x = scale(tick)
        parts.append(_line(x, top, x, bottom, css="chart-grid", stroke=GRID))
        parts.append(_text(x, bottom + 14, _tick_label(tick, kind, step), css="chart-tick", anchor="middle"))
    if title:
        parts.append(_x_axis_title((scale.start + scale.end) / 2, bottom + 32, title))
    return parts


def _vertical_value_axis(scale, ticks, step, kind, left, right, title) -> list[str]:
    """Horizontal grid lines and tick labels left of a vertical value axis, plus the axis title."""
    parts = []
    for tick in ticks:
        y = scale(tick)
        parts.append(_line(left, y, right, y, css="chart-grid", stroke=GRID))
        parts.append(_text(left - 6, y + 4, _tick_label(tick, kind, step), css="chart-tick", anchor="end"))
    if title:
        parts.append(_y_axis_title((scale.start + scale.end) / 2, title))
    return parts


def _x_axis_title(x: float, y: float, title: str) -> str:
    return _text(x, y, title, css="chart-axis-label", anchor="middle", size=12, fill=MUTED)


def _y_axis_title(y: float, title: str) -> str:
    """Rotated title along the left edge."""
    return _text(
        14,
        y,
        title,
        css="chart-axis-label",
        anchor="middle",
        size=12,
        fill=MUTED,
        transform=f"rotate(-90 14 {_n(y)})",
    )


def _label_width(labels: Sequence[str]) -> float:
    longest = max((len(_clip(str(label))) for label in labels), default=0)
    return longest * CHAR_WIDTH + 16


def _numbers(values) -> list[float]:
    """The values as floats, None dropped. NaN or infinity is a bug upstream, not something to draw."""
    numbers = [float(v) for v in values if v is not None]
    if not all(math.isfinite(v) for v in numbers):
        raise ValueError("chart values must be finite numbers")
    return numbers


# --- Cohort heatmap ---------------------------------------------------------------------------


def colour_scale(t: float, low: str = SCALE_LOW, high: str = SCALE_HIGH) -> str:
    """Linear interpolation between two hex colours; t is clamped to [0, 1]."""
    t = min(1.0, max(0.0, t))
    channels = [
        round(int(low[i : i + 2], 16) + (int(high[i : i + 2], 16) - int(low[i : i + 2], 16)) * t)
        for i in (1, 3, 5)
    ]
    return "#" + "".join(f"{c:02x}" for c in channels)


def cohort_heatmap(
    rows: Sequence[tuple[str, Sequence[Number | None]]],
    *,
    columns: Sequence[str] | None = None,
    value_format: ValueFormat = "percent",
    title: str = "Cohort retention",
    desc: str | None = None,
    x_label: str = "Months since signup",
    y_label: str = "Cohort",
    vmin: Number | None = None,
    vmax: Number | None = None,
) -> str:
    """Rows are cohorts (label, values by months since start; None or a short row = not yet observed).

    The colour runs from SCALE_LOW at ``vmin`` to SCALE_HIGH at ``vmax`` (defaults: 0 and 100% for
    percent, else the data's min (or 0) and max), and each cell prints its value.
    """
    values = _numbers(v for _, row in rows for v in row)
    if not values:
        return no_data_svg(title, kind="heatmap")
    n_cols = max(len(row) for _, row in rows)
    columns = [str(c) for c in columns or []]
    columns += [str(i) for i in range(len(columns), n_cols)]
    lo = float(vmin) if vmin is not None else min(0.0, min(values))
    hi = float(vmax) if vmax is not None else max(max(values), 1.0 if value_format == "percent" else lo)
    cell_w, cell_h = (46, 24) if value_format == "percent" else (54, 24)
    left = 34 + _label_width([label for label, _ in rows])
    top = 10
    plot_w, plot_h = n_cols * cell_w, len(rows) * cell_h
    width, height = left + plot_w + 20, top + plot_h + 86
    uid = _uid("heatmap", title, rows, columns, value_format, lo, hi)

    def shade(value: float) -> float:
        return (value - lo) / (hi - lo) if hi > lo else 0.0

    body = []
    for r, (label, row) in enumerate(rows):
        y = top + r * cell_h
        body.append(
            _text(
                left - 8, y + cell_h / 2 + 4, label, css="chart-tick chart-row-label", clip=True, anchor="end"
            )
        )
        for c, value in enumerate(row):
            if value is not None:
                tooltip = f"{label}, {x_label.lower()} {columns[c]}: {format_value(value, value_format)}"
                body += _heatmap_cell(
                    left + c * cell_w, y, cell_w, cell_h, value, shade(float(value)), value_format, tooltip
                )
    for c, column in enumerate(columns[:n_cols]):
        body.append(
            _text(
                left + c * cell_w + cell_w / 2 - 1,
                top + plot_h + 12,
                column,
                css="chart-tick",
                anchor="middle",
            )
        )
    body.append(_x_axis_title(left + plot_w / 2, top + plot_h + 30, x_label))
    body.append(_y_axis_title(top + plot_h / 2, y_label))
    body += _colour_legend(uid, left, top + plot_h + 44, min(plot_w, 200), lo, hi, value_format)
    if desc is None:
        desc = (
            f"{len(rows)} cohorts by {x_label.lower()}; colour and number show "
            f"{'the share retained' if value_format == 'percent' else 'the value'}, "
            f"from {format_value(min(values), value_format)} to {format_value(max(values), value_format)}."
        )
    return _svg("heatmap", uid, width, height, title, desc, body)


def _heatmap_cell(x, y, cell_w, cell_h, value, t, kind, tooltip) -> list[str]:
    """A cell shaded by t (0..1 along the colour scale) with its value printed, white on dark shades."""
    centre_x, text_fill = x + (cell_w - 2) / 2, "#ffffff" if t > 0.55 else TEXT
    return [
        _rect(x, y, cell_w - 2, cell_h - 2, css="chart-cell", fill=colour_scale(t), tooltip=tooltip),
        _text(
            centre_x,
            y + cell_h / 2 + 3,
            _cell_label(value, kind),
            css="chart-cell-value",
            anchor="middle",
            size=10,
            fill=text_fill,
        ),
    ]


def _colour_legend(uid, x, y, width, lo, hi, kind) -> list[str]:
    gradient = _tag(
        "linearGradient",
        {"id": f"{uid}-scale", "x1": "0", "y1": "0", "x2": "1", "y2": "0"},
        _tag("stop", {"offset": "0", "stop-color": colour_scale(0)})
        + _tag("stop", {"offset": "1", "stop-color": colour_scale(1)}),
    )
    return [
        _tag("defs", {}, gradient),
        _tag(
            "rect",
            {
                "class": "chart-legend-scale",
                "x": float(x),
                "y": float(y),
                "width": float(width),
                "height": 10,
                "fill": f"url(#{uid}-scale)",
            },
        ),
        _text(x, y + 24, format_value(lo, kind, decimals=0), css="chart-tick chart-legend-low"),
        _text(
            x + width,
            y + 24,
            format_value(hi, kind, decimals=0),
            css="chart-tick chart-legend-high",
            anchor="end",
        ),
    ]


# --- Line chart -------------------------------------------------------------------------------


def line_chart(
    series: Mapping[str, Sequence[Number | None]] | Sequence[tuple[str, Sequence[Number | None]]],
    *,
    x_labels: Sequence[str],
    value_format: ValueFormat = "money",
    title: str = "Lifetime value by month",
    desc: str | None = None,
    x_label: str = "Month",
    y_label: str = "",
    width: float = 640,
    height: float = 300,
) -> str:
    """One line per series over ``x_labels`` (e.g. months); None leaves a gap in that line."""
    items = list(series.items()) if isinstance(series, Mapping) else list(series)
    items = [(name, list(points)[: len(x_labels)]) for name, points in items]
    values = _numbers(v for _, points in items for v in points)
    if not values or not x_labels:
        return no_data_svg(title, kind="line")
    left, right, top = 72, width - 32, 28 if len(items) > 1 else 12
    bottom = height - 44
    scale, ticks, step = _value_axis(values, bottom, top)
    count = len(x_labels)

    def x_at(i: int) -> float:
        return (left + right) / 2 if count == 1 else left + i * (right - left) / (count - 1)

    body = _vertical_value_axis(scale, ticks, step, value_format, left, right, y_label)
    every = max(1, math.ceil(count / 12))  # at most ~12 month labels
    for i, label in enumerate(x_labels):
        if i % every == 0 or i == count - 1:
            body.append(_text(x_at(i), bottom + 16, label, css="chart-tick", anchor="middle"))
    body.append(_x_axis_title((left + right) / 2, bottom + 36, x_label))
    legend_x = left
    for index, (name, points) in enumerate(items):
        colour = SERIES_COLOURS[index % len(SERIES_COLOURS)]
        body += _series(name, points, x_labels, x_at, scale, colour, value_format)
        if len(items) > 1:
            body += _legend_entry(legend_x, 12, name, colour)
            legend_x += 30 + len(_clip(name, 20)) * CHAR_WIDTH
    if desc is None:
        desc = "; ".join(
            f"{name}: {format_value(_last(points), value_format)} at {x_labels[_last_index(points)]}"
            for name, points in items
            if _last(points) is not None
        )
        desc = f"{x_label} {x_labels[0]} to {x_labels[-1]}. Latest values: {desc}."
    return _svg(
        "line", _uid("line", title, items, list(x_labels), value_format), width, height, title, desc, body
    )


def _series(name, points, x_labels, x_at, scale, colour, kind) -> list[str]:
    path, pen_down, markers = [], False, []
    for i, value in enumerate(points):
        if value is None:
            pen_down = False
            continue
        x, y = x_at(i), scale(value)
        path.append(f"{'L' if pen_down else 'M'}{_n(x)} {_n(y)}")
        pen_down = True
        tooltip = _tag("title", {}, escape(f"{name}, {x_labels[i]}: {format_value(value, kind)}"))
        markers.append(
            _tag("circle", {"class": "chart-point", "cx": x, "cy": y, "r": 3, "fill": colour}, tooltip)
        )
    line = _tag(
        "path",
        {"class": "chart-line", "d": " ".join(path), "fill": "none", "stroke": colour, "stroke-width": 2},
    )
    return [_tag("g", {"class": "chart-series"}, line + "".join(markers))]


def _legend_entry(x, y, name, colour) -> list[str]:
    return [
        _rect(x, y - 8, 10, 10, css="chart-legend-swatch", fill=colour),
        _text(x + 14, y + 1, _clip(name, 20), css="chart-legend-label"),
    ]


def _last(points) -> Number | None:
    return next((v for v in reversed(points) if v is not None), None)


def _last_index(points) -> int:
    return max(i for i, v in enumerate(points) if v is not None)


# --- Waterfall --------------------------------------------------------------------------------


def waterfall_chart(
    start: tuple[str, Number],
    steps: Sequence[tuple[str, Number]],
    end_label: str,
    *,
    value_format: ValueFormat = "money",
    title: str = "Waterfall",
    desc: str | None = None,
    y_label: str = "",
    width: float = 640,
    height: float = 300,
) -> str:
    """A starting total, signed steps floating from the running total, and the resulting end total."""
    if start[1] is None or any(delta is None for _, delta in steps):
        return no_data_svg(title, kind="waterfall")
    start_label, (start_value,) = start[0], _numbers([start[1]])
    deltas = _numbers(delta for _, delta in steps)
    if start_value == 0 and not any(deltas):
        return no_data_svg(title, kind="waterfall")
    totals = [start_value]
    for delta in deltas:
        totals.append(totals[-1] + delta)
    left, right, top, bottom = 72, width - 16, 22, height - 40
    scale, ticks, step = _value_axis(totals, bottom, top)
    band = (right - left) / (len(steps) + 2)
    body = _vertical_value_axis(scale, ticks, step, value_format, left, right, y_label)
    bars = [
        (start_label, 0.0, start_value, "total"),
        *(
            (label, totals[i], totals[i + 1], "increase" if deltas[i] >= 0 else "decrease")
            for i, (label, _delta) in enumerate(steps)
        ),
        (end_label, 0.0, totals[-1], "total"),
    ]
    for i, (label, base, top_value, role) in enumerate(bars):
        body += _waterfall_bar(i, left + i * band, band, label, base, top_value, role, scale, value_format)
        if i < len(bars) - 1:
            y = scale(top_value)
            body.append(
                _line(
                    left + i * band + band * 0.85,
                    y,
                    left + (i + 1) * band + band * 0.15,
                    y,
                    css="chart-connector",
                    stroke=MUTED,
                    **{"stroke-dasharray": "3 3"},
                )
            )
    body.append(_line(left, scale(0), right, scale(0), css="chart-baseline", stroke=TEXT))
    if desc is None:
        moves = ", ".join(
            f"{label} {_signed(delta, value_format)}" for (label, _), delta in zip(steps, deltas, strict=True)
        )
        desc = (
            f"{start_label} {format_value(start[1], value_format)}; {moves}; "
            f"{end_label} {format_value(totals[-1], value_format)}."
        )
    uid = _uid("waterfall", title, start, list(steps), end_label, value_format)
    return _svg("waterfall", uid, width, height, title, desc, body)


def _signed(value: float, kind: ValueFormat) -> str:
    text = format_value(abs(value), kind)
    return f"+{text}" if value >= 0 else f"-{text}"


def _waterfall_bar(i, x, band, label, base, top_value, role, scale, kind) -> list[str]:
    fill = {"total": TOTAL, "increase": POSITIVE, "decrease": NEGATIVE}[role]
    y_top, y_bottom = sorted((scale(base), scale(top_value)))
    amount = top_value - base if role != "total" else top_value
    text = format_value(amount, kind) if role == "total" else _signed(amount, kind)
    above = y_top - 5 if (top_value >= base) else y_bottom + 13
    return [
        _rect(
            x + band * 0.15,
            y_top,
            band * 0.7,
            max(y_bottom - y_top, 1),
            css=f"chart-bar chart-bar-{role}",
            fill=fill,
            tooltip=f"{label}: {text}",
        ),
        _text(x + band / 2, above, text, css="chart-bar-value", anchor="middle", size=11),
        _text(x + band / 2, scale.start + 16, label, css="chart-tick", anchor="middle"),
    ]


def nrr_waterfall(
    *,
    start: Number,
    expansion: Number,
    contraction: Number,
    churn: Number,
    start_label: str = "Starting MRR",
    end_label: str = "Ending MRR",
    value_format: ValueFormat = "money",
    title: str = "Net revenue retention",
) -> str:
    """Start -> +expansion -> -contraction -> -churn -> end. Contraction and churn are amounts lost
    (their sign is ignored); new business is not part of NRR and has no step here."""
    lost = [abs(float(contraction)), abs(float(churn))]
    end = float(start) + float(expansion) - sum(lost)
    nrr = f" Net revenue retention {format_value(end / float(start), 'percent')}." if float(start) else ""
    desc = (
        f"{start_label} {format_value(start, value_format)}, "
        f"expansion +{format_value(expansion, value_format)}, "
        f"contraction -{format_value(lost[0], value_format)}, churn -{format_value(lost[1], value_format)}, "
        f"{end_label} {format_value(end, value_format)}.{nrr}"
    )
    steps = [("Expansion", expansion), ("Contraction", -lost[0]), ("Churn", -lost[1])]
    return waterfall_chart(
        (start_label, start), steps, end_label, value_format=value_format, title=title, desc=desc
    )


# --- Lift per play ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LiftRow:
    label: str
    estimate: Number | None
    ci_low: Number | None = None
    ci_high: Number | None = None


def lift_chart(
    rows: Sequence[LiftRow | tuple[str, Number | None, Number | None, Number | None]],
    *,
    value_format: ValueFormat = "points",
    confidence: float = 0.95,
    title: str = "Lift per play",
    desc: str | None = None,
    x_label: str = "Lift, treatment minus control",
    width: float = 640,
) -> str:
    """Horizontal dot-and-whisker chart: one row per play, the dot at the estimate, whiskers over the
    confidence interval, a vertical zero line. Rows without an estimate say "not enough data"."""
    rows = [row if isinstance(row, LiftRow) else LiftRow(*row) for row in rows]
    values = _numbers(v for row in rows for v in (row.estimate, row.ci_low, row.ci_high))
    if not values:
        return no_data_svg(title, kind="lift")
    row_h, top = 28, 10
    left, right = min(_label_width([row.label for row in rows]), 240), width - 24
    bottom = top + row_h * len(rows)
    scale, ticks, step = _value_axis(values, left, right)
    body = _horizontal_value_axis(scale, ticks, step, value_format, top, bottom, x_label)
    body.append(_line(scale(0), top, scale(0), bottom, css="chart-zero-line", stroke=TEXT, width=1.5))
    level = f"{confidence * 100:g}% CI"
    for i, row in enumerate(rows):
        body += _lift_row(row, top + i * row_h + row_h / 2, left, scale, value_format, level)
    if desc is None:
        desc = "; ".join(_lift_summary(row, value_format, level) for row in rows) + "."
    uid = _uid("lift", title, rows, value_format, confidence)
    return _svg("lift", uid, width, bottom + 44, title, desc, body)


def _lift_summary(row: LiftRow, kind: ValueFormat, level: str) -> str:
    if row.estimate is None:
        return f"{row.label}: not enough data"
    interval = ""
    if row.ci_low is not None and row.ci_high is not None:
        interval = f" ({level} {format_value(row.ci_low, kind)} to {format_value(row.ci_high, kind)})"
    return f"{row.label}: {format_value(row.estimate, kind)}{interval}"


def _lift_row(row: LiftRow, y: float, left: float, scale: LinearScale, kind, level) -> list[str]:
    parts = [_text(left - 8, y + 4, row.label, css="chart-tick chart-row-label", clip=True, anchor="end")]
    if row.estimate is None:
        parts.append(_text(scale(0) + 6, y + 4, "not enough data", css="chart-note", fill=MUTED))
        return parts
    has_ci = row.ci_low is not None and row.ci_high is not None
    if has_ci and float(row.ci_low) > 0:
        verdict, colour = "positive", POSITIVE
    elif has_ci and float(row.ci_high) < 0:
        verdict, colour = "negative", NEGATIVE
    else:
        verdict, colour = "inconclusive", INCONCLUSIVE
    if has_ci:
        x1, x2 = scale(row.ci_low), scale(row.ci_high)
        parts.append(_line(x1, y, x2, y, css="chart-whisker", stroke=colour, width=2))
        parts += [
            _line(x, y - 6, x, y + 6, css="chart-whisker-cap", stroke=colour, width=2) for x in (x1, x2)
        ]
    tooltip = _tag("title", {}, escape(_lift_summary(row, kind, level)))
    dot = {
        "class": f"chart-estimate chart-lift-{verdict}",
        "cx": scale(row.estimate),
        "cy": float(y),
        "r": 4.5,
    }
    parts.append(_tag("circle", {**dot, "fill": colour}, tooltip))
    return parts


# --- Bar chart --------------------------------------------------------------------------------


def bar_chart(
    bars: Sequence[tuple[str, Number | None]],
    *,
    value_format: ValueFormat = "percent",
    title: str = "Opt-out leakage by play",
    desc: str | None = None,
    x_label: str = "",
    width: float = 640,
) -> str:
    """Horizontal bars from zero (left of the zero line when negative), value printed at the end."""
    values = _numbers(value for _, value in bars)
    if not values:
        return no_data_svg(title, kind="bar")
    row_h, top = 26, 10
    left, right = min(_label_width([label for label, _ in bars]), 240), width - 64
    bottom = top + row_h * len(bars)
    scale, ticks, step = _value_axis(values, left, right)
    body = _horizontal_value_axis(scale, ticks, step, value_format, top, bottom, x_label)
    zero = scale(0)
    for i, (label, value) in enumerate(bars):
        y = top + i * row_h
        body.append(
            _text(
                left - 8, y + row_h / 2 + 4, label, css="chart-tick chart-row-label", clip=True, anchor="end"
            )
        )
        text = format_value(value, value_format)
        if value is None:
            body.append(_text(zero + 4, y + row_h / 2 + 4, text, css="chart-bar-value", fill=MUTED))
            continue
        end = scale(value)
        body.append(
            _rect(
                min(zero, end),
                y + 4,
                abs(end - zero),
                row_h - 8,
                css="chart-bar",
                fill=BAR,
                tooltip=f"{label}: {text}",
            )
        )
        # A negative value is printed right of the zero line: left of its bar sit the play names.
        body.append(_text(max(end, zero) + 4, y + row_h / 2 + 4, text, css="chart-bar-value"))
    body.append(_line(zero, top, zero, bottom, css="chart-zero-line", stroke=TEXT))
    if desc is None:
        desc = "; ".join(f"{label}: {format_value(value, value_format)}" for label, value in bars) + "."
    uid = _uid("bar", title, list(bars), value_format)
    return _svg("bar", uid, width, bottom + 44, title, desc, body)


# --- Step curves (Kaplan-Meier) ---------------------------------------------------------------


def step_chart(
    series: Sequence[tuple[str, Sequence[tuple[Number, Number]]]],
    *,
    title: str,
    x_label: str = "Days since the trigger",
    y_label: str = "Reached the outcome",
    desc: str | None = None,
    width: float = 900,
    height: float = 300,
) -> str:
    """Right-continuous step lines through ``(x, share)`` corners (Kaplan-Meier curves drawn as
    the share that has reached the outcome), one per series, on a 0-100% axis from x = 0."""
    items = [(name, [(float(x), float(y)) for x, y in points]) for name, points in series if points]
    _numbers(v for _, points in items for point in points for v in point)
    if not items:
        return no_data_svg(title, kind="step")
    left, right, top, bottom = 72, width - 32, 28, height - 44
    x_max = max(x for _, points in items for x, _ in points) or 1.0
    # The axis ends at the last day drawn (the horizon), ticks within it.
    x_ticks, x_step = nice_ticks(0.0, x_max)
    x_ticks = [tick for tick in x_ticks if tick <= x_max + 1e-9]
    x_scale = LinearScale(0.0, x_max, left, right)
    y_ticks, y_step = nice_ticks(0.0, max(max(y for _, points in items for _, y in points), 0.05))
    y_scale = LinearScale(0.0, y_ticks[-1], bottom, top)
    body = _vertical_value_axis(y_scale, y_ticks, y_step, "percent", left, right, y_label)
    for tick in x_ticks:
        body.append(
            _text(
                x_scale(tick),
                bottom + 16,
                _tick_label(tick, "number", x_step),
                css="chart-tick",
                anchor="middle",
            )
        )
    body.append(_x_axis_title((left + right) / 2, bottom + 36, x_label))
    legend_x = left
    summary = []
    for index, (name, points) in enumerate(items):
        colour = SERIES_COLOURS[index % len(SERIES_COLOURS)]
        path = [f"M{_n(x_scale(points[0][0]))} {_n(y_scale(points[0][1]))}"]
        for (_x0, y0), (x1, y1) in itertools.pairwise(points):
            path.append(f"H{_n(x_scale(x1))}")
            if y1 != y0:
                path.append(f"V{_n(y_scale(y1))}")
        tooltip = _tag(
            "title",
            {},
            escape(f"{name}: {format_value(points[-1][1], 'percent')} by day {_n(points[-1][0])}"),
        )
        line = _tag(
            "path",
            {"class": "chart-line", "d": " ".join(path), "fill": "none", "stroke": colour, "stroke-width": 2},
            tooltip,
        )
        body.append(_tag("g", {"class": "chart-series"}, line))
        body += _legend_entry(legend_x, 12, name, colour)
        legend_x += 30 + len(_clip(name, 20)) * CHAR_WIDTH
        summary.append(f"{name}: {format_value(points[-1][1], 'percent')} by day {_n(points[-1][0])}")
    if desc is None:
        desc = f"{y_label} by {x_label.lower()}. " + "; ".join(summary) + "."
    return _svg("step", _uid("step", title, items), width, height, title, desc, body)
