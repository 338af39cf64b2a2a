"""A fourth surface, declared inside the test suite: everything it needs is this module.

Loaded by ``REPORT_EXPORTS_SURFACE_MODULES=tests.surfaces.fourth`` (its surface) and
``REPORT_EXPORTS_CATALOG_MODULES=tests.surfaces.fourth`` (its one report); the API serves
it through the declared-surface router (api_shim/routers/declared.py), and the flows run
its jobs like any other. Its report reads Acme's invoices (examples/acme_reports).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, model_validator

from catalog.base import ReportParams, ReportSpec
from catalog.chunks import day_start
from catalog.fields import StrictDate
from examples.acme_reports import COLUMNS, SCHEMA
from examples.acme_reports.tables import invoices
from surfaces.base import AuthScheme, DateRangeFields, ErrorInfo, IdStyle, Phase, PlanGate, Surface


class Problem(BaseModel):
    """RFC 9457 problem details, this surface's error body."""

    type: str
    title: str
    status: int
    detail: str
    field: str | None = None


def render_error(error: ErrorInfo, _request_id: str) -> dict[str, Any]:
    """``{"type", "title", "status", "detail", "field"?}``."""
    problem = Problem(
        type=f"urn:ledger:{error.code.lower()}",
        title=error.code.replace("_", " ").capitalize(),
        status=error.status,
        detail=error.message,
        field=error.field,
    )
    return problem.model_dump(exclude_none=True)


SURFACE = Surface(
    name="ledger",
    title="Ledger exports",
    base_path="/ledger/v1/exports",
    auth=AuthScheme.X_API_KEY,
    id_style=IdStyle.UUID7,
    status_words={
        Phase.QUEUED: "waiting",
        Phase.WORKING: "working",
        Phase.SUCCEEDED: "ready",
        Phase.EXPIRED: "gone",
        Phase.FAILURE: "broken",
        Phase.CANCEL: "withdrawn",
    },
    error_model=Problem,
    render_error=render_error,
    date_range=DateRangeFields("since", "until"),
    plan_gate=PlanGate(
        allowed_plans=frozenset({"pro", "enterprise"}),
        refused_message="Ledger exports need the Pro plan",
        max_range_days={"pro": 92},
        range_field="until",
    ),
    range_days=lambda p: (
        (datetime.fromisoformat(p["until"]) - datetime.fromisoformat(p["since"])).days + 1
        if p.get("since") and p.get("until")
        else None
    ),
    default_format="csv",
    description="Invoices of the ledger, a surface the test suite declares.",
)


class LedgerParams(ReportParams):
    """An inclusive range of days and an optional currency."""

    since: StrictDate
    until: StrictDate
    currency: Literal["EUR", "USD"] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> LedgerParams:
        if self.until < self.since:
            raise ValueError("'until' must not be before 'since'")
        return self

    def window(self) -> tuple[datetime, datetime]:
        """The days asked for, as ``[start, end)``."""
        return day_start(self.since), day_start(self.until + timedelta(days=1))


def _query(p: LedgerParams, account_id: int) -> Any:
    from sqlalchemy import select

    stmt = select(*(invoices.c[name] for name in SCHEMA)).where(invoices.c.account_id == account_id)
    return stmt.where(invoices.c.currency == p.currency) if p.currency else stmt


REPORTS = (
    ReportSpec(
        surface="ledger",
        name="ledger-invoices",
        display_name="Ledger invoices",
        description="Invoices in a range of days",
        formats=("csv", "xlsx"),
        params_model=LedgerParams,
        chunk_column=invoices.c.issued_at,
        chunking="time",
        tie_breaker=invoices.c.id,
        query=_query,
        schema=SCHEMA,
        row_columns=COLUMNS,
        file_stem="ledger-invoices",
    ),
)
