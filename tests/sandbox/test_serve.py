"""serve_in_thread, the pytest fixtures, settings validation, and the provider's own SDK."""

from __future__ import annotations

import json
import threading
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from asa_bulk import ConfigError
from asa_bulk.sandbox import Sandbox, SandboxSettings, make_test_keys, serve_in_thread
from tests.support.sandbox import KEY


def _fetch(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:  # loopback only
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_serve_in_thread_from_sync_code() -> None:
    with serve_in_thread(fixed_latency=0, credits=100) as sb:
        assert sb.base_url.startswith("http://127.0.0.1:")
        status, body = _fetch(f"{sb.base_url}/api/v1/amazon/product?query=B09HN3Q81F&api_key={KEY}")
        assert (status, body["asin"]) == (200, "B09HN3Q81F")
        assert sb.stats.credits_remaining == 95
        sb.revoke(KEY)
        status, body = _fetch(f"{sb.base_url}/api/v1/amazon/product?query=B09HN3Q81F&api_key={KEY}")
        assert (status, body["error"]) == (401, "revoked")
        sb.reset_stats()
        assert sb.stats.requests == 0
    assert not any(t.name == "asa-bulk-sandbox" for t in threading.enumerate())


def test_serve_in_thread_rejects_bad_settings_in_the_callers_thread() -> None:
    with pytest.raises(ConfigError, match="plan must be one of"), serve_in_thread(plan="gold"):
        pass


def test_fixture_gives_a_running_sandbox(asa_sandbox: Sandbox) -> None:
    key = asa_sandbox.test_keys(1)[0]
    status, body = _fetch(
        f"{asa_sandbox.base_url}/api/v1/amazon/product?query=B09HN3Q81F&api_key={key}"
    )
    assert status == 200
    assert body["title"]
    assert asa_sandbox.settings.fixed_latency == 0


def test_factory_starts_configured_sandboxes(asa_sandbox_factory: Any) -> None:
    free = asa_sandbox_factory(plan="free", error_style="upper")
    other = asa_sandbox_factory()
    assert free.base_url != other.base_url
    status, body = _fetch(f"{free.base_url}/api/v1/amazon/product?query=B09HN3Q81F")
    assert (status, body["error"]) == (401, "INVALID_API_KEY")


def test_pytest_plugin_is_registered(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.pluginmanager.has_plugin("asa_bulk_sandbox")


def test_official_sdk_works_unchanged_but_for_base_url() -> None:
    from amazonscraperapi import AmazonScraperAPI, AmazonScraperAPIError

    with (
        serve_in_thread(fixed_latency=0) as sb,
        AmazonScraperAPI(make_test_keys(1)[0], base_url=sb.base_url) as api,
    ):
        product = api.product(query="B09HN3Q81F", domain="de", language="de_DE")
        assert product["asin"] == "B09HN3Q81F"
        assert product["currency"] == "EUR"
        assert isinstance(product["title"], str)
        found = api.search(query="wireless headphones", sort_by="price_asc", pages=2)
        assert found["query"] == "wireless headphones"
        priced = [
            p["price"] for p in found["products"] if p["page"] == 1 and p["price"] is not None
        ]
        assert priced == sorted(priced)
        with pytest.raises(AmazonScraperAPIError) as info:
            api.product(query="B0NOPE0404")
        assert info.value.status_code == 404
        assert info.value.body["error"] == "product_not_found"
        assert sb.stats.search_pages_billed == 2


def test_settings_from_file_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "sandbox.json"
    path.write_text(json.dumps({"plan": "free", "credits": 50, "faults": {"internal_error": 0.1}}))
    settings = SandboxSettings.from_file(path, credits=7)
    assert (settings.plan, settings.credits, dict(settings.faults)) == (
        "free",
        7,
        {"internal_error": 0.1},
    )
    path.write_text(json.dumps({"plna": "free"}))
    with pytest.raises(ConfigError, match=r"unknown sandbox setting .*plna"):
        SandboxSettings.from_file(path)


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"port": 70000}, "port must be"),
        ({"faults": {"boom": 0.1}}, "faults keys must be one of"),
        ({"faults": {"internal_error": 0.7, "capacity": 0.7}}, "total <= 1"),
        ({"rps": 10, "burst_rps": 5}, "burst_rps"),
        ({"credits": -1}, "credits"),
        ({"keys": ["asa_test_short"]}, "keys must be"),
        ({"revoke_after": {"nope": 3}}, "revoke_after entries"),
        ({"product_shape": "xml"}, "product_shape"),
        ({"fixed_latency": -1}, "fixed_latency"),
        ({"latency_p95": 1.0}, "latency_p95"),
    ],
)
def test_settings_validation_messages(overrides: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        SandboxSettings(**overrides)
