"""asa_bulk.Client: one configuration shared by its calls, and results that stream."""

from __future__ import annotations

import asyncio
import inspect
import warnings
import weakref
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import cast

import pandas as pd
import pytest

import asa_bulk
from asa_bulk._ordered import Slot
from asa_bulk._stream import window_rows
from asa_bulk.testing import FakeClock, is_testing, set_testing
from tests.support.fakeapi import BASE, Call, FakeApi, Reply, error, ok
from tests.support.records import ListStore

KEY_A = "asa_live_AAAAAAAAAAAAsecretAsecre"
KEY_B = "asa_live_BBBBBBBBBBBBsecretBsecre"
ASINS = [f"B{n:09d}" for n in range(25)]


@pytest.fixture
async def client(api: FakeApi) -> AsyncIterator[asa_bulk.Client]:
    with set_testing(clock=api.clock, seed=0):
        async with asa_bulk.Client(
            keys=[KEY_A, KEY_B], base_url=BASE, progress=False, env_file=None
        ) as opened:
            yield opened


async def test_iter_products_gives_every_row_once_in_input_order(
    api: FakeApi, client: asa_bulk.Client
) -> None:
    api.script = lambda call: (
        ok(call) if call.asin != "B000000003" else error(404, "product_not_found")
    )
    items = [*ASINS, "junk", ASINS[0]]
    chunks = [chunk async for chunk in client.iter_products(items, chunk_rows=4)]
    assert all(len(chunk) <= 4 for chunk in chunks)
    assert len(chunks) >= 7
    frame = pd.concat(chunks)
    assert list(frame.index) == list(range(len(items)))  # each row once, in order
    assert list(frame["input"]) == items
    assert frame.loc[3, "status"] == "not_found"
    assert frame.loc[25, "status"] == "invalid"
    # ignore[operator]: pandas-stubs types a cell as a union holding NA, whose == takes no NA
    assert frame.loc[26, "title"] == frame.loc[0, "title"] == f"Product {ASINS[0]}"  # type: ignore[operator]
    assert len(api.calls) == len(ASINS)  # the duplicate was not sent again
    whole = await client.products(items)  # the same columns and values as the whole frame
    assert list(whole.columns) == list(frame.columns)
    assert (whole.dtypes == frame.dtypes).all()
    same = ["asin", "status", "error", "input", "title", "price"]
    assert whole[same].equals(frame[same])


async def test_the_stream_has_its_summary_once_exhausted(client: asa_bulk.Client) -> None:
    stream = client.iter_products(ASINS[:5])
    assert cast(object, stream.summary) is None  # cast: else mypy narrows it past the loop
    async for _ in stream:
        pass
    assert stream.summary is not None
    assert stream.summary["status_counts"]["ok"] == 5
    assert stream.summary["requests_sent"] == 5


async def test_calls_on_one_client_share_the_budget(api: FakeApi, client: asa_bulk.Client) -> None:
    with set_testing(clock=api.clock, seed=0):
        async with asa_bulk.Client(
            keys=[KEY_A], base_url=BASE, progress=False, env_file=None, max_credits=25
        ) as budgeted:
            first = await budgeted.products(ASINS[:3])  # 15 credits
            with pytest.warns(asa_bulk.RunStoppedWarning, match="max_credits"):
                second = await budgeted.products(ASINS[3:8])  # 10 left: two more
    assert first.attrs["run"]["credits"] == 15
    assert second.attrs["run"]["credits"] == 10
    assert list(second["status"]) == ["ok", "ok", "skipped", "skipped", "skipped"]


async def test_calls_on_one_client_share_retired_keys(
    api: FakeApi, client: asa_bulk.Client
) -> None:
    api.script = lambda call: error(401, "revoked") if call.key == KEY_B else ok(call)
    await client.products(ASINS[:10])
    used_before = len(api.calls)
    frame = await client.products(ASINS[10:20])
    later = api.calls[used_before:]
    assert {call.key for call in later} == {KEY_A}  # the revoked key is not tried again
    assert set(frame["status"]) == {"ok"}


async def test_leaving_the_stream_early_stops_sending(api: FakeApi, tmp_path: Path) -> None:
    items = [f"B{n:09d}" for n in range(2000)]
    with set_testing(clock=api.clock, seed=0):
        async with asa_bulk.Client(
            keys=[KEY_A], base_url=BASE, progress=False, env_file=None,
            checkpoint=tmp_path / "ck.sqlite", concurrency=5, rps=10_000,
        ) as client:  # fmt: skip
            stream = client.iter_products(items, chunk_rows=10)
            async for _ in stream:
                break
            await stream.aclose()
            sent = len(api.calls)
            await asyncio.sleep(0)
            assert len(api.calls) == sent  # nothing more goes out
    assert sent < len(items)
    with asa_bulk.SqliteCheckpoint(tmp_path / "ck.sqlite") as store:
        assert len(store) == sent  # every answer paid for is kept


async def test_a_client_must_be_open_and_opened_once(api: FakeApi) -> None:
    client = asa_bulk.Client(keys=[KEY_A], base_url=BASE, env_file=None)
    with pytest.raises(RuntimeError, match="async with"):
        await client.products(ASINS[:1])
    async with client:
        with pytest.raises(RuntimeError, match="already open"):
            await client.__aenter__()
    await client.aclose()  # idempotent


def test_settings_and_keys_are_checked_when_the_client_is_made() -> None:
    with pytest.raises(asa_bulk.ConfigError, match="timeout"):
        asa_bulk.Client(keys=[KEY_A], timeout=float("nan"), env_file=None)
    with pytest.raises(asa_bulk.NoKeysError):
        asa_bulk.Client(env_file=None)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, float("inf")])
async def test_chunk_rows_must_be_a_positive_whole_number(
    client: asa_bulk.Client, bad: object
) -> None:
    with pytest.raises(asa_bulk.ConfigError, match="chunk_rows"):
        client.iter_products(ASINS, chunk_rows=bad)  # type: ignore[arg-type]


def test_the_client_repr_shows_key_ids_only() -> None:
    client = asa_bulk.Client(keys=[KEY_A], env_file=None)
    assert "secret" not in repr(client)
    assert "asa_live_AAAAAAAAAAAA" in repr(client)


def test_the_sync_form_has_the_very_signature_of_the_async_one() -> None:
    assert inspect.signature(asa_bulk.fetch_products_sync) == inspect.signature(
        asa_bulk.fetch_products
    )
    assert asa_bulk.fetch_products_sync.__name__ == "fetch_products_sync"
    assert "Blocking" in (asa_bulk.fetch_products_sync.__doc__ or "")


def test_set_testing_is_a_context_manager_and_a_call() -> None:
    clock = FakeClock()
    assert not is_testing()
    with set_testing(clock=clock, seed=1) as state:
        assert state is not None
        assert state.clock is clock
        assert is_testing()
    assert not is_testing()
    set_testing(seed=2)
    try:
        assert is_testing()
    finally:
        set_testing(False)
    assert not is_testing()


async def test_a_slow_reader_pauses_the_lookups(api: FakeApi, client: asa_bulk.Client) -> None:
    items = [f"B{n:09d}" for n in range(5000)]
    stream = client.iter_products(items, chunk_rows=100)
    first = await anext(stream)
    for _ in range(50):
        await asyncio.sleep(0)
    sent_while_not_reading = len(api.calls)
    # The window fills, then nothing more is read or sent.
    assert len(first) == 100
    assert sent_while_not_reading < window_rows(100) + 512 + 20
    rest = [chunk async for chunk in stream]
    assert sum(map(len, rest)) + len(first) == len(items)


def replies(statuses: Iterator[int]) -> object:
    def script(call: Call) -> Reply:
        return ok(call) if next(statuses) == 200 else error(500, "internal_error")

    return script


async def test_fetch_products_still_warns_at_the_callers_line(api: FakeApi) -> None:
    from tests.support.fakeapi import fetch

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        await fetch(api, ASINS[:3], keys=[KEY_A], max_credits=5)
    (warning,) = [w for w in caught if issubclass(w.category, asa_bulk.RunStoppedWarning)]
    assert Path(warning.filename).name == "fakeapi.py"  # the line that called fetch_products


async def test_breaking_out_of_the_loop_stops_sending_without_aclose(
    api: FakeApi, client: asa_bulk.Client
) -> None:
    items = [f"B{n:09d}" for n in range(3000)]
    async for _ in client.iter_products(items, chunk_rows=10):
        break  # the stream is dropped here; its generator is finalized, which stops the run
    for _ in range(20):
        await asyncio.sleep(0)
    sent = len(api.calls)
    for _ in range(200):
        await asyncio.sleep(0)
    assert len(api.calls) == sent < len(items)
    assert not client._running  # nothing left running on the client


async def test_closing_the_client_stops_a_stream_still_running(api: FakeApi) -> None:
    items = [f"B{n:09d}" for n in range(3000)]
    with set_testing(clock=api.clock, seed=0):
        async with asa_bulk.Client(
            keys=[KEY_A], base_url=BASE, progress=False, env_file=None
        ) as client:
            stream = client.iter_products(items, chunk_rows=10)
            await anext(stream)
    sent = len(api.calls)
    for _ in range(100):
        await asyncio.sleep(0)
    assert len(api.calls) == sent < len(items)


async def test_a_stream_that_stops_early_warns_at_the_readers_loop(api: FakeApi) -> None:
    with set_testing(clock=api.clock, seed=0):
        async with asa_bulk.Client(
            keys=[KEY_A], base_url=BASE, progress=False, env_file=None, max_credits=5
        ) as client:
            with pytest.warns(asa_bulk.RunStoppedWarning) as caught:
                async for _ in client.iter_products(ASINS[:3]):
                    pass
    assert Path(caught[0].filename).name == "test_client.py"


async def test_leaving_early_does_not_read_the_rest_of_the_input(
    api: FakeApi, client: asa_bulk.Client
) -> None:
    read = 0

    def items() -> Iterator[str]:
        nonlocal read
        for n in range(100_000):
            read += 1
            yield f"B{n:09d}"

    stream = client.iter_products(items(), chunk_rows=10)
    await anext(stream)
    await stream.aclose()
    assert read < 5_000  # not a skipped row built for each of the 100,000


async def test_rows_skipped_after_a_stop_still_wait_for_a_slow_reader(
    api: FakeApi, client: asa_bulk.Client
) -> None:
    read = 0

    def items() -> Iterator[str]:
        nonlocal read
        for n in range(50_000):
            read += 1
            yield f"B{n:09d}"

    stop = asyncio.Event()
    stop.set()  # nothing is sent: every row is skipped
    stream = client.iter_products(items(), chunk_rows=100, stop=stop)
    first = await anext(stream)
    for _ in range(200):
        await asyncio.sleep(0)
    # Read only as fast as chunks are taken, stop or no stop: a window, a block and a margin.
    assert read <= 100 + window_rows(100) + 512 + 1000
    assert set(first["status"]) == {"skipped"}
    with pytest.warns(asa_bulk.RunStoppedWarning, match="interrupted"):
        rows = len(first) + sum([len(chunk) async for chunk in stream])
    assert rows == read == 50_000
    assert len(api.calls) == 0


async def test_a_stream_without_checkpoint_spools_duplicates_to_a_temporary_file(
    api: FakeApi, client: asa_bulk.Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    from asa_bulk._plan import BLOCK_ROWS

    items = [f"B{n:09d}" for n in range(3 * BLOCK_ROWS)]
    items += items[:5]  # duplicates blocks later: their results come back from the spool

    def spools() -> list[Path]:
        return list(tmp_path.glob("asa-bulk-spool-*/spool.sqlite"))

    seen_spool: list[Path] = []
    stream = client.iter_products(items, chunk_rows=500)
    async for _ in stream:
        seen_spool += spools()
    assert seen_spool  # this run's results were spooled to disk, not kept in memory...
    assert not spools()  # ...and the spool is gone
    assert len(api.calls) == 3 * BLOCK_ROWS  # no duplicate was sent again
    assert stream.summary is not None
    assert stream.summary["duplicates"] == 5


async def test_leaving_a_spooled_stream_early_stops_the_run_before_the_spool_goes(
    api: FakeApi, client: asa_bulk.Client
) -> None:
    items = [f"B{n:09d}" for n in range(3000)]
    stream = client.iter_products(items, chunk_rows=10)
    await anext(stream)
    await stream.aclose()  # no checkpoint: the run wrote to a spool, now removed
    assert not client._running  # the run had ended before that
    sent = len(api.calls)
    for _ in range(50):
        await asyncio.sleep(0)
    assert len(api.calls) == sent


async def test_leaving_a_stream_that_already_stopped_does_not_hang(
    api: FakeApi, client: asa_bulk.Client
) -> None:
    with set_testing(clock=api.clock, seed=0):
        async with asa_bulk.Client(
            keys=[KEY_A], base_url=BASE, progress=False, env_file=None, max_credits=10
        ) as budgeted:
            stream = budgeted.iter_products([f"B{n:09d}" for n in range(50_000)], chunk_rows=10)
            await anext(stream)  # two products, then budget_exhausted: the rest is being skipped
            await asyncio.wait_for(stream.aclose(), timeout=5)  # a hang fails here
    assert len(api.calls) == 2


async def test_an_input_that_fails_midway_loses_no_answer_already_paid_for(
    api: FakeApi, tmp_path: Path
) -> None:
    def items() -> Iterator[str]:
        for n in range(2000):
            if n == 1500:
                raise OSError("the database cursor died")
            yield f"B{n:09d}"

    with set_testing(clock=api.clock, seed=0):
        async with asa_bulk.Client(
            keys=[KEY_A], base_url=BASE, progress=False, env_file=None,
            checkpoint=tmp_path / "ck.sqlite", concurrency=20, rps=10_000,
        ) as client:  # fmt: skip
            with pytest.raises(OSError, match="cursor died"):
                await client.products(items())
    with asa_bulk.SqliteCheckpoint(tmp_path / "ck.sqlite") as store:
        assert len(store) == len(api.calls) > 0  # every answer sent was recorded


async def test_one_call_at_a_time_per_client(api: FakeApi, client: asa_bulk.Client) -> None:
    first = client.iter_products(ASINS, chunk_rows=5)
    await anext(first)
    with pytest.raises(RuntimeError, match="one call at a time"):
        await client.products(ASINS[:2])
    await first.aclose()
    assert len(await client.products(ASINS[:2])) == 2  # once the first is done, fine


async def test_a_store_of_your_own_answers_a_later_call_on_the_same_client(
    api: FakeApi,
) -> None:
    store = ListStore([])
    with set_testing(clock=api.clock, seed=0):
        async with asa_bulk.Client(
            keys=[KEY_A], base_url=BASE, progress=False, env_file=None, checkpoint=store
        ) as client:
            first = await client.products(ASINS[:5])
            second = await client.products(ASINS[:5])
            third = await client.products(ASINS[:5])
    assert len(api.calls) == 5  # the later calls were answered from the store
    assert list(third["title"]) == list(second["title"]) == list(first["title"])
    assert second.attrs["run"]["from_checkpoint"] == 5


async def test_closing_the_client_under_a_reader_is_an_error_not_a_short_result(
    api: FakeApi, client: asa_bulk.Client
) -> None:
    stream = client.iter_products([f"B{n:09d}" for n in range(3000)], chunk_rows=10)
    await anext(stream)
    await client.aclose()
    with pytest.raises(RuntimeError, match="closed while this stream was being read"):
        async for _ in stream:
            pass


async def test_a_stream_is_a_context_manager_that_stops_on_exit(
    api: FakeApi, client: asa_bulk.Client
) -> None:
    async with client.iter_products([f"B{n:09d}" for n in range(3000)], chunk_rows=10) as stream:
        async for _ in stream:
            break
    sent = len(api.calls)
    for _ in range(100):
        await asyncio.sleep(0)
    assert len(api.calls) == sent < 3000


async def test_a_chunk_the_reader_let_go_is_freed_before_the_next_is_built(
    client: asa_bulk.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The stream keeps no reference to a chunk it handed out (nor to its rows' slots), so a
    # reader that writes each chunk away holds one chunk at a time, not two.
    from asa_bulk._products import ProductEndpoint

    held: list[weakref.ref[pd.DataFrame]] = []
    alive_at_build: list[bool] = []
    build = ProductEndpoint.build_chunk

    def watched(self: ProductEndpoint, slots: Sequence[Slot], *, raw: bool) -> pd.DataFrame:
        alive_at_build.append(any(ref() is not None for ref in held))
        return build(self, slots, raw=raw)

    monkeypatch.setattr(ProductEndpoint, "build_chunk", watched)
    stream = client.iter_products(ASINS, chunk_rows=10)
    for _ in range(3):
        chunk = await anext(stream)
        held.append(weakref.ref(chunk))
        del chunk
    await stream.aclose()
    assert alive_at_build == [False, False, False]
