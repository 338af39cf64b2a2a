"""What the suite exports: sources, report variants, date ranges and the baselines' SQL.

Every contender of a case runs the same query: the report's own SQLAlchemy statement
(filters and window, ordered by time then id as our flow orders its chunks), rendered with
literal values for psql, sqlite3, DuckDB and pandas.

Two reports exist only here, registered into the catalog of the benchmark's own processes
(never the API's): ``bench-all-events`` (every row of the table, all thirteen source columns,
CSV or XLSX) and ``bench-full-v21-all-accounts`` (``full-v21`` without its account filter,
so that a PDF summarises a million rows of one environment).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy import Index, Select, func, select
from sqlalchemy.engine import make_url

from catalog.base import ReportSpec
from catalog.registry import CATALOGS, get_report, parse_params
from catalog.sources import SQLITE_DATETIME_FORMAT
from catalog.sources import verification_events as events
from catalog.verifyhuman import ROW_COLUMNS_V21, SOURCE_COLUMNS
from demo_data.generate import DEFAULT_START, ensure_demo_source
from report_exports.database import engine_for
from tasks.plan import base_query
from tasks.source_reader import compile_positional, postgres_literal_sql

SURFACE = "verifyhuman"
ALL_EVENTS = "bench-all-events"
V21_ALL_ACCOUNTS = "bench-full-v21-all-accounts"
TIME_INDEX = Index("ix_bench_verification_events_created", events.c.created_at)
WHOLE_PERIOD = {"env": "live", "from": "2025-09-01", "to": "2026-02-28"}


@dataclass(frozen=True)
class Case:
    """One export that every contender of the case produces."""

    key: str
    title: str
    source_url: str
    report: str
    fmt: str
    params: dict[str, Any]
    account_id: int
    contenders: tuple[str, ...]
    expected_rows: int = 0
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def backend(self) -> str:
        """``postgresql`` or ``sqlite``."""
        return make_url(self.source_url).get_backend_name()


def _all_events_query(_params: Any, _account_id: int) -> Select[Any]:
    return select(*(events.c[name] for name in SOURCE_COLUMNS))


def _v21_all_accounts_query(params: Any, _account_id: int) -> Select[Any]:
    return _all_events_query(params, 0).where(
        events.c.env == params.env, events.c.api_version == "v2.1"
    )


def bench_reports() -> tuple[ReportSpec, ...]:
    """The two benchmark-only variants of the VerifyHuman ``full-v21`` report."""
    full_v21 = CATALOGS[SURFACE]["full-v21"]
    return (
        dataclasses.replace(
            full_v21,
            name=ALL_EVENTS,
            display_name="All events",
            formats=("csv", "xlsx"),
            query=_all_events_query,
            row_columns=ROW_COLUMNS_V21,
            file_stem=ALL_EVENTS,
        ),
        dataclasses.replace(
            full_v21,
            name=V21_ALL_ACCOUNTS,
            query=_v21_all_accounts_query,
            file_stem=V21_ALL_ACCOUNTS,
        ),
    )


def register_bench_reports() -> None:
    """Add the benchmark-only reports to this process's catalog."""
    for report in bench_reports():
        CATALOGS[SURFACE][report.name] = report


def report_of(name: str) -> ReportSpec:
    """A catalog report or one of the benchmark's own."""
    own = {r.name: r for r in bench_reports()}
    return own[name] if name in own else get_report(SURFACE, name)


def ordered_statement(case: Case) -> Select[Any]:
    """The rows of the case as our flow writes them: columns, filters, window, order."""
    report = report_of(case.report)
    params = parse_params(report, case.params)
    stmt = base_query(report, params, case.account_id)
    columns = [events.c[c.name] for c in report.row_columns]
    order = [report.chunk_column, *([report.tie_breaker] if report.tie_breaker is not None else [])]
    return stmt.with_only_columns(*columns).order_by(*order)


def literal_sql(stmt: Select[Any], source_url: str) -> str:
    """``stmt`` as one line of SQL with its values inlined, for the source's own tools."""
    if make_url(source_url).get_backend_name() == "postgresql":
        return _one_line(postgres_literal_sql(stmt))
    sql, params = compile_positional(stmt, engine_for(source_url).dialect)
    values = iter(_sqlite_literal(v) for v in params)
    return _one_line(re.sub(r"\?", lambda _m: next(values), sql))


def _sqlite_literal(value: Any) -> str:
    if isinstance(value, datetime):
        return f"'{value.strftime(SQLITE_DATETIME_FORMAT)}'"
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _one_line(sql: str) -> str:
    # psql's \copy takes its query on one line.
    return " ".join(sql.split())


def daily_counts(source_url: str, report: str, params: dict[str, Any], account: int) -> list[int]:
    """Rows of the report per day, from the first day of the demo period to its last row."""
    spec = report_of(report)
    stmt = base_query(spec, parse_params(spec, params), account)
    day = func.date(spec.chunk_column)
    with engine_for(source_url).connect() as conn:
        rows = conn.execute(stmt.with_only_columns(day, func.count()).group_by(day)).all()
    by_day = {date.fromisoformat(str(d)[:10]): int(n) for d, n in rows}
    last = max(by_day, default=DEFAULT_START)
    days = (last - DEFAULT_START).days + 1
    return [by_day.get(DEFAULT_START + timedelta(days=i), 0) for i in range(days)]


def range_for_rows(counts: list[int], target: int) -> tuple[dict[str, str], int]:
    """The shortest range from the first day that holds ``target`` rows (or all), its rows."""
    total, day = 0, 0
    for day, count in enumerate(counts):  # noqa: B007 (the day the loop stopped on is kept)
        total += count
        if total >= target:
            break
    to = DEFAULT_START + timedelta(days=day)
    return {"from": DEFAULT_START.isoformat(), "to": to.isoformat()}, total


def day_near(counts: list[int], target: int) -> tuple[str, int]:
    """The day whose row count is nearest ``target`` (a small export of one day)."""
    index = min(range(len(counts)), key=lambda i: abs(counts[i] - target))
    return (DEFAULT_START + timedelta(days=index)).isoformat(), counts[index]


def prepare_source(url: str, rows: int) -> str:
    """The demo source at ``url`` with ``rows`` events (made once; a PostgreSQL database too)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql" and parsed.database:
        admin = parsed.set(drivername="postgresql", database="postgres")
        with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as c:
            exists = c.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (parsed.database,)
            ).fetchone()
            if exists is None:
                c.execute(f'CREATE DATABASE "{parsed.database}"')
    ensure_demo_source(url, rows)
    with engine_for(url).begin() as conn:
        # The whole-table reports filter on time alone: like any table exported by time
        # windows, it needs an index on the time column (the catalog's reports lead with
        # the account, which the demo schema's index covers).
        TIME_INDEX.create(conn, checkfirst=True)
        present = conn.execute(select(func.count()).select_from(events)).scalar_one()
    if present != rows:
        raise RuntimeError(f"{url} holds {present:,} events, not {rows:,}: drop it or rename it")
    return url
