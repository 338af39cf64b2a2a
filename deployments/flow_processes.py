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

Before it forks anything, the fork server also settles what every flow run would otherwise
pay for anew (:func:`prepare_fork_server`, run by ``deployments.fork_preload``, the last
module it imports): its imported objects are frozen out of the garbage collector, and
Prefect's watch for outside suspension requests is left out of export runs.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import multiprocessing.context
import multiprocessing.forkserver
from collections.abc import Iterator
from contextlib import contextmanager
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
    "deployments.fork_preload",  # last: prepare_fork_server, after everything is imported
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


def prepare_fork_server() -> None:
    """Settle the fork server's process before it forks flow runs (see the module doc)."""
    _skip_suspension_watch()
    # The imports above made ~200k objects that no flow run frees. In the collector's
    # generations, each forked run's first full collection would walk them all and, by
    # touching them, copy the pages the fork shares; frozen, no child ever scans them.
    gc.collect()
    gc.freeze()


@contextmanager
def _no_suspension_watch(*_args: Any, **_kwargs: Any) -> Iterator[None]:
    yield


def _skip_suspension_watch() -> None:
    """Flow runs forked from here do not watch for suspension requests from outside.

    Prefect starts a thread per deployment run that subscribes to the run's events and
    waits for the subscription before the flow starts, then waits for the thread to stop
    after it ends, so that a run suspended from outside can exit. Our flows are never
    suspended (an operator cancels an export, or retries it); their runs skip that wait.
    """
    import inspect

    import prefect.flow_engine as engine

    setup = inspect.getsource(engine.FlowRunEngine.setup_flow_run_suspension_request)
    if "observe_flow_run_suspension(" not in setup:
        logger.warning("prefect.flow_engine no longer watches for suspension as expected")
        return
    engine.observe_flow_run_suspension = _no_suspension_watch  # type: ignore[assignment]
