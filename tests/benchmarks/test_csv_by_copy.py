"""benchmarks/csv_by_copy.py at a tiny size: both tables come out, every row measured.

No timing is asserted; the receivers must write the same records (ours is the product's
COPY path), which the test reads back.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from benchmarks.csv_by_copy import cells, main, psql, receive_psycopg2, receive_psycopg3
from catalog.verifyhuman import ROW_COLUMNS_V21
from demo_data.generate import generate
from tests.postgres import scratch_database, server_url

ROW = re.compile(r"^\| [^|]+ \| \d+\.\d\d( \| \d+\.\d\d)? \|$")


@pytest.mark.postgres
def test_tiny_run_prints_both_tables_and_the_receivers_agree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with scratch_database(server_url(), prefix="rex_copybench") as url:
        generate(url, 500, seed=4)
        main(["--url", url, "--runs", "1"])
        every = cells(ROW_COLUMNS_V21, None)
        written = {}
        for name, receive in (("3", receive_psycopg3), ("2", receive_psycopg2), ("psql", psql)):
            receive(url, every, tmp_path / name)
            written[name] = (tmp_path / name).read_bytes()
    rows = [line for line in capsys.readouterr().out.splitlines() if ROW.match(line)]
    assert len(rows) == 3 + 5, rows
    assert written["3"] == written["2"]
    assert written["2"].count(b"\r\n") == 500
    assert written["psql"].replace(b"\n", b"\r\n") == written["2"]  # no quoted line breaks
