"""Reads one SQL query into polars, by the fastest path the source supports.

SQLAlchemy always builds the query. SQLite is read through ADBC (4.8x faster than a
SQLAlchemy cursor: benchmarks/sqlite_readers.py); other sources through SQLAlchemy.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl
from sqlalchemy import Select
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from demo_data.schema import SQLITE_DATETIME_FORMAT
from report_exports.database import engine_for
from report_exports.errors import QueryError, TransientSourceError

_PERMANENT_HINTS = ("no such", "does not exist", "syntax", "undefined", "permission denied")
_TRANSIENT_HINTS = (
    "database is locked",
    "database is busy",
    "connection",
    "timeout",
    "server closed",
    "terminating",
)


def read_frame(
    stmt: Select[Any], source_url: str, schema: dict[str, Any], reader: str = "auto"
) -> pl.DataFrame:
    """Run ``stmt`` on the source and return its rows typed as ``schema`` says."""
    try:
        if make_url(source_url).get_backend_name() == "sqlite" and reader in ("auto", "adbc"):
            frame = _read_sqlite_adbc(stmt, source_url)
        else:
            with engine_for(source_url).connect() as conn:
                frame = pl.read_database(stmt, conn, infer_schema_length=None)
    except (sa_exc.DBAPIError, OSError) as exc:
        raise classify(exc) from exc
    except Exception as exc:  # ADBC raises its own DB-API hierarchy
        if type(exc).__module__.startswith("adbc_driver"):
            raise classify(exc) from exc
        raise
    return conform(frame, schema)


def classify(exc: BaseException) -> QueryError:
    """Transient (retry) or permanent (fail the job) — by what the database said."""
    text = str(exc).lower()
    if any(hint in text for hint in _PERMANENT_HINTS):
        return QueryError(f"source query failed: {exc}")
    connection_lost = getattr(exc, "connection_invalidated", False) or any(
        hint in text for hint in _TRANSIENT_HINTS
    )
    if connection_lost or "operational" in type(exc).__name__.lower() or isinstance(exc, OSError):
        return TransientSourceError(f"source temporarily unavailable: {exc}")
    return QueryError(f"source query failed: {exc}")


def _read_sqlite_adbc(stmt: Select[Any], source_url: str) -> pl.DataFrame:
    import adbc_driver_sqlite.dbapi as adbc_sqlite

    engine = engine_for(source_url)
    compiled = stmt.compile(dialect=engine.dialect)
    params = [_sqlite_value(compiled.params[name]) for name in compiled.positiontup or ()]
    database = make_url(source_url).database or ""
    with adbc_sqlite.connect(database) as conn:
        with conn.cursor() as cursor:  # wait for a writer instead of failing at once
            cursor.execute("PRAGMA busy_timeout = 30000")
        return pl.read_database(str(compiled), conn, execute_options={"parameters": params})


def _sqlite_value(value: Any) -> Any:
    # The same text the SQLAlchemy column type stores, so comparisons agree.
    if isinstance(value, datetime):
        return value.strftime(SQLITE_DATETIME_FORMAT)
    if isinstance(value, bool):
        return int(value)
    return value


def conform(frame: pl.DataFrame, schema: dict[str, Any]) -> pl.DataFrame:
    """Cast columns to the report's dtypes (SQLite hands timestamps over as text)."""
    casts = []
    for name, dtype in schema.items():
        if name not in frame.columns:
            continue
        column = pl.col(name)
        if isinstance(dtype, pl.Datetime) and frame.schema[name] == pl.String:
            casts.append(column.str.to_datetime(SQLITE_DATETIME_FORMAT, time_unit="us"))
        elif dtype == pl.Boolean and frame.schema[name] == pl.String:
            casts.append(column.cast(pl.Int64).cast(pl.Boolean))
        else:
            casts.append(column.cast(dtype))
    return frame.with_columns(casts) if casts else frame
