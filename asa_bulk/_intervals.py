"""Slowly-changing-dimension (type 2) view of a history: one row per stretch of unchanged values.

For each product (``asin``, ``domain``), its ``ok`` pulls in date order are cut wherever one of
``columns`` changes; each stretch is a row with those values, ``valid_from`` (its first day),
``valid_to`` (the first day of the next stretch, exclusive; NaT for the latest one),
``last_seen`` (its last pull) and ``is_current``. A day without a pull, or whose pull failed, is
a gap, never a change or a deletion: the stretch goes on if the next pull has the same values.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from ._errors import InputError


def intervals(history: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The type-2 intervals of ``columns`` in ``history`` (what :func:`asa_bulk.history` gives),
    ordered by product then ``valid_from``; see the module docstring."""
    if not isinstance(history, pd.DataFrame):
        raise InputError(f"history must be a DataFrame (asa_bulk.history), got {type(history)}")
    chosen = [columns] if isinstance(columns, str) else list(columns)
    if not chosen:
        raise InputError("columns: name at least one column to track (price, say)")
    keys = ["asin", "domain"] if "domain" in history.columns else ["asin"]
    missing = [n for n in ("snapshot_date", "status", *keys, *chosen) if n not in history.columns]
    if missing:
        raise InputError(f"history lacks the column(s) {', '.join(missing)}: use asa_bulk.history")
    seen = history[(history["status"] == "ok").fillna(False)]
    seen = seen.sort_values([*keys, "snapshot_date"], kind="stable")
    by_product = [seen[k] for k in keys]
    new_stretch = pd.Series(False, index=seen.index)
    for name in chosen:
        values = seen[name].astype(object)
        before = values.groupby(by_product, sort=False, dropna=False).shift(1)
        same = (values == before) | (values.isna() & before.isna())
        new_stretch |= ~same.fillna(False).astype(bool)
    first = seen.groupby(by_product, sort=False, dropna=False).cumcount() == 0
    stretch = (new_stretch | first).cumsum()
    grouped = seen.groupby(stretch, sort=False)
    out = grouped[[*keys, *chosen]].first()
    out["valid_from"] = grouped["snapshot_date"].min()
    out["last_seen"] = grouped["snapshot_date"].max()
    following = out.groupby([out[k] for k in keys], sort=False, dropna=False)["valid_from"]
    out["valid_to"] = following.shift(-1)
    out["is_current"] = out["valid_to"].isna()
    result: pd.DataFrame = out.reset_index(drop=True)
    return result
