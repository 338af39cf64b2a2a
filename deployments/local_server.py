"""The local Prefect server of the embedded stack: started once, shared by every process.

Nothing here imports prefect: the environment (PREFECT_HOME, PREFECT_API_URL) must be set
before prefect is first imported in a process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from report_exports.settings import Settings, get_settings, prefect_database_connection_url

# Flow-run processes hand memory back to the OS as soon as it is freed. Without this the
# memory freed after extraction stays mapped while rendering allocates anew (5M-row CSV:
# peak RSS 628 MB → 500 MB, and no slower). polars' jemalloc reads _RJEM_MALLOC_CONF,
# pyarrow switches to the system allocator, glibc keeps 2 arenas instead of 8 per core.
# jemalloc purges in the freeing thread, not in background threads: served flow runs are
# forks of a fork server (deployments/flow_processes.py), and a fork whose parent had
# jemalloc's background threads ran a small export's plan→publish in 0.5 s, not 0.2 s.
# The same values are in prefect.yaml for work-pool runs; an operator's own values win.
ALLOCATOR_ENV = {
    "_RJEM_MALLOC_CONF": "background_thread:false,dirty_decay_ms:0,muzzy_decay_ms:0",
    "ARROW_DEFAULT_MEMORY_POOL": "system",
    "MALLOC_ARENA_MAX": "2",
}


def prefect_environment(settings: Settings, api_url: str | None = None) -> dict[str, str]:
    """Environment variables every process of the stack runs with."""
    env = {
        "PREFECT_HOME": str(settings.prefect_home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "false",
        **ALLOCATOR_ENV,
    }
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


def is_healthy(api_url: str, timeout: float = 2.0) -> bool:
    """True when a Prefect server answers its health check at ``api_url``."""
    try:
        return httpx.get(f"{api_url.rstrip('/')}/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def start_server(settings: Settings, port: int, log_file: Path) -> subprocess.Popen[bytes]:
    """Start Prefect's server on loopback in the background; it outlives the caller.

    It is Prefect's own app, served by ``deployments.prefect_server`` (which adds a short
    ``Retry-After`` to the 503s of a busy SQLite database).
    """
    settings.prefect_home.mkdir(parents=True, exist_ok=True)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    env = {
        **prefect_environment(settings),
        **os.environ,
        "PREFECT_HOME": str(settings.prefect_home),
    }
    env.pop("PREFECT_API_URL", None)
    if settings.prefect_database_url:
        url = prefect_database_connection_url(settings.prefect_database_url)
        env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = url
    with log_file.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "deployments.prefect_server", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


CONFIGURED_PATIENCE_SECONDS = 15.0
"""How long a health check of a configured (or already running) server may take."""


def ensure_prefect_server(settings: Settings | None = None, *, wait_seconds: float = 90) -> str:
    """The API URL of a healthy Prefect server, starting ours if none is configured.

    Also exports PREFECT_HOME / PREFECT_API_URL into this process's environment so that
    prefect, imported afterwards, talks to that server instead of a temporary one.
    """
    settings = settings or get_settings()
    api_url = settings.prefect_api_url or f"http://127.0.0.1:{settings.prefect_port}/api"
    # A running server that is busy (its SQLite writing) may take seconds to answer.
    if not (is_healthy(api_url) or is_healthy(api_url, timeout=CONFIGURED_PATIENCE_SECONDS)):
        if settings.prefect_api_url:
            raise RuntimeError(f"the Prefect server at {api_url} does not answer")
        process = start_server(
            settings, settings.prefect_port, settings.var_dir / "log" / "prefect-server.log"
        )
        (settings.var_dir / "prefect-server.pid").write_text(str(process.pid))
        deadline = time.monotonic() + wait_seconds
        while not is_healthy(api_url):
            if process.poll() is not None or time.monotonic() > deadline:
                log = settings.var_dir / "log" / "prefect-server.log"
                raise RuntimeError(f"the Prefect server did not start; see {log}")
            time.sleep(0.5)
    for name, value in prefect_environment(settings).items():
        os.environ.setdefault(name, value)  # an operator's own choice wins
    os.environ["PREFECT_API_URL"] = api_url
    return api_url


def server_running(settings: Settings | None = None) -> bool:
    """Whether a Prefect server is configured or already answers on our port."""
    settings = settings or get_settings()
    api_url = settings.prefect_api_url or f"http://127.0.0.1:{settings.prefect_port}/api"
    return bool(settings.prefect_api_url) or is_healthy(api_url, timeout=0.5)


def stop_server(settings: Settings | None = None, *, wait_seconds: float = 10) -> bool:
    """Stop the server this project started (if its pid file is there) and wait for it.

    Its whole process group gets SIGTERM, and SIGKILL if still there after ``wait_seconds``.
    """
    settings = settings or get_settings()
    pid_file = settings.var_dir / "prefect-server.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text())
    pid_file.unlink()
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + wait_seconds
    while _group_alive(pid):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            break
        time.sleep(0.1)
    return True


def _group_alive(pgid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pgid, os.WNOHANG)  # reap it when this process started it
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
