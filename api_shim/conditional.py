"""What a download request asks for beyond the file (RFC 9110): a byte range, a validator
to compare with, a content coding. Pure functions of the request headers, no I/O.

- ``Range``: one range of bytes (``a-b``, ``a-``, ``-n``). A header that is malformed, in
  another unit or asks for several ranges is ignored (the whole file, 200), as RFC 9110
  allows; one that is well formed but outside the file is unsatisfiable (416).
- ``If-Range``: the range is served only while the ETag is still the one given (strong
  comparison), else the whole file.
- ``If-None-Match``: 304 when the client holds the representation (weak comparison).
- ``Accept-Encoding``: whether gzip may be sent (with its q-value above 0).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_RANGE = re.compile(r"(\d{0,19})-(\d{0,19})")


@dataclass(frozen=True)
class ByteRange:
    """Bytes ``start`` to ``end`` inclusive of a file of ``size`` bytes."""

    start: int
    end: int
    size: int

    @property
    def length(self) -> int:
        """How many bytes the range holds."""
        return self.end - self.start + 1

    @property
    def content_range(self) -> str:
        """The ``Content-Range`` of a 206 that sends this range."""
        return f"bytes {self.start}-{self.end}/{self.size}"


class RangeNotSatisfiable(Exception):
    """A well-formed range that selects no byte of the file (answered 416)."""

    def __init__(self, size: int) -> None:
        super().__init__(f"no byte of {size} in range")
        self.size = size


def byte_range(header: str | None, size: int) -> ByteRange | None:
    """The single range the header asks for; None for the whole file (no or ignored header).

    Raises :class:`RangeNotSatisfiable` when the range starts past the end of the file
    (or is a suffix of nothing: ``-0``, or any suffix of an empty file).
    """
    if header is None:
        return None
    unit, equals, spec = header.partition("=")
    if not equals or unit.strip().lower() != "bytes":
        return None
    match = _RANGE.fullmatch(spec.strip())
    if match is None or match.group(1) == match.group(2) == "":
        return None  # malformed, or several ranges: ignored
    first, last = match.groups()
    if first:
        start = int(first)
        if last and int(last) < start:
            return None  # invalid range-spec: the header is ignored (RFC 9110 §14.1.1)
        if start >= size:
            raise RangeNotSatisfiable(size)
        end = min(int(last), size - 1) if last else size - 1
        return ByteRange(start, end, size)
    suffix = int(last)
    if suffix == 0 or size == 0:
        raise RangeNotSatisfiable(size)
    return ByteRange(max(size - suffix, 0), size - 1, size)


def _tags(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",") if tag.strip()]


def _opaque(tag: str) -> str:
    return tag[2:] if tag.startswith("W/") else tag


def none_match(header: str | None, etag: str) -> bool:
    """True when ``If-None-Match`` names this ETag (weakly) or ``*``: answer 304."""
    if header is None:
        return False
    tags = _tags(header)
    return "*" in tags or _opaque(etag) in {_opaque(t) for t in tags}


def if_range_holds(header: str | None, etag: str | None) -> bool:
    """True when a range may be served: no ``If-Range``, or the same strong ETag.

    A date or a weak tag never matches (we send no Last-Modified; weak tags cannot be
    compared strongly), so the client gets the whole file rather than a mismatched piece.
    """
    if header is None:
        return True
    return etag is not None and not etag.startswith("W/") and header.strip() == etag


def accepts_gzip(header: str | None) -> bool:
    """True when ``Accept-Encoding`` admits gzip (named, or by ``*``, with q above 0)."""
    if not header:
        return False
    weights: dict[str, float] = {}
    for item in header.split(","):
        coding, *params = (part.strip() for part in item.split(";"))
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        weights[coding.lower()] = weight
    for coding in ("gzip", "x-gzip"):
        if coding in weights:
            return weights[coding] > 0
    return weights.get("*", 0.0) > 0
