"""VerifyHuman report types: verification analytics as PDF summaries or CSV data."""

from __future__ import annotations

from typing import Any

import polars as pl
from sqlalchemy import Select, select

from catalog import verifyhuman_sections as vs
from catalog.base import ReportSpec, SectionSpec
from catalog.documents import ColumnKind, ColumnSpec
from catalog.sources import verification_events as events
from catalog.verifyhuman_params import VerifyHumanParams
from catalog.verifyhuman_pdf import build_pdf

FORMATS = ("pdf", "csv")


SOURCE_COLUMNS = (
    "id",
    "created_at",
    "env",
    "product",
    "api_key_id",
    "widget_id",
    "outcome",
    "risk_score",
    "confidence",
    "latency_ms",
    "country",
    "api_version",
    "credits",
)

SCHEMA: dict[str, Any] = {
    "id": pl.Int64,
    "created_at": pl.Datetime("us"),
    "env": pl.String,
    "product": pl.String,
    "api_key_id": pl.String,
    "widget_id": pl.String,
    "outcome": pl.String,
    "risk_score": pl.Float64,
    "confidence": pl.Float64,
    "latency_ms": pl.Int64,
    "country": pl.String,
    "api_version": pl.String,
    "credits": pl.Float64,
}

ROW_COLUMNS = (
    ColumnSpec("id", "Verification ID", ColumnKind.INTEGER),
    ColumnSpec("created_at", "Created at (UTC)", ColumnKind.DATETIME),
    ColumnSpec("env", "Environment"),
    ColumnSpec("product", "Product"),
    ColumnSpec("api_key_id", "API key"),
    ColumnSpec("widget_id", "Widget"),
    ColumnSpec("outcome", "Outcome"),
    ColumnSpec("risk_score", "Risk score", ColumnKind.FLOAT),
    ColumnSpec("confidence", "Confidence", ColumnKind.FLOAT),
    ColumnSpec("latency_ms", "Latency (ms)", ColumnKind.INTEGER),
    ColumnSpec("country", "Country"),
    ColumnSpec("api_version", "API version"),
)
ROW_COLUMNS_V21 = (*ROW_COLUMNS, ColumnSpec("credits", "Credits", ColumnKind.FLOAT))


def _query(v21_only: bool) -> Any:
    def build(params: VerifyHumanParams, account_id: int) -> Select[Any]:
        stmt = select(*(events.c[name] for name in SOURCE_COLUMNS)).where(
            events.c.account_id == account_id, events.c.env == params.env
        )
        return stmt.where(events.c.api_version == "v2.1") if v21_only else stmt

    return build


def _report(
    name: str,
    display: str,
    description: str,
    sections: tuple[SectionSpec, ...],
    tabular: str,
    *,
    v21: bool = False,
    rows: bool = False,
) -> ReportSpec:
    return ReportSpec(
        surface="verifyhuman",
        name=name,
        display_name=display,
        description=description,
        formats=FORMATS,
        params_model=VerifyHumanParams,
        chunk_column=events.c.created_at,
        chunking="time",
        tie_breaker=events.c.id,
        query=_query(v21),
        schema=SCHEMA,
        prepare=vs.prepare,
        prepare_sql=vs.prepare_sql,
        row_columns=(ROW_COLUMNS_V21 if v21 else ROW_COLUMNS) if rows else (),
        sections=sections,
        tabular_output=tabular,
        pdf=build_pdf,
        file_stem=name,
        extra={"v21": v21},
    )


_V1_ALL = (vs.TOTALS, vs.DAILY, vs.OUTCOMES, vs.USAGE, vs.RISK, vs.WIDGETS, vs.COUNTRIES)
_V21_ALL = (
    vs.TOTALS_V21,
    vs.DAILY_V21,
    vs.OUTCOMES,
    vs.CREDITS_SECTION,
    vs.USAGE,
    vs.RISK,
    vs.WIDGETS,
    vs.COUNTRIES,
)

REPORTS: tuple[ReportSpec, ...] = (
    _report(
        "overview",
        "Overview",
        "Dashboard summary metrics",
        (vs.TOTALS, vs.DAILY, vs.OUTCOMES),
        "totals",
    ),
    _report("volume", "Volume", "Volume over time", (vs.TOTALS, vs.DAILY), "daily"),
    _report("usage", "Usage", "Usage by product/API key", (vs.TOTALS, vs.USAGE), "usage"),
    _report(
        "risk-summary", "Risk summary", "Risk and confidence metrics", (vs.TOTALS, vs.RISK), "risk"
    ),
    _report(
        "widget-performance",
        "Widget performance",
        "Per-widget analytics",
        (vs.TOTALS, vs.WIDGETS),
        "widgets",
    ),
    _report("full", "Full report", "Complete V1 report", _V1_ALL, "rows", rows=True),
    _report(
        "verification-v21",
        "Verification analytics (v2.1)",
        "V2.1 verification analytics",
        (vs.TOTALS_V21, vs.DAILY_V21, vs.OUTCOMES, vs.CREDITS_SECTION, vs.COUNTRIES),
        "daily",
        v21=True,
    ),
    _report(
        "full-v21",
        "Full report (v2.1)",
        "V2.1 full report with credits",
        _V21_ALL,
        "rows",
        v21=True,
        rows=True,
    ),
)
