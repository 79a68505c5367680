"""Rank tracking on search results: where given ASINs rank, and each brand's share of voice.

Both take the search frame (one row per result card: ``query``, ``domain``, ``page``, ``slot``,
``position``, ``sponsored_position``, ``is_sponsored``, ``asin``, ``brand``, ``status``,
``no_results``) of one run or of many: with a ``snapshot_date`` column, or the ``date`` column
of the CLI's dated snapshots (``pd.read_parquet(snapshot_dir)``), or else a ``fetched_at`` one,
each day is its own group, so a rank over the last 30 days is one ``groupby`` away. Results of
one query under two ``sort_by`` orders are two groups.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Final, Literal

import pandas as pd

#: What :func:`ranks` says of an ASIN in one query's results.
FOUND, NOT_IN_PAGES, NO_RESULTS, QUERY_FAILED = (
    "found",
    "not_in_pages",
    "no_results",
    "query_failed",
)
_NEEDED: Final = ("query", "domain", "status", "no_results", "asin")
_PLACEMENTS: Final = ("all", "organic", "sponsored")
_QUERY_KEYS: Final = ("query", "domain", "sort_by")


def ranks(results: pd.DataFrame, asins: Iterable[str]) -> pd.DataFrame:
    """One row per (query, domain[, sort_by][, day], asin): ``best_position`` (organic),
    ``best_sponsored_position``, ``page`` (of the best organic card, else the best sponsored
    one), ``found``, and ``state``: ``"found"``, ``"not_in_pages"`` (the query answered, the ASIN
    is not in the pages fetched), ``"no_results"`` (the query matched nothing) or
    ``"query_failed"`` (no usable answer: see the results' ``status``/``error``)."""
    wanted = _asins(asins)
    frame, keys = _prepared(results, ("position", "sponsored_position", "page"))
    out = []
    for group_key, group in frame.groupby(keys, sort=False, dropna=False):
        named = group_key if isinstance(group_key, tuple) else (group_key,)
        values = dict(zip(keys, named, strict=True))
        failed = bool((group["status"] != "ok").any())
        empty = bool(group["no_results"].fillna(False).all())
        for asin in wanted:
            # Positional: a search frame's index repeats (each row's query position).
            cards = group[group["asin"] == asin].reset_index(drop=True)
            organic = cards["position"].dropna()
            sponsored = cards["sponsored_position"].dropna()
            best = cards.loc[organic.idxmin()] if len(organic) else None
            if best is None and len(sponsored):
                best = cards.loc[sponsored.idxmin()]
            if best is not None:
                state = FOUND
            else:
                state = QUERY_FAILED if failed else NO_RESULTS if empty else NOT_IN_PAGES
            out.append(
                {
                    **values,
                    "asin": asin,
                    "best_position": organic.min() if len(organic) else pd.NA,
                    "best_sponsored_position": sponsored.min() if len(sponsored) else pd.NA,
                    "page": best["page"] if best is not None else pd.NA,
                    "found": best is not None,
                    "state": state,
                }
            )
    columns = [*keys, "asin", "best_position", "best_sponsored_position", "page", "found", "state"]
    table = pd.DataFrame(out, columns=columns)
    typed: pd.DataFrame = table.astype(
        {
            "asin": "string",
            "best_position": "Int64",
            "best_sponsored_position": "Int64",
            "page": "Int64",
            "found": "boolean",
            "state": "string",
        }
    )
    return typed


def share_of_voice(
    results: pd.DataFrame,
    by: Literal["brand", "asin"] = "brand",
    top_n: int | None = None,
    placement: Literal["all", "organic", "sponsored"] = "all",
) -> pd.DataFrame:
    """Each ``by`` value's share of the result slots, per query (``level="query"``) and over
    all queries (``level="overall"``, ``query`` and ``domain`` NA), per date when the results
    have one. ``placement`` counts all cards, organic or sponsored ones; ``top_n`` only the
    first ``top_n`` of them (by organic rank, sponsored rank, or on-page order for ``"all"``).
    Failed and zero-result queries hold no slots. A card without a brand counts as
    ``"(unknown)"``."""
    if by not in ("brand", "asin"):
        raise ValueError(f"by must be 'brand' or 'asin', got {by!r}")
    if placement not in _PLACEMENTS:
        raise ValueError(f"placement must be one of {', '.join(_PLACEMENTS)}, got {placement!r}")
    _check_top_n(top_n)
    rank = {"all": "slot", "organic": "position", "sponsored": "sponsored_position"}[placement]
    frame, keys = _prepared(results, (by, rank, "is_sponsored"))
    cards = frame[(frame["status"] == "ok") & ~frame["no_results"].fillna(False).astype(bool)]
    cards = cards[cards["asin"].notna()]
    if placement != "all":
        cards = cards[
            cards["is_sponsored"].fillna(False).astype(bool) == (placement == "sponsored")
        ]
    if top_n is not None:
        cards = cards[cards[rank] <= top_n]
    who = cards[by].astype("string").fillna("(unknown)")
    cards = cards.assign(**{by: who})
    dated = [k for k in keys if k not in _QUERY_KEYS]
    per_query = _shares(cards, keys, by).assign(level="query")
    blank = {name: None for name in keys if name in _QUERY_KEYS}
    overall = _shares(cards, dated, by).assign(level="overall", **blank)
    table = pd.concat([per_query, overall], ignore_index=True)
    table = table[[*keys, "level", by, "slots", "share"]]
    typed: pd.DataFrame = table.astype({"query": "string", "domain": "string", "level": "string"})
    return typed


def _shares(cards: pd.DataFrame, keys: list[str], by: str) -> pd.DataFrame:
    """Slots per ``keys`` + ``by`` and their share of the slots per ``keys``."""
    sizes = cards.groupby([*keys, by], sort=False, dropna=False).size().rename("slots")
    counts: pd.DataFrame = sizes.reset_index()
    if keys:
        totals = counts.groupby(keys, sort=False, dropna=False)["slots"].transform("sum")
    else:
        totals = pd.Series(counts["slots"].sum(), index=counts.index)
    counts["slots"] = counts["slots"].astype("Int64")
    counts["share"] = (counts["slots"] / totals).astype("Float64")
    return counts


def _prepared(results: pd.DataFrame, extra: tuple[str, ...]) -> tuple[pd.DataFrame, list[str]]:
    """The columns needed, and the group keys: query, domain, sort_by when there is one, and
    the day when there is one."""
    if not isinstance(results, pd.DataFrame):
        raise TypeError(f"results must be a DataFrame of search results, got {type(results)}")
    missing = [name for name in (*_NEEDED, *extra) if name not in results.columns]
    if missing:
        raise ValueError(
            f"results lack the column(s) {', '.join(missing)}: pass the frame a search returned"
        )
    frame = results
    keys = ["query", "domain"]
    if "sort_by" in frame.columns:
        keys.append("sort_by")
    if "snapshot_date" in frame.columns:
        keys.append("snapshot_date")
    elif "date" in frame.columns:  # a hive partition read back: text or a category of it
        frame = frame.assign(date=pd.to_datetime(frame["date"].astype("string")).dt.date)
        keys.append("date")
    elif "fetched_at" in frame.columns:
        day = pd.to_datetime(frame["fetched_at"], utc=True).dt.date  # NA for a row without one
        frame = frame.assign(date=day)
        keys.append("date")
    return frame, keys


def _asins(asins: Iterable[str]) -> list[str]:
    if isinstance(asins, str):
        asins = [asins]  # one ASIN, not its letters
    wanted = list(dict.fromkeys(asins))
    bad = [a for a in wanted if not isinstance(a, str) or not a.strip()]
    if bad:
        raise ValueError(f"asins must be non-empty strings, got {bad[0]!r}")
    return [a.strip().upper() for a in wanted]


def _check_top_n(top_n: object) -> None:
    if top_n is None:
        return
    if isinstance(top_n, bool) or not isinstance(top_n, int | float):
        raise ValueError(f"top_n must be a whole number >= 1 or None, got {top_n!r}")
    if not math.isfinite(top_n) or top_n < 1 or int(top_n) != top_n:
        raise ValueError(f"top_n must be a whole number >= 1 or None, got {top_n!r}")
