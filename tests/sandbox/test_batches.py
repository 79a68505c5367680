"""Async batches: validation, lifecycle on the scaled clock, results, billing, signed webhooks."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from asa_bulk.sandbox import Sandbox, serve, serve_in_thread
from tests.support.sandbox import KEY

BATCH = "/api/v1/amazon/batch"
ITEMS = [
    {"query": "B09HN3Q81F", "domain": "com"},
    {"query": "B08D6T6BKS", "domain": "com"},
    {"query": "B092RC0404", "domain": "com", "language": "es_US"},
]


class Receiver:
    """A local webhook endpoint that answers the scripted statuses, then 200."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.calls.append((dict(request.headers), await request.read()))
        return web.Response(status=self.statuses.pop(0) if self.statuses else 200)


@pytest.fixture
async def receiver(request: pytest.FixtureRequest) -> AsyncIterator[Receiver]:
    recv = Receiver(list(getattr(request, "param", [])))
    app = web.Application()
    app.router.add_post("/hook", recv.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    recv.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    yield recv
    await runner.cleanup()


async def post(http: aiohttp.ClientSession, sb: Sandbox, body: object) -> tuple[int, Any]:
    async with http.post(sb.url(BATCH), params={"api_key": KEY}, json=body) as resp:
        return resp.status, await resp.json()


async def poll(
    http: aiohttp.ClientSession, sb: Sandbox, batch_id: str, until: str = "complete"
) -> Any:
    for _ in range(500):
        async with http.get(
            sb.url(f"{BATCH}/{batch_id}"), headers={"Authorization": f"Bearer {KEY}"}
        ) as resp:
            doc = await resp.json()
        if doc["status"] == until and (
            doc["webhook_delivery_status"] in (None, "delivered", "failed", "skipped")
        ):
            return doc
        await asyncio.sleep(0.002)
    raise AssertionError(f"batch never reached {until}: {doc}")


async def test_batch_completes_bills_and_signs_its_webhook(
    http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    async with serve(fixed_latency=0, time_scale=0, allow_http_webhooks=True) as sb:
        status, created = await post(
            http, sb, {"endpoint": "amazon.product", "items": ITEMS, "webhook_url": receiver.url}
        )
        assert status == 201
        assert created["status"] == "pending"
        assert created["total_count"] == 3
        assert created["poll_url"] == f"{BATCH}/{created['id']}"
        secret = created["webhook_signature_secret"]
        assert secret.startswith("whsec_")
        doc = await poll(http, sb, created["id"])
        stats = sb.stats
    assert (doc["processed_count"], doc["success_count"], doc["failure_count"]) == (3, 2, 1)
    assert doc["credits_charged"] == 10
    assert doc["webhook_delivery_status"] == "delivered"
    ok, _, missing = doc["results"]
    assert ok["status"] == "ok"
    assert ok["http_status"] == 200
    assert ok["data"]["asin"] == "B09HN3Q81F"
    assert ok["input"] == ITEMS[0]
    assert ok["credits_charged"] == 5
    assert missing == missing | {
        "status": "error",
        "http_status": 404,
        "error": "product_not_found",
        "credits_charged": 0,
    }
    assert stats.credits_used == 10
    assert stats.billed == {("B09HN3Q81F", "com"): 1, ("B08D6T6BKS", "com"): 1}
    assert stats.status_counts[201] == 1

    headers, raw = receiver.calls[0]
    assert headers["X-ASA-Batch-Id"] == created["id"]
    assert headers["X-ASA-Event"] == "batch.completed"
    expected = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-ASA-Signature"], expected)
    assert len(receiver.calls) == 1


async def test_lifecycle_follows_the_scaled_clock(http: aiohttp.ClientSession) -> None:
    # 60 s start-up and 0.6 s per item, on a clock 2000x faster: 30 ms then 0.3 ms per item.
    async with serve(fixed_latency=0, time_scale=0.0005) as sb:
        _, created = await post(http, sb, {"endpoint": "amazon.product", "items": ITEMS})
        assert "webhook_signature_secret" not in created
        first = await poll(http, sb, created["id"], until="pending")
        done = await poll(http, sb, created["id"])
    assert first["started_at"] is None
    assert first["results"] == []
    assert done["started_at"] is not None
    assert done["completed_at"] >= done["started_at"] >= done["created_at"]
    assert done["webhook_delivery_status"] is None


@pytest.mark.parametrize("receiver", [[500, 503]], indirect=True)
async def test_webhook_is_retried_after_errors(
    http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    async with serve(fixed_latency=0, time_scale=0.00001, allow_http_webhooks=True) as sb:
        _, created = await post(
            http,
            sb,
            {"endpoint": "amazon.product", "items": ITEMS[:1], "webhook_url": receiver.url},
        )
        doc = await poll(http, sb, created["id"])
        assert sb.stats.webhook_attempts == 3
    assert doc["webhook_delivery_status"] == "delivered"
    assert doc["webhook_last_error"] is None
    assert len(receiver.calls) == 3


async def test_search_batch_and_all_failed_batch(http: aiohttp.ClientSession) -> None:
    async with serve(fixed_latency=0, time_scale=0) as sb:
        _, search = await post(
            http, sb, {"endpoint": "amazon.search", "items": [{"query": "tent", "pages": 2}]}
        )
        _, gone = await post(
            http, sb, {"endpoint": "amazon.product", "items": [{"query": "B000000404"}]}
        )
        search_doc = await poll(http, sb, search["id"])
        gone_doc = await poll(http, sb, gone["id"], until="failed")
    assert search_doc["results"][0]["data"]["products"]
    assert search_doc["credits_charged"] == 10
    assert gone_doc["failure_count"] == 1


async def test_non_loopback_webhook_is_never_contacted(http: aiohttp.ClientSession) -> None:
    async with serve(fixed_latency=0, time_scale=0) as sb:
        body = {
            "endpoint": "amazon.product",
            "items": ITEMS[:1],
            "webhook_url": "https://hooks.example.com/x",
        }
        _, created = await post(http, sb, body)
        doc = await poll(http, sb, created["id"])
    assert doc["webhook_delivery_status"] == "skipped"
    assert "loopback" in doc["webhook_last_error"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"endpoint": "amazon.reviews", "items": ITEMS}, "endpoint must be one of"),
        ({"endpoint": "amazon.product", "items": []}, "1 to 1000"),
        ({"endpoint": "amazon.product", "items": [{"query": "B09HN3Q81F"}] * 1001}, "1 to 1000"),
        (
            {"endpoint": "amazon.product", "items": [ITEMS[0], {"query": "nope"}]},
            "items[1]: query must be",
        ),
        (
            {"endpoint": "amazon.search", "items": [{"query": "tent", "sort_by": "price"}]},
            "items[0]: sort_by",
        ),
        (
            {"endpoint": "amazon.product", "items": ITEMS, "webhook_url": "http://127.0.0.1:1/x"},
            "https",
        ),
        ([], "JSON object"),
    ],
)
async def test_batch_validation(http: aiohttp.ClientSession, body: object, fragment: str) -> None:
    async with serve(fixed_latency=0, time_scale=0) as sb:
        status, error = await post(http, sb, body)
    assert (status, error["error"]) == (400, "invalid_params")
    assert fragment in error["message"]


async def test_unknown_batch_and_listing(http: aiohttp.ClientSession) -> None:
    async with serve(fixed_latency=0, time_scale=0) as sb:
        ids = [
            (await post(http, sb, {"endpoint": "amazon.product", "items": ITEMS[:1]}))[1]["id"]
            for _ in range(3)
        ]
        async with http.get(sb.url(f"{BATCH}/nope"), params={"api_key": KEY}) as resp:
            assert (resp.status, (await resp.json())["error"]) == (404, "not_found")
        async with http.get(sb.url(BATCH), params={"api_key": KEY, "limit": "2"}) as resp:
            listing = await resp.json()
        async with http.get(sb.url(BATCH), params={"api_key": KEY, "limit": "0"}) as resp:
            assert resp.status == 400
    assert [b["id"] for b in listing["batches"]] == ids[::-1][:2]
    assert "results" not in listing["batches"][0]


def test_official_sdk_batch_calls() -> None:
    from amazonscraperapi import AmazonScraperAPI

    with (
        serve_in_thread(fixed_latency=0, time_scale=0) as sb,
        AmazonScraperAPI(KEY, base_url=sb.base_url) as api,
    ):
        created = api.create_batch(endpoint="amazon.product", items=ITEMS[:2])
        assert api.get_batch(created["id"])["id"] == created["id"]
        assert api.list_batches(limit=5)["batches"][0]["id"] == created["id"]
