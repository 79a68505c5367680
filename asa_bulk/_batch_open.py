"""One posted batch a run waits for: which of its requests the run's rows wait for, and what
each poll (or webhook delivery) of it says that was not known before."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from ._batch_ledger import BatchEntry
from ._batch_results import REQUEST_ENDPOINTS, Matcher, missing_record, record_of
from ._log import get_logger
from ._policy import Action
from ._records import Request, ResultRecord

logger = get_logger(__name__)

#: A batch's ``status`` once it is over -> the error of its items without a result, and why.
ENDED: Final = {
    "complete": ("batch_item_missing", "the batch completed without a result for it"),
    "failed": ("batch_failed", "the batch failed"),
}

#: One result taken from a batch: its request, record, and what the error table says to do.
Settled = tuple[Request, ResultRecord, Action]


@dataclass(eq=False)
class OpenBatch:
    """A posted batch this run waits for (until every result of it is stored)."""

    entry: BatchEntry
    next_poll: float
    awaited: set[Request] = field(default_factory=set)  # requests this run's rows wait for
    settled: set[Request] = field(default_factory=set)  # requests whose result is known
    held: int = 0  # settled records not yet given to the sink (no row asked for them yet)
    finished: bool = False
    failed_polls: int = 0
    pushed: dict[str, Any] | None = None  # a webhook's document, applied at the next turn
    processed: int = 0
    billed_seen: int = 0  # results taken that the service billed
    not_found_polls: int = 0
    #: Over, but its entry stays open in the ledger (the service did not answer for it).
    keep_open: bool = False
    matcher: Matcher = field(init=False)

    def __post_init__(self) -> None:
        self.matcher = Matcher(REQUEST_ENDPOINTS[self.entry.endpoint], self.entry.requests)

    @property
    def batch_id(self) -> str:
        assert self.entry.batch_id is not None  # only posted batches are open
        return self.entry.batch_id

    @property
    def waits(self) -> bool:
        """Whether a row of this run still waits for one of its results."""
        return any(request not in self.settled for request in self.awaited)

    @property
    def size(self) -> int:
        return len(self.entry.requests)

    def new_results(self, document: dict[str, Any]) -> Iterator[Settled]:
        """The results of ``document`` not taken before (each is marked settled)."""
        results = document.get("results")
        for result in results if isinstance(results, list) else []:
            request = self.matcher.request_of(result)
            if request is None:
                if isinstance(result, dict):
                    logger.warning("batch %s: a result not for its items ignored", self.batch_id)
                continue
            if request in self.settled:
                continue
            self.settled.add(request)
            record, action = record_of(
                request, result, batch_id=self.batch_id, key_id=self.entry.key_id
            )
            self.billed_seen += record.billed
            yield request, record, action
        processed = document.get("processed_count")
        self.processed = processed if isinstance(processed, int) else len(self.settled)

    def unaccounted(self, document: dict[str, Any]) -> int:
        """How many billed results the batch reports beyond those taken: results it did not
        return, or returned for an ``input`` that matched none of its items."""
        success, credits = document.get("success_count"), document.get("credits_charged")
        per_item = self.entry.requests[0].credits if self.entry.requests else 5
        missing = 0
        if isinstance(success, int) and not isinstance(success, bool):
            missing = success - self.billed_seen
        if isinstance(credits, int | float) and not isinstance(credits, bool):
            missing = max(missing, -(-int(credits) // per_item) - self.billed_seen)
        return max(0, missing)

    def without_result(
        self, error: str, why: str, then: Action, *, skipped: bool = False
    ) -> Iterator[Settled]:
        """A record of ``error`` (``failed``, or ``skipped``) for each request the batch
        ended without a result for."""
        for request in self.entry.requests:
            if request not in self.settled:
                self.settled.add(request)
                record = missing_record(
                    request,
                    batch_id=self.batch_id,
                    key_id=self.entry.key_id,
                    error=error,
                    message=f"batch {self.batch_id}: {why}",
                    skipped=skipped,
                )
                yield request, record, then
