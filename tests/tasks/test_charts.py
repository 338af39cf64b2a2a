"""tasks/charts.py: SVG that parses, one mark per value, escaped text, no external refs."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date, timedelta

import pytest

from catalog.documents import Chart, ChartSeries
from tasks.charts import MAX_BARS, axis_labels, nice_ticks, render_chart_svg

NS = "{http://www.w3.org/2000/svg}"
EVIL = "<script>alert(1)</script>"


def parse(svg: str) -> ET.Element:
    """The SVG as an element tree (fails the test when it is not well-formed XML)."""
    root = ET.fromstring(svg)
    assert root.tag == f"{NS}svg"
    return root


def days(n: int) -> tuple[str, ...]:
    """ISO dates from 1 March 2025, as a line chart's labels."""
    return tuple((date(2025, 3, 1) + timedelta(days=i)).isoformat() for i in range(n))


def bars(root: ET.Element) -> list[ET.Element]:
    """The data bars (not legend swatches or placeholders)."""
    return [r for r in root.iter(f"{NS}rect") if r.get("class") == "bar"]


def texts(root: ET.Element) -> list[str]:
    """Every text node of the chart."""
    return [t.text or "" for t in root.iter(f"{NS}text")]


def test_line_chart_has_one_path_per_series_and_a_legend() -> None:
    chart = Chart(
        "line",
        "Verifications per day",
        days(31),
        (
            ChartSeries("Verifications", tuple(float(100 + i * 7) for i in range(31))),
            ChartSeries("Passed", tuple(float(80 + i * 5) for i in range(31))),
        ),
    )
    root = parse(render_chart_svg(chart))
    paths = [p for p in root.iter(f"{NS}path") if p.get("class") == "series"]
    assert len(paths) == 2
    assert all(p.get("d", "").count("L") == 30 for p in paths)
    labels = texts(root)
    assert "Verifications" in labels and "Passed" in labels  # legend
    assert "Mar 1" in labels  # dates shortened
    shown = [lb for lb in labels if lb.startswith("Mar ")]
    assert 2 <= len(shown) < 31  # thinned so they do not overlap


def test_line_chart_ticks_are_round_numbers() -> None:
    chart = Chart("line", "t", days(5), (ChartSeries("a", (3.0, 17.0, 42.0, 8.0, 23.0)),))
    labels = texts(parse(render_chart_svg(chart)))
    assert {"0", "10", "20", "30", "40", "50"} <= set(labels)


def test_single_series_line_has_no_legend() -> None:
    root = parse(render_chart_svg(Chart("line", "t", days(3), (ChartSeries("a", (1, 2, 3)),))))
    assert not [r for r in root.iter(f"{NS}rect") if r.get("class") == "swatch"]


def test_vertical_bar_chart_has_one_rect_per_bar() -> None:
    chart = Chart(
        "bar",
        "By outcome",
        ("passed", "failed", "challenged", "error"),
        (ChartSeries("Verifications", (900.0, 60.0, 30.0, 10.0)),),
    )
    root = parse(render_chart_svg(chart))
    assert len(bars(root)) == 4
    assert all(float(r.get("height", "0")) >= 0 for r in bars(root))
    assert "900" in texts(root)  # value labels


def test_grouped_horizontal_bars_for_long_names() -> None:
    labels = tuple(f"Product with a rather long descriptive name {i}" for i in range(6))
    chart = Chart(
        "bar",
        "By product",
        labels,
        (
            ChartSeries("This month", tuple(float(i * 10) for i in range(6))),
            ChartSeries("Last month", tuple(float(i * 8) for i in range(6))),
            ChartSeries("Year ago", tuple(float(i * 3) for i in range(6))),
        ),
    )
    root = parse(render_chart_svg(chart))
    assert len(bars(root)) == 18
    ys = {r.get("y") for r in bars(root)}
    xs = {r.get("x") for r in bars(root)}
    assert len(ys) == 18 and len(xs) == 1  # horizontal: every bar starts at the zero line


def test_bar_charts_keep_to_a_page() -> None:
    labels = tuple(f"widget-{i}" for i in range(200))
    chart = Chart("bar", "Widgets", labels, (ChartSeries("n", tuple(range(200, 0, -1))),))
    root = parse(render_chart_svg(chart))
    assert len(bars(root)) == MAX_BARS
    assert float(root.get("height", "0")) < 842  # px in an A4 page
    assert f"Widgets (first {MAX_BARS} of 200)" in texts(root)


def test_text_is_escaped_never_markup() -> None:
    chart = Chart(
        "bar",
        EVIL,
        (EVIL, "b & c"),
        (ChartSeries(EVIL, (1.0, 2.0)), ChartSeries('x" onload="y', (3.0, 4.0))),
        unit=EVIL,
    )
    svg = render_chart_svg(chart)
    assert "<script" not in svg and "&lt;script&gt;" in svg
    root = parse(svg)
    assert not list(root.iter(f"{NS}script")) and not list(root.iter("script"))
    assert all(not el.get("onload") for el in root.iter())
    assert EVIL in texts(root)  # shown as literal text
    assert root.get("aria-label") == EVIL


def test_no_external_references() -> None:
    chart = Chart(
        "line",
        "http://example.com/x.css",
        days(3),
        (ChartSeries("url(http://127.0.0.1:9/)", (1, 2, 3)),),
    )
    root = parse(render_chart_svg(chart))
    for el in root.iter():
        assert not any("href" in name for name in el.attrib)
        assert el.tag.split("}")[-1] not in {"image", "use", "foreignObject", "script", "style"}


@pytest.mark.parametrize("kind", ["line", "bar"])
def test_empty_data_shows_a_placeholder(kind: str) -> None:
    for chart in (
        Chart(kind, "Nothing", (), ()),
        Chart(kind, "Nothing", ("a", "b"), ()),
        Chart(kind, "Nothing", ("a",), (ChartSeries("s", (float("nan"),)),)),
    ):
        root = parse(render_chart_svg(chart))
        assert "No data in this period" in texts(root)
        assert not bars(root)


@pytest.mark.parametrize("kind", ["line", "bar"])
def test_all_zero_values_do_not_divide_by_zero(kind: str) -> None:
    chart = Chart(kind, "Zeros", ("a", "b", "c"), (ChartSeries("s", (0.0, 0.0, 0.0)),))
    root = parse(render_chart_svg(chart))
    assert "0" in texts(root) and "1" in texts(root)
    if kind == "bar":
        assert [r.get("height") for r in bars(root)] == ["0.0"] * 3


def test_single_point_and_negative_values() -> None:
    parse(render_chart_svg(Chart("line", "One", ("2025-03-01",), (ChartSeries("s", (5.0,)),))))
    root = parse(render_chart_svg(Chart("bar", "Net", ("a", "b"), (ChartSeries("s", (-4, 9)),))))
    assert "-5" in texts(root) and "0" in texts(root)


def test_unknown_kind_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown chart kind"):
        render_chart_svg(Chart("pie", "t", ("a",), (ChartSeries("s", (1.0,)),)))


def test_nice_ticks() -> None:
    assert nice_ticks(0, 37, integral=True) == [0, 10, 20, 30, 40]
    assert nice_ticks(0, 0.83) == [0, 0.2, 0.4, 0.6, 0.8, 1]
    assert nice_ticks(-3, 17) == [-5, 0, 5, 10, 15, 20]
    assert nice_ticks(0, 0, integral=True) == [0, 1]
    assert axis_labels(nice_ticks(0, 123_456)) == ["0", "25k", "50k", "75k", "100k", "125k"]
    assert axis_labels([0, 2_500_000, 5_000_000]) == ["0", "2.5M", "5.0M"]
