"""The export-report flow end to end on the demo data, every report type and format.

Files are read back with independent readers (csv, openpyxl, calamine, pypdf) and compared
with plain SQL on the source.
"""

from __future__ import annotations

import math

import openpyxl
import pytest
from pypdf import PdfReader

from catalog.registry import CATALOGS
from tests.factories import DEC_END, DEC_START, DECEMBER, iso, query, read_csv, run_export, safe

pytestmark = pytest.mark.usefixtures("prefect_server", "demo_source")

VH_WHERE = "account_id = 1 AND env = 'live' AND created_at >= ? AND created_at < ?"


def close(a: str | float | None, b: float | None, tol: float = 1e-6) -> bool:
    if b is None:
        return a in ("", None)
    return math.isclose(float(a), float(b), rel_tol=tol, abs_tol=tol)  # type: ignore[arg-type]


def test_full_csv_holds_exactly_the_source_rows_in_order(demo_db_path) -> None:
    job, path = run_export("verifyhuman", "full", "csv", DECEMBER)
    header, rows = read_csv(path)
    expected = query(
        demo_db_path,
        f"""SELECT id, created_at, env, product, api_key_id,
        widget_id, outcome, risk_score, confidence, latency_ms, country, api_version
        FROM verification_events WHERE {VH_WHERE} ORDER BY created_at, id""",
        DEC_START,
        DEC_END,
    )
    assert header[:3] == ["Verification ID", "Created at (UTC)", "Environment"]
    assert "Credits" not in header
    assert len(rows) == len(expected) == job.row_count > 500
    assert job.parts_total is not None and job.parts_total > 3, "several chunks were planned"
    assert job.parts_done == job.parts_total
    for got, want in zip(rows, expected, strict=True):
        assert int(got[0]) == want[0] and got[1] == iso(want[1])
        assert got[2:7] == [safe(v) for v in want[2:7]]
        assert close(got[7], want[7]) and close(got[8], want[8]) and int(got[9]) == want[9]
    assert job.file_size_bytes == path.stat().st_size
    assert job.filename == path.name and job.filename.endswith(".csv")


def test_full_v21_csv_has_only_v21_rows_with_credits(demo_db_path) -> None:
    job, path = run_export("verifyhuman", "full-v21", "csv", DECEMBER)
    header, rows = read_csv(path)
    expected = query(
        demo_db_path,
        f"""SELECT id, credits FROM verification_events
        WHERE {VH_WHERE} AND api_version = 'v2.1' ORDER BY created_at, id""",
        DEC_START,
        DEC_END,
    )
    assert header[-1] == "Credits"
    assert [int(r[0]) for r in rows] == [e[0] for e in expected]
    assert all(close(r[-1], e[1]) for r, e in zip(rows, expected, strict=True))
    assert {r[header.index("API version")] for r in rows} == {"v2.1"}


def test_overview_csv_matches_sql_totals(demo_db_path) -> None:
    _, path = run_export("verifyhuman", "overview", "csv", DECEMBER)
    header, rows = read_csv(path)
    ((n, passed, failed, challenged, errors, risk, conf, lat, maxlat),) = query(
        demo_db_path,
        f"""SELECT count(*), sum(outcome='passed'), sum(outcome='failed'),
        sum(outcome='challenged'), sum(outcome='error'), avg(risk_score), avg(confidence),
        avg(latency_ms), max(latency_ms) FROM verification_events WHERE {VH_WHERE}""",
        DEC_START,
        DEC_END,
    )
    assert len(rows) == 1
    got = dict(zip(header, rows[0], strict=True))
    assert [int(got[k]) for k in ("Verifications", "Passed", "Failed", "Challenged", "Errors")] == [
        n,
        passed,
        failed,
        challenged,
        errors,
    ]
    assert close(got["Pass rate"], passed / n)
    assert close(got["Avg risk score"], round(risk, 2), 1e-9)
    assert close(got["Avg confidence"], round(conf, 2), 1e-9)
    assert close(got["Avg latency (ms)"], round(lat, 2), 1e-9)
    assert int(got["Max latency (ms)"]) == maxlat


def test_volume_csv_has_one_row_per_day(demo_db_path) -> None:
    _, path = run_export("verifyhuman", "volume", "csv", DECEMBER)
    _, rows = read_csv(path)
    expected = query(
        demo_db_path,
        f"""SELECT date(created_at), count(*), sum(outcome='passed')
        FROM verification_events WHERE {VH_WHERE} GROUP BY 1 ORDER BY 1""",
        DEC_START,
        DEC_END,
    )
    assert [(r[0], int(r[1]), int(r[2])) for r in rows] == expected
    assert len(rows) == 31


def test_usage_csv_matches_sql(demo_db_path) -> None:
    _, path = run_export("verifyhuman", "usage", "csv", DECEMBER)
    header, rows = read_csv(path)
    expected = query(
        demo_db_path,
        f"""SELECT product, api_key_id, count(*), avg(latency_ms)
        FROM verification_events WHERE {VH_WHERE} GROUP BY 1, 2 ORDER BY 1, 2""",
        DEC_START,
        DEC_END,
    )
    assert [(r[0], r[1], int(r[2])) for r in rows] == [e[:3] for e in expected]
    latency = header.index("Avg latency (ms)")
    assert all(close(r[latency], round(e[3], 2), 1e-9) for r, e in zip(rows, expected, strict=True))
    assert "Credits" not in header, "credits belong to the v2.1 reports"


def test_risk_summary_csv_matches_sql_bands(demo_db_path) -> None:
    _, path = run_export("verifyhuman", "risk-summary", "csv", DECEMBER)
    _, rows = read_csv(path)
    expected = dict(
        query(
            demo_db_path,
            f"""SELECT CASE WHEN risk_score < 25 THEN 0
        WHEN risk_score < 50 THEN 1 WHEN risk_score < 75 THEN 2 ELSE 3 END, count(*)
        FROM verification_events WHERE {VH_WHERE} GROUP BY 1""",
            DEC_START,
            DEC_END,
        )
    )
    bands = ["low (0–25)", "medium (25–50)", "high (50–75)", "critical (75–100)"]
    got = {bands.index(r[0]): int(r[1]) for r in rows}
    assert got == expected
    assert close(sum(float(r[2]) for r in rows), 1.0)


def test_widget_performance_csv_matches_sql(demo_db_path) -> None:
    _, path = run_export("verifyhuman", "widget-performance", "csv", DECEMBER)
    _, rows = read_csv(path)
    expected = query(
        demo_db_path,
        f"""SELECT widget_id, count(*), max(latency_ms)
        FROM verification_events WHERE {VH_WHERE} GROUP BY 1 ORDER BY 2 DESC""",
        DEC_START,
        DEC_END,
    )
    assert sorted((r[0], int(r[1]), int(r[-1])) for r in rows) == sorted(expected)


def test_verification_v21_csv_is_daily_v21_with_credits(demo_db_path) -> None:
    _, path = run_export("verifyhuman", "verification-v21", "csv", DECEMBER)
    header, rows = read_csv(path)
    expected = query(
        demo_db_path,
        f"""SELECT date(created_at), count(*), sum(credits)
        FROM verification_events WHERE {VH_WHERE} AND api_version = 'v2.1'
        GROUP BY 1 ORDER BY 1""",
        DEC_START,
        DEC_END,
    )
    assert [(r[0], int(r[1])) for r in rows] == [e[:2] for e in expected]
    assert all(close(r[header.index("Credits")], e[2]) for r, e in zip(rows, expected, strict=True))


@pytest.mark.parametrize("report", sorted(CATALOGS["verifyhuman"]))
def test_every_verifyhuman_report_renders_a_pdf(report: str, demo_db_path) -> None:
    job, path = run_export("verifyhuman", report, "pdf", DECEMBER)
    pdf = PdfReader(path)
    text = "\n".join(page.extract_text() for page in pdf.pages)
    ((total,),) = query(
        demo_db_path,
        f"SELECT count(*) FROM verification_events WHERE {VH_WHERE}"
        + (" AND api_version = 'v2.1'" if "v21" in report else ""),
        DEC_START,
        DEC_END,
    )
    assert f"{total:,}" in text, "the headline verification count is in the PDF"
    assert "2025-12-01" in text and "2025-12-31" in text and "live" in text
    assert f"Page 1 of {len(pdf.pages)}" in text
    assert ("Credits" in text) == ("v21" in report)
    assert job.content_type == "application/pdf" and path.read_bytes().startswith(b"%PDF-")
    if report.startswith("full"):
        for title in (
            "Volume over time",
            "Outcomes",
            "Usage by product",
            "Risk and confidence",
            "Widget performance",
            "Countries",
        ):
            assert title in text


def test_advertisers_csv_with_search_and_sort(demo_db_path) -> None:
    params = {
        "search_params": {"status": "active"},
        "index_params": {"sort": "name", "order": "desc"},
    }
    _, path = run_export("hienergy", "advertisers_csv", None, params)
    header, rows = read_csv(path)
    expected = query(
        demo_db_path,
        """SELECT id, name, domain FROM advertisers
        WHERE account_id = 1 AND status = 'active'""",
    )
    expected.sort(key=lambda r: r[0])
    expected.sort(key=lambda r: r[1], reverse=True)  # stable: ties keep id order
    assert header[:2] == ["Advertiser ID", "Name"]
    assert [(int(r[0]), r[1], r[2]) for r in rows] == [
        (i, safe(n), safe(d)) for i, n, d in expected
    ]


def test_deals_excel_matches_sql(demo_db_path) -> None:
    job, path = run_export("hienergy", "deals_excel", None, {})
    expected = query(
        demo_db_path,
        """SELECT d.id, a.name, d.title, d.discount_pct, d.starts_at,
        d.exclusive FROM deals d JOIN advertisers a ON a.id = d.advertiser_id
        WHERE d.account_id = 1 ORDER BY d.id""",
    )
    book = openpyxl.load_workbook(path, read_only=True)
    sheet = book.worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:4] == ("Deal ID", "Advertiser ID", "Advertiser", "Title")
    body = rows[1:]
    assert len(body) == len(expected) == job.row_count
    for got, (did, adv, title, disc, starts, excl) in zip(body, expected, strict=True):
        assert got[0] == did and got[2] == safe(adv) and got[3] == safe(title)
        assert isinstance(got[6], float | int) and close(got[6], disc)
        assert got[7].strftime("%Y-%m-%d %H:%M:%S") == starts
        assert got[9] is bool(excl)


def test_hot_advertisers_excel_matches_sql(demo_db_path) -> None:
    params = {"search_params": {"from": "2025-11-01", "to": "2025-12-31", "limit": 10}}
    _, path = run_export("hienergy", "hot_advertisers_excel", None, params)
    expected = query(
        demo_db_path,
        """SELECT c.advertiser_id, count(*), sum(c.converted),
        sum(c.revenue) FROM clicks c JOIN advertisers a ON a.id = c.advertiser_id
        WHERE c.account_id = 1 AND c.clicked_at >= '2025-11-01 00:00:00'
        AND c.clicked_at < '2026-01-01 00:00:00' GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10""",
    )
    from python_calamine import CalamineWorkbook

    sheet = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
    body = sheet[1:]
    assert [(int(r[0]), int(r[3]), int(r[4])) for r in body] == [e[:3] for e in expected]
    assert all(close(r[6], e[3], 1e-6) for r, e in zip(body, expected, strict=True))


def test_clicks_details_excel_matches_sql(demo_db_path) -> None:
    params = {"search_params": {"from": "2025-12-01", "to": "2025-12-07", "device": "mobile"}}
    _, path = run_export("hienergy", "clicks_details_excel", None, params)
    expected = query(
        demo_db_path,
        """SELECT id, clicked_at, converted, revenue FROM clicks
        WHERE account_id = 1 AND device = 'mobile' AND clicked_at >= '2025-12-01 00:00:00'
        AND clicked_at < '2025-12-08 00:00:00' ORDER BY clicked_at, id""",
    )
    sheet = openpyxl.load_workbook(path, read_only=True).worksheets[0]
    body = list(sheet.iter_rows(min_row=2, values_only=True))
    assert [r[0] for r in body] == [e[0] for e in expected] and len(body) > 10
    assert all(
        r[1].strftime("%Y-%m-%d %H:%M:%S") == e[1] for r, e in zip(body, expected, strict=True)
    )
    assert all(r[9] is bool(e[2]) for r, e in zip(body, expected, strict=True))


def test_webhook_message_log_csv_with_filters(demo_db_path) -> None:
    params = {
        "start_time": "2025-12-01T00:00:00Z",
        "end_time": "2025-12-06T23:59:59Z",
        "status": "failed_permanent",
        "direction": "outbound",
    }
    job, path = run_export("webhooks", "message-log", None, params)
    header, rows = read_csv(path)
    expected = query(
        demo_db_path,
        """SELECT id, created_at, endpoint_id FROM webhook_messages
        WHERE account_id = 1 AND status = 'failed_permanent' AND direction = 'outbound'
        AND created_at >= '2025-12-01 00:00:00' AND created_at <= '2025-12-06 23:59:59'
        ORDER BY created_at, seq""",
    )
    assert header[0] == "Message ID"
    assert [(r[0], r[1], r[3]) for r in rows] == [(i, iso(c), e) for i, c, e in expected]
    assert job.row_count == len(expected) > 0
    assert {r[header.index("Status")] for r in rows} == {"failed_permanent"}
