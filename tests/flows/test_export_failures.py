"""Faults: a transient chunk error is retried, a permanent one fails the job cleanly,
and running a failed job again only extracts the chunks that are missing.

Faults are raised at the driver boundary of the real source engine (a SQLAlchemy
``before_cursor_execute`` listener), so the real reader, Prefect retries and state hooks
all run.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy import exc as sa_exc

from catalog.registry import validate_request
from cli.local_run import run_export_locally
from jobstore.store import get_job, job_engine
from report_exports.database import engine_for
from report_exports.settings import get_settings
from storage.files import default_storage, staging_prefix
from tests.factories import DEC_END, DEC_START, DECEMBER, query, read_csv
from tests.factories import run_export as run_ok

pytestmark = pytest.mark.usefixtures("prefect_server", "demo_source")


class ChunkFaults:
    """Raises on chunk queries (the ones with ORDER BY) as long as ``plan`` says so."""

    def __init__(
        self,
        error: type[sa_exc.DBAPIError],
        message: str,
        times: int,
        only_chunk: int | None = None,
    ) -> None:
        self.error, self.message, self.times, self.only_chunk = error, message, times, only_chunk
        self.chunk_queries = 0
        self.raised = 0
        self._lock = threading.Lock()

    def __call__(self, conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "ORDER BY" not in statement:
            return  # planning queries pass
        with self._lock:
            self.chunk_queries += 1
            hit = self.only_chunk is None or self._is_chunk(parameters)
            if hit and self.raised < self.times:
                self.raised += 1
                raise self.error(statement, parameters, Exception(self.message))

    def _is_chunk(self, parameters: Any) -> bool:
        return self.only_chunk is not None and any(
            str(p).startswith(f"2025-12-{self.only_chunk:02d}") for p in parameters
        )


@pytest.fixture
def sqlalchemy_reader(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Read chunks through the SQLAlchemy engine, so that faults can be injected there."""
    monkeypatch.setenv("REPORT_EXPORTS_SOURCE_READER", "sqlalchemy")
    get_settings.cache_clear()
    engine = engine_for(get_settings().source_url)
    installed: list[ChunkFaults] = []

    def install(faults: ChunkFaults) -> ChunkFaults:
        event.listen(engine, "before_cursor_execute", faults)
        installed.append(faults)
        return faults

    yield install
    for faults in installed:
        if event.contains(engine, "before_cursor_execute", faults):
            event.remove(engine, "before_cursor_execute", faults)
    monkeypatch.delenv("REPORT_EXPORTS_SOURCE_READER")
    get_settings.cache_clear()


def _extract_runs(flow_run_id: str, expected: int) -> list[Any]:
    """The extract task runs of a flow run, once the server has recorded all of them.

    Prefect 3 records task runs from events, a moment after the flow run returns.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import TaskRunSort

    async def read() -> list[Any]:
        async with get_client() as client:
            return await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
                limit=200,
                sort=TaskRunSort.EXPECTED_START_TIME_ASC,
            )

    deadline = time.monotonic() + 30
    while True:
        runs = [r for r in asyncio.run(read()) if r.name.startswith("extract")]
        settled = len(runs) == expected and all(r.state and r.state.is_final() for r in runs)
        if settled or time.monotonic() > deadline:
            return runs
        time.sleep(0.5)


def test_a_chunk_that_fails_once_is_retried_and_the_job_succeeds(
    sqlalchemy_reader, demo_db_path
) -> None:
    faults = sqlalchemy_reader(ChunkFaults(sa_exc.OperationalError, "database is locked", 1))
    job, path = run_ok("verifyhuman", "full", "csv", DECEMBER)
    assert faults.raised == 1
    ((expected,),) = query(
        demo_db_path,
        """SELECT count(*) FROM verification_events WHERE
        account_id = 1 AND env = 'live' AND created_at >= ? AND created_at < ?""",
        DEC_START,
        DEC_END,
    )
    assert len(read_csv(path)[1]) == expected == job.row_count
    extracts = _extract_runs(job.flow_run_id, job.parts_total)
    assert len(extracts) == job.parts_total
    assert sorted(r.run_count for r in extracts)[-1] == 2, "one chunk ran twice"
    assert all(r.state.is_completed() for r in extracts)
    assert any(r.name.startswith("extract 0000 2025-12-01..12-") for r in extracts)


def test_a_permanent_failure_is_recorded_and_nothing_is_published(sqlalchemy_reader) -> None:
    faults = sqlalchemy_reader(ChunkFaults(sa_exc.ProgrammingError, "no such column: credits", 99))
    job = run_export_locally(validate_request("verifyhuman", "full", "csv", DECEMBER), 1)
    assert job.state == "failed"
    # Clients read what kind of failure it was; operators the source's own words.
    assert job.error_message == "The report's data source could not answer the report's query"
    assert "no such column: credits" in (job.error_detail or "")
    assert job.storage_key is None and job.file_size_bytes is None
    storage = default_storage()
    assert storage.list_keys(f"exports/account-1/job-{job.id}") == []
    runs = _extract_runs(job.flow_run_id, job.parts_total)
    assert runs and all(r.run_count == 1 for r in runs), "permanent errors are not retried"
    assert faults.raised >= 1


def test_running_a_failed_job_again_extracts_only_missing_chunks(
    sqlalchemy_reader, demo_db_path
) -> None:
    from flows.export_report import export_report

    faults = sqlalchemy_reader(
        ChunkFaults(sa_exc.ProgrammingError, "broken chunk", 99, only_chunk=15)
    )
    request = validate_request("verifyhuman", "full", "csv", DECEMBER)
    job = run_export_locally(request, 1)
    assert job.state == "failed" and job.parts_total and job.parts_total > 3
    staged = default_storage().list_keys(staging_prefix(job.id))
    done_before = sum(key.endswith("/_done") for key in staged)
    assert 0 < done_before < job.parts_total, "finished chunks stayed in staging"

    event.remove(engine_for(get_settings().source_url), "before_cursor_execute", faults)
    counter = sqlalchemy_reader(ChunkFaults(sa_exc.OperationalError, "unused", 0))
    state = export_report(job.id, return_state=True)  # what a retry of the flow run does
    assert state.is_completed()
    again = get_job(job_engine(), job.id)
    assert again.state == "succeeded" and again.parts_done == again.parts_total
    assert counter.chunk_queries == job.parts_total - done_before
    ((expected,),) = query(
        demo_db_path,
        """SELECT count(*) FROM verification_events WHERE
        account_id = 1 AND env = 'live' AND created_at >= ? AND created_at < ?""",
        DEC_START,
        DEC_END,
    )
    assert again.row_count == expected
    assert default_storage().list_keys(staging_prefix(job.id)) == [], "staging cleared"
