"""``report-exports export`` as a whole process leaves no Prefect server behind.

With no server running, the CLI starts one for its export and stops it (its whole process
group) before it exits; with a server already running (a stack's), it uses that one and
leaves it running.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from deployments.local_server import is_healthy
from tests.conftest import _free_port

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).parent / "report-exports")
EXPORT = ["export", "--report", "full-v21", "--format", "csv", "--env", "live"]
EXPORT += ["--from", "2025-12-01", "--to", "2025-12-01"]


def _processes_mentioning(needle: str) -> list[int]:
    """Pids whose command line contains ``needle`` (this test's own processes excluded)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if needle in cmdline:
            found.append(int(entry.name))
    return found


def _cli_env(var_dir: Path, source_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return env | {
        "REPORT_EXPORTS_VAR_DIR": str(var_dir),
        "REPORT_EXPORTS_SOURCE_URL": source_url,
        "PREFECT_HOME": str(var_dir / "prefect"),
        **extra,
    }


@pytest.mark.slow
def test_the_cli_stops_the_server_it_started(demo_source: str, tmp_path: Path) -> None:
    port = _free_port()
    env = _cli_env(tmp_path / "var", demo_source, REPORT_EXPORTS_PREFECT_PORT=str(port))
    done = subprocess.run(
        [CLI, *EXPORT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "succeeded" in done.stdout
    assert not is_healthy(f"http://127.0.0.1:{port}/api", timeout=1)
    assert _processes_mentioning(f"--port {port}") == []  # nothing of the server survives
    assert not (tmp_path / "var" / "prefect-server.pid").exists()


@pytest.mark.slow
def test_the_cli_uses_a_running_server_and_leaves_it_running(
    prefect_server: str, demo_source: str, tmp_path: Path
) -> None:
    env = _cli_env(
        tmp_path / "var",
        demo_source,
        PREFECT_API_URL=prefect_server,  # the setting prefect_api_url
        REPORT_EXPORTS_PREFECT_PORT=str(_free_port()),  # not where the server is
    )
    done = subprocess.run(
        [CLI, *EXPORT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Prefect API: {prefect_server}" in done.stdout
    assert is_healthy(prefect_server)
    assert not (tmp_path / "var" / "prefect-server.pid").exists()
