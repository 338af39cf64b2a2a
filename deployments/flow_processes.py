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
module it imports): Prefect's clients share one TLS context per CA file, the server's
version is checked once, the pydantic models Prefect builds on first use are built, the job
store's mappers are configured, its imported objects are frozen out of the garbage
collector, and Prefect's watch for outside suspension requests is left out of export runs.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import multiprocessing.context
import multiprocessing.forkserver
import os
import ssl
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
# Then what a run imports on its way (a small export's run imported them for ~0.1 s of
# CPU): Prefect's engines, artifacts and the graph support a task call asks for, anyio's
# asyncio backend, the surfaces (a job's webhook event is rendered as its surface shows it).
# And the PDF renderer: WeasyPrint took ~0.65 s of CPU to import in every PDF run, while the
# chunks and the database needed both cores; imported once here, its pages are shared by
# every fork (a run's RSS counts them, its own memory does not grow).
PRELOAD = (
    "flows.export_report",
    "flows.cleanup_expired",
    "flows.reconcile_exports",
    "flows.recurring_export",
    "flows.deliver_webhooks",
    "adbc_driver_manager",
    "adbc_driver_postgresql",
    "adbc_driver_sqlite",
    "psycopg",
    "psycopg2",
    "sqlite3",
    "prefect.engine",
    "prefect.flow_engine",
    "prefect.task_engine",
    "prefect.artifacts",
    "prefect.utilities.visualization",
    "prefect.telemetry.run_telemetry",
    "prefect.concurrency.v1.context",
    "prefect._internal.attempt_control",
    "prefect._internal.control_listener",
    "anyio._backends._asyncio",
    "anyio.streams.memory",
    "anyio.streams.stapled",
    "anyio.streams.tls",
    "fsspec.implementations.chained",
    "surfaces.registry",
    "surfaces.links",
    "tasks.render_pdf",
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
    _share_prefect_tls_contexts()
    _check_server_version_once()
    _build_deferred_models()
    _configure_job_store_mappers()
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


class _SharedTLSContexts:
    """Stands in for the ``ssl`` module inside Prefect's client modules.

    Each Prefect client (a run makes a sync one, an async one, the events client and the
    server version check) builds a TLS context from a CA bundle whatever the URL's scheme;
    reading the bundle cost a small run ~0.18 s of CPU. Here one context per CA file is
    made, in the fork server, and every client of every forked run shares it (an SSLContext
    may serve many connections). Only Prefect's modules see the stand-in; a context made
    with ``cadata`` is made anew, and nothing else in the process is touched.
    """

    def __init__(self) -> None:
        self._made: dict[tuple[object, str | None, str | None], ssl.SSLContext] = {}

    def create_default_context(
        self,
        purpose: ssl.Purpose = ssl.Purpose.SERVER_AUTH,
        *,
        cafile: str | None = None,
        capath: str | None = None,
        cadata: str | bytes | None = None,
    ) -> ssl.SSLContext:
        """One shared context per (purpose, cafile, capath)."""
        if cadata is not None:
            return ssl.create_default_context(purpose, cafile=cafile, capath=capath, cadata=cadata)
        key = (purpose, cafile, capath)
        if key not in self._made:
            self._made[key] = ssl.create_default_context(purpose, cafile=cafile, capath=capath)
        return self._made[key]

    def __getattr__(self, name: str) -> Any:
        return getattr(ssl, name)


PREFECT_TLS_MODULES = (
    "prefect.client.orchestration",
    "prefect._internal.version_checking",
    "prefect._internal.websockets",
)


def _share_prefect_tls_contexts() -> None:
    import importlib

    shared = _SharedTLSContexts()
    for name in PREFECT_TLS_MODULES:
        module = importlib.import_module(name)
        if getattr(module, "ssl", None) is not ssl:
            logger.warning("%s no longer uses the ssl module as expected", name)
            continue
        module.ssl = shared  # type: ignore[attr-defined]
    # Made now, in the fork server, so that no forked run reads the CA bundle.
    import certifi

    shared.create_default_context(cafile=certifi.where())


def _check_server_version_once() -> None:
    """Prefect's clients check the server's version once a process; forked runs inherit the
    fork server's check instead of each making its own request first."""
    from prefect._internal.version_checking import check_server_version

    api_url = os.environ.get("PREFECT_API_URL")
    if not api_url:
        return
    try:
        asyncio.run(check_server_version(api_url, logger, raise_on_error=False))
    except Exception:  # a server that answers later: each run checks for itself
        logger.warning("the Prefect server's version was not checked in the fork server")


def _build_deferred_models() -> int:
    """Build the schemas of pydantic models that defer it to their first use; how many.

    Prefect's client models (a flow run, a task run, a state update, an artifact) build
    their validators the first time a process uses them: each forked run paid ~40 ms for
    the same few, one after another on its way to Running. Built here, once (0.2 s for
    every model imported), every fork has them.
    """
    import pydantic

    def subclasses(cls: type) -> Iterator[type]:
        sub: type
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    built = 0
    for model in set(subclasses(pydantic.BaseModel)):
        if type(model.__dict__.get("__pydantic_validator__")).__name__ != "MockValSer":
            continue
        try:
            model.model_rebuild(force=True)  # type: ignore[attr-defined]
            built += 1
        except Exception:  # a forward reference not importable here: built on first use
            logger.debug("model %s left to build on first use", model, exc_info=True)
    return built


def _configure_job_store_mappers() -> None:
    """Configure the job store's ORM mappers (each run's first query did it otherwise)."""
    from sqlalchemy.orm import configure_mappers

    import jobstore.models  # noqa: F401  (the mapped classes)

    configure_mappers()
