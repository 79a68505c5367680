"""Reconciling a lost batch POST: did it create a batch, and which one?

A POST whose answer never arrived (the process died in between, a timeout, a dropped
connection) may or may not have created a batch, and the service has no idempotency key to
ask by. So its ledger entry is matched against the service's list of recent batches: same
endpoint, same item count, created within the POST's time window (allowing for clock skew),
not claimed by another entry of the job, and results, where it shows any, all among the
entry's items. One such batch: it is ours (its id is recorded). None, in a list that reaches
back past the POST: nothing was created. Anything else cannot be proven either way.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Final

from ._batch_api import BatchApi
from ._batch_ledger import BatchEntry, BatchLedger
from ._batch_results import item_of, match_key
from ._log import get_logger

logger = get_logger(__name__)

#: How far the service's clock may be from ours when matching a batch's ``created_at``.
CLOCK_SKEW: Final = 300.0
#: A list of recent batches asks for this many (the SDKs' default is 20).
RECENT_LIMIT: Final = 100


class Found(enum.Enum):
    FOUND = "found"  # the batch exists: its id is in the ledger now
    ABSENT = "absent"  # nothing was created (or reposting was allowed): the entry is closed
    UNCONFIRMED = "unconfirmed"  # cannot tell: posting again could bill twice


@dataclass(frozen=True, slots=True)
class Verdict:
    found: Found
    #: For UNCONFIRMED: one paragraph for people, naming the risk and the way out.
    message: str = ""


class Reconciler:
    """Decides what became of the lost POSTs of one job's ledger."""

    def __init__(
        self,
        *,
        api: BatchApi,
        ledger: BatchLedger,
        endpoint: str,
        timeout: float,
        repost_unconfirmed: bool,
    ) -> None:
        self._api = api
        self._ledger = ledger
        self._endpoint = endpoint
        self._timeout = timeout
        self._repost = repost_unconfirmed

    async def reconcile(self, entry: BatchEntry, why: str) -> Verdict:
        """What became of ``entry``'s POST (``why``: how its answer was lost)."""
        reply = await self._api.recent(RECENT_LIMIT)
        listed = reply.body.get("batches") if reply.ok and reply.body else None
        if not isinstance(listed, list):
            detail = f"the service did not list its recent batches ({reply.describe()})"
            return self._unconfirmed(entry, why, detail)
        batches = [b for b in listed if isinstance(b, dict)]
        low = entry.posted_at - CLOCK_SKEW
        high = entry.posted_at + self._timeout + CLOCK_SKEW
        candidates = self._candidates(entry, batches, low, high)
        if len(candidates) == 1 and await self._items_match(entry, candidates[0]["id"]):
            found = candidates[0]
            created = found.get("created_at")
            self._ledger.posted(
                entry,
                found["id"],
                created_at=created if isinstance(created, str) else None,
                secret=None,  # returned once, to the POST whose answer was lost
                key_id=None,
            )
            logger.warning("batch %s reconciled: the lost POST had created it", found["id"])
            return Verdict(Found.FOUND)
        if candidates:
            detail = f"{len(candidates)} listed batches could be it (same size and time)"
            return self._unconfirmed(entry, why, detail)
        times = [t for t in (epoch(b.get("created_at")) for b in batches) if t is not None]
        if len(batches) < RECENT_LIMIT or (times and min(times) < low):
            self._ledger.close(entry, "not_posted")
            logger.warning(
                "a lost batch POST of %d items created no batch: posting them again",
                len(entry.requests),
            )
            return Verdict(Found.ABSENT)
        detail = f"the {len(batches)} batches listed do not reach back to it"
        return self._unconfirmed(entry, why, detail)

    def _candidates(
        self, entry: BatchEntry, batches: list[dict[str, Any]], low: float, high: float
    ) -> list[dict[str, Any]]:
        known = self._ledger.known_ids()
        return [
            b
            for b in batches
            if isinstance(b.get("id"), str)
            and b["id"] not in known
            and b.get("endpoint", entry.endpoint) == entry.endpoint
            and b.get("total_count") == len(entry.requests)
            and _within(epoch(b.get("created_at")), low, high)
        ]

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

    def _unconfirmed(self, entry: BatchEntry, why: str, detail: str) -> Verdict:
        posted = datetime.fromtimestamp(entry.posted_at, timezone.utc).isoformat(timespec="seconds")
        if self._repost:
            logger.warning(
                "a batch POST of %d items at %s may have created a batch (%s; %s): posting "
                "them again as repost_unconfirmed allows",
                len(entry.requests),
                posted,
                why,
                detail,
            )
            self._ledger.close(entry, "not_posted")
            return Verdict(Found.ABSENT)
        return Verdict(
            Found.UNCONFIRMED,
            f"a batch POST of {len(entry.requests)} items at {posted} (token {entry.token[:8]}) "
            f"may have created a batch, but its answer was lost ({why}) and {detail}. Posting "
            "them again could bill them twice: check the batches on the dashboard, then run "
            "again with repost_unconfirmed=True (--repost-unconfirmed) to post them anyway",
        )


def epoch(value: object) -> float | None:
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
