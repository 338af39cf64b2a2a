"""Webhook message-log exports: a CSV of a project's messages in a time range."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import polars as pl
from pydantic import model_validator
from sqlalchemy import Select, select

from catalog.base import ReportParams, ReportSpec, end_of_day_window
from catalog.documents import ColumnKind, ColumnSpec
from catalog.fields import UtcDateTime
from catalog.sources import webhook_messages as messages

K = ColumnKind
MessageStatus = Literal["pending", "delivered", "retrying", "failed", "failed_permanent"]


class MessageLogParams(ReportParams):
    """The seed's body: a required time range and optional filters."""

    start_time: UtcDateTime
    end_time: UtcDateTime
    status: MessageStatus | None = None
    endpoint_id: UUID | None = None
    inbound_endpoint_id: UUID | None = None
    direction: Literal["outbound", "inbound"] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> MessageLogParams:
        if self.end_time <= self.start_time:
            raise ValueError("end_time must be after start_time")
        if self.inbound_endpoint_id and self.direction == "outbound":
            raise ValueError("inbound_endpoint_id needs direction=inbound")
        return self

    def window(self) -> tuple[datetime, datetime]:
        """``start_time`` through ``end_time``, both included (to the second)."""
        return end_of_day_window(self.start_time, self.end_time)


COLUMNS = (
    ColumnSpec("id", "Message ID"),
    ColumnSpec("created_at", "Created at (UTC)", K.DATETIME),
    ColumnSpec("direction", "Direction"),
    ColumnSpec("endpoint_id", "Endpoint ID"),
    ColumnSpec("inbound_endpoint_id", "Inbound endpoint ID"),
    ColumnSpec("event_type", "Event type"),
    ColumnSpec("status", "Status"),
    ColumnSpec("attempts", "Attempts", K.INTEGER),
    ColumnSpec("response_status", "Response status", K.INTEGER),
    ColumnSpec("last_attempt_at", "Last attempt at (UTC)", K.DATETIME),
)

SCHEMA: dict[str, Any] = {
    "id": pl.String,
    "seq": pl.Int64,
    "created_at": pl.Datetime("us"),
    "direction": pl.String,
    "endpoint_id": pl.String,
    "inbound_endpoint_id": pl.String,
    "event_type": pl.String,
    "status": pl.String,
    "attempts": pl.Int64,
    "response_status": pl.Int64,
    "last_attempt_at": pl.Datetime("us"),
}


def _query(p: MessageLogParams, account_id: int) -> Select[Any]:
    stmt = select(*(messages.c[name] for name in SCHEMA)).where(messages.c.account_id == account_id)
    if p.status:
        stmt = stmt.where(messages.c.status == p.status)
    if p.endpoint_id:
        stmt = stmt.where(messages.c.endpoint_id == str(p.endpoint_id))
    if p.inbound_endpoint_id:
        stmt = stmt.where(messages.c.inbound_endpoint_id == str(p.inbound_endpoint_id))
    if p.direction:
        stmt = stmt.where(messages.c.direction == p.direction)
    return stmt


REPORTS: tuple[ReportSpec, ...] = (
    ReportSpec(
        surface="webhooks",
        name="message-log",
        display_name="Webhook message log",
        description="Webhook messages in a time range",
        formats=("csv",),
        params_model=MessageLogParams,
        chunk_column=messages.c.created_at,
        chunking="time",
        query=_query,
        schema=SCHEMA,
        row_columns=COLUMNS,
        tie_breaker=messages.c.seq,
        file_stem="webhook-messages",
    ),
)
