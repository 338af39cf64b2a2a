"""Bad input is refused before any job exists, with the field named."""

from __future__ import annotations

from datetime import datetime

import pytest

from catalog.registry import CATALOGS, validate_request
from report_exports.errors import UnknownReportError, ValidationError

DEC = {"env": "live", "from": "2025-12-01", "to": "2025-12-31"}
WH = {"start_time": "2025-12-01T00:00:00Z", "end_time": "2025-12-06T23:59:59Z"}


def _filter(report: str, name: str, value: object, says: str) -> tuple[object, ...]:
    """A case of a HiEnergy search filter: refused naming ``search_params.<name>``."""
    return (
        "hienergy",
        report,
        None,
        {"search_params": {name: value}},
        f"search_params.{name}",
        says,
    )


@pytest.mark.parametrize(
    ("surface", "report", "fmt", "params", "field", "says"),
    [
        (
            "verifyhuman",
            "bogus",
            "pdf",
            DEC,
            "report_type",
            "Invalid report_type. Must be one of: overview",
        ),
        ("verifyhuman", "deals_excel", None, {}, "report_type", "Invalid report_type"),
        ("hienergy", "overview", None, DEC, "report_type", "advertisers_csv"),
        ("verifyhuman", "overview", "docx", DEC, "format", "Invalid format"),
        ("verifyhuman", "overview", "xlsx", DEC, "format", "available as: pdf, csv"),
        ("hienergy", "deals_excel", "csv", {}, "format", "available as: xlsx"),
        (
            "verifyhuman",
            "overview",
            "pdf",
            {**DEC, "from": "2025-12-32"},
            "from",
            "not a real date",
        ),
        ("verifyhuman", "overview", "pdf", {**DEC, "from": "12/01/2025"}, "from", "YYYY-MM-DD"),
        ("verifyhuman", "overview", "pdf", {**DEC, "from": 20251201}, "from", "YYYY-MM-DD"),
        ("verifyhuman", "overview", "pdf", {**DEC, "to": "2025-11-30"}, "to", "before"),
        ("verifyhuman", "overview", "pdf", {**DEC, "env": "prod"}, "env", "Invalid env"),
        ("verifyhuman", "overview", "pdf", {"env": "live", "from": "2025-12-01"}, "to", "Missing"),
        ("verifyhuman", "overview", "pdf", {**DEC, "country": "US"}, "country", "Unknown filter"),
        (
            "hienergy",
            "advertisers_csv",
            None,
            {"search_params": {"colour": "red"}},
            "search_params.colour",
            "Unknown filter",
        ),
        (
            "hienergy",
            "advertisers_csv",
            None,
            {"index_params": {"sort": "password"}},
            "index_params.sort",
            "Invalid index_params.sort",
        ),
        (
            "hienergy",
            "clicks_details_excel",
            None,
            {"search_params": {"from": "2025-12-05", "to": "2025-12-01"}},
            "search_params.to",
            "before",
        ),
        (
            "webhooks",
            "message-log",
            None,
            {**WH, "end_time": "2025-11-01T00:00:00Z"},
            "end_time",
            "after start_time",
        ),
        (
            "webhooks",
            "message-log",
            None,
            {**WH, "start_time": "yesterday"},
            "start_time",
            "ISO 8601",
        ),
        (
            "webhooks",
            "message-log",
            None,
            {**WH, "start_time": "2025-12-01T00:00:00"},
            "start_time",
            "time zone",
        ),
        (
            "webhooks",
            "message-log",
            None,
            {**WH, "endpoint_id": "ep_123"},
            "endpoint_id",
            "Invalid endpoint_id",
        ),
        ("webhooks", "message-log", None, {**WH, "status": "lost"}, "status", "Invalid status"),
        # Values no job can use: refused here, not failed in the flow run (or a 500).
        _filter("advertisers_csv", "min_epc", float("inf"), "finite number"),
        _filter("advertisers_csv", "min_epc", float("nan"), "finite number"),
        _filter("deals_excel", "min_discount_pct", float("nan"), "finite number"),
        _filter("deals_excel", "advertiser_id", 2**63, "less than or equal to"),
        _filter("clicks_details_excel", "deal_id", 10**20, "less than or equal to"),
        _filter("hot_advertisers_excel", "min_clicks", 10**40, "less than or equal to"),
        _filter("hot_advertisers_excel", "to", "9999-12-31", "between"),
        ("verifyhuman", "overview", "pdf", {**DEC, "to": "9999-12-31"}, "to", "between"),
        (
            "webhooks",
            "message-log",
            None,
            {**WH, "end_time": "9999-12-31T23:59:59-01:00"},
            "end_time",
            "between",
        ),
    ],
)
def test_bad_requests_name_the_field(surface, report, fmt, params, field, says) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_request(surface, report, fmt, params)
    assert caught.value.field == field
    assert says in caught.value.message


def test_unknown_report_is_its_own_error() -> None:
    with pytest.raises(UnknownReportError):
        validate_request("webhooks", "overview", None, DEC)


def test_catalog_has_every_report_type_of_the_seeds() -> None:
    assert list(CATALOGS["verifyhuman"]) == [
        "overview",
        "volume",
        "usage",
        "risk-summary",
        "widget-performance",
        "full",
        "verification-v21",
        "full-v21",
    ]
    assert all(r.formats == ("pdf", "csv") for r in CATALOGS["verifyhuman"].values())
    assert list(CATALOGS["hienergy"]) == [
        "advertisers_csv",
        "deals_excel",
        "hot_advertisers_excel",
        "clicks_details_excel",
    ]
    assert CATALOGS["hienergy"]["advertisers_csv"].formats == ("csv",)
    assert CATALOGS["webhooks"]["message-log"].formats == ("csv",)


def test_valid_requests_store_normalised_params() -> None:
    vh = validate_request("verifyhuman", "overview", None, DEC)
    assert vh.format == "pdf" and vh.params_json() == DEC
    wh = validate_request(
        "webhooks", "message-log", None, {**WH, "start_time": "2025-12-01T01:00:00+01:00"}
    )
    assert wh.params_json()["start_time"] == "2025-12-01T00:00:00Z"
    again = validate_request("webhooks", "message-log", None, wh.params_json())
    assert again.params == wh.params, "stored params validate again to the same request"
    he = validate_request("hienergy", "deals_excel", None, {"search_params": {"q": "50%_off"}})
    assert he.params_json()["index_params"] == {"sort": "id", "order": "asc"}


def test_an_open_hienergy_range_ends_where_dates_may_end() -> None:
    request = validate_request(
        "hienergy", "clicks_details_excel", None, {"search_params": {"from": "2025-12-01"}}
    )
    assert request.params.window() == (datetime(2025, 12, 1), datetime(2101, 1, 1))
