"""What a flow-run process starts with, served or on a work pool: its environment, its imports."""

from __future__ import annotations

import os
import subprocess
import sys

import yaml

from deployments.local_server import ALLOCATOR_ENV, prefect_environment
from report_exports.settings import PROJECT_ROOT, get_settings


def test_work_pool_runs_get_the_same_allocator_settings_as_served_runs() -> None:
    config = yaml.safe_load((PROJECT_ROOT / "prefect.yaml").read_text())
    pool_env = config["definitions"]["work_pools"]["exports"]["job_variables"]["env"]
    assert {k: pool_env.get(k) for k in ALLOCATOR_ENV} == ALLOCATOR_ENV
    assert prefect_environment(get_settings()).items() >= ALLOCATOR_ENV.items()


def test_a_process_started_with_them_uses_the_system_allocator_for_arrow() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ALLOCATOR_ENV}
    probe = "import pyarrow as pa; print(pa.default_memory_pool().backend_name)"
    default = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True)
    tuned = subprocess.run(
        [sys.executable, "-c", probe], env=env | ALLOCATOR_ENV, capture_output=True
    )
    assert tuned.stdout.decode().strip() == "system"
    assert default.stdout.decode().strip() != "system"


def test_the_export_flow_loads_weasyprint_only_for_pdf_exports() -> None:
    probe = "import sys, flows.export_report; print('weasyprint' in sys.modules)"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], cwd=PROJECT_ROOT, capture_output=True, check=True
    )
    assert loaded.stdout.decode().strip() == "False"
