"""What the fork server settles before it forks flow runs (``deployments.flow_processes``).

Run once by ``deployments.fork_preload``, the last module the fork server imports: every flow
run forked afterwards inherits the result instead of paying for it anew.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

logger = logging.getLogger(__name__)


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
