"""Chunks: the value objects a plan splits an export into, and the planning arithmetic.

A chunk is a half-open window ``[start, end)`` over a timestamp column, or a half-open
range ``[start, end)`` over an integer key. Consecutive chunks share a boundary, so every
row falls into exactly one chunk.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta


@dataclass(frozen=True)
class Chunk:
    """One unit of extraction, named stably for task-run names and staging keys."""

    index: int
    start: datetime | int
    end: datetime | int
    estimated_rows: int

    @property
    def name(self) -> str:
        """A readable, stable name: ``0003_2025-12-08T00.00..2025-12-15T00.00``."""
        return f"{self.index:04d}_{_label(self.start)}..{_label(self.end)}"

    @property
    def label(self) -> str:
        """A short label for people: ``0003 2025-12-08..12-15``, ``0001 keys 100..200``."""
        return f"{self.index:04d} {_span(self.start, self.end)}"


def _span(start: datetime | int, end: datetime | int) -> str:
    if not isinstance(start, datetime) or not isinstance(end, datetime):
        return f"keys {start}..{end}"
    if start.time() == end.time() == time.min:
        last = f"{end:%m-%d}" if end.year == start.year else f"{end:%Y-%m-%d}"
        return f"{start:%Y-%m-%d}..{last}"
    return f"{start:%Y-%m-%d %H:%M:%S}..{end:%Y-%m-%d %H:%M:%S}"


def _label(value: datetime | int) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H.%M.%S").removesuffix(".00").removesuffix(".00")
    return str(value)


MIN_SPLIT_ROWS = 20_000
"""Below this many rows a chunk is not split further to keep a worker busy: a chunk costs
a task run and a query of its own (tens of milliseconds), more than such a slice saves."""


def balanced_target(total_rows: int, target_rows: int, parallel: int) -> int:
    """Rows per chunk so that the chunks fill whole rounds of ``parallel`` extractions.

    About ``target_rows`` a chunk at most (memory is bounded by it), as few rounds as that
    allows, and every round full: 652k rows at 250k on two workers made chunks of 250k,
    250k and 152k, so one worker extracted 400k rows while the other waited; four chunks
    of 163k take two even rounds (326k each). Small exports are not cut below
    :data:`MIN_SPLIT_ROWS` a chunk to fill a round.
    """
    if total_rows <= 0 or parallel <= 1:
        return target_rows
    # As plan_time_windows packs them: a remainder under a quarter of the target joins the
    # last chunk instead of making one more (1.0M rows at 250k are four chunks, not five).
    needed = max(1, math.ceil((total_rows - target_rows / 4) / target_rows))
    rounds = math.ceil(needed / parallel)
    chunks = max(needed, min(rounds * parallel, max(1, total_rows // MIN_SPLIT_ROWS)))
    return max(1, math.ceil(total_rows / chunks))


def day_start(day: date) -> datetime:
    """Midnight at the start of ``day`` (naive UTC)."""
    return datetime.combine(day, time.min)


def plan_time_windows(
    day_counts: Iterable[tuple[date, int]], start: datetime, end: datetime, target_rows: int
) -> list[Chunk]:
    """Split ``[start, end)`` into contiguous windows of about ``target_rows`` rows each.

    ``day_counts`` are estimated rows per calendar day (days without rows may be absent).
    Whole days are packed together; a day bigger than the target is cut into equal parts;
    a last window of less than a quarter of the target joins the one before it.
    """
    if end <= start:
        raise ValueError("the window must end after it starts")
    counts = {d: n for d, n in day_counts if n > 0}
    chunks: list[Chunk] = []
    window_start, pending = start, 0

    def close(at: datetime, rows: int) -> None:
        nonlocal window_start, pending
        if at > window_start:
            chunks.append(Chunk(len(chunks), window_start, at, rows))
            window_start, pending = at, 0

    day = start.date()
    while day_start(day) < end:
        lo, hi = max(day_start(day), start), min(day_start(day + timedelta(days=1)), end)
        rows = counts.get(day, 0)
        if rows > target_rows:
            close(lo, pending)
            parts = math.ceil(rows / target_rows)
            step = max((hi - lo) / parts, timedelta(seconds=1))
            cut = lo
            for _ in range(parts - 1):
                cut = _whole_second(cut + step)
                if cut >= hi:
                    break
                close(cut, rows // parts)
            pending = rows // parts
        elif pending and pending + rows > target_rows:
            close(lo, pending)
            pending = rows
        else:
            pending += rows
        day += timedelta(days=1)
    close(end, pending)
    if len(chunks) > 1 and chunks[-1].estimated_rows < target_rows / 4:
        # A sliver left at the end would run as a round of its own: 1M rows as four chunks
        # and 21k took three rounds of two workers; it joins the chunk before it instead.
        last, before = chunks.pop(), chunks.pop()
        rows = before.estimated_rows + last.estimated_rows
        chunks.append(Chunk(before.index, before.start, last.end, rows))
    return chunks


def _whole_second(value: datetime) -> datetime:
    return value.replace(microsecond=0)


def plan_key_ranges(
    min_key: int | None, max_key: int | None, total_rows: int, target_rows: int
) -> list[Chunk]:
    """Split keys ``[min_key, max_key]`` into ranges of about ``target_rows`` rows each."""
    if min_key is None or max_key is None or total_rows <= 0:
        return [Chunk(0, 0, 1, 0)]
    parts = max(1, math.ceil(total_rows / target_rows))
    span = max_key - min_key + 1
    step = max(1, math.ceil(span / parts))
    chunks: list[Chunk] = []
    lo = min_key
    while lo <= max_key:
        hi = min(lo + step, max_key + 1)
        chunks.append(Chunk(len(chunks), lo, hi, round(total_rows * (hi - lo) / span)))
        lo = hi
    return chunks
