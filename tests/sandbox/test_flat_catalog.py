"""``flat_catalog=True``: the benchmark mode whose cost per request does not grow with N.

Cost is never timed here (benchmarks/sandbox_cost.py measures it); these tests pin its cause:
no product is generated per ASIN, only a bounded pool of templates, and the answers keep the
documented shape and rules.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

import aiohttp
import pytest

from asa_bulk._errors import ConfigError
from asa_bulk.sandbox import SandboxSettings, _flat, _products, add_sandbox_arguments, serve
from asa_bulk.sandbox._bodies import StockCatalog
from asa_bulk.sandbox._command import _settings
from asa_bulk.sandbox._flat import POOL, FlatCatalog, placeholder
from asa_bulk.sandbox._products import BODY_CACHE_SIZE, product_body
from tests.support.sandbox import KEY, SEARCH, get

FAMILIES = 8
ASINS = [f"B0{c}{n:07d}" for c in "0123456789ABCDEF" for n in range(40)]


def _template_mates() -> tuple[str, str]:
    """Two ASINs the flat catalogue serves from the same template."""
    seen: dict[tuple[int, int], str] = {}
    for asin in ASINS:
        mate = seen.setdefault(_flat.slot_of(asin), asin)
        if mate != asin:
            return mate, asin
    raise AssertionError("no two ASINs share a template")


@pytest.mark.parametrize("shape", ["docs", "sdk"])
def test_a_flat_body_is_the_documented_product_of_the_asked_asin(shape: str) -> None:
    flat = FlatCatalog(shape)  # type: ignore[arg-type]
    stock = StockCatalog(shape)  # type: ignore[arg-type]
    for asin in ("B09HN3Q81F", "B0CX23V2ZK", "B07PGL2ZSL"):
        body = flat.product(asin, "co.uk")
        doc = json.loads(body)
        assert doc["asin"] == asin
        assert placeholder(*_flat.slot_of(asin)).encode() not in body
        assert sorted(doc) == sorted(json.loads(stock.product(asin, "co.uk")))
        assert flat.product(asin, "co.uk") == body  # identical bytes for identical requests
        if shape == "docs":
            assert doc["product_details"]["ASIN"] == asin
            assert doc["currency"] == "GBP"
            selected = [v["asin"] for v in doc["variations"] if v["selected"]]
            assert selected in ([], [asin])
        else:
            assert doc["price"]["currency"] == "GBP"


def test_add_html_names_the_asked_asin() -> None:
    doc = json.loads(FlatCatalog("docs").product("B09HN3Q81F", "com", add_html=True))
    assert 'data-asin="B09HN3Q81F"' in doc["html"]


def test_the_family_follows_the_asin_as_in_stock() -> None:
    flat, stock = FlatCatalog("docs"), StockCatalog("docs")
    for asin in ("B01AAAAAAA", "B0KAAAAAAA", "B0ZAAAAAAA"):
        flat_ladder = json.loads(flat.product(asin, "com"))["category"][0]["ladder"][0]
        stock_ladder = json.loads(stock.product(asin, "com"))["category"][0]["ladder"][0]
        assert flat_ladder == stock_ladder


def test_products_come_from_a_bounded_pool_not_one_per_asin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rendered: list[str] = []
    real = _products.render_product

    def counting(asin: str, *args: Any) -> bytes:
        rendered.append(asin)
        return real(asin, *args)

    monkeypatch.setattr(_flat, "render_product", counting)
    flat = FlatCatalog("docs")
    bodies = {flat.product(asin, "com") for asin in ASINS}
    assert len(bodies) == len(ASINS)  # every ASIN its own bytes ...
    assert len(rendered) <= FAMILIES * POOL < len(ASINS)  # ... from a few templates
    assert flat.templates_rendered == len(rendered)
    for asin in ASINS:  # served again: nothing new is generated
        flat.product(asin, "com")
    assert flat.templates_rendered == len(rendered)


def test_stock_cache_size_is_the_documented_limit() -> None:
    # The reason for the flat mode: beyond this many bodies the stock catalogue regenerates.
    assert BODY_CACHE_SIZE == 65_536
    info = product_body.cache_info()
    assert info.maxsize == BODY_CACHE_SIZE


async def test_served_flat_answers_keep_the_rules(http: aiohttp.ClientSession) -> None:
    async with serve(fixed_latency=0, flat_catalog=True, time_scale=0) as sb:
        assert sb.settings.flat_catalog
        ok = await get(http, sb.base_url, params={"query": "B09HN3Q81F", "domain": "de"})
        mates = [
            (await get(http, sb.base_url, params={"query": a})).json for a in _template_mates()
        ]
        gone = await get(http, sb.base_url, params={"query": "B0MISSI404"})
        found = await get(http, sb.base_url, SEARCH, params={"query": "wireless earbuds"})
        first = found.json["products"][0]
        page = await get(http, sb.base_url, params={"query": first["asin"]})
        async with http.post(
            sb.url("/api/v1/amazon/batch"),
            params={"api_key": KEY},
            json={"endpoint": "amazon.product", "items": [{"query": "B0CX23V2ZK"}]},
        ) as resp:
            batch_id = (await resp.json())["id"]
        for _ in range(500):
            batch = await get(http, sb.base_url, f"/api/v1/amazon/batch/{batch_id}")
            if batch.json["status"] == "complete":
                break
            await asyncio.sleep(0.002)
        stats = sb.stats
    assert ok.status == 200
    assert ok.json["asin"] == "B09HN3Q81F"
    assert ok.json["currency"] == "EUR"
    # Served from the template pool (stock would generate two different products).
    assert mates[0]["title"] == mates[1]["title"]
    assert mates[0]["asin"] != mates[1]["asin"]
    assert gone.status == 404
    assert gone.json["error"] == "product_not_found"
    # Search results agree with the product pages they point at, as in stock mode.
    assert (first["title"], first["price"]) == (page.json["title"], page.json["price"])
    assert batch.json["results"][0]["data"]["asin"] == "B0CX23V2ZK"
    assert stats.billed[("B09HN3Q81F", "de")] == 1


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_sandbox_arguments(parser)
    return parser.parse_args(argv)


def test_cli_flag_and_setting(tmp_path: Any) -> None:
    assert _settings(_parse("--flat-catalog")).flat_catalog is True
    assert _settings(_parse()).flat_catalog is False
    config = tmp_path / "sb.json"
    config.write_text(json.dumps({"flat_catalog": True}))
    assert _settings(_parse("--config", str(config))).flat_catalog is True
    with pytest.raises(ConfigError, match="flat_catalog must be true or false"):
        SandboxSettings(flat_catalog="yes")  # type: ignore[arg-type]


def test_help_calls_it_a_benchmark_mode(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _parse("--help")
    out = " ".join(capsys.readouterr().out.split())
    assert "--flat-catalog benchmark mode:" in out
    assert "benchmark mode" in (SandboxSettings.__doc__ or "")
