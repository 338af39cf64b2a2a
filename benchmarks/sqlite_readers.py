"""How fast can a chunk be read from SQLite? ADBC vs a SQLAlchemy cursor, same query.

    .venv/bin/python benchmarks/sqlite_readers.py [--rows 1000000] [--runs 3]

Generates the demo source (if missing) under var/bench/, then reads every live
verification event of account 1 through tasks.source_reader.read_frame with each
reader, alternating them, and prints the median wall time of each and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import datetime

from catalog.registry import get_report
from demo_data.generate import ensure_demo_source
from report_exports.settings import get_settings
from tasks.source_reader import read_frame


def main() -> None:
    """Run the comparison and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    db = get_settings().var_dir / "bench" / f"sqlite-{args.rows}.db"
    url = f"sqlite:///{db}"
    ensure_demo_source(url, args.rows)
    report = get_report("verifyhuman", "full-v21")
    params = report.params_model.model_validate(
        {"env": "live", "from": "2025-09-01", "to": "2026-02-28"}
    )
    stmt = report.query(params, 1).where(report.chunk_column >= datetime(2025, 9, 1))
    times: dict[str, list[float]] = {"adbc": [], "sqlalchemy": []}
    rows = 0
    for _ in range(args.runs):
        for reader in times:
            start = time.perf_counter()
            rows = read_frame(stmt, url, report.schema, reader).height
            times[reader].append(time.perf_counter() - start)
    adbc, cursor = statistics.median(times["adbc"]), statistics.median(times["sqlalchemy"])
    print(f"| reader | median s ({args.runs} runs, {rows:,} rows) |\n|---|---|")
    print(f"| ADBC | {adbc:.2f} |\n| SQLAlchemy cursor | {cursor:.2f} |")
    print(f"\nSQLAlchemy cursor / ADBC = {cursor / adbc:.1f}x")


if __name__ == "__main__":
    main()
