"""render xlsx workbook: the skeleton's parts copied into the zip file, the sheets streamed.

The main thread reads batches, gives their text its shared-string indices (the table must
grow in row order) and hands each batch to a worker, which types it, builds its rows' XML
and deflates them into an independent block (tasks/render_xlsx_zip.py). polars and zlib run
without the GIL, so the workers use every core; the main thread writes finished blocks in
order. A few batches are in flight at once, so memory depends on the batch size, not on the
size of the export.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import polars as pl
from xlsxwriter.utility import xl_col_to_name

from catalog.documents import ColumnKind
from tasks.cell_safety import safe_frame
from tasks.render_xlsx_rows import INLINE, RowLayout, rows_xml
from tasks.render_xlsx_strings import (
    SST_CONTENT_TYPE,
    SST_PART,
    SST_RELATIONSHIP,
    SharedStrings,
)
from tasks.render_xlsx_zip import ZIP64_LIMIT, DeflatedBlock, ZipWriter, deflate_block

# Deflate level 1: files ~25% larger than level 6 but written about twice as fast.
ZIP_LEVEL = 1
MAX_WORKERS = 4
_DIMENSION = re.compile(rb'<dimension ref="[^"]*"/>')

Part = tuple[int, int, pl.DataFrame]  # sheet index, first sheet row number, rows
Block = tuple[int, int, DeflatedBlock]  # sheet index, rows, their deflated XML


def workers() -> int:
    """Threads that build and deflate batches: the cores this process may use (≤ 4)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(MAX_WORKERS, cores))


def assemble(
    path: Path,
    skeleton: bytes,
    sheet_rows: Sequence[int],
    layout: RowLayout,
    parts: Iterable[Part],
) -> None:
    """Copy the skeleton into ``path``, streaming each sheet's rows into its ``<sheetData>``."""
    sheets = {f"xl/worksheets/sheet{i + 1}.xml": i for i in range(len(sheet_rows))}
    strings = SharedStrings()
    threads = workers()
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="render-xlsx")
    try:
        with zipfile.ZipFile(io.BytesIO(skeleton)) as source, path.open("wb") as file:
            names = source.namelist()
            if not sheets.keys() <= set(names) or SST_PART in names:
                raise RuntimeError("xlsxwriter laid the workbook out differently than expected")
            # One batch more than run at once is waiting, so a worker never waits for work.
            blocks = _blocks(parts, layout, strings, pool, ahead=threads + 1)
            block = next(blocks, None)
            out = ZipWriter(file, zip64_limit=ZIP64_LIMIT)
            for name in names:
                if name not in sheets:
                    out.write_entry(name, _with_shared_strings(name, source.read(name)), ZIP_LEVEL)
                    continue
                index = sheets[name]
                head, tail = _split_sheet(source.read(name), sheet_rows[index], layout)
                out.begin(name, zip64=_needs_zip64(block, index, sheet_rows))
                out.write_block(deflate_block(head, ZIP_LEVEL))
                while block is not None and block[0] == index:
                    out.write_block(block[2])
                    block = next(blocks, None)
                out.write_block(deflate_block(tail, ZIP_LEVEL, last=True))
                out.end()
            # Written last: only now is every string of every sheet in the table.
            out.write_entry(SST_PART, b"".join(strings.part()), ZIP_LEVEL)
            out.close()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _blocks(
    parts: Iterable[Part],
    layout: RowLayout,
    strings: SharedStrings,
    pool: ThreadPoolExecutor,
    ahead: int,
) -> Iterator[Block]:
    """Each part's deflated rows in order, a few parts ahead of the caller."""
    texts = [c.name for c in layout.columns if c.kind is ColumnKind.TEXT]
    pending: deque[tuple[int, int, Future[DeflatedBlock]]] = deque()
    for sheet, first_row, part in parts:
        encoded = _with_string_codes(part, texts, strings)
        pending.append(
            (sheet, part.height, pool.submit(_deflated_rows, encoded, first_row, layout))
        )
        if len(pending) > ahead:
            done_sheet, rows, future = pending.popleft()
            yield done_sheet, rows, future.result()
    while pending:
        done_sheet, rows, future = pending.popleft()
        yield done_sheet, rows, future.result()


def _with_string_codes(
    part: pl.DataFrame, texts: list[str], strings: SharedStrings
) -> pl.DataFrame:
    """``part`` with each text column as shared-string indices, inline text beside them."""
    columns = []
    for name in texts:
        values = part[name]
        codes = strings.codes(values)
        columns.append(codes.alias(name))
        if codes.null_count() > values.null_count():  # some values stay inline
            inline = pl.select(pl.when(codes.is_null()).then(values.cast(pl.String)))
            columns.append(inline.to_series().alias(INLINE + name))
    return part.with_columns(columns) if columns else part


def _deflated_rows(part: pl.DataFrame, first_row: int, layout: RowLayout) -> DeflatedBlock:
    """A worker's job: type the batch, build its rows' XML, deflate it."""
    others = [c for c in layout.columns if c.kind is not ColumnKind.TEXT]
    if others:
        part = part.with_columns(safe_frame(part.lazy(), others).collect())
    return deflate_block(rows_xml(part, first_row, layout), ZIP_LEVEL)


def _with_shared_strings(name: str, data: bytes) -> bytes:
    """The package's content types and workbook relationships, naming sharedStrings.xml."""
    if name == "[Content_Types].xml":
        override = f'<Override PartName="/{SST_PART}" ContentType="{SST_CONTENT_TYPE}"/>'
        return _insert_before(data, b"</Types>", override.encode())
    if name == "xl/_rels/workbook.xml.rels":
        taken = set(re.findall(rb'Id="([^"]*)"', data))
        number = len(taken) + 1
        while f"rId{number}".encode() in taken:
            number += 1
        target = SST_PART.removeprefix("xl/")
        rel = f'<Relationship Id="rId{number}" Type="{SST_RELATIONSHIP}" Target="{target}"/>'
        return _insert_before(data, b"</Relationships>", rel.encode())
    return data


def _insert_before(data: bytes, closing: bytes, element: bytes) -> bytes:
    head, marker, tail = data.rpartition(closing)
    if not marker:
        raise RuntimeError(f"xlsxwriter wrote a part without {closing.decode()}")
    return head + element + marker + tail


def _split_sheet(xml: bytes, data_rows: int, layout: RowLayout) -> tuple[bytes, bytes]:
    """The sheet XML before and after the point where data rows go, with its real size."""
    head, marker, tail = xml.partition(b"</sheetData>")
    if not marker:
        raise RuntimeError("xlsxwriter wrote a sheet without <sheetData>")
    last = xl_col_to_name(len(layout.columns) - 1)
    ref = f'<dimension ref="A1:{last}{data_rows + 1}"/>'.encode()
    return _DIMENSION.sub(ref, head, count=1), marker + tail


def _needs_zip64(block: Block | None, index: int, sheet_rows: Sequence[int]) -> bool:
    """Whether a sheet may pass 2 GiB uncompressed, judged from its first batch (doubled)."""
    if block is None or block[0] != index:
        return False
    row_bytes = block[2].size / max(block[1], 1)
    return row_bytes * sheet_rows[index] * 2 >= ZIP64_LIMIT
