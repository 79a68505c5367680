"""Per-key limits, enforced like the real service: an in-flight ceiling and a token bucket.

- **Concurrency**: a request counts as in flight from the moment it is admitted until its
  response is handed to the server for writing. The slot is released just *before* the bytes go
  out, so a client that waits for a response before reusing the slot can never see a spurious 429.
- **Rate**: a token bucket refilled at ``rps`` tokens per second with capacity
  ``max(1, rps, (burst_rps - rps) * burst_seconds)``: a client arriving at ``burst_rps`` drains
  it at ``burst_rps - rps`` tokens/s, so the documented burst lasts ``burst_seconds`` and then
  the sustained rate applies (Pro: 105 tokens, 25/s; Free: 24 tokens, 2/s). It starts full.
  Each admitted request spends one token; rejected ones spend nothing.
- ``Asa-Rps`` reports the admitted requests of the last second (a sliding 1 s window).

Exceeding either limit answers 429 ``rate_limited`` with ``Retry-After`` = whole seconds until a
token (or, for concurrency, 1 s), at least 1.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Final

from ._settings import KeyLimits

_WINDOW: Final = 1.0


class KeyGate:
    """The limit state of one key. Not thread-safe: used only on the server's event loop."""

    __slots__ = ("_arrivals", "_stamp", "_tokens", "in_flight", "limits", "max_in_flight")

    def __init__(self, limits: KeyLimits, now: float) -> None:
        self.limits = limits
        self.in_flight = 0
        self.max_in_flight = 0
        self._tokens = limits.bucket_capacity
        self._stamp = now
        self._arrivals: deque[float] = deque()

    def admit(self, now: float) -> tuple[str, int] | None:
        """Admit a request (takes a slot and a token), or return ``(reason, retry_after)``."""
        limits = self.limits
        if self.in_flight >= limits.concurrency:
            return f"Exceeded concurrency limit ({limits.concurrency})", 1
        tokens = min(limits.bucket_capacity, self._tokens + (now - self._stamp) * limits.rps)
        self._stamp = now
        if tokens < 1.0:
            self._tokens = tokens
            return f"Exceeded sustained RPS ({limits.rps:g})", max(
                1, math.ceil((1.0 - tokens) / limits.rps)
            )
        self._tokens = tokens - 1.0
        self.in_flight += 1
        if self.in_flight > self.max_in_flight:
            self.max_in_flight = self.in_flight
        arrivals = self._arrivals
        arrivals.append(now)
        while arrivals[0] <= now - _WINDOW:
            arrivals.popleft()
        return None

    def release(self) -> None:
        """Free the slot taken by :meth:`admit`."""
        self.in_flight -= 1

    def rps_now(self, now: float) -> float:
        """Admitted requests per second over the last second."""
        arrivals = self._arrivals
        while arrivals and arrivals[0] <= now - _WINDOW:
            arrivals.popleft()
        return len(arrivals) / _WINDOW

    def headers(self, now: float) -> tuple[str, str]:
        """``Asa-Concurrency`` and ``Asa-Rps`` values (``n/m``) for a 2xx being answered."""
        limits = self.limits
        return f"{self.in_flight}/{limits.concurrency}", f"{self.rps_now(now):g}/{limits.rps:g}"
