"""render xlsx zip: a zip file whose large entries are deflated in independent blocks.

Each block is raw deflate from a fresh compressor, ended by a sync flush (an empty stored
block that byte-aligns it and is not final), so blocks compressed apart, on any thread (zlib
releases the GIL), concatenate into one valid deflate stream; a last block compressed with
``Z_FINISH`` closes it. Each block carries the CRC-32 of its own bytes, and the entry's CRC
is folded from them (:func:`crc32_combine`), so no thread reads the data twice. Sizes and
CRC are patched into the local header when the entry ends (the output is a seekable file).
ZIP64 fields appear only where a size or offset needs them, or for an entry the caller
expects to pass 2 GiB, as Python's zipfile does.
"""

from __future__ import annotations

import struct
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO

# Python's zipfile switches to ZIP64 past 2 GiB - 1 (readers that take sizes as signed).
ZIP64_LIMIT = (1 << 31) - 1
_MAX_16 = 0xFFFF
_MAX_32 = 0xFFFFFFFF
_CRC_POLY = 0xEDB88320  # CRC-32 of zip, reflected
_DEFLATED = 8  # compression method
_LOCAL = struct.Struct("<4s5H3L2H")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_END = struct.Struct("<4s4H2LH")
_END64 = struct.Struct("<4sQ2H2L4Q")
_LOCATOR64 = struct.Struct("<4sLQL")


@dataclass(frozen=True)
class DeflatedBlock:
    """A run of raw deflate data with the CRC-32 and length of the bytes it holds."""

    data: bytes
    crc: int
    size: int


def deflate_block(
    raw: bytes | Sequence[bytes | memoryview], level: int, *, last: bool = False
) -> DeflatedBlock:
    """``raw`` (or buffers in order) as one independent deflate block, with its CRC-32.

    The block is final when ``last``; otherwise it ends with a sync flush.
    """
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
    pieces, crc, size = [], 0, 0
    for buffer in [raw] if isinstance(raw, bytes) else raw:
        pieces.append(compressor.compress(buffer))
        crc, size = zlib.crc32(buffer, crc), size + memoryview(buffer).nbytes
    pieces.append(compressor.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH))
    return DeflatedBlock(b"".join(pieces), crc, size)


def _mult_mod_p(a: int, b: int) -> int:
    """a × b modulo the CRC polynomial (bit-reflected, as zlib's ``multmodp``)."""
    m, product = 1 << 31, 0
    while a:
        if a & m:
            product ^= b
            a ^= m
        m >>= 1
        b = (b >> 1) ^ _CRC_POLY if b & 1 else b >> 1
    return product


# x^(2^k) modulo the polynomial, for k = 0..31 (x^1 is bit 30 in the reflected form).
_X2N = [1 << 30]
for _ in range(31):
    _X2N.append(_mult_mod_p(_X2N[-1], _X2N[-1]))


def crc32_combine(crc1: int, crc2: int, length2: int) -> int:
    """The CRC-32 of A + B from CRC(A), CRC(B) and len(B) (zlib's ``crc32_combine``)."""
    shift, k, n = 1 << 31, 3, length2  # x^(8 × len2): bytes to bits
    while n:
        if n & 1:
            shift = _mult_mod_p(_X2N[k & 31], shift)
        n >>= 1
        k += 1
    return _mult_mod_p(shift, crc1) ^ crc2


@dataclass
class _Entry:
    name: bytes
    offset: int
    zip64_local: bool
    crc: int = 0
    size: int = 0
    compressed: int = 0


class ZipWriter:
    """Deflated entries written one after another into a seekable binary file."""

    def __init__(self, file: BinaryIO, *, zip64_limit: int = ZIP64_LIMIT) -> None:
        self._file = file
        self._limit = zip64_limit
        self._entries: list[_Entry] = []
        self._open: _Entry | None = None
        now = time.localtime()
        self._dos_time = now.tm_hour << 11 | now.tm_min << 5 | now.tm_sec // 2
        self._dos_date = (now.tm_year - 1980) << 9 | now.tm_mon << 5 | now.tm_mday

    def write_entry(self, name: str, data: bytes, level: int) -> None:
        """A whole entry from bytes in memory."""
        self.begin(name, zip64=len(data) > self._limit)
        self.write_block(deflate_block(data, level, last=True))
        self.end()

    def begin(self, name: str, *, zip64: bool = False) -> None:
        """Start an entry; ``zip64`` when it may pass the limit (decided before any data)."""
        if self._open is not None:
            raise RuntimeError(f"zip entry {self._open.name!r} is still open")
        entry = _Entry(name.encode("ascii"), self._file.tell(), zip64)
        self._file.write(self._local_header(entry))
        self._open = entry

    def write_block(self, block: DeflatedBlock) -> None:
        """Append a block to the open entry (the last one written must be final)."""
        entry = self._open
        if entry is None:
            raise RuntimeError("no zip entry is open")
        self._file.write(block.data)
        entry.crc = crc32_combine(entry.crc, block.crc, block.size)
        entry.size += block.size
        entry.compressed += len(block.data)

    def end(self) -> None:
        """Close the open entry: its CRC and sizes go into its local header."""
        entry = self._open
        if entry is None:
            raise RuntimeError("no zip entry is open")
        if not entry.zip64_local and max(entry.size, entry.compressed) > self._limit:
            raise RuntimeError(f"{entry.name!r} passed 2 GiB without ZIP64 headers")
        here = self._file.tell()
        self._file.seek(entry.offset)
        self._file.write(self._local_header(entry))
        self._file.seek(here)
        self._entries.append(entry)
        self._open = None

    def close(self) -> None:
        """Write the central directory (ZIP64 records where counts or offsets need them)."""
        if self._open is not None:
            raise RuntimeError(f"zip entry {self._open.name!r} is still open")
        start = self._file.tell()
        for entry in self._entries:
            self._file.write(self._central_header(entry))
        size, count = self._file.tell() - start, len(self._entries)
        if count >= _MAX_16 or max(start, size) > self._limit:
            end64 = self._file.tell()
            self._file.write(
                _END64.pack(b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, size, start)
            )
            self._file.write(_LOCATOR64.pack(b"PK\x06\x07", 0, end64, 1))
            count, size, start = min(count, _MAX_16), min(size, _MAX_32), min(start, _MAX_32)
        self._file.write(_END.pack(b"PK\x05\x06", 0, 0, count, count, size, start, 0))

    def _local_header(self, entry: _Entry) -> bytes:
        if entry.zip64_local:  # sizes live in the extra field
            extra = struct.pack("<2H2Q", 1, 16, entry.size, entry.compressed)
            sizes, version = (_MAX_32, _MAX_32), 45
        else:
            extra, sizes, version = b"", (entry.compressed, entry.size), 20
        header = _LOCAL.pack(
            b"PK\x03\x04",
            version,
            0,  # flags: sizes are in this header, no data descriptor follows
            _DEFLATED,
            self._dos_time,
            self._dos_date,
            entry.crc,
            *sizes,
            len(entry.name),
            len(extra),
        )
        return header + entry.name + extra

    def _central_header(self, entry: _Entry) -> bytes:
        fields = [entry.size, entry.compressed, entry.offset]
        wide = [value > self._limit for value in fields]
        extra = b""
        if any(wide):
            # The ZIP64 extra holds, in this order, only the fields set to 0xFFFFFFFF.
            values = [value for value, big in zip(fields, wide, strict=True) if big]
            extra = struct.pack(f"<2H{len(values)}Q", 1, 8 * len(values), *values)
        size, compressed, offset = (
            _MAX_32 if big else value for value, big in zip(fields, wide, strict=True)
        )
        version = 45 if any(wide) or entry.zip64_local else 20
        header = _CENTRAL.pack(
            b"PK\x01\x02",
            version,  # made by: MS-DOS attributes
            version,
            0,
            _DEFLATED,
            self._dos_time,
            self._dos_date,
            entry.crc,
            compressed,
            size,
            len(entry.name),
            len(extra),
            0,  # comment
            0,  # disk
            0,  # internal attributes
            0,  # external attributes
            offset,
        )
        return header + entry.name + extra
