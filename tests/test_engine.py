"""Behaviour of fetch_products against a scripted API (aioresponses, virtual time)."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses

import asa_bulk
from asa_bulk._frame import BASE_COLUMNS
from asa_bulk._plan import BLOCK_ROWS
from asa_bulk.testing import set_testing
from tests.support.fakeapi import BASE, Call, FakeApi, Reply, error, ok, product
from tests.support.fakeapi import PRODUCT_URL as PRODUCT_URL_RE
from tests.support.fakeapi import fetch as fake_fetch

KEY_A = "asa_live_AAAAAAAAAAAAsecretAsecre"
KEY_B = "asa_live_BBBBBBBBBBBBsecretBsecre"
KEY_C = "asa_live_CCCCCCCCCCCCsecretCsecre"
ID_A, ID_B = KEY_A[:21], KEY_B[:21]
ASINS = [f"B0{n:08d}" for n in range(1, 41)]


async def fetch(api: FakeApi, items: Any, **options: Any) -> Any:
    options.setdefault("keys", [KEY_A])
    options.setdefault("retry_delay_scale", 0.0)
    return await fake_fetch(api, items, **options)


async def test_one_row_per_input_in_order_duplicates_sent_once(api: FakeApi) -> None:
    items = [
        "B000000001",
        " b000000002 ",
        "https://www.amazon.de/dp/B000000003/ref=sr_1_1?th=1",
        "not an asin",
        "B000000001",
    ]
    df = await fetch(api, items)
    assert list(df.columns[: len(BASE_COLUMNS)]) == list(BASE_COLUMNS)
    assert list(df["status"]) == ["ok", "ok", "ok", "invalid", "ok"]
    assert list(df["asin"].iloc[[0, 1, 2, 4]]) == [
        "B000000001",
        "B000000002",
        "B000000003",
        "B000000001",
    ]
    assert df.loc[2, "domain"] == "de"
    assert df.loc[3, "error"] == "invalid_asin"
    assert sorted(c.asin for c in api.calls) == ["B000000001", "B000000002", "B000000003"]
    assert df.loc[0, "title"] == "Product B000000001"
    assert df.loc[0, "key_id"] == ID_A
    assert df.loc[0, "request_id"] == "req_b000000001"
    assert str(df["fetched_at"].dt.tz) == "UTC"
    run = df.attrs["run"]
    assert run["status_counts"]["ok"] == 4
    assert run["requests_sent"] == 3
    assert run["billed_requests"] == 3
    assert run["credits"] == 15
    assert run["duplicates"] == 1


async def test_empty_input_gives_empty_frame_with_the_columns(api: FakeApi) -> None:
    df = await fetch(api, [])
    assert len(df) == 0
    assert list(df.columns[: len(BASE_COLUMNS)]) == list(BASE_COLUMNS)
    assert not api.calls


async def test_no_key_anywhere_is_a_clear_error_before_any_request(api: FakeApi) -> None:
    with pytest.raises(asa_bulk.NoKeysError, match="ASA_API_KEYS"):
        await fetch(api, ASINS, keys=None)
    assert not api.calls


def first_fails(reply: Reply) -> Any:
    def script(call: Call) -> Reply:
        return reply if call.number == 1 else ok(call)

    return script


@pytest.mark.parametrize(
    ("reply", "status", "attempts", "code"),
    [
        (error(408, "upstream_timeout"), "ok", 2, None),
        (error(422, "blocked_by_amazon"), "ok", 2, None),
        (error(500, "internal_error"), "ok", 2, None),
        (error(502, "target_unreachable"), "ok", 2, None),
        (error(502, "extraction_failed"), "ok", 2, None),
        (Reply(502, body="<html>Bad gateway</html>"), "ok", 2, None),
        (error(400, "invalid_params"), "invalid", 1, "invalid_params"),
        (error(403, "forbidden_region"), "failed", 1, "forbidden_region"),
        (error(404, "product_not_found"), "not_found", 1, "product_not_found"),
        (error(501, "not_implemented"), "failed", 1, "not_implemented"),
        (error(502, "asin_mismatch"), "failed", 1, "asin_mismatch"),
        (error(502, "generic_gallery_page"), "failed", 1, "generic_gallery_page"),
    ],
)
async def test_what_is_retried(
    api: FakeApi, reply: Reply, status: str, attempts: int, code: str | None
) -> None:
    api.script = first_fails(reply)
    df = await fetch(api, ["B000000001"])
    assert df.loc[0, "status"] == status
    assert df.loc[0, "attempts"] == attempts
    assert len(api.calls) == attempts
    assert (df.loc[0, "error"] if code else None) == code or df.isna().loc[0, "error"]
    if status != "ok":
        assert df.loc[0, "http_status"] == reply.status


@pytest.mark.parametrize(
    ("exc", "code"),
    [(asyncio.TimeoutError(), "timeout"), (aiohttp.ServerDisconnectedError(), "connection_error")],
)
async def test_timeouts_and_connection_errors_are_retried(
    api: FakeApi, exc: Exception, code: str
) -> None:
    def script(call: Call) -> Reply:
        if call.number < 3:
            raise exc
        return ok(call)

    api.script = script
    df = await fetch(api, ["B000000001"])
    assert (df.loc[0, "status"], df.loc[0, "attempts"]) == ("ok", 3)
    api.script = lambda call: (_ for _ in ()).throw(exc)
    df = await fetch(api, ["B000000009"], max_attempts=2)
    assert (df.loc[0, "status"], df.loc[0, "error"], df.loc[0, "attempts"]) == ("failed", code, 2)


async def test_documented_minimum_delays_are_respected(api: FakeApi) -> None:
    api.script = first_fails(error(422, "blocked_by_amazon"))
    df = await fetch(api, ["B000000001"], retry_delay_scale=1.0)
    assert df.loc[0, "status"] == "ok"
    first, second = api.calls
    assert 60.0 <= second.time - first.time <= 60.0 * 1.25 + 1


async def test_attempts_and_item_time_are_bounded(api: FakeApi) -> None:
    api.script = lambda call: error(500, "INTERNAL_ERROR")
    df = await fetch(api, ["B000000001"], max_attempts=3)
    assert (df.loc[0, "status"], df.loc[0, "error"], df.loc[0, "attempts"]) == (
        "failed",
        "internal_error",
        3,
    )
    api.calls.clear()
    api.script = lambda call: error(422, "blocked_by_amazon")
    df = await fetch(
        api, ["B000000002"], max_attempts=10, retry_delay_scale=1.0, max_item_seconds=100
    )
    assert df.loc[0, "status"] == "failed"
    assert len(api.calls) == 2  # a third try would start past 100 s
    assert "blocked_by_amazon" in df.loc[0, "error_message"]


async def test_429_pauses_only_that_key_for_retry_after(api: FakeApi) -> None:
    def script(call: Call) -> Reply:
        if call.key == KEY_A and not any(c.key == KEY_A and c is not call for c in api.calls):
            return error(429, "rate_limited", **{"Retry-After": "30"})
        return ok(call)

    api.script = script
    df = await fetch(
        api, ASINS, keys=[KEY_A, KEY_B], retry_delay_scale=1.0, rps=1000, concurrency=1
    )
    assert set(df["status"]) == {"ok"}
    a_calls = [c for c in api.calls if c.key == KEY_A]
    b_calls = [c for c in api.calls if c.key == KEY_B]
    assert a_calls[1].time - a_calls[0].time >= 30.0  # Retry-After honoured on key A
    assert any(c.time < a_calls[0].time + 30.0 for c in b_calls[1:])  # key B kept going
    throttled = df.loc[df["asin"] == a_calls[0].asin].iloc[0]
    assert throttled["attempts"] == 2  # re-sent; a 429 is not a failed attempt
    assert df.attrs["run"]["throttled"] == 1


async def test_429_without_retry_after_backs_off(api: FakeApi) -> None:
    api.script = first_fails(error(429, "RATE_LIMITED"))
    df = await fetch(api, ["B000000001"], retry_delay_scale=1.0)
    assert df.loc[0, "status"] == "ok"
    assert api.calls[1].time - api.calls[0].time >= 1.0


async def test_revoked_key_is_retired_and_its_work_resent(
    api: FakeApi, caplog: pytest.LogCaptureFixture
) -> None:
    api.script = lambda call: error(401, "revoked") if call.key == KEY_A else ok(call)
    with caplog.at_level(logging.WARNING, logger="asa_bulk"):
        df = await fetch(api, ASINS, keys=[KEY_A, KEY_B, KEY_C], concurrency=1)
    assert set(df["status"]) == {"ok"}  # nothing lost
    assert len(df) == len(ASINS)
    assert api.keys_used()[KEY_A] == 1  # retired after its first answer
    assert set(df["key_id"]) == {ID_B, KEY_C[:21]}
    assert df.attrs["run"]["retired_keys"] == {ID_A: "revoked"}
    assert max(df["attempts"]) == 2
    retired = [r for r in caplog.records if "retired" in r.getMessage()]
    assert len(retired) == 1
    assert ID_A in retired[0].getMessage()


async def test_no_usable_key_left_stops_promptly_keeping_finished_rows(api: FakeApi) -> None:
    answered = itertools.count(1)

    def script(call: Call) -> Reply:
        if call.key == KEY_B or next(answered) > 5:
            return error(401, "unauthorized")
        return ok(call)

    api.script = script
    with pytest.warns(asa_bulk.RunStoppedWarning, match="retired"):
        df = await fetch(api, ASINS, keys=[KEY_A, KEY_B], concurrency=1)
    assert len(df) == len(ASINS)
    counts = df["status"].value_counts().to_dict()
    assert counts["ok"] >= 1
    assert counts["ok"] + counts["skipped"] == len(ASINS)
    assert set(df.loc[df["status"] == "skipped", "error"]) == {"no_usable_keys"}
    assert len(api.calls) <= 8
    assert df.attrs["run"]["stopped"] == "no_usable_keys"


async def test_out_of_credits_stops_every_key(api: FakeApi) -> None:
    answered = itertools.count(1)
    api.script = lambda call: (
        ok(call) if next(answered) <= 5 else error(402, "insufficient_credits")
    )
    with pytest.warns(asa_bulk.RunStoppedWarning, match="credits"):
        df = await fetch(api, ASINS, keys=[KEY_A, KEY_B], concurrency=1)
    assert (df["status"] == "ok").sum() == 5
    assert set(df.loc[df["status"] != "ok", "status"]) == {"skipped"}
    assert set(df.loc[df["status"] != "ok", "error"]) == {"insufficient_credits"}
    assert len(api.calls) <= 7  # the 402 and at most one other in flight


async def test_error_codes_any_case_and_both_body_shapes(api: FakeApi) -> None:
    nested = {
        "error": {"code": "INVALID_PARAMS", "message": "query must be an ASIN", "hint": "try B0"}
    }
    api.script = lambda call: Reply(400, nested)
    df = await fetch(api, ["B000000001"])
    assert (df.loc[0, "status"], df.loc[0, "error"]) == ("invalid", "invalid_params")
    assert df.loc[0, "error_message"] == "query must be an ASIN (try B0)"


async def test_a_2xx_body_that_is_not_json_is_an_error_row(api: FakeApi) -> None:
    api.script = lambda call: Reply(200, body="<html>oops</html>")
    df = await fetch(api, ["B000000001"])
    assert (df.loc[0, "status"], df.loc[0, "error"]) == ("failed", "invalid_response")
    assert len(api.calls) == 1  # a 2xx is billed: never re-sent blindly


async def test_in_flight_per_key_never_exceeds_concurrency(api: FakeApi) -> None:
    df = await fetch(api, ASINS * 2, keys=[KEY_A, KEY_B], concurrency=3, rps=1000)
    assert set(df["status"]) == {"ok"}
    assert api.max_in_flight[KEY_A] == 3
    assert api.max_in_flight[KEY_B] == 3
    assert abs(api.keys_used()[KEY_A] - api.keys_used()[KEY_B]) <= 3  # work spread over keys


async def test_request_rate_never_exceeds_rps(api: FakeApi) -> None:
    df = await fetch(api, ASINS, keys=[KEY_A], concurrency=50, rps=4)
    assert set(df["status"]) == {"ok"}
    times = sorted(call.time for call in api.calls)
    for start in times:
        in_window = [t for t in times if start <= t < start + 1.0]
        assert len(in_window) <= 4 + 4  # one second's burst plus one second of refill
    span = times[-1] - times[0]
    assert len(times) <= 4 * span + 4 + 1e-6  # sustained 4/s after the initial burst
    assert span >= (len(times) - 4) / 4 - 1e-6


async def test_limits_adapt_to_response_headers_unless_pinned(api: FakeApi) -> None:
    def script(call: Call) -> Reply:
        reply = ok(call)
        reply.headers.update({"Asa-Concurrency": "1/25", "Asa-Rps": "3/40"})
        return reply

    api.script = script
    df = await fetch(api, ASINS, keys=[KEY_A])
    key = df.attrs["run"]["keys"][0]
    assert (key["concurrency"], key["rps"]) == (25, 40.0)
    span = api.calls[-1].time - api.calls[0].time
    assert span < 5.0  # at the Free plan's starting 2/s, 40 requests would take 19 s
    df = await fetch(api, ASINS[:5], keys=[KEY_A], concurrency=2, rps=3)
    key = df.attrs["run"]["keys"][0]
    assert (key["concurrency"], key["rps"]) == (2, 3.0)


async def test_input_is_pulled_lazily_with_bounded_tasks(api: FakeApi) -> None:
    consumed = 0
    most_tasks = 0

    def items() -> Iterator[str]:
        nonlocal consumed, most_tasks
        for n in range(3000):
            consumed += 1
            most_tasks = max(most_tasks, len(asyncio.all_tasks()))
            yield f"B{n:09d}"

    def script(call: Call) -> Reply:
        # Never more than what is in flight (2 keys x 5) plus one block of input rows (read,
        # and looked up in the checkpoint, together).
        assert consumed - len(api.calls) <= 2 * 5 + BLOCK_ROWS
        return ok(call)

    api.script = script
    df = await fetch(api, items(), keys=[KEY_A, KEY_B], concurrency=5, rps=10_000)
    assert len(df) == 3000
    assert set(df["status"]) == {"ok"}
    assert most_tasks <= 2 * 5 + 10


async def test_max_credits_is_never_exceeded(api: FakeApi) -> None:
    with pytest.warns(asa_bulk.RunStoppedWarning, match="max_credits"):
        df = await fetch(api, ASINS[:10], max_credits=15, concurrency=5)
    assert (df["status"] == "ok").sum() == 3
    assert set(df.loc[df["status"] != "ok", "error"]) == {"budget_exhausted"}
    assert len(api.calls) == 3


async def test_checkpoint_resume_sends_only_unfinished(api: FakeApi, tmp_path: Path) -> None:
    path = tmp_path / "run.sqlite"
    api.script = lambda call: error(500, "internal_error") if call.asin == ASINS[0] else ok(call)
    df = await fetch(api, ASINS[:5], checkpoint=path, max_attempts=1)
    assert list(df["status"]) == ["failed"] + ["ok"] * 4
    api.calls.clear()
    api.script = ok
    df = await fetch(api, ASINS[:5], checkpoint=path)
    assert set(df["status"]) == {"ok"}
    assert [c.asin for c in api.calls] == [ASINS[0]]  # the four done ones were not paid again
    assert df.attrs["run"]["from_checkpoint"] == 4


async def test_query_auth_sends_api_key_param(api: FakeApi) -> None:
    await fetch(api, ["B000000001"], auth="query")
    call = api.calls[0]
    assert call.params["api_key"] == KEY_A
    assert "Authorization" not in call.headers
    await fetch(api, ["B000000002"])
    assert api.calls[1].headers["Authorization"] == f"Bearer {KEY_A}"
    assert "api_key" not in api.calls[1].params


async def test_sync_form_works_inside_a_running_loop(api: FakeApi) -> None:
    df = asa_bulk.fetch_products_sync(
        ASINS[:3], keys=[KEY_A], base_url=BASE, progress=False, retry_delay_scale=0.0
    )
    assert list(df["status"]) == ["ok"] * 3


def test_sync_form_without_a_loop() -> None:
    with aioresponses() as mocked:
        FakeApi().install(mocked)
        df = asa_bulk.fetch_products_sync(ASINS[:2], keys=[KEY_A], base_url=BASE, progress=False)
    assert list(df["status"]) == ["ok", "ok"]


async def test_no_key_text_anywhere_in_a_failing_multi_key_run_at_debug(
    api: FakeApi, caplog: pytest.LogCaptureFixture
) -> None:
    counter = itertools.count()

    def script(call: Call) -> Reply:
        n = next(counter)
        if call.key == KEY_A:
            return error(401, "revoked")
        if n % 4 == 1:
            # aiohttp errors can carry the URL, and with auth="query" the URL holds the key.
            raise aiohttp.ClientConnectionError(f"cannot reach {BASE}?api_key={call.key}")
        if n % 4 == 2:
            return Reply(500, {"error": "internal_error", "message": f"bad key {call.key}"})
        return Reply(200, product(call.asin) | {"echo": str(call.key)[:21]})

    api.script = script
    secrets = [KEY_A, KEY_B]
    with caplog.at_level(logging.DEBUG):
        df = await fetch(api, ASINS, keys=secrets, auth="query", max_attempts=2, raw=True)
    texts = [
        caplog.text,
        df.to_json(default_handler=str, date_format="iso"),
        df.to_string(),
        repr(df.attrs),
        asa_bulk.format_summary(df.attrs["run"]),
    ]
    assert "failed" in set(df["status"]) or "ok" in set(df["status"])
    for text in texts:
        for secret in secrets:
            assert secret not in text
            assert secret[21:] not in text  # not even the secret part alone


async def test_interrupting_the_sync_form_in_a_notebook_cancels_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import concurrent.futures
    import threading

    first_call = threading.Event()
    calls = 0

    async def never_answers(url: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        first_call.set()
        await asyncio.Event().wait()  # until the request times out or the run is cancelled

    def interrupted_wait(self: Any, timeout: float | None = None) -> Any:
        assert first_call.wait(5)
        raise KeyboardInterrupt  # what Ctrl-C / the stop button raises in the waiting thread

    monkeypatch.setattr(concurrent.futures.Future, "result", interrupted_wait)
    with aioresponses() as mocked:
        mocked.get(PRODUCT_URL_RE, callback=never_answers, repeat=True)
        with pytest.raises(KeyboardInterrupt):
            asa_bulk.fetch_products_sync(
                ASINS, keys=[KEY_A], base_url=BASE, progress=False, timeout=0.2, max_attempts=50
            )
    # Left running, the worker would keep retrying every item for many seconds.
    assert calls <= 10
    assert not [t for t in threading.enumerate() if t.name.startswith("asa_bulk")]


async def test_settings_come_from_the_environment_then_dotenv(
    api: FakeApi, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text("ASA_MAX_ATTEMPTS=2\nASA_DOMAIN=de\nASA_RETRY_DELAY_SCALE=0\n")
    monkeypatch.setenv("ASA_DOMAIN", "co.uk")  # the environment wins over .env
    api.script = lambda call: error(500, "internal_error")
    with set_testing(clock=api.clock):
        df = await asa_bulk.fetch_products(
            ["B000000001"], keys=[KEY_A], base_url=BASE, progress=False
        )
    assert (df.loc[0, "domain"], df.loc[0, "attempts"]) == ("co.uk", 2)
    assert all(wait < 1.0 for wait in api.clock.sleeps)  # no 5 s backoff: the scale is 0


async def test_bad_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASA_CONCURRENCY", "lots")
    with pytest.raises(asa_bulk.ConfigError, match="ASA_CONCURRENCY='lots'"):
        await asa_bulk.fetch_products(["B000000001"], keys=[KEY_A], progress=False)
    monkeypatch.delenv("ASA_CONCURRENCY")
    with pytest.raises(asa_bulk.ConfigError, match="domain"):
        await asa_bulk.fetch_products(["B000000001"], keys=[KEY_A], domain="amazon.xx")


async def test_503_without_retry_after_waits_the_documented_minute(api: FakeApi) -> None:
    api.script = first_fails(error(503, "capacity"))
    df = await fetch(api, ["B000000001"], retry_delay_scale=1.0)
    assert df.loc[0, "status"] == "ok"
    assert api.calls[1].time - api.calls[0].time >= 60.0
