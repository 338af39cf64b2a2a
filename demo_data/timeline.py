"""The demo's date window and how activity spreads over it: weekly rhythm, daily peaks.

Row ``i`` of ``n`` sits at the quantile ``(i + u) / n`` of the window's activity curve, so
timestamps grow with the row id (like a real append-only table), every day gets its share,
and the result does not depend on how the rows are batched.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import polars as pl

from demo_data.random_columns import ROW

BUSINESS_HOURS: tuple[float, ...] = (
    0.30, 0.22, 0.18, 0.16, 0.18, 0.25, 0.40, 0.60, 0.80, 0.95, 1.00, 1.00,
    0.98, 1.00, 1.00, 0.98, 0.95, 0.88, 0.75, 0.65, 0.58, 0.52, 0.45, 0.38,
)  # fmt: skip
"""UTC hour weights of API traffic: Europe's working day overlapping the Americas'."""

CONSUMER_HOURS: tuple[float, ...] = (
    0.55, 0.45, 0.35, 0.28, 0.22, 0.20, 0.24, 0.32, 0.42, 0.50, 0.56, 0.62,
    0.68, 0.72, 0.75, 0.78, 0.82, 0.88, 0.95, 1.00, 1.00, 0.95, 0.82, 0.68,
)  # fmt: skip
"""UTC hour weights of shopping clicks: evening peaks in Europe and the Americas."""

WEEKDAY_WEIGHTS = (1.0, 1.04, 1.05, 1.03, 0.97, 0.62, 0.52)  # Monday .. Sunday
HOLIDAYS = {(12, 24): 0.70, (12, 25): 0.45, (12, 26): 0.75, (12, 31): 0.70, (1, 1): 0.50}


@dataclass(frozen=True)
class Window:
    """Whole UTC days ``start`` .. ``start + days - 1``; every generated timestamp lies inside."""

    start: date
    days: int

    def __post_init__(self) -> None:
        if self.days < 1:
            raise ValueError("the window needs at least one day")

    @property
    def start_at(self) -> datetime:
        """Midnight at the start of the first day."""
        return datetime.combine(self.start, time.min)

    @property
    def end_at(self) -> datetime:
        """Midnight after the last day (exclusive)."""
        return self.start_at + timedelta(days=self.days)

    @property
    def seconds(self) -> int:
        """Length of the window in seconds."""
        return self.days * 86_400

    def timestamp(self, offset_seconds: pl.Expr) -> pl.Expr:
        """Naive UTC datetimes (whole seconds) ``offset_seconds`` after the window start."""
        seconds = offset_seconds.floor().cast(pl.Int64).clip(0, self.seconds - 1)
        return (pl.lit(self.start_at) + pl.duration(seconds=seconds)).cast(pl.Datetime("us"))


def day_weights(window: Window, seed: int) -> list[float]:
    """Relative activity of each day: weekday rhythm, holidays, steady growth, some noise."""
    rng = random.Random(f"{seed}:days")
    weights = []
    for offset in range(window.days):
        day = window.start + timedelta(days=offset)
        growth = 1.0 + 0.35 * offset / max(window.days - 1, 1)
        holiday = HOLIDAYS.get((day.month, day.day), 1.0)
        weights.append(WEEKDAY_WEIGHTS[day.weekday()] * holiday * growth * rng.uniform(0.9, 1.1))
    return weights


class Timeline:
    """Where the rows of one table fall in the window (see the module docstring)."""

    def __init__(self, window: Window, hours: Sequence[float], seed: int, total: int) -> None:
        if len(hours) != 24:
            raise ValueError("hours needs one weight per hour of the day")
        self.window = window
        self.total = max(total, 1)
        buckets = [d * h for d in day_weights(window, seed) for h in hours]
        scale = sum(buckets)
        ends = list(itertools.accumulate(b / scale for b in buckets))
        self._starts = pl.Series([0.0, *ends[:-1]], dtype=pl.Float64)
        self._widths = pl.Series([b / scale for b in buckets], dtype=pl.Float64)
        self._breaks = pl.Series(ends[:-1], dtype=pl.Float64)

    def offset_seconds(self, u: pl.Expr) -> pl.Expr:
        """Float seconds since the window start, non-decreasing in ``ROW`` (``u`` jitters)."""
        quantile = ((pl.col(ROW).cast(pl.Float64) + u) / self.total).clip(0.0, 1.0 - 1e-12)
        bucket = pl.lit(self._breaks).search_sorted(quantile, side="right").cast(pl.Int64)
        within = (quantile - pl.lit(self._starts).gather(bucket)) / pl.lit(self._widths).gather(
            bucket
        )
        return (bucket.cast(pl.Float64) + within.clip(0.0, 0.999_999)) * 3600.0
