"""Relative ranges of recurring exports ("previous day", "previous month", ...).

A recurring export names a range relative to when it is scheduled, in the schedule's
time zone; this module turns that into the concrete filter fields each surface documents
(VerifyHuman ``from``/``to``, HiEnergy ``search_params.from``/``to``, webhooks
``start_time``/``end_time``). Pure functions: the flow passes the scheduled time in.
"""

from __future__ import annotations

import copy
from datetime import date, datetime, time, timedelta
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from report_exports.errors import ValidationError

RelativeRange = Literal[
    "previous-day", "previous-week", "previous-month", "last-7-days", "last-30-days"
]
RELATIVE_RANGES: tuple[str, ...] = get_args(RelativeRange)


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
    if relative in ("last-7-days", "last-30-days"):
        days = 7 if relative == "last-7-days" else 30
        return today - timedelta(days=days), today - timedelta(days=1)
    raise ValidationError(
        f"Unknown range {relative!r}. Must be one of: {', '.join(RELATIVE_RANGES)}", field="range"
    )


def range_params(
    surface: str, first: date, last: date, tz: ZoneInfo, filters: dict[str, Any]
) -> dict[str, Any]:
    """The surface's request parameters: ``filters`` plus the period's range fields."""
    params = copy.deepcopy(filters)
    if surface == "verifyhuman":
        params.update({"from": first.isoformat(), "to": last.isoformat()})
    elif surface == "hienergy":
        search = params.setdefault("search_params", {})
        search.update({"from": first.isoformat(), "to": last.isoformat()})
    elif surface == "webhooks":
        # The seed's range includes both ends to the second: local midnight to 23:59:59.
        start = datetime.combine(first, time(0), tz)
        end = datetime.combine(last + timedelta(days=1), time(0), tz) - timedelta(seconds=1)
        params.update({"start_time": _utc_text(start), "end_time": _utc_text(end)})
    else:
        raise ValidationError(f"Unknown surface: {surface!r}", field="surface")
    return params


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ")
