"""Partial aggregates computed by PostgreSQL: one GROUPING SETS query per chunk.

Read through ADBC, a summary chunk ships every row to the client, which decodes it and
aggregates it with polars: on two cores shared with the server, that client work cost about
as much as the server's own (benchmarks/NOTES.md). Here PostgreSQL computes the partials of
every section in the pass that reads the rows, which costs it about what streaming them did
(GROUPING SETS over 233k of 895k scanned rows: ~0.5 s either way), and the client receives a
few hundred rows. The partials have the columns and types the polars path gives them, so
merge and render cannot tell them apart (tests/tasks/test_sql_sections.py compares both).

A section qualifies when each key and measured column is a column of the report's query or
one of its ``prepare_sql`` columns, and each measure is a count, or a sum, min or max of
one column; anything else (or SQLite, which has no GROUPING SETS) takes the polars path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Integer,
    Select,
    cast,
    func,
    literal_column,
    tuple_,
)

from catalog.base import Measure, ReportSpec, SectionSpec

SET_COLUMN = "_grouping_set"


@dataclass(frozen=True)
class SectionsQuery:
    """The GROUPING SETS statement and how to cut its result into section partials."""

    statement: Select[Any]
    keys: tuple[str, ...]  # every key column, in GROUPING() argument order
    sections: tuple[SectionSpec, ...]
    measures: dict[tuple[str, str], str]  # (kind, column or "") → result column

    def partials(self, result: pl.DataFrame, report: ReportSpec) -> dict[str, pl.DataFrame]:
        """Each section's partial, typed as the polars path types it."""
        empty = report.prepare(pl.DataFrame(schema=report.schema))
        out = {}
        for section in self.sections:
            rows = result.filter(pl.col(SET_COLUMN) == self._set_id(section.keys))
            columns = [pl.col(k) for k in section.keys] + [
                pl.col(self.measures[_measure_key(m)]).alias(m.name) for m in section.measures
            ]
            schema = section.partial(empty).schema
            out[section.name] = rows.select(columns).cast(schema)
        return out

    def source_rows(self, result: pl.DataFrame) -> int:
        """Rows the chunk's query matched (the count of the grand-total set)."""
        total = result.filter(pl.col(SET_COLUMN) == self._set_id(()))
        return int(total[self.measures[("count", "")]][0]) if total.height else 0

    def _set_id(self, keys: Sequence[str]) -> int:
        # GROUPING(k1, ..., kn): bit n-1-i is set when k_i is NOT grouped by in that set.
        return sum(1 << (len(self.keys) - 1 - i) for i, k in enumerate(self.keys) if k not in keys)


def sections_query(
    report: ReportSpec, stmt: Select[Any], names: Sequence[str]
) -> SectionsQuery | None:
    """The GROUPING SETS statement for ``names`` over ``stmt``, or None if one cannot be."""
    columns: dict[str, ColumnElement[Any]] = {c.name: c for c in stmt.selected_columns}
    if report.prepare_sql is not None:
        columns |= report.prepare_sql(columns)
    sections = tuple(report.section(n) for n in names)
    keys = tuple(dict.fromkeys(k for s in sections for k in s.keys))
    if any(k not in columns for k in keys):
        return None
    measures: dict[tuple[str, str], str] = {("count", ""): "m_count"}
    aggregates: list[ColumnElement[Any]] = [cast(func.count(), BigInteger).label("m_count")]
    for measure in (m for s in sections for m in s.measures):
        key = _measure_key(measure)
        if key in measures:
            continue
        aggregate = _aggregate(measure, columns)
        if aggregate is None:
            return None
        measures[key] = f"m_{len(measures)}"
        aggregates.append(aggregate.label(measures[key]))
    key_columns = [columns[k].label(k) for k in keys]
    grouping = func.grouping(*(columns[k] for k in keys)) if keys else literal_column("0")
    # Each set once: a set listed twice gives its rows twice.
    distinct_sets = dict.fromkeys([(), *(s.keys for s in sections)])
    sets = [tuple_(*(columns[k] for k in keyset)) for keyset in distinct_sets]
    statement = stmt.with_only_columns(
        *key_columns, grouping.label(SET_COLUMN), *aggregates, maintain_column_froms=True
    ).group_by(func.grouping_sets(*sets))
    return SectionsQuery(statement, keys, sections, measures)


def _measure_key(measure: Measure) -> tuple[str, str]:
    if measure.kind == "count":
        return ("count", "")
    assert measure.expr is not None
    return (measure.kind, measure.expr.meta.output_name())


def _aggregate(
    measure: Measure, columns: Mapping[str, ColumnElement[Any]]
) -> ColumnElement[Any] | None:
    """The SQL aggregate of one measure; None unless it reads one plain column."""
    if measure.kind == "count":
        return cast(func.count(), BigInteger)
    if measure.expr is None or not measure.expr.meta.is_column():
        return None
    name = measure.expr.meta.output_name()
    if name not in columns:
        return None
    column = columns[name]
    if isinstance(column.type, Boolean):
        column = cast(column, Integer)  # polars sums booleans as counts of true
    if measure.kind != "sum":
        return func.max(column) if measure.kind == "max" else func.min(column)
    aggregate: ColumnElement[Any] = func.sum(column)
    # polars sums no rows (or only nulls) to 0, SQL to NULL; PostgreSQL sums bigints as
    # numeric, which ADBC hands over as text: integers come back as bigint.
    aggregate = func.coalesce(aggregate, 0)
    return cast(aggregate, BigInteger) if isinstance(column.type, Integer) else aggregate
