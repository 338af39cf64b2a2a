"""Mergeable sections of the VerifyHuman reports: each is partial aggregates per chunk."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl
from sqlalchemy import ColumnElement, Date, case, cast

from catalog.base import Measure, SectionSpec
from catalog.documents import Chart, ChartSeries, ColumnKind, ColumnSpec

RISK_BANDS = ("low (0–25)", "medium (25–50)", "high (50–75)", "critical (75–100)")
RISK_EDGES = (25, 50, 75)  # each band holds its lower edge: [25, 50) is medium
# The 0/1 flag columns the sections sum, and the outcome each one counts.
FLAGS = {
    "is_passed": "passed",
    "is_failed": "failed",
    "is_challenged": "challenged",
    "is_error": "error",
}


def prepare(frame: pl.DataFrame) -> pl.DataFrame:
    """Derive the grouping and flag columns every section reads."""
    outcome = pl.col("outcome")
    return frame.with_columns(
        pl.col("created_at").dt.date().alias("day"),
        pl.col("risk_score")
        .cut(list(RISK_EDGES), labels=list(RISK_BANDS), left_closed=True)
        .cast(pl.String)
        .alias("risk_band"),
        *((outcome == value).cast(pl.Int64).alias(name) for name, value in FLAGS.items()),
    )


def prepare_sql(columns: Mapping[str, ColumnElement[Any]]) -> dict[str, ColumnElement[Any]]:
    """:func:`prepare`'s columns in SQL, null where polars gives null."""
    outcome, risk = columns["outcome"], columns["risk_score"]
    bands = [(risk < edge, label) for edge, label in zip(RISK_EDGES, RISK_BANDS, strict=False)]
    derived: dict[str, ColumnElement[Any]] = {
        "day": cast(columns["created_at"], Date),
        "risk_band": case(*bands, (risk >= RISK_EDGES[-1], RISK_BANDS[-1])),
    }
    for name, value in FLAGS.items():
        derived[name] = case((outcome == value, 1), (outcome.is_not(None), 0))
    return derived


def _sum(name: str, column: str) -> Measure:
    return Measure(name, "sum", pl.col(column))


COUNT = Measure("verifications", "count")
OUTCOME_MEASURES = (
    COUNT,
    _sum("passed", "is_passed"),
    _sum("failed", "is_failed"),
    _sum("challenged", "is_challenged"),
    _sum("errors", "is_error"),
)
CREDITS = _sum("credits", "credits")


def _ratio(numerator: str, denominator: str = "verifications") -> pl.Expr:
    return (
        pl.when(pl.col(denominator) > 0)
        .then(pl.col(numerator) / pl.col(denominator))
        .otherwise(None)
    )


def _with_rates(frame: pl.DataFrame) -> pl.DataFrame:
    extra = [_ratio("passed").alias("pass_rate")]
    for total, mean in (
        ("risk_sum", "avg_risk_score"),
        ("confidence_sum", "avg_confidence"),
        ("latency_sum", "avg_latency_ms"),
    ):
        if total in frame.columns:
            extra.append(_ratio(total).round(2).alias(mean))
    return frame.with_columns(extra)


V = ColumnSpec("verifications", "Verifications", ColumnKind.INTEGER)
OUTCOME_COLUMNS = (
    V,
    ColumnSpec("passed", "Passed", ColumnKind.INTEGER),
    ColumnSpec("failed", "Failed", ColumnKind.INTEGER),
    ColumnSpec("challenged", "Challenged", ColumnKind.INTEGER),
    ColumnSpec("errors", "Errors", ColumnKind.INTEGER),
    ColumnSpec("pass_rate", "Pass rate", ColumnKind.PERCENT),
)
RISK_COL = ColumnSpec("avg_risk_score", "Avg risk score", ColumnKind.FLOAT)
CONF_COL = ColumnSpec("avg_confidence", "Avg confidence", ColumnKind.FLOAT)
LAT_COL = ColumnSpec("avg_latency_ms", "Avg latency (ms)", ColumnKind.FLOAT)
MAXLAT_COL = ColumnSpec("max_latency_ms", "Max latency (ms)", ColumnKind.INTEGER)
CREDITS_COL = ColumnSpec("credits", "Credits", ColumnKind.FLOAT)
QUALITY = (
    _sum("risk_sum", "risk_score"),
    _sum("confidence_sum", "confidence"),
    _sum("latency_sum", "latency_ms"),
    Measure("max_latency_ms", "max", pl.col("latency_ms")),
)


def _bar(title: str, label: str, value: str, series: str, top: int = 12):
    def chart(frame: pl.DataFrame) -> Chart:
        head = frame.sort(value, descending=True).head(top)
        return Chart(
            "bar",
            title,
            tuple(str(v) for v in head[label].to_list()),
            (ChartSeries(series, tuple(float(v or 0) for v in head[value])),),
        )

    return chart


def _daily_chart(frame: pl.DataFrame) -> Chart:
    labels = tuple(d.isoformat() for d in frame["day"].to_list())
    return Chart(
        "line",
        "Verifications per day",
        labels,
        (
            ChartSeries("Verifications", tuple(float(v) for v in frame["verifications"])),
            ChartSeries("Passed", tuple(float(v) for v in frame["passed"])),
        ),
    )


def _totals(with_credits: bool) -> SectionSpec:
    return SectionSpec(
        name="totals",
        title="Summary",
        keys=(),
        measures=(*OUTCOME_MEASURES, *QUALITY, *((CREDITS,) if with_credits else ())),
        columns=(
            *OUTCOME_COLUMNS,
            RISK_COL,
            CONF_COL,
            LAT_COL,
            MAXLAT_COL,
            *((CREDITS_COL,) if with_credits else ()),
        ),
        finish=_with_rates,
    )


def _daily(with_credits: bool) -> SectionSpec:
    return SectionSpec(
        name="daily",
        title="Volume over time",
        keys=("day",),
        measures=(
            *OUTCOME_MEASURES,
            _sum("risk_sum", "risk_score"),
            *((CREDITS,) if with_credits else ()),
        ),
        columns=(
            ColumnSpec("day", "Date", ColumnKind.DATE),
            *OUTCOME_COLUMNS,
            RISK_COL,
            *((CREDITS_COL,) if with_credits else ()),
        ),
        finish=lambda f: _with_rates(f).sort("day"),
        chart=_daily_chart,
        description="Verifications per day in the selected range.",
    )


TOTALS, TOTALS_V21 = _totals(False), _totals(True)
DAILY, DAILY_V21 = _daily(False), _daily(True)

OUTCOMES = SectionSpec(
    name="outcomes",
    title="Outcomes",
    keys=("outcome",),
    measures=(COUNT,),
    columns=(ColumnSpec("outcome", "Outcome"), V, ColumnSpec("share", "Share", ColumnKind.PERCENT)),
    finish=lambda f: f.with_columns(
        (pl.col("verifications") / pl.col("verifications").sum()).alias("share")
    ).sort("verifications", descending=True),
    chart=_bar("Verifications by outcome", "outcome", "verifications", "Verifications"),
)

USAGE = SectionSpec(
    name="usage",
    title="Usage by product and API key",
    keys=("product", "api_key_id"),
    measures=(*OUTCOME_MEASURES[:2], _sum("latency_sum", "latency_ms")),
    columns=(
        ColumnSpec("product", "Product"),
        ColumnSpec("api_key_id", "API key"),
        V,
        ColumnSpec("passed", "Passed", ColumnKind.INTEGER),
        ColumnSpec("pass_rate", "Pass rate", ColumnKind.PERCENT),
        LAT_COL,
    ),
    finish=lambda f: _with_rates(f).sort(["product", "api_key_id"]),
    chart=lambda f: _bar("Verifications by product", "product", "verifications", "Verifications")(
        f.group_by("product").agg(pl.col("verifications").sum())
    ),
)

RISK = SectionSpec(
    name="risk",
    title="Risk and confidence",
    keys=("risk_band",),
    measures=(
        *OUTCOME_MEASURES[:2],
        _sum("risk_sum", "risk_score"),
        _sum("confidence_sum", "confidence"),
    ),
    columns=(
        ColumnSpec("risk_band", "Risk band"),
        V,
        ColumnSpec("share", "Share", ColumnKind.PERCENT),
        ColumnSpec("pass_rate", "Pass rate", ColumnKind.PERCENT),
        RISK_COL,
        CONF_COL,
    ),
    finish=lambda f: (
        _with_rates(f)
        .with_columns(
            (pl.col("verifications") / pl.col("verifications").sum()).alias("share"),
            pl.col("risk_band")
            .replace_strict({b: i for i, b in enumerate(RISK_BANDS)}, return_dtype=pl.Int32)
            .alias("_order"),
        )
        .sort("_order")
    ),
    chart=lambda f: Chart(
        "bar",
        "Verifications by risk band",
        tuple(f["risk_band"].to_list()),
        (ChartSeries("Verifications", tuple(float(v) for v in f["verifications"])),),
    ),
)

WIDGETS = SectionSpec(
    name="widgets",
    title="Widget performance",
    keys=("widget_id",),
    measures=(*OUTCOME_MEASURES, *QUALITY),
    columns=(ColumnSpec("widget_id", "Widget"), *OUTCOME_COLUMNS, RISK_COL, LAT_COL, MAXLAT_COL),
    finish=lambda f: _with_rates(f).sort("verifications", descending=True),
    chart=_bar("Verifications by widget", "widget_id", "verifications", "Verifications"),
)

COUNTRIES = SectionSpec(
    name="countries",
    title="Countries",
    keys=("country",),
    measures=OUTCOME_MEASURES[:2],
    columns=(
        ColumnSpec("country", "Country"),
        V,
        ColumnSpec("passed", "Passed", ColumnKind.INTEGER),
        ColumnSpec("pass_rate", "Pass rate", ColumnKind.PERCENT),
    ),
    finish=lambda f: _with_rates(f).sort(["verifications", "country"], descending=[True, False]),
    chart=_bar("Top countries", "country", "verifications", "Verifications", top=10),
)

CREDITS_SECTION = SectionSpec(
    name="credits",
    title="Credits by product",
    keys=("product",),
    measures=(COUNT, CREDITS),
    columns=(
        ColumnSpec("product", "Product"),
        V,
        CREDITS_COL,
        ColumnSpec("credits_per_verification", "Credits / verification", ColumnKind.FLOAT),
    ),
    finish=lambda f: f.with_columns(
        _ratio("credits").round(3).alias("credits_per_verification")
    ).sort("credits", descending=True),
    chart=_bar("Credits by product", "product", "credits", "Credits"),
)
