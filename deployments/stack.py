"""The embedded stack of ``report-exports up``: Prefect server, served flows, the API."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from deployments.local_server import ensure_prefect_server, is_healthy, stop_server
from report_exports.settings import Settings


@dataclass
class Stack:
    """Processes of the running stack (stopped in reverse order)."""

    settings: Settings
    api_url: str
    prefect_url: str
    started_server: bool
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def page_url(self) -> str:
        """The page for people (sign in with an API key)."""
        return f"{self.api_url}/ui/"

    def stop(self) -> None:
        """Stop everything this stack started."""
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        for process in reversed(self.processes):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        if self.started_server:
            stop_server(self.settings)


def _spawn(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)


def wait_for_deployment(prefect_url: str, name: str, timeout: float = 60) -> None:
    """Wait until the served deployment is registered on the server."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            response = httpx.get(f"{prefect_url}/deployments/name/{name}", timeout=2)
            if response.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"deployment {name} did not appear on {prefect_url}")


def wait_for_api(api_url: str, timeout: float = 60) -> None:
    """Wait until the API answers its health check."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{api_url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the API did not answer at {api_url}")


def start_api(settings: Settings, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """The API (uvicorn) on the settings' host and port, logging to var/log/api.log."""
    args = [sys.executable, "-m", "uvicorn", "api_shim.app:create_app", "--factory"]
    args += ["--host", settings.api_host, "--port", str(settings.api_port)]
    return _spawn([*args, "--log-level", "warning"], settings.var_dir / "log" / "api.log", env)


def start_stack(settings: Settings) -> Stack:
    """Prefect server (unless PREFECT_API_URL is set), served deployments and the API."""
    local_url = f"http://127.0.0.1:{settings.prefect_port}/api"
    started = not settings.prefect_api_url and not is_healthy(local_url)
    prefect_url = ensure_prefect_server(settings)
    stack = Stack(settings, f"http://{settings.api_host}:{settings.api_port}", prefect_url, started)
    env = dict(os.environ)
    logs = settings.var_dir / "log"
    try:
        stack.processes.append(
            _spawn([sys.executable, "-m", "deployments.serve"], logs / "serve.log", env)
        )
        wait_for_deployment(prefect_url, "export-report/export-report")
        stack.processes.append(start_api(settings, env))
        wait_for_api(stack.api_url)
    except BaseException:
        stack.stop()
        raise
    return stack
