"""Which of a run's requests wait on which open batch, and the results that came early.

A batch's results may come before the plan has read the rows that want them (a resumed run
polls batches posted ahead of its reader): they wait here until it does. A batch is marked
done in the ledger only once it is over and every one of its results is stored, so that a
crash in between leaves it open for the next run to poll again.

Budget: every item of an open batch is counted as billed (``Budget.reserved``) until its
result is known; then it is billed (``Budget.spent``) or not.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ._batch_ledger import BatchEntry, BatchLedger
from ._batch_open import OpenBatch, Settled
from ._log import get_logger
from ._policy import Action
from ._records import Request, ResultRecord
from ._runner import Budget

if TYPE_CHECKING:
    from .webhooks import WebhookReceiver

logger = get_logger(__name__)


class BatchBook:
    """The open batches of one run and the requests waiting on them."""

    def __init__(
        self,
        *,
        ledger: BatchLedger,
        budget: Budget,
        deliver: Callable[[ResultRecord, Action], None],
        store: Callable[[ResultRecord], None],
        webhook: WebhookReceiver | None,
        on_pushed: Callable[[], None],
    ) -> None:
        self._ledger = ledger
        self._budget = budget
        self._deliver = deliver  # a record for a row of this run
        self._store = store  # a record no row of this run asked for
        self._webhook = webhook
        self._on_pushed = on_pushed
        #: Set when a record could not be stored: no batch is marked done from then on (the
        #: next run polls it again rather than buy what this one failed to keep).
        self.writes_failed = False
        self.open: list[OpenBatch] = []
        self._owner: dict[Request, OpenBatch] = {}
        self._early: dict[Request, tuple[OpenBatch, ResultRecord, Action]] = {}
        #: Every batch of the run by id: its size and, once over, its status (the summary's).
        self.seen: dict[str, dict[str, Any]] = {}
        #: The records given the requests of batches kept open though over (the service did
        #: not answer for them): a later row with one of those requests gets the same record,
        #: never a new POST (a skipped record is not stored, so nothing else would remember).
        self._held_back: dict[Request, ResultRecord] = {}

    def adopt(self, entry: BatchEntry, awaited: list[Request], *, next_poll: float) -> None:
        """Wait for a posted batch; ``awaited``: its requests this run's rows want already."""
        batch = OpenBatch(entry=entry, next_poll=next_poll, awaited=set(awaited))
        self.open.append(batch)
        for request in entry.requests:
            self._owner[request] = batch
        self.seen[batch.batch_id] = {"id": batch.batch_id, "items": batch.size}
        if self._webhook is not None and entry.secret is not None:
            self._webhook.watch(batch.batch_id, entry.secret, lambda doc: self._pushed(batch, doc))

    def _pushed(self, batch: OpenBatch, document: dict[str, Any]) -> None:
        batch.pushed = document
        self._on_pushed()

    def take(self, request: Request) -> bool:
        """A request a row wants: answered now (its result came early) or awaited in its open
        batch (True), or not in any (False: it is to be posted)."""
        if self.answer_early(request):
            return True
        held_back = self._held_back.get(request)
        if held_back is not None:
            self._deliver(dataclasses.replace(held_back), Action.GIVE_UP)
            return True
        owner = self._owner.get(request)
        if owner is not None and request not in owner.settled:
            owner.awaited.add(request)
            return True
        return False

    def settle(self, batch: OpenBatch, settled: Settled) -> None:
        """A result of ``batch``: to its row now, or kept until a row asks for it."""
        request, record, action = settled
        self._budget.reserved -= request.credits
        if record.billed:  # by the service, whoever reads it
            self._budget.spent += request.credits
        if request in batch.awaited:
            self._deliver(record, action)
        else:
            self._early[request] = (batch, record, action)
            batch.held += 1

    def end(self, batch: OpenBatch, status: str, rest: Iterator[Settled]) -> None:
        """``batch`` is over (``status``); ``rest``: records for its items without a result."""
        for settled in rest:
            if batch.keep_open:
                self._held_back[settled[0]] = dataclasses.replace(settled[1])
            self.settle(batch, settled)
        batch.finished = True
        self.seen[batch.batch_id]["status"] = status
        logger.info("batch %s %s", batch.batch_id, status)
        self.close_finished()

    def close_finished(self) -> None:
        """Mark done (in the ledger) the finished batches whose every result is stored."""
        for batch in [b for b in self.open if b.finished and b.held == 0]:
            if not (batch.keep_open or self.writes_failed):
                self._ledger.close(batch.entry, "done")
            self.drop(batch)

    def drop(self, batch: OpenBatch) -> list[Request]:
        """Stop waiting on ``batch`` (its ledger entry is left as it is); the requests rows
        still wait for and it has not answered."""
        self.open.remove(batch)
        for request in batch.entry.requests:
            if self._owner.get(request) is batch:
                del self._owner[request]
        if self._webhook is not None:
            self._webhook.forget(batch.batch_id)
        return sorted(batch.awaited - batch.settled, key=lambda r: r.ident)

    def release_unneeded(self) -> None:
        """Stop polling the batches no row of this run waits on any more (an earlier run's,
        say): they stay open in the ledger for a run that wants them."""
        for batch in [b for b in self.open if not b.finished and not b.waits]:
            logger.info("batch %s left for a later run: no row here needs it", batch.batch_id)
            self.drop(batch)

    def forget_all(self) -> None:
        """The run is over: the receiver stops accepting deliveries for its batches (the
        service retries them later, when another run may wait for them)."""
        if self._webhook is not None:
            for batch in self.open:
                self._webhook.forget(batch.batch_id)

    def flush_early(self) -> None:
        """Store the results no row asked for that are worth keeping (final ones, billed
        ones): a later run finds them. Others (a failure) could only overwrite a result an
        earlier run stored."""
        early, self._early = self._early, {}
        for batch, record, _ in early.values():
            batch.held -= 1
            if record.final:
                self._store(record)
        self.close_finished()

    def answer_early(self, request: Request) -> bool:
        """Give ``request``'s row its early result, if it has one."""
        early = self._early.pop(request, None)
        if early is None:
            return False
        batch, record, action = early
        batch.held -= 1
        self._deliver(record, action)
        self.close_finished()
        return True

    def batch_of(self, request: Request) -> str | None:
        """The id of the open batch holding ``request``."""
        owner = self._owner.get(request)
        return owner.batch_id if owner is not None else None

    def unanswered(self) -> Iterator[tuple[Request, str]]:
        """Each request a row waits for and its batch has not answered (then no longer
        awaited: the caller gives it a record)."""
        for batch in self.open:
            for request in sorted(batch.awaited - batch.settled, key=lambda r: r.ident):
                yield request, batch.batch_id
            batch.awaited.clear()

    def progress(self) -> tuple[int, int, int]:
        """(items processed, items, batches running) over the open batches."""
        total = sum(b.size for b in self.open)
        processed = sum(min(b.processed, b.size) for b in self.open)
        return processed, total, sum(not b.finished for b in self.open)
