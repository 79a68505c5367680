"""The product endpoint: validation, envelope, headers, fixtures, determinism, the 404 rule."""

from __future__ import annotations

import re

import aiohttp
import pytest

from asa_bulk.sandbox import serve
from tests.support.sandbox import PRODUCT, SEARCH, get

_NAMES = (
    "asin parent_asin title brand manufacturer price price_buybox price_strikethrough currency "
    "stock is_prime rating reviews_count images bullet_points description product_details "
    "product_dimensions answered_questions_count has_videos category buybox featured_merchant "
    "variations reviews"
)
DOCS_FIELDS = frozenset(_NAMES.split())
RID = re.compile(r"req_[0-9a-f]{12}")


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({}, "query is required"),
        ({"query": "B09HN3Q81"}, "10-character ASIN"),
        ({"query": "b09hn3q81f"}, "10-character ASIN"),  # ASINs are case-sensitive
        ({"query": "https://example.com/dp/B09HN3Q81F"}, "Amazon URL"),
        ({"query": "B09HN3Q81F", "domain": "amazon.com"}, "domain must be one of"),
        ({"query": "B09HN3Q81F", "domain": "xx"}, "domain must be one of"),
        ({"query": "B09HN3Q81F", "language": "en-US"}, "xx_YY"),
        ({"query": "B09HN3Q81F", "add_html": "yes"}, "add_html"),
        ({"query": "B09HN3Q81F", "country": "DEU"}, "alpha-2"),
    ],
)
async def test_invalid_params_are_400_with_a_helpful_message(
    http: aiohttp.ClientSession, params: dict[str, str], fragment: str
) -> None:
    async with serve(fixed_latency=0) as sb:
        reply = await get(http, sb.base_url, params=params)
        assert sb.stats.credits_used == 0
    assert reply.status == 400
    assert reply.json["error"] == "invalid_params"
    assert fragment in reply.json["message"]


@pytest.mark.parametrize("name", ["render_js", "screenshot"])
async def test_reserved_parameters_are_501(http: aiohttp.ClientSession, name: str) -> None:
    async with serve(fixed_latency=0) as sb:
        reply = await get(http, sb.base_url, params={"query": "B09HN3Q81F", name: "true"})
    assert (reply.status, reply.json["error"]) == (501, "not_implemented")


async def test_error_envelope_and_request_id_on_every_response(http: aiohttp.ClientSession) -> None:
    async with serve(fixed_latency=0) as sb:
        replies = [
            await get(http, sb.base_url, params={"query": "B09HN3Q81F"}),
            await get(http, sb.base_url, params={"query": "bad"}),
            await get(http, sb.base_url, params={"query": "B09HN3Q81F"}, key=None),
            await get(http, sb.base_url, path="/api/v2/nothing"),
            await get(http, sb.base_url, path="/api/v1/amazon/product/extra"),
        ]
        async with http.post(sb.url(PRODUCT)) as resp:
            wrong_method = (resp.status, await resp.json())
    assert [r.status for r in replies] == [200, 400, 401, 404, 404]
    for reply in replies:
        assert RID.fullmatch(reply.headers["X-Request-Id"])
    for reply in replies[1:]:
        body = reply.json
        assert set(body) == {"error", "message", "docs_url", "request_id"}
        assert body["request_id"] == reply.headers["X-Request-Id"]
        assert (
            body["docs_url"] == f"https://amazonscraperapi.com/docs/guides/errors#{body['error']}"
        )
        assert reply.headers["Asa-Cost"] == "0"
    assert replies[3].json["error"] == "not_found"
    assert wrong_method[0] == 405


async def test_success_headers(http: aiohttp.ClientSession) -> None:
    async with serve(fixed_latency=0, plan="vibe") as sb:
        reply = await get(http, sb.base_url, params={"query": "B09HN3Q81F"})
        search = await get(http, sb.base_url, path=SEARCH, params={"query": "tent", "pages": "3"})
    assert reply.headers["Asa-Concurrency"] == "1/30"
    assert reply.headers["Asa-Rps"] == "1/10"
    assert reply.headers["Asa-Cost"] == "5"
    assert reply.headers["Asa-Attempts"] == "1"
    assert reply.headers["Content-Type"] == "application/json"
    assert search.headers["Asa-Cost"] == "15"
    assert search.headers["Asa-Rps"] == "2/10"


async def test_docs_shape_has_every_documented_field(http: aiohttp.ClientSession) -> None:
    async with serve(fixed_latency=0) as sb:
        body = (await get(http, sb.base_url, params={"query": "B09HN3Q81F"})).json
    assert set(body) >= DOCS_FIELDS
    assert body["asin"] == "B09HN3Q81F"
    assert body["currency"] == "USD"
    assert 1.0 <= body["rating"] <= 5.0
    assert round(body["rating"], 1) == body["rating"]
    assert "\n" in body["bullet_points"]
    assert body["images"][0].startswith("https://m.media-amazon.com/images/I/")
    assert isinstance(body["category"], list)
    assert {"ladder", "rank"} <= set(body["category"][0])
    assert isinstance(body["buybox"], list)
    for review in body["reviews"]:
        assert {
            "id",
            "author",
            "title",
            "content",
            "rating",
            "timestamp",
            "is_verified",
            "helpful_count",
        } <= set(review)


async def test_same_input_same_bytes_and_marketplace_currency(http: aiohttp.ClientSession) -> None:
    async with serve(fixed_latency=0) as sb:
        first = await get(http, sb.base_url, params={"query": "B09HN3Q81F"})
        via_url = await get(
            http, sb.base_url, params={"query": "https://www.amazon.com/dp/B09HN3Q81F?th=1"}
        )
        jp = (await get(http, sb.base_url, params={"query": "B09HN3Q81F", "domain": "co.jp"})).json
        de = (await get(http, sb.base_url, params={"query": "B09HN3Q81F", "domain": "de"})).json
    async with serve(fixed_latency=0, seed=99) as other:
        again = await get(http, other.base_url, params={"query": "B09HN3Q81F"})
    assert first.raw == again.raw == via_url.raw
    assert jp["title"] == de["title"] == first.json["title"]
    assert (jp["currency"], de["currency"]) == ("JPY", "EUR")
    if jp["price"] is not None:
        assert isinstance(jp["price"], int)
        assert jp["price"] > 50 * (first.json["price"] or 1)


async def test_prices_are_plausible_and_some_are_null() -> None:
    from asa_bulk.sandbox._products import product_dict

    asins = [f"B0TEST{i:04d}" for i in range(300)]
    prices = [product_dict(a, "com", "docs")["price"] for a in asins]
    assert 0 < sum(p is None for p in prices) < 60
    assert all(1 <= p < 2000 for p in prices if p is not None)


async def test_asin_ending_in_404_is_not_found_and_free(http: aiohttp.ClientSession) -> None:
    async with serve(fixed_latency=0, credits=100) as sb:
        reply = await get(http, sb.base_url, params={"query": "B00000X404"})
        assert sb.stats.credits_used == 0
        assert sb.stats.credits_remaining == 100
    assert reply.status == 404
    assert reply.json["error"] == "product_not_found"
    assert reply.json["retryable"] is False


async def test_not_found_rate_is_deterministic_per_asin_and_domain(
    http: aiohttp.ClientSession,
) -> None:
    asins = [f"B0RATE{i:04d}" for i in range(40)]
    async with serve(fixed_latency=0, not_found_rate=0.5) as sb:
        first = [(await get(http, sb.base_url, params={"query": a})).status for a in asins]
        second = [(await get(http, sb.base_url, params={"query": a})).status for a in asins]
    assert first == second
    assert set(first) == {200, 404}


async def test_add_html_adds_html_key(http: aiohttp.ClientSession) -> None:
    async with serve(fixed_latency=0) as sb:
        body = (
            await get(http, sb.base_url, params={"query": "B09HN3Q81F", "add_html": "true"})
        ).json
    assert body["html"].startswith("<!doctype html>")


async def test_v1_prefix_also_served(http: aiohttp.ClientSession) -> None:
    async with serve(fixed_latency=0) as sb:
        reply = await get(
            http, sb.base_url, path="/v1/amazon/product", params={"query": "B09HN3Q81F"}
        )
    assert reply.status == 200


async def test_free_plan_has_no_foreign_egress(http: aiohttp.ClientSession) -> None:
    async with serve(fixed_latency=0, plan="free") as sb:
        local = await get(
            http, sb.base_url, params={"query": "B09HN3Q81F", "domain": "de", "country": "de"}
        )
        foreign = await get(
            http, sb.base_url, params={"query": "B09HN3Q81F", "domain": "de", "country": "JP"}
        )
    assert local.status == 200
    assert (foreign.status, foreign.json["error"]) == (403, "forbidden_region")
