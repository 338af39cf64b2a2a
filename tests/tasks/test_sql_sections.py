"""Sections aggregated by PostgreSQL (GROUPING SETS) equal the polars path's, report by report.

For every report with sections, one chunk of the demo data in a real PostgreSQL database is
summarised both ways: rows read through ADBC and aggregated by polars, and the partials
computed by the server. Partials, first rows and row counts must agree, types included, on a
chunk with rows and on an empty one.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from catalog.registry import CATALOGS, validate_request
from demo_data.generate import generate
from tasks.extract import server_sections, summarise_chunk, summarise_on_server
from tasks.job_context import ExportContext, JobRef
from tasks.plan import output_plan
from tests.postgres import scratch_database, server_url

pytestmark = pytest.mark.postgres

PARAMS: dict[str, dict[str, Any]] = {
    "verifyhuman": {"env": "live", "from": "2025-09-01", "to": "2026-02-28"},
    "hienergy": {},
}
SECTION_REPORTS = [
    (surface, name)
    for surface, catalog in CATALOGS.items()
    for name, report in catalog.items()
    if report.sections
]
WINDOWS = {
    "a month": (datetime(2025, 11, 1), datetime(2025, 12, 1)),
    "no rows": (datetime(2031, 1, 1), datetime(2031, 2, 1)),
}


@pytest.fixture(scope="module")
def source() -> Iterator[str]:
    """The demo data of every surface in a scratch database."""
    with scratch_database(server_url(), prefix="rex_sqlsections") as url:
        generate(url, 6000, seed=9)
        yield url


def _sorted(frame: pl.DataFrame, keys: tuple[str, ...]) -> pl.DataFrame:
    return frame.sort(list(keys)) if keys else frame


@pytest.mark.parametrize("window", list(WINDOWS))
@pytest.mark.parametrize(("surface", "name"), SECTION_REPORTS)
def test_server_partials_equal_the_polars_partials(
    source: str, surface: str, name: str, window: str
) -> None:
    report = CATALOGS[surface][name]
    fmt = "pdf" if "pdf" in report.formats else report.default_format
    params = validate_request(surface, name, fmt, PARAMS[surface]).params
    ctx = ExportContext(JobRef(1, name, fmt), 1, "acme", report, params)
    outputs = output_plan(report, fmt, 25, params)
    start, end = WINDOWS[window]
    query = report.query(params, 1).where(report.chunk_column >= start, report.chunk_column < end)
    order = [report.chunk_column, *([report.tie_breaker] if report.tie_breaker is not None else [])]
    ordered = query.order_by(*order)
    grouped = server_sections(report, outputs, query, source, "auto")
    assert grouped is not None, "extract would aggregate this report with polars"
    assert server_sections(report, outputs, query, source, "adbc") is None
    assert server_sections(report, outputs, query, "sqlite:///demo.db", "auto") is None

    by_polars = summarise_chunk(ctx, outputs, query, ordered, source, reader="adbc")
    by_server = summarise_on_server(report, outputs, grouped, ordered, source)

    assert by_server[2] == by_polars[2]
    if window == "a month":
        assert by_server[2] > 100
    if by_polars[1] is not None:
        assert by_server[1] is not None
        assert_frame_equal(by_server[1], by_polars[1])
    for section in outputs.sections:
        keys = report.section(section).keys
        server, polars = (_sorted(p[0][section], keys) for p in (by_server, by_polars))
        assert_frame_equal(server, polars, check_exact=False, rel_tol=1e-9)
