"""Schemathesis fuzzes every operation of the OpenAPI document against the running stack.

The suite fails on any 5xx, a status the document does not list, a body outside its schema,
a content type it does not name, invalid input (by the document) accepted, or a method the
document does not declare answered other than 405 with ``Allow``; HiEnergy's successful
answers are also held to the seed's response schemas. Each surface is called with a demo
key the way it expects one, over real HTTP.

Bounded: ``GET_EXAMPLES`` generated cases per GET or DELETE and ``POST_EXAMPLES`` per create,
plus the coverage phase's boundary cases, which on creates are only invalid ones (they create
no job); the examples phase sends each create body's documented example, a real export each.
Derandomised, so a run is reproducible.

The document is the app's own ``create_app().openapi()``, read at import because
``@schema.parametrize()`` needs it to collect; loading it from the stack's fixture
(``schemathesis.pytest.from_fixture``) fails on pytest 9.2, which dropped the
``Function._nodeid`` that loader rewrites. The first test holds the two to be the same.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from api_shim.app import create_app
from tests.api_shim.http_checks import HE, HTTP_TIMEOUT, surface_of
from tests.api_shim.test_hienergy_schema import EXPORT_FIELDS, LIST, ONE

pytestmark = pytest.mark.fuzz

ACCOUNT = "globex"  # Pro: every VerifyHuman operation is open to it, ranges up to 366 days
GET_EXAMPLES, POST_EXAMPLES = 25, 5
CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {"max-examples": GET_EXAMPLES, "deterministic": True, "database": "none"},
        "operations": [
            {
                "include-method": "POST",
                "generation": {"max-examples": POST_EXAMPLES},
                "phases": {"coverage": {"generation": {"mode": "negative"}}},
            }
        ],
        # The stack answers in tens of milliseconds, but launches wait on Prefect.
        "suppress-health-check": ["too_slow"],
    }
)
DOCUMENT = create_app().openapi()
schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)


@schemathesis.check
def hienergy_answers_match_the_seed(ctx: Any, response: Any, case: Any) -> bool | None:
    """HiEnergy's 200/201/409 bodies against the seed's schemas, with no field it lacks."""
    if surface_of(case.path) != "he" or response.status_code not in (200, 201, 409):
        return None
    body = response.json()
    validator = LIST if case.path == HE and case.method == "GET" else ONE
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(body)]
    assert not errors, errors
    for export in body["exports"] if "exports" in body else [body["export"]]:
        assert set(export) == EXPORT_FIELDS, set(export) ^ EXPORT_FIELDS
    return True


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
    unsupported_method,
    allow_header_conformance,
    hienergy_answers_match_the_seed,
]


def test_the_fuzzed_document_is_the_one_served(stack) -> None:
    served = httpx.get(stack.base_url + "/openapi.json", timeout=HTTP_TIMEOUT)
    assert served.status_code == 200 and served.json() == DOCUMENT


@pytest.fixture(scope="module")
def answers() -> Iterator[Counter[tuple[str, str, int]]]:
    """Statuses the fuzzer got (surface, method); afterwards, proof it got past the door.

    Had the keys been sent wrong every answer would be a conforming 401, and had no create
    passed validation the pipeline behind it would be unfuzzed: both would pass unseen.
    """
    seen: Counter[tuple[str, str, int]] = Counter()
    yield seen
    assert not [key for key in seen if key[2] == 401], seen
    for surface, method in {(s, m) for s, m, _ in seen if m in ("GET", "POST")}:
        succeeded = [
            n for (s, m, status), n in seen.items() if (s, m) == (surface, method) and status < 300
        ]
        assert succeeded, f"no {method} on {surface} succeeded: {seen}"


def _key_headers(stack: Any, path: str) -> dict[str, str]:
    """The demo key, sent as the path's surface takes it (signed /files/ URLs take none)."""
    if path.startswith("/files/"):
        return {}
    key = stack.keys[ACCOUNT]["admin"]
    return {"X-Api-Key": key} if surface_of(path) == "he" else {"Authorization": f"Bearer {key}"}


@schema.parametrize()
def test_every_answer_is_what_the_document_says(case, stack, answers) -> None:
    response = case.call_and_validate(
        base_url=stack.base_url,
        headers=_key_headers(stack, case.path),
        checks=CHECKS,
        timeout=HTTP_TIMEOUT,
    )
    answers[(surface_of(case.path), case.method, response.status_code)] += 1
