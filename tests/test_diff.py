"""diff(): what changed between two pulls, every change value, tolerance and the defaults."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from asa_bulk._diff import diff
from asa_bulk._errors import ConfigError, InputError
from asa_bulk.cli._snapshot import SEARCH_KEY, write_snapshot

D1, D2, D3 = date(2026, 5, 1), date(2026, 5, 2), date(2026, 5, 4)


def pull(rows: list[tuple[str, str, float | None, str]], stamp: str) -> pd.DataFrame:
    """(asin, status, price, availability) rows, fetched at ``stamp`` (run metadata)."""
    frame: pd.DataFrame = pd.DataFrame(
        {
            "asin": pd.array([r[0] for r in rows], dtype="string"),
            "domain": pd.array(["com"] * len(rows), dtype="string"),
            "status": pd.array([r[1] for r in rows], dtype="string"),
            "price": pd.array([r[2] for r in rows], dtype="Float64"),
            "availability": pd.array([r[3] for r in rows], dtype="string"),
            "request_id": pd.array([f"req-{stamp}-{r[0]}" for r in rows], dtype="string"),
            "fetched_at": pd.to_datetime([stamp] * len(rows), utc=True),
        }
    )
    return frame


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write_snapshot(pull([("B1", "ok", 10.0, "in"), ("B2", "ok", 20.0, "in"),
                         ("B3", "ok", 5.0, "in"), ("B4", "ok", 8.0, "in"),
                         ("B5", "ok", 1.0, "in")], "2026-05-01"), tmp_path, day=D1)  # fmt: skip
    write_snapshot(pull([("B1", "ok", 10.0, "in"), ("B2", "ok", 15.0, "in"),
                         ("B3", "failed", None, "in"), ("B4", "ok", 8.0, "out"),
                         ("B6", "ok", 3.0, "in")], "2026-05-02"), tmp_path, day=D2)  # fmt: skip
    return tmp_path


def test_every_change_value_and_the_deltas(folder: Path) -> None:
    table = diff(folder).set_index("asin")
    assert table["change"].to_dict() == {
        "B1": "unchanged", "B2": "changed", "B3": "failed", "B4": "changed",
        "B5": "removed", "B6": "added"}  # fmt: skip
    assert (table.loc["B2", "price_old"], table.loc["B2", "price_new"]) == (20.0, 15.0)
    assert (table.loc["B2", "price_delta"], table.loc["B2", "price_pct"]) == (-5.0, -25.0)
    assert table.loc["B4", ["availability_old", "availability_new"]].tolist() == ["in", "out"]
    assert "availability_delta" not in table.columns  # text: no delta
    assert not any(c.startswith(("request_id", "fetched_at")) for c in table.columns)
    assert table.attrs["summary"] == {"a": "2026-05-01", "b": "2026-05-02", "added": 1,
        "removed": 1, "changed": 2, "unchanged": 1, "failed": 1}  # fmt: skip


def test_identical_pulls_are_unchanged_whatever_their_run_metadata(tmp_path: Path) -> None:
    rows = [("B1", "ok", 10.0, "in"), ("B2", "ok", None, "in")]
    write_snapshot(pull(rows, "2026-05-01"), tmp_path, day=D1)
    write_snapshot(pull(rows, "2026-05-02"), tmp_path, day=D2)
    assert set(diff(tmp_path)["change"]) == {"unchanged"}


def test_tolerance_columns_and_chosen_days(folder: Path) -> None:
    write_snapshot(pull([("B1", "ok", 10.004, "out")], "2026-05-04"), folder, day=D3)
    latest = diff(folder, columns=["price"], tolerance=0.01).set_index("asin")  # D2 -> D3
    assert latest.loc["B1", "change"] == "unchanged"  # availability not compared; 0.004 < 0.01
    assert diff(folder, columns="price").set_index("asin").loc["B1", "change"] == "changed"
    assert diff(folder, a="2026-05-01").attrs["summary"]["b"] == "2026-05-02"
    assert diff(folder, a=D1, b=D3).attrs["summary"]["removed"] == 4


def test_search_snapshots_diff_positions_per_query_and_asin(tmp_path: Path) -> None:
    def ranks(positions: list[tuple[str, int | None]]) -> pd.DataFrame:
        frame: pd.DataFrame = pd.DataFrame(
            {
                "query": pd.array(["pan"] * len(positions), dtype="string"),
                "domain": pd.array(["com"] * len(positions), dtype="string"),
                "sort_by": pd.array(["best_match"] * len(positions), dtype="string"),
                "asin": pd.array([p[0] for p in positions], dtype="string"),
                "position": pd.array([p[1] for p in positions], dtype="Int64"),
                "status": pd.array(["ok"] * len(positions), dtype="string"),
            },
            index=[0] * len(positions),
        )  # one query: its rows share its input position
        return frame

    write_snapshot(ranks([("A", None), ("A", 1), ("B", 2)]), tmp_path, day=D1, key=SEARCH_KEY)
    write_snapshot(ranks([("B", 1), ("A", 2)]), tmp_path, day=D2, key=SEARCH_KEY)
    table = diff(tmp_path, key=("query", "domain", "asin"), columns=["position"])
    got = table.set_index("asin")
    assert got["change"].to_dict() == {"A": "changed", "B": "changed"}
    assert got["position_new"].to_dict() == {"A": 2, "B": 1}
    # A's first row (a sponsored card, no organic position) is the one compared.
    assert got.loc["A", "position_old"] is pd.NA
    assert got.loc["B", "position_old"] == 2
    assert got["position_old"].dtype == "Int64"


def test_bad_arguments_say_what_is_wrong(folder: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no pull on 2026-05-09"):
        diff(folder, a="2026-05-09")
    with pytest.raises(InputError, match="no column 'prize'"):
        diff(folder, columns=["prize"])
    with pytest.raises(InputError, match="no key column 'sku'"):
        diff(folder, key=["sku"])
    with pytest.raises(ConfigError, match="tolerance must be"):
        diff(folder, tolerance=float("nan"))
    with pytest.raises(InputError, match="no pull before 2026-05-01"):
        diff(folder, b=D1)
    with pytest.raises(InputError, match="no pull after 2026-05-02"):
        diff(folder, a=D2)
    single = tmp_path / "one"
    write_snapshot(pull([("B1", "ok", 1.0, "in")], "2026-05-01"), single, day=D1)
    with pytest.raises(InputError, match="a diff needs two"):
        diff(single)
