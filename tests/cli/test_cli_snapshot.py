"""Dated parquet snapshots: one table for readers, no duplicates within a day."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from asa_bulk._frame import empty_frame
from asa_bulk.cli._snapshot import (
    SEARCH_KEY,
    SnapshotResult,
    open_snapshot,
    partition_dir,
    write_snapshot,
)


def pull(rows: list[tuple[str | None, str, str, str | None]]) -> pd.DataFrame:
    """(asin, domain, status, title) rows shaped like the engine's frame."""
    frame: pd.DataFrame = pd.DataFrame(
        {
            "asin": pd.array([r[0] for r in rows], dtype="string"),
            "domain": pd.array([r[1] for r in rows], dtype="string"),
            "status": pd.array([r[2] for r in rows], dtype="string"),
            "title": pd.array([r[3] for r in rows], dtype="string"),
            "price": pd.array([1.5 if r[3] else None for r in rows], dtype="Float64"),
            "images": [[f"https://img/{r[0]}.jpg"] if r[3] else None for r in rows],
        }
    )
    return frame


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


def engine_frame(rows: list[tuple[str | None, str, str, str | None]]) -> pd.DataFrame:
    """The same rows with every column and dtype of the engine's chunks."""
    frame: pd.DataFrame = empty_frame().reindex(range(len(rows)))
    small = pull(rows)
    for name in small.columns:
        frame[name] = small[name].to_numpy() if name == "images" else small[name]
    return frame


def fed_in_chunks(frame: pd.DataFrame, directory: Path, sizes: list[int]) -> SnapshotResult:
    with open_snapshot(directory, day=DAY) as snapshot:
        start = 0
        for size in sizes:
            snapshot.write(frame.iloc[start : start + size].set_axis(range(start, start + size)))
            start += size
        return snapshot.finish()


def test_chunks_fed_as_they_arrive_make_the_same_day_file(tmp_path: Path) -> None:
    earlier = engine_frame([("B1", "com", "ok", "v1"), ("B2", "com", "failed", None)])
    later = engine_frame(
        [
            ("B1", "com", "ok", "v2"),
            ("B2", "com", "ok", "v2"),
            (None, "com", "invalid", None),
            ("B3", "de", "skipped", None),
            ("B1", "com", "ok", "v3"),
        ]
    )
    results = []
    for name, feed in [("whole", None), ("chunks", [2, 0, 1, 2])]:
        directory = tmp_path / name
        write_snapshot(earlier, directory, day=DAY)
        result = (
            write_snapshot(later, directory, day=DAY)
            if feed is None
            else fed_in_chunks(later, directory, feed)
        )
        results.append((result.rows, result.written, result.replaced, result.unkeyed))
        files = sorted(p.name for p in partition_dir(directory, DAY).iterdir())
        assert files == [".lock", "part-0.parquet"]  # no spool left behind
    assert results[0] == results[1] == (3, 3, 2, 1)
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "chunks"), pd.read_parquet(tmp_path / "whole")
    )


def test_readers_see_the_last_snapshot_until_the_run_finishes(tmp_path: Path) -> None:
    write_snapshot(engine_frame([("B1", "com", "ok", "v1")]), tmp_path, day=DAY)
    with open_snapshot(tmp_path, day=DAY) as snapshot:
        snapshot.write(engine_frame([("B2", "com", "ok", "v2")]))
        assert pd.read_parquet(tmp_path)["asin"].tolist() == ["B1"]  # the spool is hidden
        result = snapshot.finish()
    assert result.rows == 2
    assert sorted(pd.read_parquet(tmp_path)["asin"]) == ["B1", "B2"]


def test_a_failed_run_leaves_the_day_as_it_was(tmp_path: Path) -> None:
    write_snapshot(engine_frame([("B1", "com", "ok", "v1")]), tmp_path, day=DAY)
    before = (partition_dir(tmp_path, DAY) / "part-0.parquet").read_bytes()

    def run() -> None:
        with open_snapshot(tmp_path, day=DAY) as snapshot:
            snapshot.write(engine_frame([("B1", "com", "ok", "v2")]))
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run()
    assert (partition_dir(tmp_path, DAY) / "part-0.parquet").read_bytes() == before
    assert sorted(p.name for p in partition_dir(tmp_path, DAY).iterdir()) == [
        ".lock",
        "part-0.parquet",
    ]


def search_pull(rows: list[tuple[int, str | None, int | None, str | None, str]]) -> pd.DataFrame:
    """(input position, query, page, asin, status) rows shaped like a search chunk."""
    frame: pd.DataFrame = pd.DataFrame(
        {
            "query": pd.array([r[1] for r in rows], dtype="string"),
            "domain": pd.array(["com"] * len(rows), dtype="string"),
            "sort_by": pd.array(["best_match"] * len(rows), dtype="string"),
            "page": pd.array([r[2] for r in rows], dtype="Int64"),
            "asin": pd.array([r[3] for r in rows], dtype="string"),
            "status": pd.array([r[4] for r in rows], dtype="string"),
        },
        index=[r[0] for r in rows],
    )
    return frame


def test_a_search_day_replaces_whole_queries_and_never_with_a_worse_pull(tmp_path: Path) -> None:
    """Per query the newest pull whose rows are all final wins, with all its rows (never a mix
    of two pulls' pages); a duplicate query of one pull is kept once; no query, no row."""
    write_snapshot(
        search_pull(
            [
                (0, "pan", 1, "P1", "ok"),
                (0, "pan", 2, "P2", "ok"),
                (1, "lamp", 1, "L1", "ok"),
                (2, "desk", 1, None, "failed"),
            ]
        ),
        tmp_path,
        day=DAY,
        key=SEARCH_KEY,
    )
    second = write_snapshot(
        search_pull(
            [
                (0, "pan", 1, "P9", "ok"),  # one page now: replaces both earlier pages
                (1, "lamp", 1, "L9", "ok"),
                (1, "lamp", 2, None, "failed"),  # a worse pull: the earlier lamp stays
                (2, "desk", 1, "D1", "ok"),  # a success replaces the failure
                (3, "pan", 1, "P9", "ok"),  # the duplicate of position 0
                (4, None, None, None, "invalid"),  # an empty query: no key
            ]
        ),
        tmp_path,
        day=DAY,
        key=SEARCH_KEY,
    )
    table = pd.read_parquet(tmp_path)
    got = [(r.query, r.page, r.asin, r.status) for r in table.itertuples()]
    assert got == [  # in the order they came: the duplicate pan where it first came
        ("lamp", 1, "L1", "ok"),
        ("pan", 1, "P9", "ok"),
        ("desk", 1, "D1", "ok"),
    ]
    assert (second.rows, second.written, second.replaced, second.unkeyed) == (3, 2, 3, 1)
