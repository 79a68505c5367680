"""Injected faults (each kind), their reproducibility, latency, and the error styles."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from asa_bulk.sandbox import serve
from asa_bulk.sandbox._faults import Chaos
from asa_bulk.sandbox._settings import SandboxSettings
from tests.support.sandbox import KEY, get

Q = {"query": "B09HN3Q81F"}


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        ("upstream_timeout", 408),
        ("blocked_by_amazon", 422),
        ("rate_limited", 429),
        ("internal_error", 500),
        ("target_unreachable", 502),
        ("extraction_failed", 502),
        ("asin_mismatch", 502),
        ("generic_gallery_page", 502),
        ("capacity", 503),
    ],
)
async def test_each_json_fault(http: aiohttp.ClientSession, kind: str, status: int) -> None:
    async with serve(fixed_latency=0, faults={kind: 1.0}, retry_after=7, credits=100) as sb:
        reply = await get(http, sb.base_url, params=Q)
        stats = sb.stats
    assert reply.status == status
    assert reply.json["error"] == kind
    assert reply.json["request_id"] == reply.headers["X-Request-Id"]
    assert reply.headers["Asa-Cost"] == "0"
    assert reply.headers.get("Retry-After") == ("7" if status in (429, 503) else None)
    assert stats.faults == {kind: 1}
    assert (stats.credits_used, stats.credits_remaining) == (0, 100)  # faults are free


async def test_connection_reset(http: aiohttp.ClientSession) -> None:
    async with serve(fixed_latency=0, faults={"reset": 1.0}) as sb:
        with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
            await get(http, sb.base_url, params=Q)
        stats = sb.stats
    assert stats.faults["reset"] >= 1  # aiohttp may retry a GET once on a dropped connection
    assert stats.status_counts == {0: stats.faults["reset"]}  # 0: no response was sent
    assert stats.billed_total == 0


async def test_non_json_body(http: aiohttp.ClientSession) -> None:
    async with serve(fixed_latency=0, faults={"html": 1.0}) as sb:
        reply = await get(http, sb.base_url, params=Q)
    assert reply.status == 502
    assert reply.headers["Content-Type"].startswith("text/html")
    assert b"502 Bad Gateway" in reply.raw
    with pytest.raises(json.JSONDecodeError):
        _ = reply.json


async def test_stall_outlasts_the_client_timeout(http: aiohttp.ClientSession) -> None:
    async with serve(fixed_latency=0, faults={"stall": 1.0}, stall_seconds=0.2) as sb:
        with pytest.raises(asyncio.TimeoutError):
            async with http.get(
                sb.url(), params={**Q, "api_key": KEY}, timeout=aiohttp.ClientTimeout(total=0.02)
            ):
                pass
        patient = await get(http, sb.base_url, params=Q)
    assert (patient.status, patient.json["error"]) == (408, "upstream_timeout")


async def test_faults_are_seeded_per_request_not_per_order(http: aiohttp.ClientSession) -> None:
    asins = [f"B0SEED{i:04d}" for i in range(30)]

    async def run(order: list[str], seed: int) -> dict[str, list[int]]:
        async with serve(fixed_latency=0, faults={"internal_error": 0.5}, seed=seed) as sb:
            seen: dict[str, list[int]] = {a: [] for a in asins}
            for _ in range(2):
                for a in order:
                    seen[a].append((await get(http, sb.base_url, params={"query": a})).status)
            return seen

    forward = await run(asins, 1)
    assert forward == await run(asins[::-1], 1)
    assert forward != await run(asins, 2)
    assert {s for statuses in forward.values() for s in statuses} == {200, 500}


def test_latency_distribution_matches_the_docs() -> None:
    chaos = Chaos(SandboxSettings())
    draws = sorted(chaos.draw("product", f"B0LAT{i:05d}", "com")[0] for i in range(4000))
    assert 2.3 < draws[2000] < 2.9  # median about 2.6 s
    assert 5.0 < draws[3800] < 7.0  # p95 about 6 s
    assert max(draws) <= 45
    scaled = Chaos(SandboxSettings(latency_scale=0.001)).draw("product", "B0LAT00001", "com")[0]
    assert scaled == pytest.approx(
        Chaos(SandboxSettings()).draw("product", "B0LAT00001", "com")[0] / 1000
    )


async def test_scaled_latency_is_applied(http: aiohttp.ClientSession) -> None:
    async with serve(fixed_latency=0.03) as sb:
        loop = asyncio.get_running_loop()
        start = loop.time()
        await get(http, sb.base_url, params=Q)
        assert loop.time() - start >= 0.03


async def test_nested_error_style(http: aiohttp.ClientSession) -> None:
    async with serve(fixed_latency=0, error_style="nested") as sb:
        reply = await get(http, sb.base_url, params={"query": "bad"})
        missing = await get(http, sb.base_url, params={"query": "B0NONE0404"})
    assert reply.status == 400
    assert set(reply.json) == {"error"}
    assert reply.json["error"]["code"] == "INVALID_PARAMS"
    assert "10-character ASIN" in reply.json["error"]["message"]
    assert reply.json["error"]["hint"]
    assert missing.json["error"]["retryable"] is False
    assert reply.headers["X-Request-Id"].startswith("req_")


async def test_upper_error_style(http: aiohttp.ClientSession) -> None:
    async with serve(fixed_latency=0.02, error_style="upper", concurrency=1) as sb:
        unauthorized = await get(http, sb.base_url, params=Q, key=None)
        busy = await asyncio.gather(*(get(http, sb.base_url, params=Q) for _ in range(3)))
    assert unauthorized.json["error"] == "INVALID_API_KEY"
    limited = next(r for r in busy if r.status == 429)
    assert limited.json["error"] == "CONCURRENCY_LIMIT"
    assert limited.headers["X-Concurrency-Limit"] == "1"
