"""Chunk planning: windows and key ranges cover the request exactly once."""

from __future__ import annotations

import math
from collections import Counter
from datetime import date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from catalog.chunks import Chunk, balanced_target, plan_key_ranges, plan_time_windows

BASE = datetime(2025, 11, 1)
moments = st.integers(min_value=0, max_value=90 * 86400).map(lambda s: BASE + timedelta(seconds=s))


def _owner(chunks: list[Chunk], value: datetime | int) -> list[int]:
    return [c.index for c in chunks if c.start <= value < c.end]  # type: ignore[operator]


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(moments, max_size=400),
    a=moments,
    b=moments,
    target=st.integers(min_value=1, max_value=120),
)
def test_time_windows_cover_every_row_exactly_once(
    rows: list[datetime], a: datetime, b: datetime, target: int
) -> None:
    start, end = min(a, b), max(a, b) + timedelta(seconds=1)
    counts = Counter(r.date() for r in rows if start <= r < end)
    chunks = plan_time_windows(sorted(counts.items()), start, end, target)

    assert chunks[0].start == start and chunks[-1].end == end
    for before, after in zip(chunks, chunks[1:], strict=False):
        assert before.end == after.start, "windows must be contiguous"
        assert before.start < before.end
    assert [c.index for c in chunks] == list(range(len(chunks)))
    for row in rows:
        assert len(_owner(chunks, row)) == (1 if start <= row < end else 0)
    # Boundaries themselves belong to the later chunk only.
    for chunk in chunks[1:]:
        assert _owner(chunks, chunk.start) == [chunk.index]


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(moments, min_size=1, max_size=400), target=st.integers(min_value=1, max_value=60)
)
def test_time_windows_respect_the_target_for_spread_rows(rows: list[datetime], target: int) -> None:
    start = BASE
    end = BASE + timedelta(days=91)
    counts = Counter(r.date() for r in rows)
    chunks = plan_time_windows(sorted(counts.items()), start, end, target)
    # A chunk holds at most the target plus one day's worth (days are packed whole); the
    # last one may also hold a remainder of less than a quarter of the target.
    biggest_day = max(counts.values())
    for chunk in chunks:
        inside = sum(1 for r in rows if chunk.start <= r < chunk.end)
        assert inside <= target + biggest_day + (target / 4 if chunk is chunks[-1] else 0)
    if len(chunks) > 1:
        assert chunks[-1].estimated_rows >= target / 4


@settings(max_examples=300, deadline=None)
@given(
    keys=st.lists(
        st.integers(min_value=1, max_value=10_000), min_size=1, max_size=300, unique=True
    ),
    target=st.integers(min_value=1, max_value=100),
)
def test_key_ranges_cover_every_key_exactly_once(keys: list[int], target: int) -> None:
    chunks = plan_key_ranges(min(keys), max(keys), len(keys), target)
    assert chunks[0].start == min(keys) and chunks[-1].end == max(keys) + 1
    for before, after in zip(chunks, chunks[1:], strict=False):
        assert before.end == after.start
    for key in keys:
        assert len(_owner(chunks, key)) == 1


def test_no_rows_still_makes_one_chunk() -> None:
    assert len(plan_key_ranges(None, None, 0, 10)) == 1
    chunks = plan_time_windows([], BASE, BASE + timedelta(days=30), 10)
    assert [(c.start, c.end) for c in chunks] == [(BASE, BASE + timedelta(days=30))]


def test_a_big_day_is_cut_into_parts_and_names_are_readable() -> None:
    chunks = plan_time_windows(
        [(date(2025, 12, 2), 1000)], datetime(2025, 12, 1), datetime(2025, 12, 4), 300
    )
    # Day 1 alone, day 2 in four parts; its last part is packed with the empty days 3-4.
    assert len(chunks) == 5
    assert chunks[-1].start == datetime(2025, 12, 2, 18) and chunks[-1].end == datetime(2025, 12, 4)
    assert chunks[0].name == "0000_2025-12-01T00..2025-12-02T00"
    assert chunks[2].name == "0002_2025-12-02T06..2025-12-02T12"


def test_a_small_remainder_joins_the_last_chunk() -> None:
    days = [(date(2025, 12, d), 100) for d in range(1, 5)] + [(date(2025, 12, 5), 20)]
    chunks = plan_time_windows(days, datetime(2025, 12, 1), datetime(2025, 12, 6), 200)
    # 100+100 | 100+100 | 20 → the 20 (under a quarter of 200) rides with the chunk before.
    assert [(c.start.day, c.end.day, c.estimated_rows) for c in chunks] == [
        (1, 3, 200),
        (3, 6, 220),
    ]


def test_balanced_targets_fill_whole_rounds_of_workers() -> None:
    assert balanced_target(652_270, 250_000, 2) == 163_068  # four chunks, two even rounds
    assert balanced_target(500_000, 250_000, 2) == 250_000  # two chunks already fill a round
    assert balanced_target(100_000, 250_000, 2) == 50_000  # both workers, not one
    assert balanced_target(652_270, 250_000, 1) == 250_000  # one worker: the target as is
    assert balanced_target(834, 250_000, 2) == 834  # a day's export: one chunk, not two
    assert balanced_target(30_000, 250_000, 2) == 30_000  # halves would be under 20k
    assert balanced_target(0, 250_000, 2) == 250_000
    assert balanced_target(1_001_858, 250_000, 2) == 250_465  # four chunks, as unbalanced


@given(
    total=st.integers(min_value=1, max_value=50_000_000),
    target=st.integers(min_value=1, max_value=1_000_000),
    parallel=st.integers(min_value=1, max_value=16),
)
def test_balanced_targets_never_exceed_the_target_nor_add_rounds(
    total: int, target: int, parallel: int
) -> None:
    balanced = balanced_target(total, target, parallel)
    assert 1 <= balanced <= max(target * 1.25, 1)  # the planner's own tolerance

    def packed(size: int) -> int:  # chunks of about ``size`` as the planner packs them
        return max(1, math.ceil((total - size / 4) / size))

    assert packed(balanced) <= math.ceil(packed(target) / parallel) * parallel, "no round more"
