"""What a user waits for: one account's report over a date range, request to file in hand.

The ``wait`` group. On a warm embedded stack (served deployment, API) over the PostgreSQL
source, each case is one enterprise account's ``full-v21`` report over a date range (CSV of
~130k and ~650k rows, and the PDF summary of the larger range), and every contender runs
it in rotated order, run after run:

- ``api``: POST → status reads succeeded → file downloaded, as ``curl -O`` asks for it
  (no compression); ``api-gzip``: the same, as browsers and httpx ask (gzip accepted);
- ``cli``: ``report-exports export`` as a whole process, handing the export to the stack;
  ``cli-local``: the same with ``--local`` (the flow in the command's own process);
- ``psql-cells``: psql writing ``COPY`` of the product's own cell SQL (the cells our CSV
  holds, formatted by the server) to a file; ``psql-raw``: the same rows' raw columns;
- ``copy-floor``: the cells' ``COPY`` read by psql and thrown away (the server's share:
  the physical floor of a CSV export).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.cases import (
    WHOLE_PERIOD,
    Case,
    daily_counts,
    day_near,
    ordered_statement,
    range_for_rows,
)
from benchmarks.measure import BenchError, Result, Sample, run_process

REPORT = "full-v21"
ACCOUNT = 3  # initech, the enterprise account of the demo (a range of up to 1096 days)
CSV_TARGETS = (130_000, 650_000)
CSV_CONTENDERS = ("api", "api-gzip", "cli", "cli-local", "psql-cells", "psql-raw", "copy-floor")
PDF_CONTENDERS = ("api", "cli")
CLI = str(Path(sys.executable).parent / "report-exports")


FIXED_CONTENDERS = ("api", "cli", "psql-cells")


def wait_cases(source_url: str) -> list[Case]:
    """The fixed cost (the day with fewest rows), the CSV cases nearest each target row
    count, and the PDF of the largest range."""
    params = {"env": "live"}
    counts = daily_counts(source_url, REPORT, params | WHOLE_PERIOD, ACCOUNT)
    day, few = day_near(counts, 1)
    cases = [_case("csv", {"from": day, "to": day}, few, source_url, FIXED_CONTENDERS, "fixed")]
    for target in CSV_TARGETS:
        window, rows = range_for_rows(counts, target)
        if rows not in (c.expected_rows for c in cases[1:]):  # a small source: one case
            cases.append(_case("csv", window, rows, source_url, CSV_CONTENDERS))
    cases.append(_case("pdf", window, rows, source_url, PDF_CONTENDERS))
    return cases


def _case(
    fmt: str, window: dict[str, str], rows: int, url: str, who: tuple[str, ...], key: str = ""
) -> Case:
    return Case(
        f"wait-{fmt}-{key or rows}",
        f"Waiting for {fmt.upper()} of {rows:,} rows (initech, {window['from']}..{window['to']})",
        url,
        REPORT,
        fmt,
        {"env": "live"} | window,
        ACCOUNT,
        who,
        rows,
        {"filter": f"account {ACCOUNT}, env live, v2.1, {window['from']}..{window['to']}"},
    )


def run_wait_cases(source_url: str, args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Start the stack on the source, then every case, ``args.runs`` times each."""
    from benchmarks.api_bench import start_bench_stack

    stack, keys, settings = start_bench_stack(source_url)
    work = settings.var_dir / "out"
    serve_pid = stack.processes[0].pid  # flow runs are forks under it
    outcomes: dict[str, dict[str, Any]] = {}
    try:
        headers = {"authorization": f"Bearer {keys['initech']['admin']}"}
        with httpx.Client(base_url=stack.api_url, headers=headers, timeout=600) as client:
            cases = wait_cases(source_url)
            for _ in range(2):  # the served process, the API's imports, the source's caches
                _api_export(client, cases[0], cases[0].params, serve_pid, gzip=False)
            for case in cases:
                print(f"{case.title}", flush=True)
                results = _run_case(case, args.runs, client, work, serve_pid)
                outcomes[case.key] = {"case": case.__dict__, "results": results}
    finally:
        stack.stop()
    return outcomes


def _run_case(
    case: Case, runs: int, client: httpx.Client, work: Path, serve_pid: int
) -> list[dict[str, Any]]:
    results = {c: Result(c) for c in case.contenders}
    order = list(case.contenders)
    for run in range(runs):
        for contender in order[run % len(order) :] + order[: run % len(order)]:
            sample = _sample(case, contender, client, work, serve_pid)
            results[contender].samples.append(sample)
            print(f"  {case.key} run {run + 1} {contender}: {sample.wall_s:.2f} s", flush=True)
    return [r.to_json() for r in results.values()]


def _sample(case: Case, contender: str, client: httpx.Client, work: Path, serve_pid: int) -> Sample:
    if contender.startswith("api"):
        return _api_export(client, case, case.params, serve_pid, gzip=contender == "api-gzip")
    log = work / "log" / f"{case.key}-{contender}.log"
    if contender.startswith("cli"):
        argv = [CLI, "export", "--report", REPORT, "--format", case.fmt, "--env", "live"]
        argv += ["--from", case.params["from"], "--to", case.params["to"]]
        argv += ["--account", str(case.account_id)]
        sample = run_process(
            [*argv, *(["--local"] if contender == "cli-local" else [])], dict(os.environ), log
        )
        shown = log.with_suffix(".out").read_text()
        if f"{case.expected_rows:,} rows" not in shown:
            raise BenchError(
                f"{case.key}: {contender} did not export {case.expected_rows:,} rows: {shown}"
            )
        return sample
    out = work / f"{case.key}-{contender}.csv"
    sample = run_process(_psql_argv(case, contender, out), dict(os.environ), log)
    if contender != "copy-floor":
        written = _lines(out) - 1
        out.unlink()
        if written != case.expected_rows:
            raise BenchError(f"{case.key}: {contender} wrote {written:,} rows")
    return sample


def _psql_argv(case: Case, contender: str, out: Path) -> list[str]:
    """psql running the case's COPY in a session set as our reads are; to ``out`` or nowhere."""
    from catalog.registry import get_report
    from tasks.postgres_csv import copy_statement, csv_cells_statement
    from tasks.source_reader import POSTGRES_READ_SETTINGS, libpq_url

    raw = ordered_statement(case)
    cells = csv_cells_statement(raw, get_report("verifyhuman", REPORT).row_columns)
    if cells is None:
        raise BenchError(f"{REPORT} has no cell SQL")
    stmt = raw if contender == "psql-raw" else cells
    copy = copy_statement(stmt).replace("(FORMAT csv)", "(FORMAT csv, HEADER)")
    settings = [a for n, v in POSTGRES_READ_SETTINGS.items() for a in ("-c", f"SET {n} = {v}")]
    target = "/dev/null" if contender == "copy-floor" else str(out)
    return [
        "sh",
        "-c",
        'exec "$@" > "$0"',
        target,
        "psql",
        libpq_url(case.source_url),
        "-X",
        "-q",
        *settings,
        "-c",
        copy,
    ]


def _lines(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(block.count(b"\n") for block in iter(lambda: fh.read(1 << 24), b""))


def _api_export(
    client: httpx.Client, case: Case, params: dict[str, Any], serve_pid: int, *, gzip: bool
) -> Sample:
    """POST → succeeded → downloaded; the row count checked on the job row."""
    from jobstore.store import get_job, job_engine

    body = {"report_type": REPORT, "format": case.fmt} | params
    with PeakSampler(serve_pid) as flow_runs:
        started = time.perf_counter()
        created = client.post("/api/reports/exports", json=body)
        created.raise_for_status()
        path = f"/api/reports/exports/{created.json()['id']}"
        while (status := client.get(path).json()["status"]) not in ("succeeded", "failed"):
            time.sleep(0.05)
    if status != "succeeded":
        raise BenchError(f"{case.key}: job {created.json()['id']} {status}")
    encoding = {"accept-encoding": "gzip" if gzip else "identity"}
    size = 0
    with client.stream("GET", f"{path}/download", headers=encoding) as answer:
        answer.raise_for_status()
        for block in answer.iter_raw():
            size += len(block)
    wall = time.perf_counter() - started
    job = get_job(job_engine(), int(created.json()["id"]))
    if params is case.params and job.row_count != case.expected_rows:
        raise BenchError(f"{case.key}: job {job.id} holds {job.row_count:,} rows")
    # The flow-run process's peak (the API process serving the download is not in it).
    return Sample(wall, flow_runs.peak_mb(), {"bytes_sent": size, "job_id": job.id})


class PeakSampler:
    """The peak RSS (VmHWM) of processes under ``root`` that start while it samples.

    The API's flow runs are forks of the stack's fork server (grandchildren of the serve
    process): their peak comes from /proc every 20 ms; VmHWM only grows, so a sample
    misses at most the process's last 20 ms.
    """

    def __init__(self, root: int) -> None:
        self.root = root
        self.before = set(self._descendants())
        self.peaks: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def peak_mb(self) -> float:
        """The largest peak of a process that started meanwhile, in MB."""
        return max(self.peaks.values(), default=0) / 1024

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            for pid in set(self._descendants()) - self.before:
                with contextlib.suppress(OSError, ValueError, IndexError):
                    status = Path(f"/proc/{pid}/status").read_text()
                    kb = int(status.split("VmHWM:")[1].split()[0])
                    self.peaks[pid] = max(self.peaks.get(pid, 0), kb)

    def _descendants(self) -> list[int]:
        found, todo = [], [self.root]
        while todo:
            pid = todo.pop()
            with contextlib.suppress(OSError):
                for task in Path(f"/proc/{pid}/task").iterdir():
                    kids = [int(k) for k in (task / "children").read_text().split()]
                    found += kids
                    todo += kids
        return found


def wait_table(entry: dict[str, Any]) -> list[str]:
    """One case: a row per contender, with its ratio to psql's cells and to the floor."""
    case = entry["case"]
    results = {r["contender"]: Result.from_json(r) for r in entry["results"]}
    base = results.get("psql-cells")
    floor = results.get("copy-floor")
    lines = [
        f"### {case['title']}",
        "",
        f"{case['expected_rows']:,} rows ({case['notes']['filter']}); whole request or "
        f"whole process as a user waits; measured {entry['meta']['date']}.",
        "",
        "| contender | s (min–max) | peak RSS MB | ÷ psql cells | ÷ COPY floor |",
        "|---|---|---|---|---|",
    ]
    for name, result in results.items():
        wall, (low, high) = result.median("wall_s"), result.spread()
        rss = result.median("peak_rss_mb")
        vs_base = f"{wall / base.median('wall_s'):.2f}" if base else "—"
        vs_floor = f"{wall / floor.median('wall_s'):.2f}" if floor else "—"
        lines.append(
            f"| {name} | {wall:.2f} ({low:.2f}–{high:.2f}) | {f'{rss:.0f}' if rss else '—'} "
            f"| {vs_base} | {vs_floor} |"
        )
    return [*lines, ""]


def wait_targets(cases: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """Issue 18's targets on what users wait for."""
    rows: list[tuple[str, str, bool]] = []
    if "wait-csv-fixed" in cases:
        cli = Result.from_json(
            next(r for r in cases["wait-csv-fixed"]["results"] if r["contender"] == "cli")
        )
        rows.append(
            (
                "CLI fixed cost (whole process, a day of "
                f"{cases['wait-csv-fixed']['case']['expected_rows']} rows) ≤ 1.5 s",
                f"{cli.median('wall_s'):.2f} s",
                cli.median("wall_s") <= 1.5,
            )
        )
    for key in sorted(k for k in cases if k.startswith("wait-csv-") and k != "wait-csv-fixed"):
        case, results = (
            cases[key]["case"],
            {r["contender"]: Result.from_json(r) for r in cases[key]["results"]},
        )
        psql = results["psql-cells"].median("wall_s")
        big = case["expected_rows"] >= 500_000
        for who, limit in (("api", 1.5 if big else 2.0), ("cli", 2.0)):
            if who == "cli" and not big or who not in results:
                continue
            ratio = results[who].median("wall_s") / psql
            rows.append(
                (
                    f"{who.upper()} CSV of {case['expected_rows']:,} rows ≤ {limit}× psql cells",
                    f"{ratio:.2f}× ({results[who].median('wall_s'):.2f} s vs {psql:.2f} s)",
                    ratio <= limit,
                )
            )
    for key in (k for k in cases if k.startswith("wait-pdf-")):
        api = Result.from_json(next(r for r in cases[key]["results"] if r["contender"] == "api"))
        rows.append(
            (
                f"PDF of {cases[key]['case']['expected_rows']:,} rows through the API ≤ 3 s",
                f"{api.median('wall_s'):.2f} s",
                api.median("wall_s") <= 3,
            )
        )
    return rows
