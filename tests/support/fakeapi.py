"""A scripted stand-in for the product endpoint on top of aioresponses (unit tests only).

``FakeApi`` answers every ``GET https://api.test/api/v1/amazon/product`` through ``script``, a
function of the call (key, ASIN, per-ASIN call number) returning a ``Reply``; it records every
call with the fake clock's time and tracks requests in flight per key.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aioresponses import CallbackResult, aioresponses
from yarl import URL

from asa_bulk._clock import FakeClock

BASE = "https://api.test"
PRODUCT_URL = re.compile(r"^https://api\.test/api/v1/amazon/product\b.*")


@dataclass
class Reply:
    status: int = 200
    payload: Any = None
    body: str | bytes | None = None  # raw bytes: any encoding, or not even text
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Call:
    key: str | None
    asin: str
    domain: str
    params: dict[str, str]
    headers: dict[str, str]
    time: float
    number: int  # 1 for the first call for this ASIN, 2 for the second, ...


def product(asin: str) -> dict[str, Any]:
    return {"asin": asin, "title": f"Product {asin}", "price": 19.99, "currency": "USD"}


def ok(call: Call) -> Reply:
    return Reply(200, product(call.asin), headers={"X-Request-Id": f"req_{call.asin.lower()}"})


def error(status: int, code: str | None, **headers: str) -> Reply:
    payload = {"error": code, "message": f"{code} happened", "request_id": "req_0123456789ab"}
    return Reply(status, payload if code else None, headers=dict(headers))


class FakeApi:
    def __init__(self, clock: FakeClock | None = None, *, yields: int = 3) -> None:
        self.clock = clock or FakeClock()
        self.script: Callable[[Call], Reply] = ok
        self.calls: list[Call] = []
        self.in_flight: Counter[str | None] = Counter()
        self.max_in_flight: Counter[str | None] = Counter()
        self._per_asin: Counter[tuple[str, str]] = Counter()
        self._yields = yields  # event-loop turns each answer takes, so requests overlap

    def install(self, mocked: aioresponses) -> None:
        mocked.get(PRODUCT_URL, callback=self._callback, repeat=True)

    async def _callback(self, url: URL, **kwargs: Any) -> CallbackResult:
        headers = dict(kwargs.get("headers") or {})
        auth = headers.get("Authorization", "")
        key = auth.removeprefix("Bearer ") if auth else url.query.get("api_key")
        asin, domain = url.query.get("query", ""), url.query.get("domain", "com")
        self._per_asin[(asin, domain)] += 1
        call = Call(
            key,
            asin,
            domain,
            dict(url.query),
            headers,
            self.clock.now(),
            self._per_asin[(asin, domain)],
        )
        self.calls.append(call)
        self.in_flight[key] += 1
        self.max_in_flight[key] = max(self.max_in_flight[key], self.in_flight[key])
        try:
            for _ in range(self._yields):
                await asyncio.sleep(0)
            reply = self.script(call)
        finally:
            self.in_flight[key] -= 1
        if reply.body is not None:
            return CallbackResult(status=reply.status, body=reply.body, headers=reply.headers)
        return CallbackResult(status=reply.status, payload=reply.payload, headers=reply.headers)

    def calls_for(self, asin: str) -> list[Call]:
        return [call for call in self.calls if call.asin == asin]

    def keys_used(self) -> Counter[str | None]:
        return Counter(call.key for call in self.calls)


async def fetch(api: FakeApi, items: Any, **options: Any) -> Any:
    """``fetch_products`` against ``api`` on its fake clock, no progress bar, fixed jitter."""
    import asa_bulk
    from asa_bulk.testing import set_testing

    options.setdefault("base_url", BASE)
    with set_testing(clock=api.clock, seed=0):
        return await asa_bulk.fetch_products(items, progress=False, **options)


@contextlib.contextmanager
def any_request_recorded() -> Iterator[list[str]]:
    """Mock every GET to any URL and list the URLs; a check that nothing at all was sent."""
    sent: list[str] = []

    def record(url: URL, **kwargs: Any) -> CallbackResult:
        sent.append(str(url))
        return CallbackResult(status=200, payload={"asin": "B000000001"})

    with aioresponses() as mocked:
        mocked.get(re.compile(".*"), callback=record, repeat=True)
        yield sent
