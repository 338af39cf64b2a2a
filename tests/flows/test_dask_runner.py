"""Chunks of one export in parallel processes: Prefect's Dask task runner on a local cluster.

The parts go to the shared storage; the file equals the one the default thread runner
makes from the same request.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from distributed import Client, LocalCluster, get_task_stream
from prefect_dask import DaskTaskRunner

from catalog.registry import validate_request
from cli.local_run import file_location, run_export_locally
from flows.task_runners import chunk_task_runner
from report_exports.settings import Settings, get_settings
from tests.factories import read_csv, run_export

QUARTER = {"env": "live", "from": "2025-10-01", "to": "2025-12-31"}


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    """Two single-threaded worker processes (they inherit this session's settings)."""
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as local:
        yield local


def test_chunks_run_in_several_processes_and_the_file_is_the_same(
    prefect_server: str, demo_source: str, cluster: LocalCluster, monkeypatch
) -> None:
    request = validate_request("verifyhuman", "full-v21", "csv", QUARTER)
    # Read when the run starts: no option frozen into the flow when it was imported.
    monkeypatch.setenv("REPORT_EXPORTS_TASK_RUNNER", "dask")
    monkeypatch.setenv("REPORT_EXPORTS_DASK_ADDRESS", cluster.scheduler_address)
    get_settings.cache_clear()
    try:
        with Client(cluster.scheduler_address) as client, get_task_stream(client) as stream:
            job = run_export_locally(request, 1)
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert job.state == "succeeded", job.error_message
    assert job.parts_total is not None and job.parts_total >= 6  # 200-row chunks in tests
    extract_workers = {t["worker"] for t in stream.data if "extract" in str(t["key"])}
    assert len(extract_workers) == 2, stream.data
    with Client(cluster.scheduler_address) as client:
        assert len(set(client.run(os.getpid).values())) == 2  # two processes, not threads

    _, threads_file = run_export("verifyhuman", "full-v21", "csv", QUARTER)
    assert read_csv(threads_file) == read_csv(Path(file_location(job)))


def test_settings_choose_the_runner() -> None:
    assert type(chunk_task_runner(Settings(task_runner="threads"))).__name__ == (
        "ThreadPoolTaskRunner"
    )
    remote = chunk_task_runner(Settings(task_runner="dask", dask_address="tcp://10.0.0.1:8786"))
    assert isinstance(remote, DaskTaskRunner) and remote.address == "tcp://10.0.0.1:8786"
    local = chunk_task_runner(Settings(task_runner="dask", dask_workers=3))
    assert local.cluster_kwargs["n_workers"] == 3
