"""price_drops(): drops against each reference, reported once per drop (the re-arm rule)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from asa_bulk._errors import InputError
from asa_bulk._price_drops import price_drops


def history(prices: dict[str, list[float | None]], status: dict[tuple[str, int], str] | None = None
            ) -> pd.DataFrame:  # fmt: skip
    """Daily rows from 1 May, one list of prices per ASIN (None: ok without a price)."""
    rows = []
    for asin, series in prices.items():
        for day, price in enumerate(series):
            rows.append({"snapshot_date": pd.Timestamp("2026-05-01") + pd.Timedelta(days=day),
                         "asin": asin, "domain": "com", "price": price,
                         "status": (status or {}).get((asin, day), "ok")})  # fmt: skip
    frame: pd.DataFrame = pd.DataFrame(rows)
    frame["price"] = frame["price"].astype("Float64")
    return frame


def days(table: pd.DataFrame) -> list[tuple[str, int]]:
    start = pd.Timestamp("2026-05-01")
    return [
        (str(asin), (day - start).days)
        for asin, day in zip(table["asin"], table["snapshot_date"], strict=True)
    ]


def test_a_product_that_stays_low_is_reported_once_per_drop() -> None:
    # Falls on day 2, stays low (the 30-day mean lags, so the condition holds on), recovers on
    # day 6, falls again on day 7: two alerts.
    table = price_drops(history({"A": [100, 100, 80, 80, 80, 80, 100, 70]}), vs="avg_30d")
    assert days(table) == [("A", 2), ("A", 7)]
    assert table["reference_price"].tolist()[0] == 100.0
    assert table["drop_pct"].tolist()[0] == 20.0


@pytest.mark.parametrize(
    ("vs", "expected"),
    [
        ("previous", [("A", 1), ("A", 3)]),  # 100 -> 89 (11%), 95 -> 85 (10.5%)
        ("all_time_low", [("A", 1)]),  # 85 is not 10% under the low of 89
        ("min_30d", [("A", 1)]),
        ("avg_30d", [("A", 1), ("A", 3)]),
    ],
)
def test_each_reference(vs: Any, expected: list[tuple[str, int]]) -> None:
    assert days(price_drops(history({"A": [100, 89, 95, 85]}), vs=vs)) == expected


def test_failed_days_and_missing_prices_are_no_price() -> None:
    frame = history({"A": [100, 50, None, 89], "B": [10, 9.5]}, status={("A", 1): "failed"})
    table = price_drops(frame, pct=10)
    assert days(table) == [("A", 3)]  # 89 vs 100: the failed 50 and the missing price skipped
    assert table["reference_price"].tolist() == [100.0]


def test_a_window_of_30_days_forgets_older_prices() -> None:
    frame = history({"A": [200.0, *[None] * 30, 100.0, 90.0]})
    assert days(price_drops(frame, vs="min_30d")) == [("A", 32)]  # 200 left the window


@pytest.mark.parametrize("pct", [0, 100, -5, float("nan"), float("inf"), True, "10"])
def test_bad_settings_say_what_is_wrong(pct: Any) -> None:
    with pytest.raises(InputError, match="pct must be"):
        price_drops(history({"A": [1.0]}), pct=pct)


def test_bad_inputs_say_what_is_wrong() -> None:
    with pytest.raises(InputError, match="vs must be one of"):
        price_drops(history({"A": [1.0]}), vs="yesterday")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="lacks the column"):
        price_drops(pd.DataFrame({"asin": ["A"]}))
