"""SQL predicates built from validated filter values (never from raw strings)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field
from sqlalchemy import ColumnElement, and_, true

VALUE_MAX_CHARS = 120
"""The longest categorical value a filter takes (no category, country or network is longer)."""

OneOrMany = (
    Annotated[str, Field(max_length=VALUE_MAX_CHARS)]
    | Annotated[
        list[Annotated[str, Field(min_length=1, max_length=VALUE_MAX_CHARS)]],
        Field(min_length=1, max_length=50),
    ]
)
"""A categorical filter: one value or a list of values (matched exactly)."""


def contains(column: Any, text: str) -> ColumnElement[bool]:
    """Case-insensitive substring match; LIKE wildcards in ``text`` are literal."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.ilike(f"%{escaped}%", escape="\\")


def one_of(column: Any, value: str | list[str]) -> ColumnElement[bool]:
    """Equality with one value, or membership in a list."""
    return column.in_(value) if isinstance(value, list) else column == value


def all_of(*predicates: ColumnElement[bool] | None) -> ColumnElement[bool]:
    """AND of the predicates that are not None."""
    present = [p for p in predicates if p is not None]
    return and_(true(), *present)
