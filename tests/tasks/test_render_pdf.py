"""tasks/render_pdf.py: PDFs read back with pypdf; user text stays text; nothing is fetched."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import weasyprint
from pypdf import PdfReader

from catalog.documents import (
    Chart,
    ChartSeries,
    ColumnKind,
    ColumnSpec,
    Metric,
    PdfDocument,
    Section,
    Table,
)
from tasks.render_pdf import (
    MAX_TABLE_ROWS,
    TEMPLATES_DIR,
    RefusedURLError,
    TemplateAssetFetcher,
    format_cell,
    render_html,
    render_pdf,
    table_view,
)

START = date(2025, 12, 1)
IMG = '<img src="file:///etc/passwd">'
BOLD = "<b>bold</b>"
LINK = '<link rel=stylesheet href="http://127.0.0.1:9/x.css">'
DAILY_COLUMNS = (
    ColumnSpec("day", "Date", ColumnKind.DATE),
    ColumnSpec("verifications", "Verifications", ColumnKind.INTEGER),
    ColumnSpec("passed", "Passed", ColumnKind.INTEGER),
    ColumnSpec("pass_rate", "Pass rate", ColumnKind.PERCENT),
    ColumnSpec("avg_risk_score", "Avg risk score", ColumnKind.FLOAT),
    ColumnSpec("flagged", "Flagged", ColumnKind.BOOLEAN),
)


def realistic_document(
    title: str = "Verification overview report",
    rows: int = 31,
    total_rows: int = 31,
    filters: dict[str, str] | None = None,
    cell: str | None = None,
) -> PdfDocument:
    """A month of daily figures: metric cards, a line chart, a bar chart, a capped table."""
    days = [START + timedelta(days=i) for i in range(31)]
    volume = [1200 + (i * 137) % 900 for i in range(31)]
    passed = [round(v * (0.82 + (i % 5) / 100)) for i, v in enumerate(volume)]
    table_rows = tuple(
        (
            days[i % 31],
            volume[i % 31],
            passed[i % 31],
            passed[i % 31] / volume[i % 31],
            21.5 + (i % 7) * 1.25,
            i % 9 == 0 if i % 11 else None,
        )
        for i in range(rows)
    )
    if cell is not None:
        table_rows = ((cell, *table_rows[0][1:]), *table_rows[1:])
    daily = Section(
        title="Volume over time",
        description="Verifications per day in the selected range.",
        chart=Chart(
            "line",
            "Verifications per day",
            tuple(d.isoformat() for d in days),
            (
                ChartSeries("Verifications", tuple(float(v) for v in volume)),
                ChartSeries("Passed", tuple(float(v) for v in passed)),
            ),
        ),
        table=Table(DAILY_COLUMNS, table_rows, total_rows=total_rows),
    )
    outcomes = Section(
        title="Outcomes",
        chart=Chart(
            "bar",
            "Verifications by outcome",
            ("passed", "failed", "challenged", "error"),
            (ChartSeries("Verifications", (41_230.0, 3_310.0, 1_905.0, 212.0)),),
        ),
        table=Table(
            (
                ColumnSpec("outcome", "Outcome"),
                ColumnSpec("verifications", "Verifications", ColumnKind.INTEGER),
                ColumnSpec("share", "Share", ColumnKind.PERCENT),
            ),
            (
                ("passed", 41_230, 0.8836),
                ("failed", 3_310, 0.0709),
                ("challenged", 1_905, 0.0408),
                ("error", 212, 0.0045),
            ),
        ),
    )
    return PdfDocument(
        title=title,
        subtitle="Dashboard summary metrics",
        account="Acme Verification Ltd",
        environment="live",
        period="1 Dec 2025 – 31 Dec 2025",
        generated_at=datetime(2026, 1, 2, 9, 30, tzinfo=UTC),
        metrics=(
            Metric("Verifications", "46,657"),
            Metric("Pass rate", "88.4%", "41,230 passed"),
            Metric("Failed", "3,310", "1,905 challenged"),
            Metric("Avg risk score", "24.8"),
            Metric("Avg confidence", "0.91"),
            Metric("Avg latency", "412 ms"),
        ),
        sections=(daily, outcomes),
        filters=filters
        if filters is not None
        else {"Environment": "live", "From": "2025-12-01", "To": "2025-12-31"},
    )


def pdf_text(path: Path) -> tuple[int, str]:
    """Page count and the text of every page, extracted by pypdf."""
    reader = PdfReader(path)
    return len(reader.pages), "\n".join(page.extract_text() for page in reader.pages)


def test_realistic_report_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "report.pdf"
    fetcher = TemplateAssetFetcher()
    pages = render_pdf(realistic_document(rows=120, total_rows=5_000), path, fetcher=fetcher)
    count, text = pdf_text(path)
    assert pages == count >= 2
    for expected in (
        "Verification overview report",
        "Acme Verification Ltd",
        "live",
        "1 Dec 2025 – 31 Dec 2025",
        "2026-01-02 09:30 UTC",
        "Verifications",
        "46,657",
        "Pass rate",
        "88.4%",
        "41,230 passed",
        "Avg latency",
        "412 ms",
        "Verifications per day",
        "Verifications by outcome",
        "Showing first 120 of 5,000 rows",
        "2025-12-01",
        "1,200",
        "82.0%",
        "21.50",
        f"Page 1 of {count}",
        f"Page {count} of {count}",
    ):
        assert expected in text, expected
    assert "Yes" in text and "No" in text and "—" in text
    assert len(re.findall(r"Date\s*Verifications\s*Passed", text)) >= 2  # header on each page
    assert fetcher.refused == []
    assert [Path(u).name for u in fetcher.fetched] == ["report.css"]
    assert PdfReader(path).metadata.title == "Verification overview report"


def test_uncapped_table_has_no_note(tmp_path: Path) -> None:
    render_pdf(realistic_document(), tmp_path / "r.pdf")
    assert "Showing first" not in pdf_text(tmp_path / "r.pdf")[1]


def test_empty_document_renders_one_page(tmp_path: Path) -> None:
    doc = PdfDocument(
        title="Empty",
        account="a",
        environment="test",
        period="today",
        generated_at=datetime(2026, 1, 1),
    )
    assert render_pdf(doc, tmp_path / "e.pdf") == 1
    assert "Page 1 of 1" in pdf_text(tmp_path / "e.pdf")[1]


def test_html_injection_stays_literal_text(tmp_path: Path) -> None:
    evil = f"{IMG} {BOLD} {LINK}"
    doc = realistic_document(title=f"Report {BOLD}", filters={"Note": evil, BOLD: IMG}, cell=evil)
    html = render_html(doc)
    assert "<img" not in html and "<b>" not in html and "http://127.0.0.1:9" in html
    assert html.count("<link") == 1  # only our stylesheet
    path, fetcher = tmp_path / "evil.pdf", TemplateAssetFetcher()
    render_pdf(doc, path, fetcher=fetcher)
    text = pdf_text(path)[1]
    assert "<img src=" in text and BOLD in text and "<link rel=stylesheet" in text
    assert "Report <b>bold</b>" in text
    assert fetcher.refused == []
    assert all(Path(u.removeprefix("file://")).parent == TEMPLATES_DIR for u in fetcher.fetched)


class _Recorder(BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/css")
        self.end_headers()
        self.wfile.write(b"body { background: red }")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[tuple[str, list[str]]]:
    """A real HTTP server on a free local port that records every request it gets."""
    requests: list[str] = []
    handler = type("Recorder", (_Recorder,), {"requests": requests})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()


def test_urls_in_user_text_are_never_requested(
    tmp_path: Path, http_server: tuple[str, list[str]]
) -> None:
    url, requests = http_server
    probe = (
        f'<link rel="stylesheet" href="{url}/filter.css"><img src="{url}/img.png">'
        f'<style>@import url("{url}/import.css");</style>'
    )
    doc = realistic_document(
        filters={"Callback": probe, "Plain": f"{url}/plain"},
        cell=f'<img src="{url}/cell.png"> {url}/cell',
    )
    fetcher = TemplateAssetFetcher()
    render_pdf(doc, tmp_path / "probe.pdf", fetcher=fetcher)
    assert requests == []
    assert fetcher.refused == []
    assert f"{url}/plain" in pdf_text(tmp_path / "probe.pdf")[1].replace("\n", "")
    # Even raw, unescaped markup (autoescape bypassed) reaches nothing through our fetcher.
    raw = weasyprint.HTML(string=probe, base_url=str(TEMPLATES_DIR), url_fetcher=fetcher)
    raw.render()
    assert requests == []
    assert {f"{url}/filter.css", f"{url}/img.png", f"{url}/import.css"} <= set(fetcher.refused)
    # The control: WeasyPrint's stock fetcher does reach the server.
    weasyprint.HTML(string=probe, base_url=str(TEMPLATES_DIR)).render()
    assert requests


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        (TEMPLATES_DIR / ".." / ".." / "pyproject.toml").as_uri(),
        TEMPLATES_DIR.as_uri() + "/../render_pdf.py",
        TEMPLATES_DIR.as_uri() + "/%2e%2e/render_pdf.py",
        TEMPLATES_DIR.as_uri() + "/missing.css",
        "http://127.0.0.1:9/x.css",
        "https://example.com/report.css",
        "data:text/css,body{color:red}",
        "file://evil.example.com" + str(TEMPLATES_DIR / "report.css"),
    ],
)
def test_fetcher_refuses_everything_but_template_assets(url: str) -> None:
    fetcher = TemplateAssetFetcher()
    with pytest.raises(RefusedURLError):
        fetcher.fetch(url)
    assert fetcher.refused == [url] and fetcher.fetched == []


def test_fetcher_serves_template_assets() -> None:
    fetcher = TemplateAssetFetcher()
    response = fetcher((TEMPLATES_DIR / "report.css").as_uri())  # how WeasyPrint calls it
    assert response.content_type == "text/css"
    assert b"@page" in response.read()
    assert fetcher.refused == []


def test_render_refusal_is_recorded_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    fetcher = TemplateAssetFetcher()
    html = weasyprint.HTML(
        string='<img src="file:///etc/passwd"><p>x</p>',
        base_url=str(TEMPLATES_DIR),
        url_fetcher=fetcher,
    )
    html.render()
    assert fetcher.refused == ["file:///etc/passwd"]
    assert "refused to fetch" in caplog.text


def test_rows_are_capped_defensively() -> None:
    view = table_view(Table(DAILY_COLUMNS[:2], tuple((START, i) for i in range(2_500))))
    assert len(view.rows) == MAX_TABLE_ROWS
    assert view.note == "Showing first 2,000 of 2,500 rows"


@pytest.mark.parametrize(
    ("value", "kind", "shown"),
    [
        (1234567, ColumnKind.INTEGER, "1,234,567"),
        (12.0, ColumnKind.INTEGER, "12"),
        (1234.5, ColumnKind.FLOAT, "1,234.50"),
        (0.8836, ColumnKind.PERCENT, "88.4%"),
        (1, ColumnKind.PERCENT, "100.0%"),
        (date(2025, 12, 1), ColumnKind.DATE, "2025-12-01"),
        (datetime(2025, 12, 1, 8, 5, 9), ColumnKind.DATETIME, "2025-12-01 08:05:09"),
        (datetime(2025, 12, 1, 8, 5, tzinfo=UTC), ColumnKind.DATETIME, "2025-12-01 08:05:00+00:00"),
        (True, ColumnKind.BOOLEAN, "Yes"),
        (False, ColumnKind.BOOLEAN, "No"),
        (None, ColumnKind.INTEGER, "—"),
        (float("nan"), ColumnKind.FLOAT, "—"),
        (float("inf"), ColumnKind.INTEGER, "inf"),
        ("=1+1", ColumnKind.TEXT, "=1+1"),
        ("n/a", ColumnKind.FLOAT, "n/a"),
    ],
)
def test_format_cell(value: object, kind: ColumnKind, shown: str) -> None:
    assert format_cell(value, kind) == shown


def test_a_wide_table_prints_on_landscape_pages_one_line_a_row(tmp_path: Path) -> None:
    """13 columns of ids and codes: landscape, short text unwrapped, every row on one line."""
    columns = tuple(ColumnSpec(f"c{i}", f"Column {i}") for i in range(12)) + (
        ColumnSpec("note", "Note"),
    )
    long_note = "a free text note that goes on " * 4
    rows = tuple((*(f"key_live_{i:04d}{j:012x}" for j in range(12)), long_note) for i in range(40))
    document = PdfDocument(
        title="Wide",
        subtitle="",
        account="Acme",
        environment="live",
        period="December",
        generated_at=datetime(2026, 1, 2, tzinfo=UTC),
        metrics=(),
        sections=(Section(title="Rows", table=Table(columns, rows)),),
        filters={},
    )
    view = table_view(document.sections[0].table)  # type: ignore[arg-type]
    assert [css for _label, css in view.headers] == ["nowrap"] * 12 + [""]
    path = tmp_path / "wide.pdf"
    render_pdf(document, path)
    reader = PdfReader(path)
    wide = [p for p in reader.pages if "Column 0" in p.extract_text()]
    assert wide and all(p.mediabox.width > p.mediabox.height for p in wide)
    text = "\n".join(p.extract_text() for p in wide)
    # Each id is printed whole on its line (no id is split across lines).
    assert all(f"key_live_{i:04d}{0:012x}" in text for i in range(40))
