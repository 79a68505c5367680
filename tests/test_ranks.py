"""Search results flattened from both documented shapes, and the rank-tracking helpers."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from asa_bulk._ranks import ranks as ranks_of
from asa_bulk._ranks import share_of_voice
from asa_bulk._search_flatten import SEARCH_RESULT_COLUMNS, result_rows


def docs_card(asin: str, sponsored: bool = False, **fields: Any) -> dict[str, Any]:
    return {"asin": asin, "title": f"T {asin}", "price": 9.5, "currency": "USD",
            "is_sponsored": sponsored, "organic_position": 99, "sponsored_position": None,
            "is_prime": True, **fields}  # fmt: skip


def sdk_card(asin: str, sponsored: bool = False) -> dict[str, Any]:
    return {"position": 7, "asin": asin, "price": {"current": 5.0, "currency": "EUR"},
            "review_count": 12, "sponsored": sponsored, "prime": False}  # fmt: skip


def rows(pages: list[tuple[int, Any]]) -> list[dict[str, Any]]:
    return [dict(zip(SEARCH_RESULT_COLUMNS, row, strict=True)) for row in result_rows(pages)]


def test_positions_are_counted_from_the_cards_seen_across_pages() -> None:
    page1 = {"products": [docs_card("A1", True), docs_card("A2"), docs_card("A3")]}
    page2 = {"results": [sdk_card("B1"), sdk_card("B2", True), sdk_card("B3")]}  # the other shape
    got = rows([(1, page1), (2, page2)])
    # Neither the service's organic_position (99) nor its position (7) is trusted: they assume a
    # page size, or are missing for sponsored cards.
    assert [r["position"] for r in got] == [None, 1, 2, 3, None, 4]
    assert [r["sponsored_position"] for r in got] == [1, None, None, None, 2, None]
    assert [r["slot"] for r in got] == [1, 2, 3, 4, 5, 6]
    assert [r["page"] for r in got] == [1, 1, 1, 2, 2, 2]
    assert (got[1]["price"], got[1]["currency"], got[1]["is_prime"]) == (9.5, "USD", True)
    assert (got[3]["price"], got[3]["currency"], got[3]["is_prime"]) == (5.0, "EUR", False)
    assert got[3]["reviews_count"] == 12
    assert not any(r["no_results"] for r in got)


def test_a_query_with_no_card_is_one_no_results_row() -> None:
    got = rows([(1, {"products": [], "no_results": True}), (2, {"results": []})])
    assert len(got) == 1
    assert got[0]["no_results"] is True
    assert got[0]["page"] == 1
    assert got[0]["asin"] is None


def test_odd_cards_and_bodies_do_not_raise() -> None:
    got = rows([(1, {"products": ["junk", docs_card("A1", price="$1,299.00", page=3)]}),
                (2, "not a body"), (3, {"products": {"not": "a list"}})])  # fmt: skip
    assert [(r["asin"], r["price"], r["page"]) for r in got] == [("A1", 1299.0, 3)]


def _results(**days: list[dict[str, Any]]) -> pd.DataFrame:
    """A search frame: per day, per query, its rows (status ok unless given)."""
    out = []
    for day, queries in days.items():
        for q in queries:
            for r in q["rows"]:
                out.append({"query": q["query"], "domain": "com", "status": q.get("status", "ok"),
                            "snapshot_date": day, "no_results": False, **r})  # fmt: skip
    frame: pd.DataFrame = pd.DataFrame(out)
    return frame


def _card(slot: int, asin: str | None, brand: str | None, sponsored: bool = False,
          position: int | None = None, page: int = 1) -> dict[str, Any]:  # fmt: skip
    return {"slot": slot, "asin": asin, "brand": brand, "is_sponsored": sponsored, "page": page,
            "position": None if sponsored else position,
            "sponsored_position": position if sponsored else None}  # fmt: skip


HEADPHONES = {
    "query": "headphones",
    "rows": [
        _card(1, "B1", "Sony", sponsored=True, position=1),
        _card(2, "A1", "Anker", position=1),
        _card(3, "B1", "Sony", position=2),
        _card(4, "C1", None, position=3, page=2),
    ],
}
NOTHING = {"query": "zzzz", "rows": [{**_card(1, None, None), "no_results": True}]}
FAILED = {"query": "cables", "status": "failed", "rows": [_card(1, None, None)]}


def test_ranks_tells_found_missing_failed_and_no_results_apart() -> None:
    table = ranks_of(_results(d1=[HEADPHONES, NOTHING, FAILED]), ["b1", "A1", "Z9"])
    got = {(r.query, r.asin): r for r in table.itertuples()}
    sony = got[("headphones", "B1")]
    assert (sony.best_position, sony.best_sponsored_position, sony.page) == (2, 1, 1)
    assert sony.found
    assert sony.state == "found"
    assert got[("headphones", "Z9")].state == "not_in_pages"
    assert not got[("headphones", "Z9")].found
    assert got[("headphones", "Z9")].best_position is pd.NA
    assert got[("zzzz", "A1")].state == "no_results"
    assert got[("cables", "A1")].state == "query_failed"
    assert len(table) == 9  # every query x every asin, none silently missing
    assert list(table["query"].unique()) == ["headphones", "zzzz", "cables"]  # input order


def test_ranks_over_a_history_is_one_row_per_day() -> None:
    later = {**HEADPHONES, "rows": [_card(1, "A1", "Anker", position=1),
                                    _card(2, "B1", "Sony", position=2)]}  # fmt: skip
    table = ranks_of(_results(d1=[HEADPHONES], d2=[later]), ["A1"])
    assert table[["snapshot_date", "best_position"]].values.tolist() == [["d1", 1], ["d2", 1]]


def test_a_sponsored_only_asin_is_found_on_its_sponsored_page() -> None:
    only_ad = {"query": "q", "rows": [_card(1, "S1", "X", sponsored=True, position=1, page=2)]}
    [row] = ranks_of(_results(d1=[only_ad]), "S1").itertuples()
    assert (row.found, row.page, row.state) == (True, 2, "found")
    assert row.best_position is pd.NA


def test_share_of_voice_per_query_and_overall() -> None:
    table = share_of_voice(_results(d1=[HEADPHONES, NOTHING, FAILED]))
    per_query = table[table["level"] == "query"].set_index("brand")
    assert per_query["slots"].to_dict() == {"Sony": 2, "Anker": 1, "(unknown)": 1}
    assert per_query.loc["Sony", "share"] == 0.5
    assert set(table["query"].dropna()) == {"headphones"}  # failed / empty queries hold no slots
    overall = table[table["level"] == "overall"]
    assert overall["query"].isna().all()
    assert overall["share"].sum() == pytest.approx(1.0)


def test_share_of_voice_placement_and_top_n() -> None:
    results = _results(d1=[HEADPHONES])
    organic = share_of_voice(results, placement="organic", top_n=2)
    assert organic[organic["level"] == "query"].set_index("brand")["share"].to_dict() == {
        "Anker": 0.5, "Sony": 0.5}  # fmt: skip
    ads = share_of_voice(results, by="asin", placement="sponsored")
    assert ads[ads["level"] == "query"][["asin", "share"]].values.tolist() == [["B1", 1.0]]
    first = share_of_voice(results, top_n=1)
    assert first[first["level"] == "query"]["brand"].tolist() == ["Sony"]  # slot 1 is the ad


@pytest.mark.parametrize("bad", [0, -1, 1.5, float("nan"), float("inf"), True, "3"])
def test_share_of_voice_rejects_a_bad_top_n(bad: Any) -> None:
    with pytest.raises(ValueError, match="top_n must be a whole number"):
        share_of_voice(_results(d1=[HEADPHONES]), top_n=bad)


def test_bad_arguments_say_what_is_wrong() -> None:
    results = _results(d1=[HEADPHONES])
    with pytest.raises(ValueError, match="by must be"):
        share_of_voice(results, by="seller")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="placement must be"):
        share_of_voice(results, placement="ads")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"lack the column\(s\) no_results"):
        ranks_of(results.drop(columns="no_results"), ["A1"])
    with pytest.raises(ValueError, match="non-empty strings"):
        ranks_of(results, ["A1", ""])
    with pytest.raises(TypeError, match="DataFrame"):
        ranks_of([1, 2], ["A1"])  # type: ignore[arg-type]


def test_without_a_snapshot_date_the_day_of_fetched_at_groups_a_history() -> None:
    results = _results(d1=[HEADPHONES]).drop(columns="snapshot_date")
    overall = share_of_voice(results)
    assert "date" not in overall.columns  # one run, no date: per query and overall only
    assert overall[overall["level"] == "overall"]["slots"].sum() == 4
    stamps = ["2026-11-01T10:00:00Z"] * 4
    day2 = results.assign(fetched_at=["2026-11-02T10:00:00Z"] * 4)
    history = pd.concat([results.assign(fetched_at=stamps), day2], ignore_index=True)
    table = ranks_of(history, ["A1"])
    assert [str(d) for d in table["date"]] == ["2026-11-01", "2026-11-02"]
    shares = share_of_voice(history)
    assert shares[shares["level"] == "overall"].groupby("date")["share"].sum().tolist() == [
        pytest.approx(1.0),
        pytest.approx(1.0),
    ]


def test_a_snapshot_read_back_groups_by_its_date_and_sort_order_and_its_index_repeats() -> None:
    """As ``pd.read_parquet(snapshot_dir)`` gives it: ``date`` a category of text, every row of
    a query under its input position (a repeated index), one query under two sort orders."""
    one = _results(d1=[HEADPHONES]).drop(columns="snapshot_date")
    by_price = one.assign(sort_by="price_asc", position=one["position"].iloc[::-1].to_numpy())
    history = pd.concat(
        [one.assign(sort_by="best_match", date="2026-11-01"), by_price.assign(date="2026-11-01"),
         one.assign(sort_by="best_match", date="2026-11-02")]
    )  # fmt: skip
    history.index = [0] * len(history)
    history["date"] = history["date"].astype("category")
    table = ranks_of(history, ["B1"])
    assert table[
        ["sort_by", "best_position", "best_sponsored_position", "page"]
    ].values.tolist() == [
        ["best_match", 2, 1, 1],
        ["price_asc", 1, 1, 1],  # its own order ranks B1 first
        ["best_match", 2, 1, 1],
    ]
    assert [str(day) for day in table["date"]] == ["2026-11-01", "2026-11-01", "2026-11-02"]
    shares = share_of_voice(history)
    overall = shares[shares["level"] == "overall"]
    assert overall["sort_by"].isna().all()
    assert len(set(overall["date"])) == 2
