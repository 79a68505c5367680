"""Numeric settings: every source (keyword, ASA_* variable, .env, flag) gets the same checks."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from aioresponses import aioresponses

import asa_bulk
from asa_bulk import _client
from asa_bulk._errors import ConfigError
from asa_bulk._policy import RetryPolicy
from asa_bulk._settings import Settings, resolve_settings
from asa_bulk.sandbox import make_test_keys
from tests.support.fakeapi import BASE, FakeApi

NAN, INF = math.nan, math.inf


def settings(**overrides: Any) -> Settings:
    return resolve_settings(overrides, environ={}, env_file=None)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("concurrency", 2.5),
        ("concurrency", True),
        ("concurrency", 0),
        ("concurrency", NAN),
        ("concurrency", "10"),
        ("rps", NAN),
        ("rps", INF),
        ("rps", 0),
        ("rps", -1.0),
        ("rps", True),
        pytest.param("rps", 10**400, id="rps-int-too-large-for-a-float"),
        ("timeout", INF),
        ("timeout", -INF),
        ("timeout", 0.0),
        ("max_attempts", 0),
        ("max_attempts", 1.5),
        ("max_attempts", False),
        ("max_item_seconds", NAN),
        ("max_item_seconds", -5),
        ("max_credits", -1),
        ("max_credits", 2.5),
        ("max_credits", INF),
        ("retry_delay_scale", NAN),
        ("retry_delay_scale", INF),
        ("retry_delay_scale", -0.5),
        ("max_wait", NAN),
        ("max_wait", INF),
        ("max_wait", 0),
        ("max_wait", "300"),
    ],
)
def test_a_bad_keyword_value_is_a_config_error_naming_the_setting(name: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=rf"^{name} must be "):
        settings(**{name: value})


def test_good_values_are_kept_with_their_type() -> None:
    s = settings(concurrency=3, rps=2, timeout=5, max_credits=0, retry_delay_scale=0, max_wait=7)
    assert (s.concurrency, s.rps, s.timeout, s.max_credits) == (3, 2.0, 5.0, 0)
    assert isinstance(s.rps, float)
    assert isinstance(s.timeout, float)
    assert (s.retry_delay_scale, s.max_wait) == (0.0, 7.0)
    assert Settings().max_wait == 300.0


@pytest.mark.parametrize(
    ("var", "text", "name"),
    [
        ("ASA_RETRY_DELAY_SCALE", "nan", "retry_delay_scale"),
        ("ASA_RETRY_DELAY_SCALE", "inf", "retry_delay_scale"),
        ("ASA_TIMEOUT", "inf", "timeout"),
        ("ASA_TIMEOUT", "1e400", "timeout"),  # parses as inf
        ("ASA_RPS", "-inf", "rps"),
        ("ASA_CONCURRENCY", "2.5", "concurrency"),
        ("ASA_CONCURRENCY", "0", "concurrency"),
        ("ASA_MAX_ATTEMPTS", "0", "max_attempts"),
        ("ASA_MAX_CREDITS", "-1", "max_credits"),
        ("ASA_MAX_ITEM_SECONDS", "NaN", "max_item_seconds"),
        ("ASA_MAX_WAIT", "nan", "max_wait"),
        ("ASA_MAX_WAIT", "soon", "max_wait"),
    ],
)
def test_a_bad_variable_names_the_variable_and_the_setting(
    var: str, text: str, name: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=rf"^{var}=") as info:
        resolve_settings({}, environ={var: text}, env_file=None)
    assert name in str(info.value)
    dotenv = tmp_path / "settings.env"
    dotenv.write_text(f"{var}={text}\n")
    with pytest.raises(ConfigError, match=rf"^{var}=") as info:
        resolve_settings({}, environ={}, env_file=dotenv)
    assert name in str(info.value)


def test_max_wait_comes_from_its_variable_and_reaches_the_retry_policy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert resolve_settings({}, environ={"ASA_MAX_WAIT": "12.5"}, env_file=None).max_wait == 12.5
    policies: list[RetryPolicy] = []

    def recording_policy(**kwargs: Any) -> RetryPolicy:
        policies.append(RetryPolicy(**kwargs))
        return policies[-1]

    monkeypatch.setattr(_client, "RetryPolicy", recording_policy)
    fake = FakeApi()
    with aioresponses() as mocked:
        fake.install(mocked)
        asa_bulk.fetch_products_sync(
            ["B000000001"], keys=make_test_keys(1), base_url=BASE, progress=False, max_wait=42
        )
    assert [policy.max_wait for policy in policies] == [42.0]
    assert RetryPolicy().max_wait == 300.0
