"""Workspace credits and request statistics, safe to read and change from any thread."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class SandboxStats:
    """A snapshot of what the sandbox has seen since start (or the last ``reset_stats()``).

    ``billed`` counts 2xx product answers per ``(asin, domain)`` (batch items included), so
    ``max(billed.values()) == 1`` proves nothing was fetched twice. In ``status_counts`` a
    status of 0 means the connection was dropped (the ``reset`` fault). ``rate_limited`` counts
    every 429 sent, injected ones included.
    """

    requests: int = 0
    requests_by_key: Mapping[str, int] = field(default_factory=dict)
    status_counts: Mapping[int, int] = field(default_factory=dict)
    error_counts: Mapping[str, int] = field(default_factory=dict)
    billed: Mapping[tuple[str, str], int] = field(default_factory=dict)
    search_pages_billed: int = 0
    rate_limited: int = 0
    faults: Mapping[str, int] = field(default_factory=dict)
    max_in_flight: Mapping[str, int] = field(default_factory=dict)
    in_flight: Mapping[str, int] = field(default_factory=dict)
    credits_used: int = 0
    credits_remaining: int | None = None
    batches_created: int = 0
    webhook_attempts: int = 0

    @property
    def billed_total(self) -> int:
        """Number of billed (2xx) product answers."""
        return sum(self.billed.values())

    @property
    def billed_twice(self) -> dict[tuple[str, str], int]:
        """``(asin, domain)`` pairs billed more than once, with their counts."""
        return {k: n for k, n in self.billed.items() if n > 1}


class Ledger:
    """Credits and counters of one sandbox. Every method takes one short lock."""

    def __init__(self, credits: int | None) -> None:
        self._lock = threading.Lock()
        self._credits = credits
        self._clear()

    def _clear(self) -> None:
        self.requests = 0
        self.by_key: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()
        self.billed: Counter[tuple[str, str]] = Counter()
        self.search_pages = 0
        self.faults: Counter[str] = Counter()
        self.credits_used = 0
        self.batches = 0
        self.webhooks = 0

    # --- credits: reserved before work, charged on 2xx, refunded otherwise
    def reserve(self, cost: int) -> bool:
        """Take ``cost`` credits up front; False when the workspace cannot pay."""
        with self._lock:
            if self._credits is None:
                return True
            if self._credits < cost:
                return False
            self._credits -= cost
            return True

    def refund(self, cost: int) -> None:
        with self._lock:
            if self._credits is not None:
                self._credits += cost

    def set_credits(self, credits: int | None) -> None:
        if credits is not None and (
            isinstance(credits, bool) or not isinstance(credits, int) or credits < 0
        ):
            raise ValueError(f"credits must be an integer >= 0 or None, got {credits!r}")
        with self._lock:
            self._credits = credits

    # --- counters
    def count(self, key_id: str | None, status: int, code: str | None = None) -> None:
        """Record one answered request."""
        with self._lock:
            self.requests += 1
            if key_id is not None:
                self.by_key[key_id] += 1
            self.statuses[status] += 1
            if code is not None:
                self.errors[code] += 1

    def charge(
        self, cost: int, *, asin_domain: tuple[str, str] | None = None, pages: int = 0
    ) -> None:
        """Record a billed answer whose ``cost`` was reserved."""
        with self._lock:
            self.credits_used += cost
            if asin_domain is not None:
                self.billed[asin_domain] += 1
            self.search_pages += pages

    def note(self, *, fault: str | None = None, batch: bool = False, webhook: bool = False) -> None:
        with self._lock:
            if fault is not None:
                self.faults[fault] += 1
            self.batches += batch
            self.webhooks += webhook

    def reset(self) -> None:
        with self._lock:
            self._clear()

    def snapshot(
        self, max_in_flight: Mapping[str, int], in_flight: Mapping[str, int]
    ) -> SandboxStats:
        with self._lock:
            return SandboxStats(
                requests=self.requests,
                requests_by_key=dict(self.by_key),
                status_counts=dict(self.statuses),
                error_counts=dict(self.errors),
                billed=dict(self.billed),
                search_pages_billed=self.search_pages,
                rate_limited=self.statuses[429],
                faults=dict(self.faults),
                max_in_flight=dict(max_in_flight),
                in_flight=dict(in_flight),
                credits_used=self.credits_used,
                credits_remaining=self._credits,
                batches_created=self.batches,
                webhook_attempts=self.webhooks,
            )
