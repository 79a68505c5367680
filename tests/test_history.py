"""history(): dated snapshots read back as one typed table, whatever each day's file holds."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from asa_bulk._errors import InputError
from asa_bulk._history import history
from asa_bulk.cli._snapshot import partition_dir, write_snapshot


def pull(rows: Sequence[tuple[str, str, str, float | None]]) -> pd.DataFrame:
    """(asin, domain, status, price) rows shaped like the engine's frame."""
    frame: pd.DataFrame = pd.DataFrame(
        {
            "asin": pd.array([r[0] for r in rows], dtype="string"),
            "domain": pd.array([r[1] for r in rows], dtype="string"),
            "status": pd.array([r[2] for r in rows], dtype="string"),
            "price": pd.array([r[3] for r in rows], dtype="Float64"),
            "title": pd.array([f"T {r[0]}" for r in rows], dtype="string"),
        }
    )
    return frame


def _raw_day(folder: Path, day: date, table: pa.Table) -> None:
    """A day's file written as another tool or release might: its own types."""
    target = partition_dir(folder, day)
    target.mkdir(parents=True)
    pq.write_table(table, target / "part-0.parquet")


def test_days_come_back_typed_with_every_status_kept(tmp_path: Path) -> None:
    write_snapshot(pull([("B1", "com", "ok", 10.0), ("B2", "com", "ok", 20.0)]), tmp_path,
                   day=date(2026, 5, 1))  # fmt: skip
    # 2 May: no pull at all. 3 May: B2 failed, B1 answered without a price.
    write_snapshot(pull([("B1", "com", "ok", None), ("B2", "com", "failed", None)]), tmp_path,
                   day=date(2026, 5, 3))  # fmt: skip
    table = history(tmp_path)
    assert str(table["snapshot_date"].dtype).startswith("datetime64")
    assert list(table.columns[:2]) == ["snapshot_date", "asin"]
    assert [d.date().isoformat() for d in table["snapshot_date"]] == [
        "2026-05-01", "2026-05-01", "2026-05-03", "2026-05-03"]  # fmt: skip
    assert table["price"].dtype == "Float64"
    assert table["status"].dtype == "string"
    day3 = table[table["snapshot_date"] == "2026-05-03"].set_index("asin")
    assert day3.loc["B1", "status"] == "ok"
    assert day3.loc["B1", "price"] is pd.NA  # ok, price missing
    assert day3.loc["B2", "status"] == "failed"  # fetched, failed
    assert not (table["snapshot_date"] == "2026-05-02").any()  # not fetched: no row at all


def test_a_null_typed_column_and_a_column_added_later_read_back_as_one_type(
    tmp_path: Path,
) -> None:
    _raw_day(
        tmp_path,
        date(2026, 5, 1),
        pa.table(
            {
                "asin": ["B1"],
                "domain": ["com"],
                "status": ["failed"],
                "price": pa.array([None], type=pa.null()),
                "title": pa.array([None], type=pa.null()),
            }
        ),
    )
    _raw_day(tmp_path, date(2026, 5, 2), pa.table({
        "asin": ["B1"], "domain": ["com"], "status": ["ok"], "price": pa.array([7], pa.int64()),
        "title": ["Lamp"], "new_field": ["added by a later release"]}))  # fmt: skip
    table = history(tmp_path)
    assert table["price"].dtype == "Float64"  # the engine's dtype, not null or int
    assert table["price"].tolist()[1] == 7.0
    assert table["title"].dtype == "string"
    assert table["new_field"].isna().tolist() == [True, False]


def test_filters_dates_and_columns_read_only_what_is_asked(tmp_path: Path) -> None:
    for day in (1, 2, 3):
        rows = [("B1", "com", "ok", float(day)), ("B1", "de", "ok", 1.0), ("B2", "com", "ok", 2.0)]
        write_snapshot(pull(rows), tmp_path, day=date(2026, 5, day))
    spool = partition_dir(tmp_path, date(2026, 5, 2)) / ".run-x.parquet"
    spool.write_bytes(b"a pull in progress, not parquet yet")  # hidden: never read
    table = history(tmp_path, asins=["b1"], domains=["COM"], start="2026-05-02",
                    end=date(2026, 5, 3), columns=["price"])  # fmt: skip
    assert table["price"].tolist() == [2.0, 3.0]
    assert list(table.columns) == ["snapshot_date", "asin", "domain", "status", "price"]
    assert history(tmp_path, start="2026-06-01").empty


def test_bad_arguments_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        history(tmp_path / "nowhere")
    with pytest.raises(InputError, match="holds no date="):
        history(tmp_path)
    write_snapshot(pull([("B1", "com", "ok", 1.0)]), tmp_path, day=date(2026, 5, 1))
    with pytest.raises(InputError, match="start must be a date"):
        history(tmp_path, start="May 1st")
    with pytest.raises(InputError, match="no column 'prize'"):
        history(tmp_path, columns=["prize"])
    (partition_dir(tmp_path, date(2026, 5, 2))).mkdir()
    (partition_dir(tmp_path, date(2026, 5, 2)) / "part-0.parquet").write_bytes(b"garbage")
    with pytest.raises(InputError, match="not readable parquet"):
        history(tmp_path)
