"""Admission (``Doorman.admitted``): every API route frees its key's slot however it answers."""

from __future__ import annotations

import aiohttp

from asa_bulk.sandbox import serve
from tests.support.sandbox import KEY, SEARCH, get

BATCH = "/api/v1/amazon/batch"

#: (path, params, expected status): each way a route can end, on a key allowed one in flight.
OUTCOMES = [
    ("/api/v1/amazon/product", {"query": "not-an-asin"}, 400),
    ("/api/v1/amazon/product", {"query": "B09HN3Q81F", "render_js": "true"}, 501),
    ("/api/v1/amazon/product", {"query": "B09HN3Q81F", "country": "DE"}, 403),
    ("/api/v1/amazon/product", {"query": "B0MISSI404"}, 404),
    ("/api/v1/amazon/product", {"query": "B09HN3Q81F"}, 200),
    (SEARCH, {"query": "tent", "pages": "99"}, 400),
    (SEARCH, {"query": "tent"}, 200),
    (f"{BATCH}/no-such-batch", {}, 404),
    (BATCH, {"limit": "0"}, 400),
    (BATCH, {}, 200),
]


async def test_each_outcome_releases_the_slot(http: aiohttp.ClientSession) -> None:
    async with serve(fixed_latency=0, plan="free", concurrency=1, rps=1e6) as sb:
        statuses = []
        for path, params, _ in OUTCOMES:
            reply = await get(http, sb.base_url, path, params=params)
            statuses.append(reply.status)
            assert sb.stats.in_flight[KEY[:21]] == 0, path
        # One in flight allowed: a leaked slot would have made a later request 429.
        assert statuses == [status for *_, status in OUTCOMES]
        assert sb.stats.max_in_flight[KEY[:21]] == 1


async def test_refusals_come_before_parameters(http: aiohttp.ClientSession) -> None:
    async with serve(fixed_latency=0) as sb:
        unauthorized = await get(http, sb.base_url, params={"query": "bad"}, key=None)
        assert unauthorized.status == 401  # not 400: an unknown caller learns nothing
        assert sb.stats.in_flight == {}
