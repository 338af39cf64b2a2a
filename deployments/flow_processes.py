"""Flow-run processes of served deployments, forked from a warm fork server.

Prefect's runner starts every flow run of a served deployment as a ``spawn`` process: a
new interpreter that imports Prefect, polars, pyarrow, SQLAlchemy and the flow before it
can do anything (3.4 s of the 5.9 s a small export took through the API). Here the
runner gets multiprocessing's ``forkserver`` context instead: one server process imports
the flow modules once, when the served deployments start, and each flow run is a fork of
it, with every module already loaded. The fork server itself is single-threaded (it only
imported modules), so forking it is safe; each child then runs Prefect's own
``run_flow`` exactly as the spawned process did (same pickled call, environment,
heartbeats, control channel, signals and exit codes).

Prefect 3.8 asks for the context in one place, ``prefect.flow_engine``'s
``multiprocessing.get_context("spawn")``; ``use_warm_flow_processes`` points that module's
name at a stand-in that answers with the fork-server context. If a Prefect release moves
that call, the check below leaves Prefect alone (runs spawn as before) and says so.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.context
import multiprocessing.forkserver
from types import ModuleType
from typing import Any

logger = logging.getLogger(__name__)

# Imported once by the fork server: the flows the embedded stack serves, with every task
# module they load (polars, pyarrow, SQLAlchemy, xlsxwriter, Prefect itself), and what the
# tasks import only when they first read a source (the ADBC driver manager and drivers,
# SQLAlchemy's PostgreSQL dialect psycopg: 1.1 s of a small export's run when left out;
# psycopg2, which streams CSV exports of PostgreSQL by COPY).
# WeasyPrint stays out: it loads only for PDF exports (~50 MB a process).
PRELOAD = (
    "flows.export_report",
    "flows.cleanup_expired",
    "flows.reconcile_exports",
    "flows.recurring_export",
    "adbc_driver_manager",
    "adbc_driver_postgresql",
    "adbc_driver_sqlite",
    "psycopg",
    "psycopg2",
)


class _ForkServerMultiprocessing:
    """What ``prefect.flow_engine`` sees as ``multiprocessing``: contexts are fork-server."""

    def __init__(self, context: multiprocessing.context.ForkServerContext) -> None:
        self._context = context

    def get_context(self, method: str | None = None) -> multiprocessing.context.BaseContext:
        """The fork-server context, whatever start method is asked for."""
        return self._context

    def __getattr__(self, name: str) -> Any:
        return getattr(multiprocessing, name)


def _engine_module() -> ModuleType | None:
    import inspect

    import prefect.flow_engine as engine

    source = inspect.getsource(engine.run_flow_in_subprocess)
    if 'multiprocessing.get_context("spawn")' not in source:
        logger.warning(
            "prefect.flow_engine no longer asks multiprocessing for its context: "
            "flow runs start as spawned processes"
        )
        return None
    return engine


def use_warm_flow_processes(
    preload: tuple[str, ...] = PRELOAD,
) -> multiprocessing.context.ForkServerContext | None:
    """Start the fork server now (importing ``preload``) and make Prefect fork from it.

    Call it in the serving process after its environment is final: the fork server and
    every flow run forked from it inherit that environment (allocator settings too).
    Returns the context, or None when Prefect could not be switched.
    """
    engine = _engine_module()
    if engine is None:
        return None
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(preload))
    multiprocessing.forkserver.ensure_running()  # pay the imports now, not in the first run
    engine.multiprocessing = _ForkServerMultiprocessing(context)  # type: ignore[attr-defined]
    return context
