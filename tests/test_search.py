"""Keyword search on the engine: pages as requests, one row per result card, queries whole."""

from __future__ import annotations

import inspect
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from aioresponses import CallbackResult, aioresponses
from yarl import URL

import asa_bulk
from asa_bulk._inputs import InputRow
from asa_bulk._ordered import OrderedRows
from asa_bulk._records import ProductRequest, ResultRecord
from asa_bulk.sandbox import Sandbox
from tests.support.fakeapi import BASE

KEY = "asa_live_AAAAAAAAAAAAsecretAsecre"
SEARCH_URL = re.compile(r"^https://api\.test/api/v1/amazon/search\b.*")


def client(sandbox: Sandbox, **options: Any) -> asa_bulk.Client:
    options = {"progress": False, **options}
    return asa_bulk.Client(
        keys=sandbox.test_keys(2), base_url=sandbox.base_url, env_file=None, **options
    )


async def test_pages_are_ranked_from_the_cards_seen_and_every_query_has_rows(
    asa_sandbox: Sandbox,
) -> None:
    queries = ["wireless headphones", "usb c cable", " wireless  headphones ", "", "zzzz none"]
    async with client(asa_sandbox) as opened:
        df = await opened.search(queries, pages=2)
    assert list(df.index.unique()) == [0, 1, 2, 3, 4]  # query order, each query present
    first = df.loc[0]
    assert list(first["page"].unique()) == [1, 2]
    organic = first[~first["is_sponsored"].astype(bool)]
    assert list(organic["position"]) == list(range(1, len(organic) + 1))  # across both pages
    sponsored = first[first["is_sponsored"].astype(bool)]
    assert len(sponsored) > 0
    assert sponsored["position"].isna().all()
    assert list(sponsored["sponsored_position"]) == list(range(1, len(sponsored) + 1))
    assert list(first["slot"]) == list(range(1, len(first) + 1))
    assert (first["status"] == "ok").all()
    assert first["asin"].notna().all()
    assert first["key_id"].str.startswith("asa_test_").all()
    # The duplicate (same keywords, other spacing) is the same rows, searched once.
    same = ["page", "slot", "asin", "position"]
    assert df.loc[2, same].reset_index(drop=True).equals(first[same].reset_index(drop=True))
    invalid = df.loc[[3]]
    assert list(invalid["status"]) == ["invalid"]
    assert list(invalid["error"]) == ["invalid_query"]
    nothing = df.loc[[4]]
    assert list(nothing["status"]) == ["ok"]
    assert list(nothing["no_results"]) == [True]
    assert asa_sandbox.stats.search_pages_billed == 6  # 3 unique queries x 2 pages
    run = df.attrs["run"]
    assert run["status_counts"]["ok"] == 8  # pages, the duplicate's included


async def test_both_documented_shapes_give_the_same_columns(
    asa_sandbox_factory: Callable[..., Sandbox],
) -> None:
    frames = []
    for shape in ("docs", "sdk"):
        sandbox = asa_sandbox_factory(product_shape=shape)
        async with client(sandbox) as opened:
            frames.append(await opened.search(["running shoes"], domain="de"))
    docs, sdk = frames
    assert list(docs.columns) == list(sdk.columns)
    assert (docs.dtypes == sdk.dtypes).all()
    same = ["asin", "position", "sponsored_position", "is_sponsored", "price", "currency"]
    assert docs[same].equals(sdk[same])
    assert set(docs["currency"].dropna()) == {"EUR"}


def _pages(script: Callable[[int], tuple[int, Any]]) -> Callable[..., CallbackResult]:
    def reply(url: URL, **kwargs: Any) -> CallbackResult:
        status, payload = script(int(url.query.get("start_page", "1")))
        return CallbackResult(status=status, payload=payload)

    return reply


def _card(asin: str, sponsored: bool = False) -> dict[str, Any]:
    return {"asin": asin, "title": asin, "price": 9.5, "currency": "USD", "is_sponsored": sponsored}


async def test_a_failed_page_is_a_row_and_the_cards_after_it_have_no_rank() -> None:
    def script(page: int) -> tuple[int, Any]:
        if page == 2:
            return 400, {"error": "invalid_parameter", "message": "bad page"}
        return 200, {"products": [_card(f"B00000000{page}"), _card(f"B0000000S{page}", True)]}

    with aioresponses() as mocked:
        mocked.get(SEARCH_URL, callback=_pages(script), repeat=True)
        async with asa_bulk.Client(keys=[KEY], base_url=BASE, progress=False) as opened:
            df = await opened.search(["pan"], pages=3)
    assert list(df["page"]) == [1, 1, 2, 3, 3]
    assert list(df["status"]) == ["ok", "ok", "invalid", "ok", "ok"]  # a 400: not sent again
    assert df["error"].iloc[2] == "invalid_parameter"
    assert list(df["position"].iloc[:2]) == [1, pd.NA]
    assert df["sponsored_position"].iloc[1] == 1
    assert df[["slot", "position", "sponsored_position"]].iloc[3:].isna().all().all()
    assert list(df["asin"].iloc[3:]) == ["B000000003", "B0000000S3"]  # the cards are kept


async def test_a_resumed_run_sends_only_the_pages_not_yet_stored(
    asa_sandbox: Sandbox, tmp_path: Path
) -> None:
    checkpoint = tmp_path / "search.sqlite"
    async with client(asa_sandbox, checkpoint=checkpoint) as opened:
        before = await opened.search(["desk lamp", "usb c cable"], pages=2)
    assert asa_sandbox.stats.search_pages_billed == 4
    async with client(asa_sandbox, checkpoint=checkpoint) as opened:
        after = await opened.search(["desk lamp", "usb c cable"], pages=3)
    assert asa_sandbox.stats.search_pages_billed == 6  # page 3 of each, nothing again
    assert after.attrs["run"]["from_checkpoint"] == 4
    kept = after[after["page"] <= 2][["asin", "position"]].reset_index(drop=True)
    assert kept.equals(before[["asin", "position"]].reset_index(drop=True))


async def test_the_budget_counts_five_credits_a_page(asa_sandbox: Sandbox) -> None:
    async with client(asa_sandbox, max_credits=10) as opened:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", asa_bulk.RunStoppedWarning)
            df = await opened.search(["desk lamp"], pages=3)
    assert asa_sandbox.stats.search_pages_billed == 2
    assert asa_sandbox.stats.credits_used == 10
    assert df[df["page"] == 3]["status"].tolist() == ["skipped"]


async def test_a_stream_never_splits_a_query_between_chunks(asa_sandbox: Sandbox) -> None:
    queries = [f"kitchen thing {n}" for n in range(9)]
    async with client(asa_sandbox) as opened:
        chunks = [chunk async for chunk in opened.iter_search(queries, pages=3, chunk_rows=1)]
    assert len(chunks) > 1
    seen: list[int] = []
    for chunk in chunks:
        positions = list(dict.fromkeys(chunk.index))
        assert not set(positions) & set(seen)  # each query in one chunk only
        seen += positions
        for position in positions:
            assert list(chunk.loc[[position], "page"].unique()) == [1, 2, 3]
    assert seen == list(range(9))


async def test_a_dataframe_of_queries_keeps_its_labels_on_every_result_row(
    asa_sandbox: Sandbox,
) -> None:
    queries = pd.DataFrame(
        {"query": ["desk lamp", "desk lamp"], "domain": ["de", None]}, index=["x", "y"]
    )
    async with client(asa_sandbox) as opened:
        df = await opened.search(queries)
    assert list(df.index.unique()) == ["x", "y"]
    assert set(df.loc[["x"], "domain"]) == {"de"}
    assert set(df.loc[["y"], "domain"]) == {"com"}


def test_ordered_rows_never_split_an_input_row_and_wait_for_an_unfinished_one() -> None:
    def row(index: int) -> InputRow:
        return InputRow(index, "x", ProductRequest(f"B{index:09d}"))

    ordered = OrderedRows(chunk_rows=2, grouped=True)
    slots = [ordered.add(row(index)) for index in (0, 1, 1, 1, 2)]
    record = ResultRecord(ProductRequest("B000000000"), "ok")
    ordered.fill(slots[:3], record, None)  # row 1 is not finished: only row 0 can leave
    assert ordered.ready.is_set()
    assert [slot.row.index for slot in ordered.take()] == [0]
    assert ordered.take() == []  # nothing whole to take: wait (not spin) for row 1
    assert not ordered.ready.is_set()
    ordered.fill(slots[3:4], record, None)  # row 1 finished: it leaves whole, past the chunk
    assert [slot.row.index for slot in ordered.take()] == [1, 1, 1]
    ordered.fill(slots[4:], record, None)
    ordered.close()
    assert [slot.row.index for slot in ordered.take()] == [2]


def test_search_and_its_sync_form_take_the_options_of_fetch_products() -> None:
    from tests.support.options import assert_signature_covers_options

    for function in (asa_bulk.search, asa_bulk.search_sync):
        assert_signature_covers_options(
            function,
            exclude=["language", "country", "raw"],
            extra=["pages", "start_page", "sort_by"],
        )
    assert inspect.signature(asa_bulk.search) == inspect.signature(asa_bulk.search_sync)


def test_search_sync_runs_the_whole_call(asa_sandbox: Sandbox) -> None:
    df = asa_bulk.search_sync(
        ["desk lamp", "zzzz"], pages=2, keys=asa_sandbox.test_keys(1),
        base_url=asa_sandbox.base_url, progress=False, env_file=None, max_credits=20,
    )  # fmt: skip
    assert list(df.index.unique()) == [0, 1]
    assert df.attrs["run"]["status_counts"]["ok"] == 4
    assert asa_sandbox.stats.credits_used == 20


async def test_the_progress_bar_counts_pages_to_a_total_that_leaves_out_invalid_queries(
    asa_sandbox: Sandbox, capsys: Any
) -> None:
    """Three queries of three pages, one empty: the bar ends at 7/7 pages, not 7/9."""
    async with client(asa_sandbox, progress=True) as opened:
        df = await opened.search(["desk lamp", "", "usb c cable"], pages=3)
    assert df.attrs["run"]["counts"] == "pages"
    assert df.attrs["run"]["rows"] == 7
    bar = [line for line in capsys.readouterr().err.replace("\r", "\n").splitlines() if line]
    assert "0/9" in bar[0], bar
    assert "7/7" in bar[-1], bar
    assert "page/s" in bar[-1], bar
