"""The runner: the only place that schedules and waits.

One dispatcher loop pulls work lazily (retries that are due first, then new requests from the
input iterator) only when some key has room for it, so a million inputs never become a million
tasks: at most one task per request in flight exists. Each attempt task sends one request via
``_lookup.lookup`` and turns its Outcome into a final record or a re-queued item; it never
sleeps. Every wait (rate, cooldown, backoff) happens in the dispatcher, on an injectable clock.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone

import aiohttp

from ._clock import Clock, wake_or_time
from ._errors import CheckpointWriteError
from ._keypool import KeyPool, KeySlot, NoUsableKeys, WorkspaceStopped
from ._log import get_logger
from ._lookup import Outcome, lookup
from ._policy import Action, RetryPolicy
from ._records import Request, ResultRecord, Status
from ._settings import Settings

logger = get_logger(__name__)

RecordSink = Callable[[ResultRecord], None]

#: Messages for rows that never finished because the run stopped.
STOP_MESSAGES = {
    "no_usable_keys": "every API key was retired (401) before this item finished",
    "insufficient_credits": "the workspace ran out of credits (402) before this item was sent",
    "budget_exhausted": "max_credits was reached before this item was sent",
    "interrupted": "the run was interrupted before this item finished",
    "service_unreachable": "the API did not answer (see the run's stop message)",
    "checkpoint_failed": "the checkpoint could not be written, so the run stopped sending",
}

#: The circuit breaker: this many answers in a row that did not come from the API (connection
#: errors, timeouts, proxy pages, unknown paths) stop the run instead of failing every row.
BREAKER_THRESHOLD = 20

#: Status given to an item whose ``max_item_seconds`` ran out while it waited.
DEADLINE_ERROR = "deadline_exceeded"


@dataclass(slots=True, eq=False)
class _Item:
    """A unique request on its way: attempt counters and the last answer."""

    request: Request
    first_sent: float | None = None
    attempts: int = 0
    failures: int = 0
    throttles: int = 0
    last: Outcome | None = None
    last_key: str | None = None
    waiting: bool = False  # in the delayed queue (False also once expired there)


@dataclass(slots=True)
class Budget:
    """Credits billed against ``max_credits`` (None: no limit); a Client's runs share one.

    ``spent`` is pessimistic: requests that timed out or were abandoned in flight count as
    billed, since the service may have billed answers that never arrived.
    """

    max_credits: int | None
    spent: int = 0
    #: Credits of server-side batch items posted and not yet answered (all may be billed).
    reserved: int = 0


@dataclass(slots=True)
class RunCounters:
    requests_sent: int = 0
    retries: int = 0
    throttled: int = 0
    key_retirements: int = 0
    billed: int = 0
    credits: int = 0
    #: 8 bytes a sample, not a float object each: a million answers are 8 MB, and nothing
    #: for the garbage collector to walk.
    latencies_ms: array[float] = field(default_factory=lambda: array("d"))


class Runner:
    """Runs unique lookups under a :class:`KeyPool` and returns one record per request."""

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        pool: KeyPool,
        settings: Settings,
        policy: RetryPolicy,
        clock: Clock,
        sink: RecordSink,
        rng: random.Random | None = None,
        drain_on_cancel: bool = False,
        budget: Budget | None = None,
    ) -> None:
        self._session = session
        self.pool = pool
        self._settings = settings
        self._policy = policy
        self._clock = clock
        self._sink = sink
        self._rng = rng or random.Random()
        self._budget = budget or Budget(settings.max_credits)
        self.counters = RunCounters()
        self.stop_reason: str | None = None
        #: One line for people: why the run stopped (None while it runs or when it finished).
        self.stop_message: str | None = None
        self._drain_on_cancel = drain_on_cancel
        self._interrupted = False  # a stop was asked for: a cancellation now abandons at once
        self._skip_rest = True
        self._foreign_in_row = 0
        #: Items waiting for a retry or a key, by when they may go; and the same items by
        #: deadline, so expiry costs O(log n). Entries of items no longer waiting are dropped
        #: lazily, when they reach the top of either heap.
        self._delayed: list[tuple[float, int, _Item]] = []
        self._deadlines: list[tuple[float, int, _Item]] = []
        self._seq = itertools.count()
        self._lookahead: Request | None = None
        self._held: _Item | None = None  # taken from the line, then kept back by the budget
        self._credits_in_flight = 0
        self._source_done = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._failure: BaseException | None = None
        self._timeout = aiohttp.ClientTimeout(total=settings.timeout)

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    @property
    def credits_in_flight(self) -> int:
        """Credits of the requests in flight, were they all billed."""
        return self._credits_in_flight

    async def run(self, source: Iterator[Request | None]) -> None:
        """Send every request from ``source``; each one ends as exactly one record in the sink.

        After :meth:`request_stop` nothing new is sent, the answers in flight are awaited and
        recorded, and every request left becomes a ``skipped`` record. When the task running
        this is cancelled and ``drain_on_cancel`` is set, the answers in flight (already paid
        for) are still awaited and recorded, for at most ``timeout`` seconds, before the
        cancellation goes on; a second cancellation abandons them at once.
        """
        try:
            try:
                await self._dispatch(source)
                if self._tasks:
                    # wait(), not gather(): a cancelled gather would cancel the requests too.
                    await asyncio.wait(set(self._tasks))
            except asyncio.CancelledError:
                # A cancellation after an interrupt (or while draining) is the second: abandon.
                if self._drain_on_cancel and self._tasks and not self._interrupted:
                    self.request_stop("interrupted")
                    await asyncio.wait(set(self._tasks), timeout=self._settings.timeout + 1.0)
                raise
            if self._failure is not None:
                raise self._failure
            if self.stop_reason is not None and self._skip_rest:
                await self._skip_the_rest(source)
        finally:
            if self._tasks:
                # Abandoned answers may have been billed: the budget counts them, to be safe.
                self._budget.spent += self._credits_in_flight
            for task in self._tasks:
                task.cancel()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- the dispatcher ---------------------------------------------------------------------

    def wake(self) -> None:
        """Look at the source again: a paused source may have room now."""
        self._wake.set()

    def request_stop(
        self, reason: str, message: str | None = None, *, skip_rest: bool = True
    ) -> None:
        """Send nothing more; the answers in flight are still awaited and recorded.

        The requests left then become ``skipped`` records, unless ``skip_rest`` is False (no
        one reads them: the rest of the input is not even read).
        """
        self._skip_rest = self._skip_rest and skip_rest
        self._interrupted = self._interrupted or reason == "interrupted"
        self._halt(reason, message)
        self._wake.set()

    async def _dispatch(self, source: Iterator[Request | None]) -> None:
        max_credits = self._budget.max_credits
        while self._failure is None and self.stop_reason is None:
            self._wake.clear()  # no await until we wait: a completion can't slip in between
            now = self._clock.now()
            self._expire(now)
            if self._finished(source):
                return
            try:
                choice = self.pool.pick(now)
            except NoUsableKeys:
                self._halt("no_usable_keys")
                return
            except WorkspaceStopped as stopped:
                self._halt(stopped.reason)
                return
            if not isinstance(choice, KeySlot):
                # A float: when a key frees up (woken earlier when a waiting item's time runs
                # out, so it fails on time); None: on a completion.
                await self._wait(self._earliest(choice))
                continue
            item = self._next_item(now, source)
            if item is None:
                await self._wait(self._earliest(self._delayed[0][0] if self._delayed else None))
                continue
            if max_credits is not None and not self._within_budget(max_credits, item):
                self._held = item  # first in line again once the answers in flight are in
                if not self._tasks:
                    self._halt("budget_exhausted")
                    return
                await self._wait(None)
                continue
            self._start(item, choice, now)

    def _within_budget(self, max_credits: int, item: _Item) -> bool:
        """True when ``item``, plus every request in flight, all billed, stays within budget."""
        budget = self._budget
        worst = budget.spent + budget.reserved + self._credits_in_flight + item.request.credits
        return worst <= max_credits

    def _finished(self, source: Iterator[Request | None]) -> bool:
        return (
            not self._tasks
            and not self._delayed
            and self._held is None
            and self._peek(source) is None
            and self._source_done
        )

    def _peek(self, source: Iterator[Request | None]) -> Request | None:
        """The next request, or None: the source is exhausted or paused (it yielded None)."""
        if self._lookahead is None and not self._source_done:
            try:
                self._lookahead = next(source)
            except StopIteration:
                self._source_done = True
            except Exception as exc:
                # The input (or the checkpoint behind the plan) failed: the answers in flight
                # are paid for, so they are awaited and recorded before the error is raised.
                self._source_done = True
                self._failure = exc
                self._wake.set()
        return self._lookahead

    def _deadline(self, item: _Item) -> float:
        started = item.first_sent if item.first_sent is not None else self._clock.now()
        return started + self._policy.max_item_seconds

    def _expire(self, now: float) -> None:
        """Fail every waiting item whose ``max_item_seconds`` has run out."""
        deadlines = self._deadlines
        while deadlines and (deadlines[0][0] <= now or not deadlines[0][2].waiting):
            _, _, item = heapq.heappop(deadlines)
            if item.waiting:
                item.waiting = False
                self._fail_deadline(item, "while it waited for a key")
        self._drop_stale(self._delayed)

    @staticmethod
    def _drop_stale(heap: list[tuple[float, int, _Item]]) -> None:
        while heap and not heap[0][2].waiting:
            heapq.heappop(heap)

    def _earliest(self, until: float | None) -> float | None:
        """``until``, or earlier if a waiting item's deadline comes first."""
        self._drop_stale(self._deadlines)
        if not self._deadlines:
            return until
        soonest = self._deadlines[0][0]
        return soonest if until is None else min(until, soonest)

    def _next_item(self, now: float, source: Iterator[Request | None]) -> _Item | None:
        if self._held is not None:
            item, self._held = self._held, None
            return item
        self._drop_stale(self._delayed)
        if self._delayed and self._delayed[0][0] <= now:
            item = heapq.heappop(self._delayed)[2]
            item.waiting = False
            return item
        request = self._peek(source)
        if request is None:
            return None
        self._lookahead = None
        return _Item(request)

    async def _wait(self, until: float | None) -> None:
        """Wait for a completion, or until the monotonic time ``until``, whichever is first."""
        await wake_or_time(self._wake, self._clock, until)

    def _halt(self, reason: str, message: str | None = None) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
            self.stop_message = message or STOP_MESSAGES.get(reason, reason)
            logger.info("run stopping: %s", self.stop_message)

    # -- attempts ---------------------------------------------------------------------------

    def _start(self, item: _Item, slot: KeySlot, now: float) -> None:
        self.pool.begin(slot, now)
        self.counters.requests_sent += 1
        if item.first_sent is None:
            item.first_sent = now
        self._credits_in_flight += item.request.credits
        self._tasks.add(asyncio.ensure_future(self._attempt(item, slot)))

    async def _attempt(self, item: _Item, slot: KeySlot) -> None:
        try:
            outcome = await lookup(
                self._session,
                self._settings.base_url,
                item.request,
                slot.key,
                auth=self._settings.auth,
                timeout=self._timeout,
            )
            self.pool.end(slot)
            self._settle(item, slot, outcome)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug: surface it from run(), never lose it silently
            self._failure = exc
        finally:
            self._credits_in_flight -= item.request.credits
            # Leave the set here, not in a done-callback: those run a loop turn later, after the
            # dispatcher may already have woken up and counted this task as still in flight.
            task = asyncio.current_task()
            if task is not None:
                self._tasks.discard(task)
            self._wake.set()

    def _settle(self, item: _Item, slot: KeySlot, outcome: Outcome) -> None:
        """Turn one answer into a final record, or put the item back in line."""
        now = self._clock.now()
        item.attempts += 1
        item.last, item.last_key = outcome, slot.key_id
        self.counters.latencies_ms.append(outcome.latency_ms)
        self._watch_service(outcome)
        if outcome.error == "timeout":
            # The service may have billed an answer that never arrived: a budget never trusts
            # that it did not (the summary's credits count only the answers received).
            self._budget.spent += item.request.credits
        action = outcome.action
        if action is Action.OK:
            slot.ok += 1
            self._bill(item)
            self.pool.observe_limits(slot, outcome.concurrency_limit, outcome.rps_limit, now)
            self._finish(item, "ok")
        elif action is Action.NOT_FOUND:
            self._finish(item, "not_found")
        elif action is Action.INVALID:
            self._finish(item, "invalid")
        elif action is Action.GIVE_UP:
            slot.errors += 1
            if outcome.http_status is not None and 200 <= outcome.http_status < 300:
                self._bill(item)  # an unusable 2xx body is billed all the same
            self._finish(item, "failed")
        elif action is Action.RETIRE_KEY:
            self.counters.key_retirements += 1
            self.pool.retire(slot, outcome.error or "unauthorized")
            self._requeue(item, now)  # not a failed attempt: the item goes to another key
        elif action is Action.STOP:
            self.pool.stop(outcome.error or "insufficient_credits")
            self._halt(self.pool.stopped or "insufficient_credits")
            self._requeue(item, now)
        elif action is Action.THROTTLE:
            self.counters.throttled += 1
            item.throttles += 1
            wait = self._policy.throttle_wait(
                outcome.retry_after, slot.throttles_in_row + 1, outcome.rule.min_delay, self._rng
            )
            self.pool.cool_down(slot, now + wait)
            resend_at = self.pool.next_ready(now)
            if item.throttles > self._policy.max_throttles:
                self._finish(item, "failed")
            elif resend_at is not None and resend_at >= self._deadline(item):
                # Every key is paused past this item's deadline: say so now, not in an hour.
                self._fail_deadline(item, f"no key may send again for {resend_at - now:.0f} s")
            else:
                self._requeue(item, now)  # free to go to another key at once
        else:  # Action.RETRY
            slot.errors += 1
            item.failures += 1
            delay = self._policy.backoff(item.failures, outcome.rule.min_delay, self._rng)
            if item.failures >= self._policy.max_attempts:
                self._finish(item, "failed")
            elif self._past_deadline(item, now + delay):
                self._fail_deadline(item, f"the next retry would be due in {delay:.0f} s")
            else:
                self.counters.retries += 1
                self._requeue(item, now + delay)

    def _bill(self, item: _Item) -> None:
        self.counters.billed += 1
        self.counters.credits += item.request.credits
        self._budget.spent += item.request.credits

    def _past_deadline(self, item: _Item, when: float) -> bool:
        return when > self._deadline(item)

    def _watch_service(self, outcome: Outcome) -> None:
        """The circuit breaker: stop when the API has stopped answering (or never did)."""
        if outcome.from_api:
            self._foreign_in_row = 0
            return
        self._foreign_in_row += 1
        if self._foreign_in_row >= BREAKER_THRESHOLD:
            self._halt(
                "service_unreachable",
                f"the last {self._foreign_in_row} requests to {self._settings.base_url} got no "
                f"answer from the Amazon Scraper API (last: {outcome.error}: {outcome.message}); "
                "check base_url and the network",
            )

    def _fail_deadline(self, item: _Item, why: str) -> None:
        """Finish ``item`` as failed because its ``max_item_seconds`` cannot be met."""
        message = f"gave up after max_item_seconds={self._policy.max_item_seconds:g} s: {why}"
        last = item.last
        if last is not None and last.error:
            status = f" (HTTP {last.http_status})" if last.http_status else ""
            message += f"; last answer: {last.error}{status}"
        self._finish(item, "failed", error=DEADLINE_ERROR, message=message)

    def _requeue(self, item: _Item, ready_at: float) -> None:
        seq = next(self._seq)
        item.waiting = True
        heapq.heappush(self._delayed, (ready_at, seq, item))
        heapq.heappush(self._deadlines, (self._deadline(item), seq, item))

    def _finish(
        self, item: _Item, status: Status, *, error: str | None = None, message: str | None = None
    ) -> None:
        outcome = item.last
        assert outcome is not None  # every finish follows an answer
        ok = status == "ok"
        self._emit(
            ResultRecord(
                request=item.request,
                status=status,
                error=None if ok else error or outcome.error,
                error_message=None if ok else message or outcome.message,
                http_status=outcome.http_status,
                attempts=item.attempts,
                key_id=item.last_key,
                request_id=outcome.request_id,
                latency_ms=round(outcome.latency_ms, 3),
                fetched_at=datetime.now(timezone.utc),
                body=outcome.body if ok else None,
                body_json=outcome.body_json if ok else None,
            )
        )

    def _emit(self, record: ResultRecord) -> None:
        try:
            self._sink(record)
        except CheckpointWriteError as exc:
            # The record itself is kept; what failed is keeping it durably. Sending more would
            # buy results that a crash or a resume could not find again.
            self.request_stop("checkpoint_failed", str(exc))

    # -- stopping ---------------------------------------------------------------------------

    async def _skip_the_rest(self, source: Iterator[Request | None]) -> None:
        """Every request not finished when the run stopped becomes a ``skipped`` row."""
        reason = self.stop_reason or "stopped"
        message = self.stop_message or STOP_MESSAGES.get(reason, reason)
        if self._held is not None:
            held, self._held = self._held, None
            held.waiting = True
            heapq.heappush(self._delayed, (0.0, next(self._seq), held))
        while self._delayed:
            item = heapq.heappop(self._delayed)[2]
            if not item.waiting:
                continue  # expired there: it already has its record
            item.waiting = False
            last = item.last
            self._emit(
                ResultRecord(
                    request=item.request,
                    status="skipped",
                    error=reason,
                    error_message=message,
                    http_status=last.http_status if last else None,
                    attempts=item.attempts,
                    key_id=item.last_key,
                    request_id=last.request_id if last else None,
                )
            )
        if self._lookahead is not None:
            source = itertools.chain([self._lookahead], source)
            self._lookahead = None
        for count, request in enumerate(source, 1):
            if not self._skip_rest:
                return  # the reader left: no one reads the rest (nor is it read)
            if request is None:  # a paused source: its reader has a window of rows to take
                self._wake.clear()
                await self._wake.wait()
                continue
            self._emit(ResultRecord(request, "skipped", error=reason, error_message=message))
            if count % 1000 == 0:
                await asyncio.sleep(0)  # a million rows left: stay responsive to a second Ctrl-C
