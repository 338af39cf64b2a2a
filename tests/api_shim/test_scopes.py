"""Scopes hold on every path: an identical request never hands back a report its caller
could not GET, on each surface, for each pair of roles and across accounts.

The second caller's create (201, 200 dedupe or 409 in flight) names a report; that report
must be one the second caller reads with a 200. When the first report is hidden from the
second caller (a HiEnergy admin's report from a member, another account's from anyone),
the second caller gets a new report instead.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.factories import DECEMBER

CALLERS = [
    (("acme", "admin"), ("acme", "member")),
    (("acme", "member"), ("acme", "admin")),
    (("acme", "admin"), ("globex", "admin")),
    (("globex", "member"), ("acme", "member")),
]


def _vh(tag: str) -> tuple[str, dict[str, Any], Any]:
    # A distinct range per case keeps cases from deduping into each other.
    day = 1 + int(tag[:2], 16) % 28
    body = {"report_type": "usage", "format": "csv", "env": "test", **DECEMBER}
    body["to"] = f"2025-12-{day:02d}" if day > 1 else "2025-12-02"
    return "/api/reports/exports", body, lambda r: r["id"]


def _he(tag: str) -> tuple[str, dict[str, Any], Any]:
    body = {"report_type": "advertisers_csv", "search_params": {"q": f"scope-{tag}"}}
    return "/api/v1/exports", body, lambda r: r["export"]["id"]


def _wh(tag: str) -> tuple[str, dict[str, Any], Any]:
    minute = int(tag[:2], 16) % 60
    body = {
        "start_time": "2025-12-04T00:00:00Z",
        "end_time": f"2025-12-04T23:{minute:02d}:59Z",
    }
    return "/v1/exports", body, lambda r: r["data"]["id"]


SURFACES = {"vh": _vh, "he": _he, "wh": _wh}


@pytest.mark.parametrize("surface", list(SURFACES))
@pytest.mark.parametrize(("first", "second"), CALLERS, ids=lambda c: "-".join(c))
def test_an_identical_request_names_only_a_report_its_caller_can_read(
    stack, surface: str, first: tuple[str, str], second: tuple[str, str]
) -> None:
    path, body, id_of = SURFACES[surface](uuid.uuid4().hex)
    kind = "he" if surface == "he" else "bearer"
    with stack.client(*first, surface=kind) as one, stack.client(*second, surface=kind) as two:
        made = one.post(path, json=body)
        assert made.status_code == 201, made.text
        first_id = id_of(made.json())
        again = two.post(path, json=body)
        assert again.status_code in (200, 201, 409), again.text
        second_id = id_of(again.json())
        readable = two.get(f"{path}/{second_id}")
        assert readable.status_code == 200, f"{second} was handed report {second_id}"
        hidden = two.get(f"{path}/{first_id}").status_code == 404
    if hidden:
        assert second_id != first_id, f"{second} got {first}'s report through dedupe"
    assert first[0] == second[0] or hidden, "another account's report is readable"
    if surface == "he" and second[1] == "member" and first[1] == "admin":
        assert hidden, "a HiEnergy member reads only their own reports"
