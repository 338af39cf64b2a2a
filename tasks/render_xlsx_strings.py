"""render xlsx strings: text cells as SpreadsheetML, and a bounded shared-string table.

Text is written as Excel and xlsxwriter write it: formula triggers neutralised
(tasks/cell_safety.py), cut to Excel's cell limit, XML specials escaped and the characters
XML 1.0 cannot carry (most C0 controls, U+FFFE, U+FFFF) spelled ``_xHHHH_``, a literal
``_xHHHH_`` kept literal by escaping its underscore.

Exports repeat their text (statuses, countries, keys), so each distinct value is neutralised
and escaped once and cells refer to it by index in ``xl/sharedStrings.xml``, written after
the sheets. The table is bounded: past :data:`MAX_STRINGS` entries or :data:`MAX_BYTES` of
text, new values are written in their cells (``t="inlineStr"``), which Excel reads as the same
strings.
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl

from tasks.cell_safety import neutralise_expr

MAX_TEXT_UNITS = 32_767  # Excel's cell limit, counted in UTF-16 code units
MAX_STRINGS = 65_536
MAX_BYTES = 4 << 20  # of UTF-8 text; the table holds it about twice (raw and escaped)
SST_PART = "xl/sharedStrings.xml"
SST_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
SST_RELATIONSHIP = (
    "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"
)
_SST_OPEN = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    ' count="{count}" uniqueCount="{unique}">'
)
# XML specials, and control characters as _xHHHH_ (tab and line feed are allowed as is).
_CONTROL = [chr(c) for c in (*range(0x00, 0x09), *range(0x0B, 0x20))]
_ESCAPE_FROM = ["&", "<", ">", *_CONTROL, "\ufffe", "\uffff"]
_ESCAPE_TO = ["&amp;", "&lt;", "&gt;", *(f"_x{ord(c):04X}_" for c in _CONTROL)]
_ESCAPE_TO += ["_xFFFE_", "_xFFFF_"]


def cell_text(text: pl.Expr) -> pl.Expr:
    """String values as the escaped content of a ``<t>`` element (null stays null)."""
    # A literal "_x0041_" must stay text, so its underscore is escaped first (as Excel does).
    escaped = text.str.replace_all(r"_x[0-9A-Fa-f]{4}_", "_x005F${0}")
    return escaped.str.replace_many(_ESCAPE_FROM, _ESCAPE_TO)


def safe_text(values: pl.Series) -> pl.Series:
    """Raw text values neutralised and cut to Excel's cell limit, before escaping."""
    safe = values.to_frame("v").select(neutralise_expr(pl.col("v").cast(pl.String)))["v"]
    if (safe.str.len_chars().max() or 0) <= MAX_TEXT_UNITS // 2:  # type: ignore[operator]
        return safe  # no value can pass the limit: the common case, no Python per value
    return safe.map_elements(_truncate_utf16, return_dtype=pl.String)


def _truncate_utf16(text: str) -> str:
    encoded = text.encode("utf-16-le")
    if len(encoded) <= 2 * MAX_TEXT_UNITS:
        return text
    # "ignore" drops half of a surrogate pair cut at the end.
    return encoded[: 2 * MAX_TEXT_UNITS].decode("utf-16-le", errors="ignore")


class SharedStrings:
    """Distinct text values in first-seen order; cells refer to them by index."""

    def __init__(self, max_strings: int = MAX_STRINGS, max_bytes: int = MAX_BYTES) -> None:
        self._max_strings, self._max_bytes = max_strings, max_bytes
        self._values = pl.Series("v", [], dtype=pl.String)  # raw, as cells hold them
        self._shown: list[pl.Series] = []  # the same values escaped, batch by batch
        self._enum = pl.Enum(self._values)
        self._bytes = 0
        self.references = 0  # cells that point into the table

    def __len__(self) -> int:
        return len(self._values)

    def codes(self, values: pl.Series) -> pl.Series:
        """The index of each value (UInt32); null for nulls and for values left inline.

        New values join the table, in order of appearance, while it has room.
        """
        text = values.cast(pl.String)
        codes = text.cast(self._enum, strict=False).to_physical()
        if codes.null_count() > text.null_count() and self._admit(
            text.filter(codes.is_null() & text.is_not_null()).unique(maintain_order=True)
        ):
            codes = text.cast(self._enum, strict=False).to_physical()
        self.references += codes.len() - codes.null_count()
        return codes

    def _admit(self, unseen: pl.Series) -> bool:
        room = self._max_strings - len(self._values)
        sizes = unseen.str.len_bytes().cum_sum()
        fits = unseen.head(min(room, int((sizes <= self._max_bytes - self._bytes).sum())))
        if not len(fits):
            return False
        self._shown.append(safe_text(fits).to_frame("t").select(cell_text(pl.col("t")))["t"])
        self._values = self._values.append(fits)
        self._bytes += int(fits.str.len_bytes().sum())
        self._enum = pl.Enum(self._values)
        return True

    def part(self) -> Iterator[bytes]:
        """``xl/sharedStrings.xml`` in pieces."""
        yield _SST_OPEN.format(count=self.references, unique=len(self._values)).encode()
        for shown in self._shown:
            items = pl.concat_str(
                [pl.lit('<si><t xml:space="preserve">'), pl.col("t"), pl.lit("</t></si>")]
            )
            yield shown.to_frame("t").select(items.str.join("").cast(pl.Binary)).item()
        yield b"</sst>"
