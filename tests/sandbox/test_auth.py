"""Authentication: three ways, precedence, 401 unauthorized/revoked, and keys never echoed."""

from __future__ import annotations

import aiohttp
import pytest

from asa_bulk.sandbox import make_test_keys, serve
from tests.support.sandbox import KEY, KEYS, get

Q = {"query": "B09HN3Q81F"}


async def test_key_accepted_three_ways(http: aiohttp.ClientSession) -> None:
    async with serve(fixed_latency=0) as sb:
        by_query = await get(http, sb.base_url, params=Q)
        by_bearer = await get(
            http, sb.base_url, params=Q, key=None, headers={"Authorization": f"Bearer {KEY}"}
        )
        by_header = await get(http, sb.base_url, params=Q, key=None, headers={"X-API-Key": KEY})
        assert [by_query.status, by_bearer.status, by_header.status] == [200, 200, 200]
        assert by_query.raw == by_bearer.raw == by_header.raw
        assert sb.stats.requests_by_key == {KEY[:21]: 3}


async def test_precedence_query_then_bearer_then_header(http: aiohttp.ClientSession) -> None:
    async with serve(fixed_latency=0, keys=KEYS[:3]) as sb:
        # A good query key wins over a bad header; a bad query key loses even with good headers.
        assert (
            await get(http, sb.base_url, params=Q, key=KEYS[0], headers={"X-API-Key": "junk"})
        ).status == 200
        both = {"Authorization": f"Bearer {KEYS[1]}", "X-API-Key": KEYS[2]}
        await get(http, sb.base_url, params=Q, key=None, headers=both)
        assert sb.stats.requests_by_key == {KEYS[0][:21]: 1, KEYS[1][:21]: 1}
        bad = await get(http, sb.base_url, params=Q, key=make_test_keys(1, seed=9)[0], headers=both)
        assert bad.status == 401


@pytest.mark.parametrize(
    ("key", "headers", "fragment"),
    [
        (None, None, "Missing or malformed"),
        ("asa_test_short", None, "Missing or malformed"),
        ("asa_live_" + "a" * 24, None, "Missing or malformed"),  # live keys are not sandbox keys
        (None, {"Authorization": f"Basic {KEY}"}, "Missing or malformed"),
        (None, {"Authorization": "Bearer "}, "Missing or malformed"),
    ],
)
async def test_missing_or_malformed_key_is_401(
    http: aiohttp.ClientSession, key: str | None, headers: dict[str, str] | None, fragment: str
) -> None:
    async with serve(fixed_latency=0) as sb:
        reply = await get(http, sb.base_url, params=Q, key=key, headers=headers)
    assert reply.status == 401
    assert reply.json["error"] == "unauthorized"
    assert fragment in reply.json["message"]


async def test_unknown_key_with_explicit_key_list(http: aiohttp.ClientSession) -> None:
    async with serve(fixed_latency=0, keys=[KEYS[0]]) as sb:
        assert (await get(http, sb.base_url, params=Q, key=KEYS[0])).status == 200
        reply = await get(http, sb.base_url, params=Q, key=KEYS[1])
    assert reply.status == 401
    assert reply.json["message"] == f"Unknown API key {KEYS[1][:21]}"
    assert KEYS[1] not in reply.raw.decode()


async def test_auth_comes_before_validation(http: aiohttp.ClientSession) -> None:
    async with serve(fixed_latency=0) as sb:
        reply = await get(http, sb.base_url, params={"query": "nope"}, key=None)
    assert reply.status == 401


async def test_revoke_by_key_id_and_configured_revocations(http: aiohttp.ClientSession) -> None:
    async with serve(fixed_latency=0, revoked=[KEYS[1]]) as sb:
        assert (await get(http, sb.base_url, params=Q, key=KEYS[1])).json["error"] == "revoked"
        assert (await get(http, sb.base_url, params=Q)).status == 200
        assert sb.revoke(KEY[:21]) == KEY[:21]
        reply = await get(http, sb.base_url, params=Q)
    assert reply.status == 401
    assert reply.json["error"] == "revoked"
    assert KEY not in reply.raw.decode()
    assert KEY[:21] in reply.json["message"]


async def test_revoke_after_n_requests(http: aiohttp.ClientSession) -> None:
    async with serve(fixed_latency=0, revoke_after={KEYS[0][:21]: 3}) as sb:
        statuses = [(await get(http, sb.base_url, params=Q)).status for _ in range(5)]
        other = await get(http, sb.base_url, params=Q, key=KEYS[1])
    assert statuses == [200, 200, 200, 401, 401]
    assert other.status == 200


async def test_revoke_at_time(http: aiohttp.ClientSession) -> None:
    async with serve(fixed_latency=0, revoke_at={KEY: 0}) as sb:
        assert (await get(http, sb.base_url, params=Q)).json["error"] == "revoked"


def test_make_test_keys_are_distinct_well_formed_and_deterministic() -> None:
    keys = make_test_keys(50, seed=3)
    assert keys == make_test_keys(50, seed=3)
    assert keys != make_test_keys(50, seed=4)
    assert len({k[:21] for k in keys}) == 50
    assert all(
        k.startswith("asa_test_") and len(k) == 33 and k[9:].isalnum() and k.isascii() for k in keys
    )


async def test_no_response_ever_contains_a_full_key(http: aiohttp.ClientSession) -> None:
    async with serve(
        fixed_latency=0, keys=KEYS[:2], revoked=[KEYS[1]], concurrency=1, credits=5
    ) as sb:
        replies = [
            await get(http, sb.base_url, params=Q),
            await get(http, sb.base_url, params=Q),  # 402
            await get(http, sb.base_url, params=Q, key=KEYS[1]),  # revoked
            await get(http, sb.base_url, params=Q, key=KEYS[2]),  # unknown
            await get(http, sb.base_url, params={"query": KEYS[0]}),  # a key pasted as the query
        ]
    assert [r.status for r in replies] == [200, 402, 401, 401, 400]
    for reply in replies:
        text = reply.raw.decode() + "".join(f"{k}{v}" for k, v in reply.headers.items())
        assert not any(key in text for key in KEYS)
