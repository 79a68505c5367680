"""What changed between two pulls of a snapshot folder: one row per key, and what happened to it.

``change`` is ``added`` (only in the later pull), ``removed`` (only in the earlier one),
``failed`` (in both, but not ``ok`` on at least one side: nothing can be compared),
``changed`` (a compared column differs) or ``unchanged``. By default the product's own fields
are compared, never run metadata (when and how it was fetched), so two pulls of the same data
are all ``unchanged``. A key that appears more than once in a pull (an ASIN both sponsored and
organic in one search) is compared by its first row, the best-ranked one.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Final

import numpy as np
import pandas as pd

from ._errors import InputError
from ._history import SNAPSHOT_DATE, as_day, history, snapshot_days
from ._values import real

CHANGES: Final = ("added", "removed", "changed", "unchanged", "failed")
#: Columns that say how a row was fetched, not what the product is: never compared by default.
RUN_METADATA: Final = frozenset(
    {SNAPSHOT_DATE, "date", "status", "error", "error_message", "http_status", "attempts",
     "key_id", "request_id", "fetched_at", "latency_ms", "input", "raw"}
)  # fmt: skip


def diff(
    snapshot_dir: str | os.PathLike[str],
    a: date | datetime | str | None = None,
    b: date | datetime | str | None = None,
    *,
    key: Sequence[str] = ("asin", "domain"),
    columns: Sequence[str] | None = None,
    tolerance: float = 0.0,
) -> pd.DataFrame:
    """Compare the pull of day ``a`` with that of day ``b`` (default: the last two days).

    One row per ``key`` with ``change`` (see the module docstring), ``status_old``/``status_new``
    and, for each compared column, ``<col>_old`` and ``<col>_new``, plus ``<col>_delta`` and
    ``<col>_pct`` (percent of the old value) for numbers. A number changes only when it moves by
    more than ``tolerance`` (same unit as the column); NA on one side only is a change.
    ``df.attrs["summary"]`` counts each ``change`` and names the two days. For search
    snapshots use ``key=("query", "domain", "asin")`` and, say, ``columns=["position"]``.
    """
    slack = real("tolerance", tolerance, zero_ok=True)
    keys = [key] if isinstance(key, str) else list(key)
    old_day, new_day = _days(snapshot_dir, a, b)
    old = history(snapshot_dir, start=old_day, end=old_day)
    new = history(snapshot_dir, start=new_day, end=new_day)
    missing = [name for name in keys if name not in old.columns or name not in new.columns]
    if missing:
        raise InputError(f"the snapshots have no key column {', '.join(map(repr, missing))}")
    compared = _compared(old, new, keys, columns)
    old1 = old.drop_duplicates(keys, keep="first").drop(columns=[SNAPSHOT_DATE])
    new1 = new.drop_duplicates(keys, keep="first").drop(columns=[SNAPSHOT_DATE])
    wanted = [*keys, "status", *compared]
    both = old1[wanted].merge(
        new1[wanted], on=keys, how="outer", suffixes=("_old", "_new"), indicator=True, sort=False
    )
    differs = np.zeros(len(both), dtype=bool)
    out = both[keys].copy()
    out["status_old"], out["status_new"] = both["status_old"], both["status_new"]
    for name in compared:
        before, after = both[f"{name}_old"], both[f"{name}_new"]
        out[f"{name}_old"], out[f"{name}_new"] = before, after
        if _is_number(before) and _is_number(after):
            delta = after.astype("Float64") - before.astype("Float64")
            out[f"{name}_delta"] = delta
            base = before.astype("Float64")
            out[f"{name}_pct"] = (delta / base.where(base != 0) * 100).round(2)
            moved = (delta.abs() > slack).fillna(False)
            one_na = before.isna() != after.isna()
            differs |= (moved | one_na).to_numpy(dtype=bool)
        else:
            same = (before.astype(object) == after.astype(object)) | (before.isna() & after.isna())
            differs |= ~same.fillna(False).to_numpy(dtype=bool)
    side = both["_merge"].astype(str).to_numpy()
    ok = (both["status_old"] == "ok").fillna(False) & (both["status_new"] == "ok").fillna(False)
    change = np.select(
        [side == "right_only", side == "left_only", ~ok.to_numpy(dtype=bool), differs],
        ["added", "removed", "failed", "changed"],
        default="unchanged",
    )
    out.insert(len(keys), "change", pd.array(change, dtype="string"))
    result: pd.DataFrame = out.reset_index(drop=True)
    counts = result["change"].value_counts()
    result.attrs["summary"] = {
        "a": old_day.isoformat(),
        "b": new_day.isoformat(),
        **{name: int(counts.get(name, 0)) for name in CHANGES},
    }
    return result


def _days(directory: Any, a: object, b: object) -> tuple[date, date]:
    days = [day for day, _ in snapshot_days(directory)]
    first, second = as_day("a", a), as_day("b", b)
    if first is None and second is None:
        if len(days) < 2:
            raise InputError(f"{directory} holds one pull ({days[0]}); a diff needs two")
        return days[-2], days[-1]
    for name, day in (("a", first), ("b", second)):
        if day is not None and day not in days:
            shown = ", ".join(d.isoformat() for d in days[-5:])
            raise InputError(f"{name}: no pull on {day} in {directory} (last days: {shown})")
    if second is None:  # a given: compare it with the pull after it
        later = [day for day in days if first is not None and day > first]
        if not later:
            raise InputError(f"a: no pull after {first} in {directory} to compare with")
        second = later[0]
    if first is None:
        earlier = [day for day in days if day < second]
        if not earlier:
            raise InputError(f"b: no pull before {second} in {directory} to compare with")
        first = earlier[-1]
    return first, second


def _compared(
    old: pd.DataFrame, new: pd.DataFrame, keys: list[str], columns: Sequence[str] | None
) -> list[str]:
    present = [name for name in old.columns if name in new.columns]
    if columns is None:
        return [name for name in present if name not in RUN_METADATA and name not in keys]
    chosen = [columns] if isinstance(columns, str) else list(columns)
    unknown = [name for name in chosen if name not in present]
    if unknown:
        raise InputError(
            f"no column {', '.join(map(repr, unknown))} in both pulls; they have: "
            + ", ".join(present)
        )
    return [name for name in chosen if name not in keys]


def _is_number(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
