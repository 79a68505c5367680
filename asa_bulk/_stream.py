"""One call of an endpoint method: plan -> runner -> ordered rows -> DataFrame chunks.

A :class:`ResultStream` is what ``Client.iter_products`` returns: an async iterator of
DataFrame chunks in input order. The runner works in a task of its own while the caller reads
chunks; the window of rows not yet read is bounded, so a slow reader pauses the input (and so
the sending) instead of filling memory. Leaving early (``break``, an exception, ``aclose()``)
stops sending and awaits the answers in flight, which are paid for and checkpointed.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
import warnings
from collections.abc import AsyncGenerator, Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

from ._batch_mode import batch_runner
from ._batch_runner import BatchRunner
from ._errors import RunStoppedWarning
from ._ordered import Body, OrderedRows, PlanRow, Slot
from ._plan import Plan, ResultIndex
from ._progress import ProgressBar, Total
from ._records import ResultRecord
from ._runner import Runner
from ._summary import build_summary

if TYPE_CHECKING:
    from ._client import Client


class Endpoint(Protocol):
    """What a stream needs of an endpoint: the form a waiting body takes, and chunks."""

    #: Whether an input row may take several slots (a query's pages), which leave together.
    grouped: bool
    #: What the run summary's counts count: "rows" (a product each) or "pages" (search).
    counts: str

    def compact(self, record: ResultRecord) -> Body | None: ...

    def build_chunk(self, slots: Sequence[Slot], *, raw: bool) -> pd.DataFrame: ...


class ResultStream:
    """DataFrame chunks of one run, in input order; ``summary`` once it is exhausted.

    Each input row is in exactly one chunk; a chunk holds about ``chunk_rows`` rows and its
    index is the rows' 0-based input positions.
    """

    def __init__(
        self,
        client: Client,
        endpoint: Endpoint,
        rows: Iterator[PlanRow],
        *,
        raw: bool,
        chunk_rows: int,
        total: Total,
        stop: asyncio.Event | None,
        spool: bool = True,
        batch_endpoint: str | None = None,
    ) -> None:
        """``batch_endpoint``: send as server-side batches of that endpoint's requests."""
        self._outcome = _Outcome()
        # The generator holds the outcome, never the stream: dropping the stream (a `break`
        # out of `async for`) then finalizes the generator at once, which stops the run.
        self._chunks: AsyncGenerator[pd.DataFrame, None] = _run(
            self._outcome, client, endpoint, rows, raw, chunk_rows, total, stop, spool,
            batch_endpoint,
        )  # fmt: skip

    @property
    def summary(self) -> dict[str, Any] | None:
        """The run summary (what ``df.attrs["run"]`` holds), once every chunk has been read."""
        return self._outcome.summary

    def __aiter__(self) -> ResultStream:
        return self

    async def __aenter__(self) -> ResultStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def __anext__(self) -> pd.DataFrame:
        return await anext(self._chunks)

    async def aclose(self) -> None:
        """Stop sending and await the answers in flight (idempotent)."""
        await self._chunks.aclose()

    def _quiet(self) -> None:
        """Leave the RunStoppedWarning to the caller (``products()`` warns at its caller)."""
        self._outcome.warn = False

    def warn_if_stopped(self, *, stacklevel: int) -> None:
        """A :class:`RunStoppedWarning` when the run stopped before every row finished."""
        self._outcome.warn_if_stopped(stacklevel=stacklevel + 1)


class _Outcome:
    """How a run ended: written by its generator, read through the stream."""

    def __init__(self) -> None:
        self.summary: dict[str, Any] | None = None
        self.stop_reason: str | None = None
        self.stop_message: str | None = None
        self.warn = True

    def warn_if_stopped(self, *, stacklevel: int) -> None:
        if self.stop_reason is None or self.summary is None:
            return
        skipped = self.summary["status_counts"]["skipped"]
        warnings.warn(
            f"the run stopped early: {self.stop_message}; "
            f"{skipped} row(s) are 'skipped' (error={self.stop_reason!r}), finished rows keep "
            "their results",
            RunStoppedWarning,
            stacklevel=stacklevel + 1,
        )


async def _run(
    outcome: _Outcome,
    client: Client,
    endpoint: Endpoint,
    rows: Iterator[PlanRow],
    raw: bool,
    chunk_rows: int,
    total: Total,
    stop: asyncio.Event | None,
    spool: bool,
    batch_endpoint: str | None,
) -> AsyncGenerator[pd.DataFrame, None]:
    started_at = datetime.now(timezone.utc)
    with _Spool.for_run(client._state(), enabled=spool) as index:
        # aclosing: leaving early must stop the run (and await what is in flight) before the
        # spool goes away, not whenever the inner generator happens to be collected.
        async with contextlib.aclosing(
            _chunks(
                outcome,
                client,
                endpoint,
                rows,
                raw,
                chunk_rows,
                total,
                stop,
                index,
                started_at,
                batch_endpoint,
            )
        ) as chunks:
            async for chunk in chunks:
                yield chunk
                del chunk  # not held while the next is built (see _chunks)


async def _chunks(
    outcome: _Outcome,
    client: Client,
    endpoint: Endpoint,
    rows: Iterator[PlanRow],
    raw: bool,
    chunk_rows: int,
    total: Total,
    stop: asyncio.Event | None,
    index: ResultIndex,
    started_at: datetime,
    batch_endpoint: str | None,
) -> AsyncGenerator[pd.DataFrame, None]:
    state = client._state()
    if client._running:
        raise RuntimeError(
            "this Client is already running a call (a stream not read to the end, or a "
            "products() call in progress): one call at a time per client, so that they share "
            "its budget and keys safely. Await the other first, or use a second Client"
        )
    started = time.perf_counter()
    ordered = OrderedRows(chunk_rows=chunk_rows, grouped=endpoint.grouped)
    bar = ProgressBar(enabled=client.progress, total=total, keys=len(state.pool.slots))
    bar.attach(state.pool)
    plan = Plan(
        rows,
        ordered=ordered,
        compact=endpoint.compact,
        index=index,
        run=index.begin_run(),
        window=window_rows(chunk_rows),
        servable=state.servable,
        on_progress=bar.advance,
        index_has_bodies=getattr(index, "has_bodies", True),
    )
    runner: Runner | BatchRunner
    if batch_endpoint is None:
        runner = state.runner(plan.record)
    else:
        runner = batch_runner(state, plan.record, batch_endpoint, bar.batches)
    task = asyncio.ensure_future(_drive(runner, plan, ordered))
    client._running.add(task)
    watcher = _watch(stop, runner) if stop is not None else None
    try:
        while True:
            if task.cancelled():  # not by us: the client was closed under this reader
                raise RuntimeError(
                    f"the Client was closed while this stream was being read; "
                    f"{plan.rows - ordered.backlog} row(s) were read, the rest is not available"
                )
            if task.done() and task.exception() is not None:
                break  # raised below
            if ordered.ready.is_set():
                slots = ordered.take()
                if slots:
                    runner.wake()  # the window has room again
                    chunk, slots = endpoint.build_chunk(slots, raw=raw), []
                    yield chunk
                    # Not held while the next is built: a reader done with it frees it.
                    del chunk
                    continue
                if ordered.closed:
                    break
            await _first(ordered.ready, task)
        await task  # its error, if it failed
        lost = ordered.unfinished()
        if lost:
            raise RuntimeError(
                f"bug: {len(lost)} input row(s) got no result (first: row "
                f"{lost[0].row.index + 1}); every row must have one"
            )
    except asyncio.CancelledError:
        await _cancel(task)
        raise
    finally:
        if not task.done():  # the caller stopped reading: stop buying
            runner.request_stop(
                "interrupted", "the caller stopped reading the results", skip_rest=False
            )
            await _cancel(task, gently=True)
        if watcher is not None:
            watcher.cancel()
        client._running.discard(task)
        bar.close()
    outcome.stop_reason, outcome.stop_message = runner.stop_reason, runner.stop_message
    outcome.summary = build_summary(
        status_counts=plan.status_counts,
        unique_requests=plan.unique,
        duplicates=plan.duplicates,
        from_checkpoint=plan.from_checkpoint,
        counters=runner.counters,
        pool=state.pool,
        stop_reason=runner.stop_reason,
        stop_message=runner.stop_message,
        started_at=started_at,
        wall_seconds=time.perf_counter() - started,
        base_url=client.settings.base_url,
        counts=endpoint.counts,
    )
    if isinstance(runner, BatchRunner):
        outcome.summary["batches"] = runner.batches
    if outcome.warn:
        outcome.warn_if_stopped(stacklevel=4)  # _chunks, _run, __anext__, the `async for`


def window_rows(chunk_rows: int) -> int:
    """Rows read and not yet handed out, at most: a chunk, plus room for the lookups to go on
    behind a slow row at its head (a quarter chunk, at least a thousand rows)."""
    return chunk_rows + max(1024, chunk_rows // 4)


class _Spool:
    """Where a stream without a checkpoint keeps this run's results for its duplicate rows.

    Kept in memory, they would grow with the rows; a stream promises flat memory, so they go
    to a temporary checkpoint file, removed at the end. ``products()`` keeps them in memory:
    once its chunk is built, a body is the frame's own objects (see
    :class:`~asa_bulk._ordered.Body`), and spooling costs ~150 µs a row (encoding, a commit).
    """

    def __init__(self, index: ResultIndex, folder: tempfile.TemporaryDirectory[str] | None):
        self.index = index
        self._folder = folder

    @classmethod
    def for_run(cls, state: Any, *, enabled: bool) -> _Spool:
        if state.store is not None or not enabled:
            return cls(state.index, None)
        from ._checkpoint import SqliteCheckpoint

        folder = tempfile.TemporaryDirectory(prefix="asa-bulk-spool-")
        return cls(SqliteCheckpoint(Path(folder.name) / "spool.sqlite"), folder)

    def __enter__(self) -> ResultIndex:
        return self.index

    def __exit__(self, *exc: object) -> None:
        if self._folder is not None:
            self.index.close()  # type: ignore[attr-defined]
            self._folder.cleanup()


async def _drive(runner: Runner | BatchRunner, plan: Plan, ordered: OrderedRows) -> None:
    try:
        await runner.run(plan.requests())
    finally:
        ordered.close()


async def _first(event: asyncio.Event, task: asyncio.Future[None]) -> None:
    """Wait until ``event`` is set or ``task`` is done."""
    waiter: asyncio.Future[Any] = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()


async def _cancel(task: asyncio.Future[None], *, gently: bool = False) -> None:
    """End the run's task: ``gently`` lets it finish the answers in flight (after a stop was
    requested); otherwise it is cancelled, which still drains them when it has a checkpoint.
    A cancellation of the caller meanwhile abandons them."""
    if not gently:
        task.cancel()
    try:
        await asyncio.wait({task})
    except asyncio.CancelledError:
        task.cancel()
        raise
    if gently and not task.cancelled() and task.exception() is not None:
        task.exception()  # retrieved: the caller's own exception is the one that matters


def _watch(stop: asyncio.Event, runner: Runner | BatchRunner) -> asyncio.Task[None]:
    if stop.is_set():  # already set: not even the first request goes out
        runner.request_stop("interrupted")

    async def watch() -> None:
        await stop.wait()
        runner.request_stop("interrupted")

    return asyncio.ensure_future(watch())
