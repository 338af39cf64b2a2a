"""Formula neutralisation: every trigger, in values and labels; numbers stay numbers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from catalog.documents import ColumnKind, ColumnSpec
from tasks.cell_safety import FORMULA_TRIGGERS, neutralise_expr, neutralise_text, safe_frame

# Text made mostly of triggers and quotes, so the edge cases come up often.
TRICKY_TEXT = st.text(alphabet=st.sampled_from([*FORMULA_TRIGGERS, "'", " ", "a", "1", "é"]))


@pytest.mark.parametrize("trigger", FORMULA_TRIGGERS)
def test_every_trigger_is_prefixed_with_a_quote(trigger: str) -> None:
    assert neutralise_text(f"{trigger}SUM(A1)") == f"'{trigger}SUM(A1)"
    assert neutralise_text(trigger) == f"'{trigger}"


@pytest.mark.parametrize("text", ["", "plain", "a=b", " =1", "'=1", "1-2", "€=", "SUM(A1)"])
def test_text_without_a_leading_trigger_is_unchanged(text: str) -> None:
    assert neutralise_text(text) == text


def test_expr_matches_the_python_function_and_keeps_nulls() -> None:
    values = [f"{t}x" for t in FORMULA_TRIGGERS] + ["ok", "", "a=b", "$1", "${1}", None]
    out = pl.Series(values).to_frame("v").select(neutralise_expr(pl.col("v")))["v"].to_list()
    assert out == [None if v is None else neutralise_text(v) for v in values]


def test_safe_frame_neutralises_text_and_leaves_numbers_alone() -> None:
    frame = pl.LazyFrame(
        {
            "extra": [1, 2, 3],
            "amount": [-5.5, 2.0, -0.25],
            "qty": [-5, 0, 7],
            "share": [-0.1, 0.5, 1.0],
            "code": [-5, 3, -7],  # an integer declared TEXT is text: it gets the quote
            "note": ['=HYPERLINK("x")', "-5", None],
        }
    )
    columns = [
        ColumnSpec("note", "Note"),
        ColumnSpec("qty", "Qty", ColumnKind.INTEGER),
        ColumnSpec("amount", "Amount", ColumnKind.FLOAT),
        ColumnSpec("share", "Share", ColumnKind.PERCENT),
        ColumnSpec("code", "Code", ColumnKind.TEXT),
    ]
    out = safe_frame(frame, columns).collect()
    assert out.columns == ["note", "qty", "amount", "share", "code"]  # spec order, no extras
    assert out["note"].to_list() == ['\'=HYPERLINK("x")', "'-5", None]
    assert out["qty"].to_list() == [-5, 0, 7] and out["qty"].dtype == pl.Int64
    assert out["amount"].to_list() == [-5.5, 2.0, -0.25] and out["amount"].dtype == pl.Float64
    assert out["share"].to_list() == [-0.1, 0.5, 1.0]
    assert out["code"].to_list() == ["'-5", "3", "'-7"]


def test_safe_frame_gives_each_kind_its_dtype_and_datetimes_in_utc() -> None:
    plus2 = timezone(timedelta(hours=2))
    frame = pl.LazyFrame(
        {
            "naive": [datetime(2025, 1, 2, 3, 4, 5)],
            "aware": [datetime(2025, 1, 2, 3, 4, 5, tzinfo=plus2)],
            "day": ["2025-01-02"],
            "flag": [1],
            "n": ["42"],
            "text_ts": ["2025-01-02T03:04:05+02:00"],
        }
    )
    columns = [
        ColumnSpec("naive", "Naive", ColumnKind.DATETIME),
        ColumnSpec("aware", "Aware", ColumnKind.DATETIME),
        ColumnSpec("day", "Day", ColumnKind.DATE),
        ColumnSpec("flag", "Flag", ColumnKind.BOOLEAN),
        ColumnSpec("n", "N", ColumnKind.INTEGER),
        ColumnSpec("text_ts", "Text timestamp", ColumnKind.DATETIME),
    ]
    row = safe_frame(frame, columns).collect().row(0)
    assert row == (
        datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),  # naive source timestamps are UTC
        datetime(2025, 1, 2, 1, 4, 5, tzinfo=UTC),
        date(2025, 1, 2),
        True,
        42,
        datetime(2025, 1, 2, 1, 4, 5, tzinfo=UTC),
    )


def test_safe_frame_rejects_a_column_named_twice() -> None:
    frame = pl.LazyFrame({"a": [1]})
    with pytest.raises(ValueError, match="twice"):
        safe_frame(frame, [ColumnSpec("a", "A"), ColumnSpec("a", "Again")])


@given(TRICKY_TEXT)
def test_neutralised_text_never_starts_with_a_trigger_and_only_gains_a_quote(text: str) -> None:
    out = neutralise_text(text)
    assert not out.startswith(FORMULA_TRIGGERS)
    assert out in (text, "'" + text)


@given(st.lists(st.one_of(st.none(), TRICKY_TEXT, st.text()), max_size=30))
def test_expr_agrees_with_the_python_function(values: list[str | None]) -> None:
    series = pl.Series("v", values, dtype=pl.String)
    out = series.to_frame().select(neutralise_expr(pl.col("v")))["v"].to_list()
    assert out == [None if v is None else neutralise_text(v) for v in values]
