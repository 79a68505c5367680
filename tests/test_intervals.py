"""intervals(): type-2 stretches of unchanged values; a missing or failed day is a gap."""

from __future__ import annotations

import pandas as pd
import pytest

from asa_bulk._errors import InputError
from asa_bulk._intervals import intervals


def history(rows: list[tuple[int, str, str, float | None, str]]) -> pd.DataFrame:
    """(day of May, asin, status, price, availability) rows."""
    frame: pd.DataFrame = pd.DataFrame(
        {
            "snapshot_date": [pd.Timestamp(2026, 5, r[0]) for r in rows],
            "asin": [r[1] for r in rows],
            "domain": ["com"] * len(rows),
            "status": [r[2] for r in rows],
            "price": pd.array([r[3] for r in rows], dtype="Float64"),
            "availability": [r[4] for r in rows],
        }
    )
    return frame


def test_stretches_cut_on_change_and_gaps_do_not_cut() -> None:
    frame = history([
        (1, "A", "ok", 10.0, "in"), (2, "A", "ok", 10.0, "in"),
        # 3 May: no pull. 4 May: failed. Neither ends the stretch.
        (4, "A", "failed", None, "in"), (5, "A", "ok", 10.0, "in"),
        (6, "A", "ok", 12.0, "in"), (7, "A", "ok", None, "in"), (8, "A", "ok", None, "in"),
        (1, "B", "ok", 5.0, "out"),
    ])  # fmt: skip
    table = intervals(frame, ["price"])
    a = table[table["asin"] == "A"]
    assert a["price"].tolist()[:2] == [10.0, 12.0]
    assert a["price"].iloc[2] is pd.NA  # a price gone missing is a value of its own
    assert [d.day for d in a["valid_from"]] == [1, 6, 7]
    assert [d.day for d in a["last_seen"]] == [5, 6, 8]
    assert [None if pd.isna(d) else d.day for d in a["valid_to"]] == [6, 7, None]
    assert a["is_current"].tolist() == [False, False, True]
    b = table[table["asin"] == "B"]
    assert (len(b), bool(b["is_current"].iloc[0])) == (1, True)


def test_several_columns_cut_where_any_changes() -> None:
    frame = history([(1, "A", "ok", 10.0, "in"), (2, "A", "ok", 10.0, "out"),
                     (3, "A", "ok", 10.0, "out")])  # fmt: skip
    assert len(intervals(frame, ["price"])) == 1
    table = intervals(frame, ["price", "availability"])
    assert table["availability"].tolist() == ["in", "out"]


def test_bad_inputs_say_what_is_wrong() -> None:
    frame = history([(1, "A", "ok", 1.0, "in")])
    with pytest.raises(InputError, match="at least one column"):
        intervals(frame, [])
    with pytest.raises(InputError, match="lacks the column"):
        intervals(frame, ["prize"])
