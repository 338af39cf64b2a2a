"""Relative ranges of recurring exports, checked against the calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from catalog.relative_ranges import RELATIVE_RANGES, period, zone
from report_exports.errors import ValidationError

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("previous-day", (date(2026, 3, 1), date(2026, 3, 1))),
        ("previous-week", (date(2026, 2, 23), date(2026, 3, 1))),
        ("previous-month", (date(2026, 2, 1), date(2026, 2, 28))),
        ("last-7-days", (date(2026, 2, 23), date(2026, 3, 1))),
        ("last-30-days", (date(2026, 1, 31), date(2026, 3, 1))),
        ("month-to-date", (date(2026, 3, 1), date(2026, 3, 2))),
    ],
)
def test_period_on_a_known_day(relative: str, expected: tuple[date, date]) -> None:
    # 2026-03-02 00:30 in Berlin is still 2026-03-01 in UTC: the schedule's zone decides.
    at = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    assert period(relative, at, BERLIN) == expected


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1)))
def test_periods_end_before_the_scheduled_day_and_are_whole(naive: datetime) -> None:
    at = naive.replace(tzinfo=UTC)
    today = at.astimezone(BERLIN).date()
    for relative in RELATIVE_RANGES:
        first, last = period(relative, at, BERLIN)
        if relative == "month-to-date":  # the only range that includes the day itself
            assert first == today.replace(day=1) and last == today
        else:
            assert first <= last < today
    first, last = period("previous-month", at, BERLIN)
    assert first.day == 1 and (last + timedelta(days=1)).day == 1
    assert (last + timedelta(days=1)).month == today.month
    first, last = period("previous-week", at, BERLIN)
    assert first.weekday() == 0 and (last - first).days == 6 and (today - last).days <= 7


def test_unknown_range_zone_and_surface_are_refused() -> None:
    at = datetime(2026, 3, 1, tzinfo=UTC)
    with pytest.raises(ValidationError, match="Unknown range"):
        period("yesterday-ish", at, BERLIN)
    with pytest.raises(ValidationError, match="Unknown time zone"):
        zone("Mars/Olympus_Mons")
