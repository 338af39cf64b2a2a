"""The PDF document of a VerifyHuman report: headline metrics, charts, capped tables."""

from __future__ import annotations

from typing import Any, cast

import polars as pl

from catalog.base import PdfContext
from catalog.documents import Metric, PdfDocument, Section
from catalog.pdf_document import document, section_block, table_from_frame
from catalog.verifyhuman_params import VerifyHumanParams, period_label


def _num(value: Any, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{float(value):,.{digits}f}" if digits else f"{int(value):,}"


def _pct(value: Any) -> str:
    return "—" if value is None else f"{float(value) * 100:.1f}%"


def headline_metrics(totals: pl.DataFrame, *, with_credits: bool) -> tuple[Metric, ...]:
    """The metric cards at the top of the report."""
    row = totals.row(0, named=True) if totals.height else {}
    metrics = [
        Metric("Verifications", _num(row.get("verifications", 0))),
        Metric("Pass rate", _pct(row.get("pass_rate")), f"{_num(row.get('passed', 0))} passed"),
        Metric(
            "Failed", _num(row.get("failed", 0)), f"{_num(row.get('challenged', 0))} challenged"
        ),
        Metric("Avg risk score", _num(row.get("avg_risk_score"), 1)),
        Metric("Avg confidence", _num(row.get("avg_confidence"), 2)),
        Metric(
            "Avg latency",
            f"{_num(row.get('avg_latency_ms'), 0)} ms"
            if row.get("avg_latency_ms") is not None
            else "—",
        ),
    ]
    if with_credits:
        metrics.append(Metric("Credits used", _num(row.get("credits"), 1)))
    return tuple(metrics)


def build_pdf(
    ctx: PdfContext, sections: dict[str, pl.DataFrame], rows: pl.DataFrame | None
) -> PdfDocument:
    """Every section of the report in catalog order, then a capped sample of rows."""
    report, params = ctx.report, cast(VerifyHumanParams, ctx.params)
    limit = ctx.table_rows
    blocks: list[Section] = [
        section_block(spec, sections[spec.name], limit)
        for spec in report.sections
        if spec.name != "totals"
    ]
    if rows is not None:
        blocks.append(
            Section(
                title="Verifications",
                description="Individual verifications, oldest first.",
                table=table_from_frame(rows, report.row_columns, limit, ctx.rows_total),
            )
        )
    return document(
        ctx,
        environment=params.env,
        period=period_label(params),
        metrics=headline_metrics(sections["totals"], with_credits=bool(report.extra.get("v21"))),
        sections=tuple(blocks),
        filters={
            "Environment": params.env,
            "From": params.from_.isoformat(),
            "To": params.to.isoformat(),
            **({"API version": "v2.1"} if report.extra.get("v21") else {}),
        },
    )
