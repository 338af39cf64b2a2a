"""cell safety: exported text never becomes a formula in a spreadsheet application.

Excel, LibreOffice and Google Sheets evaluate a cell whose text starts with ``=``, ``+``,
``-`` or ``@`` (and strip a leading tab or line break before doing so), also when they open a
CSV file. Prefixing such text with ``'`` makes every one of them show it as plain text. Only
text is neutralised: a real number such as ``-5`` stays a number, because renderers write
numbers with their own types and never pass them through here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import polars as pl

from catalog.documents import ColumnKind, ColumnSpec

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")
ESCAPE_PREFIX = "'"

# One character class built from FORMULA_TRIGGERS, so the Python and polars paths agree.
_TRIGGER_CLASS = "[" + "".join(re.escape(t) for t in FORMULA_TRIGGERS) + "]"


def neutralise_text(value: str) -> str:
    """``value`` prefixed with ``'`` when it starts with a formula trigger."""
    return ESCAPE_PREFIX + value if value.startswith(FORMULA_TRIGGERS) else value


def neutralise_expr(expr: pl.Expr) -> pl.Expr:
    """The polars form of :func:`neutralise_text` for a String expression (null stays null)."""
    # Anchored at the start, the test looks at one character per value; only the few values
    # that need it are rebuilt (1.6x faster than a regex replace on every value).
    # The untouched branch comes first: the result keeps the column's name.
    safe = expr.str.contains(f"^{_TRIGGER_CLASS}").not_()
    return pl.when(safe).then(expr).otherwise(pl.lit(ESCAPE_PREFIX) + expr)


def safe_frame(frame: pl.LazyFrame, columns: Sequence[ColumnSpec]) -> pl.LazyFrame:
    """The spec's columns in spec order, each with its kind's dtype, TEXT neutralised."""
    names = [c.name for c in columns]
    if len(set(names)) != len(names):
        raise ValueError(f"column specs name a column twice: {names}")
    schema = frame.collect_schema()  # metadata only on Parquet scans
    return frame.select(
        _typed(pl.col(c.name), c.kind, schema[c.name]).alias(c.name) for c in columns
    )


def _typed(col: pl.Expr, kind: ColumnKind, dtype: pl.DataType) -> pl.Expr:
    """``col`` as the dtype every renderer expects for ``kind``."""
    if kind is ColumnKind.TEXT:
        return neutralise_expr(col.cast(pl.String))
    if kind in (ColumnKind.INTEGER, ColumnKind.FLOAT, ColumnKind.PERCENT):
        if dtype.is_numeric():
            return col  # Int32 stays Int32, Decimal stays exact
        return col.cast(pl.Int64 if kind is ColumnKind.INTEGER else pl.Float64)
    if kind is ColumnKind.BOOLEAN:
        return col if dtype == pl.Boolean else col.cast(pl.Boolean)
    if kind is ColumnKind.DATE:
        if dtype == pl.String:  # polars 2 no longer casts text to dates
            return col.str.to_date()
        return col if dtype == pl.Date else col.cast(pl.Date)
    # DATETIME: files carry UTC; a naive source timestamp is taken to be UTC already.
    if dtype == pl.String:
        return col.str.to_datetime(time_unit="us", time_zone="UTC")
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            return col.dt.replace_time_zone("UTC")
        return col.dt.convert_time_zone("UTC")
    return col.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
