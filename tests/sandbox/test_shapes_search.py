"""Product shapes (docs / sdk / mixed) and the search endpoint."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest

from asa_bulk.sandbox import serve
from tests.support.sandbox import SEARCH, get

EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "api-examples"
SDK_KEYS = frozenset(
    [
        "asin",
        "title",
        "brand",
        "price",
        "rating",
        "availability",
        "buybox",
        "images",
        "bullets",
        "variants",
        "categories",
        "specifications",
        "_meta",
    ]
)
SEARCH_ITEM = frozenset(
    [
        "asin",
        "title",
        "url",
        "price",
        "currency",
        "rating",
        "reviews_count",
        "image",
        "is_prime",
        "is_sponsored",
        "organic_position",
        "sponsored_position",
    ]
)


async def test_sdk_shape_matches_the_readme_example(http: aiohttp.ClientSession) -> None:
    example = EXAMPLES / "product_sdk_readme.json"
    expected = set(json.loads(example.read_text())) if example.exists() else SDK_KEYS
    async with serve(fixed_latency=0, product_shape="sdk") as sb:
        body = (
            await get(http, sb.base_url, params={"query": "B09HN3Q81F", "domain": "co.uk"})
        ).json
    assert set(body) == expected
    assert set(body["price"]) == {"current", "currency", "was", "savings_pct"}
    assert body["price"]["currency"] == "GBP"
    assert set(body["rating"]) == {"average", "count", "distribution"}
    assert sum(body["rating"]["distribution"].values()) == pytest.approx(1.0, abs=0.02)
    assert isinstance(body["buybox"], dict)
    assert isinstance(body["bullets"], list)
    assert body["_meta"]["marketplace"] == "amazon.co.uk"


async def test_mixed_shape_is_chosen_per_asin(http: aiohttp.ClientSession) -> None:
    asins = [f"B0MIX{i:05d}" for i in range(20)]
    async with serve(fixed_latency=0, product_shape="mixed") as sb:
        first = [(await get(http, sb.base_url, params={"query": a})).json for a in asins]
        again = [(await get(http, sb.base_url, params={"query": a})).json for a in asins]
    kinds = ["sdk" if "bullets" in b else "docs" for b in first]
    assert set(kinds) == {"sdk", "docs"}
    assert first == again


async def test_search_docs_shape(http: aiohttp.ClientSession) -> None:
    params = {"query": "wireless headphones", "domain": "de"}
    async with serve(fixed_latency=0) as sb:
        one = await get(http, sb.base_url, path=SEARCH, params=params)
        same = await get(http, sb.base_url, path=SEARCH, params=params)
        three = (
            await get(
                http, sb.base_url, path=SEARCH, params={**params, "start_page": "2", "pages": "3"}
            )
        ).json
        stats = sb.stats
    body = one.json
    assert one.raw == same.raw
    assert (body["query"], body["domain"], body["page"]) == ("wireless headphones", "de", 1)
    assert 16 <= len(body["products"]) <= 20
    item = body["products"][0]
    assert set(item) >= SEARCH_ITEM
    assert item["currency"] == "EUR"
    assert item["url"] == f"https://www.amazon.de/dp/{item['asin']}"
    organic = [p["organic_position"] for p in body["products"] if not p["is_sponsored"]]
    assert organic == list(range(1, len(organic) + 1))
    audio = ("Headphones", "Earbuds", "Speaker")
    relevant = [p for p in body["products"] if any(word in p["title"] for word in audio)]
    assert len(relevant) > len(body["products"]) // 2
    assert three["page"] == 4
    assert {p["page"] for p in three["products"]} == {2, 3, 4}
    assert stats.search_pages_billed == 5
    assert stats.credits_used == 25


async def test_search_result_matches_the_product_page(http: aiohttp.ClientSession) -> None:
    async with serve(fixed_latency=0) as sb:
        item = (await get(http, sb.base_url, path=SEARCH, params={"query": "yoga mat"})).json[
            "products"
        ][3]
        product = (await get(http, sb.base_url, params={"query": item["asin"]})).json
    assert (product["title"], product["price"], product["rating"]) == (
        item["title"],
        item["price"],
        item["rating"],
    )


async def test_search_echoes_unicode_queries(http: aiohttp.ClientSession) -> None:
    async with serve(fixed_latency=0) as sb:
        reply = await get(
            http, sb.base_url, path=SEARCH, params={"query": "Kopfhörer\r\nX-Evil: 1"}
        )
    assert reply.status == 200
    assert reply.json["query"] == "Kopfhörer\r\nX-Evil: 1"
    assert "X-Evil" not in reply.headers
    assert reply.headers["Asa-Resolved-Url"].endswith("s?k=Kopfh%C3%B6rer%0D%0AX-Evil%3A+1")


async def test_search_no_results_rule(http: aiohttp.ClientSession) -> None:
    async with serve(fixed_latency=0) as sb:
        reply = await get(http, sb.base_url, path=SEARCH, params={"query": "qwzzzzx gadget"})
    assert reply.status == 200
    assert reply.json["products"] == []
    assert reply.json["no_results"] is True


async def test_search_sdk_shape(http: aiohttp.ClientSession) -> None:
    async with serve(fixed_latency=0, product_shape="sdk") as sb:
        body = (await get(http, sb.base_url, path=SEARCH, params={"query": "tent"})).json
    assert {"results", "total_pages", "page", "query", "domain", "scraped_at"} <= set(body)
    assert set(body["results"][1]) >= {
        "position",
        "asin",
        "price",
        "review_count",
        "sponsored",
        "prime",
    }


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({}, "query is required"),
        ({"query": "tent", "sort_by": "price"}, "sort_by must be one of"),
        ({"query": "tent", "pages": "11"}, "pages must be an integer between 1 and 10"),
        ({"query": "tent", "start_page": "0"}, "start_page"),
        ({"query": "tent", "pages": "two"}, "pages"),
    ],
)
async def test_search_validation(
    http: aiohttp.ClientSession, params: dict[str, str], fragment: str
) -> None:
    async with serve(fixed_latency=0) as sb:
        reply = await get(http, sb.base_url, path=SEARCH, params=params)
    assert (reply.status, reply.json["error"]) == (400, "invalid_params")
    assert fragment in reply.json["message"]
