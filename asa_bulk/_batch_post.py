"""Posting one batch: into the ledger first, then the POST, then its id, at once.

What became of the POST is one of four things: posted (the id is recorded; a checkpoint that
failed to record it is reported, and the next run reconciles the entry), not created after all
(its answer was lost, and reconciling proved the service made nothing), unconfirmed (lost, and
reconciling could not tell: posting again could bill twice), or refused (the service said no,
and would say it again to the same body).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ._batch_api import BatchApi, BatchHalt, Reply
from ._batch_ledger import BatchEntry, BatchLedger
from ._batch_reconcile import Found, Reconciler
from ._batch_results import item_of
from ._clock import Clock
from ._errors import CheckpointWriteError
from ._log import get_logger
from ._records import Request

logger = get_logger(__name__)


class Posted(enum.Enum):
    POSTED = "posted"
    ABSENT = "absent"
    UNCONFIRMED = "unconfirmed"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class Posting:
    """What became of one POST."""

    outcome: Posted
    entry: BatchEntry
    #: POSTED: seconds until its first poll (0 when reconciling found it, a while later).
    first_poll: float = 0.0
    #: POSTED: why its id could not be recorded, if it could not (the run must stop).
    write_error: str | None = None
    #: UNCONFIRMED: the stop message; REFUSED: what the service answered.
    message: str = ""
    reply: Reply | None = None


class Poster:
    """Posts batches of one run, one at a time."""

    def __init__(
        self,
        *,
        api: BatchApi,
        ledger: BatchLedger,
        reconciler: Reconciler,
        clock: Clock,
        poll_seconds: float,
        webhook_url: str | None,
    ) -> None:
        self._api = api
        self._ledger = ledger
        self._reconciler = reconciler
        self._clock = clock
        self._poll_seconds = poll_seconds
        self._webhook_url = webhook_url

    async def post(self, endpoint: str, requests: list[Request]) -> Posting:
        """Post ``requests`` as one batch of ``endpoint``. Raises :class:`BatchHalt` when no
        key may post (nothing was created) and :class:`CheckpointWriteError` when the ledger
        cannot record the batch before it goes (nothing was sent)."""
        entry = self._ledger.begin(endpoint, requests)  # durable before the POST goes out
        try:
            reply = await self._api.create(
                endpoint, [item_of(r) for r in requests], self._webhook_url
            )
        except BatchHalt:
            self._ledger.close(entry, "not_posted")  # refused (401 on every key, 402)
            raise
        batch_id = reply.body.get("id") if reply.ok and reply.body else None
        if isinstance(batch_id, str) and batch_id:
            return self._record(entry, batch_id, reply)
        if reply.lost:
            return await self._reconcile(entry, reply.describe())
        self._ledger.close(entry, "not_posted")
        message = f"the batch POST was refused: {reply.describe()}"
        return Posting(Posted.REFUSED, entry, message=message, reply=reply)

    def _record(self, entry: BatchEntry, batch_id: str, reply: Reply) -> Posting:
        body = reply.body or {}
        created, secret = body.get("created_at"), body.get("webhook_signature_secret")
        try:
            self._ledger.posted(
                entry,
                batch_id,
                created_at=created if isinstance(created, str) else None,
                secret=secret if isinstance(secret, str) else None,
                key_id=reply.key_id,
            )
        except CheckpointWriteError as exc:
            # The file still says "posting": the next run reconciles it.
            entry.batch_id = batch_id
            return Posting(
                Posted.POSTED, entry, first_poll=self._poll_seconds, write_error=str(exc)
            )
        logger.info("batch %s posted: %d items", batch_id, len(entry.requests))
        return Posting(Posted.POSTED, entry, first_poll=self._poll_seconds)

    async def _reconcile(self, entry: BatchEntry, why: str) -> Posting:
        logger.warning("the answer to a batch POST was lost (%s): reconciling", why)
        await self._clock.sleep(self._poll_seconds)  # give the service time to list it
        verdict = await self._reconciler.reconcile(entry, why)
        if verdict.found is Found.FOUND:
            return Posting(Posted.POSTED, entry)
        if verdict.found is Found.ABSENT:
            return Posting(Posted.ABSENT, entry)
        return Posting(Posted.UNCONFIRMED, entry, message=verdict.message)
