"""The key pool: which key may send next, under each key's concurrency and rate limits.

Each key moves through healthy -> cooling (until a time, after a 429/503) -> retired (401, for
the rest of the run). The pool never waits itself: :meth:`KeyPool.pick` answers at once with a
key, or with the time the next key frees up, and the runner does the waiting.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ._keys import ApiKey
from ._limits import TokenBucket
from ._log import get_logger

logger = get_logger(__name__)

#: The lowest per-key rate taken from an ``Asa-Rps`` header (requests per second).
MIN_ADOPTED_RPS = 0.1


class NoUsableKeys(Exception):
    """Every key is retired (internal signal; the run turns it into skipped rows)."""


class WorkspaceStopped(Exception):
    """The workspace cannot serve more requests (402 insufficient credits)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True, eq=False)
class KeySlot:
    """One key's live state and counters."""

    key: ApiKey
    concurrency: int
    bucket: TokenBucket
    pin_concurrency: bool
    pin_rps: bool
    in_flight: int = 0
    cooling_until: float = 0.0
    throttles_in_row: int = 0
    retired: str | None = None
    requests: int = 0
    ok: int = 0
    errors: int = 0
    throttled: int = 0
    max_in_flight: int = 0

    @property
    def key_id(self) -> str:
        return self.key.key_id

    def free(self, now: float) -> float:
        """How many more requests this key could start right now (0 when none)."""
        if self.retired or now < self.cooling_until:
            return 0.0
        return min(self.concurrency - self.in_flight, self.bucket.available(now))

    def summary(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "requests": self.requests,
            "ok": self.ok,
            "errors": self.errors,
            "throttled": self.throttled,
            "retired": self.retired,
            "concurrency": self.concurrency,
            "rps": round(self.bucket.rate, 3),
            "max_in_flight": self.max_in_flight,
        }


class KeyPool:
    """Chooses the healthy key with the most free capacity and tracks every key's state."""

    def __init__(
        self,
        keys: Sequence[ApiKey],
        *,
        concurrency: int,
        rps: float,
        pin_concurrency: bool,
        pin_rps: bool,
        now: float,
    ) -> None:
        self.slots = [
            KeySlot(
                key=key,
                concurrency=concurrency,
                bucket=TokenBucket.full(rps, now),
                pin_concurrency=pin_concurrency,
                pin_rps=pin_rps,
            )
            for key in keys
        ]
        self.stopped: str | None = None

    @property
    def usable(self) -> list[KeySlot]:
        return [slot for slot in self.slots if slot.retired is None]

    def pick(self, now: float) -> KeySlot | float | None:
        """A key that may send now; else the earliest time one may (None: wait for a release).

        Raises :class:`WorkspaceStopped` after :meth:`stop`, :class:`NoUsableKeys` when every
        key is retired.
        """
        if self.stopped:
            raise WorkspaceStopped(self.stopped)
        best: KeySlot | None = None
        best_free = 0.0
        wake: float | None = None
        any_usable = False
        for slot in self.slots:
            if slot.retired:
                continue
            any_usable = True
            free = slot.free(now)
            if free >= 1.0 and (
                best is None
                or free > best_free
                or (free == best_free and slot.requests < best.requests)
            ):
                best, best_free = slot, free
            elif slot.in_flight < slot.concurrency:
                ready = max(slot.cooling_until, now + slot.bucket.wait_time(now))
                wake = ready if wake is None else min(wake, ready)
        if not any_usable:
            raise NoUsableKeys
        return best if best is not None else wake

    def next_ready(self, now: float) -> float | None:
        """The earliest time any usable key is out of its cooldown (None: no usable key).

        Only cooldowns count: a full concurrency or rate budget frees up within a request or
        two, while a cooldown follows the service's Retry-After and can be long.
        """
        times = [max(now, slot.cooling_until) for slot in self.slots if slot.retired is None]
        return min(times) if times else None

    def begin(self, slot: KeySlot, now: float) -> None:
        """Account for a request starting on ``slot``."""
        slot.bucket.take(now)
        slot.in_flight += 1
        slot.requests += 1
        slot.max_in_flight = max(slot.max_in_flight, slot.in_flight)

    def end(self, slot: KeySlot) -> None:
        """Account for a request on ``slot`` having finished (whatever the outcome)."""
        slot.in_flight -= 1

    def cool_down(self, slot: KeySlot, until: float) -> None:
        """Pause ``slot`` (only this key) until the monotonic time ``until``."""
        slot.throttled += 1
        slot.throttles_in_row += 1
        slot.cooling_until = max(slot.cooling_until, until)

    def retire(self, slot: KeySlot, reason: str) -> None:
        """Take ``slot`` out of the run for good; logged once per key."""
        if slot.retired is None:
            slot.retired = reason
            left = len(self.usable)
            logger.warning(
                "key %s retired for this run: %s (%d usable key%s left)",
                slot.key_id,
                reason,
                left,
                "" if left == 1 else "s",
            )

    def stop(self, reason: str) -> None:
        """Stop sending on every key (the workspace ran out of credits)."""
        if self.stopped is None:
            self.stopped = reason
            logger.warning("stopping the run: %s", reason)

    def observe_limits(
        self, slot: KeySlot, concurrency: float | None, rps: float | None, now: float
    ) -> None:
        """Follow the limits the service reports for this key, unless the caller pinned them."""
        slot.throttles_in_row = 0
        if concurrency is not None and not slot.pin_concurrency:
            new = max(1, int(concurrency))
            if new != slot.concurrency:
                logger.debug("key %s concurrency %d -> %d", slot.key_id, slot.concurrency, new)
                slot.concurrency = new
        if rps is not None:
            # A limit of a request every 10 s or slower is not a plan: don't let a header stall
            # the run (items not yet sent have no deadline to stop the wait).
            rps = max(rps, MIN_ADOPTED_RPS)
        if rps is not None and not slot.pin_rps and rps != slot.bucket.rate:
            logger.debug("key %s rps %g -> %g", slot.key_id, slot.bucket.rate, rps)
            slot.bucket.set_rate(rps, now)
