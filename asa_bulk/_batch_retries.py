"""Items that failed inside a batch, sent again as sync requests (``batch_retry="sync"``).

A sync :class:`~asa_bulk._runner.Runner` on the run's keys, budget and retry policy takes them
one by one as the batches report them, so its attempts, backoffs, throttling and key
retirement are the sync mode's own. Its records keep the batch the item was first in, and
count that try in ``attempts``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterator

from ._errors import CheckpointWriteError
from ._records import Request, ResultRecord
from ._runner import RecordSink, RunCounters, Runner


class SyncRetries:
    """A sync runner fed with the requests to try again, until :meth:`finish`."""

    def __init__(
        self,
        make_runner: Callable[[RecordSink], Runner],
        sink: RecordSink,
        *,
        on_record: Callable[[], None],
        on_write_error: Callable[[str], None],
    ) -> None:
        self._sink = sink
        self._on_record = on_record
        self._on_write_error = on_write_error
        self._line: deque[Request] = deque()
        self._first: dict[Request, ResultRecord] = {}  # each request's record from its batch
        self._closed = False
        self._runner = make_runner(self._record)
        self._task: asyncio.Future[None] | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._runner.run(self._source()))

    @property
    def busy(self) -> bool:
        """Whether requests handed over are still without their final record."""
        return bool(self._first)

    @property
    def credits_in_flight(self) -> int:
        return self._runner.credits_in_flight

    @property
    def counters(self) -> RunCounters:
        return self._runner.counters

    def wake(self) -> None:
        """A key's slot was given back: the runner may have been waiting for one."""
        self._runner.wake()

    def offer(self, record: ResultRecord) -> bool:
        """Send ``record``'s request again; False once :meth:`finish` has begun."""
        if self._closed:
            return False
        self._first[record.request] = record
        self._line.append(record.request)
        self._runner.wake()
        return True

    def stop(self, reason: str, message: str | None = None, *, skip_rest: bool = True) -> None:
        """Send nothing more (the requests waiting end ``skipped``, or as their batch said)."""
        self._runner.request_stop(reason, message, skip_rest=skip_rest)

    async def finish(self) -> None:
        """Take no more requests and wait for those handed over; a cancellation meanwhile
        abandons them."""
        self._closed = True
        self._runner.wake()
        if self._task is None:
            return
        try:
            await self._task
        except asyncio.CancelledError:
            self._task.cancel()
            raise

    def _source(self) -> Iterator[Request | None]:
        while True:
            if self._line:
                yield self._line.popleft()
            elif self._closed:
                return
            else:
                yield None  # nothing yet: the runner waits for a wake()

    def _record(self, record: ResultRecord) -> None:
        first = self._first.pop(record.request, None)
        if first is not None:
            record.batch_id = first.batch_id
            record.attempts += first.attempts
            if record.status == "skipped" and record.attempts == first.attempts:
                record = first  # never sent again (the run stopped): the batch's answer stands
        try:
            self._sink(record)
        except CheckpointWriteError as exc:
            self._on_write_error(str(exc))  # the batch side stops buying too
            raise  # ...and so does the sync runner
        finally:
            self._on_record()


def merge_counters(into: RunCounters, retries: RunCounters) -> None:
    """Add the retries' counters to the batch run's (each sync send is a retry)."""
    into.requests_sent += retries.requests_sent
    into.retries += retries.retries + retries.requests_sent
    into.throttled += retries.throttled
    into.key_retirements += retries.key_retirements
    into.billed += retries.billed
    into.credits += retries.credits
    into.latencies_ms.extend(retries.latencies_ms)
