"""Reconciling a lost batch POST: did it create a batch, and which one?

A POST whose answer never arrived (the process died in between, a timeout, a dropped
connection, a 2xx without a readable id) may or may not have created a batch, and the service
has no idempotency key to ask by. So its ledger entry is matched against the service's list of
recent batches (an SDK-only route, so every field is read leniently):

- **found**: exactly one listed batch has the entry's endpoint and item count, was created
  between the POST's start (less the clock skew allowed) and now, is claimed by no other entry
  of the job, and shows no result for an item not among the entry's; and no listed batch is
  unreadable (no id, count or time): one of those could be it too.
- **absent**: no listed batch could be it, every one is readable, and the list is complete
  back to before the POST: newest first, its last batch is older than that, or it holds fewer
  batches than the SDKs' page of 20 (so it is not a page of a longer list).
- **unconfirmed**: anything else. Posting the items again could bill them twice.

The reconciler only reads; its caller records what it decides.
"""

from __future__ import annotations

import enum
import itertools
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Final

from ._batch_api import BatchApi
from ._batch_ledger import BatchEntry, BatchLedger
from ._batch_results import REQUEST_ENDPOINTS, item_of, match_key

#: How far the service's clock may be from ours when matching a batch's ``created_at``.
CLOCK_SKEW: Final = 300.0
#: A list of recent batches asks for this many.
RECENT_LIMIT: Final = 100
#: The SDKs' page size: a shorter list is the whole list, whatever the service's own cap.
COMPLETE_BELOW: Final = 20


class Found(enum.Enum):
    FOUND = "found"
    ABSENT = "absent"
    UNCONFIRMED = "unconfirmed"


@dataclass(frozen=True, slots=True)
class Verdict:
    found: Found
    batch_id: str | None = None  # FOUND
    created_at: str | None = None  # FOUND
    #: UNCONFIRMED: why it cannot be told, for the stop message.
    detail: str = ""


class Reconciler:
    """Decides what became of the lost POSTs of one job's ledger (reading only)."""

    def __init__(self, *, api: BatchApi, ledger: BatchLedger) -> None:
        self._api = api
        self._ledger = ledger

    async def reconcile(self, entry: BatchEntry) -> Verdict:
        """What became of ``entry``'s POST."""
        reply = await self._api.recent(RECENT_LIMIT)
        listed = reply.body.get("batches") if reply.ok and reply.body else None
        if not isinstance(listed, list):
            detail = f"the service did not list its recent batches ({reply.describe()})"
            return Verdict(Found.UNCONFIRMED, detail=detail)
        low, high = entry.posted_at - CLOCK_SKEW, time.time() + CLOCK_SKEW
        known = self._ledger.known_ids()
        matches: list[dict[str, Any]] = []
        unreadable = 0
        for batch in listed:
            fit = _fits(batch, entry, known, low, high)
            matches += [batch] if fit is True else []
            unreadable += fit is None
        if unreadable:
            detail = f"{unreadable} listed batch(es) could not be read well enough to rule out"
            return Verdict(Found.UNCONFIRMED, detail=detail)
        if len(matches) > 1:
            detail = f"{len(matches)} listed batches could be it (same size and time)"
            return Verdict(Found.UNCONFIRMED, detail=detail)
        if matches:
            found = matches[0]
            if not await self._items_match(entry, found["id"]):
                detail = "the one listed batch of its size and time holds other items"
                return Verdict(Found.UNCONFIRMED, detail=detail)
            created = found.get("created_at")
            return Verdict(
                Found.FOUND, found["id"], created_at=created if isinstance(created, str) else None
            )
        times = [t for t in (epoch(batch.get("created_at")) for batch in listed) if t is not None]
        newest_first = all(a >= b for a, b in itertools.pairwise(times))
        if len(listed) < COMPLETE_BELOW or (newest_first and times and times[-1] < low):
            return Verdict(Found.ABSENT)
        detail = f"the {len(listed)} batches listed do not reach back to it"
        return Verdict(Found.UNCONFIRMED, detail=detail)

    async def _items_match(self, entry: BatchEntry, batch_id: str) -> bool:
        """Whether the results the batch shows so far all belong to ``entry``'s items."""
        reply = await self._api.get(batch_id)
        if not reply.ok or reply.body is None:
            return True  # the list matched; its results cannot say otherwise
        endpoint = REQUEST_ENDPOINTS.get(entry.endpoint, "product")
        mine = {match_key(endpoint, item_of(r)) for r in entry.requests}
        results = reply.body.get("results") or []
        return all(
            isinstance(r, dict) and match_key(endpoint, r.get("input")) in mine for r in results
        )


def _fits(
    batch: object, entry: BatchEntry, known: set[str], low: float, high: float
) -> bool | None:
    """Whether a listed batch could be ``entry``'s: True, False, or None (unreadable)."""
    if not isinstance(batch, dict):
        return None
    batch_id = batch.get("id")
    if isinstance(batch_id, str) and batch_id in known:
        return False  # another entry of this job
    endpoint = batch.get("endpoint", entry.endpoint)
    if isinstance(endpoint, str) and endpoint != entry.endpoint:
        return False
    count, created = batch.get("total_count"), epoch(batch.get("created_at"))
    if isinstance(count, int) and count != len(entry.requests):
        return False
    if created is not None and not low <= created <= high:
        return False
    if not isinstance(batch_id, str) or not isinstance(count, int) or created is None:
        return None
    return True


def epoch(value: object) -> float | None:
    """A batch's time as epoch seconds: ISO 8601 (``2026-04-20T14:32:01.000Z``) or a number
    (seconds, or milliseconds when it is that large); None when unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) / 1000.0 if value > 1e11 else float(value)
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()
