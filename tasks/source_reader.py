"""Reads one SQL query into polars, by the fastest path the source supports.

SQLAlchemy always builds the query. SQLite and PostgreSQL are read through ADBC, which
hands polars Arrow columns instead of Python rows (faster than a SQLAlchemy cursor:
benchmarks/source_readers.py); any other source, or ``reader="sqlalchemy"``, through a
SQLAlchemy connection.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, cast

import polars as pl
from polars.datatypes import DataTypeClass
from sqlalchemy import Select
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect, make_url

from catalog.sources import SQLITE_DATETIME_FORMAT
from report_exports.database import engine_for
from report_exports.errors import QueryError, TransientSourceError

ADBC_BACKENDS = frozenset({"sqlite", "postgresql"})
# Arrow batches of ~2 MB: extracting holds a batch or two, not the chunk (a 250k-row chunk
# of 14 columns is ~60 MB as Arrow, more as the frame it becomes). Two chunks streaming to
# Parquet at once held +104 MB with 8 MB batches, +65 MB with 4 MB, in the same time; with
# 2 MB (and 2,500-row XML batches) a 1M-row XLSX export peaked at 282 MB instead of 301 MB.
BATCH_BYTES = 2 << 20
SQLITE_ROW_BYTES = 200  # what a demo event row takes as Arrow, to size SQLite's batches
# libpq numbers its parameters ($1, $2, ...); SQLAlchemy compiles to that style directly.
_POSTGRES_DIALECT = postgresql.psycopg.dialect(paramstyle="numeric_dollar")

# Settings of every PostgreSQL session that reads for an export. The chunks are the
# parallelism (two at once by default): a parallel plan added processes to the same cores
# and copied every row between them, and JIT compiled each chunk's query again (the plan's
# per-day count over 5M rows: 1.03 → 0.72 s without it).
POSTGRES_READ_SETTINGS = {"jit": "off", "max_parallel_workers_per_gather": "0"}

_PLACEHOLDER = re.compile(r"\$(\d+)\b")
# SQLSTATE classes (PostgreSQL, shared by most servers): lost or refused connections,
# server shutting down, too many connections, serialisation failures and deadlocks.
_TRANSIENT_SQLSTATES = ("08", "40001", "40P01", "53300", "55P03", "57P01", "57P02", "57P03")
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
    batches = list(read_batches(stmt, source_url, schema, reader))
    return batches[0] if len(batches) == 1 else pl.concat(batches, rechunk=False)


def read_batches(
    stmt: Select[Any],
    source_url: str,
    schema: dict[str, Any],
    reader: str = "auto",
    batch_bytes: int = BATCH_BYTES,
) -> Iterator[pl.DataFrame]:
    """The rows of ``stmt`` as frames typed as ``schema`` says, a batch at a time.

    ADBC hands over Arrow record batches of about ``batch_bytes`` as the result streams in
    (PostgreSQL) or ``batch_bytes // 200`` rows (SQLite), so memory holds one batch, not the
    chunk; the SQLAlchemy path yields the whole result as one frame. At least one frame is
    yielded, empty when the query has no rows, so the columns are always known.
    """
    backend = make_url(source_url).get_backend_name()
    try:
        if backend not in ADBC_BACKENDS or reader not in ("auto", "adbc"):
            with engine_for(source_url).connect() as conn:
                yield conform(pl.read_database(stmt, conn, infer_schema_length=None), schema)
            return
        read = _read_sqlite_adbc if backend == "sqlite" else _read_postgres_adbc
        for batch in read(stmt, source_url, batch_bytes):
            yield conform(batch, schema)
    except (sa_exc.DBAPIError, OSError) as exc:
        raise classify(exc) from exc
    except Exception as exc:
        # ADBC raises its own DB-API hierarchy; an error while the driver streams a result
        # (a dropped connection mid-COPY) may also arrive as polars' "external error".
        from_driver = type(exc).__module__.startswith("adbc_driver")
        if from_driver or (isinstance(exc, pl.exceptions.ComputeError) and "[libpq]" in str(exc)):
            raise classify(exc) from exc
        raise


def _arrow_frames(statement: Any) -> Iterator[pl.DataFrame]:
    """Run the prepared ADBC statement; its result, one polars frame per record batch."""
    import pyarrow as pa

    handle, _rows = statement.execute_query()
    stream = pa.RecordBatchReader.from_stream(handle)
    empty = True
    for batch in stream:
        empty = False
        yield cast(pl.DataFrame, pl.from_arrow(batch))
    if empty:
        yield cast(pl.DataFrame, pl.from_arrow(pa.Table.from_batches([], stream.schema)))


def classify(exc: BaseException) -> QueryError:
    """Transient (retry) or permanent (fail the job) — by the SQLSTATE, else by the text."""
    sqlstate = _sqlstate(exc)
    if sqlstate:
        if sqlstate.startswith(_TRANSIENT_SQLSTATES):
            return TransientSourceError(f"source temporarily unavailable: {exc}")
        return QueryError(f"source query failed: {exc}")
    text = str(exc).lower()
    if any(hint in text for hint in _PERMANENT_HINTS):
        return QueryError(f"source query failed: {exc}")
    connection_lost = getattr(exc, "connection_invalidated", False) or any(
        hint in text for hint in _TRANSIENT_HINTS
    )
    if connection_lost or "operational" in type(exc).__name__.lower() or isinstance(exc, OSError):
        return TransientSourceError(f"source temporarily unavailable: {exc}")
    return QueryError(f"source query failed: {exc}")


def _sqlstate(exc: BaseException) -> str | None:
    # ADBC and psycopg errors carry it (psycopg2's as ``pgcode``); SQLAlchemy wraps the
    # driver's error in ``orig``.
    for candidate in (exc, getattr(exc, "orig", None)):
        for attribute in ("sqlstate", "pgcode"):
            sqlstate = getattr(candidate, attribute, None)
            if isinstance(sqlstate, str) and len(sqlstate) == 5:
                return sqlstate.upper()
    return None


def compile_positional(stmt: Select[Any], dialect: Dialect) -> tuple[str, list[Any]]:
    """SQL text with positional parameters, and their values in the order they bind."""
    # render_postcompile expands IN lists into one parameter per value.
    compiled = stmt.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    return str(compiled), [compiled.params[name] for name in compiled.positiontup or ()]


def libpq_url(source_url: str) -> str:
    """The SQLAlchemy URL as libpq reads it (``postgresql+psycopg://`` → ``postgresql://``)."""
    url = make_url(source_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def _read_postgres_adbc(
    stmt: Select[Any], source_url: str, batch_bytes: int
) -> Iterator[pl.DataFrame]:
    import adbc_driver_postgresql

    with _adbc_statement(adbc_driver_postgresql.connect(libpq_url(source_url))) as statement:
        for name, value in POSTGRES_READ_SETTINGS.items():
            statement.set_sql_query(f"SET {name} = {value}")
            statement.execute_update()
        statement.set_options(**{"adbc.postgresql.batch_size_hint_bytes": str(batch_bytes)})
        statement.set_sql_query(postgres_literal_sql(stmt))
        yield from _arrow_frames(statement)


@contextmanager
def _adbc_statement(database: Any) -> Iterator[Any]:
    """A statement on a new connection to ``database`` (an ADBC driver's ``connect()``).

    ADBC's low-level API, not its DB-API module: that one imports ``pyarrow.dataset``,
    which imports pandas when it is installed (+54 MB of RSS and 0.3 s in every process).
    """
    import adbc_driver_manager

    with (
        database,
        adbc_driver_manager.AdbcConnection(database) as connection,
        adbc_driver_manager.AdbcStatement(connection) as statement,
    ):
        yield statement


def postgres_literal_sql(stmt: Select[Any]) -> str:
    """``stmt`` as PostgreSQL SQL with its values inlined (so ADBC can read by COPY)."""
    sql, params = compile_positional(stmt, _POSTGRES_DIALECT)
    return inline_parameters(sql, params)


def inline_parameters(sql: str, params: list[Any]) -> str:
    """``sql`` with each ``$n`` replaced by its value as a PostgreSQL literal.

    The ADBC driver streams a query result with binary ``COPY ... TO STDOUT`` only when the
    query has no bound parameters (about 2x faster on large chunks than binding them). The
    values are quoted by psycopg (``'o''brien'``, ``E'back\\slash'``), the way libpq
    escapes literals; the SQL text around them comes from SQLAlchemy and holds no user
    input, so every ``$n`` in it is a placeholder.
    """
    from psycopg import sql as pg_sql

    literals = [pg_sql.Literal(_postgres_value(v)).as_string(None) for v in params]
    return _PLACEHOLDER.sub(lambda m: literals[int(m.group(1)) - 1], sql)


def _postgres_value(value: Any) -> Any:
    # Source timestamps are naive UTC (``timestamp without time zone``); an aware value would
    # bind as timestamptz and be shifted by the session's time zone.
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _read_sqlite_adbc(
    stmt: Select[Any], source_url: str, batch_bytes: int
) -> Iterator[pl.DataFrame]:
    import adbc_driver_sqlite

    sql, params = compile_positional(stmt, engine_for(source_url).dialect)
    database = make_url(source_url).database or ""
    with _adbc_statement(adbc_driver_sqlite.connect(database)) as statement:
        statement.set_sql_query("PRAGMA busy_timeout = 30000")  # wait for a writer
        statement.execute_update()
        rows = str(max(1024, batch_bytes // SQLITE_ROW_BYTES))
        statement.set_options(**{"adbc.sqlite.query.batch_rows": rows})
        statement.set_sql_query(sql)
        if params:
            # Bound as a one-row polars frame: building it with pyarrow imports pandas.
            values = pl.DataFrame({str(i): [_sqlite_value(v)] for i, v in enumerate(params)})
            # A lone None has no type; as NULL text it binds as SQL NULL.
            statement.bind_stream(values.with_columns(pl.col(pl.Null).cast(pl.String)))
        yield from _arrow_frames(statement)


def _sqlite_value(value: Any) -> Any:
    # The same text the SQLAlchemy column type stores, so comparisons agree.
    if isinstance(value, datetime):
        return _postgres_value(value).strftime(SQLITE_DATETIME_FORMAT)
    if isinstance(value, bool):
        return int(value)
    return value


def conform(frame: pl.DataFrame, schema: dict[str, Any]) -> pl.DataFrame:
    """Cast columns to the report's dtypes, whatever the reader handed over.

    SQLite gives timestamps as text and booleans as integers; PostgreSQL may give
    ``timestamptz`` (made naive UTC) and ``numeric`` as an opaque Arrow extension of text.
    """
    casts = []
    for name, dtype in schema.items():
        if name not in frame.columns:
            continue
        column, source = pl.col(name), _dtype(frame.schema[name])
        if isinstance(source, pl.Extension):
            column, source = column.ext.storage(), _dtype(source.ext_storage())
        if isinstance(dtype, pl.Datetime) and source == pl.String:
            column = column.str.to_datetime(SQLITE_DATETIME_FORMAT, time_unit="us")
        elif isinstance(dtype, pl.Datetime) and isinstance(source, pl.Datetime):
            if source.time_zone is not None:
                column = column.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        elif dtype == pl.Boolean and source == pl.String:
            column = column.cast(pl.Int64)
        casts.append(column.cast(dtype).alias(name))
    return frame.with_columns(casts) if casts else frame


def _dtype(dtype: pl.DataType | DataTypeClass) -> pl.DataType:
    return dtype() if isinstance(dtype, DataTypeClass) else dtype
