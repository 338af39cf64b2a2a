"""benchmarks/results.json → benchmarks/RESULTS.md: ratios, targets, machine and versions."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.measure import Result

PACKAGES = (
    "polars",
    "prefect",
    "duckdb",
    "pandas",
    "openpyxl",
    "xlsxwriter",
    "weasyprint",
    "adbc-driver-postgresql",
    "psycopg",
    "sqlalchemy",
)
FLAT_RSS = 1.2  # "flat": the 5M export's peak RSS within 20% of the 1M export's

NOTES = """\
How to read this: every contender of a case writes the same rows in the same order (the
report's query with its filters and window, `ORDER BY created_at, id`, as our flow orders its
chunks) to a file, as its own process, run after run in rotated order; the numbers are
medians. *Whole process* is the wall time of that process from spawn to exit, and its peak
RSS comes from `os.wait4` (psql's and sqlite3's server side is not in it; neither is the
Prefect server our flow reports to). *Flow work* is our flow run from the start of `plan` to
the end of `publish`, from the task runs' timestamps in Prefect; our whole process also pays
for Python, Prefect's import and client, and the flow run's bookkeeping. Ratios are ours ÷
the baseline: below 1 we are faster. `bench-all-events` and `bench-full-v21-all-accounts` are
the catalog's `full-v21` report without its account filter (registered only inside the
benchmark's processes), so that an export can hold every row of the table."""

WAIT_NOTES = """\
One enterprise account's `full-v21` report over a date range, as its user waits for it, on a
warm embedded stack (`benchmarks/wait_bench.py`): `api` is POST → status succeeded → file
downloaded as `curl -O` asks (no compression), `api-gzip` the same as browsers ask; `cli` is
`report-exports export` as a whole process, which hands the export to the running stack;
`cli-local` runs the flow in its own process (`--local`). `psql-cells` is psql writing the
COPY of the product's own cell SQL (the very cells of our CSV) to a file, `psql-raw` the same
rows' raw columns, and `copy-floor` the cells' COPY thrown away by psql: the server's share,
below which no CSV export of these rows can go. All in one run, rotated, medians."""


def load_results(path: Path) -> dict[str, Any]:
    """What earlier runs stored (cases not measured again keep their numbers)."""
    return json.loads(path.read_text()) if path.exists() else {"cases": {}}


def machine_facts(pg_url: str) -> dict[str, Any]:
    """CPU, memory, load, software versions."""
    cpu = next(
        (line.split(":", 1)[1].strip() for line in _lines("/proc/cpuinfo") if "model name" in line),
        platform.processor(),
    )
    mem = next((line.split()[1] for line in _lines("/proc/meminfo") if "MemTotal" in line), "0")
    versions = {name: _version(name) for name in PACKAGES}
    versions["python"] = platform.python_version()
    versions["postgresql"] = _postgres_version(pg_url)
    versions["psql"] = _tool_version(["psql", "--version"])
    versions["sqlite3"] = _tool_version(["sqlite3", "--version"]).split(" ")[0]
    return {
        "machine": f"{cpu}, {os.cpu_count()} cores, {int(mem) / 1024**2:.0f} GiB, "
        f"Linux {platform.release()}",
        "load_at_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "versions": versions,
    }


def _lines(path: str) -> list[str]:
    try:
        return Path(path).read_text().splitlines()
    except OSError:
        return []


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "-"


def _tool_version(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "-"


def _postgres_version(pg_url: str) -> str:
    try:
        import psycopg
        from sqlalchemy.engine import make_url

        dsn = make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(dsn, connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            return str(row[0]) if row else "-"
    except Exception:  # the report is still written without it
        return "-"


def write_results(stored: dict[str, Any], json_path: Path, md_path: Path) -> None:
    """Save results.json and render RESULTS.md from it."""
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(stored, indent=1, sort_keys=True, default=str) + "\n")
    md_path.write_text(render_markdown(stored))


def render_markdown(stored: dict[str, Any]) -> str:
    """The whole RESULTS.md."""
    cases = stored["cases"]
    out = [
        "# Benchmark results",
        "",
        "Written by `benchmarks/run.py` from `benchmarks/results.json`;"
        " rerun with `make bench` (or the command under each table). Do not edit by hand.",
        "",
        NOTES,
        "",
        "## Targets",
        "",
        *targets_table(cases),
        "",
    ]
    metas = {json.dumps(c["meta"], sort_keys=True): c["meta"] for c in cases.values()}
    out += ["## Machines and runs", ""]
    for meta in metas.values():
        out += [
            f"- {meta['date']}: {meta['machine']}; load average at start "
            f"{meta['load_at_start']}. `{meta['command']}`"
        ]
        out += ["  " + ", ".join(f"{k} {v}" for k, v in sorted(meta["versions"].items()))]
        if meta.get("note"):
            out += [f"  {meta['note']}"]
    out.append("")
    for key in sorted(k for k in cases if "results" in cases[k] and not k.startswith("wait-")):
        out += case_table(cases[key])
    waits = sorted((cases[k]["case"]["expected_rows"], k) for k in cases if k.startswith("wait-"))
    if waits:
        from benchmarks.wait_bench import wait_table

        out += ["## What a user waits for", "", WAIT_NOTES, ""]
        for _, key in waits:
            out += wait_table(cases[key])
    for key in ("api-latency", "api-concurrent"):
        if key in cases:
            out += api_table(key, cases[key])
    analysis = Path(__file__).with_name("ANALYSIS.md")
    if analysis.exists():
        out += ["Where the time goes and what would close the gaps: `benchmarks/ANALYSIS.md`.", ""]
    return "\n".join(out)


def _results(entry: dict[str, Any]) -> dict[str, Result]:
    return {r["contender"]: Result.from_json(r) for r in entry["results"]}


def case_table(entry: dict[str, Any]) -> list[str]:
    """One case: a row per contender with medians and ratios."""
    case, results = entry["case"], _results(entry)
    ours = results.get("flow")
    lines = [f"### {case['title']}", ""]
    detail = case.get("notes", {}).get("filter", "")
    lines += [
        f"{case['expected_rows']:,} rows, `{case['report']}` as {case['fmt']}"
        + (f" ({detail})" if detail else "")
        + f"; measured {entry['meta']['date']}.",
        "",
    ]
    lines += [
        "| contender | whole process s (min–max) | flow work s | peak RSS MB "
        "| ours ÷ this, whole process | ours (flow work) ÷ this |",
        "|---|---|---|---|---|---|",
    ]
    for name, result in results.items():
        wall, (low, high) = result.median("wall_s"), result.spread()
        work = result.median("flow_work_s") if name == "flow" else None
        ratio = ratio_work = "—"
        if ours is not None and name != "flow":
            ratio = f"{ours.median('wall_s') / wall:.2f}"
            ratio_work = f"{ours.median('flow_work_s') / wall:.2f}"
        label = "ours (export-report flow)" if name == "flow" else name
        lines.append(
            f"| {label} | {wall:.2f} ({low:.2f}–{high:.2f}) | "
            f"{'—' if work is None else f'{work:.2f}'} | {result.median('peak_rss_mb'):.0f} | "
            f"{ratio} | {ratio_work} |"
        )
    if ours is not None:
        stages = ours.samples[-1].info.get("stages_s", {})
        shown = ", ".join(f"{k} {v:.2f}" for k, v in stages.items())
        lines += ["", f"Our last run by task (s, first start to last end): {shown}."]
        if readers := ours.samples[-1].info.get("readers"):
            lines += [f"Read back: {readers}."]
    return [*lines, ""]


def api_table(key: str, entry: dict[str, Any]) -> list[str]:
    """The API measurements."""
    api = entry["api"]
    if key == "api-latency":
        lines = [
            "### Small export through the API on a warm stack",
            "",
            f"{api['rows']:,} rows (`full`, acme, live, {api['day']}), CSV; "
            f"{api['succeeded']} of {api['jobs']} jobs succeeded; "
            f"measured {entry['meta']['date']}.",
            "",
            "| p50 s | p95 s | p99 s | slowest POST s | POST | POST → Scheduled "
            "| wait for runner poll | flow process start | flow run | of which plan→publish "
            "| status catches up | download |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        if "p50_s" in api:
            from benchmarks.api_bench import PHASES as phases

            lines.append(
                f"| {api['p50_s']:.2f} | {api['p95_s']:.2f} | {api.get('p99_s', 0):.2f} | "
                f"{api.get('post_max_s', 0):.2f} | "
                + " | ".join(f"{api.get(p, 0):.2f}" for p in phases)
                + " |"
            )
        lines += [
            "",
            "Totals are POST → succeeded → file downloaded. Phases are medians, from the flow "
            "run's Prefect state timestamps.",
        ]
        return [*lines, ""]
    return [
        "### Concurrent small exports through the API",
        "",
        f"{api['jobs']} exports POSTed at once ({api['rows']:,} rows each); measured "
        f"{entry['meta']['date']}.",
        "",
        "| succeeded | failed | lost | 'database is locked' in logs | all done after s "
        "| exports/min |",
        "|---|---|---|---|---|---|",
        f"| {api['succeeded']} | {api['failed']} | {api['lost']} | {api['locked']} | "
        f"{api['elapsed_s']:.1f} | {api['per_minute']:.1f} |",
        "",
    ]


def targets_table(cases: dict[str, Any]) -> list[str]:
    """Each target of issue 5 against this run's numbers."""
    rows: list[tuple[str, str, bool]] = []
    csv_cases = sorted(k for k in cases if k.startswith("csv-") and k.endswith("postgresql"))
    sizes = sorted((int(k.split("-")[2]), k) for k in csv_cases if k.startswith("csv-all-"))
    for size, key in sizes:
        rows += _csv_target(cases[key], 1.5 if size >= 5_000_000 else 2.0)
    if "csv-filtered-postgresql" in cases:
        rows += _csv_target(cases["csv-filtered-postgresql"], 2.0)
    if len(sizes) >= 2:
        small, large = (
            _results(cases[k])["flow"].median("peak_rss_mb") for _, k in (sizes[0], sizes[-1])
        )
        rows.append(
            (
                f"CSV peak RSS flat, {sizes[0][0]:,} → {sizes[-1][0]:,} rows",
                f"{small:.0f} → {large:.0f} MB ({large / small:.2f}×, goal ≤ {FLAT_RSS}×)",
                large / small <= FLAT_RSS,
            )
        )
    for key in (k for k in cases if k.startswith("xlsx-")):
        res = _results(cases[key])
        ours, polars = res["flow"], res.get("polars-xlsx")
        if polars is not None:
            speed = polars.median("wall_s") / ours.median("wall_s")
            rows.append(
                (
                    "XLSX ≥ 3× faster than polars write_excel (whole process)",
                    f"{speed:.2f}× ({ours.median('wall_s'):.1f} s "
                    f"vs {polars.median('wall_s'):.1f} s)",
                    speed >= 3,
                )
            )
        rss = ours.median("peak_rss_mb")
        rows.append(("XLSX peak RSS ≤ 300 MB", f"{rss:.0f} MB", rss <= 300))
        if (rustpy := res.get("rustpy-xlsx")) is not None:
            ratio = ours.median("wall_s") / rustpy.median("wall_s")
            rows.append(
                (
                    "XLSX faster than rustpy-xlsxwriter (whole process)",
                    f"{ratio:.2f}× ({ours.median('wall_s'):.1f} s "
                    f"vs {rustpy.median('wall_s'):.1f} s)",
                    ratio < 1,
                )
            )
        if (floor := res.get("deflate-floor")) is not None:
            deflate = floor.median("wall_s")
            render = statistics.median(s.info["stages_s"]["render"] for s in ours.samples)
            rows.append(
                (
                    "XLSX within 2× the one-core deflate floor (whole process; render stage)",
                    f"{ours.median('wall_s') / deflate:.2f}×; render {render / deflate:.2f}× "
                    f"({render:.2f} s vs {deflate:.2f} s)",
                    ours.median("wall_s") / deflate <= 2,
                )
            )
    for key in (k for k in cases if k.startswith("pdf-")):
        ours = _results(cases[key])["flow"]
        work, rss = ours.median("flow_work_s"), ours.median("peak_rss_mb")
        rows.append(
            (
                f"PDF full-v21 over {cases[key]['case']['expected_rows']:,} rows ≤ 5 s flow work",
                f"{work:.2f} s",
                work <= 5,
            )
        )
        rows.append(("PDF peak RSS ≤ 400 MB", f"{rss:.0f} MB", rss <= 400))
    if "api-latency" in cases and "p50_s" in cases["api-latency"]["api"]:
        api = cases["api-latency"]["api"]
        p50, p99, post = api["p50_s"], api.get("p99_s", api["p95_s"]), api.get("post_max_s", 0)
        rows += [
            ("API small export p50 ≤ 0.6 s, POST → file in hand", f"{p50:.2f} s", p50 <= 0.6),
            ("API small export p99 ≤ 1.5 s", f"{p99:.2f} s", p99 <= 1.5),
            ("API small export: no POST above 0.5 s", f"slowest {post:.2f} s", post <= 0.5),
        ]
    if "api-concurrent" in cases:
        api = cases["api-concurrent"]["api"]
        fine = api["succeeded"] == api["jobs"] and api["locked"] == 0
        rows.append(
            (
                f"{api['jobs']} concurrent exports: all succeed, none lost, not locked",
                f"{api['succeeded']} succeeded, {api['failed']} failed, {api['lost']} lost, "
                f"{api['locked']} locked",
                fine,
            )
        )
    if any(k.startswith("wait-") for k in cases):
        from benchmarks.wait_bench import wait_targets

        rows += wait_targets(cases)
    return ["| target | measured | met |", "|---|---|---|"] + [
        f"| {name} | {measured} | {'yes' if ok else '**no**'} |" for name, measured, ok in rows
    ]


def _csv_target(entry: dict[str, Any], limit: float) -> list[tuple[str, str, bool]]:
    res, title = _results(entry), entry["case"]["title"]
    ours, psql = res["flow"], res.get("psql")
    out = []
    if psql is not None:
        ratio = ours.median("flow_work_s") / psql.median("wall_s")
        out.append(
            (
                f"{title}: flow work ≤ {limit}× psql \\copy",
                f"{ratio:.2f}× ({ours.median('flow_work_s'):.2f} s "
                f"vs {psql.median('wall_s'):.2f} s)",
                ratio <= limit,
            )
        )
    rss = ours.median("peak_rss_mb")
    out.append((f"{title}: peak RSS ≤ 600 MB", f"{rss:.0f} MB", rss <= 600))
    return out
