"""render_pdf: a PdfDocument as a print-ready A4 report (Jinja2 HTML + WeasyPrint)."""

from __future__ import annotations

import logging
import math
import mimetypes
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

import weasyprint
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from weasyprint.urls import URLFetcher, URLFetcherResponse

from catalog.documents import ColumnKind, PdfDocument, Section, Table
from tasks.charts import render_chart_svg

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
MAX_TABLE_ROWS = 2000  # WeasyPrint needs ~0.2 MB per row; callers cap earlier, this is a backstop
CELL_CLASS = {
    ColumnKind.INTEGER: "num",
    ColumnKind.FLOAT: "num",
    ColumnKind.PERCENT: "num",
    ColumnKind.DATE: "nowrap",
    ColumnKind.DATETIME: "nowrap",
}
EM_DASH = "—"
NOWRAP_CHARS = 28  # text columns whose cells are all this short do not wrap

logger = logging.getLogger(__name__)


class _NoSubsetterNotice(logging.Filter):
    """Drop WeasyPrint's per-render notice that HarfBuzz-Subset is missing (fontTools works)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "HarfBuzz-Subset" not in record.getMessage()


logging.getLogger("weasyprint").addFilter(_NoSubsetterNotice())


class RefusedURLError(ValueError):
    """A URL that is not one of the report's own template assets."""


class TemplateAssetFetcher(URLFetcher):
    """Serves files inside the templates folder; refuses and records every other URL."""

    def __init__(self, root: Path = TEMPLATES_DIR) -> None:
        super().__init__(timeout=5, allowed_protocols=("file",), allow_redirects=False)
        self.root = root.resolve()
        self.fetched: list[str] = []
        self.refused: list[str] = []

    def fetch(self, url: str, headers: Mapping[str, str] | None = None) -> URLFetcherResponse:
        """Answer a template asset from disk; raise ``RefusedURLError`` for anything else."""
        path = self.asset_path(url)
        if path is None:
            self.refused.append(url)
            logger.warning("PDF renderer refused to fetch %r: not a template asset", url)
            raise RefusedURLError(f"not a template asset: {url}")
        self.fetched.append(url)
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return URLFetcherResponse(path.as_uri(), path.read_bytes(), {"Content-Type": content_type})

    def asset_path(self, url: str) -> Path | None:
        """The file a ``file:`` URL names when it lies inside the root, else None."""
        try:
            parts = urlsplit(url)
        except ValueError:
            return None
        if parts.scheme.lower() != "file" or parts.netloc not in ("", "localhost"):
            return None
        path = Path(url2pathname(parts.path)).resolve()  # resolves ``..`` and symlinks
        return path if path.is_relative_to(self.root) and path.is_file() else None


@dataclass(frozen=True)
class TableView:
    """A table as the template shows it: labels, formatted cells, a note when capped."""

    headers: tuple[tuple[str, str], ...]  # (label, CSS class of the column)
    rows: tuple[tuple[str, ...], ...]
    note: str
    width: str  # "compact" for many columns, "narrow" for a few


@dataclass(frozen=True)
class SectionView:
    """A section as the template shows it, its chart already drawn as SVG."""

    title: str
    description: str
    chart: Markup | None
    table: TableView | None


def format_cell(value: Any, kind: ColumnKind) -> str:
    """One table cell as display text, by the column's kind."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return EM_DASH
    try:
        if kind is ColumnKind.BOOLEAN:
            return "Yes" if value else "No"
        if isinstance(value, bool):
            return str(value)
        if kind is ColumnKind.INTEGER and isinstance(value, int | float | Decimal):
            return f"{round(value):,}"
        if kind is ColumnKind.FLOAT and isinstance(value, int | float | Decimal):
            return f"{float(value):,.2f}"
        if kind is ColumnKind.PERCENT and isinstance(value, int | float | Decimal):
            return f"{float(value) * 100:,.1f}%"
        if kind is ColumnKind.DATE and isinstance(value, date):
            return (value.date() if isinstance(value, datetime) else value).isoformat()
        if kind is ColumnKind.DATETIME and isinstance(value, datetime):
            return value.isoformat(sep=" ", timespec="seconds")
    except (ValueError, OverflowError):  # inf in a numeric column, say
        pass
    return str(value)


def format_generated(moment: datetime) -> str:
    """When the report was made, to the minute, with its zone when known."""
    zone = moment.tzname()
    return f"{moment:%Y-%m-%d %H:%M}" + (f" {zone}" if zone else "")


def table_view(table: Table, limit: int = MAX_TABLE_ROWS) -> TableView:
    """Format a table's cells, keeping at most ``limit`` rows."""
    kinds = [c.kind for c in table.columns]
    rows = tuple(
        tuple(format_cell(v, k) for v, k in zip(row, kinds, strict=False))
        for row in table.rows[:limit]
    )
    total = max(table.total_rows or 0, len(table.rows))
    note = f"Showing first {len(rows):,} of {total:,} rows" if total > len(rows) else ""
    headers = tuple(
        (c.label, CELL_CLASS.get(c.kind) or _text_class(rows, i))
        for i, c in enumerate(table.columns)
    )
    width = "compact" if len(headers) > 7 else "narrow" if len(headers) <= 3 else ""
    return TableView(headers, rows, note, width)


def _text_class(rows: tuple[tuple[str, ...], ...], column: int) -> str:
    """``nowrap`` for a column of short values (ids, codes, names), so that it keeps its width.

    A cell may break anywhere (a long URL must not run off the page), which lets the table
    layout squeeze a column to one character: a 13-column table printed API keys one or two
    characters a line, six pages for 50 rows.
    """
    longest = max((len(row[column]) for row in rows if column < len(row)), default=0)
    return "nowrap" if longest <= NOWRAP_CHARS else ""


def section_view(section: Section) -> SectionView:
    """A section ready for the template."""
    # The one place markup enters the template: SVG we draw ourselves, every text escaped.
    chart = Markup(render_chart_svg(section.chart)) if section.chart else None
    table = table_view(section.table) if section.table is not None else None
    return SectionView(section.title, section.description, chart, table)


def template_environment() -> Environment:
    """Jinja2 with autoescape on for every template."""
    return Environment(
        loader=FileSystemLoader(TEMPLATES_DIR), autoescape=True, undefined=StrictUndefined
    )


def render_html(document: PdfDocument) -> str:
    """The report as an HTML page whose every user string is escaped text."""
    template = template_environment().get_template("report.html.j2")
    count = len(document.metrics)
    return template.render(
        doc=document,
        generated=format_generated(document.generated_at),
        sections=[section_view(s) for s in document.sections],
        metric_columns=count if count <= 4 else 3 if count in (5, 6, 9) else 4,
    )


def render_pdf(
    document: PdfDocument, path: Path, *, fetcher: TemplateAssetFetcher | None = None
) -> int:
    """Write the report as a PDF file and return its page count."""
    if fetcher is None:
        fetcher = TemplateAssetFetcher()
    html = weasyprint.HTML(
        string=render_html(document), base_url=str(TEMPLATES_DIR), url_fetcher=fetcher
    )
    rendered = html.render()
    rendered.write_pdf(path)
    return len(rendered.pages)
