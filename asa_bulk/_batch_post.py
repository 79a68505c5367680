"""Posting one batch: into the ledger first, then the POST, then its id, at once.

What became of a POST, and so of its ledger entry:

- ``POSTED``: the id is recorded (or, when the checkpoint failed to record it, reported: the
  run stops, and the next run reconciles the entry);
- ``ABSENT``: its answer was lost, and reconciling proved that the service created nothing;
- ``REPOSTED``: lost, not provable either way, and ``repost_unconfirmed`` lets its items go
  again (they may be billed twice: the budget counts them as billed);
- ``UNCONFIRMED``: lost, and not provable: the run must stop rather than post them again;
- ``LATER``: throttled (429/503) past the retry policy's patience: nothing was created, try
  again later;
- ``REFUSED``: the service said no (a 4xx), and would say it again to the same body.

An answer is lost when none came (a timeout, a dropped connection), when a 5xx came (the
service may have created the batch all the same), or when a 2xx came without a readable id.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from ._batch_api import BatchApi, BatchHalt, Reply
from ._batch_ledger import BatchEntry, BatchLedger
from ._batch_reconcile import Found, Reconciler, Verdict
from ._batch_results import item_of
from ._clock import Clock
from ._errors import CheckpointWriteError
from ._log import get_logger
from ._records import Request

logger = get_logger(__name__)


class Posted(enum.Enum):
    POSTED = "posted"
    ABSENT = "absent"
    REPOSTED = "reposted"
    UNCONFIRMED = "unconfirmed"
    LATER = "later"
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
    #: UNCONFIRMED: the stop message; REFUSED, LATER: what the service answered.
    message: str = ""
    reply: Reply | None = None


class Poster:
    """Posts the batches of one run, one at a time, and settles the POSTs that were lost."""

    def __init__(
        self,
        *,
        api: BatchApi,
        ledger: BatchLedger,
        clock: Clock,
        poll_seconds: float,
        timeout: float,
        webhook_url: str | None,
        repost_unconfirmed: bool,
    ) -> None:
        self._api = api
        self._ledger = ledger
        self._reconciler = Reconciler(api=api, ledger=ledger)
        self._clock = clock
        self._poll_seconds = poll_seconds
        # A server may go on creating a batch after the client gave up on its answer.
        self._settle_wait = max(poll_seconds, timeout)
        self._timeout = timeout
        self._webhook_url = webhook_url
        self._repost = repost_unconfirmed

    async def post(self, endpoint: str, requests: list[Request]) -> Posting:
        """Post ``requests`` as one batch of ``endpoint``. Raises :class:`BatchHalt` when no
        key may post (nothing was created) and :class:`CheckpointWriteError` when the ledger
        cannot record the batch before it goes (nothing was sent)."""
        entry = self._ledger.begin(endpoint, requests)  # durable before the POST goes out
        create = asyncio.ensure_future(
            self._api.create(endpoint, [item_of(r) for r in requests], self._webhook_url)
        )
        try:
            reply = await asyncio.shield(create)
        except BatchHalt:
            self._ledger.close(entry, "not_posted")  # refused (401 on every key, 402)
            raise
        except asyncio.CancelledError:
            await self._answer_before_leaving(entry, create)
            raise
        batch_id = _batch_id(reply)
        if batch_id is not None:
            return self._record(entry, batch_id, reply)
        if reply.lost or reply.ok:  # a 2xx without a readable id created a batch all the same
            return await self.settle_lost(entry, reply.describe(), live=True)
        self._ledger.close(entry, "not_posted")
        if reply.status in (429, 503):
            return Posting(Posted.LATER, entry, message=reply.describe(), reply=reply)
        message = f"the batch POST was refused: {reply.describe()}"
        return Posting(Posted.REFUSED, entry, message=message, reply=reply)

    async def _answer_before_leaving(
        self, entry: BatchEntry, create: asyncio.Future[Reply]
    ) -> None:
        """Interrupted while the POST is on the wire: its answer says whether a batch exists,
        so it is awaited (up to the request timeout) and its id recorded before the
        interrupt goes on. A second interrupt abandons it (the next run reconciles)."""
        try:
            done, _ = await asyncio.wait({create}, timeout=self._timeout + 1.0)
        except asyncio.CancelledError:
            create.cancel()
            raise
        if create not in done:
            create.cancel()
            return
        if create.cancelled() or create.exception() is not None:
            return
        reply = create.result()
        batch_id = _batch_id(reply)
        if batch_id is not None:
            with contextlib.suppress(CheckpointWriteError):  # then the next run reconciles
                self._record(entry, batch_id, reply)

    async def settle_lost(self, entry: BatchEntry, why: str, *, live: bool) -> Posting:
        """Reconcile ``entry`` (a POST whose answer was lost) and record what it finds.

        ``live``: lost just now, so the service is given time to list it first, and "absent"
        is only believed when a second look, as long after, agrees."""
        logger.warning("the answer to a batch POST was lost (%s): reconciling", why)
        # A POST cut short a moment ago (Ctrl-C, kill -9, then a re-run at once) may still be
        # on its way to becoming a batch: look as if it had been lost just now.
        age = time.time() - entry.posted_at
        if live or age < 2 * self._settle_wait:
            live = True
            await self._clock.sleep(max(0.0, self._settle_wait - max(0.0, age)))
        verdict = await self._reconciler.reconcile(entry)
        if live and verdict.found is Found.ABSENT:
            await self._clock.sleep(self._settle_wait)
            verdict = await self._reconciler.reconcile(entry)
        if verdict.found is Found.FOUND:
            assert verdict.batch_id is not None
            logger.warning("batch %s reconciled: the lost POST had created it", verdict.batch_id)
            try:  # the secret was returned once, in the answer that was lost
                self._ledger.posted(
                    entry,
                    verdict.batch_id,
                    created_at=verdict.created_at,
                    secret=None,
                    key_id=None,
                )
            except CheckpointWriteError as exc:
                entry.batch_id = verdict.batch_id
                return Posting(Posted.POSTED, entry, write_error=str(exc))
            return Posting(Posted.POSTED, entry)
        if verdict.found is Found.ABSENT:
            self._ledger.close(entry, "not_posted")
            logger.warning(
                "a lost batch POST of %d items created no batch: posting them again",
                len(entry.requests),
            )
            return Posting(Posted.ABSENT, entry)
        return self._unconfirmed(entry, why, verdict)

    def _unconfirmed(self, entry: BatchEntry, why: str, verdict: Verdict) -> Posting:
        when = datetime.fromtimestamp(entry.posted_at, timezone.utc).isoformat(timespec="seconds")
        items = f"a batch POST of {len(entry.requests)} items at {when} (token {entry.token[:8]})"
        if self._repost:
            logger.warning(
                "%s may have created a batch (%s; %s): posting them again as "
                "repost_unconfirmed allows",
                items,
                why,
                verdict.detail,
            )
            self._ledger.close(entry, "not_posted")
            return Posting(Posted.REPOSTED, entry)
        message = (
            f"{items} may have created a batch, but its answer was lost ({why}) and "
            f"{verdict.detail}. Posting them again could bill them twice: check the batches "
            "on the dashboard, then run again with repost_unconfirmed=True "
            "(--repost-unconfirmed) to post them anyway"
        )
        return Posting(Posted.UNCONFIRMED, entry, message=message)

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
            entry.batch_id = batch_id  # the file still says "posting": the next run reconciles
            return Posting(
                Posted.POSTED, entry, first_poll=self._poll_seconds, write_error=str(exc)
            )
        logger.info("batch %s posted: %d items", batch_id, len(entry.requests))
        return Posting(Posted.POSTED, entry, first_poll=self._poll_seconds)


def _batch_id(reply: Reply) -> str | None:
    """The id in a 2xx POST answer: ``id`` (the docs), else ``batch_id`` or ``data.id``."""
    body = reply.body if reply.ok else None
    if body is None:
        return None
    data = body.get("data")
    for value in (
        body.get("id"),
        body.get("batch_id"),
        data.get("id") if isinstance(data, dict) else None,
    ):
        if isinstance(value, str) and value.strip():
            return value.strip()
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
    return None
