"""The batch runner: the plan's requests sent as server-side batches, polled to the end.

It takes the sync :class:`~asa_bulk._runner.Runner`'s place in a stream (same ``run``,
``wake``, ``request_stop``, ``counters``), so everything around it is the same: one record per
unique request, duplicates fanned out, invalid rows never sent, results checkpointed as they
arrive, rows in input order. What it adds:

- Requests are grouped into batches of at most ``batch_size``. Each batch is written to the
  checkpoint's ledger before it is posted and gets its id the moment the POST answers; POSTs
  go one at a time, so a crash leaves at most one batch whose answer was lost.
- A resumed run polls the batches the ledger holds instead of posting their items again. A
  batch whose POST answer was lost is reconciled with the service's list of recent batches
  (same endpoint, same item count, created within the POST's time window, not claimed by
  another ledger entry, and results, where there are any, all among its items). Proven not
  created: its items are posted again. Not provable either way: the run stops and says so,
  unless ``repost_unconfirmed``.
- Polls every ``batch_poll_seconds`` (a webhook delivery ends the wait early), with a backoff
  on failed polls; results are applied as soon as a poll shows them (progress moves item by
  item where the service reports partial results). After ``batch_deadline`` seconds the run
  stops: rows still waiting are ``skipped`` (``batch_deadline``), and their batches stay in the
  ledger for the next run to poll.
- Items that failed inside a batch with an error the table calls retryable are sent again as
  sync requests (``batch_retry="sync"``, the default) by a sync runner on the same keys and
  budget; never an item that succeeded.
- The budget counts every item of a batch as billed from its POST until its result is in.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Final

from ._batch_api import BatchApi, BatchHalt, Reply
from ._batch_ledger import BatchEntry, BatchLedger
from ._batch_results import (
    BATCH_ENDPOINTS,
    RETRYABLE,
    Matcher,
    item_of,
    match_key,
    missing_record,
    record_of,
)
from ._clock import Clock
from ._errors import CheckpointWriteError
from ._log import get_logger
from ._policy import Action
from ._records import Request, ResultRecord
from ._runner import STOP_MESSAGES, Budget, RecordSink, RunCounters, Runner

if TYPE_CHECKING:
    from .webhooks import WebhookReceiver

logger = get_logger(__name__)

#: How far the service's clock may be from ours when matching a batch's ``created_at``.
CLOCK_SKEW: Final = 300.0
#: Longest wait between polls of a batch whose polls keep failing.
MAX_POLL_BACKOFF: Final = 600.0
#: A list of recent batches asks for this many (the SDKs' default is 20).
RECENT_LIMIT: Final = 100

BATCH_STOP_MESSAGES: Final = {
    "batch_deadline": "batch_deadline passed before this item's batch finished",
    "batch_unconfirmed": "a batch POST whose answer was lost could not be reconciled",
}


@dataclass(frozen=True, slots=True)
class BatchOptions:
    """How a batch-mode call runs (checked options; see ``_options``)."""

    size: int
    poll_seconds: float
    deadline: float
    retry: str
    repost_unconfirmed: bool = False
    webhook: WebhookReceiver | None = None


@dataclass(eq=False)
class _Open:
    """A posted batch this run waits for."""

    entry: BatchEntry
    matcher: Matcher
    next_poll: float
    awaited: set[Request] = field(default_factory=set)
    settled: set[Request] = field(default_factory=set)
    held: int = 0  # settled records not yet given to the sink (no row asked for them yet)
    finished: bool = False
    failed_polls: int = 0
    pushed: dict[str, Any] | None = None  # a webhook's document, applied at the next turn
    processed: int = 0

    @property
    def batch_id(self) -> str:
        assert self.entry.batch_id is not None  # only posted batches are open
        return self.entry.batch_id


class BatchRunner:
    """Runs unique requests as server-side batches; one record per request into ``sink``."""

    def __init__(
        self,
        *,
        api: BatchApi,
        ledger: BatchLedger,
        clock: Clock,
        sink: RecordSink,
        budget: Budget,
        options: BatchOptions,
        endpoint: str,
        timeout: float,
        sync: Callable[[RecordSink], Runner] | None,
        on_batches: Callable[[int, int, int], None] | None = None,
    ) -> None:
        self._api = api
        self._ledger = ledger
        self._clock = clock
        self._sink = sink
        self._budget = budget
        self._options = options
        self._endpoint = endpoint
        self._timeout = timeout
        self._on_batches = on_batches or (lambda processed, total, open_: None)
        self.counters = RunCounters()
        self.stop_reason: str | None = None
        self.stop_message: str | None = None
        self._skip_rest = True
        self._open: list[_Open] = []
        self._owner: dict[Request, _Open] = {}
        self._early: dict[Request, tuple[_Open, ResultRecord, Action]] = {}
        self._pending: list[Request] = []
        self._wake = asyncio.Event()
        self._retry_line: deque[Request] = deque()
        self._retrying: dict[Request, ResultRecord] = {}
        self._retry_closed = False
        self._sync: Runner | None = sync(self._from_sync) if sync is not None else None
        self._batches_seen: list[dict[str, Any]] = []

    # -- the stream's side -------------------------------------------------------------------

    def wake(self) -> None:
        """Look at the source again: a paused source may have room now."""
        self._wake.set()

    def request_stop(
        self, reason: str, message: str | None = None, *, skip_rest: bool = True
    ) -> None:
        """Post and poll nothing more; rows still waiting become ``skipped``."""
        self._skip_rest = self._skip_rest and skip_rest
        self._halt(reason, message)
        if self._sync is not None:
            self._sync.request_stop(reason, message, skip_rest=skip_rest)
        self._wake.set()

    @property
    def batches(self) -> list[dict[str, Any]]:
        """Every batch this run posted or polled: id, items, status (for the run summary)."""
        return list(self._batches_seen)

    async def run(self, source: Iterator[Request | None]) -> None:
        """Send every request of ``source`` in batches; each ends as exactly one record."""
        retries = None
        if self._sync is not None:
            retries = asyncio.ensure_future(self._sync.run(self._retries()))
        try:
            try:
                await self._resume()
                await self._loop(source)
            except asyncio.CancelledError:
                # Interrupted: the sync retries in flight (paid for) are still recorded, and
                # nothing more is sent; the batches stay in the ledger for the next run.
                if self._sync is not None:
                    self._sync.request_stop("interrupted", skip_rest=False)
                raise
            except BatchHalt as halt:
                self._halt(halt.reason)
            except CheckpointWriteError as exc:
                self._halt("checkpoint_failed", str(exc))
            if self.stop_reason is not None:
                self._skip_waiting()
                if self._sync is not None:
                    self._sync.request_stop(self.stop_reason, self.stop_message)
                if self._skip_rest:
                    await self._skip_the_rest(source)
            self._flush_early()
        finally:
            self._retry_closed = True
            if self._sync is not None:
                self._sync.wake()
            if retries is not None:
                try:
                    await retries
                except asyncio.CancelledError:
                    retries.cancel()  # a second interrupt: abandon them
                    raise
                finally:
                    self._merge_sync_counters()
            self.counters.requests_sent += self._api.sent
            # Batches still open may have billed items we never saw: the budget assumes so.
            self._budget.spent += self._budget.reserved
            self._budget.reserved = 0

    # -- the loop ----------------------------------------------------------------------------

    async def _loop(self, source: Iterator[Request | None]) -> None:
        deadline = self._clock.now() + self._options.deadline
        size = self._options.size
        source_done = False
        while self.stop_reason is None:
            self._wake.clear()
            paused = False
            while not source_done and len(self._pending) < size:
                try:
                    request = next(source)
                except StopIteration:
                    source_done = True
                    break
                if request is None:
                    paused = True
                    break
                self._take(request)
            if self._pending and (len(self._pending) >= size or paused or source_done):
                if await self._post_next():
                    continue
                if self._stopped():
                    return
            await self._poll_due()
            if self._stopped():
                return
            if source_done:
                self._flush_early()
                self._close_finished()
                if not self._open and not self._pending:
                    return
            now = self._clock.now()
            if now >= deadline:
                self._halt_at_deadline()
                return
            polls = [b.next_poll for b in self._open if not b.finished]
            await self._wait(min([*polls, deadline]))

    def _take(self, request: Request) -> None:
        """A request the plan wants: awaited in its open batch, answered, or to be posted."""
        early = self._early.pop(request, None)
        if early is not None:
            batch, record, action = early
            batch.held -= 1
            self._budget.reserved -= request.credits
            self._deliver(record, action)
            return
        owner = self._owner.get(request)
        if owner is not None and request not in owner.settled:
            owner.awaited.add(request)
            return
        self._pending.append(request)

    async def _wait(self, until: float) -> None:
        delay = until - self._clock.now()
        if delay <= 0:
            await asyncio.sleep(0)
            return
        waiter = asyncio.ensure_future(self._wake.wait())
        sleeper = asyncio.ensure_future(self._clock.sleep(delay))
        try:
            await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            sleeper.cancel()

    # -- posting -----------------------------------------------------------------------------

    def _room(self) -> int | None:
        """Requests the budget lets a new batch hold (None: no budget)."""
        budget = self._budget
        if budget.max_credits is None:
            return None
        sync_in_flight = self._sync.credits_in_flight if self._sync is not None else 0
        left = budget.max_credits - budget.spent - budget.reserved - sync_in_flight
        per_request = self._pending[0].credits if self._pending else 5
        return max(0, left // per_request)

    async def _post_next(self) -> bool:
        """Post the next batch of the pending requests; False when none could go (the budget
        holds them until results come in, or the run stopped)."""
        room = self._room()
        count = min(self._options.size, len(self._pending))
        if room is not None:
            count = min(count, room)
        if count <= 0:
            if not self._open and not self._retrying:
                self._halt("budget_exhausted")
            return False
        take = self._pending[:count]
        entry = self._ledger.begin(BATCH_ENDPOINTS[self._endpoint], take)  # before the POST
        self._pending = self._pending[count:]
        credits = sum(request.credits for request in take)
        self._budget.reserved += credits
        hook = self._options.webhook
        try:
            reply = await self._api.create(
                entry.endpoint, [item_of(r) for r in take], hook.url if hook else None
            )
        except BatchHalt:
            self._ledger.close(entry, "not_posted")  # refused (402) or never sent
            self._budget.reserved -= credits
            self._pending = take + self._pending
            raise
        batch_id = reply.body.get("id") if reply.ok and reply.body else None
        if isinstance(batch_id, str) and batch_id:
            body = reply.body or {}
            secret = body.get("webhook_signature_secret")
            try:
                self._ledger.posted(
                    entry,
                    batch_id,
                    created_at=_text(body.get("created_at")),
                    secret=secret if isinstance(secret, str) else None,
                    key_id=reply.key_id,
                )
            except CheckpointWriteError as exc:
                # The file still says "posting": the next run reconciles it. This one stops,
                # its rows skipped under the batch they are in.
                entry.batch_id = batch_id
                self._adopt(entry, take, first_poll=self._options.poll_seconds)
                self.request_stop("checkpoint_failed", str(exc))
                return True
            logger.info("batch %s posted: %d items", batch_id, len(take))
            self._adopt(entry, take, first_poll=self._options.poll_seconds)
            return True
        if reply.lost:
            logger.warning(
                "the answer to a batch POST was lost (%s): reconciling", reply.describe()
            )
            try:
                await self._clock.sleep(self._options.poll_seconds)  # let the service list it
                found = await self._reconcile(entry, reply.describe())
            except BaseException:
                self._pending = take + self._pending  # skipped by the stop, or the crash's
                raise
            if found:
                self._adopt(entry, take, first_poll=0.0)
                return True
            self._pending = take + self._pending
            if self._stopped():
                return False  # unconfirmed: the batch may exist, so its credits stay counted
            self._budget.reserved -= credits  # proven not created: they go again
            return True
        # Refused (a 400, say): nothing was created, and the same body would be refused again.
        self._ledger.close(entry, "not_posted")
        self._budget.reserved -= credits
        message = f"the batch POST was refused: {reply.describe()}"
        for request in take:
            record = ResultRecord(
                request=request,
                status="failed",
                error=reply.error or "batch_refused",
                error_message=message,
                http_status=reply.status,
                fetched_at=datetime.now(timezone.utc),
            )
            self._deliver(record, Action.GIVE_UP)
        return True

    def _adopt(self, entry: BatchEntry, awaited: list[Request], *, first_poll: float) -> _Open:
        batch = _Open(
            entry=entry,
            matcher=Matcher(self._endpoint, entry.requests),
            next_poll=self._clock.now() + first_poll,
            awaited=set(awaited),
        )
        self._open.append(batch)
        for request in entry.requests:
            self._owner[request] = batch
        self._batches_seen.append({"id": batch.batch_id, "items": len(entry.requests)})
        hook = self._options.webhook
        if hook is not None and entry.secret is not None:
            hook.watch(batch.batch_id, entry.secret, lambda doc: self._pushed(batch, doc))
        return batch

    def _pushed(self, batch: _Open, document: dict[str, Any]) -> None:
        batch.pushed = document
        self._wake.set()

    # -- resuming and reconciling ------------------------------------------------------------

    async def _resume(self) -> None:
        """Adopt the batches an earlier run left open; reconcile those whose POST was lost."""
        wanted = BATCH_ENDPOINTS[self._endpoint]
        for entry in self._ledger.open_entries():
            if entry.endpoint != wanted:
                continue  # another endpoint's batches: its own calls resume them
            lost = "the run that posted it ended first"
            if entry.state == "posting" and not await self._reconcile(entry, lost):
                if self._stopped():
                    return
                continue  # proven not created: its items are posted as usual
            self._budget.reserved += sum(request.credits for request in entry.requests)
            self._adopt(entry, [], first_poll=0.0)
            logger.info("resuming batch %s (%d items)", entry.batch_id, len(entry.requests))

    async def _reconcile(self, entry: BatchEntry, why: str) -> bool:
        """Find the batch a lost POST may have created. True: found (its id is recorded now);
        False: proven not created (the entry is closed) or unprovable (the run stops, unless
        ``repost_unconfirmed``)."""
        reply = await self._api.recent(RECENT_LIMIT)
        listed = reply.body.get("batches") if reply.ok and reply.body else None
        if not isinstance(listed, list):
            return self._unconfirmed(
                entry, why, f"the service did not list its recent batches ({reply.describe()})"
            )
        batches = [b for b in listed if isinstance(b, dict)]
        low = entry.posted_at - CLOCK_SKEW
        high = entry.posted_at + self._timeout + CLOCK_SKEW
        known = self._ledger.known_ids()
        candidates = [
            b
            for b in batches
            if isinstance(b.get("id"), str)
            and b["id"] not in known
            and b.get("endpoint", entry.endpoint) == entry.endpoint
            and b.get("total_count") == len(entry.requests)
            and _within(_epoch(b.get("created_at")), low, high)
        ]
        if len(candidates) == 1 and await self._items_match(entry, candidates[0]["id"]):
            found = candidates[0]
            self._ledger.posted(
                entry,
                found["id"],
                created_at=_text(found.get("created_at")),
                secret=None,
                key_id=None,
            )
            logger.warning(
                "batch %s reconciled: the lost POST had created it; polling it", found["id"]
            )
            return True
        if not candidates:
            times = [t for t in (_epoch(b.get("created_at")) for b in batches) if t is not None]
            if len(batches) < RECENT_LIMIT or (times and min(times) < low):
                self._ledger.close(entry, "not_posted")
                logger.warning(
                    "a lost batch POST of %d items created no batch: posting them again",
                    len(entry.requests),
                )
                return False
            return self._unconfirmed(
                entry, why, f"the {len(batches)} batches listed do not reach back to it"
            )
        return self._unconfirmed(
            entry, why, f"{len(candidates)} listed batches could be it (same size and time)"
        )

    async def _items_match(self, entry: BatchEntry, batch_id: str) -> bool:
        """Whether the results the batch shows so far all belong to ``entry``'s items."""
        reply = await self._api.get(batch_id)
        if not reply.ok or reply.body is None:
            return True  # the list matched; its results cannot say otherwise
        mine = {match_key(self._endpoint, item_of(r)) for r in entry.requests}
        results = reply.body.get("results") or []
        return all(
            isinstance(r, dict) and match_key(self._endpoint, r.get("input")) in mine
            for r in results
        )

    def _unconfirmed(self, entry: BatchEntry, why: str, detail: str) -> bool:
        posted = datetime.fromtimestamp(entry.posted_at, timezone.utc).isoformat(timespec="seconds")
        if self._options.repost_unconfirmed:
            logger.warning(
                "a batch POST of %d items at %s may have created a batch (%s; %s): posting "
                "them again as repost_unconfirmed allows",
                len(entry.requests),
                posted,
                why,
                detail,
            )
            self._ledger.close(entry, "not_posted")
            return False
        self._halt(
            "batch_unconfirmed",
            f"a batch POST of {len(entry.requests)} items at {posted} (token {entry.token[:8]}) "
            f"may have created a batch, but its answer was lost ({why}) and {detail}. Posting "
            "them again could bill them twice: check the batches on the dashboard, then run "
            "again with repost_unconfirmed=True (--repost-unconfirmed) to post them anyway",
        )
        return False

    # -- polling -----------------------------------------------------------------------------

    async def _poll_due(self) -> None:
        for batch in list(self._open):
            if self.stop_reason is not None:
                return
            if batch.finished:
                continue
            if batch.pushed is not None:
                document, batch.pushed = batch.pushed, None
                self._apply(batch, document)
            elif batch.next_poll <= self._clock.now():
                reply = await self._api.get(batch.batch_id)
                self._polled(batch, reply)
        self._report()

    def _polled(self, batch: _Open, reply: Reply) -> None:
        if reply.ok and reply.body is not None:
            batch.failed_polls = 0
            self._apply(batch, reply.body)
            return
        if reply.status == 404 and reply.error == "not_found":
            # Not retried on the keys: the service might still be running it after all.
            self._finish_batch(
                batch,
                "not_found",
                "batch_not_found",
                "the service no longer knows it",
                then=Action.GIVE_UP,
            )
            return
        batch.failed_polls += 1
        wait = min(MAX_POLL_BACKOFF, self._options.poll_seconds * 2.0**batch.failed_polls)
        logger.warning(
            "polling batch %s failed (%s): again in %.0f s", batch.batch_id, reply.describe(), wait
        )
        batch.next_poll = self._clock.now() + wait

    def _apply(self, batch: _Open, document: dict[str, Any]) -> None:
        """Take every new result of ``document``; finish the batch when it is done."""
        results = document.get("results")
        for result in results if isinstance(results, list) else []:
            request = batch.matcher.request_of(result)
            if request is None:
                if isinstance(result, dict):
                    logger.warning(
                        "batch %s: a result for an item not in it ignored", batch.batch_id
                    )
                continue
            if request in batch.settled:
                continue
            record, action = record_of(
                request, result, batch_id=batch.batch_id, key_id=batch.entry.key_id
            )
            self._settle(batch, request, record, action)
        processed = document.get("processed_count")
        batch.processed = processed if isinstance(processed, int) else len(batch.settled)
        status = document.get("status")
        if status == "complete":
            self._finish_batch(
                batch,
                "complete",
                "batch_item_missing",
                "the batch completed without a result for it",
            )
        elif status == "failed":
            self._finish_batch(batch, "failed", "batch_failed", "the batch failed")
        else:
            batch.next_poll = self._clock.now() + self._options.poll_seconds

    def _finish_batch(
        self, batch: _Open, status: str, error: str, why: str, *, then: Action = Action.RETRY
    ) -> None:
        """The batch is over: each item without a result gets ``error`` (and ``then``: by
        default it is retried, as the error table does for a 5xx)."""
        for request in batch.entry.requests:
            if request not in batch.settled:
                record = missing_record(
                    request,
                    batch_id=batch.batch_id,
                    key_id=batch.entry.key_id,
                    error=error,
                    message=f"batch {batch.batch_id}: {why}",
                )
                self._settle(batch, request, record, then)
        batch.finished = True
        for seen in self._batches_seen:
            if seen["id"] == batch.batch_id:
                seen["status"] = status
        logger.info("batch %s %s", batch.batch_id, status)
        self._close_finished()

    def _settle(self, batch: _Open, request: Request, record: ResultRecord, action: Action) -> None:
        batch.settled.add(request)
        if request in batch.awaited:
            self._budget.reserved -= request.credits
            self._deliver(record, action)
        else:
            self._early[request] = (batch, record, action)
            batch.held += 1

    def _close_finished(self) -> None:
        """Mark done (in the ledger) the finished batches whose every result is stored."""
        for batch in [b for b in self._open if b.finished and b.held == 0]:
            self._ledger.close(batch.entry, "done")
            self._open.remove(batch)
            for request in batch.entry.requests:
                if self._owner.get(request) is batch:
                    del self._owner[request]
            hook = self._options.webhook
            if hook is not None:
                hook.forget(batch.batch_id)

    def _report(self) -> None:
        total = sum(len(b.entry.requests) for b in self._open)
        processed = sum(min(b.processed, len(b.entry.requests)) for b in self._open)
        self._on_batches(processed, total, sum(not b.finished for b in self._open))

    # -- results to the sink -----------------------------------------------------------------

    def _deliver(self, record: ResultRecord, action: Action) -> None:
        """A batch's record for a row of this run (counted here: a result an earlier run
        stored already, and this run only polled again, is not this run's spending)."""
        if record.billed:
            self._budget.spent += record.request.credits
            self.counters.billed += 1
            self.counters.credits += record.request.credits
        if record.latency_ms is not None:
            self.counters.latencies_ms.append(record.latency_ms)
        if action is Action.STOP:  # the workspace is out of credits: the item is not failed
            self._halt(record.error or "insufficient_credits")
            record = ResultRecord(
                request=record.request,
                status="skipped",
                error=record.error,
                error_message=record.error_message,
                batch_id=record.batch_id,
                attempts=record.attempts,
            )
        elif action in RETRYABLE and self._sync is not None and not self._retry_closed:
            self._retrying[record.request] = record
            self._retry_line.append(record.request)
            self._sync.wake()
            return
        self._emit(record)

    def _emit(self, record: ResultRecord) -> None:
        try:
            self._sink(record)
        except CheckpointWriteError as exc:
            self.request_stop("checkpoint_failed", str(exc))

    def _retries(self) -> Iterator[Request | None]:
        """The sync runner's source: items that failed in a batch, until the batches end."""
        while True:
            if self._retry_line:
                yield self._retry_line.popleft()
            elif self._retry_closed:
                return
            else:
                yield None  # nothing yet: the sync runner waits for its wake()

    def _from_sync(self, record: ResultRecord) -> None:
        """A sync retry's record: it keeps the batch it was first in, and counts that try."""
        first = self._retrying.pop(record.request, None)
        if first is not None:
            record.batch_id = first.batch_id
            record.attempts += first.attempts
            if record.status == "skipped" and record.attempts == first.attempts:
                record = first  # never sent again (the run stopped): the batch's answer stands
        self._sink(record)
        self._wake.set()

    def _flush_early(self) -> None:
        """Store the results no row asked for (paid for all the same): a later run finds them."""
        early, self._early = self._early, {}
        for batch, record, _ in early.values():
            self._store_early(batch, record)
        self._close_finished()

    def _store_early(self, batch: _Open, record: ResultRecord) -> None:
        batch.held -= 1
        self._budget.reserved -= record.request.credits
        if record.billed:  # by the service, for a run or another: the budget counts it
            self._budget.spent += record.request.credits
        self._emit(record)

    # -- stopping ----------------------------------------------------------------------------

    def _stopped(self) -> bool:
        return self.stop_reason is not None

    def _halt(self, reason: str, message: str | None = None) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
            self.stop_message = (
                message or BATCH_STOP_MESSAGES.get(reason) or STOP_MESSAGES.get(reason, reason)
            )
            logger.info("run stopping: %s", self.stop_message)

    def _halt_at_deadline(self) -> None:
        waiting = [b.batch_id for b in self._open if not b.finished]
        ids = ", ".join(waiting[:5]) + (" ..." if len(waiting) > 5 else "")
        self._halt(
            "batch_deadline",
            f"batch_deadline={self._options.deadline:g} s passed with {len(waiting)} batch(es) "
            f"unfinished ({ids}); their ids are kept in the checkpoint: run again with it to "
            "resume polling them (nothing is posted again)",
        )

    def _skip_waiting(self) -> None:
        """Every awaited request not settled, and every pending one, becomes ``skipped``."""
        reason, message = self.stop_reason or "stopped", self.stop_message or ""
        for batch in self._open:
            for request in sorted(batch.awaited - batch.settled, key=lambda r: r.ident):
                self._emit(self._skipped(request, reason, message, batch.batch_id))
            batch.awaited.clear()
        pending, self._pending = self._pending, []
        for request in pending:
            self._emit(self._skipped(request, reason, message, None))

    @staticmethod
    def _skipped(request: Request, reason: str, message: str, batch_id: str | None) -> ResultRecord:
        return ResultRecord(
            request=request,
            status="skipped",
            error=reason,
            error_message=message,
            batch_id=batch_id,
        )

    async def _skip_the_rest(self, source: Iterator[Request | None]) -> None:
        reason, message = self.stop_reason or "stopped", self.stop_message or ""
        for count, request in enumerate(source, 1):
            if not self._skip_rest:
                return
            if request is None:  # a paused source: its reader has rows to take first
                self._wake.clear()
                await self._wake.wait()
                continue
            owner = self._owner.get(request)
            early = self._early.pop(request, None)
            if early is not None:
                self._store_early(early[0], early[1])
                continue
            batch_id = owner.batch_id if owner is not None else None
            self._emit(self._skipped(request, reason, message, batch_id))
            if count % 1000 == 0:
                await asyncio.sleep(0)

    def _merge_sync_counters(self) -> None:
        if self._sync is None:
            return
        mine, theirs = self.counters, self._sync.counters
        mine.requests_sent += theirs.requests_sent
        mine.retries += theirs.retries + theirs.requests_sent
        mine.throttled += theirs.throttled
        mine.key_retirements += theirs.key_retirements
        mine.billed += theirs.billed
        mine.credits += theirs.credits
        mine.latencies_ms.extend(theirs.latencies_ms)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _epoch(value: object) -> float | None:
    """An ISO 8601 time (``2026-04-20T14:32:01.000Z``) as epoch seconds; None if unreadable."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def _within(value: float | None, low: float, high: float) -> bool:
    return value is not None and low <= value <= high
