"""benchmarks/run.py at a tiny size: every contender runs and the table is written.

No timing is asserted (machines are noisy); only that the suite runs end to end.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.cases import Case
from benchmarks.contenders import installed
from benchmarks.run import without

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_tiny_run_writes_results_table(prefect_server: str, tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.md"
    args = ["--tiny", "--only", "csv,xlsx", "--backends", "sqlite"]
    args += ["--var-dir", str(tmp_path / "var"), "--out", str(out)]
    subprocess.run(
        [sys.executable, "-m", "benchmarks.run", *args], cwd=ROOT, check=True, timeout=300
    )

    stored = json.loads((tmp_path / "results.json").read_text())
    assert set(stored["cases"]) == {
        "csv-all-2000-sqlite",
        "csv-filtered-sqlite",
        "xlsx-all-2000-sqlite",
    }
    text = out.read_text()
    assert "## Targets" in text and "## Machines and runs" in text
    for row in ("ours (export-report flow)", "sqlite3", "duckdb-csv", "pandas-csv"):
        assert f"| {row} |" in text
    # The one-core deflate floor always; the bench-extra contenders where installed.
    xlsx_rows = ["polars-xlsx", "pandas-xlsx", "deflate-floor"]
    xlsx_rows += [c for c in ("rustpy-xlsx", "pyexcelerate-xlsx") if installed(c)]
    for row in xlsx_rows:
        assert f"| {row} |" in text
    assert "openpyxl and calamine read 2,000 rows" in text


@pytest.mark.slow
def test_tiny_api_run_measures_latency_phases_and_a_burst(tmp_path: Path) -> None:
    # Its own Prefect server: the session's stack serves the same deployment names and would
    # take the benchmark's runs.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "REPORT_EXPORTS_"))}
    out = tmp_path / "RESULTS.md"
    args = ["--tiny", "--only", "api,concurrent", "--backends", "sqlite"]
    args += ["--var-dir", str(tmp_path / "var"), "--out", str(out)]
    subprocess.run(
        [sys.executable, "-m", "benchmarks.run", *args], cwd=ROOT, env=env, check=True, timeout=600
    )

    cases = json.loads((tmp_path / "results.json").read_text())["cases"]
    latency, burst = cases["api-latency"]["api"], cases["api-concurrent"]["api"]
    assert latency["jobs"] == latency["succeeded"] == 2
    phases = ("launch_s", "poll_wait_s", "process_start_s", "flow_run_s", "flow_work_s")
    assert all(0 < latency[p] < latency["p50_s"] for p in phases), latency
    assert (burst["jobs"], burst["succeeded"], burst["failed"], burst["lost"]) == (3, 3, 0, 0)
    text = out.read_text()
    assert "### Concurrent small exports through the API" in text
    assert "| 3 | 0 | 0 | 0 |" in text


def test_skipped_baselines_leave_the_case_but_ours_stays() -> None:
    case = Case("k", "t", "sqlite:///x.db", "r", "csv", {}, 1, ("flow", "psql", "pandas-csv"))
    assert without(case, "pandas-csv,flow").contenders == ("flow", "psql")
    assert without(case, "").contenders == case.contenders


@pytest.mark.slow
@pytest.mark.postgres
def test_tiny_wait_run_times_every_way_a_user_waits(tmp_path: Path) -> None:
    from tests.postgres import server_url

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "REPORT_EXPORTS_"))}
    out = tmp_path / "RESULTS.md"
    args = ["--tiny", "--only", "wait", "--backends", "postgresql", "--pg-url", server_url()]
    args += ["--var-dir", str(tmp_path / "var"), "--out", str(out)]
    subprocess.run(
        [sys.executable, "-m", "benchmarks.run", *args], cwd=ROOT, env=env, check=True, timeout=600
    )

    cases = json.loads((tmp_path / "results.json").read_text())["cases"]
    keys = sorted(cases)
    assert keys[-1] == "wait-pdf-" + keys[0].removeprefix("wait-csv-"), keys
    assert "wait-csv-fixed" in cases
    contenders = {r["contender"] for r in cases[keys[0]]["results"]}
    assert contenders == {
        "api",
        "api-gzip",
        "cli",
        "cli-local",
        "psql-cells",
        "psql-raw",
        "copy-floor",
    }
    # The CLI handed its export to the running stack; cli-local ran the flow itself.
    jobs = sqlite3.connect(tmp_path / "var" / "jobs.db").execute(
        "SELECT launch_mode, count(*) FROM export_jobs WHERE requested_by = 'cli' "
        "AND state = 'succeeded' GROUP BY launch_mode"
    )
    assert dict(jobs.fetchall()) == {"deployment": 3, "local": 1}
    text = out.read_text()
    assert "## What a user waits for" in text
    assert "| CLI fixed cost" in text and "through the API ≤ 3 s" in text
    for row in ("api", "cli", "psql-cells", "copy-floor"):
        assert f"| {row} |" in text
