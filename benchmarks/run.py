"""The benchmark suite: our exports against psql, sqlite3, DuckDB, pandas and polars.

    .venv/bin/python -m benchmarks.run [--rows 1000000,5000000] [--runs 3] [--only csv,xlsx]
    .venv/bin/python -m benchmarks.run --tiny --out /tmp/RESULTS.md   # seconds, for the smoke test

Generates the demo source at each size in PostgreSQL (database ``rex_bench_<rows>`` on
``--pg-url``'s server) and SQLite (var/bench/sqlite-<rows>.db), once. Then, case by case,
runs every contender as its own process, alternating them run after run, and keeps the
wall time and peak RSS of each process (os.wait4) and, for our flow, the flow work (plan
start to publish end, from the Prefect task runs). ``api`` and ``concurrent`` start the
embedded stack (served flow, API) on the smallest PostgreSQL source. Results are merged
into benchmarks/results.json by case and benchmarks/RESULTS.md is written from it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.cases import (
    ALL_EVENTS,
    V21_ALL_ACCOUNTS,
    WHOLE_PERIOD,
    Case,
    daily_counts,
    literal_sql,
    ordered_statement,
    prepare_source,
    range_for_rows,
)
from benchmarks.measure import BenchError, Result, Sample, free_port, run_process
from deployments.local_server import ALLOCATOR_ENV
from report_exports.settings import PROJECT_ROOT

GROUPS = ("csv", "xlsx", "pdf", "api", "concurrent", "wait")
BASELINE_CLI = {"postgresql": "psql", "sqlite": "sqlite3"}
DEFAULT_PG = "postgresql+psycopg://postgres:postgres@127.0.0.1:5432/postgres"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options (``--tiny`` shrinks everything for a smoke run)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--rows", default="1000000,5000000", help="source sizes, comma-separated")
    parser.add_argument("--runs", type=int, default=3, help="runs of each contender (median)")
    parser.add_argument("--only", default=",".join(GROUPS), help=f"groups: {','.join(GROUPS)}")
    parser.add_argument("--backends", default="postgresql,sqlite", help="postgresql, sqlite")
    parser.add_argument("--pg-url", default=DEFAULT_PG, help="any database on the server")
    parser.add_argument("--var-dir", type=Path, default=PROJECT_ROOT / "var" / "bench")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "benchmarks" / "RESULTS.md")
    parser.add_argument("--api-jobs", type=int, default=20, help="sequential small exports")
    parser.add_argument("--concurrent", type=int, default=50, help="simultaneous small exports")
    parser.add_argument("--skip", default="", help="baselines to leave out, comma-separated")
    parser.add_argument("--note", default="", help="a sentence for RESULTS.md (e.g. the load)")
    parser.add_argument("--tiny", action="store_true", help="2,000 rows, 1 run, few API jobs")
    args = parser.parse_args(argv)
    if args.tiny:
        args.rows, args.runs, args.api_jobs, args.concurrent = "2000", 1, 2, 3
    args.sizes = sorted(int(n) for n in args.rows.split(","))
    args.groups = [g for g in args.only.split(",") if g]
    args.backend_list = [b for b in args.backends.split(",") if b]
    unknown = set(args.groups) - set(GROUPS)
    if unknown:
        parser.error(f"unknown groups: {', '.join(sorted(unknown))}")
    return args


def source_url(backend: str, rows: int, args: argparse.Namespace) -> str:
    """Where the demo source of that size lives."""
    from sqlalchemy.engine import make_url

    if backend == "sqlite":
        return f"sqlite:///{args.var_dir / f'sqlite-{rows}.db'}"
    url = make_url(args.pg_url).set(database=f"rex_bench_{rows}")
    return url.render_as_string(hide_password=False)


def build_cases(args: argparse.Namespace) -> list[Case]:
    """The cases of the groups asked for (sources are generated on the way)."""
    cases: list[Case] = []
    largest, one_million = args.sizes[-1], min(args.sizes, key=lambda n: abs(n - 1_000_000))
    filtered_rows = min(1_000_000, max(1, largest // 5))
    for backend in args.backend_list if "csv" in args.groups else ():
        baselines = ("flow", BASELINE_CLI[backend], "duckdb-csv", "pandas-csv")
        for rows in args.sizes:
            url = prepare_source(source_url(backend, rows, args), rows)
            cases.append(
                Case(
                    f"csv-all-{rows}-{backend}",
                    f"CSV, all {rows:,} rows, {backend}",
                    url,
                    ALL_EVENTS,
                    "csv",
                    WHOLE_PERIOD,
                    1,
                    baselines,
                    rows,
                )
            )
        url = prepare_source(source_url(backend, largest, args), largest)
        params = {"env": "live"}
        window, expected = range_for_rows(daily_counts(url, "full", WHOLE_PERIOD, 1), filtered_rows)
        cases.append(
            Case(
                f"csv-filtered-{backend}",
                f"CSV, filtered export of {largest:,}, {backend}",
                url,
                "full",
                "csv",
                params | window,
                1,
                baselines,
                expected,
                {"filter": f"account 1, env live, {window['from']}..{window['to']}"},
            )
        )
    pg = "postgresql" if "postgresql" in args.backend_list else args.backend_list[0]
    if "xlsx" in args.groups:
        url = prepare_source(source_url(pg, one_million, args), one_million)
        cases.append(
            Case(
                f"xlsx-all-{one_million}-{pg}",
                f"XLSX, all {one_million:,} rows, {pg}",
                url,
                ALL_EVENTS,
                "xlsx",
                WHOLE_PERIOD,
                1,
                ("flow", "rustpy-xlsx", "pyexcelerate-xlsx", "polars-xlsx", "pandas-xlsx"),
                one_million,
            )
        )
    if "pdf" in args.groups:
        url = prepare_source(source_url(pg, largest, args), largest)
        counts = daily_counts(url, V21_ALL_ACCOUNTS, WHOLE_PERIOD, 1)
        window, expected = range_for_rows(counts, filtered_rows)
        cases.append(
            Case(
                f"pdf-full-v21-{pg}",
                f"PDF full-v21 over {expected:,} rows, {pg}",
                url,
                V21_ALL_ACCOUNTS,
                "pdf",
                {"env": "live"} | window,
                1,
                ("flow",),
                expected,
                {"filter": f"all accounts, env live, v2.1, {window['from']}..{window['to']}"},
            )
        )
    return cases


def without(case: Case, skip: str) -> Case:
    """``case`` without the contenders named in ``skip`` (comma-separated) or not installed.

    Ours stays.
    """
    from benchmarks.contenders import installed

    left_out = set(skip.split(",")) - {"flow", ""}
    kept = tuple(c for c in case.contenders if c not in left_out and installed(c))
    return dataclasses.replace(case, contenders=kept)


def contender_argv(case: Case, contender: str, out: Path, env: dict[str, str]) -> list[str]:
    """The command line of one contender writing ``out``."""
    sql = literal_sql(ordered_statement(case), case.source_url)
    if contender == "psql":
        from tasks.source_reader import libpq_url

        return [
            "psql",
            libpq_url(case.source_url),
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            f"\\copy ({sql}) TO '{out}' WITH (FORMAT csv, HEADER)",
        ]
    if contender == "sqlite3":
        database = case.source_url.removeprefix("sqlite:///")
        return ["sqlite3", "-readonly", "-csv", "-header", database, f".once {out}", sql]
    spec: dict[str, Any] = {"source_url": case.source_url, "sql": sql, "out": str(out)}
    if contender == "deflate-floor":
        spec = {"xml": str(sheet_xml_path(case, out.parent)), "rows": case.expected_rows}
    if contender == "flow":
        spec = {
            "report": case.report,
            "format": case.fmt,
            "params": case.params,
            "account_id": case.account_id,
            "prefect_api_url": env["PREFECT_API_URL"],
        }
    return [sys.executable, "-m", "benchmarks.contenders", contender, json.dumps(spec)]


def rows_written(contender: str, sample: Sample, out: Path) -> int:
    """Data rows of the file a contender wrote (counted after the clock stopped)."""
    if "rows" in sample.info:
        return int(sample.info["rows"])
    if out.suffix == ".csv":
        with out.open("rb") as fh:
            lines = sum(block.count(b"\n") for block in iter(lambda: fh.read(1 << 24), b""))
        return lines - 1
    raise BenchError(f"{contender} reported no row count")


def run_case(case: Case, runs: int, env: dict[str, str], work: Path) -> list[Result]:
    """Every contender ``runs`` times, in rotated order, checking each file's row count."""
    results = {c: Result(c) for c in case.contenders}
    order = list(case.contenders)
    for run in range(runs):
        for contender in order[run % len(order) :] + order[: run % len(order)]:
            out = work / f"{case.key}-{contender}.{case.fmt}"
            out.unlink(missing_ok=True)
            child_env = env | {"REPORT_EXPORTS_SOURCE_URL": case.source_url}
            if contender != "flow":  # the allocator settings are our deployment's, not theirs
                child_env = {k: v for k, v in child_env.items() if k not in ALLOCATOR_ENV}
            argv = contender_argv(case, contender, out, child_env)
            sample = run_process(argv, child_env, work / "log" / f"{case.key}-{contender}.log")
            written = Path(sample.info.pop("path", out))
            rows = rows_written(contender, sample, written)
            if rows != case.expected_rows:
                raise BenchError(
                    f"{case.key}: {contender} wrote {rows:,} rows, not {case.expected_rows:,}"
                )
            sample.info["bytes"] = written.stat().st_size
            if case.fmt == "xlsx" and contender == "flow" and run == runs - 1:
                sample.info["readers"] = check_xlsx(written)
                save_sheet_xml(written, sheet_xml_path(case, work))
            written.unlink()
            _keep(results[contender], sample, case, run)
    if case.fmt == "xlsx" and sheet_xml_path(case, work).exists():
        # The physical limit beside the XLSX ratios: deflating our sheets' XML on one core.
        floor = results["deflate-floor"] = Result("deflate-floor")
        for run in range(runs):
            argv = contender_argv(case, "deflate-floor", work / "floor", env)
            log = work / "log" / f"{case.key}-deflate-floor.log"
            _keep(floor, run_process(argv, env, log), case, run)
        sheet_xml_path(case, work).unlink()
    return list(results.values())


def _keep(result: Result, sample: Sample, case: Case, run: int) -> None:
    result.samples.append(sample)
    print(
        f"  {case.key} run {run + 1} {result.contender}: {sample.wall_s:.2f} s, "
        f"{sample.peak_rss_mb:.0f} MB",
        flush=True,
    )


def sheet_xml_path(case: Case, work: Path) -> Path:
    """Where the XML of an XLSX case's sheets waits for the deflate floor."""
    return work / f"{case.key}-sheets.xml"


def save_sheet_xml(workbook: Path, target: Path) -> None:
    """Every worksheet's XML of ``workbook``, one after another, into ``target``."""
    import shutil
    import zipfile

    with zipfile.ZipFile(workbook) as archive, target.open("wb") as out:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/"):
                with archive.open(name) as sheet:
                    shutil.copyfileobj(sheet, out, 1 << 20)


def check_xlsx(path: Path) -> str:
    """Read our workbook back with openpyxl and calamine; both must see typed cells."""
    import openpyxl
    from python_calamine import CalamineWorkbook

    book = openpyxl.load_workbook(path, read_only=True)
    first = next(book.worksheets[0].iter_rows(min_row=2, max_row=2, values_only=True))
    book.close()
    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
    types = {type(v).__name__ for v in first if v is not None}
    if not {"int", "float", "datetime"} <= types or not isinstance(rows[1][0], int | float):
        raise BenchError(f"{path}: cells are not typed: {first}")
    return f"openpyxl and calamine read {len(rows) - 1:,} rows; types {sorted(types)}"


def main(argv: list[str] | None = None) -> None:
    """Run the suite, merge the results and write RESULTS.md."""
    args = parse_args(argv)
    args.var_dir = args.var_dir.resolve()
    os.environ["REPORT_EXPORTS_VAR_DIR"] = str(args.var_dir)
    os.environ.setdefault("REPORT_EXPORTS_PREFECT_PORT", str(free_port()))
    from benchmarks.report import load_results, machine_facts, write_results
    from deployments.local_server import ensure_prefect_server, stop_server
    from report_exports.settings import get_settings

    get_settings.cache_clear()
    settings = get_settings()
    started = not settings.prefect_api_url
    api_url = ensure_prefect_server(settings)
    env = dict(os.environ) | {"PREFECT_API_URL": api_url}
    command = shlex.join(["python", "-m", "benchmarks.run", *(argv or sys.argv[1:])])
    results_file = args.out.with_name("results.json")
    stored = load_results(results_file)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    meta = machine_facts(args.pg_url) | {"date": stamp, "command": command, "note": args.note}
    try:
        for case in build_cases(args):
            case = without(case, args.skip)
            print(f"{case.title} ({case.expected_rows:,} rows)", flush=True)
            results = run_case(case, args.runs, env, args.var_dir / "out")
            stored["cases"][case.key] = {
                "case": case.__dict__,
                "meta": meta,
                "results": [r.to_json() for r in results],
            }
            write_results(stored, results_file, args.out)
        if {"api", "concurrent"} & set(args.groups):
            from benchmarks.api_bench import run_api_cases

            pg = "postgresql" if "postgresql" in args.backend_list else args.backend_list[0]
            url = prepare_source(source_url(pg, args.sizes[0], args), args.sizes[0])
            for key, outcome in run_api_cases(url, args).items():
                stored["cases"][key] = {"api": outcome, "meta": meta}
            write_results(stored, results_file, args.out)
        if "wait" in args.groups:
            from benchmarks.wait_bench import run_wait_cases

            pg = "postgresql" if "postgresql" in args.backend_list else args.backend_list[0]
            url = prepare_source(source_url(pg, args.sizes[-1], args), args.sizes[-1])
            for key, outcome in run_wait_cases(url, args).items():
                stored["cases"][key] = outcome | {"meta": meta}
            write_results(stored, results_file, args.out)
    finally:
        if started:
            stop_server(settings)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
