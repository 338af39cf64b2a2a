"""How fast can a chunk be read from the source? ADBC vs a SQLAlchemy cursor, same query.

    .venv/bin/python benchmarks/source_readers.py [--rows 1000000] [--runs 3] [--url URL]

Without ``--url``, generates the demo source in a SQLite file under var/bench/; with a
PostgreSQL URL (e.g. postgresql+psycopg://postgres:postgres@127.0.0.1/rex_bench, an
existing empty or demo database), generates it there when missing. Then reads every live
verification event of account 1 from September to February (the filtered export), and
the whole table (large chunks), through tasks.source_reader.read_frame with each reader,
alternating them, and prints the median wall time of each and their ratio. SQLAlchemy
builds the query in both cases.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import datetime

from sqlalchemy import select

from catalog.registry import get_report
from catalog.sources import verification_events as events
from demo_data.generate import ensure_demo_source
from report_exports.settings import get_settings
from tasks.source_reader import read_frame


def main() -> None:
    """Run the comparison and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--url", help="source SQLAlchemy URL (default: SQLite under var/bench)")
    args = parser.parse_args()
    db = get_settings().var_dir / "bench" / f"sqlite-{args.rows}.db"
    url = args.url or f"sqlite:///{db}"
    ensure_demo_source(url, args.rows)
    report = get_report("verifyhuman", "full-v21")
    params = report.params_model.model_validate(
        {"env": "live", "from": "2025-09-01", "to": "2026-02-28"}
    )
    cases = {
        "filtered export (account 1, live, v2.1)": report.query(params, 1).where(
            report.chunk_column >= datetime(2025, 9, 1)
        ),
        "whole table": select(*report.query(params, 1).selected_columns).select_from(events),
    }
    backend = url.split(":", 1)[0].split("+", 1)[0]
    print(f"| {backend}, median of {args.runs} | rows | ADBC s | SQLAlchemy cursor s | ratio |")
    print("|---|---|---|---|---|")
    for name, stmt in cases.items():
        times: dict[str, list[float]] = {"adbc": [], "sqlalchemy": []}
        rows = 0
        for _ in range(args.runs):
            for reader in times:  # alternating, so noise hits both alike
                start = time.perf_counter()
                rows = read_frame(stmt, url, report.schema, reader).height
                times[reader].append(time.perf_counter() - start)
        adbc, cursor = statistics.median(times["adbc"]), statistics.median(times["sqlalchemy"])
        print(f"| {name} | {rows:,} | {adbc:.2f} | {cursor:.2f} | {cursor / adbc:.1f}x |")


if __name__ == "__main__":
    main()
