"""Dated parquet snapshots: one table for readers, no duplicates within a day."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd

from asa_bulk.cli._snapshot import write_snapshot


def pull(rows: list[tuple[str | None, str, str, str | None]]) -> pd.DataFrame:
    """(asin, domain, status, title) rows shaped like the engine's frame."""
    return pd.DataFrame(
        {
            "asin": pd.array([r[0] for r in rows], dtype="string"),
            "domain": pd.array([r[1] for r in rows], dtype="string"),
            "status": pd.array([r[2] for r in rows], dtype="string"),
            "title": pd.array([r[3] for r in rows], dtype="string"),
            "price": pd.array([1.5 if r[3] else None for r in rows], dtype="Float64"),
            "images": [[f"https://img/{r[0]}.jpg"] if r[3] else None for r in rows],
        }
    )


DAY = date(2026, 5, 1)


def test_second_pull_same_day_replaces_rows_without_duplicates(tmp_path: Path) -> None:
    first = write_snapshot(
        pull([("B1", "com", "ok", "v1"), ("B2", "com", "ok", "v1"), ("B3", "com", "failed", None)]),
        tmp_path,
        day=DAY,
    )
    assert (first.rows, first.written, first.replaced) == (3, 3, 0)
    second = write_snapshot(
        pull(
            [
                ("B1", "com", "ok", "v2"),  # newer data wins
                ("B2", "com", "skipped", None),  # must not erase the earlier ok row
                ("B3", "com", "ok", "v2"),  # a success replaces the earlier failure
                ("B1", "de", "ok", "v2"),  # another marketplace is another row
                ("B1", "com", "ok", "v2"),  # an input duplicate
            ]
        ),
        tmp_path,
        day=DAY,
    )
    assert (second.rows, second.written, second.replaced) == (4, 3, 2)
    table = pd.read_parquet(tmp_path)
    assert len(table) == 4
    assert not table.duplicated(["asin", "domain"]).any()
    got = {(r.asin, r.domain): (r.status, r.title) for r in table.itertuples()}
    assert got == {
        ("B1", "com"): ("ok", "v2"),
        ("B2", "com"): ("ok", "v1"),
        ("B3", "com"): ("ok", "v2"),
        ("B1", "de"): ("ok", "v2"),
    }
    assert json.loads(table.set_index(["asin", "domain"]).loc[("B1", "de"), "images"]) == [
        "https://img/B1.jpg"
    ]
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert files == ["date=2026-05-01/.lock", "date=2026-05-01/part-0.parquet"]


def test_days_are_partitions_of_one_table(tmp_path: Path) -> None:
    write_snapshot(pull([("B1", "com", "ok", "a"), ("B2", "com", "ok", "a")]), tmp_path, day=DAY)
    write_snapshot(pull([("B1", "com", "ok", "b")]), tmp_path, day=date(2026, 5, 2))
    table = pd.read_parquet(tmp_path)
    assert len(table) == 3
    per_day = table.groupby(table["date"].astype(str)).size().to_dict()
    assert per_day == {"2026-05-01": 2, "2026-05-02": 1}


def test_rows_without_an_asin_are_left_out(tmp_path: Path) -> None:
    result = write_snapshot(
        pull(
            [("B1", "com", "ok", "a"), (None, "com", "invalid", None), ("", "com", "invalid", None)]
        ),
        tmp_path,
        day=DAY,
    )
    assert (result.rows, result.unkeyed) == (1, 2)
