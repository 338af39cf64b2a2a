"""extract: one SQL query per chunk, written to staging as Parquet parts.

A chunk whose parts are already in staging (marker ``_done``) is not extracted again, so a
retried flow run only does the work that is missing.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq
from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import task_run
from prefect.tasks import exponential_backoff
from sqlalchemy import Select
from sqlalchemy.engine import make_url

from catalog.base import ReportSpec
from catalog.chunks import Chunk
from catalog.documents import ColumnSpec
from jobstore.store import job_engine
from jobstore.transitions import record_part_done
from report_exports.memory import map_large_blocks
from report_exports.settings import Settings, get_settings
from storage.files import Storage, default_storage, scratch_dir, staging_prefix
from tasks.job_context import ExportContext, JobRef, load_context
from tasks.plan import OutputPlan
from tasks.postgres_csv import copy_csv_records, csv_cells_statement
from tasks.render_csv import write_csv_records
from tasks.retry import retry_on_transient
from tasks.run_log import attempt_note, logged_failure, run_logger, timed
from tasks.source_reader import read_batches, read_frame
from tasks.sql_sections import SectionsQuery, sections_query

DONE_MARKER = "_done"


@dataclass(frozen=True)
class PartRef:
    """Where a chunk's outputs are in staging."""

    chunk: Chunk
    prefix: str
    reused: bool
    rows: int = 0  # source rows of the chunk
    size_bytes: int = 0  # what this run staged (0 when reused)


def rows_part_name(outputs: OutputPlan) -> str:
    """File name of a chunk's rows in staging: ``rows.csv`` or ``rows.parquet``."""
    return f"rows.{outputs.rows_as}"


def chunk_prefix(job_id: int, chunk: Chunk) -> str:
    """Staging folder of one chunk."""
    return f"{staging_prefix(job_id)}/{chunk.name}"


def extract_chunk(
    ctx: ExportContext,
    chunk: Chunk,
    outputs: OutputPlan,
    storage: Storage,
    source_url: str,
    reader: str = "auto",
) -> PartRef:
    """Query the chunk, then stage its rows and/or partial aggregates."""
    prefix = chunk_prefix(ctx.ref.job_id, chunk)
    if storage.exists(f"{prefix}/{DONE_MARKER}"):
        kept = int(storage.read_text(f"{prefix}/{DONE_MARKER}").strip() or 0)
        return PartRef(chunk, prefix, reused=True, rows=kept)
    report = ctx.report
    query = report.query(ctx.params, ctx.account_id).where(
        report.chunk_column >= chunk.start, report.chunk_column < chunk.end
    )
    order = [report.chunk_column] + ([report.tie_breaker] if report.tie_breaker is not None else [])
    stmt = query
    if outputs.rows:
        stmt = stmt.order_by(*order)
        if outputs.rows_limit is not None and not outputs.sections:
            stmt = stmt.limit(outputs.rows_limit)
    if outputs.sections or outputs.rows_as != "csv":
        map_large_blocks()  # Arrow buffers ahead: freed, they leave the process (memory.py)
    with tempfile.TemporaryDirectory(dir=scratch_dir()) as tmp:
        staged: list[str] = []
        source_rows = 0
        if outputs.sections:
            partials, rows, source_rows = summarise_chunk(
                ctx, outputs, query, stmt, source_url, reader
            )
            for name, partial in partials.items():
                staged.append(_write(partial, Path(tmp) / f"section-{name}.parquet"))
            if rows is not None:
                staged.append(_write(rows, Path(tmp) / "rows.parquet"))
        elif outputs.rows:
            part = Path(tmp) / rows_part_name(outputs)
            if outputs.rows_as == "csv":
                columns = report.row_columns
                source_rows = write_csv_part(stmt, columns, report.schema, source_url, reader, part)
            else:
                batches = read_batches(stmt, source_url, report.schema, reader)
                names = [c.name for c in report.row_columns]
                source_rows = write_batches((b.select(names) for b in batches), part)
            staged.append(str(part))
        size = sum(Path(local).stat().st_size for local in staged)
        for local in staged:
            storage.put_atomic(Path(local), f"{prefix}/{Path(local).name}", move=True)
        marker = Path(tmp) / DONE_MARKER
        marker.write_text(str(source_rows))
        storage.put_atomic(marker, f"{prefix}/{DONE_MARKER}")
    return PartRef(chunk, prefix, reused=False, rows=source_rows, size_bytes=size)


def summarise_chunk(
    ctx: ExportContext,
    outputs: OutputPlan,
    query: Select[Any],
    ordered: Select[Any],
    source_url: str,
    reader: str,
) -> tuple[dict[str, pl.DataFrame], pl.DataFrame | None, int]:
    """A chunk's partials, first rows and row count; PostgreSQL aggregates when it can.

    ``query`` is the chunk's query, ``ordered`` the same in row order. Otherwise every row
    is read and polars aggregates batch by batch.
    """
    grouped = server_sections(ctx.report, outputs, query, source_url, reader)
    if grouped is not None:
        return summarise_on_server(ctx.report, outputs, grouped, ordered, source_url)
    batches = read_batches(ordered, source_url, ctx.report.schema, reader)
    return summarise_batches(ctx, outputs, batches)


def server_sections(
    report: ReportSpec, outputs: OutputPlan, query: Select[Any], source_url: str, reader: str
) -> SectionsQuery | None:
    """The GROUPING SETS query that aggregates the chunk on the server, when there is one."""
    capped = not outputs.rows or outputs.rows_limit is not None  # first rows, not all
    if not capped or not postgres_does_the_work(source_url, reader):
        return None
    return sections_query(report, query, outputs.sections)


def summarise_on_server(
    report: ReportSpec,
    outputs: OutputPlan,
    grouped: SectionsQuery,
    ordered: Select[Any],
    source_url: str,
) -> tuple[dict[str, pl.DataFrame], pl.DataFrame | None, int]:
    """Every section computed in one GROUPING SETS pass; the first rows read apart."""
    result = read_frame(grouped.statement, source_url, {})
    rows = None
    if outputs.rows:
        first = read_frame(ordered.limit(outputs.rows_limit), source_url, report.schema)
        rows = first.select([c.name for c in report.row_columns])
    return grouped.partials(result, report), rows, grouped.source_rows(result)


def postgres_does_the_work(source_url: str, reader: str) -> bool:
    """Whether PostgreSQL formats CSV records and aggregates sections for this read."""
    return reader == "auto" and make_url(source_url).get_backend_name() == "postgresql"


def summarise_batches(
    ctx: ExportContext, outputs: OutputPlan, batches: Iterable[pl.DataFrame]
) -> tuple[dict[str, pl.DataFrame], pl.DataFrame | None, int]:
    """Partial aggregates of a chunk from its batches, its first rows, and its row count.

    Partials are mergeable, so each batch is aggregated as it arrives and the batch
    partials are merged at the end: memory holds a batch and small partials, not the chunk
    (a 250k-row chunk of a PDF summary held ~200 MB read whole).
    """
    report = ctx.report
    names = [c.name for c in report.row_columns]
    by_section: dict[str, list[pl.DataFrame]] = {name: [] for name in outputs.sections}
    heads: list[pl.DataFrame] = []
    kept = source_rows = 0
    for batch in batches:
        if batch.height == 0 and source_rows:
            continue
        source_rows += batch.height
        prepared = report.prepare(batch)
        for name, parts in by_section.items():
            parts.append(report.section(name).partial(prepared))
        if outputs.rows and (outputs.rows_limit is None or kept < outputs.rows_limit):
            head = batch.select(names)
            if outputs.rows_limit is not None:
                head = head.head(outputs.rows_limit - kept)
            heads.append(head)
            kept += head.height
    partials = {
        name: report.section(name).merge_partials(pl.concat(parts).lazy())
        for name, parts in by_section.items()
    }
    rows = pl.concat(heads) if outputs.rows and heads else None
    return partials, rows, source_rows


def _write(frame: pl.DataFrame, path: Path) -> str:
    frame.write_parquet(path, statistics=False)
    return str(path)


def write_batches(batches: Iterable[pl.DataFrame], path: Path) -> int:
    """Frames of one schema appended to one Parquet file as they come; their row count."""
    writer: pq.ParquetWriter | None = None
    rows = 0
    try:
        for batch in batches:
            table = batch.to_arrow()
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema, write_statistics=False)
            writer.write_table(table)
            rows += batch.height
    finally:
        if writer is not None:
            writer.close()
    return rows


def write_csv_part(
    stmt: Select[Any],
    columns: Sequence[ColumnSpec],
    schema: dict[str, Any],
    source_url: str,
    reader: str,
    path: Path,
) -> int:
    """The chunk's rows as finished CSV records (no header) in ``path``; their row count.

    PostgreSQL writes them itself (COPY ... CSV, tasks/postgres_csv.py) when every column
    can be written exactly as polars would; otherwise the rows are read and polars encodes
    them. ``reader="adbc"`` or ``"sqlalchemy"`` always takes the second way.
    """
    cells = (
        csv_cells_statement(stmt, columns) if postgres_does_the_work(source_url, reader) else None
    )
    if cells is not None:
        with path.open("wb") as fh:
            return copy_csv_records(cells, source_url, fh)
    map_large_blocks()
    return write_csv_batches(read_batches(stmt, source_url, schema, reader), columns, path)


def write_csv_batches(
    batches: Iterable[pl.DataFrame], columns: Sequence[ColumnSpec], path: Path
) -> int:
    """Frames appended to one file as finished CSV records (no header); their row count."""
    rows = 0
    with path.open("wb") as fh:
        for batch in batches:
            write_csv_records(batch, columns, fh)
            rows += batch.height
    return rows


def _run_name() -> str:
    return f"extract {task_run.parameters['chunk'].label}"


@task(
    name="extract",
    task_run_name=_run_name,
    cache_policy=NO_CACHE,
    retry_jitter_factor=0.5,
    retry_condition_fn=retry_on_transient,
)
def extract(job: JobRef, chunk: Chunk, outputs: OutputPlan) -> PartRef:
    """Extract one chunk to staging and count it towards the job's progress."""
    settings = get_settings()
    with logged_failure(f"extract {chunk.label}"):
        part, seconds = timed(
            lambda: extract_chunk(
                load_context(job.job_id),
                chunk,
                outputs,
                default_storage(),
                settings.source_url,
                settings.source_reader,
            )
        )
    if part.reused:
        run_logger().info(
            "chunk %s: reused from an earlier run (%s rows already staged)", chunk.label, part.rows
        )
        return part
    record_part_done(job_engine(), job.job_id, part.rows)
    run_logger().info(
        "chunk %s: %s rows, %s bytes staged in %.2f s (%s; %s rows estimated)",
        chunk.label,
        part.rows,
        part.size_bytes,
        seconds,
        attempt_note(),
        chunk.estimated_rows,
    )
    return part


def extract_with_retries(settings: Settings) -> Task[..., PartRef]:
    """``extract`` with the retries the settings ask for (read when a run starts)."""
    return extract.with_options(
        retries=settings.extract_retries,
        retry_delay_seconds=exponential_backoff(settings.extract_retry_delay_seconds),
    )
