"""The code a user would write instead of asa_bulk: bare aiohttp + one semaphore per key.

Same GETs as asa_bulk (``/api/v1/amazon/product?query=ASIN&domain=com``, Bearer auth), the
same JSON decoding, items spread round-robin over the keys, at most ``concurrency`` in flight
per key. No retries, no rate limiter, no DataFrame: a floor for the client's cost.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

import aiohttp

PRODUCT_PATH = "/api/v1/amazon/product"


async def fetch_all(
    items: Sequence[str],
    *,
    base_url: str,
    api_keys: Sequence[str],
    concurrency: int,
    domain: str = "com",
) -> list[tuple[int, Any]]:
    """``(http_status, decoded body)`` per item, in input order."""
    semaphores = [asyncio.Semaphore(concurrency) for _ in api_keys]
    headers = [{"Authorization": f"Bearer {key}", "Accept": "application/json"} for key in api_keys]
    url = base_url.rstrip("/") + PRODUCT_PATH

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:

        async def one(i: int, asin: str) -> tuple[int, Any]:
            k = i % len(api_keys)
            async with (
                semaphores[k],
                http.get(url, params={"query": asin, "domain": domain}, headers=headers[k]) as resp,
            ):
                raw = await resp.read()
                return resp.status, json.loads(raw)

        return await asyncio.gather(*(one(i, asin) for i, asin in enumerate(items)))
