"""Day-to-day drift: prices, stock and search rankings move by day, the same day answers the
same bytes, and the fixtures' day has no drift at all."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone

import aiohttp
import pytest

from asa_bulk._errors import ConfigError
from asa_bulk.sandbox import Sandbox, SandboxSettings, add_sandbox_arguments, serve
from asa_bulk.sandbox._command import _settings
from asa_bulk.sandbox._drift import EPOCH
from asa_bulk.sandbox._products import render_product
from tests.support.sandbox import PRODUCT, SEARCH, get

ASINS = [f"B0DRIFT{n:03d}" for n in range(40)]
DAYS = [EPOCH + timedelta(days=n) for n in range(30)]


async def _product(http: aiohttp.ClientSession, url: str, asin: str) -> dict[str, object]:
    reply = await get(http, url, PRODUCT, {"query": asin})
    assert reply.status == 200
    body: dict[str, object] = reply.json
    return body


async def _product_on(day: date, asin: str) -> dict[str, object]:
    """``asin``'s page from another sandbox, started on ``day``."""
    async with aiohttp.ClientSession() as http, serve(fixed_latency=0, today=day) as sb:
        return await _product(http, sb.base_url, asin)


async def test_on_the_epoch_the_bodies_are_those_without_drift(
    http: aiohttp.ClientSession,
) -> None:
    async with serve(fixed_latency=0, today=EPOCH, rps=1e6, burst_rps=1e6) as sb:
        for asin in ASINS[:5]:
            reply = await get(http, sb.base_url, PRODUCT, {"query": asin})
            assert reply.raw == render_product(asin, "com", "docs")


async def test_prices_and_stock_drift_by_day_and_a_day_always_answers_the_same(
    http: aiohttp.ClientSession,
) -> None:
    prices: dict[str, list[object]] = {asin: [] for asin in ASINS}
    stock: dict[str, set[object]] = {asin: set() for asin in ASINS}
    async with serve(fixed_latency=0, today=EPOCH, rps=1e6, burst_rps=1e6) as sb:
        for day in DAYS:
            sb.set_today(day)
            assert sb.today == day
            for asin in ASINS:
                body = await _product(http, sb.base_url, asin)
                prices[asin].append(body["price"])
                stock[asin].add(body["stock"])
        sb.set_today(DAYS[7])  # back to a day served 22 days ago: the very same answer
        again = await _product(http, sb.base_url, ASINS[0])
    assert again["price"] == prices[ASINS[0]][7]
    assert again == await _product_on(DAYS[7], ASINS[0])
    priced = {asin: [p for p in series if isinstance(p, float)] for asin, series in prices.items()}
    moving = [asin for asin, series in priced.items() if len(set(series)) > 3]
    assert len(moving) > len(ASINS) // 2  # most prices move over a month...
    for series in priced.values():
        if series:
            assert max(series) <= 1.2 * min(series) + 1  # ...a little
    assert sum(len(lines) > 1 for lines in stock.values()) > 5  # stock lines change too


async def test_search_rankings_drift_and_agree_with_the_product_pages_of_the_day(
    http: aiohttp.ClientSession,
) -> None:
    params = {"query": "wireless earbuds", "pages": "2"}
    async with serve(fixed_latency=0, today=EPOCH, rps=1e6, burst_rps=1e6) as sb:
        epoch = (await get(http, sb.base_url, SEARCH, params)).json["products"]
        sb.set_today(DAYS[3])
        later = (await get(http, sb.base_url, SEARCH, params)).json["products"]
        card = next(c for c in later if c["price"] is not None)
        page = await _product(http, sb.base_url, card["asin"])
    assert [c["asin"] for c in later] != [c["asin"] for c in epoch]  # the order moved...
    assert sorted(c["asin"] for c in later) == sorted(c["asin"] for c in epoch)  # ...not the set
    assert [c["sponsored_position"] for c in later] == [c["sponsored_position"] for c in epoch]
    organic = [c["organic_position"] for c in later if not c["is_sponsored"]]
    assert organic == sorted(organic)
    assert card["price"] == page["price"]  # the result and its page agree on that day


def test_the_fixtures_answer_as_on_the_epoch(asa_sandbox: Sandbox) -> None:
    assert asa_sandbox.today == EPOCH


def test_the_day_is_a_setting_and_a_flag_and_a_bad_one_is_named(
    asa_sandbox_factory: Callable[..., Sandbox],
) -> None:
    assert SandboxSettings(today="2026-06-01").today == date(2026, 6, 1)
    assert SandboxSettings().today is None  # the real date, at each request
    assert asa_sandbox_factory(today=None).today == datetime.now(timezone.utc).date()
    parser = argparse.ArgumentParser()
    add_sandbox_arguments(parser)
    assert _settings(parser.parse_args(["--today", "2026-07-04"])).today == date(2026, 7, 4)
    for bad in ("yesterday", "2026-13-01", 20260601):
        with pytest.raises(ConfigError, match="today must be a date"):
            SandboxSettings(today=bad)  # type: ignore[arg-type]
