"""Range, If-Range, If-None-Match and Accept-Encoding as RFC 9110 reads them, header by header."""

from __future__ import annotations

import pytest

from api_shim.conditional import (
    ByteRange,
    RangeNotSatisfiable,
    accepts_gzip,
    byte_range,
    if_range_holds,
    none_match,
)

SIZE = 1000


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-99", (0, 99)),
        ("bytes=100-", (100, 999)),
        ("bytes=-100", (900, 999)),
        ("bytes=-5000", (0, 999)),  # a suffix longer than the file is the whole file
        ("bytes=990-5000", (990, 999)),  # the end is clamped to the file
        ("bytes=999-999", (999, 999)),
        ("BYTES = 5-9", (5, 9)),  # the unit is case-insensitive
    ],
)
def test_single_ranges(header: str, expected: tuple[int, int]) -> None:
    got = byte_range(header, SIZE)
    assert got == ByteRange(*expected, SIZE)
    assert got.length == expected[1] - expected[0] + 1
    assert got.content_range == f"bytes {expected[0]}-{expected[1]}/{SIZE}"


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "bytes",
        "bytes=",
        "bytes=-",
        "bytes=abc",
        "bytes=5-1",  # last before first: invalid, so the header is ignored
        "items=0-1",
        "bytes=0-1,5-6",  # several ranges: served whole
        "bytes=0x10-",
        "bytes=1-2-3",
        "bytes=" + "9" * 40 + "-",
        "bytes=0-99;x",
    ],
)
def test_malformed_or_other_ranges_are_ignored(header: str | None) -> None:
    assert byte_range(header, SIZE) is None


@pytest.mark.parametrize(
    ("header", "size"),
    [("bytes=1000-", SIZE), ("bytes=1000-2000", SIZE), ("bytes=-0", SIZE), ("bytes=-1", 0)],
)
def test_unsatisfiable_ranges(header: str, size: int) -> None:
    with pytest.raises(RangeNotSatisfiable) as raised:
        byte_range(header, size)
    assert raised.value.size == size


ETAG = '"' + "ab" * 32 + '"'


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        (None, False),
        (ETAG, True),
        (f"W/{ETAG}", True),  # weak comparison
        (f'"other", {ETAG}', True),
        ("*", True),
        ('"other"', False),
        (ETAG[1:-1], False),  # unquoted is another tag
    ],
)
def test_if_none_match(header: str | None, matches: bool) -> None:
    assert none_match(header, ETAG) is matches
    assert none_match(header, f"W/{ETAG}") is matches


@pytest.mark.parametrize(
    ("header", "etag", "holds"),
    [
        (None, ETAG, True),
        (ETAG, ETAG, True),
        (f"W/{ETAG}", ETAG, False),  # If-Range compares strongly
        (ETAG, f"W/{ETAG}", False),
        ('"other"', ETAG, False),
        ("Wed, 02 Dec 2026 10:00:00 GMT", ETAG, False),  # a date: we send no Last-Modified
        (ETAG, None, False),
    ],
)
def test_if_range(header: str | None, etag: str | None, holds: bool) -> None:
    assert if_range_holds(header, etag) is holds


@pytest.mark.parametrize(
    ("header", "gzip"),
    [
        (None, False),
        ("", False),
        ("gzip", True),
        ("GZIP", True),
        ("gzip, deflate, br", True),
        ("deflate, gzip;q=0.5", True),
        ("gzip;q=0", False),
        ("gzip;q=0.000", False),
        ("x-gzip", True),
        ("*", True),
        ("*;q=0", False),
        ("*, gzip;q=0", False),  # gzip named: its own weight decides
        ("identity", False),
        ("br, deflate", False),
        ("gzip;q=oops", False),
    ],
)
def test_accept_encoding(header: str | None, gzip: bool) -> None:
    assert accepts_gzip(header) is gzip
