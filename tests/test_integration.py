"""fetch_products against the real sandbox server (HTTP on loopback, latencies in ms)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

import asa_bulk
from asa_bulk.cli._demo import run_demo
from asa_bulk.sandbox import make_test_keys, serve

KEYS = make_test_keys(3, seed=11)
ASINS = [f"B1{n:08d}" for n in range(200)]
SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "asins.csv"
#: Limits well above the default plan's, so the tests are not paced by 25 requests/s.
FAST: dict[str, Any] = {"concurrency": 50, "rps": 5000.0, "burst_rps": 10000.0}


async def fetch(base_url: str, items: Any, **options: Any) -> Any:
    options.setdefault("keys", KEYS)
    options.setdefault("retry_delay_scale", 0.0)
    return await asa_bulk.fetch_products(
        items, base_url=base_url, progress=False, env_file=None, **options
    )


async def test_a_key_revoked_mid_run_loses_nothing_and_bills_nothing_twice() -> None:
    async with serve(fixed_latency=0.002, revoke_after={KEYS[1]: 20}, **FAST) as sandbox:
        df = await fetch(sandbox.base_url, ASINS)
        stats = sandbox.stats
    assert len(df) == len(ASINS)
    assert set(df["status"]) == {"ok"}
    assert df.attrs["run"]["retired_keys"] == {KEYS[1][:21]: "revoked"}
    assert stats.requests_by_key[KEYS[1][:21]] <= 20 + 50  # plus at most what was in flight
    assert stats.billed_twice == {}
    assert stats.billed_total == len(ASINS)


async def test_every_key_revoked_stops_with_skipped_rows() -> None:
    revoke = dict.fromkeys(KEYS, 15)
    async with serve(fixed_latency=0.002, revoke_after=revoke, **FAST) as sandbox:
        with pytest.warns(asa_bulk.RunStoppedWarning):
            df = await fetch(sandbox.base_url, ASINS, concurrency=2)
    assert len(df) == len(ASINS)
    assert set(df["status"]) == {"ok", "skipped"}
    assert (df["status"] == "ok").sum() == 45
    assert set(df.loc[df["status"] == "skipped", "error"]) == {"no_usable_keys"}


async def test_out_of_credits_mid_run() -> None:
    async with serve(fixed_latency=0.001, credits=5 * 30, **FAST) as sandbox:
        with pytest.warns(asa_bulk.RunStoppedWarning, match="credits"):
            df = await fetch(sandbox.base_url, ASINS)
        billed = sandbox.stats.billed_total
    assert (df["status"] == "ok").sum() == billed == 30
    assert set(df.loc[df["status"] != "ok", "error"]) == {"insufficient_credits"}


@pytest.mark.parametrize("error_style", ["docs", "nested", "upper"])
async def test_faults_of_every_kind_lose_no_row(error_style: str) -> None:
    faults = {
        "upstream_timeout": 0.05,
        "blocked_by_amazon": 0.05,
        "rate_limited": 0.05,
        "internal_error": 0.05,
        "target_unreachable": 0.05,
        "extraction_failed": 0.05,
        "asin_mismatch": 0.02,
        "capacity": 0.03,
        "reset": 0.03,
        "html": 0.03,
    }
    async with serve(
        fixed_latency=0.001,
        faults=faults,
        error_style=error_style,
        product_shape="mixed",
        seed=3,
        **FAST,
    ) as sandbox:
        df = await fetch(sandbox.base_url, ASINS, max_attempts=8)
        billed_twice = sandbox.stats.billed_twice
    assert len(df) == len(ASINS)
    failed = df[df["status"] != "ok"]
    assert set(failed["status"]) <= {"failed"}
    assert set(failed["error"]) <= {"asin_mismatch"}  # the only non-retryable fault injected
    assert (df["status"] == "ok").sum() >= len(ASINS) * 0.9
    ok = df[df["status"] == "ok"]
    assert ok["title"].notna().all()  # both product shapes land in the same columns
    assert ok["currency"].notna().all()
    assert billed_twice == {}
    assert df.attrs["run"]["retries"] > 0
    assert df.attrs["run"]["throttled"] > 0


async def test_limits_adapt_to_the_servers_headers_without_429s() -> None:
    async with serve(fixed_latency=0.02, concurrency=30, rps=500, burst_rps=1000) as sandbox:
        df = await fetch(sandbox.base_url, ASINS, keys=KEYS[:1])
        stats = sandbox.stats
    key = df.attrs["run"]["keys"][0]
    assert (key["concurrency"], key["rps"]) == (30, 500.0)
    assert stats.rate_limited == 0
    assert stats.max_in_flight[KEYS[0][:21]] > 2  # Free-plan limits (2/s) keep it at 1


async def test_a_server_stall_past_the_timeout_is_a_timeout_row() -> None:
    async with serve(
        fixed_latency=0.0, faults={"stall": 1.0}, stall_seconds=5.0, **FAST
    ) as sandbox:
        df = await fetch(sandbox.base_url, ASINS[:2], timeout=0.05, max_attempts=1)
    assert list(df["status"]) == ["failed", "failed"]
    assert list(df["error"]) == ["timeout", "timeout"]


async def test_query_auth_and_not_found_rule() -> None:
    async with serve(fixed_latency=0.0, **FAST) as sandbox:
        df = await fetch(sandbox.base_url, ["B000000404", "B000000405"], auth="query")
    assert list(df["status"]) == ["not_found", "ok"]
    assert df.loc[0, "error"] == "product_not_found"
    assert df.loc[0, "http_status"] == 404


async def test_the_demo_runs_and_explains_itself() -> None:
    out = io.StringIO()
    df = await run_demo(
        input_path=SAMPLE, latency_scale=0.001, revoke_after=40, rps=500, progress=False, out=out
    )
    text = out.getvalue()
    assert "SANDBOX, not the real service" in text
    assert "retired (revoked)" in text
    assert "0 ASIN(s) billed twice" in text
    assert set(df["status"]) <= {"ok", "not_found", "invalid"}
    assert (df["status"] == "not_found").sum() == 4  # the sample's ...404 ASINs
    assert "asa_test_" in text
    for key in make_test_keys(3, seed=2026):
        assert key not in text
