"""Turns finished section tables into a PdfDocument (shared by every PDF report)."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from catalog.base import PdfContext, SectionSpec
from catalog.documents import ColumnSpec, PdfDocument, Section, Table


def table_from_frame(
    frame: pl.DataFrame, columns: Sequence[ColumnSpec], limit: int, total_rows: int | None = None
) -> Table:
    """A PDF table of at most ``limit`` rows, remembering how many there were."""
    head = frame.head(limit).select([c.name for c in columns])
    return Table(
        columns=tuple(columns),
        rows=tuple(head.iter_rows()),
        total_rows=frame.height if total_rows is None else total_rows,
    )


def section_block(spec: SectionSpec, frame: pl.DataFrame, limit: int) -> Section:
    """One PDF section: the spec's chart over the data and its (capped) table."""
    chart = spec.chart(frame) if spec.chart is not None and frame.height else None
    return Section(
        title=spec.title,
        description=spec.description,
        chart=chart,
        table=table_from_frame(frame, spec.columns, limit),
    )


def document(
    ctx: PdfContext,
    *,
    environment: str,
    period: str,
    metrics: tuple,
    sections: tuple[Section, ...],
    filters: dict[str, str],
) -> PdfDocument:
    """The document frame every report shares: title, account, period, when, filters."""
    name = ctx.report.display_name
    title = name if "report" in name.lower() else f"{name} report"
    return PdfDocument(
        title=title,
        subtitle=ctx.report.description,
        account=ctx.account,
        environment=environment,
        period=period,
        generated_at=ctx.generated_at,
        metrics=metrics,
        sections=sections,
        filters=filters,
    )
