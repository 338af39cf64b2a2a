"""Strict field types shared by report parameter models."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, PlainSerializer, WithJsonSchema

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_TIMESTAMP = "must be an ISO 8601 timestamp like 2025-12-01T00:00:00Z"

EARLIEST, LATEST = date(1970, 1, 1), date(2100, 12, 31)
"""Dates a request may name. Nothing the sources hold predates the Unix epoch, and the end
of the calendar (year 9999) leaves no room for the day after a range (windows are
half-open), so a job asked for it could only fail later."""

TIMESTAMP_MAX_CHARS = 64
"""The longest timestamp read: room for nanoseconds and an offset with seconds (42
characters), while fromisoformat alone would read a fraction of any length."""

BIGINT_MAX = 2**63 - 1
"""The largest id a SQL BIGINT (and a SQLite INTEGER) holds."""


def parse_date(value: Any) -> date:
    """A calendar date given exactly as ``YYYY-MM-DD`` within EARLIEST..LATEST, or ValueError."""
    if isinstance(value, date) and not isinstance(value, datetime):
        parsed = value
    elif not isinstance(value, str) or not _DATE.fullmatch(value):
        # date.fromisoformat alone would also read "20250101" and "2025-W01-1".
        raise ValueError("must be a date in the form YYYY-MM-DD")
    else:
        try:
            parsed = date.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"is not a real date: {value}") from exc
    if not EARLIEST <= parsed <= LATEST:
        raise ValueError(f"must be between {EARLIEST} and {LATEST}")
    return parsed


def _utc_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and "T" in value and len(value) <= TIMESTAMP_MAX_CHARS:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValueError(_TIMESTAMP) from exc
    else:
        raise ValueError(_TIMESTAMP)
    if parsed.tzinfo is None:
        raise ValueError("must carry a time zone (e.g. a trailing Z)")
    try:
        utc: datetime | None = parsed.astimezone(UTC)
    except OverflowError:  # 0001-01-01 east of UTC, 9999-12-31 west of it
        utc = None
    if utc is None or not EARLIEST <= utc.date() <= LATEST:
        raise ValueError(f"must be between {EARLIEST} and {LATEST} (UTC)")
    return utc.replace(tzinfo=None)


DATE_SCHEMA: dict[str, Any] = {"type": "string", "format": "date", "maxLength": len("YYYY-MM-DD")}
"""What ``parse_date`` reads, as JSON Schema (the API documents its date fields with it)."""
TIMESTAMP_SCHEMA: dict[str, Any] = {
    "type": "string",
    "format": "date-time",
    "maxLength": TIMESTAMP_MAX_CHARS,
}
"""What UtcDateTime reads, as JSON Schema."""

StrictDate = Annotated[date, BeforeValidator(parse_date), WithJsonSchema(DATE_SCHEMA)]
"""A calendar date given exactly as ``YYYY-MM-DD``, within EARLIEST..LATEST."""

UtcDateTime = Annotated[
    datetime,
    BeforeValidator(_utc_datetime),
    PlainSerializer(lambda v: v.strftime("%Y-%m-%dT%H:%M:%SZ"), when_used="json"),
    WithJsonSchema(TIMESTAMP_SCHEMA),
]
"""An ISO 8601 timestamp with a zone, normalised to naive UTC, within EARLIEST..LATEST."""

SourceId = Annotated[int, Field(ge=1, le=BIGINT_MAX)]
"""An id of a source row: a positive integer a SQL BIGINT holds."""
