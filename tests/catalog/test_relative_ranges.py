"""Relative ranges of recurring exports, checked against the calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from catalog.registry import validate_request
from catalog.relative_ranges import RELATIVE_RANGES, period, range_params, zone
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
        assert first <= last < today
    first, last = period("previous-month", at, BERLIN)
    assert first.day == 1 and (last + timedelta(days=1)).day == 1
    assert (last + timedelta(days=1)).month == today.month
    first, last = period("previous-week", at, BERLIN)
    assert first.weekday() == 0 and (last - first).days == 6 and (today - last).days <= 7


def test_range_params_are_valid_requests_of_each_surface() -> None:
    first, last = date(2026, 2, 1), date(2026, 2, 28)
    vh = range_params("verifyhuman", first, last, BERLIN, {"env": "live"})
    assert vh == {"env": "live", "from": "2026-02-01", "to": "2026-02-28"}
    validate_request("verifyhuman", "full-v21", "csv", vh)
    he = range_params("hienergy", first, last, BERLIN, {"search_params": {"converted": True}})
    assert he == {"search_params": {"converted": True, "from": "2026-02-01", "to": "2026-02-28"}}
    validate_request("hienergy", "clicks_details_excel", None, he)
    wh = range_params("webhooks", first, last, BERLIN, {"status": "delivered"})
    # Berlin is UTC+1 in February: the local days start an hour earlier in UTC.
    assert wh["start_time"] == "2026-01-31T23:00:00Z"
    assert wh["end_time"] == "2026-02-28T22:59:59Z"
    validate_request("webhooks", "message-log", "csv", wh)


def test_unknown_range_zone_and_surface_are_refused() -> None:
    at = datetime(2026, 3, 1, tzinfo=UTC)
    with pytest.raises(ValidationError, match="Unknown range"):
        period("yesterday-ish", at, BERLIN)
    with pytest.raises(ValidationError, match="Unknown time zone"):
        zone("Mars/Olympus_Mons")
    with pytest.raises(ValidationError, match="Unknown surface"):
        range_params("fax", date(2026, 1, 1), date(2026, 1, 1), BERLIN, {})
