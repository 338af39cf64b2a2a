"""Counter-based random columns for polars: a value depends only on (seed, stream, row).

Each value is splitmix64 of the row index under a per-stream key, computed with wrapping
UInt64 arithmetic in polars. A table is therefore identical whatever the batch size, and a
batch of 200,000 rows is drawn with a few vectorised expressions instead of a Python loop.
"""

from __future__ import annotations

import itertools
import math
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

ROW = "_row"
"""Column holding the 0-based index of a row in its table (dropped before loading)."""

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB


def mix64(value: int) -> int:
    """The splitmix64 finaliser on a Python int (to derive stream keys)."""
    z = value & _MASK
    z = ((z ^ (z >> 30)) * _M1) & _MASK
    z = ((z ^ (z >> 27)) * _M2) & _MASK
    return z ^ (z >> 31)


def _mix_expr(z: pl.Expr) -> pl.Expr:
    # Floor division by a power of two is a logical right shift on UInt64.
    z = (z ^ (z // (1 << 30))) * pl.lit(_M1, pl.UInt64)
    z = (z ^ (z // (1 << 27))) * pl.lit(_M2, pl.UInt64)
    return z ^ (z // (1 << 31))


class RandomStreams:
    """Named, independent random streams over the ``ROW`` column of one table."""

    def __init__(self, seed: int, table: str) -> None:
        self.seed = seed
        self.table = table

    def key(self, stream: str) -> int:
        """64-bit key of a stream (crc32, not ``hash()``, so it is stable across processes)."""
        name = f"{self.table}.{stream}".encode()
        return mix64(((self.seed & 0xFFFFFFFF) << 32 | zlib.crc32(name)) * _GOLDEN)

    def bits(self, stream: str) -> pl.Expr:
        """64 random bits per row (UInt64)."""
        state = pl.col(ROW).cast(pl.UInt64) * pl.lit(_GOLDEN, pl.UInt64)
        return _mix_expr(state + pl.lit(self.key(stream), pl.UInt64))

    def uniform(self, stream: str) -> pl.Expr:
        """Uniform floats in [0, 1) with 53 bits of precision."""
        return (self.bits(stream) // (1 << 11)).cast(pl.Float64) / float(1 << 53)

    def normal(self, stream: str) -> pl.Expr:
        """Standard normal floats (Box-Muller on two streams)."""
        u1 = 1.0 - self.uniform(f"{stream}.r")  # (0, 1], so the log is finite
        u2 = self.uniform(f"{stream}.theta")
        return (-2.0 * u1.log()).sqrt() * (2.0 * math.pi * u2).cos()


def pick_index(u: pl.Expr, weights: Sequence[float]) -> pl.Expr:
    """Index into ``weights`` drawn with those relative weights, from uniforms ``u``."""
    total = float(sum(weights))
    breaks = list(itertools.accumulate(w / total for w in weights))[:-1]
    if not breaks:
        return u.floor().cast(pl.Int64)  # u < 1, so always 0
    return pl.lit(pl.Series(breaks, dtype=pl.Float64)).search_sorted(u, side="right").cast(pl.Int64)


def pick(u: pl.Expr, values: Sequence[Any], weights: Sequence[float]) -> pl.Expr:
    """One of ``values`` per row, drawn with relative ``weights`` from uniforms ``u``."""
    return pl.lit(pl.Series(list(values))).gather(pick_index(u, weights))


def pick_weighted(u: pl.Expr, weighted: Mapping[Any, float]) -> pl.Expr:
    """One key of ``weighted`` per row, drawn with the mapped relative weights."""
    return pick(u, list(weighted), list(weighted.values()))


def pick_in_groups(
    group: pl.Expr, u: pl.Expr, groups: Sequence[Sequence[Any]], skew: float = 1.0
) -> pl.Expr:
    """A member of ``groups[group]`` per row; ``skew`` > 1 favours the first members."""
    if any(len(members) == 0 for members in groups):
        raise ValueError("every group needs at least one member")
    sizes = [len(members) for members in groups]
    offsets = [0, *itertools.accumulate(sizes)][:-1]
    flat = pl.Series([member for members in groups for member in members])
    size = pl.lit(pl.Series(sizes, dtype=pl.Int64)).gather(group)
    offset = pl.lit(pl.Series(offsets, dtype=pl.Int64)).gather(group)
    slot = pl.min_horizontal((u.pow(skew) * size).floor().cast(pl.Int64), size - 1)
    return pl.lit(flat).gather(offset + slot)


def case_of(label: pl.Expr, cases: Mapping[str, pl.Expr], default: pl.Expr) -> pl.Expr:
    """``cases[label]`` per row, ``default`` where the label has no case."""
    expr: Any = pl  # pl.when(...) starts the chain, chain.when(...) extends it
    for name, value in cases.items():
        expr = expr.when(label == name).then(value)
    return expr.otherwise(default) if cases else default


def row_frame(lo: int, hi: int) -> pl.DataFrame:
    """The rows ``lo``..``hi - 1`` of a table, as the ``ROW`` column to draw from."""
    return pl.DataFrame({ROW: pl.int_range(lo, hi, dtype=pl.Int64, eager=True)})


def batch_bounds(total: int, batch_rows: int) -> list[tuple[int, int]]:
    """Half-open ``(lo, hi)`` row ranges of at most ``batch_rows`` covering ``total`` rows."""
    if batch_rows < 1:
        raise ValueError("batch_rows must be at least 1")
    return [(lo, min(lo + batch_rows, total)) for lo in range(0, total, batch_rows)]
