"""Per-key limits (concurrency ceiling, token bucket) and workspace credits."""

from __future__ import annotations

import asyncio

import aiohttp

from asa_bulk.sandbox import SandboxSettings, serve
from tests.support.sandbox import KEYS, get

Q = {"query": "B09HN3Q81F"}


async def test_concurrency_ceiling_answers_429(http: aiohttp.ClientSession) -> None:
    async with serve(fixed_latency=0.05, concurrency=5, rps=1000, burst_rps=1000) as sb:
        replies = await asyncio.gather(*(get(http, sb.base_url, params=Q) for _ in range(20)))
        other_key = await get(http, sb.base_url, params=Q, key=KEYS[1])
        stats = sb.stats
    statuses = sorted(r.status for r in replies)
    assert statuses == [200] * 5 + [429] * 15
    limited = next(r for r in replies if r.status == 429)
    assert limited.json["error"] == "rate_limited"
    assert limited.json["docs_url"] == "https://amazonscraperapi.com/docs/guides/rate-limits"
    assert limited.json["message"] == f"Exceeded concurrency limit (5) for key {KEYS[0][:13]}..."
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.headers["Asa-Cost"] == "0"
    assert other_key.status == 200  # limits are per key
    assert stats.max_in_flight[KEYS[0][:21]] == 5
    assert stats.rate_limited == 15
    assert stats.billed_total == 6
    assert {r.headers.get("Asa-Concurrency") for r in replies if r.status == 200} <= {
        f"{n}/5" for n in range(1, 6)
    }


async def test_client_within_the_ceiling_never_sees_429(http: aiohttp.ClientSession) -> None:
    async with serve(fixed_latency=0.002, concurrency=4, rps=10_000, burst_rps=10_000) as sb:
        gate = asyncio.Semaphore(4)

        async def one() -> int:
            async with gate:
                return (await get(http, sb.base_url, params=Q)).status

        statuses = await asyncio.gather(*(one() for _ in range(60)))
        assert sb.stats.max_in_flight[KEYS[0][:21]] == 4
    assert set(statuses) == {200}


async def test_token_bucket_allows_the_burst_then_429s(http: aiohttp.ClientSession) -> None:
    # capacity = (20 - 10) * 3 = 30 tokens, refilled at 10/s
    async with serve(fixed_latency=0, rps=10, burst_rps=20, burst_seconds=3) as sb:
        statuses = [(await get(http, sb.base_url, params=Q)).status for _ in range(40)]
        limited = await get(http, sb.base_url, params=Q)
    assert 30 <= statuses.count(200) <= 32
    assert statuses[:30] == [200] * 30
    assert limited.status == 429
    assert limited.json["message"].startswith("Exceeded sustained RPS (10) for key asa_test_")
    assert limited.headers["Retry-After"] == "1"


async def test_retry_after_reflects_the_refill_rate(http: aiohttp.ClientSession) -> None:
    async with serve(fixed_latency=0, rps=0.25, burst_rps=0.25) as sb:
        assert (await get(http, sb.base_url, params=Q)).status == 200
        limited = await get(http, sb.base_url, params=Q)
    assert limited.status == 429
    assert limited.headers["Retry-After"] == "4"


def test_plan_presets_and_bucket_capacity() -> None:
    assert SandboxSettings().limits.concurrency == 50
    free = SandboxSettings(plan="free").limits
    assert (free.concurrency, free.rps, free.burst_rps, free.bucket_capacity) == (10, 2, 10, 24)
    vibe = SandboxSettings(plan="vibe", concurrency=7).limits
    assert (vibe.concurrency, vibe.rps, vibe.burst_rps) == (7, 10, 40)
    assert SandboxSettings().limits.bucket_capacity == 105


async def test_credits_run_out_for_the_whole_workspace(http: aiohttp.ClientSession) -> None:
    async with serve(fixed_latency=0, credits=10) as sb:
        first = [
            (await get(http, sb.base_url, params={"query": a})).status
            for a in ("B000000001", "B00000X404")
        ]
        second = await get(http, sb.base_url, params=Q, key=KEYS[1])
        broke = await get(http, sb.base_url, params=Q, key=KEYS[2])
        assert (broke.status, broke.json["error"]) == (402, "insufficient_credits")
        assert sb.stats.credits_remaining == 0
        sb.set_credits(5)
        topped_up = await get(http, sb.base_url, params=Q, key=KEYS[2])
        stats = sb.stats
    assert first == [200, 404]  # the 404 was free
    assert second.status == 200
    assert topped_up.status == 200
    assert stats.credits_used == 15
    assert stats.billed == {("B000000001", "com"): 1, ("B09HN3Q81F", "com"): 2}
