"""Relative ranges of recurring exports ("previous day", "previous month", ...).

A recurring export names a range relative to when it is scheduled, in the schedule's
time zone; this module turns that into the first and last local day. Each surface turns
those days into its own request fields (``surfaces.ranges``). Pure functions: the flow
passes the scheduled time in.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from report_exports.errors import ValidationError

RelativeRange = Literal[
    "previous-day",
    "previous-week",
    "previous-month",
    "last-7-days",
    "last-30-days",
    "month-to-date",
]
RELATIVE_RANGES: tuple[str, ...] = get_args(RelativeRange)
LONGEST_DAYS: dict[str, int] = {
    "previous-day": 1,
    "previous-week": 7,
    "previous-month": 31,
    "last-7-days": 7,
    "last-30-days": 30,
    "month-to-date": 31,
}
"""The most days each range can cover (what a plan's range limit is checked against)."""


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (a clear error for an unknown one)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"Unknown time zone: {name!r}", field="timezone") from exc


def period(relative: str, at: datetime, tz: ZoneInfo) -> tuple[date, date]:
    """First and last day (both included) of ``relative`` as seen at ``at`` in ``tz``."""
    if at.tzinfo is None:
        raise ValueError("the scheduled time must be timezone-aware")
    today = at.astimezone(tz).date()
    if relative == "previous-day":
        day = today - timedelta(days=1)
        return day, day
    if relative == "previous-week":  # Monday through Sunday (ISO weeks)
        monday = today - timedelta(days=today.weekday() + 7)
        return monday, monday + timedelta(days=6)
    if relative == "previous-month":
        last = today.replace(day=1) - timedelta(days=1)
        return last.replace(day=1), last
    if relative == "month-to-date":  # the 1st of this month through today, both included
        return today.replace(day=1), today
    if relative in ("last-7-days", "last-30-days"):
        days = 7 if relative == "last-7-days" else 30
        return today - timedelta(days=days), today - timedelta(days=1)
    raise ValidationError(
        f"Unknown range {relative!r}. Must be one of: {', '.join(RELATIVE_RANGES)}", field="range"
    )
