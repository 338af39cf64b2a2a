"""tasks/extract.py: a summary chunk aggregated batch by batch equals the chunk read whole."""

from __future__ import annotations

import polars as pl
from polars.testing import assert_frame_equal
from sqlalchemy import select

from catalog.registry import get_report, parse_params
from catalog.sources import verification_events as events
from catalog.verifyhuman import SOURCE_COLUMNS
from tasks.extract import summarise_batches
from tasks.job_context import ExportContext, JobRef
from tasks.plan import output_plan
from tasks.source_reader import read_batches


def test_batch_partials_merge_to_the_whole_chunks_sections(demo_source: str) -> None:
    report = get_report("verifyhuman", "full-v21")
    params = parse_params(report, {"env": "live", "from": "2025-09-01", "to": "2026-02-28"})
    ctx = ExportContext(JobRef(1, report.name, "pdf"), 1, "acme", report, params)
    outputs = output_plan(report, "pdf", 25, params)
    stmt = (
        select(*(events.c[c] for c in SOURCE_COLUMNS))
        .where(events.c.account_id == 1, events.c.env == "live")
        .order_by(events.c.created_at, events.c.id)
    )
    whole = pl.concat(list(read_batches(stmt, demo_source, report.schema)))
    assert whole.height > 1_000
    # Batches of ~100 rows (and an empty one, as a reader may hand over), not one frame.
    batches = [whole.slice(i, 97) for i in range(0, whole.height, 97)] + [whole.head(0)]
    partials, rows, count = summarise_batches(ctx, outputs, batches)
    assert count == whole.height
    assert rows is not None
    assert_frame_equal(rows, whole.select([c.name for c in report.row_columns]).head(25))
    prepared = report.prepare(whole)
    for name in outputs.sections:
        section = report.section(name)
        expected = section.combine(section.partial(prepared).lazy())
        got = section.combine(partials[name].lazy())
        keys = list(section.keys)
        if keys:
            expected, got = expected.sort(keys), got.sort(keys)
        assert_frame_equal(got, expected, check_exact=False, rel_tol=1e-9)
    assert partials["totals"]["verifications"].item() == whole.height
    assert partials["daily"]["verifications"].sum() == whole.height
    assert partials["daily"]["day"].min() == whole["created_at"].min().date()  # type: ignore[union-attr]


def test_only_csv_exports_in_chunk_order_write_csv_parts() -> None:
    full = get_report("verifyhuman", "full")
    params = parse_params(full, {"env": "live", "from": "2025-12-01", "to": "2025-12-31"})
    assert output_plan(full, "csv", 50, params).rows_as == "csv"
    assert output_plan(full, "xlsx", 50, params).rows_as == "parquet"
    advertisers = get_report("hienergy", "advertisers_csv")
    by_id = parse_params(advertisers, {"index_params": {"sort": "id", "order": "asc"}})
    by_name = parse_params(advertisers, {"index_params": {"sort": "name", "order": "asc"}})
    # Sorted by the chunk key, chunk order is the file's order; by name, merge re-sorts.
    assert output_plan(advertisers, "csv", 50, by_id).rows_as == "csv"
    assert output_plan(advertisers, "csv", 50, by_name).rows_as == "parquet"
