"""Acme's own reports: its invoices as CSV and as Excel, on the HiEnergy surface.

Loaded by naming this module in a setting, the way the project loads its own 13 types:

    REPORT_EXPORTS_CATALOG_MODULES=examples.acme_reports

A catalog module has a ``REPORTS`` tuple. Each report says which surface offers it, the
filters it takes (a pydantic model), the source table and query it reads, how to cut it
into chunks, and its columns. Nothing else in the project changes.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

import polars as pl
from pydantic import Field, model_validator
from sqlalchemy import Select, select

from catalog.base import ReportParams, ReportSpec, SortKey
from catalog.chunks import day_start
from catalog.documents import ColumnKind, ColumnSpec
from catalog.fields import EARLIEST, LATEST, StrictDate
from examples.acme_reports.tables import invoices

K = ColumnKind


class InvoiceSearch(ReportParams):
    """``search_params``: an inclusive date range and a few filters."""

    from_: StrictDate | None = Field(None, alias="from")
    to: StrictDate | None = None
    status: Literal["open", "paid", "void"] | None = None
    customer: str | None = Field(None, min_length=1, max_length=120)
    min_amount: float | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> InvoiceSearch:
        if self.from_ and self.to and self.to < self.from_:
            raise ValueError("'to' must not be before 'from'")
        return self


class InvoiceIndex(ReportParams):
    """``index_params``: the order of the rows."""

    sort: Literal["issued_at", "amount", "invoice_number"] = "issued_at"
    order: Literal["asc", "desc"] = "asc"


class InvoiceParams(ReportParams):
    """The request's filters (a HiEnergy request carries ``search_params``/``index_params``)."""

    search_params: InvoiceSearch = InvoiceSearch()
    index_params: InvoiceIndex = InvoiceIndex()

    def window(self) -> tuple[datetime, datetime] | None:
        """The days asked for, as ``[start, end)``; None when the request names none."""
        s = self.search_params
        if not (s.from_ or s.to):
            return None
        return day_start(s.from_ or EARLIEST), day_start((s.to or LATEST) + timedelta(days=1))


COLUMNS = (
    ColumnSpec("invoice_number", "Invoice"),
    ColumnSpec("issued_at", "Issued at (UTC)", K.DATETIME),
    ColumnSpec("customer", "Customer"),
    ColumnSpec("status", "Status"),
    ColumnSpec("currency", "Currency"),
    ColumnSpec("amount", "Amount", K.FLOAT),
    ColumnSpec("paid", "Paid", K.BOOLEAN),
)
SCHEMA: dict[str, Any] = {
    "id": pl.Int64,
    "invoice_number": pl.String,
    "issued_at": pl.Datetime("us"),
    "customer": pl.String,
    "status": pl.String,
    "currency": pl.String,
    "amount": pl.Float64,
    "paid": pl.Boolean,
}


def _query(p: InvoiceParams, account_id: int) -> Select[Any]:
    """The account's invoices with the filters; the engine adds the chunk's time range."""
    s = p.search_params
    stmt = select(*(invoices.c[name] for name in SCHEMA)).where(invoices.c.account_id == account_id)
    if s.status:
        stmt = stmt.where(invoices.c.status == s.status)
    if s.customer:
        stmt = stmt.where(invoices.c.customer == s.customer)
    if s.min_amount is not None:
        stmt = stmt.where(invoices.c.amount >= s.min_amount)
    return stmt


def _order(p: InvoiceParams) -> tuple[SortKey, ...]:
    return (SortKey(p.index_params.sort, p.index_params.order == "desc"),)


def _report(name: str, display_name: str, fmt: str) -> ReportSpec:
    return ReportSpec(
        surface="hienergy",
        name=name,
        display_name=display_name,
        description="Acme's invoices in a date range, filtered by status, customer, amount",
        formats=(fmt,),
        params_model=InvoiceParams,
        chunk_column=invoices.c.issued_at,
        chunking="time",
        tie_breaker=invoices.c.id,
        query=_query,
        schema=SCHEMA,
        row_columns=COLUMNS,
        order=_order,
        file_stem="acme-invoices",
    )


REPORTS: tuple[ReportSpec, ...] = (
    _report("acme_invoices_csv", "Acme invoices (CSV)", "csv"),
    _report("acme_invoices_excel", "Acme invoices (Excel)", "xlsx"),
)
