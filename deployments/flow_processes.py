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
pay for anew (``deployments/fork_server.py``, run by ``deployments.fork_preload``, the last
module it imports). And in the serving process, Prefect's settings are serialised for a run
once, not for every run (:func:`remember_settings_serialisation`).
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
    remember_settings_serialisation()
    return context


def remember_settings_serialisation() -> None:
    """Serialise each settings object for a run's environment once in this process.

    The runner hands every run the current settings twice, as environment variables and as
    a serialised context: dumping and walking Prefect's whole settings tree took ~50 ms of the
    runner's event loop per run (py-spy: 44% of the serving process's samples), on the way
    from Pending to Running. Both depend only on the settings object, which a process keeps
    (a changed setting is a new object, so it is serialised anew); the cache holds the
    objects it answered for, so an id is never reused under it.
    """
    import copy

    from prefect.context import SettingsContext
    from prefect.settings.base import PrefectBaseSettings

    if getattr(SettingsContext.serialize, "remembered", False):
        return
    serialize = SettingsContext.serialize
    to_env = PrefectBaseSettings.to_environment_variables
    made: dict[tuple[Any, ...], tuple[object, object, Any]] = {}

    def remembered(key: tuple[Any, ...], owners: tuple[object, object], make: Any) -> Any:
        hit = made.get(key)
        if hit is None or hit[0] is not owners[0] or hit[1] is not owners[1]:
            if len(made) > 256:  # a settings tree is ~30 objects
                made.clear()
            hit = made[key] = (*owners, make())
        return copy.deepcopy(hit[2])

    def settings_serialize(self: Any, include_secrets: bool = True) -> dict[str, Any]:
        key = ("context", id(self.settings), id(self.profile), include_secrets)
        owners = (self.settings, self.profile)
        return remembered(key, owners, lambda: serialize(self, include_secrets=include_secrets))

    def environment_variables(self: Any, *args: Any, **kwargs: Any) -> dict[str, str]:
        key = ("env", id(self), args, tuple(sorted(kwargs.items())))
        return remembered(key, (self, None), lambda: to_env(self, *args, **kwargs))

    settings_serialize.remembered = True  # type: ignore[attr-defined]
    SettingsContext.serialize = settings_serialize  # type: ignore[method-assign]
    PrefectBaseSettings.to_environment_variables = environment_variables  # type: ignore[method-assign]
