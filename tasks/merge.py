"""merge: parts in chunk order; partial aggregates combined into finished tables."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
from prefect import task
from prefect.cache_policies import NO_CACHE

from storage.files import Storage, default_storage, scratch_dir, staging_prefix
from tasks.extract import DONE_MARKER, PartRef, rows_part_name
from tasks.job_context import ExportContext, JobRef, load_context
from tasks.plan import ExportPlan, global_order
from tasks.run_log import logged_failure, run_logger, timed


@dataclass(frozen=True)
class MergedExport:
    """Staging keys of what render reads."""

    rows_keys: tuple[str, ...] = ()
    sections: dict[str, str] = field(default_factory=dict)
    source_rows: int = 0
    rows_as: str = "parquet"  # what the rows files hold: "parquet" or finished "csv" records


def scan(storage: Storage, keys: Sequence[str]) -> pl.LazyFrame:
    """A lazy frame over staged Parquet files, in the given order."""
    return storage.scan_parquet(keys)


def merge_parts(
    ctx: ExportContext, export_plan: ExportPlan, parts: Sequence[PartRef], storage: Storage
) -> MergedExport:
    """Combine the staged parts of every chunk (memory bounded by a batch, not the export)."""
    ordered = sorted(parts, key=lambda p: p.chunk.index)
    source_rows = 0
    for part in ordered:
        source_rows += int(storage.read_text(f"{part.prefix}/{DONE_MARKER}").strip() or 0)
    merged_prefix = f"{staging_prefix(ctx.ref.job_id)}/merged"
    rows_keys: tuple[str, ...] = ()
    sections: dict[str, str] = {}
    with tempfile.TemporaryDirectory(dir=scratch_dir()) as tmp:
        if export_plan.outputs.rows:
            part_name = rows_part_name(export_plan.outputs)
            rows_keys = tuple(f"{p.prefix}/{part_name}" for p in ordered)
            order = global_order(ctx.report, ctx.params)
            if order:
                local = Path(tmp) / "rows.parquet"
                scan(storage, rows_keys).sort(
                    [k.column for k in order],
                    descending=[k.descending for k in order],
                    nulls_last=True,
                    maintain_order=True,
                ).sink_parquet(local)
                storage.put_atomic(local, f"{merged_prefix}/rows.parquet", move=True)
                rows_keys = (f"{merged_prefix}/rows.parquet",)
        for name in export_plan.outputs.sections:
            spec = ctx.report.section(name)
            table = spec.combine(
                scan(storage, [f"{p.prefix}/section-{name}.parquet" for p in ordered])
            )
            if ctx.report.refine is not None and name == ctx.report.tabular_output:
                table = ctx.report.refine(ctx.params, table)
            local = Path(tmp) / f"section-{name}.parquet"
            table.write_parquet(local)
            sections[name] = f"{merged_prefix}/section-{name}.parquet"
            storage.put_atomic(local, sections[name])
    return MergedExport(
        rows_keys=rows_keys,
        sections=sections,
        source_rows=source_rows,
        rows_as=export_plan.outputs.rows_as,
    )


@task(name="merge", task_run_name="merge", cache_policy=NO_CACHE)
def merge(job: JobRef, export_plan: ExportPlan, parts: list[PartRef]) -> MergedExport:
    """Merge the parts of every chunk in order."""
    with logged_failure("merge"):
        merged, seconds = timed(
            lambda: merge_parts(load_context(job.job_id), export_plan, parts, default_storage())
        )
    run_logger().info(
        "merge: %s parts (%s reused), %s source rows, rows as %s in %s files, sections %s; %.2f s",
        len(parts),
        sum(p.reused for p in parts),
        merged.source_rows,
        merged.rows_as,
        len(merged.rows_keys),
        ", ".join(merged.sections) or "none",
        seconds,
    )
    return merged
