"""A relative range's days become each surface's own request fields."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import pytest

from catalog.registry import validate_request
from report_exports.errors import ValidationError
from surfaces.ranges import range_params

BERLIN = ZoneInfo("Europe/Berlin")


def test_range_params_are_valid_requests_of_each_surface() -> None:
    first, last = date(2026, 2, 1), date(2026, 2, 28)
    vh = range_params("verifyhuman", first, last, BERLIN, {"env": "live"})
    assert vh == {"env": "live", "from": "2026-02-01", "to": "2026-02-28"}
    validate_request("verifyhuman", "full-v21", "csv", vh)
    he = range_params("hienergy", first, last, BERLIN, {"search_params": {"converted": True}})
    assert he == {"search_params": {"converted": True, "from": "2026-02-01", "to": "2026-02-28"}}
    validate_request("hienergy", "clicks_details_excel", None, he)
    wh = range_params("webhooks", first, last, BERLIN, {"status": "delivered"})
    # Berlin is UTC+1 in February: the local days start an hour earlier in UTC.
    assert wh["start_time"] == "2026-01-31T23:00:00Z"
    assert wh["end_time"] == "2026-02-28T22:59:59Z"
    validate_request("webhooks", "message-log", "csv", wh)


def test_an_unknown_surface_is_refused() -> None:
    with pytest.raises(ValidationError, match="Unknown surface"):
        range_params("fax", date(2026, 1, 1), date(2026, 1, 1), BERLIN, {})
