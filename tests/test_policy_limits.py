from __future__ import annotations

import random

import pytest

from asa_bulk._limits import TokenBucket, parse_limit_header, parse_retry_after
from asa_bulk._policy import Action, RetryPolicy, classify


@pytest.mark.parametrize(
    ("status", "code", "action", "min_delay"),
    [
        (200, None, Action.OK, 0),
        (400, "invalid_params", Action.INVALID, 0),
        (400, "INVALID_PARAMS", Action.INVALID, 0),
        (401, "revoked", Action.RETIRE_KEY, 0),
        (401, "unauthorized", Action.RETIRE_KEY, 0),
        (401, "INVALID_API_KEY", Action.RETIRE_KEY, 0),
        (402, "insufficient_credits", Action.STOP, 0),
        (403, "forbidden_region", Action.GIVE_UP, 0),
        (404, "product_not_found", Action.NOT_FOUND, 0),
        (404, "not_found", Action.GIVE_UP, 0),
        (408, "upstream_timeout", Action.RETRY, 2),
        (422, "blocked_by_amazon", Action.RETRY, 60),
        (429, "rate_limited", Action.THROTTLE, 1),
        (429, "CONCURRENCY_LIMIT", Action.THROTTLE, 1),
        (500, "internal_error", Action.RETRY, 5),
        (500, "INTERNAL_ERROR", Action.RETRY, 5),
        (501, "not_implemented", Action.GIVE_UP, 0),
        (502, "target_unreachable", Action.RETRY, 60),
        (502, "extraction_failed", Action.RETRY, 2),
        (502, "EXTRACTION_FAILED", Action.RETRY, 2),
        (502, "asin_mismatch", Action.GIVE_UP, 0),
        (502, "generic_gallery_page", Action.GIVE_UP, 0),
        (502, None, Action.RETRY, 5),
        (503, "capacity", Action.THROTTLE, 60),
        (503, "SERVICE_OVERLOADED", Action.THROTTLE, 60),
        (504, None, Action.RETRY, 1),
        (418, "teapot", Action.GIVE_UP, 0),
    ],
)
def test_error_table(status: int, code: str | None, action: Action, min_delay: float) -> None:
    rule = classify(status, code)
    assert rule.action is action
    assert rule.min_delay == min_delay


def test_retryable_false_vetoes_a_retry() -> None:
    assert classify(502, "extraction_failed", retryable=False).action is Action.GIVE_UP
    assert classify(404, "product_not_found", retryable=False).action is Action.NOT_FOUND


def test_backoff_grows_respects_floor_cap_and_scale() -> None:
    rng = random.Random(1)
    policy = RetryPolicy(base_delay=1.0, max_delay=30.0, jitter=0.25)
    waits = [policy.backoff(n, 0.0, rng) for n in range(1, 8)]
    assert 1.0 <= waits[0] <= 1.25
    assert 2.0 <= waits[1] <= 2.5
    assert all(30.0 <= w <= 37.5 for w in waits[5:])
    assert 60.0 <= policy.backoff(1, 60.0, rng) <= 75.0  # documented minimum wins
    assert RetryPolicy(delay_scale=0.0).backoff(3, 60.0, rng) == 0.0


def test_throttle_wait_honours_retry_after() -> None:
    rng = random.Random(2)
    policy = RetryPolicy()
    assert 7.0 <= policy.throttle_wait(7.0, 1, 60.0, rng) <= 7.0 * 1.025  # the header wins
    assert 1.0 <= policy.throttle_wait(None, 1, 1.0, rng) <= 1.25
    assert 4.0 <= policy.throttle_wait(None, 3, 1.0, rng) <= 5.0
    assert 60.0 <= policy.throttle_wait(None, 1, 60.0, rng) <= 75.0  # 503 without Retry-After


def test_token_bucket_rate_and_burst() -> None:
    bucket = TokenBucket.full(2.0, now=0.0)
    assert bucket.capacity == 2.0
    bucket.take(0.0)
    bucket.take(0.0)
    # One token takes 0.5 s at 2/s, plus the 5 ms lag that keeps us behind the service's bucket.
    assert bucket.wait_time(0.0) == pytest.approx(0.5 + 0.005)
    assert bucket.wait_time(0.505) == 0.0
    assert bucket.available(100.0) == pytest.approx(2.0 - 0.01)  # never more than the burst
    bucket.set_rate(10.0, now=100.0)
    assert bucket.capacity == 10.0
    assert bucket.available(100.0) == pytest.approx(2.0 - 0.05)  # raising the rate mints nothing
    assert TokenBucket.full(0.5, now=0.0).capacity == 1.0


def test_a_one_token_bucket_still_fills() -> None:
    bucket = TokenBucket.full(0.5, now=0.0)
    bucket.take(0.0)
    assert bucket.wait_time(0.0) == pytest.approx(2.0)  # the lag never exceeds capacity - 1
    assert bucket.wait_time(2.0) == 0.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3/20", 20.0),
        ("8/10", 10.0),
        ("2.5/12.5", 12.5),
        (" 0 / 50 ", 50.0),
        ("20", None),
        ("", None),
        (None, None),
        ("a/b", None),
        ("3/0", None),
    ],
)
def test_limit_header(value: str | None, expected: float | None) -> None:
    assert parse_limit_header(value) == expected


def test_retry_after_seconds_and_date() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past


def test_token_bucket_float_slack_never_reports_a_zero_wait_forever() -> None:
    bucket = TokenBucket.full(3.0, now=0.0)
    now = 0.0
    for _ in range(1000):
        wait = bucket.wait_time(now)
        now += wait
        assert bucket.wait_time(now) == 0.0  # after waiting as told, a token is there
        bucket.take(now)


def test_a_404_without_the_api_envelope_is_a_wrong_endpoint_not_a_missing_product() -> None:
    assert classify(404, "product_not_found").action is Action.NOT_FOUND
    for code in (None, "not_found", "NOT_FOUND"):
        rule = classify(404, code)
        assert (rule.action, rule.wrong_endpoint) == (Action.GIVE_UP, True), code
    assert not classify(500, None).wrong_endpoint
