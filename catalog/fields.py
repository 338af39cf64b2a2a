"""Strict field types shared by report parameter models."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _strict_date(value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _DATE.match(value):
        raise ValueError("must be a date in the form YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"is not a real date: {value}") from exc


def _utc_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and "T" in value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValueError("must be an ISO 8601 timestamp like 2025-12-01T00:00:00Z") from exc
    else:
        raise ValueError("must be an ISO 8601 timestamp like 2025-12-01T00:00:00Z")
    if parsed.tzinfo is None:
        raise ValueError("must carry a time zone (e.g. a trailing Z)")
    return parsed.astimezone(UTC).replace(tzinfo=None)


StrictDate = Annotated[date, BeforeValidator(_strict_date)]
"""A calendar date given exactly as ``YYYY-MM-DD``."""

UtcDateTime = Annotated[
    datetime,
    BeforeValidator(_utc_datetime),
    PlainSerializer(lambda v: v.strftime("%Y-%m-%dT%H:%M:%SZ"), when_used="json"),
]
"""An ISO 8601 timestamp with a zone, normalised to naive UTC."""
