"""One contender producing one file, run as its own process by benchmarks/run.py.

    python -m benchmarks.contenders KIND SPEC_JSON

KIND is ``flow`` (our export-report flow, in this process, against the benchmark's Prefect
server), ``duckdb-csv``, ``pandas-csv``, ``polars-xlsx``, ``pandas-xlsx``, ``rustpy-xlsx``,
``pyexcelerate-xlsx`` or ``deflate-floor`` (zlib level 1 of a file on one core: the limit
beside the XLSX ratios). The last line printed is a JSON object (rows written, and for
``flow`` the flow-run timings). The parent measures the wall time and peak RSS of the whole
process (os.wait4). rustpy-xlsxwriter and pyexcelerate come with the ``bench`` extra
(``pip install -e '.[bench]'``); benchmarks/run.py leaves out a contender not installed.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

Spec = dict[str, Any]


def run_flow(spec: Spec) -> dict[str, Any]:
    """Our flow: create the job, run plan → extract → merge → render → publish → record."""
    from benchmarks.cases import register_bench_reports

    register_bench_reports()
    from catalog.registry import validate_request
    from cli.local_run import file_location, run_export_locally

    request = validate_request("verifyhuman", spec["report"], spec["format"], spec["params"])
    job = run_export_locally(request, spec["account_id"], poll_seconds=0.05)
    done = time.perf_counter()
    if job.state != "succeeded" or job.flow_run_id is None:
        raise SystemExit(f"job {job.id} ended {job.state}: {job.error_message}")
    out: dict[str, Any] = {
        "rows": job.row_count,
        "bytes": job.file_size_bytes,
        "path": file_location(job),
    }
    out |= flow_timings(spec["prefect_api_url"], job.flow_run_id)
    out["api_wait_s"] = time.perf_counter() - done
    return out


def flow_timings(api_url: str, flow_run_id: str, timeout: float = 30) -> dict[str, Any]:
    """Seconds per stage from the task runs' timestamps (state events land asynchronously)."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        runs = httpx.post(
            f"{api_url}/task_runs/filter",
            json={"flow_runs": {"id": {"any_": [flow_run_id]}}, "limit": 200},
            timeout=10,
        ).json()
        stages = _stage_spans(runs)
        if "publish" in stages and "plan" in stages or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if "publish" not in stages or "plan" not in stages:
        raise SystemExit(f"flow run {flow_run_id}: task runs never showed plan and publish")
    flow_run = httpx.get(f"{api_url}/flow_runs/{flow_run_id}", timeout=10).json()
    return {
        "flow_work_s": stages["publish"][1] - stages["plan"][0],
        "flow_run_s": float(flow_run.get("total_run_time") or 0.0),
        "stages_s": {name: end - start for name, (start, end) in stages.items()},
    }


def _stage_spans(task_runs: list[dict[str, Any]]) -> dict[str, tuple[float, float]]:
    """(first start, last end) of each task name (``extract`` covers every chunk)."""
    from datetime import datetime

    spans: dict[str, tuple[float, float]] = {}
    for run in task_runs:
        if not run.get("start_time") or not run.get("end_time"):
            continue
        name = run["task_key"].split("-")[0]
        start = datetime.fromisoformat(run["start_time"]).timestamp()
        end = datetime.fromisoformat(run["end_time"]).timestamp()
        low, high = spans.get(name, (start, end))
        spans[name] = (min(low, start), max(high, end))
    return spans


def run_duckdb_csv(spec: Spec) -> dict[str, Any]:
    """DuckDB's postgres or sqlite scanner: ``COPY (query) TO file``."""
    connection = duckdb_on(spec["source_url"])
    connection.execute(f"COPY ({spec['sql']}) TO '{spec['out']}' (FORMAT csv, HEADER)")
    return {}


def duckdb_on(source_url: str) -> Any:
    """A DuckDB connection with the source attached (read-only) as its default catalog.

    The scanner extensions come from the PyPI packages, loaded by path: DuckDB cannot
    download them here.
    """
    import duckdb

    url = make_url(source_url)
    postgres = url.get_backend_name() == "postgresql"
    extension = "postgres_scanner" if postgres else "sqlite_scanner"
    package = __import__(f"duckdb_extension_{extension}")
    folder = Path(str(package.__file__)).parent / "extensions" / f"v{duckdb.__version__}"
    connection = duckdb.connect()
    connection.execute(f"LOAD '{folder / f'{extension}.duckdb_extension'}'")
    if postgres:
        dsn = (
            f"host={url.host} port={url.port or 5432} user={url.username} "
            f"password={url.password} dbname={url.database}"
        )
        connection.execute(f"ATTACH '{dsn}' AS source (TYPE postgres, READ_ONLY)")
    else:
        connection.execute(f"ATTACH '{url.database}' AS source (TYPE sqlite, READ_ONLY)")
    connection.execute("USE source")
    return connection


def _pandas_frame(spec: Spec) -> Any:
    import pandas as pd
    from sqlalchemy import create_engine

    engine = create_engine(spec["source_url"])
    with engine.connect() as conn:
        return pd.read_sql(spec["sql"], conn)


def run_pandas_csv(spec: Spec) -> dict[str, Any]:
    """pandas ``read_sql`` (SQLAlchemy) then ``to_csv``."""
    frame = _pandas_frame(spec)
    frame.to_csv(spec["out"], index=False)
    return {"rows": len(frame)}


def run_pandas_xlsx(spec: Spec) -> dict[str, Any]:
    """pandas ``read_sql`` (SQLAlchemy) then ``to_excel`` with openpyxl."""
    frame = _pandas_frame(spec)
    frame.to_excel(spec["out"], index=False, engine="openpyxl")
    return {"rows": len(frame)}


def run_polars_xlsx(spec: Spec) -> dict[str, Any]:
    """polars ``read_database`` (ADBC, as our extract reads) then ``write_excel``."""
    frame = _polars_frame(spec)
    frame.write_excel(spec["out"])
    return {"rows": frame.height}


def _naive_utc(frame: Any) -> Any:
    """Timestamps with a time zone as naive UTC (Excel has no zones; ours writes UTC)."""
    import polars as pl

    zoned = [n for n, t in frame.schema.items() if isinstance(t, pl.Datetime) and t.time_zone]
    return frame.with_columns(pl.col(zoned).dt.replace_time_zone(None)) if zoned else frame


def run_rustpy_xlsx(spec: Spec) -> dict[str, Any]:
    """rustpy-xlsxwriter (Rust's rust_xlsxwriter) from the same ADBC read, typed cells."""
    from rustpy_xlsxwriter import FastExcel

    frame = _naive_utc(_polars_frame(spec))
    book = FastExcel(spec["out"]).format(datetime_format="yyyy-mm-dd hh:mm:ss", bold_headers=True)
    book.freeze(row=1, col=0).sheet("Export", frame.to_pandas()).save()
    return {"rows": frame.height}


def run_pyexcelerate_xlsx(spec: Spec) -> dict[str, Any]:
    """pyexcelerate from the same ADBC read: rows of Python values, typed cells."""
    from pyexcelerate import Workbook

    frame = _naive_utc(_polars_frame(spec))
    book = Workbook()
    book.new_sheet("Export", data=[frame.columns, *frame.iter_rows()])
    book.save(spec["out"])
    return {"rows": frame.height}


def run_deflate_floor(spec: Spec) -> dict[str, Any]:
    """zlib level 1 (as our zip entries) over ``spec["xml"]`` on one core, output discarded."""
    import zlib

    compressor = zlib.compressobj(1, zlib.DEFLATED, -15)
    with open(spec["xml"], "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            compressor.compress(block)
    compressor.flush()
    return {"rows": spec["rows"]}


def _polars_frame(spec: Spec) -> Any:
    import polars as pl

    url = make_url(spec["source_url"])
    if url.get_backend_name() == "postgresql":
        import adbc_driver_postgresql.dbapi as adbc

        target = url.set(drivername="postgresql").render_as_string(hide_password=False)
    else:
        import adbc_driver_sqlite.dbapi as adbc  # type: ignore[no-redef]

        target = url.database or ""
    with adbc.connect(target) as conn:
        return pl.read_database(spec["sql"], conn)


KINDS: dict[str, Callable[[Spec], dict[str, Any]]] = {
    "flow": run_flow,
    "duckdb-csv": run_duckdb_csv,
    "pandas-csv": run_pandas_csv,
    "pandas-xlsx": run_pandas_xlsx,
    "polars-xlsx": run_polars_xlsx,
    "rustpy-xlsx": run_rustpy_xlsx,
    "pyexcelerate-xlsx": run_pyexcelerate_xlsx,
    "deflate-floor": run_deflate_floor,
}
# Contenders that need a module outside the test extra: left out when it is not installed.
OPTIONAL_MODULES = {"rustpy-xlsx": "rustpy_xlsxwriter", "pyexcelerate-xlsx": "pyexcelerate"}


def installed(contender: str) -> bool:
    """Whether a contender can run here (its optional module is importable)."""
    from importlib.util import find_spec

    module = OPTIONAL_MODULES.get(contender)
    return module is None or find_spec(module) is not None


def main(argv: list[str]) -> None:
    """Run one contender and print its JSON result line."""
    kind, spec = argv[0], json.loads(argv[1])
    print(json.dumps(KINDS[kind](spec)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
