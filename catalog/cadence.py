"""When a recurring export fires: a cron expression or a preset, in an IANA time zone.

Presets are cron expressions too (``daily`` at ``at`` every day, ``weekly`` on Mondays,
``monthly`` on the 1st). Fire times come from Prefect's own ``CronSchedule``, the code its
scheduler runs, so what :func:`fire_times` says is what Prefect will do: wall-clock times
in the zone, so 07:00 stays 07:00 local across daylight-saving changes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cache
from typing import Literal, get_args
from zoneinfo import ZoneInfo, available_timezones

from catalog.relative_ranges import zone
from report_exports.errors import ValidationError

Preset = Literal["daily", "weekly", "monthly"]
PRESETS: tuple[str, ...] = get_args(Preset)
PRESET_DAYS = {"daily": "* * *", "weekly": "* * 1", "monthly": "1 * *"}
"""Day-of-month, month and day-of-week fields of each preset."""
DEFAULT_AT = "07:00"
_AT = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def preset_cron(preset: str, at: str = DEFAULT_AT) -> str:
    """The cron expression of a preset at ``at`` (``HH:MM``, local time)."""
    if preset not in PRESETS:
        raise ValidationError(
            f"Invalid preset {preset!r}. Must be one of: {', '.join(PRESETS)}", field="preset"
        )
    match = _AT.match(at)
    if not match:
        raise ValidationError(f"Invalid at {at!r}: must be HH:MM (00:00 to 23:59)", field="at")
    hour, minute = int(match.group(1)), int(match.group(2))
    return f"{minute} {hour} {PRESET_DAYS[preset]}"


def preset_of(cron: str) -> tuple[str, str] | None:
    """The (preset, at) a cron expression was made from, or None for a custom one."""
    fields = cron.split()
    if len(fields) != 5 or not (fields[0].isdigit() and fields[1].isdigit()):
        return None
    for preset, days in PRESET_DAYS.items():
        if " ".join(fields[2:]) == days:
            return preset, f"{int(fields[1]):02d}:{int(fields[0]):02d}"
    return None


def check_cron(cron: str) -> str:
    """A valid five-field cron expression (normalised spacing), as Prefect accepts it."""
    from prefect.client.schemas.schedules import CronSchedule

    fields = cron.split()
    if len(fields) != 5 or len(cron) > 120:
        raise ValidationError(
            f"Invalid cron {cron!r}: five fields (minute hour day month weekday)", field="cron"
        )
    text = " ".join(fields)
    try:
        CronSchedule(cron=text)
    except ValueError:
        raise ValidationError(f"Invalid cron {cron!r}", field="cron") from None
    return text


@cache
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def check_timezone(name: str) -> ZoneInfo:
    """An IANA time zone that Prefect's schedules accept too."""
    tz = zone(name)
    if name not in _known_zones() and name != "UTC":
        raise ValidationError(f"Unknown time zone: {name!r}", field="timezone")
    return tz


def fire_times(cron: str, timezone: str, after: datetime, count: int = 3) -> list[datetime]:
    """The next ``count`` times (aware, in ``timezone``) at or after ``after``."""
    return list(_dates(cron, timezone, after, count))


def _dates(cron: str, timezone: str, after: datetime, count: int) -> Iterator[datetime]:
    # The generator Prefect's scheduler itself calls (models.deployments); get_dates is
    # only its async, sorted wrapper.
    from prefect.server.schemas.schedules import CronSchedule

    if after.tzinfo is None:
        raise ValueError("after must be timezone-aware")
    tz = ZoneInfo(timezone)
    schedule = CronSchedule(cron=cron, timezone=timezone)
    for moment in schedule._get_dates_generator(n=count, start=after.astimezone(UTC)):
        yield datetime.fromtimestamp(moment.timestamp(), tz)
