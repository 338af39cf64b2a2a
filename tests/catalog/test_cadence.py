"""When schedules fire, by Prefect's own CronSchedule, on fixed clocks across DST changes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from catalog.cadence import check_cron, check_timezone, fire_times, preset_cron, preset_of
from catalog.relative_ranges import period
from report_exports.errors import ValidationError
from surfaces.ranges import range_params

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("after", "utc_hours"),
    [
        # Spring forward: Sunday 2026-03-29 02:00 CET becomes 03:00 CEST.
        (datetime(2026, 3, 27, 12, tzinfo=UTC), [6, 5, 5, 5]),
        # Fall back: Sunday 2026-10-25 03:00 CEST becomes 02:00 CET.
        (datetime(2026, 10, 23, 12, tzinfo=UTC), [5, 6, 6, 6]),
    ],
)
def test_a_0700_berlin_schedule_fires_at_0700_local_on_both_sides(
    after: datetime, utc_hours: list[int]
) -> None:
    cron = preset_cron("daily", "07:00")
    times = fire_times(cron, "Europe/Berlin", after, count=4)
    assert [t.astimezone(BERLIN).hour for t in times] == [7, 7, 7, 7]
    assert [t.minute for t in times] == [0, 0, 0, 0]
    assert [t.astimezone(UTC).hour for t in times] == utc_hours
    assert [t.date().day for t in times] == [after.day + 1 + i for i in range(4)]


def test_previous_day_covers_the_local_day_across_the_change() -> None:
    # Fired 07:00 local on Monday 2026-03-30 (05:00 UTC): Sunday 2026-03-29 had 23 hours.
    (fired,) = fire_times("0 7 * * *", "Europe/Berlin", datetime(2026, 3, 30, tzinfo=UTC), 1)
    assert period("previous-day", fired, BERLIN) == (date(2026, 3, 29), date(2026, 3, 29))
    spring = range_params("webhooks", date(2026, 3, 29), date(2026, 3, 29), BERLIN, {})
    assert spring == {"start_time": "2026-03-28T23:00:00Z", "end_time": "2026-03-29T21:59:59Z"}
    # Fired Monday 2026-10-26 07:00 CET (06:00 UTC): Sunday 2026-10-25 had 25 hours.
    (fired,) = fire_times("0 7 * * *", "Europe/Berlin", datetime(2026, 10, 26, tzinfo=UTC), 1)
    assert fired.astimezone(UTC) == datetime(2026, 10, 26, 6, tzinfo=UTC)
    assert period("previous-day", fired, BERLIN) == (date(2026, 10, 25), date(2026, 10, 25))
    autumn = range_params("webhooks", date(2026, 10, 25), date(2026, 10, 25), BERLIN, {})
    assert autumn == {"start_time": "2026-10-24T22:00:00Z", "end_time": "2026-10-25T22:59:59Z"}
    # A run at 00:30 local is already the next local day, though UTC still says the last.
    late = datetime(2026, 3, 29, 22, 30, tzinfo=UTC)  # 00:30 CEST on the 30th
    assert period("previous-day", late, BERLIN) == (date(2026, 3, 29), date(2026, 3, 29))


def test_presets_are_cron_expressions_and_read_back() -> None:
    assert preset_cron("daily", "07:00") == "0 7 * * *"
    assert preset_cron("weekly", "08:30") == "30 8 * * 1"
    assert preset_cron("monthly", "00:05") == "5 0 1 * *"
    assert preset_of("30 8 * * 1") == ("weekly", "08:30")
    assert preset_of("*/5 * * * *") is None
    (monday,) = fire_times("30 8 * * 1", "Europe/Berlin", datetime(2026, 3, 25, tzinfo=UTC), 1)
    assert monday.weekday() == 0 and (monday.hour, monday.minute) == (8, 30)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: preset_cron("hourly"), "preset"),
        (lambda: preset_cron("daily", "24:00"), "at"),
        (lambda: preset_cron("daily", "7:00"), "at"),
        (lambda: check_cron("61 * * * *"), "cron"),
        (lambda: check_cron("0 7 * *"), "cron"),
        (lambda: check_cron("0 0 7 * * *"), "cron"),
        (lambda: check_cron("H 7 * * *"), "cron"),
        (lambda: check_timezone("Europe/Atlantis"), "timezone"),
        (lambda: check_timezone("../etc/passwd"), "timezone"),
    ],
)
def test_bad_cadences_name_their_field(call, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        call()
    assert caught.value.field == field


def test_valid_cron_is_normalised() -> None:
    assert check_cron(" 0  7 * * 1-5 ") == "0 7 * * 1-5"
    assert check_timezone("America/New_York").key == "America/New_York"
