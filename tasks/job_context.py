"""What every task needs to know about its job, loaded from the job row."""

from __future__ import annotations

from dataclasses import dataclass

from catalog.base import ReportParams, ReportSpec
from catalog.registry import get_report, parse_params
from jobstore.accounts import account_name
from jobstore.store import get_job, job_engine


@dataclass(frozen=True)
class JobRef:
    """The small, serialisable handle passed between tasks (and used in run names)."""

    job_id: int
    report_type: str
    format: str


@dataclass(frozen=True)
class ExportContext:
    """A job's report, typed parameters and owner."""

    ref: JobRef
    account_id: int
    account_name: str | None
    report: ReportSpec
    params: ReportParams


def load_context(job_id: int) -> ExportContext:
    """Read the job row and resolve its report and parameters."""
    engine = job_engine()
    job = get_job(engine, job_id)
    report = get_report(job.surface, job.report_type)
    return ExportContext(
        ref=JobRef(job.id, job.report_type, job.format),
        account_id=job.account_id,
        account_name=account_name(engine, job.account_id),
        report=report,
        params=parse_params(report, job.params),
    )
