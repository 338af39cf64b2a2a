"""Strict dates, timestamps and ids: anything else is a ValueError, never an overflow."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from pydantic import BaseModel, ValidationError

from catalog.fields import BIGINT_MAX, EARLIEST, LATEST, SourceId, UtcDateTime, parse_date


class Fields(BaseModel):
    at: UtcDateTime | None = None
    id: SourceId | None = None


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("20250101", "YYYY-MM-DD"),  # date.fromisoformat reads these two
        ("2025-W01-1", "YYYY-MM-DD"),
        ("2025-12-1", "YYYY-MM-DD"),
        ("2025-12-01\n", "YYYY-MM-DD"),
        ("２０２５-１２-０１", "YYYY-MM-DD"),  # fullwidth digits match a plain \d
        (20251201, "YYYY-MM-DD"),
        ("2025-02-29", "not a real date"),
        ("1969-12-31", "between 1970-01-01 and 2100-12-31"),
        ("2101-01-01", "between"),
        ("9999-12-31", "between"),
        (date(9999, 12, 31), "between"),
    ],
)
def test_parse_date_refuses(value, says) -> None:
    with pytest.raises(ValueError, match=says):
        parse_date(value)


def test_parse_date_takes_the_whole_span() -> None:
    assert parse_date("1970-01-01") == EARLIEST and parse_date("2100-12-31") == LATEST
    assert parse_date(date(2025, 12, 1)) == date(2025, 12, 1)


@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01T00:00:00+01:00",  # astimezone(UTC) raised OverflowError
        "9999-12-31T23:59:59-01:00",
        "9999-12-31T23:59:59Z",
        "1970-01-01T00:30:00+01:00",  # 1969 in UTC
        "2101-01-01T00:00:00Z",
    ],
)
def test_timestamps_outside_the_span_in_utc_are_refused(value) -> None:
    with pytest.raises(ValidationError, match="between 1970-01-01 and 2100-12-31 \\(UTC\\)"):
        Fields(at=value)


def test_timestamps_in_the_span_are_naive_utc() -> None:
    assert Fields(at="2101-01-01T00:59:59+01:00").at == datetime(2100, 12, 31, 23, 59, 59)
    assert Fields(at="1970-01-01T00:00:00Z").at == datetime(1970, 1, 1)


def test_source_ids_fit_a_bigint() -> None:
    assert Fields(id=BIGINT_MAX).id == 2**63 - 1
    for bad in (BIGINT_MAX + 1, 0, float("inf")):
        with pytest.raises(ValidationError):
            Fields(id=bad)
