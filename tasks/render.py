"""render: the merged export as a CSV, XLSX or PDF file in local scratch space."""

from __future__ import annotations

import importlib
import secrets
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
from prefect import task
from prefect.cache_policies import NO_CACHE

from catalog.base import PdfContext
from catalog.registry import CONTENT_TYPES
from report_exports.errors import RenderError
from report_exports.file_modes import private_file
from report_exports.settings import get_settings
from storage.files import Storage, default_storage, scratch_dir
from tasks.job_context import ExportContext, JobRef, load_context
from tasks.merge import MergedExport, scan
from tasks.render_csv import concat_csv, render_csv
from tasks.render_xlsx import BATCH_ROWS, render_xlsx
from tasks.run_log import logged_failure, run_logger, timed


@dataclass(frozen=True)
class RenderedFile:
    """A finished file waiting to be published."""

    path: str
    filename: str
    content_type: str
    row_count: int
    sha256: str = ""  # when rendering already hashed the file (CSV parts joined)
    pages: int = 0  # PDF
    sheets: int = 0  # XLSX


def export_filename(ctx: ExportContext) -> str:
    """A server-made filename: report, its window when it has one, the job id."""
    window = ctx.params.window()
    span = ""
    if window is not None and window[1].year < 9999 and window[0].year > 1970:
        last = window[1] - timedelta(seconds=1)  # the window is half-open; name the last day
        span = f"_{window[0]:%Y%m%d}-{last:%Y%m%d}"
    env = getattr(ctx.params, "env", None)
    stem = "-".join(p for p in (ctx.report.file_stem or ctx.report.name, env) if p)
    return f"{stem}{span}_job{ctx.ref.job_id}.{ctx.ref.format}"


def account_label(account_id: int, name: str | None) -> str:
    """How the account is named on documents: its name in the job store, and its number."""
    return f"{name} (account {account_id})" if name else f"Account {account_id}"


def preload_renderer(fmt: str) -> threading.Thread | None:
    """Import the PDF renderer in the background (once a process) for a PDF export.

    WeasyPrint takes ~0.75 s to import (cffi reading Pango's declarations, its stylesheets),
    and it loads only for PDF exports. Callers start it as soon as they know the format:
    while chunks extract it competes with them for the cores and the GIL (a 1M-row summary:
    extract +0.5 s), so local runs start it before the flow run is even made.
    """
    if fmt != "pdf" or "tasks.render_pdf" in sys.modules:
        return None
    loader = threading.Thread(
        target=importlib.import_module, args=("tasks.render_pdf",), daemon=True
    )
    loader.start()
    return loader


def render_export(
    ctx: ExportContext, merged: MergedExport, storage: Storage, out_dir: Path
) -> RenderedFile:
    """Render the requested format from the staged, merged data."""
    settings = get_settings()
    fmt, report = ctx.ref.format, ctx.report
    path = out_dir / f"job-{ctx.ref.job_id}-{secrets.token_hex(4)}.{fmt}"
    digest = ""
    pages = sheets = 0
    sections = {name: storage.read_parquet(key) for name, key in merged.sections.items()}
    try:
        private_file(path)  # 0600 before a renderer opens it: truncating keeps the mode
        if fmt == "pdf":
            assert report.pdf is not None, f"{report.name} has no PDF layout"
            rows = (
                scan(storage, merged.rows_keys).head(settings.pdf_table_rows).collect()
                if merged.rows_keys
                else None
            )
            pdf_ctx = PdfContext(
                report=report,
                params=ctx.params,
                account=account_label(ctx.account_id, ctx.account_name),
                generated_at=datetime.now(UTC),
                table_rows=settings.pdf_table_rows,
                rows_total=merged.source_rows,
            )
            # WeasyPrint (~50 MB, a fifth of the import time) loads only for PDF exports.
            from tasks.render_pdf import render_pdf

            pages = render_pdf(report.pdf(pdf_ctx, sections, rows), path)
            count = merged.source_rows
        elif fmt == "csv" and merged.rows_as == "csv":
            # The chunks wrote finished records: the file is the header and the parts.
            parts = (storage.open_read(key) for key in merged.rows_keys)
            digest = concat_csv(parts, report.columns_for_tabular(), path)
            count = merged.source_rows
        else:
            frame = (
                scan(storage, merged.rows_keys)
                if report.tabular_output == "rows"
                else sections[report.tabular_output].lazy()
            )
            columns = report.columns_for_tabular()
            if fmt == "csv":
                count = render_csv(frame, columns, path)
            else:
                names = [c.name for c in columns]
                count = render_xlsx(
                    frame,
                    columns,
                    path,
                    sheet_title=report.display_name[:24],
                    max_rows_per_sheet=settings.xlsx_max_rows_per_sheet,
                    batches=storage.iter_parquet(merged.rows_keys, names, BATCH_ROWS)
                    if report.tabular_output == "rows"
                    else None,
                )
                sheets = max(1, -(-count // settings.xlsx_max_rows_per_sheet))
    except (OSError, ValueError, pl.exceptions.PolarsError) as exc:
        path.unlink(missing_ok=True)
        raise RenderError(f"could not render {fmt}: {exc}") from exc
    except BaseException:  # a storage failure reading parts, say: no half file left behind
        path.unlink(missing_ok=True)
        raise
    return RenderedFile(
        str(path), export_filename(ctx), CONTENT_TYPES[fmt], count, digest, pages, sheets
    )


@task(name="render", task_run_name="render {job.format}", cache_policy=NO_CACHE)
def render(job: JobRef, merged: MergedExport) -> RenderedFile:
    """Render the file of the job's format."""
    with logged_failure(f"render {job.format}"):
        rendered, seconds = timed(
            lambda: render_export(
                load_context(job.job_id), merged, default_storage(), scratch_dir()
            )
        )
    layout = {"pdf": f", {rendered.pages} pages", "xlsx": f", {rendered.sheets} sheets"}
    run_logger().info(
        "render %s: %s rows%s, %s bytes in %.2f s",
        job.format,
        rendered.row_count,
        layout.get(job.format, ""),
        Path(rendered.path).stat().st_size,
        seconds,
    )
    return rendered
