"""One call of an endpoint method: plan -> runner -> ordered rows -> DataFrame chunks.

A :class:`ResultStream` is what ``Client.iter_products`` returns: an async iterator of
DataFrame chunks in input order. The runner works in a task of its own while the caller reads
chunks; the window of rows not yet read is bounded, so a slow reader pauses the input (and so
the sending) instead of filling memory. Leaving early (``break``, an exception, ``aclose()``)
stops sending and awaits the answers in flight, which are paid for and checkpointed.
"""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import pandas as pd

from ._errors import RunStoppedWarning
from ._inputs import InputRow
from ._ordered import OrderedRows
from ._plan import Plan
from ._progress import ProgressBar
from ._runner import Runner
from ._summary import build_summary

if TYPE_CHECKING:
    from ._client import Client
    from ._products import ProductEndpoint


class ResultStream:
    """DataFrame chunks of one run, in input order; ``summary`` once it is exhausted.

    Each input row is in exactly one chunk; a chunk holds about ``chunk_rows`` rows and its
    index is the rows' 0-based input positions.
    """

    def __init__(
        self,
        client: Client,
        endpoint: ProductEndpoint,
        rows: Iterator[InputRow],
        *,
        raw: bool,
        chunk_rows: int,
        total: int | None,
        stop: asyncio.Event | None,
        warn: bool = True,
    ) -> None:
        self._client = client
        self._endpoint = endpoint
        self._rows = rows
        self._raw = raw
        self._chunk_rows = chunk_rows
        self._total = total
        self._stop = stop
        self._warn = warn
        self._chunks: AsyncIterator[pd.DataFrame] | None = None
        #: The run summary (what ``df.attrs["run"]`` holds), once every chunk has been read.
        self.summary: dict[str, Any] | None = None
        self.stop_reason: str | None = None
        self.stop_message: str | None = None

    def __aiter__(self) -> ResultStream:
        return self

    async def __anext__(self) -> pd.DataFrame:
        if self._chunks is None:
            self._chunks = self._run()
        return await anext(self._chunks)

    async def aclose(self) -> None:
        """Stop sending and await the answers in flight (idempotent)."""
        if self._chunks is not None:
            await self._chunks.aclose()  # type: ignore[attr-defined]

    async def _run(self) -> AsyncIterator[pd.DataFrame]:
        client, endpoint = self._client, self._endpoint
        state = client._state()
        started_at, started = datetime.now(timezone.utc), time.perf_counter()
        ordered = OrderedRows(chunk_rows=self._chunk_rows)
        bar = ProgressBar(enabled=client.progress, total=self._total, keys=len(state.pool.slots))
        bar.attach(state.pool)
        plan = Plan(
            self._rows,
            ordered=ordered,
            flatten=lambda record: endpoint.compact(record, raw=self._raw),
            empty=endpoint.empty,
            index=state.index,
            run=state.index.begin_run(),
            window=2 * self._chunk_rows + 1024,
            servable=state.servable,
            on_progress=bar.advance,
            index_has_bodies=getattr(state.index, "has_bodies", True),
        )
        runner = state.runner(plan.record)
        task = asyncio.ensure_future(self._drive(runner, plan, ordered))
        client._running.add(task)
        watcher = _watch(self._stop, runner) if self._stop is not None else None
        try:
            while True:
                if task.done() and not task.cancelled() and task.exception() is not None:
                    break  # raised below
                if ordered.ready.is_set():
                    slots = ordered.take()
                    if slots:
                        runner.wake()  # the window has room again
                        yield endpoint.build_chunk(slots, raw=self._raw)
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
                runner.request_stop("interrupted", "the caller stopped reading the results")
                await _cancel(task, gently=True)
            if watcher is not None:
                watcher.cancel()
            client._running.discard(task)
            bar.close()
        self.stop_reason, self.stop_message = runner.stop_reason, runner.stop_message
        self.summary = build_summary(
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
        )
        if self._warn:
            self.warn_if_stopped(stacklevel=3)

    def warn_if_stopped(self, *, stacklevel: int) -> None:
        """A :class:`RunStoppedWarning` when the run stopped before every row finished."""
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

    @staticmethod
    async def _drive(runner: Runner, plan: Plan, ordered: OrderedRows) -> None:
        plan.is_draining = lambda: runner.stop_reason is not None
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


def _watch(stop: asyncio.Event, runner: Runner) -> asyncio.Task[None]:
    if stop.is_set():  # already set: not even the first request goes out
        runner.request_stop("interrupted")

    async def watch() -> None:
        await stop.wait()
        runner.request_stop("interrupted")

    return asyncio.ensure_future(watch())
