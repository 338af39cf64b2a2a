"""The CLI builds each surface's request body from the surface's own declarations."""

from __future__ import annotations

import pytest

from catalog.registry import validate_request
from cli.main import build_params
from report_exports.errors import ValidationError
from surfaces.registry import get_surface

NONE = {"date_from": None, "date_to": None, "start_time": None, "end_time": None}


def _body(surface: str, **given):
    parts = {**NONE, "params": [], "search": [], "options": {}} | given
    return build_params(get_surface(surface), **parts)


def test_verifyhuman_takes_env_and_dates_at_the_top() -> None:
    body = _body(
        "verifyhuman",
        date_from="2025-11-01",
        date_to="2025-11-30",
        options={"env": "test", "sort": None},
    )
    assert body == {"from": "2025-11-01", "to": "2025-11-30", "env": "test"}
    assert validate_request("verifyhuman", "overview", "csv", body).params_json()["env"] == "test"


def test_hienergy_nests_its_search_range_and_index_params() -> None:
    body = _body(
        "hienergy",
        date_from="2025-12-01",
        date_to="2025-12-07",
        search=["converted=true"],
        options={"sort": "clicked_at", "order": "desc"},
    )
    assert body == {
        "search_params": {"converted": True, "from": "2025-12-01", "to": "2025-12-07"},
        "index_params": {"sort": "clicked_at", "order": "desc"},
    }
    validate_request("hienergy", "clicks_details_excel", "xlsx", body)


def test_webhooks_take_instants_and_refuse_dates() -> None:
    body = _body("webhooks", start_time="2025-12-04T00:00:00Z", end_time="2025-12-04T23:59:59Z")
    assert body == {"start_time": "2025-12-04T00:00:00Z", "end_time": "2025-12-04T23:59:59Z"}
    with pytest.raises(ValidationError, match="--from does not apply") as refused:
        _body("webhooks", date_from="2025-12-01")
    assert refused.value.field == "from"


def test_an_option_of_another_surface_is_refused_by_name() -> None:
    with pytest.raises(ValidationError, match="--sort does not apply to VerifyHuman") as err:
        _body("verifyhuman", options={"sort": "x"})
    assert err.value.field == "sort"
    with pytest.raises(ValidationError, match="--start-time does not apply"):
        _body("hienergy", start_time="2025-12-04T00:00:00Z")
