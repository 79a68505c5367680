"""Price-drop alerts over a history of pulls (what :func:`asa_bulk.history` returns).

A product's price on a day is a drop when it is at least ``pct`` percent below the reference,
and the reference comes only from that product's earlier ``ok`` prices:

- ``previous``: the price of its previous pull;
- ``min_30d`` / ``avg_30d``: the lowest / mean price of the 30 days before (that day excluded);
- ``all_time_low``: the lowest price of every earlier pull.

Re-arm rule: a product is reported on the first day of a run of drop days and not again until a
day that is not a drop (its price back within ``pct`` of the reference, or no usable price that
day), so a product that stays low is reported once per drop, not every day. Rows without a
price, or not ``ok``, neither alert nor serve as a reference (a failed pull is not a price).
"""

from __future__ import annotations

import math
from typing import Final, Literal

import pandas as pd

from ._errors import InputError

REFERENCES: Final = ("previous", "min_30d", "avg_30d", "all_time_low")
_NEEDED: Final = ("snapshot_date", "asin", "price", "status")


def price_drops(
    history: pd.DataFrame,
    *,
    pct: float = 10,
    vs: Literal["previous", "min_30d", "avg_30d", "all_time_low"] = "previous",
) -> pd.DataFrame:
    """The rows of ``history`` whose price fell at least ``pct`` percent against ``vs``, with
    ``reference_price`` and ``drop_pct`` added, in date order (see the module docstring)."""
    if not isinstance(history, pd.DataFrame):
        raise InputError(f"history must be a DataFrame (asa_bulk.history), got {type(history)}")
    missing = [name for name in _NEEDED if name not in history.columns]
    if missing:
        raise InputError(f"history lacks the column(s) {', '.join(missing)}: use asa_bulk.history")
    if vs not in REFERENCES:
        raise InputError(f"vs must be one of {', '.join(REFERENCES)}, got {vs!r}")
    if isinstance(pct, bool) or not isinstance(pct, int | float) or not math.isfinite(pct):
        raise InputError(f"pct must be a finite number between 0 and 100, got {pct!r}")
    if not 0 < pct < 100:
        raise InputError(f"pct must be between 0 and 100 (exclusive), got {pct}")
    keys = ["asin", "domain"] if "domain" in history.columns else ["asin"]
    priced = history[(history["status"] == "ok").fillna(False) & history["price"].notna()]
    priced = priced.sort_values([*keys, "snapshot_date"], kind="stable")
    days = pd.to_datetime(priced["snapshot_date"])
    prices = priced["price"].astype("float64")
    groups = prices.groupby([priced[k] for k in keys], sort=False, dropna=False)
    if vs == "previous":
        reference = groups.shift(1)
    elif vs == "all_time_low":
        reference = groups.cummin().groupby([priced[k] for k in keys], dropna=False).shift(1)
    else:
        reference = _rolling(prices.set_axis(days), priced, keys, vs).set_axis(priced.index)
    drop = (reference - prices) / reference * 100
    is_drop = (drop >= pct - 1e-9).fillna(False)
    before = is_drop.groupby([priced[k] for k in keys], dropna=False).shift(1)
    first = is_drop & ~before.fillna(False).astype(bool)
    out = priced[first.to_numpy(dtype=bool)].assign(
        reference_price=reference[first].to_numpy(), drop_pct=drop[first].round(2).to_numpy()
    )
    result: pd.DataFrame = out.sort_values(["snapshot_date", *keys], kind="stable")
    return result


def _rolling(by_day: pd.Series, priced: pd.DataFrame, keys: list[str], vs: str) -> pd.Series:
    """The min or mean of each product's prices in the 30 days before each day."""
    frame = pd.DataFrame({"price": by_day.to_numpy(), "day": by_day.index})
    for k in keys:
        frame[k] = priced[k].to_numpy()
    window = frame.groupby(keys, sort=False, dropna=False).rolling("30D", on="day", closed="left")[
        "price"
    ]
    values = window.min() if vs == "min_30d" else window.mean()
    # groupby().rolling() orders by group then position, which is how ``priced`` is sorted.
    series: pd.Series = pd.Series(values.to_numpy(), dtype="float64")
    return series
