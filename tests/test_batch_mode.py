"""mode="batch": server-side batches behind the same call, against the sandbox's batch API.

The sandbox runs on the test's own event loop, its batches start at once and take no time
per item; the client runs on a FakeClock, so polls, deadlines and backoffs pass without
waiting. Crashes are simulated by making one step of the runner raise.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import sqlite3
import warnings
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pandas as pd
import pytest

import asa_bulk
from asa_bulk._batch_api import BatchApi
from asa_bulk._batch_ledger import BatchLedger
from asa_bulk.sandbox import Sandbox, make_test_keys, serve
from asa_bulk.sandbox._drift import EPOCH
from asa_bulk.testing import FakeClock, set_testing

KEYS = make_test_keys(2)


def asins(n: int, start: int = 0) -> list[str]:
    return [f"B0{i:08d}" for i in range(start, start + n)]


@pytest.fixture
async def sandbox_factory() -> AsyncIterator[Callable[..., Any]]:
    async with contextlib.AsyncExitStack() as stack:

        async def start(**overrides: Any) -> Sandbox:
            settings: dict[str, Any] = {
                "fixed_latency": 0.0,
                "batch_start_delay": 0.0,
                "batch_item_seconds": 0.0,
                "plan": "pro",
                # The client's clock is a FakeClock, the sandbox's rate limits are on the real
                # one: limits far above what the fake time lets the client send.
                "rps": 1e6,
                "burst_rps": 1e6,
                "today": EPOCH,
            }
            settings.update(overrides)
            return await stack.enter_async_context(serve(**settings))

        yield start


@pytest.fixture
async def sb(sandbox_factory: Callable[..., Any]) -> Sandbox:
    sandbox: Sandbox = await sandbox_factory()
    return sandbox


async def fetch(sb: Sandbox, items: Any, checkpoint: Path, **options: Any) -> pd.DataFrame:
    options.setdefault("mode", "batch")
    options.setdefault("keys", KEYS)
    with set_testing(clock=FakeClock(), seed=0):
        return await asa_bulk.fetch_products(
            items, base_url=sb.base_url, checkpoint=checkpoint, progress=False, **options
        )


def ledger_rows(checkpoint: Path) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(checkpoint)) as conn:
        return conn.execute(
            "SELECT state, batch_id, item_count, secret FROM batches ORDER BY posted_at"
        ).fetchall()


def billed_twice(sb: Sandbox) -> dict[Any, int]:
    return {key: n for key, n in sb.stats.billed.items() if n > 1}


# -- normal completion --------------------------------------------------------------------------


async def test_the_frame_is_the_sync_frame_plus_batch_id(
    sandbox_factory: Callable[..., Any], tmp_path: Path
) -> None:
    items = ["B09HN3Q81F", "not an asin", *asins(40), "B092RC0404", "B09HN3Q81F"]
    batch_sb, sync_sb = await sandbox_factory(), await sandbox_factory()
    batch = await fetch(batch_sb, items, tmp_path / "b.sqlite")
    # The sync run on the real clock (the sandbox's rate limits are on it), within Pro limits.
    sync = await asa_bulk.fetch_products(
        items, keys=KEYS, base_url=sync_sb.base_url, progress=False, concurrency=20, rps=20
    )
    assert list(batch.columns) == [*sync.columns, "batch_id"]
    own = ("attempts", "key_id", "request_id", "latency_ms", "fetched_at", "error_message")
    same = [c for c in sync.columns if c not in own]
    pd.testing.assert_frame_equal(batch[same], sync[same])
    message = str(batch["error_message"].iloc[42])
    assert message.startswith("the item failed inside batch")
    assert "HTTP 404 product_not_found" in message
    assert batch["status"].value_counts().to_dict() == {"ok": 42, "not_found": 1, "invalid": 1}
    ids = batch["batch_id"].tolist()
    assert batch["status"].iloc[1] == "invalid"
    assert ids[1] is pd.NA
    assert ids[0] == ids[-1]  # a duplicate
    assert batch_sb.stats.batches_created == 1
    # Nothing went through the sync endpoint: only the POST (201) and polls (200).
    assert set(batch_sb.stats.status_counts) == {200, 201}
    assert batch.attrs["run"]["credits"] == sync.attrs["run"]["credits"]


async def test_more_than_a_thousand_items_go_in_several_batches(
    sb: Sandbox, tmp_path: Path
) -> None:
    items = [*asins(1100), *asins(3)]
    df = await fetch(sb, items, tmp_path / "cp.sqlite")
    assert df["status"].value_counts().to_dict() == {"ok": 1102, "not_found": 1}  # B000000404
    assert df["asin"].tolist() == items
    assert sb.stats.batches_created == 2
    assert [row[2] for row in ledger_rows(tmp_path / "cp.sqlite")] == [1000, 100]
    assert {row[0] for row in ledger_rows(tmp_path / "cp.sqlite")} == {"done"}
    assert df["batch_id"].nunique() == 2
    assert not billed_twice(sb)
    run = df.attrs["run"]
    assert [b["items"] for b in run["batches"]] == [1000, 100]
    assert {b["status"] for b in run["batches"]} == {"complete"}


async def test_batch_size_splits_unique_requests(sb: Sandbox, tmp_path: Path) -> None:
    df = await fetch(sb, asins(20) + asins(5), tmp_path / "cp.sqlite", batch_size=7)
    assert sb.stats.batches_created == 3
    assert [row[2] for row in ledger_rows(tmp_path / "cp.sqlite")] == [7, 7, 6]
    assert (df["status"] == "ok").all()
    assert (
        df["batch_id"].iloc[:20].tolist()
        == df["batch_id"].iloc[20:].tolist()[:5] + df["batch_id"].iloc[5:20].tolist()
    )


async def test_search_in_batch_mode_is_the_sync_search_plus_batch_id(
    sandbox_factory: Callable[..., Any], tmp_path: Path
) -> None:
    queries = ["usb c cable", "", "desk lamp"]
    frames = []
    for mode in ("batch", "sync"):
        sandbox = await sandbox_factory()
        with set_testing(clock=FakeClock(), seed=0):
            frames.append(
                await asa_bulk.search(
                    queries,
                    pages=2,
                    keys=KEYS,
                    base_url=sandbox.base_url,
                    progress=False,
                    checkpoint=tmp_path / f"{mode}.sqlite",
                    mode=mode,
                )
            )
        if mode == "batch":
            assert sandbox.stats.batches_created == 1
    batch, sync = frames
    assert list(batch.columns) == [*sync.columns, "batch_id"]
    own = ["fetched_at", "attempts", "key_id", "request_id"]
    pd.testing.assert_frame_equal(batch.drop(columns=[*own, "batch_id"]), sync.drop(columns=own))
    assert batch.loc[batch["status"] == "ok", "batch_id"].nunique() == 1


# -- failures inside batches --------------------------------------------------------------------


async def test_a_failed_batch_fails_its_rows_with_the_items_errors(
    sandbox_factory: Callable[..., Any], tmp_path: Path
) -> None:
    sb = await sandbox_factory(faults={"extraction_failed": 1.0})
    df = await fetch(sb, asins(5), tmp_path / "cp.sqlite", batch_retry="none")
    assert (df["status"] == "failed").all()
    assert (df["error"] == "extraction_failed").all()
    assert df["batch_id"].notna().all()
    assert df.attrs["run"]["batches"][0]["status"] == "failed"
    assert sb.stats.credits_used == 0
    # failed is not final: a re-run posts those items again (and only those)
    await fetch(sb, asins(5), tmp_path / "cp.sqlite", batch_retry="none")
    assert sb.stats.batches_created == 2


async def test_items_that_failed_are_retried_as_sync_requests_and_nothing_paid_twice(
    sandbox_factory: Callable[..., Any], tmp_path: Path
) -> None:
    sb = await sandbox_factory(faults={"extraction_failed": 0.3})
    df = await fetch(sb, asins(60), tmp_path / "cp.sqlite", retry_delay_scale=0.0)
    assert sb.stats.batches_created == 1
    retried = df[df["attempts"] >= 2]
    assert len(retried) > 5  # ~30% failed inside the batch
    assert (retried["status"] == "ok").sum() >= len(retried) - 2
    assert retried["batch_id"].notna().all()  # they keep the batch they were first in
    assert (df.loc[df["attempts"] == 1, "status"] == "ok").all()
    assert not billed_twice(sb)
    assert df.attrs["run"]["credits"] == 5 * int((df["status"] == "ok").sum())
    # the retries went to the sync endpoint: 200 answers beyond POST + polls
    assert df.attrs["run"]["retries"] >= len(retried)


async def test_retry_none_leaves_failed_items_for_a_rerun_that_posts_only_them(
    sandbox_factory: Callable[..., Any], tmp_path: Path
) -> None:
    sb = await sandbox_factory(faults={"extraction_failed": 0.3})
    cp = tmp_path / "cp.sqlite"
    first = await fetch(sb, asins(40), cp, batch_retry="none")
    failed = int((first["status"] == "failed").sum())
    assert failed > 3
    second = await fetch(sb, asins(40), cp, batch_retry="none")
    assert ledger_rows(cp)[1][2] == failed  # the second batch holds exactly the failed ones
    assert second.attrs["run"]["from_checkpoint"] == 40 - failed
    assert not billed_twice(sb)


# -- deadlines and resuming ---------------------------------------------------------------------


async def test_a_stuck_batch_stops_at_the_deadline_and_a_rerun_polls_it(
    sandbox_factory: Callable[..., Any], tmp_path: Path
) -> None:
    sb = await sandbox_factory(batch_start_delay=1e9)  # never leaves pending
    cp = tmp_path / "cp.sqlite"
    with pytest.warns(asa_bulk.RunStoppedWarning, match="batch_deadline"):
        df = await fetch(sb, [*asins(3), "bad"], cp, batch_deadline=600, batch_poll_seconds=60)
    assert df["status"].tolist() == ["skipped"] * 3 + ["invalid"]
    assert (df["error"].iloc[:3] == "batch_deadline").all()
    batch_id = ledger_rows(cp)[0][1]
    assert df["batch_id"].iloc[:3].tolist() == [batch_id] * 3
    assert batch_id in df.attrs["run"]["stop_message"]
    assert "run again" in df["error_message"].iloc[0]
    polls = sb.stats.status_counts[200]
    assert 5 <= polls <= 12  # every 60 s for 600 s, not a busy loop
    with pytest.warns(asa_bulk.RunStoppedWarning):
        await fetch(sb, asins(3), cp, batch_deadline=120, batch_poll_seconds=60)
    assert sb.stats.batches_created == 1  # polled again, never posted again
    assert sb.stats.status_counts[200] > polls
    assert ledger_rows(cp)[0][0] == "posted"


class Crash(Exception):
    """Stands for the process dying at one exact point."""


def crash_after_recording_the_id(monkeypatch: pytest.MonkeyPatch) -> None:
    recorded = BatchLedger.posted

    def posted_then_crash(self: BatchLedger, *args: Any, **kwargs: Any) -> None:
        recorded(self, *args, **kwargs)
        raise Crash

    monkeypatch.setattr(BatchLedger, "posted", posted_then_crash)


def crash_before_recording_the_id(monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(self: BatchLedger, *args: Any, **kwargs: Any) -> None:
        raise Crash

    monkeypatch.setattr(BatchLedger, "posted", crash)


async def test_a_crash_after_the_post_resumes_polling_and_never_reposts(
    sb: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cp = tmp_path / "cp.sqlite"
    crash_after_recording_the_id(monkeypatch)
    with pytest.raises(Crash):
        await fetch(sb, asins(30), cp)
    monkeypatch.undo()
    assert ledger_rows(cp)[0][0] == "posted"
    df = await fetch(sb, asins(30), cp)
    assert (df["status"] == "ok").all()
    assert sb.stats.batches_created == 1
    assert df["batch_id"].nunique() == 1
    assert not billed_twice(sb)


async def test_a_crash_between_post_and_record_is_reconciled_from_the_list(
    sb: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    cp = tmp_path / "cp.sqlite"

    crash_before_recording_the_id(monkeypatch)
    with pytest.raises(Crash):
        await fetch(sb, asins(30), cp)
    monkeypatch.undo()
    assert ledger_rows(cp)[0][:2] == ("posting", None)
    with caplog.at_level(logging.WARNING, logger="asa_bulk"):
        df = await fetch(sb, asins(30), cp)
    assert (df["status"] == "ok").all()
    assert sb.stats.batches_created == 1  # found, not posted again
    assert "reconciled" in caplog.text
    assert ledger_rows(cp)[0][0] == "done"


async def test_a_crash_before_the_post_went_out_posts_once_the_list_rules_it_out(
    sb: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cp = tmp_path / "cp.sqlite"

    async def crash(self: BatchApi, *args: Any, **kwargs: Any) -> None:
        raise Crash

    monkeypatch.setattr(BatchApi, "create", crash)
    with pytest.raises(Crash):
        await fetch(sb, asins(10), cp)
    monkeypatch.undo()
    df = await fetch(sb, asins(10), cp)
    assert (df["status"] == "ok").all()
    assert sb.stats.batches_created == 1
    assert [row[0] for row in ledger_rows(cp)] == ["not_posted", "done"]


async def test_an_unprovable_lost_post_stops_until_repost_is_allowed(
    sb: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cp = tmp_path / "cp.sqlite"

    crash_before_recording_the_id(monkeypatch)
    with pytest.raises(Crash):
        await fetch(sb, asins(4), cp)
    monkeypatch.undo()
    # Someone else posts a batch of the same size at the same time: which one is ours?
    body = {"endpoint": "amazon.product", "items": [{"query": a} for a in asins(4, 100)]}
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            sb.url("/api/v1/amazon/batch"),
            json=body,
            headers={"Authorization": f"Bearer {KEYS[1]}"},
        ) as resp,
    ):
        assert resp.status == 201
    with pytest.warns(asa_bulk.RunStoppedWarning, match="batch_unconfirmed"):
        df = await fetch(sb, asins(4), cp)
    assert (df["status"] == "skipped").all()
    assert (df["error"] == "batch_unconfirmed").all()
    message = df.attrs["run"]["stop_message"]
    assert "bill them twice" in message
    assert "repost_unconfirmed=True" in message
    assert sb.stats.batches_created == 2  # nothing posted by that run
    df = await fetch(sb, asins(4), cp, repost_unconfirmed=True)
    assert (df["status"] == "ok").all()
    assert sb.stats.batches_created == 3


# -- keys and credits ---------------------------------------------------------------------------


async def test_the_budget_counts_every_item_of_a_batch_before_posting(
    sb: Sandbox, tmp_path: Path
) -> None:
    with pytest.warns(asa_bulk.RunStoppedWarning, match="budget"):
        df = await fetch(sb, asins(30), tmp_path / "cp.sqlite", max_credits=52)
    assert sb.stats.credits_used <= 52
    assert ledger_rows(tmp_path / "cp.sqlite")[0][2] == 10  # 10 x 5 credits fit, 11 would not
    assert (df["status"] == "ok").sum() == 10
    assert (df["error"] == "budget_exhausted").sum() == 20


async def test_a_revoked_key_is_retired_and_another_posts(sb: Sandbox, tmp_path: Path) -> None:
    sb.revoke(KEYS[0])
    df = await fetch(sb, asins(12), tmp_path / "cp.sqlite", keys=KEYS)
    assert (df["status"] == "ok").all()
    assert sb.stats.batches_created == 1
    assert len(df.attrs["run"]["retired_keys"]) == 1


async def test_every_key_revoked_skips_every_row_and_posts_nothing(
    sb: Sandbox, tmp_path: Path
) -> None:
    for key in KEYS:
        sb.revoke(key)
    with pytest.warns(asa_bulk.RunStoppedWarning, match="no_usable_keys"):
        df = await fetch(sb, asins(3), tmp_path / "cp.sqlite")
    assert (df["error"] == "no_usable_keys").all()
    assert sb.stats.batches_created == 0
    assert ledger_rows(tmp_path / "cp.sqlite")[0][0] == "not_posted"


# -- settings -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"mode": "bulk"}, "mode must be 'sync' or 'batch'"),
        ({"checkpoint": None}, "needs a checkpoint"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 1001}, "at most 1000"),
        ({"batch_poll_seconds": float("nan")}, "batch_poll_seconds"),
        ({"batch_deadline": -1.0}, "batch_deadline"),
        ({"batch_retry": "async"}, "batch_retry"),
        ({"repost_unconfirmed": "yes"}, "repost_unconfirmed"),
        ({"webhook": "https://hooks.example.com"}, "webhook must be"),
    ],
)
async def test_bad_batch_settings_are_config_errors(
    sb: Sandbox, tmp_path: Path, options: dict[str, Any], message: str
) -> None:
    kwargs: dict[str, Any] = {"mode": "batch", "checkpoint": tmp_path / "cp.sqlite"}
    kwargs.update(options)
    with pytest.raises(asa_bulk.ConfigError, match=message):
        await asa_bulk.fetch_products(
            asins(2), keys=KEYS, base_url=sb.base_url, progress=False, **kwargs
        )
    assert sb.stats.requests == 0


def test_a_store_of_your_own_cannot_hold_the_ledger(tmp_path: Path) -> None:
    class Mine:
        def load(self) -> Any:
            return iter(())

        def record(self, record: Any) -> None: ...

        def close(self) -> None: ...

    with pytest.raises(asa_bulk.ConfigError, match="needs a checkpoint file"):
        BatchLedger(Mine())


async def test_a_checkpoint_that_fails_after_the_post_stops_and_the_rerun_reconciles(
    sb: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from asa_bulk._errors import CheckpointWriteError

    cp = tmp_path / "cp.sqlite"

    def disk_full(self: BatchLedger, *args: Any, **kwargs: Any) -> None:
        raise CheckpointWriteError("cannot write checkpoint: database or disk is full")

    monkeypatch.setattr(BatchLedger, "posted", disk_full)
    with pytest.warns(asa_bulk.RunStoppedWarning, match="disk is full"):
        df = await fetch(sb, asins(6), cp)
    monkeypatch.undo()
    assert (df["status"] == "skipped").all()
    assert (df["error"] == "checkpoint_failed").all()
    assert df["batch_id"].notna().all()  # the rows say which batch holds them
    df = await fetch(sb, asins(6), cp)
    assert (df["status"] == "ok").all()
    assert sb.stats.batches_created == 1


async def test_stopping_keeps_the_batches_for_the_next_run(
    sb: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    cp = tmp_path / "cp.sqlite"
    stop = asyncio.Event()
    recorded = BatchLedger.posted

    def posted_then_stop(self: BatchLedger, *args: Any, **kwargs: Any) -> None:
        recorded(self, *args, **kwargs)
        stop.set()  # Ctrl-C in the command, the stop event in a notebook

    monkeypatch.setattr(BatchLedger, "posted", posted_then_stop)
    with pytest.warns(asa_bulk.RunStoppedWarning, match="interrupted"):
        df = await fetch(sb, [*asins(8), *asins(2)], cp, stop=stop)
    monkeypatch.undo()
    assert (df["error"] == "interrupted").all()
    df = await fetch(sb, [*asins(8), *asins(2)], cp)
    assert (df["status"] == "ok").all()
    assert sb.stats.batches_created == 1
    assert not billed_twice(sb)


async def test_a_post_whose_answer_is_lost_in_flight_is_found_not_posted_twice(
    sb: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from asa_bulk._batch_api import Reply

    send = BatchApi._send
    lost: list[str] = []

    async def lose_the_first_post_answer(self: BatchApi, slot: Any, method: str, *a: Any) -> Any:
        reply, retry_after = await send(self, slot, method, *a)
        if method == "POST" and not lost:
            lost.append(str(reply.body))  # the service created it; the answer never arrived
            return Reply(None, error="timeout", message="no answer", lost=True), None
        return reply, retry_after

    monkeypatch.setattr(BatchApi, "_send", lose_the_first_post_answer)
    df = await fetch(sb, asins(15), tmp_path / "cp.sqlite")
    assert lost
    assert (df["status"] == "ok").all()
    assert sb.stats.batches_created == 1
    assert ledger_rows(tmp_path / "cp.sqlite")[0][0] == "done"


async def test_failed_polls_back_off_and_the_batch_is_still_collected(
    sb: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from asa_bulk._batch_api import Reply

    get = BatchApi.get
    clock = FakeClock()
    polled: list[float] = []

    async def flaky_get(self: BatchApi, batch_id: str) -> Reply:
        polled.append(clock.now())
        if len(polled) <= 3:
            return Reply(502, error="http_502", message="a proxy's page", lost=True)
        return await get(self, batch_id)

    monkeypatch.setattr(BatchApi, "get", flaky_get)
    with set_testing(clock=clock, seed=0):
        df = await asa_bulk.fetch_products(
            asins(5),
            keys=KEYS,
            base_url=sb.base_url,
            progress=False,
            mode="batch",
            checkpoint=tmp_path / "cp.sqlite",
            batch_poll_seconds=30,
        )
    assert (df["status"] == "ok").all()
    gaps = [round(b - a) for a, b in itertools.pairwise(polled)]
    assert gaps[:3] == [60, 120, 240]  # 30 s doubled after each failed poll


async def test_a_batch_the_service_no_longer_knows_is_kept_and_not_resent_unless_allowed(
    sandbox_factory: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cp = tmp_path / "cp.sqlite"
    first = await sandbox_factory(batch_start_delay=1e9)
    crash_after_recording_the_id(monkeypatch)
    with pytest.raises(Crash):
        await fetch(first, asins(3), cp)
    monkeypatch.undo()
    other = await sandbox_factory()  # a service that has never seen that batch
    df = await fetch(other, asins(3), cp, allow_origin_change=True)
    assert (df["status"] == "skipped").all()  # it may be running still: not bought again
    assert (df["error"] == "batch_not_found").all()
    assert "repost_unconfirmed" in str(df["error_message"].iloc[0])
    assert other.stats.batches_created == 0
    assert set(other.stats.status_counts) == {404}  # 3 polls, 404 each: no item sent
    assert other.stats.status_counts[404] == 3
    assert ledger_rows(cp)[0][0] == "posted"  # kept for the next run
    df = await fetch(other, asins(3), cp, allow_origin_change=True, repost_unconfirmed=True)
    assert (df["status"] == "ok").all()
    assert other.stats.batches_created == 1
    assert [row[0] for row in ledger_rows(cp)] == ["not_posted", "done"]


@pytest.mark.parametrize("retry", ["sync", "none"])
async def test_a_refused_post_sends_its_items_as_sync_requests_or_fails_them(
    sb: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, retry: str
) -> None:
    from asa_bulk._batch_api import Reply

    async def refuse(self: BatchApi, *args: Any) -> Reply:
        return Reply(400, error="invalid_params", message="items[3]: bad domain")

    monkeypatch.setattr(BatchApi, "create", refuse)
    df = await fetch(sb, asins(4), tmp_path / "cp.sqlite", batch_retry=retry)
    assert ledger_rows(tmp_path / "cp.sqlite")[0][0] == "not_posted"
    assert sb.stats.batches_created == 0
    if retry == "sync":  # each item gets its own answer, as in sync mode
        assert (df["status"] == "ok").all()
        assert sb.stats.status_counts == {200: 4}
        return
    assert (df["status"] == "failed").all()
    assert (df["error"] == "invalid_params").all()
    assert "refused: HTTP 400 invalid_params: items[3]" in str(df["error_message"].iloc[0])
    assert sb.stats.requests == 0


async def test_a_workspace_out_of_credits_stops_posting_and_skips_the_rest(
    sb: Sandbox, tmp_path: Path
) -> None:
    sb.set_credits(5 * 3)  # three products' worth
    with pytest.warns(asa_bulk.RunStoppedWarning, match="insufficient_credits"):
        df = await fetch(sb, asins(8), tmp_path / "cp.sqlite", batch_size=4)
    assert df["status"].tolist() == ["ok"] * 3 + ["skipped"] * 5
    assert (df["error"].iloc[3:] == "insufficient_credits").all()
    assert sb.stats.credits_used == 15
    assert set(sb.stats.status_counts) == {200, 201}  # nothing retried on the keys


# -- what the service may answer that the docs do not promise -----------------------------------


async def test_results_echoing_filled_in_defaults_still_match_their_items(
    sb: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from asa_bulk.sandbox._batches import BatchStore

    process = BatchStore._process

    def echo_defaults(self: BatchStore, endpoint: str, item: dict[str, Any]) -> dict[str, Any]:
        out = process(self, endpoint, item)
        out["input"] = {**item, "language": "en_US", "query": item["query"].lower()}
        return out

    monkeypatch.setattr(BatchStore, "_process", echo_defaults)
    df = await fetch(sb, asins(10), tmp_path / "cp.sqlite")
    assert (df["status"] == "ok").all()
    assert (df["attempts"] == 1).all()  # none thought missing and bought again
    assert not billed_twice(sb)


async def test_billed_results_the_batch_did_not_return_are_never_bought_again(
    sb: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from asa_bulk.sandbox._batches import Batch

    document = Batch.document

    def truncated(self: Batch, *, with_results: bool = True) -> dict[str, Any]:
        doc = document(self, with_results=with_results)
        if "results" in doc:
            doc["results"] = doc["results"][:3]  # a page of them, say
        return doc

    monkeypatch.setattr(Batch, "document", truncated)
    df = await fetch(sb, asins(10), tmp_path / "cp.sqlite")
    assert (df["status"] == "ok").sum() == 3
    missing = df[df["status"] != "ok"]
    assert (missing["status"] == "failed").all()
    assert (missing["error"] == "batch_result_unmatched").all()
    assert "may pay twice" in str(missing["error_message"].iloc[0])
    assert sb.stats.credits_used == 50  # the batch's own, once
    assert set(sb.stats.status_counts) == {200, 201}


@pytest.mark.parametrize("shape", ["batch_id", "data"])
async def test_a_post_answer_without_a_readable_id_is_reconciled_not_taken_as_refused(
    sb: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shape: str
) -> None:
    from asa_bulk._batch_api import Reply

    send = BatchApi._send

    async def renamed(self: BatchApi, slot: Any, method: str, *a: Any) -> Any:
        reply, retry_after = await send(self, slot, method, *a)
        if method == "POST" and reply.body:
            body = dict(reply.body)
            batch_id = body.pop("id")
            body.update({"batch_id": 7} if shape == "batch_id" else {"data": {"uuid": batch_id}})
            reply = Reply(reply.status, body, key_id=reply.key_id)
        return reply, retry_after

    monkeypatch.setattr(BatchApi, "_send", renamed)
    df = await fetch(sb, asins(5), tmp_path / "cp.sqlite")
    assert sb.stats.batches_created == 1
    assert not billed_twice(sb)
    if shape == "data":  # no id anywhere: found by reconciling, then polled
        assert (df["status"] == "ok").all()


async def test_listed_batches_without_times_or_sizes_cannot_prove_a_post_created_nothing(
    sb: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from asa_bulk._batch_api import Reply

    send = BatchApi._send
    lost: list[int] = []

    async def lossy(self: BatchApi, slot: Any, method: str, path: str, params: Any, *a: Any) -> Any:
        reply, retry_after = await send(self, slot, method, path, params, *a)
        if method == "POST" and not lost:
            lost.append(1)
            return Reply(None, error="timeout", message="no answer", lost=True), None
        if method == "GET" and params and "limit" in params and reply.body:
            listed = [
                {k: v for k, v in b.items() if k != "created_at"} for b in reply.body["batches"]
            ]
            reply = Reply(reply.status, {"batches": listed}, key_id=reply.key_id)
        return reply, retry_after

    monkeypatch.setattr(BatchApi, "_send", lossy)
    with pytest.warns(asa_bulk.RunStoppedWarning, match="batch_unconfirmed"):
        df = await fetch(sb, asins(8), tmp_path / "cp.sqlite")
    assert (df["error"] == "batch_unconfirmed").all()
    assert sb.stats.batches_created == 1  # never posted again
    assert "could not be read" in df.attrs["run"]["stop_message"]


async def test_posts_that_keep_failing_stop_the_run_instead_of_looping(
    sb: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from asa_bulk._batch_api import Reply

    posts: list[int] = []

    async def down(self: BatchApi, *args: Any) -> Reply:
        posts.append(1)
        return Reply(500, error="internal_error", message="batch service down", lost=True)

    monkeypatch.setattr(BatchApi, "create", down)
    with pytest.warns(asa_bulk.RunStoppedWarning, match="service_unreachable"):
        df = await fetch(sb, asins(3), tmp_path / "cp.sqlite")
    assert (df["error"] == "service_unreachable").all()
    assert len(posts) == 5
    assert "batch POSTs created no batch" in df.attrs["run"]["stop_message"]


async def test_a_run_does_not_wait_on_an_open_batch_its_rows_do_not_need(
    sandbox_factory: Callable[..., Any], tmp_path: Path
) -> None:
    sb = await sandbox_factory(batch_start_delay=1e9)  # batches never leave pending
    cp = tmp_path / "cp.sqlite"
    await fetch(sb, asins(2, 50), cp, mode="sync")  # these rows are in the checkpoint
    with pytest.warns(asa_bulk.RunStoppedWarning):
        await fetch(sb, asins(3), cp, batch_deadline=300)  # left open in the ledger
    clock = FakeClock()
    with set_testing(clock=clock, seed=0), warnings.catch_warnings():
        warnings.simplefilter("error")  # no RunStoppedWarning: it ends as a whole run
        df = await asa_bulk.fetch_products(
            asins(2, 50), keys=KEYS, base_url=sb.base_url, checkpoint=cp, progress=False,
            mode="batch", batch_poll_seconds=60,
        )  # fmt: skip
    assert (df["status"] == "ok").all()
    assert df.attrs["run"]["from_checkpoint"] == 2
    assert clock.now() - 1000 < 600  # not the deadline's day
    assert ledger_rows(cp)[0][0] == "posted"  # still there for a run that wants it


async def test_a_resumed_batch_never_overwrites_a_stored_result_with_a_failure(
    sandbox_factory: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from asa_bulk._checkpoint import SqliteCheckpoint

    sb = await sandbox_factory()
    cp = tmp_path / "cp.sqlite"
    close = BatchLedger.close

    def never_done(self: BatchLedger, entry: Any, state: str) -> None:
        if state != "done":
            close(self, entry, state)  # dies after storing the results, before "done"

    monkeypatch.setattr(BatchLedger, "close", never_done)
    await fetch(sb, asins(5), cp)
    monkeypatch.undo()
    assert ledger_rows(cp)[0][0] == "posted"
    other = await sandbox_factory()  # the batch is gone there: its items end "not found"
    await fetch(other, asins(5, 100), cp, allow_origin_change=True)
    with SqliteCheckpoint(cp) as store:
        assert store.status_counts() == {"ok": 10}


# -- second review: what a lost, 404'd or short-changed batch must never cost -------------------


def lose_the_first_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    """The service creates (and runs, and bills) the first batch, then answers 404 for it."""
    from asa_bulk.sandbox._batches import BatchStore

    first: list[str] = []
    create, get = BatchStore.create, BatchStore.get

    async def recorded(self: BatchStore, *args: Any) -> Any:
        reply = await create(self, *args)
        if not first:
            first.append(list(self._batches)[-1])
        return reply

    def lost(self: BatchStore, batch_id: str, key_id: str, gate: Any) -> Any:
        if first and batch_id == first[0]:
            return self._error(key_id, 404, "not_found", "No batch with that id")
        return get(self, batch_id, key_id, gate)

    monkeypatch.setattr(BatchStore, "create", recorded)
    monkeypatch.setattr(BatchStore, "get", lost)


async def test_a_repeat_of_a_404d_batchs_request_is_not_posted_again(
    sb: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lose_the_first_batch(monkeypatch)
    x = "B000001000"
    items = [x, *asins(1609, 1001), x]  # the repeat comes blocks later, after the 404s
    with set_testing(clock=FakeClock(), seed=0), warnings.catch_warnings():
        warnings.simplefilter("ignore", asa_bulk.RunStoppedWarning)
        async with asa_bulk.Client(
            keys=KEYS, base_url=sb.base_url, checkpoint=tmp_path / "cp.sqlite", progress=False,
            batch_size=10,
        ) as client:  # fmt: skip
            frames = [c async for c in client.iter_products(items, chunk_rows=100, mode="batch")]
    df = pd.concat(frames)
    assert df["error"].iloc[0] == df["error"].iloc[-1] == "batch_not_found"
    assert df["batch_id"].iloc[0] == df["batch_id"].iloc[-1]
    assert not billed_twice(sb)


async def test_a_404d_batch_still_counts_against_the_budget(
    sb: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lose_the_first_batch(monkeypatch)
    with pytest.warns(asa_bulk.RunStoppedWarning):
        await fetch(sb, asins(30, 1000), tmp_path / "cp.sqlite", batch_size=10, max_credits=100)
    assert sb.stats.credits_used <= 100  # the lost batch ran and billed its 50


async def test_results_billed_but_not_returned_still_count_against_the_budget(
    sb: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from asa_bulk.sandbox._batches import Batch

    document = Batch.document

    def half(self: Batch, *, with_results: bool = True) -> dict[str, Any]:
        doc = document(self, with_results=with_results)
        if with_results and self.status == "complete":
            doc["results"] = doc["results"][: len(doc["results"]) // 2]
        return doc

    monkeypatch.setattr(Batch, "document", half)
    with pytest.warns(asa_bulk.RunStoppedWarning, match="budget"):
        df = await fetch(sb, asins(20, 1000), tmp_path / "cp.sqlite", batch_size=10, max_credits=50)
    assert sb.stats.credits_used <= 50
    assert (df["error"] == "batch_result_unmatched").sum() == 5


async def test_an_interrupt_while_the_post_is_on_the_wire_keeps_its_id(
    sb: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from asa_bulk.sandbox._batches import BatchStore

    create = BatchStore.create
    arrived, release = asyncio.Event(), asyncio.Event()

    async def slow(self: BatchStore, request: Any, *args: Any) -> Any:
        await request.read()
        arrived.set()
        await release.wait()  # the service is still creating it when Ctrl-C comes
        return await create(self, request, *args)

    monkeypatch.setattr(BatchStore, "create", slow)
    cp = tmp_path / "cp.sqlite"
    run = asyncio.ensure_future(fetch(sb, asins(20, 1000), cp))
    await arrived.wait()
    run.cancel()
    for _ in range(20):
        await asyncio.sleep(0)  # the cancellation reaches the POST, which waits for its answer
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert ledger_rows(cp)[0][0] == "posted"  # the answer came, and its id was kept
    df = await fetch(sb, asins(20, 1000), cp)
    assert (df["status"] == "ok").all()
    assert sb.stats.batches_created == 1


def test_the_progress_bar_shows_items_processed_across_open_batches() -> None:
    from asa_bulk._progress import ProgressBar, Total

    bar = ProgressBar(enabled=True, total=Total(10), keys=2)
    try:
        bar.batches(3, 10, 1)
        assert "batched=3/10 in 1" in str(bar._bar.postfix)
        bar.batches(0, 0, 0)  # no batch open: the field goes
        assert "batched" not in str(bar._bar.postfix)
    finally:
        bar.close()
