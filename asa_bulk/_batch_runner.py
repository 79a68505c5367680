"""The batch runner: the plan's requests sent as server-side batches, polled to the end.

It takes the sync :class:`~asa_bulk._runner.Runner`'s place in a stream (same ``run``,
``wake``, ``request_stop``, ``counters``), so everything around it is the same: one record per
unique request, duplicates fanned out, invalid rows never sent, results checkpointed as they
arrive, rows in input order. What it adds:

- Requests are grouped into batches of at most ``batch_size``; a smaller one goes only when
  the input is done, or the reader's window is full and no batch is running to free it (each
  batch pays the service's start-up of about a minute). Each is written to the checkpoint's
  ledger before it is posted and gets its id the moment the POST answers (``_batch_post``);
  POSTs go one at a time, so a crash leaves at most one batch whose answer was lost.
- A resumed run polls the batches the ledger holds that its rows need, instead of posting
  their items again; a POST whose answer was lost is reconciled first (``_batch_reconcile``).
- Polls every ``batch_poll_seconds`` (a webhook delivery ends the wait early), backing off on
  failed polls; results are taken as soon as a poll shows them. After ``batch_deadline``
  seconds the run stops: rows still waiting are ``skipped`` (``batch_deadline``), and their
  batches stay in the ledger for the next run to poll. POSTs that keep failing stop the run
  (``service_unreachable``) instead of trying until the deadline.
- Items that failed inside a batch with an error the table retries, and the items of a batch
  the service refused, are sent again as sync requests (``_batch_retries``); never an item
  that succeeded, nor one that may have been billed.
- The budget counts every item of a batch as billed from its POST until its result is known.

Which rows wait on which batch, and the results that come before their rows are read, are
kept in a :class:`~asa_bulk._batch_book.BatchBook`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Final

from ._batch_api import BatchApi, BatchHalt, Reply
from ._batch_book import BatchBook
from ._batch_ledger import BatchEntry, BatchLedger
from ._batch_open import ENDED, OpenBatch
from ._batch_post import Posted, Poster, Posting
from ._batch_results import BATCH_ENDPOINTS, RETRYABLE
from ._batch_retries import SyncRetries, merge_counters
from ._clock import Clock, wake_or_time
from ._errors import CheckpointWriteError
from ._log import get_logger
from ._policy import Action
from ._records import Request, ResultRecord
from ._runner import STOP_MESSAGES, Budget, RecordSink, RunCounters, Runner

if TYPE_CHECKING:
    from .webhooks import WebhookReceiver

logger = get_logger(__name__)

#: Longest wait between polls of a batch whose polls keep failing, or between failed POSTs.
MAX_BACKOFF: Final = 600.0
#: POSTs in a row without a batch to show for them (lost, throttled) before the run stops.
MAX_FAILED_POSTS: Final = 5
#: Polls in a row answered 404 before a batch is taken as unknown to the service.
NOT_FOUND_POLLS: Final = 3

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
        self._on_batches = on_batches or (lambda processed, total, running: None)
        self._poster = Poster(
            api=api,
            ledger=ledger,
            clock=clock,
            poll_seconds=options.poll_seconds,
            timeout=timeout,
            webhook_url=options.webhook.url if options.webhook is not None else None,
            repost_unconfirmed=options.repost_unconfirmed,
        )
        self.counters = RunCounters()
        self.stop_reason: str | None = None
        self.stop_message: str | None = None
        self._skip_rest = True
        self._pending: list[Request] = []
        self._next_post = 0.0  # no POST before this time (after failed ones)
        self._failed_posts = 0
        self._wake = asyncio.Event()
        self._book = BatchBook(
            ledger=ledger,
            budget=budget,
            deliver=self._deliver,
            store=self._emit,
            webhook=options.webhook,
            on_pushed=self._wake.set,
        )
        self._retries = (
            None
            if sync is None
            else SyncRetries(
                sync,
                sink,
                on_record=self._wake.set,
                on_write_error=self._write_failed,
            )
        )
        if self._retries is not None:
            api.on_release = self._retries.wake

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
        if self._retries is not None:
            self._retries.stop(reason, message, skip_rest=skip_rest)
        self._wake.set()

    @property
    def batches(self) -> list[dict[str, Any]]:
        """Every batch this run posted or polled: id, items, status (for the run summary)."""
        return [dict(seen) for seen in self._book.seen.values()]

    async def run(self, source: Iterator[Request | None]) -> None:
        """Send every request of ``source`` in batches; each ends as exactly one record."""
        if self._retries is not None:
            self._retries.start()
        try:
            try:
                await self._resume()
                await self._loop(source)
            except asyncio.CancelledError:
                # Interrupted: the sync retries in flight (paid for) are still recorded, and
                # nothing more is sent; the batches stay in the ledger for the next run.
                if self._retries is not None:
                    self._retries.stop("interrupted", skip_rest=False)
                raise
            except BatchHalt as halt:
                self._halt(halt.reason)
            except CheckpointWriteError as exc:
                self._write_failed(str(exc))
            if self.stop_reason is not None:
                self._skip_waiting()
                if self._retries is not None:
                    self._retries.stop(self.stop_reason, self.stop_message)
                if self._skip_rest:
                    await self._skip_the_rest(source)
            try:
                self._book.flush_early()
            except CheckpointWriteError as exc:
                self._write_failed(str(exc))
        finally:
            self._book.forget_all()
            if self._retries is not None:
                try:
                    await self._retries.finish()
                finally:
                    merge_counters(self.counters, self._retries.counters)
            self.counters.requests_sent += self._api.sent
            # Batches still open may have billed items we never saw: the budget assumes so.
            self._budget.spent += self._budget.reserved
            self._budget.reserved = 0

    # -- the loop ----------------------------------------------------------------------------

    async def _loop(self, source: Iterator[Request | None]) -> None:
        deadline = self._clock.now() + self._options.deadline
        size = self._options.size
        source_done = False
        while not self._stopped():
            self._wake.clear()
            if self._clock.now() >= deadline:
                self._halt_at_deadline()
                return
            paused = False
            while not source_done and len(self._pending) < size:
                try:
                    request = next(source)
                except StopIteration:
                    source_done = True
                    break
                if request is None:  # the reader's window is full
                    paused = True
                    break
                if not self._book.take(request):
                    self._pending.append(request)
            if source_done:
                self._book.flush_early()
                self._book.release_unneeded()
            if self._should_post(paused, source_done) and await self._post_next():
                continue
            if self._stopped():
                return
            await self._poll_due()
            if self._stopped():
                return
            if source_done and not self._book.open and not self._pending:
                return
            if self._should_post(paused, source_done):
                continue  # a batch ended: credits or the reader's window came free
            wake_at = [b.next_poll for b in self._book.open if not b.finished]
            if self._pending and self._next_post > self._clock.now():
                wake_at.append(self._next_post)  # a POST that failed is tried again then
            await wake_or_time(self._wake, self._clock, min([*wake_at, deadline]))

    def _should_post(self, paused: bool, source_done: bool) -> bool:
        """Whether to post (or find the budget spent) now: a full batch is pending, or the
        last one, or one is the only way to free the reader's window (nothing running would);
        not while a failed POST backs off, nor while the budget waits for results to come."""
        if not self._pending or self._clock.now() < self._next_post:
            return False
        full = len(self._pending) >= self._options.size
        if not (full or source_done or (paused and not self._frees_window())):
            return False
        room = self._room()
        return room is None or room > 0 or not self._frees_credits()

    def _frees_window(self) -> bool:
        """Whether something running will answer rows the reader waits for."""
        retrying = self._retries is not None and self._retries.busy
        return retrying or any(not b.finished and b.waits for b in self._book.open)

    def _frees_credits(self) -> bool:
        """Whether something running will give budget back (its unbilled results)."""
        retrying = self._retries is not None and self._retries.busy
        return retrying or any(not b.finished for b in self._book.open)

    # -- posting -----------------------------------------------------------------------------

    def _room(self) -> int | None:
        """Requests the budget lets a new batch hold (None: no budget)."""
        budget = self._budget
        if budget.max_credits is None:
            return None
        retrying = self._retries.credits_in_flight if self._retries is not None else 0
        left = budget.max_credits - budget.spent - budget.reserved - retrying
        return max(0, left // self._pending[0].credits)

    async def _post_next(self) -> bool:
        """Post the next batch of the pending requests. True: look at the source again at
        once (a batch went, or may go again now); False: wait (the budget holds the pending
        requests until results come in, a POST failed, or the run stopped)."""
        room = self._room()
        count = min(self._options.size, len(self._pending), room if room is not None else 1000)
        if count <= 0:
            if not self._frees_credits():
                self._halt("budget_exhausted")  # nothing in flight will give credits back
            return False
        take = self._pending[:count]
        credits = sum(request.credits for request in take)
        self._budget.reserved += credits  # from now on, they may be billed
        try:
            posting = await self._poster.post(BATCH_ENDPOINTS[self._endpoint], take)
        except (BatchHalt, CheckpointWriteError):
            self._budget.reserved -= credits  # nothing was created
            raise
        return self._posted(posting, take, credits)

    def _posted(self, posting: Posting, take: list[Request], credits: int) -> bool:
        outcome = posting.outcome
        if outcome is Posted.UNCONFIRMED:
            self._halt("batch_unconfirmed", posting.message)
            return False  # still pending, to be skipped; the batch may exist: still reserved
        if outcome is Posted.POSTED:
            self._failed_posts = 0
            self._pending = self._pending[len(take) :]
            self._adopt(posting.entry, take, first_poll=posting.first_poll)
            if posting.write_error is not None:
                self._write_failed(posting.write_error)
            return True
        self._budget.reserved -= credits
        if outcome is Posted.REPOSTED:
            self._budget.spent += credits  # the batch may exist and bill them: counted so
        if outcome is Posted.REFUSED:
            self._refused(posting, take)
            return True
        return self._post_failed(posting)  # ABSENT, REPOSTED, LATER: still pending

    def _refused(self, posting: Posting, take: list[Request]) -> None:
        """The service refused the batch (a 400, say): the same body would be refused again.
        Its items go as sync requests, which give each its own answer (an ``invalid`` row for
        the one item the service rejects); without sync retries they are ``failed``."""
        self._pending = self._pending[len(take) :]
        reply = posting.reply
        for request in take:
            record = ResultRecord(
                request=request,
                status="failed",
                error=(reply.error if reply else None) or "batch_refused",
                error_message=posting.message,
                http_status=reply.status if reply else None,
                fetched_at=datetime.now(timezone.utc),
            )
            self._deliver(record, Action.RETRY)

    def _post_failed(self, posting: Posting) -> bool:
        """A POST that created nothing: try again after a backoff, a few times at most."""
        self._failed_posts += 1
        if self._failed_posts >= MAX_FAILED_POSTS:
            answer = posting.message or "its answer was lost"
            self._halt(
                "service_unreachable",
                f"the last {self._failed_posts} batch POSTs created no batch (last: {answer}); "
                "check base_url and the service's status, then run again",
            )
            return False
        wait = min(MAX_BACKOFF, self._options.poll_seconds * 2.0 ** (self._failed_posts - 1))
        self._next_post = self._clock.now() + wait
        return False

    def _adopt(self, entry: BatchEntry, awaited: list[Request], *, first_poll: float) -> None:
        self._book.adopt(entry, awaited, next_poll=self._clock.now() + first_poll)

    async def _resume(self) -> None:
        """Adopt the batches an earlier run left open; reconcile those whose POST was lost.
        (Those no row of this run needs are let go once the input is read.)"""
        wanted = BATCH_ENDPOINTS[self._endpoint]
        for entry in self._ledger.open_entries():
            if entry.endpoint != wanted:
                continue  # another endpoint's batches: its own calls resume them
            credits = sum(request.credits for request in entry.requests)
            if entry.state == "posting":
                why = "the run that posted it ended first"
                posting = await self._poster.settle_lost(entry, why, live=False)
                if posting.outcome is Posted.UNCONFIRMED:
                    self._halt("batch_unconfirmed", posting.message)
                    return
                if posting.outcome is Posted.REPOSTED:
                    self._budget.spent += credits  # it may exist and bill them
                if posting.outcome is not Posted.POSTED:
                    continue  # its items are posted as usual
            self._budget.reserved += credits
            self._adopt(entry, [], first_poll=0.0)
            logger.info("resuming batch %s (%d items)", entry.batch_id, len(entry.requests))

    # -- polling -----------------------------------------------------------------------------

    async def _poll_due(self) -> None:
        """Poll the batches due, or take their webhook deliveries."""
        for batch in list(self._book.open):
            if self._stopped():
                break
            if batch.finished:
                continue
            if batch.pushed is not None:
                document, batch.pushed = batch.pushed, None
                self._apply(batch, document)
            elif batch.next_poll <= self._clock.now():
                self._polled(batch, await self._api.get(batch.batch_id))
        self._on_batches(*self._book.progress())

    def _polled(self, batch: OpenBatch, reply: Reply) -> None:
        if reply.ok and reply.body is not None:
            batch.failed_polls = batch.not_found_polls = 0
            self._apply(batch, reply.body)
            return
        not_found = reply.status == 404 and reply.error == "not_found"
        batch.not_found_polls = batch.not_found_polls + 1 if not_found else 0
        if batch.not_found_polls >= NOT_FOUND_POLLS:
            self._unknown_batch(batch)
            return
        batch.failed_polls += 1
        wait = min(MAX_BACKOFF, self._options.poll_seconds * 2.0**batch.failed_polls)
        logger.warning(
            "polling batch %s failed (%s): again in %.0f s", batch.batch_id, reply.describe(), wait
        )
        batch.next_poll = self._clock.now() + wait

    def _unknown_batch(self, batch: OpenBatch) -> None:
        """The service keeps answering 404 for a batch it created. It may still run it, so
        its items are not sent again on their own: their rows are ``skipped`` and the batch
        stays in the ledger; ``repost_unconfirmed`` posts them again instead."""
        if self._options.repost_unconfirmed:
            logger.warning(
                "batch %s is unknown to the service: posting its items again as "
                "repost_unconfirmed allows",
                batch.batch_id,
            )
            self._ledger.close(batch.entry, "not_posted")
            unsettled = self._unsettled_credits(batch)
            self._budget.reserved -= unsettled
            self._budget.spent += unsettled  # it may exist and bill them: counted so
            self._pending = self._book.drop(batch) + self._pending
            return
        why = (
            "the service answers 404 for it; it is kept in the checkpoint (a re-run polls it "
            "again), and repost_unconfirmed=True (--repost-unconfirmed) posts its items again, "
            "which may bill them twice"
        )
        batch.keep_open = True
        self._budget.spent += self._unsettled_credits(batch)  # it may run and bill them
        gone = batch.without_result("batch_not_found", why, Action.GIVE_UP, skipped=True)
        self._book.end(batch, "not_found", gone)

    @staticmethod
    def _unsettled_credits(batch: OpenBatch) -> int:
        return sum(r.credits for r in batch.entry.requests if r not in batch.settled)

    def _apply(self, batch: OpenBatch, document: dict[str, Any]) -> None:
        """Take every new result of ``document``; end the batch when it is over."""
        for settled in batch.new_results(document):
            if settled[2] is Action.STOP:  # an item hit the workspace's empty credit balance
                self._halt(settled[1].error or "insufficient_credits")
            self._book.settle(batch, settled)
        status = document.get("status")
        if not (isinstance(status, str) and status in ENDED):
            batch.next_poll = self._clock.now() + self._options.poll_seconds
            return
        error, why = ENDED[status]
        then = Action.RETRY  # as the error table does for a 5xx: none of them was billed
        extra = batch.unaccounted(document)
        if extra:
            unsettled = [r for r in batch.entry.requests if r not in batch.settled]
            self._budget.spent += sum(r.credits for r in unsettled[:extra])  # billed somewhere
            # ...unless the batch says it billed results it did not give: those may be among
            # these, so none is bought again without the user's say.
            error, then = "batch_result_unmatched", Action.GIVE_UP
            why = (
                f"the batch reports {extra} billed result(s) that match none of its items "
                "(not sent again: a re-run posts them, and may pay twice for those)"
            )
        self._book.end(batch, status, batch.without_result(error, why, then))

    # -- results to the sink -----------------------------------------------------------------

    def _deliver(self, record: ResultRecord, action: Action) -> None:
        """A batch's record for a row of this run (the summary counts it; the budget counted
        it when the batch gave it)."""
        if record.billed:
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
        elif action in RETRYABLE and self._retries is not None and self._retries.offer(record):
            return
        self._emit(record)

    def _emit(self, record: ResultRecord) -> None:
        try:
            self._sink(record)
        except CheckpointWriteError as exc:
            self._write_failed(str(exc))

    def _write_failed(self, why: str) -> None:
        """A record (or the ledger) could not be written: stop buying, and mark no batch done
        (a later run polls them again instead of buying what this one could not keep)."""
        self._book.writes_failed = True
        self.request_stop("checkpoint_failed", why)

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
        waiting = [b.batch_id for b in self._book.open if not b.finished]
        ids = ", ".join(waiting[:5]) + (" ..." if len(waiting) > 5 else "")
        self._halt(
            "batch_deadline",
            f"batch_deadline={self._options.deadline:g} s passed with {len(waiting)} batch(es) "
            f"unfinished ({ids}); their ids are kept in the checkpoint: run again with it to "
            "resume polling them (nothing is posted again)",
        )

    def _skip_waiting(self) -> None:
        """Every awaited request not settled, and every pending one, becomes ``skipped``."""
        for request, batch_id in self._book.unanswered():
            self._emit(self._skipped(request, batch_id))
        pending, self._pending = self._pending, []
        for request in pending:
            self._emit(self._skipped(request, None))

    def _skipped(self, request: Request, batch_id: str | None) -> ResultRecord:
        return ResultRecord(
            request=request,
            status="skipped",
            error=self.stop_reason or "stopped",
            error_message=self.stop_message or "",
            batch_id=batch_id,
        )

    async def _skip_the_rest(self, source: Iterator[Request | None]) -> None:
        """The requests the source has left: those answered early get their answer, the
        rest are ``skipped`` (under their batch, when one holds them)."""
        for count, request in enumerate(source, 1):
            if not self._skip_rest:
                return
            if request is None:  # a paused source: its reader has rows to take first
                self._wake.clear()
                await self._wake.wait()
                continue
            if not self._book.answer_early(request):
                self._emit(self._skipped(request, self._book.batch_of(request)))
            if count % 1000 == 0:
                await asyncio.sleep(0)
