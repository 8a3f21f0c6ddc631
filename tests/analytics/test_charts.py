"""Server-side SVG charts: valid XML, accessible, escaped, CSP-safe, and geometrically right."""

import math
import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest

from analytics import charts
from analytics.charts import (
    SCALE_HIGH,
    SCALE_LOW,
    LiftRow,
    bar_chart,
    cohort_heatmap,
    colour_scale,
    format_value,
    lift_chart,
    line_chart,
    nice_ticks,
    nrr_waterfall,
    waterfall_chart,
)

SVG = "{http://www.w3.org/2000/svg}"
EVIL = "<script>alert('x')</script> & \"co\""


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 - our own output, parsed to check it


def by_class(root: ET.Element, css: str, tag: str | None = None) -> list[ET.Element]:
    return [el for el in root.iter(f"{SVG}{tag}" if tag else None) if css in (el.get("class") or "").split()]


def texts(root: ET.Element) -> list[str]:
    return ["".join(el.itertext()) for el in root.iter(f"{SVG}text")]


def f(el: ET.Element, attr: str) -> float:
    return float(el.get(attr))


def sample_charts(label: str = "Play A") -> dict[str, str]:
    """One of each chart, with ``label`` wherever a user-provided label can appear."""
    return {
        "heatmap": cohort_heatmap([(label, [1, 0.8, 0.6]), ("2024-02", [1, 0.7])], title=label),
        "line": line_chart({label: [10, 20, 35], "Other": [5, None, 12]}, x_labels=["Jan", "Feb", label]),
        "waterfall": waterfall_chart(("Start", 100), [(label, 20), ("Churn", -30)], "End", title=label),
        "nrr": nrr_waterfall(start=100, expansion=20, contraction=5, churn=10, start_label=label),
        "lift": lift_chart([(label, 0.02, -0.01, 0.05)], title=label),
        "bar": bar_chart([(label, 0.03), ("Other", 0.01)], x_label=label),
    }


EMPTY_CHARTS = {
    "heatmap": lambda: cohort_heatmap([]),
    "heatmap-unobserved": lambda: cohort_heatmap([("2024-01", [None, None])]),
    "line": lambda: line_chart({}, x_labels=[]),
    "line-no-values": lambda: line_chart({"LTV": [None, None]}, x_labels=["Jan", "Feb"]),
    "waterfall": lambda: waterfall_chart(("Start", 0), [("Expansion", 0)], "End"),
    "nrr": lambda: nrr_waterfall(start=0, expansion=0, contraction=0, churn=0),
    "lift": lambda: lift_chart([]),
    "lift-no-estimates": lambda: lift_chart([("New play", None, None, None)]),
    "bar": lambda: bar_chart([]),
}


# --- The contract every chart keeps -----------------------------------------------------------


@pytest.mark.parametrize("kind", list(sample_charts()))
def test_chart_is_accessible_csp_safe_xml(kind):
    svg = sample_charts()[kind]
    root = parse(svg)
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    width, height = f(root, "width"), f(root, "height")
    assert width > 0 and height > 0
    assert root.get("viewBox") == f"0 0 {root.get('width')} {root.get('height')}"
    title, desc = root[0], root[1]
    assert (title.tag, desc.tag) == (f"{SVG}title", f"{SVG}desc")
    assert title.text and desc.text
    assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    assert "style=" not in svg and "<script" not in svg.lower()
    assert not [attr for el in root.iter() for attr in el.attrib if attr.lower().startswith("on")]


@pytest.mark.parametrize("kind", list(sample_charts()))
def test_chart_output_is_deterministic(kind):
    assert sample_charts()[kind] == sample_charts()[kind]


@pytest.mark.parametrize("kind", list(sample_charts()))
def test_user_labels_are_escaped(kind):
    svg = sample_charts(EVIL)[kind]
    assert "<script" not in svg.lower()
    assert "&lt;script&gt;" in svg
    root = parse(svg)  # still well-formed with quotes and ampersands in labels
    everything = " ".join("".join(el.itertext()) for el in root.iter())
    assert "<script>alert('x')</script>" in everything


@pytest.mark.parametrize("kind", list(EMPTY_CHARTS))
def test_empty_input_gives_a_no_data_svg(kind):
    svg = EMPTY_CHARTS[kind]()
    root = parse(svg)
    assert root.get("role") == "img" and root[0].tag == f"{SVG}title"
    assert texts(root) == ["No data yet"]


def test_non_finite_values_are_refused():
    with pytest.raises(ValueError, match="finite"):
        bar_chart([("Play", float("nan"))])
    with pytest.raises(ValueError, match="finite"):
        line_chart({"LTV": [Decimal("Infinity")]}, x_labels=["Jan"])


def test_long_labels_are_clipped_with_the_full_text_as_tooltip():
    name = "Renewal window sixty days before the end, enterprise accounts"
    root = parse(bar_chart([(name, 0.1)]))
    label = by_class(root, "chart-row-label")[0]
    assert label.find(f"{SVG}title").text == name
    shown = "".join(label.itertext()).removeprefix(name)
    assert shown.endswith("…") and len(shown) == charts.MAX_LABEL_CHARS


# --- Formatting and scales --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kind", "text"),
    [
        (0.253, "percent", "25.3%"),
        (Decimal("0.5"), "percent", "50.0%"),
        (0.02, "points", "+2.0 pp"),
        (-0.015, "points", "-1.5 pp"),
        (Decimal("12000"), "money", "12,000"),
        (Decimal("12000.5"), "money", "12,000.50"),
        (Decimal("-350.25"), "money", "-350.25"),
        (1234.5, "number", "1,234.5"),
        (None, "money", "—"),
    ],
)
def test_format_value(value, kind, text):
    assert format_value(value, kind) == text


def test_format_value_rejects_an_unknown_format():
    with pytest.raises(ValueError, match="unknown value format"):
        format_value(1, "euros")


def test_money_axis_ticks_are_compact():
    root = parse(
        line_chart({"LTV": [Decimal("0"), Decimal("12500"), Decimal("1400000")]}, x_labels=["a", "b", "c"])
    )
    ticks = ["".join(t.itertext()) for t in by_class(root, "chart-tick", "text")]
    assert {"0", "500k", "1M", "1.5M"} <= set(ticks)


@pytest.mark.parametrize(
    ("lo", "hi", "ticks"),
    [
        (0, 0.87, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        (-0.05, 0.09, [-0.05, 0, 0.05, 0.1]),
        (0, 0, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        (0, 10400, [0, 2500, 5000, 7500, 10000, 12500]),
    ],
)
def test_nice_ticks(lo, hi, ticks):
    assert nice_ticks(lo, hi)[0] == pytest.approx(ticks)


def test_colour_scale_endpoints_midpoint_and_clamping():
    assert colour_scale(0) == SCALE_LOW
    assert colour_scale(1) == SCALE_HIGH
    assert colour_scale(-3) == SCALE_LOW and colour_scale(7) == SCALE_HIGH
    low, high = int(SCALE_LOW[1:3], 16), int(SCALE_HIGH[1:3], 16)
    assert int(colour_scale(0.5)[1:3], 16) == round((low + high) / 2)


# --- Cohort heatmap ---------------------------------------------------------------------------


def test_heatmap_draws_one_cell_per_observed_value_and_prints_it():
    rows = [("2024-01", [1, 0.8, 0.55, 0.5]), ("2024-02", [1, 0.75, None]), ("2024-03", [1])]
    root = parse(cohort_heatmap(rows))
    cells = by_class(root, "chart-cell", "rect")
    assert len(cells) == 7
    values = ["".join(t.itertext()) for t in by_class(root, "chart-cell-value")]
    assert values == ["100%", "80%", "55%", "50%", "100%", "75%", "100%"]
    assert [cell.find(f"{SVG}title").text for cell in cells][1] == "2024-01, months since signup 1: 80.0%"
    assert len(by_class(root, "chart-row-label")) == 3


def test_heatmap_colour_scale_runs_from_vmin_to_vmax():
    root = parse(cohort_heatmap([("2024-01", [1, 0.5, 0])]))
    fills = [cell.get("fill") for cell in by_class(root, "chart-cell", "rect")]
    assert fills == [SCALE_HIGH, colour_scale(0.5), SCALE_LOW]
    stops = [stop.get("stop-color") for stop in root.iter(f"{SVG}stop")]
    assert stops == [SCALE_LOW, SCALE_HIGH]
    # Dark cells print white text, light ones dark text.
    labels = by_class(root, "chart-cell-value")
    assert labels[0].get("fill") == "#ffffff" and labels[2].get("fill") != "#ffffff"


def test_heatmap_money_scale_uses_the_data_range_and_clamps_overrides():
    rows = [("2024-01", [Decimal("2000"), Decimal("500")]), ("2024-02", [Decimal("-100")])]
    root = parse(cohort_heatmap(rows, value_format="money"))
    fills = [cell.get("fill") for cell in by_class(root, "chart-cell", "rect")]
    assert fills == [SCALE_HIGH, colour_scale(600 / 2100), SCALE_LOW]
    assert ["".join(t.itertext()) for t in by_class(root, "chart-cell-value")] == ["2k", "500", "-100"]
    clamped = parse(cohort_heatmap(rows, value_format="money", vmin=0, vmax=1000))
    assert [c.get("fill") for c in by_class(clamped, "chart-cell", "rect")] == [
        SCALE_HIGH,
        colour_scale(0.5),
        SCALE_LOW,
    ]


def test_heatmap_column_labels_default_to_months_since():
    root = parse(cohort_heatmap([("2024-01", [1, 0.9, 0.8])]))
    ticks = ["".join(t.itertext()) for t in root.iter(f"{SVG}text") if t.get("class") == "chart-tick"]
    assert ticks == ["0", "1", "2"]


# --- Line chart -------------------------------------------------------------------------------


def test_line_chart_points_lines_and_gaps():
    root = parse(
        line_chart({"2024": [10, 20, None, 40], "2023": [5, 15, 25, 30]}, x_labels=["J", "F", "M", "A"])
    )
    assert len(by_class(root, "chart-point", "circle")) == 7
    paths = by_class(root, "chart-line", "path")
    assert len(paths) == 2
    assert paths[0].get("d").count("M") == 2  # the gap splits the 2024 line
    assert paths[1].get("d").count("M") == 1
    assert [t.text for t in by_class(root, "chart-legend-label")] == ["2024", "2023"]


def test_line_chart_points_are_placed_on_the_value_scale():
    root = parse(line_chart({"LTV": [0, 50, 100]}, x_labels=["a", "b", "c"]))
    ys = [f(p, "cy") for p in by_class(root, "chart-point", "circle")]
    xs = [f(p, "cx") for p in by_class(root, "chart-point", "circle")]
    assert ys[0] > ys[1] > ys[2]
    assert ys[0] - ys[1] == pytest.approx(ys[1] - ys[2], abs=0.02)
    assert xs[1] - xs[0] == pytest.approx(xs[2] - xs[1], abs=0.02)


def test_line_chart_handles_negative_values():
    root = parse(line_chart({"Net": [-30, 10]}, x_labels=["a", "b"]))
    grid = {"".join(t.itertext()): f(t, "y") for t in by_class(root, "chart-tick", "text")}
    low, high = (f(p, "cy") for p in by_class(root, "chart-point", "circle"))
    assert low > grid["0"] - 4 > high  # tick text sits 4px below its grid line


# --- Waterfall --------------------------------------------------------------------------------


def test_nrr_waterfall_bars_and_arithmetic():
    svg = nrr_waterfall(
        start=Decimal("10000"), expansion=Decimal("1500"), contraction=Decimal("400"), churn=700
    )
    root = parse(svg)
    bars = by_class(root, "chart-bar", "rect")
    assert [b.get("class").split()[-1] for b in bars] == [
        "chart-bar-total",
        "chart-bar-increase",
        "chart-bar-decrease",
        "chart-bar-decrease",
        "chart-bar-total",
    ]
    heights = [f(b, "height") for b in bars]
    assert heights[1] / heights[0] == pytest.approx(0.15, abs=1e-3)
    assert heights[4] / heights[0] == pytest.approx(1.04, abs=1e-3)
    labels = ["".join(t.itertext()) for t in by_class(root, "chart-bar-value")]
    assert labels == ["10,000", "+1,500", "-400", "-700", "10,400"]
    assert "Net revenue retention 104.0%" in root[1].text
    # Each step floats from the running total: contraction starts where expansion ended.
    assert f(bars[2], "y") == pytest.approx(f(bars[1], "y"), abs=0.02)


def test_nrr_waterfall_ignores_the_sign_of_losses():
    assert nrr_waterfall(start=100, expansion=10, contraction=-5, churn=-20) == nrr_waterfall(
        start=100, expansion=10, contraction=5, churn=20
    )


def test_waterfall_going_below_zero():
    root = parse(waterfall_chart(("Start", 100), [("Churn", -300)], "End"))
    baseline = by_class(root, "chart-baseline", "line")[0]
    end_bar = by_class(root, "chart-bar", "rect")[-1]
    assert f(end_bar, "y") == pytest.approx(f(baseline, "y1"), abs=0.02)  # hangs below the zero line
    assert f(end_bar, "height") == pytest.approx(
        2 * f(by_class(root, "chart-bar", "rect")[0], "height"), abs=0.05
    )
    assert "-200" in texts(root)


# --- Lift per play ----------------------------------------------------------------------------


def test_lift_chart_whiskers_span_the_ci_and_zero_line_sits_at_zero():
    rows = [
        LiftRow("Onboarding", 0.05, 0.01, 0.09),
        ("Renewal", -0.01, -0.05, 0.02),
        ("Win-back", -0.04, -0.07, -0.01),
    ]
    root = parse(lift_chart(rows))
    zero = by_class(root, "chart-zero-line", "line")[0]
    x0 = f(zero, "x1")
    assert f(zero, "x2") == x0
    whiskers = by_class(root, "chart-whisker", "line")
    assert len(whiskers) == 3
    (a1, a2), (b1, b2), (c1, c2) = ((f(w, "x1"), f(w, "x2")) for w in whiskers)
    per_unit = (a2 - a1) / 0.08
    assert b2 - b1 == pytest.approx(0.07 * per_unit, abs=0.05)
    assert a1 - x0 == pytest.approx(0.01 * per_unit, abs=0.05)
    assert x0 - b1 == pytest.approx(0.05 * per_unit, abs=0.05)
    assert x0 - c2 == pytest.approx(0.01 * per_unit, abs=0.05)
    assert c2 - c1 == pytest.approx(0.06 * per_unit, abs=0.05)
    dots = by_class(root, "chart-estimate", "circle")
    assert [f(d, "cx") - x0 for d in dots] == pytest.approx(
        [0.05 * per_unit, -0.01 * per_unit, -0.04 * per_unit], abs=0.05
    )
    assert [d.get("class").split()[-1] for d in dots] == [
        "chart-lift-positive",
        "chart-lift-inconclusive",
        "chart-lift-negative",
    ]
    caps = by_class(root, "chart-whisker-cap", "line")
    assert sorted(f(c, "x1") for c in caps[:2]) == pytest.approx([a1, a2])
    assert dots[0].find(f"{SVG}title").text == "Onboarding: +5.0 pp (95% CI +1.0 pp to +9.0 pp)"


def test_lift_chart_zero_line_stays_inside_when_all_lifts_are_positive():
    root = parse(lift_chart([("A", 0.3, 0.2, 0.4)]))
    x0 = f(by_class(root, "chart-zero-line", "line")[0], "x1")
    whisker = by_class(root, "chart-whisker", "line")[0]
    ticks = {"".join(t.itertext()): f(t, "x") for t in by_class(root, "chart-tick", "text")}
    assert ticks["0 pp"] == x0 < f(whisker, "x1")


def test_lift_chart_row_without_estimate_says_so():
    root = parse(lift_chart([("Measured", 0.02, -0.01, 0.05), ("Brand new", None, None, None)]))
    assert len(by_class(root, "chart-estimate", "circle")) == 1
    assert "not enough data" in texts(root)
    assert "Brand new: not enough data" in root[1].text


def test_lift_chart_percent_relative_format():
    root = parse(lift_chart([("A", 0.25, 0.1, 0.4)], value_format="percent", confidence=0.9))
    assert by_class(root, "chart-estimate")[0].find(f"{SVG}title").text == "A: 25.0% (90% CI 10.0% to 40.0%)"


# --- Bar chart --------------------------------------------------------------------------------


def test_bar_chart_bars_from_zero_including_negative():
    root = parse(bar_chart([("A", 0.02), ("B", 0.04), ("C", -0.01), ("D", None)]))
    bars = by_class(root, "chart-bar", "rect")
    assert len(bars) == 3
    x0 = f(by_class(root, "chart-zero-line", "line")[0], "x1")
    assert f(bars[0], "x") == pytest.approx(x0) and f(bars[1], "x") == pytest.approx(x0)
    assert f(bars[1], "width") == pytest.approx(2 * f(bars[0], "width"), abs=0.02)
    assert f(bars[2], "x") + f(bars[2], "width") == pytest.approx(x0, abs=0.02)
    assert f(bars[2], "width") == pytest.approx(f(bars[0], "width") / 2, abs=0.02)
    labels = ["".join(t.itertext()) for t in by_class(root, "chart-bar-value")]
    assert labels == ["2.0%", "4.0%", "-1.0%", "—"]


def test_bar_chart_value_labels_stay_clear_of_row_labels():
    root = parse(bar_chart([("Play", -0.05), ("Other", 0.01)]))
    x0 = f(by_class(root, "chart-zero-line", "line")[0], "x1")
    assert all(f(t, "x") > x0 for t in by_class(root, "chart-bar-value"))
    assert math.isclose(
        f(by_class(root, "chart-row-label")[0], "x"), f(by_class(root, "chart-row-label")[1], "x")
    )
