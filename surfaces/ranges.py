"""A relative range's days as one surface's request fields (recurring exports use it)."""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from surfaces.registry import get_surface


def range_params(
    surface: str, first: date, last: date, tz: ZoneInfo, filters: dict[str, Any]
) -> dict[str, Any]:
    """The surface's request parameters: ``filters`` plus the period's range fields."""
    return get_surface(surface).date_range.apply(filters, first, last, tz)
