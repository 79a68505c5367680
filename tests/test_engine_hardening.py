"""The engine under hostile conditions: long Retry-After, dead endpoints, stops, broken stores."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

import asa_bulk
from asa_bulk._checkpoint import SqliteCheckpoint
from asa_bulk._records import ResultRecord
from asa_bulk.sandbox import make_test_keys, serve_in_thread
from tests.support.fakeapi import Call, FakeApi, Reply, error, ok
from tests.support.fakeapi import fetch as fake_fetch

KEY = "asa_live_AAAAAAAAAAAAsecretAsecre"
ASINS = [f"B0{n:08d}" for n in range(1, 101)]


async def fetch(api: FakeApi, items: Any, **options: Any) -> Any:
    options.setdefault("keys", [KEY])
    options.setdefault("retry_delay_scale", 1.0)
    return await fake_fetch(api, items, **options)


# -- deadlines and Retry-After ---------------------------------------------------------------


@pytest.mark.parametrize(
    "retry_after",
    ["3600", "inf", "nan", "-5", "1e400", "soon"],
)
async def test_no_retry_after_makes_an_item_outlive_its_deadline(
    api: FakeApi, retry_after: str
) -> None:
    api.script = lambda call: error(429, "rate_limited", **{"Retry-After": retry_after})
    start = api.clock.now()
    df = await fetch(api, ["B000000001"], max_item_seconds=600)
    assert df.loc[0, "status"] == "failed"
    assert max(api.clock.sleeps) <= 300.0 * 1.01, "no single wait past max_wait (300 s)"
    # The run's length is bounded by the item's deadline plus one capped wait, never an hour.
    assert api.clock.now() - start <= 600 + 300


async def test_a_throttle_past_the_deadline_fails_at_once_and_says_why(api: FakeApi) -> None:
    api.script = lambda call: error(429, "rate_limited", **{"Retry-After": "3600"})
    start = api.clock.now()
    df = await fetch(api, ["B000000001"], max_item_seconds=100)
    assert df.loc[0, "status"] == "failed"
    assert df.loc[0, "error"] == "deadline_exceeded"
    assert "max_item_seconds=100" in df.loc[0, "error_message"]
    assert "rate_limited" in df.loc[0, "error_message"]
    assert len(api.calls) == 1, "not sent again: no key can send before the deadline"
    assert api.clock.now() - start < 1.0, "failed when it became certain, not after waiting"


async def test_retry_after_as_an_http_date_is_honoured_and_capped(api: FakeApi) -> None:
    later = format_datetime(datetime.now(timezone.utc) + timedelta(hours=1), usegmt=True)
    soon = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=20), usegmt=True)
    answers = iter(
        [
            error(429, "rate_limited", **{"Retry-After": later}),
            error(429, "rate_limited", **{"Retry-After": soon}),
        ]
    )
    api.script = lambda call: next(answers, None) or ok(call)
    df = await fetch(api, ["B000000001"], max_wait=30)
    assert df.loc[0, "status"] == "ok"
    gaps = [b.time - a.time for a, b in zip(api.calls, api.calls[1:], strict=False)]
    assert 29 <= gaps[0] <= 31, "an hour-long HTTP-date is cut to max_wait"
    assert 15 <= gaps[1] <= 22, "a near HTTP-date is waited for"


async def test_waiting_items_fail_on_time_while_every_key_is_paused(api: FakeApi) -> None:
    # The first answer pauses the only key for 250 s; the other items wait for it, and must
    # fail when their own 100 s run out even though they were never throttled themselves.
    first = {"done": False}

    def script(call: Call) -> Reply:
        if not first["done"]:
            first["done"] = True
            return error(429, "rate_limited", **{"Retry-After": "250"})
        return error(500, "internal_error")

    api.script = script
    df = await fetch(api, ASINS[:5], max_item_seconds=100, concurrency=5, rps=100, max_attempts=10)
    assert set(df["status"]) == {"failed"}
    assert set(df["error"]) == {"deadline_exceeded"}
    assert api.clock.now() - 1000.0 <= 100 + 1


# -- circuit breaker -------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens once the socket is closed


async def test_a_dead_endpoint_stops_the_run_instead_of_failing_every_row() -> None:
    base = f"http://127.0.0.1:{_closed_port()}"
    with pytest.warns(asa_bulk.RunStoppedWarning, match=base.replace(".", r"\.")):
        df = await asa_bulk.fetch_products(
            ASINS,
            keys=[KEY],
            base_url=base,
            progress=False,
            retry_delay_scale=0,
            concurrency=2,
            rps=1000,
        )
    run = df.attrs["run"]
    assert run["stopped"] == "service_unreachable"
    assert base in run["stop_message"]
    assert run["requests_sent"] <= 25, "stopped after about 20 requests, not 100 rows x 4"
    assert (df["status"] == "skipped").sum() >= 90
    assert set(df.loc[df["status"] == "skipped", "error"]) == {"service_unreachable"}


async def test_a_wrong_path_is_not_a_missing_product(api: FakeApi) -> None:
    api.script = lambda call: Reply(404, body="<html>Not Found</html>")
    with pytest.warns(asa_bulk.RunStoppedWarning, match="got no answer from the Amazon"):
        df = await fetch(api, ASINS, concurrency=1)
    assert "not_found" not in set(df["status"]), "a bare 404 is not a product_not_found"
    assert len(api.calls) == 20
    failed = df[df["status"] == "failed"]
    assert set(failed["error"]) == {"http_404"}
    assert df.attrs["run"]["stopped"] == "service_unreachable"


async def test_a_few_bad_answers_among_good_ones_do_not_trip_the_breaker(api: FakeApi) -> None:
    api.script = lambda call: (
        Reply(502, body="<html>Bad Gateway</html>") if call.number == 1 else ok(call)
    )
    df = await fetch(api, ASINS, concurrency=4, retry_delay_scale=0)
    assert set(df["status"]) == {"ok"}
    assert df.attrs["run"]["stopped"] is None


# -- stopping --------------------------------------------------------------------------------


async def test_the_stop_event_sends_nothing_more_and_keeps_the_answers_in_flight(
    api: FakeApi, tmp_path: Path
) -> None:
    stop = asyncio.Event()

    def script(call: Call) -> Reply:
        if len(api.calls) >= 10:
            stop.set()
        return ok(call)

    api.script = script
    with pytest.warns(asa_bulk.RunStoppedWarning, match="interrupted"):
        df = await fetch(
            api, ASINS, stop=stop, concurrency=4, rps=1000, checkpoint=tmp_path / "c.ckpt"
        )
    sent = len(api.calls)
    assert 10 <= sent <= 14, "at most the requests in flight when it was set"
    assert (df["status"] == "ok").sum() == sent, "every answer that came back is in the frame"
    assert set(df.loc[df["status"] != "ok", "error"]) == {"interrupted"}
    with SqliteCheckpoint(tmp_path / "c.ckpt") as store:
        assert store.status_counts()["ok"] == sent


async def test_cancelling_with_a_checkpoint_records_the_answers_in_flight(
    api: FakeApi, tmp_path: Path
) -> None:
    answered = 0
    task: asyncio.Task[Any] | None = None

    def script(call: Call) -> Reply:
        nonlocal answered
        answered += 1
        if answered == 10 and task is not None:
            task.cancel()  # the requests still in flight must still reach the checkpoint
        return ok(call)

    api.script = script
    task = asyncio.ensure_future(
        fetch(api, ASINS, concurrency=6, rps=1000, checkpoint=tmp_path / "c.ckpt")
    )
    with pytest.raises(asyncio.CancelledError):
        await task
    assert answered > 10, "requests were in flight at the cancellation"
    with SqliteCheckpoint(tmp_path / "c.ckpt") as store:
        assert store.status_counts()["ok"] == answered


def test_interrupting_the_sync_form_keeps_what_was_paid_for(tmp_path: Path) -> None:
    """A notebook's interrupt (KeyboardInterrupt in the waiting thread) drains into the
    checkpoint, and the user sees KeyboardInterrupt."""
    import signal

    with serve_in_thread(fixed_latency=0.05, concurrency=200, rps=1000.0, burst_rps=1000.0) as sb:
        main = threading.main_thread().ident
        assert main is not None

        def interrupt_soon() -> None:
            while sb.stats.billed_total < 5:
                threading.Event().wait(0.005)
            signal.pthread_kill(main, signal.SIGINT)

        async def in_a_notebook() -> None:  # a running loop: the sync form uses a worker
            asa_bulk.fetch_products_sync(
                [f"B0NOTE{n:04d}" for n in range(200)],
                keys=make_test_keys(1),
                base_url=sb.base_url,
                progress=False,
                concurrency=4,
                checkpoint=tmp_path / "nb.ckpt",
            )

        threading.Thread(target=interrupt_soon, daemon=True).start()
        # Like ipykernel (and unlike asyncio.run), the loop leaves SIGINT's default handler, so
        # the interrupt is a KeyboardInterrupt in the thread waiting for the worker.
        loop = asyncio.new_event_loop()
        try:
            with pytest.raises(KeyboardInterrupt):
                loop.run_until_complete(in_a_notebook())
        finally:
            loop.close()
        billed = sb.stats.billed_total
    with SqliteCheckpoint(tmp_path / "nb.ckpt") as store:
        assert store.status_counts()["ok"] == billed
    assert billed < 200


# -- checkpoints: origin and failures --------------------------------------------------------


def test_a_checkpoint_is_tied_to_the_service_it_was_filled_from(tmp_path: Path) -> None:
    keys = make_test_keys(1)
    ckpt = tmp_path / "run.ckpt"
    with serve_in_thread(fixed_latency=0.0) as first, serve_in_thread(fixed_latency=0.0) as other:
        asa_bulk.fetch_products_sync(
            ASINS[:5], keys=keys, base_url=first.base_url, progress=False, checkpoint=ckpt
        )
        with pytest.raises(asa_bulk.ConfigError, match="holds results from"):
            asa_bulk.fetch_products_sync(
                ASINS[:5], keys=keys, base_url=other.base_url, progress=False, checkpoint=ckpt
            )
        assert other.stats.requests == 0, "refused before anything was sent"
        df = asa_bulk.fetch_products_sync(
            ASINS[:5],
            keys=keys,
            base_url=other.base_url,
            progress=False,
            checkpoint=ckpt,
            allow_origin_change=True,
        )
        assert df.attrs["run"]["from_checkpoint"] == 5
        assert other.stats.requests == 0


def test_sandbox_rows_are_never_served_to_live_keys(tmp_path: Path) -> None:
    ckpt = tmp_path / "run.ckpt"
    live = "asa_live_" + "L" * 24
    with serve_in_thread(fixed_latency=0.0, keys=[*make_test_keys(1), live]) as sb:
        asa_bulk.fetch_products_sync(
            ASINS[:5], keys=make_test_keys(1), base_url=sb.base_url, progress=False, checkpoint=ckpt
        )
        before = sb.stats.billed_total
        df = asa_bulk.fetch_products_sync(
            ASINS[:5], keys=[live], base_url=sb.base_url, progress=False, checkpoint=ckpt
        )
        assert df.attrs["run"]["from_checkpoint"] == 0
        assert sb.stats.billed_total == before + 5, "fetched again with the live key"
    assert set(df["key_id"]) == {live[:21]}


class FillingUpStore:
    """A store whose disk fills up after ``room`` records."""

    def __init__(self, room: int) -> None:
        self.room = room
        self.kept: list[ResultRecord] = []

    def load(self) -> Iterator[ResultRecord]:
        return iter(())

    def record(self, record: ResultRecord) -> None:
        if len(self.kept) >= self.room:
            raise OSError(28, "No space left on device")
        self.kept.append(record)

    def close(self) -> None:
        pass


async def test_a_failing_checkpoint_stops_buying_but_loses_nothing(api: FakeApi) -> None:
    store = FillingUpStore(room=10)
    with pytest.warns(asa_bulk.RunStoppedWarning, match="No space left on device"):
        df = await fetch(api, ASINS, checkpoint=store, concurrency=4, rps=1000)
    sent = len(api.calls)
    assert sent <= 10 + 4, "nothing new was sent once the checkpoint failed"
    assert (df["status"] == "ok").sum() == sent, "every paid answer is still in the frame"
    assert set(df.loc[df["status"] != "ok", "error"]) == {"checkpoint_failed"}
    assert df.attrs["run"]["stopped"] == "checkpoint_failed"


# -- billed but unusable answers; skipped rows ----------------------------------------------


async def test_a_billed_unusable_answer_counts_against_the_budget_and_is_final(
    api: FakeApi, tmp_path: Path
) -> None:
    api.script = lambda call: ok(call) if call.asin[-1] in "02468" else Reply(200, body="[]")
    ckpt = tmp_path / "c.ckpt"
    with pytest.warns(asa_bulk.RunStoppedWarning, match="max_credits"):
        df = await fetch(api, ASINS, max_credits=50, checkpoint=ckpt, concurrency=1)
    assert len(api.calls) <= 10, "every 2xx is billed, a body of [] too: 10 x 5 credits"
    assert df.attrs["run"]["billed_requests"] == len(api.calls)
    unusable = set(df.loc[df["error"] == "invalid_response", "asin"])
    assert unusable
    api.calls.clear()
    again = await fetch(api, ASINS[:10], checkpoint=ckpt, concurrency=1)
    assert not {call.asin for call in api.calls} & unusable, "not bought a second time"
    assert set(again.loc[again["asin"].isin(unusable), "error"]) == {"invalid_response"}


async def test_skipped_rows_are_not_written_to_the_checkpoint(api: FakeApi, tmp_path: Path) -> None:
    stop = asyncio.Event()
    stop.set()  # stopped before the first request: every row is skipped
    with pytest.warns(asa_bulk.RunStoppedWarning):
        df = await fetch(api, ASINS, stop=stop, checkpoint=tmp_path / "c.ckpt")
    assert set(df["status"]) == {"skipped"}
    with SqliteCheckpoint(tmp_path / "c.ckpt") as store:
        assert len(store) == 0, "a million rows left must not cost a million commits"


async def test_a_header_cannot_slow_a_key_to_a_crawl(api: FakeApi) -> None:
    api.script = lambda call: Reply(200, {"asin": call.asin}, headers={"Asa-Rps": "1/0.001"})
    df = await fetch(api, ASINS[:5], concurrency=1)
    assert set(df["status"]) == {"ok"}
    gaps = [b.time - a.time for a, b in zip(api.calls, api.calls[1:], strict=False)]
    assert max(gaps) <= 10.5, "at least one request every 10 s, whatever Asa-Rps says"


def test_the_sync_form_in_a_notebook_raises_the_runs_own_error() -> None:
    async def in_a_notebook() -> None:
        asa_bulk.fetch_products_sync(["B000000001"], keys=["not-a-key"], progress=False)

    with pytest.raises(asa_bulk.ConfigError, match="key 1 of 1"):
        asyncio.run(in_a_notebook())
