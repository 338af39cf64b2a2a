"""What renderers receive: typed column specs for tabular files, a document for PDFs.

Renderers (``tasks/render_*.py``) depend only on these value objects, never on the
catalog or the job store, so each can be tested on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class ColumnKind(StrEnum):
    """How a column is typed in every output format."""

    TEXT = "text"
    INTEGER = "integer"
    FLOAT = "float"
    PERCENT = "percent"  # a ratio 0..1, shown as a percentage in XLSX and PDF
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"


@dataclass(frozen=True)
class ColumnSpec:
    """One output column: its name in the frame, its header label and its type."""

    name: str
    label: str
    kind: ColumnKind = ColumnKind.TEXT


@dataclass(frozen=True)
class Metric:
    """A headline number of a PDF summary, already formatted for display."""

    label: str
    value: str
    hint: str = ""


@dataclass(frozen=True)
class ChartSeries:
    """One named series of values, aligned with the chart's labels."""

    name: str
    values: tuple[float, ...]


@dataclass(frozen=True)
class Chart:
    """A vector chart: ``line`` for values over time, ``bar`` for values by category."""

    kind: str  # "line" | "bar"
    title: str
    labels: tuple[str, ...]
    series: tuple[ChartSeries, ...]
    unit: str = ""


@dataclass(frozen=True)
class Table:
    """A small table for a PDF section; ``total_rows`` > len(rows) means it was capped."""

    columns: tuple[ColumnSpec, ...]
    rows: tuple[tuple[Any, ...], ...]
    total_rows: int | None = None


@dataclass(frozen=True)
class Section:
    """A titled part of a PDF report with an optional chart and table."""

    title: str
    description: str = ""
    chart: Chart | None = None
    table: Table | None = None


@dataclass(frozen=True)
class PdfDocument:
    """Everything a PDF report shows; every string is user-visible text, never markup."""

    title: str
    account: str
    environment: str
    period: str
    generated_at: datetime
    metrics: tuple[Metric, ...] = ()
    sections: tuple[Section, ...] = ()
    filters: dict[str, str] = field(default_factory=dict)
    subtitle: str = ""
