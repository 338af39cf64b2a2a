"""What a CSV export by COPY costs: the client receiving it, and the cells formatted in SQL.

    .venv/bin/python -m benchmarks.csv_by_copy [--url URL] [--runs 3]

URL is a benchmark source (``make bench`` makes ``rex_bench_1000000``). Two tables, medians of
``--runs``, the statement being the one our chunks run (``csv_cells_statement`` over every row
of ``verification_events``, ordered as the flow orders them):

1. receiving ``COPY (...) TO STDOUT (FORMAT csv)`` into a file: wall time and this process's
   CPU (user + system) with psycopg 3 (``Copy`` blocks), psycopg2 (``copy_expert``, what
   tasks/postgres_csv.py uses) and psql (its own process; CPU not counted).
2. the server's share: the same COPY sent by psql to /dev/null (psql's client work is small)
   with raw columns, with one kind of column formatted at a time, and with every cell
   formatted.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Select, select

from catalog.documents import ColumnKind, ColumnSpec
from catalog.sources import verification_events as events
from catalog.verifyhuman import ROW_COLUMNS_V21
from tasks.postgres_csv import (
    SESSION_OPTIONS,
    copy_csv_records,
    copy_statement,
    crlf_writer,
    csv_cells_statement,
)
from tasks.source_reader import POSTGRES_READ_SETTINGS, libpq_url

DEFAULT_URL = "postgresql+psycopg://postgres:postgres@127.0.0.1:5432/rex_bench_1000000"
Receiver = Callable[[str, Select[Any], Path], None]


def cells(columns: tuple[ColumnSpec, ...], formatted: set[ColumnKind] | None) -> Select[Any]:
    """Every row, as our chunks select it; cells of the ``formatted`` kinds formatted (all
    when None), raw columns elsewhere."""
    raw = select(*(events.c[c.name] for c in columns)).order_by(events.c.created_at, events.c.id)
    statement = csv_cells_statement(raw, columns)
    assert statement is not None
    if formatted is None:
        return statement
    chosen = [
        cell if spec.kind in formatted else events.c[spec.name]
        for cell, spec in zip(statement.selected_columns, columns, strict=True)
    ]
    return raw.with_only_columns(*chosen)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def receive_psycopg3(url: str, stmt: Select[Any], out: Path) -> None:
    """psycopg 3: every block (one row) of the Copy object goes through Python."""
    import psycopg

    with (
        psycopg.connect(libpq_url(url), options=SESSION_OPTIONS) as conn,
        conn.cursor() as cursor,
        out.open("wb") as fh,
        cursor.copy(copy_statement(stmt)) as copy,
    ):
        records = crlf_writer(fh)
        for block in copy:
            records.write(block)
        records.flush()


def receive_psycopg2(url: str, stmt: Select[Any], out: Path) -> None:
    """Ours: psycopg2's copy_expert reads the rows in C (tasks/postgres_csv.py)."""
    with out.open("wb") as fh:
        copy_csv_records(stmt, url, fh)


def psql(url: str, stmt: Select[Any], out: Path | None) -> None:
    """psql writing COPY's output (its own process), in a session set as our reads are."""
    settings = [a for n, v in POSTGRES_READ_SETTINGS.items() for a in ("-c", f"SET {n} = {v}")]
    argv = ["psql", libpq_url(url), "-X", "-q", *settings, "-c", copy_statement(stmt)]
    if out is None:
        subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)
        return
    with out.open("wb") as fh:
        subprocess.run(argv, stdout=fh, check=True)


def measure(receive: Receiver, url: str, stmt: Select[Any], runs: int) -> str:
    """Median wall time and CPU of this process over ``runs``."""
    walls, cpus = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(runs):
            out = Path(tmp) / "out.csv"
            cpu, start = _cpu(), time.perf_counter()
            receive(url, stmt, out)
            walls.append(time.perf_counter() - start)
            cpus.append(_cpu() - cpu)
            out.unlink()
    return f"{statistics.median(walls):.2f} | {statistics.median(cpus):.2f}"


def main(argv: list[str] | None = None) -> None:
    """Print both tables as Markdown."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.csv_by_copy")
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    print("| client receiving every formatted row | wall s | client CPU s |\n|---|---|---|")
    every = cells(ROW_COLUMNS_V21, None)
    receivers: tuple[tuple[str, Receiver], ...] = (
        ("psycopg 3 (Copy blocks)", receive_psycopg3),
        ("psycopg2 copy_expert (ours)", receive_psycopg2),
        ("psql (its own process, CPU not counted)", psql),
    )
    for name, receive in receivers:
        print(f"| {name} | {measure(receive, args.url, every, args.runs)} |")
    print("\n| cells formatted in SQL (psql to /dev/null) | wall s |\n|---|---|")
    kinds: dict[str, set[ColumnKind]] = {
        "none (raw columns)": set(),
        "text (neutralised)": {ColumnKind.TEXT},
        "floats (polars layout)": {ColumnKind.FLOAT},
        "timestamps (ISO 8601 Z)": {ColumnKind.DATETIME},
        "every cell (ours)": set(ColumnKind),
    }
    for name, chosen in kinds.items():
        stmt = cells(ROW_COLUMNS_V21, chosen)
        walls = []
        for _ in range(args.runs):
            start = time.perf_counter()
            psql(args.url, stmt, None)
            walls.append(time.perf_counter() - start)
        print(f"| {name} | {statistics.median(walls):.2f} |")


if __name__ == "__main__":
    main()
