"""What a report is: validated parameters, one source query, chunking, columns, sections.

A report is data plus small query builders. Row reports copy source rows into the file;
every report may also declare *sections*: mergeable aggregates computed per chunk (map)
and combined after all chunks are extracted (reduce).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict
from sqlalchemy import ColumnElement, Select

from catalog.documents import Chart, ColumnSpec, PdfDocument

MeasureKind = Literal["count", "sum", "min", "max"]


class ReportParams(BaseModel):
    """Filters of a report. Unknown fields are an error, naming the field.

    Numbers must be finite: the JSON parser reads ``NaN``, ``Infinity`` and ``1e999`` (as
    infinity), which mean nothing as filters and cannot be echoed back as JSON.
    """

    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=True, frozen=True, allow_inf_nan=False
    )

    def window(self) -> tuple[datetime, datetime] | None:
        """The half-open time window ``[start, end)`` asked for, if the report has one."""
        return None


@dataclass(frozen=True)
class Measure:
    """A mergeable aggregate: partial values of chunks combine by sum, min or max."""

    name: str
    kind: MeasureKind
    expr: pl.Expr | None = None  # on the prepared chunk frame; unused for "count"

    def partial(self) -> pl.Expr:
        """The per-chunk aggregate expression."""
        if self.kind == "count":
            return pl.len().cast(pl.Int64).alias(self.name)
        assert self.expr is not None, f"measure {self.name} needs an expression"
        agg = {"sum": self.expr.sum, "min": self.expr.min, "max": self.expr.max}[self.kind]
        return agg().alias(self.name)

    def combine(self) -> pl.Expr:
        """How partials of several chunks become one value."""
        column = pl.col(self.name)
        return {"count": column.sum, "sum": column.sum, "min": column.min, "max": column.max}[
            self.kind
        ]().alias(self.name)


def _identity(frame: pl.DataFrame) -> pl.DataFrame:
    return frame


@dataclass(frozen=True)
class SectionSpec:
    """An aggregate table of a report (and optionally its chart)."""

    name: str
    title: str
    keys: tuple[str, ...]
    measures: tuple[Measure, ...]
    columns: tuple[ColumnSpec, ...]
    finish: Callable[[pl.DataFrame], pl.DataFrame] = _identity
    chart: Callable[[pl.DataFrame], Chart | None] | None = None
    description: str = ""

    def partial(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Partial aggregates of one chunk."""
        aggs = [m.partial() for m in self.measures]
        if not self.keys:
            return frame.select(aggs)
        return frame.group_by(list(self.keys)).agg(aggs)

    def merge_partials(self, partials: pl.LazyFrame) -> pl.DataFrame:
        """Partials of several parts as one partial (same columns, still mergeable)."""
        aggs = [m.combine() for m in self.measures]
        if self.keys:
            return partials.group_by(list(self.keys)).agg(aggs).collect()
        return partials.select(aggs).collect()

    def combine(self, partials: pl.LazyFrame) -> pl.DataFrame:
        """Combine the partials of every chunk and derive the final columns."""
        finished = self.finish(self.merge_partials(partials))
        return finished.select([c.name for c in self.columns])


@dataclass(frozen=True)
class SortKey:
    """One key of the order of exported rows."""

    column: str
    descending: bool = False


@dataclass(frozen=True)
class PdfContext:
    """What a PDF builder needs besides the data."""

    report: ReportSpec
    params: ReportParams
    account: str
    generated_at: datetime
    table_rows: int = 100
    rows_total: int | None = None


@dataclass(frozen=True)
class ReportSpec:
    """One report type of one surface."""

    surface: str  # the name of the surface that offers it (surfaces.registry)
    name: str
    display_name: str
    description: str
    formats: tuple[str, ...]
    params_model: type[ReportParams]
    chunk_column: ColumnElement[Any]
    chunking: Literal["time", "key"]
    query: Callable[[Any, int], Select[Any]]  # (params, account_id) -> select, no chunk filter
    schema: dict[str, pl.DataType]  # dtypes of the query's columns
    tie_breaker: ColumnElement[Any] | None = None  # orders rows sharing a chunk_column value
    prepare: Callable[[pl.DataFrame], pl.DataFrame] = _identity
    # ``prepare``'s derived columns as SQL over the query's columns (by name), so that
    # PostgreSQL can compute the sections' partials (tasks/sql_sections.py).
    prepare_sql: (
        Callable[[Mapping[str, ColumnElement[Any]]], dict[str, ColumnElement[Any]]] | None
    ) = None
    row_columns: tuple[ColumnSpec, ...] = ()
    sections: tuple[SectionSpec, ...] = ()
    tabular_output: str = "rows"  # "rows" or the name of the section a CSV/XLSX holds
    order: Callable[[Any], tuple[SortKey, ...]] | None = None  # rows order beyond chunk order
    refine: Callable[[Any, pl.DataFrame], pl.DataFrame] | None = None  # tabular section filter
    pdf: (
        Callable[[PdfContext, dict[str, pl.DataFrame], pl.DataFrame | None], PdfDocument] | None
    ) = None
    file_stem: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def default_format(self) -> str:
        """The format used when a request names none."""
        return self.formats[0]

    def section(self, name: str) -> SectionSpec:
        """The section called ``name``."""
        for section in self.sections:
            if section.name == name:
                return section
        raise KeyError(name)

    def columns_for_tabular(self) -> tuple[ColumnSpec, ...]:
        """Columns of the CSV / XLSX output."""
        if self.tabular_output == "rows":
            return self.row_columns
        return self.section(self.tabular_output).columns


def end_of_day_window(start: datetime, end_inclusive: datetime) -> tuple[datetime, datetime]:
    """``[start, end]`` to the second as a half-open window ``[start, end + 1 s)``."""
    return start, end_inclusive.replace(microsecond=0) + timedelta(seconds=1)
