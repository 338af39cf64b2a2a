"""benchmarks/run.py at a tiny size: every contender runs and the table is written.

No timing is asserted (machines are noisy); only that the suite runs end to end.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

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
    for row in ("polars-xlsx", "pandas-xlsx"):
        assert f"| {row} |" in text
    assert "openpyxl and calamine read 2,000 rows" in text
