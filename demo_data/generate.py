"""Deterministic demo source: ``python -m demo_data.generate --rows N [--url URL] [--seed S]``.

Same seed and rows give byte-identical tables. The whole load is one transaction: the old
tables are dropped, the new ones created, filled in batches of ``batch_rows`` (memory stays
bounded at any size), indexed after the rows are in (faster than indexing while loading),
and analysed — so readers see either the previous demo data or the complete new one.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import polars as pl
from sqlalchemy import Table, create_engine, inspect, literal, select
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from sqlalchemy.schema import CreateIndex, CreateTable, DropTable

from demo_data import schema
from demo_data.clicks import click_batches, click_count
from demo_data.hienergy import advertiser_count, advertisers_frame, deal_count, deals_frame
from demo_data.load import bulk_sink
from demo_data.random_columns import batch_bounds
from demo_data.timeline import Window
from demo_data.verifyhuman import verification_batches
from demo_data.webhooks import message_batches, message_count

DEFAULT_START = date(2025, 9, 1)
DEFAULT_DAYS = 181  # 2025-09-01 .. 2026-02-28


@dataclass(frozen=True)
class GeneratedCounts:
    """Rows per generated table."""

    verification_events: int
    advertisers: int
    deals: int
    clicks: int
    webhook_messages: int

    @property
    def total(self) -> int:
        """Rows over all tables."""
        return sum(asdict(self).values())


def scaled_counts(rows: int) -> GeneratedCounts:
    """How many rows each table gets for ``rows`` verification events."""
    if rows < 1:
        raise ValueError("rows must be at least 1")
    return GeneratedCounts(
        verification_events=rows,
        advertisers=advertiser_count(rows),
        deals=deal_count(rows),
        clicks=click_count(rows),
        webhook_messages=message_count(rows),
    )


def _slices(frame: pl.DataFrame, batch_rows: int) -> Iterator[pl.DataFrame]:
    for lo, hi in batch_bounds(frame.height, batch_rows):
        yield frame.slice(lo, hi - lo)


def generate(
    source_url: str,
    rows: int,
    *,
    seed: int = 7,
    start: date = DEFAULT_START,
    days: int = DEFAULT_DAYS,
    batch_rows: int = 200_000,
) -> GeneratedCounts:
    """(Re)create the source tables at ``source_url`` and fill them with demo rows."""
    counts = scaled_counts(rows)
    window = Window(start, days)
    advertisers = advertisers_frame(seed, rows, window)
    deals = deals_frame(seed, rows, window, advertisers)
    loads: list[tuple[Table, Iterable[pl.DataFrame]]] = [
        (schema.verification_events, verification_batches(seed, rows, window, batch_rows)),
        (schema.advertisers, _slices(advertisers, batch_rows)),
        (schema.deals, _slices(deals, batch_rows)),
        (schema.clicks, click_batches(seed, counts.clicks, window, batch_rows, advertisers, deals)),
        (
            schema.webhook_messages,
            message_batches(seed, counts.webhook_messages, window, batch_rows),
        ),
    ]
    tables = schema.metadata.sorted_tables
    with bulk_sink(source_url) as sink:
        for table in reversed(tables):
            sink.run(DropTable(table, if_exists=True))
        for table in tables:
            sink.run(CreateTable(table))
        for table, batches in loads:
            for frame in batches:
                sink.append(table, frame)
        for table in tables:
            for index in sorted(table.indexes, key=lambda ix: str(ix.name)):
                sink.run(CreateIndex(index))
            sink.finish(table)
    return counts


def demo_source_ready(source_url: str) -> bool:
    """True when every source table exists and holds at least one row."""
    parsed = make_url(source_url)
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").is_file():
        return False  # and do not let the check create an empty file (or fail on its folder)
    engine = create_engine(source_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            present = set(inspect(conn).get_table_names())
            for table in schema.metadata.sorted_tables:
                if table.name not in present:
                    return False
                if conn.execute(select(literal(1)).select_from(table).limit(1)).first() is None:
                    return False
        return True
    finally:
        engine.dispose()


def ensure_demo_source(source_url: str, rows: int) -> bool:
    """Generate the demo source unless it is already there; True if it was generated."""
    if demo_source_ready(source_url):
        return False
    generate(source_url, rows)
    return True


def main(argv: list[str] | None = None) -> None:
    """Command line: generate the demo source and print counts and speed."""
    parser = argparse.ArgumentParser(prog="python -m demo_data.generate", description=__doc__)
    parser.add_argument("--rows", type=int, help="verification events (default: demo_rows)")
    parser.add_argument("--url", help="source SQLAlchemy URL (default: the settings' source_url)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--batch-rows", type=int, default=200_000, help="rows per batch")
    args = parser.parse_args(argv)
    if args.url is None or args.rows is None:
        from report_exports.settings import get_settings

        settings = get_settings()
        args.url = args.url or settings.source_url
        args.rows = args.rows or settings.demo_rows
    began = time.perf_counter()
    counts = generate(args.url, args.rows, seed=args.seed, batch_rows=args.batch_rows)
    elapsed = time.perf_counter() - began
    for name, count in asdict(counts).items():
        print(f"{name:20} {count:>12,}")
    print(f"{'total':20} {counts.total:>12,}")
    print(
        f"{elapsed:.1f} s: {args.rows / elapsed:,.0f} verification events/s, "
        f"{counts.total / elapsed:,.0f} rows/s over all tables -> "
        + make_url(args.url).render_as_string(hide_password=True)
    )


if __name__ == "__main__":
    main()
