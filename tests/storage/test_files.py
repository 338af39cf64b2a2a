"""Local storage: atomic publish, server-made keys, prefix deletion."""

from __future__ import annotations

from pathlib import Path

import pytest

from report_exports.errors import StorageError
from storage.files import Storage, published_key


def test_put_atomic_leaves_no_partial_and_overwrites_whole(tmp_path: Path) -> None:
    storage = Storage.from_url(str(tmp_path / "files"))
    source = tmp_path / "report.csv"
    source.write_bytes(b"a,b\n1,2\n")
    storage.put_atomic(source, "exports/x/report.csv")
    assert storage.exists("exports/x/report.csv")
    assert storage.size("exports/x/report.csv") == 8
    assert storage.list_keys("exports") == ["exports/x/report.csv"], "no .partial left behind"
    source.write_bytes(b"bigger file\n" * 10)
    storage.put_atomic(source, "exports/x/report.csv")
    assert Path(storage.path("exports/x/report.csv")).read_bytes() == source.read_bytes()


def test_keys_are_server_made_and_unguessable() -> None:
    first = published_key(1, 7, "overview.pdf")
    second = published_key(1, 7, "overview.pdf")
    assert first != second
    assert first.startswith("exports/account-1/job-7/") and first.endswith("/overview.pdf")
    assert len(first.split("/")[3]) >= 16


def test_delete_prefix_and_missing_keys(tmp_path: Path) -> None:
    storage = Storage.from_url(f"file://{tmp_path / 'files'}")
    part = tmp_path / "p"
    part.write_text("x")
    for key in ("staging/job-1/a", "staging/job-1/b/c", "staging/job-2/a"):
        storage.put_atomic(part, key)
    storage.delete_prefix("staging/job-1")
    assert storage.list_keys("staging") == ["staging/job-2/a"]
    storage.delete("staging/job-9/nothing")
    storage.delete_prefix("staging/job-9")
    assert storage.list_keys("nowhere") == []


def test_put_atomic_moving_renames_into_place_and_hands_back_on_failure(tmp_path: Path) -> None:
    storage = Storage.from_url(str(tmp_path / "files"))
    source = tmp_path / "report.csv"
    source.write_bytes(b"a,b\n1,2\n")
    inode = source.stat().st_ino
    storage.put_atomic(source, "exports/x/report.csv", move=True)
    published = Path(storage.path("exports/x/report.csv"))
    assert not source.exists(), "moved, not copied"
    assert published.read_bytes() == b"a,b\n1,2\n" and published.stat().st_ino == inode

    # The final name is taken by a folder: the rename into place fails after the move.
    source.write_bytes(b"again\n")
    Path(storage.path("exports/y/report.csv")).mkdir(parents=True)
    with pytest.raises(StorageError):
        storage.put_atomic(source, "exports/y/report.csv", move=True)
    assert source.read_bytes() == b"again\n", "the file is handed back for a retry"
    assert not [p for p in (tmp_path / "files").rglob("*.partial-*")]


def test_iter_parquet_yields_the_files_rows_in_order_in_bounded_batches(tmp_path: Path) -> None:
    import polars as pl
    import pyarrow.parquet as pq

    storage = Storage.from_url(str(tmp_path / "files"))
    expected = []
    for index, rows in enumerate((2_500, 0, 1_234)):
        frame = pl.DataFrame(
            {"id": range(len(expected), len(expected) + rows), "skip": ["x"] * rows},
            schema={"id": pl.Int64, "skip": pl.String},
        )
        expected += frame["id"].to_list()
        local = tmp_path / f"part{index}.parquet"
        pq.write_table(frame.to_arrow(), local, row_group_size=1_000)
        storage.put_atomic(local, f"staging/job-1/part{index}.parquet")
    keys = [f"staging/job-1/part{i}.parquet" for i in range(3)]
    batches = list(storage.iter_parquet(keys, ["id"], batch_rows=700))
    assert all(b.columns == ["id"] and 0 < b.height <= 700 for b in batches)
    assert pl.concat(batches)["id"].to_list() == expected
