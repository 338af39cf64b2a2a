"""Where the chunks of one export run: threads of the flow-run process, or a Dask cluster.

``REPORT_EXPORTS_TASK_RUNNER=threads`` (default) extracts ``chunk_workers`` chunks at once
in threads. ``dask`` sends each chunk task to a Dask cluster: the scheduler at
``REPORT_EXPORTS_DASK_ADDRESS``, or a local cluster of ``dask_workers`` processes started
for the run. Parts always go to shared storage (the same ``storage_url`` for every
process), so merge reads them wherever they were written.
"""

from __future__ import annotations

from typing import Any

from prefect.task_runners import ThreadPoolTaskRunner

from report_exports.settings import Settings


def chunk_task_runner(settings: Settings) -> Any:
    """The task runner the settings ask for."""
    if settings.task_runner == "dask":
        from prefect_dask import DaskTaskRunner

        if settings.dask_address:
            return DaskTaskRunner(address=settings.dask_address)
        return DaskTaskRunner(
            cluster_kwargs={
                "n_workers": settings.dask_workers,
                "threads_per_worker": 1,
                "processes": True,
                "dashboard_address": None,
            }
        )
    return ThreadPoolTaskRunner(max_workers=settings.chunk_workers)  # type: ignore[arg-type]
