"""``report-exports export`` hands its export to a running stack that shares its job store.

Whole processes against the session's stack: the command makes the job, launches it on
the served deployment over HTTP and waits for the row, without importing Prefect; the
row, the flow run and the file are read back. ``--local`` (or another job store) runs
the flow in the command's own process, as before.
"""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
import textwrap

import httpx

from jobstore.store import get_job, job_engine
from storage.files import default_storage
from tests.conftest import ROOT

DAY = ["--from", "2025-12-02", "--to", "2025-12-02"]
EXPORT = ["export", "--report", "full-v21", "--format", "csv", "--env", "live", *DAY]
DRIVER = textwrap.dedent(
    """
    import atexit, sys
    atexit.register(lambda: print("prefect imported:", "prefect" in sys.modules))
    from cli.main import app
    app(sys.argv[1:])
    """
)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-c", DRIVER, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _job_id(stdout: str) -> int:
    found = re.search(r"Export job (\d+) succeeded", stdout)
    assert found, stdout
    return int(found.group(1))


def test_the_cli_hands_the_export_to_the_running_stack(stack, demo_db_path) -> None:
    done = _cli(*EXPORT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "prefect imported: False" in done.stdout
    assert "Prefect API:" not in done.stdout  # no server of its own, no flow run in-process
    job = get_job(job_engine(), _job_id(done.stdout))
    assert (job.state, job.launch_mode, job.requested_by) == ("succeeded", "deployment", "cli")
    assert job.launch_attempts == 1
    run = httpx.get(
        f"{os.environ['PREFECT_API_URL']}/flow_runs/{job.flow_run_id}", timeout=30
    ).json()
    deployment = httpx.get(
        f"{os.environ['PREFECT_API_URL']}/deployments/{run['deployment_id']}", timeout=30
    ).json()
    assert deployment["name"] == "export-report" and run["parameters"] == {"job_id": job.id}
    # The file it names is the export: the day's live v2.1 events of account 1.
    assert job.storage_key is not None
    text = default_storage().read_text(job.storage_key)
    rows = list(csv.reader(io.StringIO(text)))
    assert len(rows) - 1 == job.row_count > 0
    assert default_storage().path(job.storage_key) in done.stdout.replace("\n", "")


def test_local_runs_the_flow_in_the_command_itself(stack) -> None:
    done = _cli(*EXPORT, "--local")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "prefect imported: True" in done.stdout
    job = get_job(job_engine(), _job_id(done.stdout))
    assert (job.state, job.launch_mode) == ("succeeded", "local")
