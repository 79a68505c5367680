"""Helpers for the sandbox tests: test keys and a tiny GET helper."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiohttp

from asa_bulk.sandbox import make_test_keys

KEYS = make_test_keys(4)
KEY = KEYS[0]
PRODUCT = "/api/v1/amazon/product"
SEARCH = "/api/v1/amazon/search"


@dataclass
class Reply:
    status: int
    headers: Any
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw)


async def get(
    http: aiohttp.ClientSession,
    base_url: str,
    path: str = PRODUCT,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    key: str | None = KEY,
) -> Reply:
    """GET with the key in ``?api_key=`` (unless None), returning status, headers and body."""
    query = dict(params or {})
    if key is not None:
        query["api_key"] = key
    async with http.get(base_url + path, params=query, headers=headers) as resp:
        return Reply(resp.status, resp.headers, await resp.read())
