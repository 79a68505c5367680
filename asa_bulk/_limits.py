"""Per-key limits: a token bucket for the request rate, and header parsing for adaptation.

Why not aiolimiter: the key pool must *peek* at every key's capacity without waiting (to pick the
key with the most room), know when the next token arrives (to sleep exactly that long on an
injectable clock), and change a key's rate mid-run when the service reports its real limit.
aiolimiter only offers a blocking ``acquire`` on the loop's clock, with a fixed rate. The bucket
below is small and fully tested.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass

#: Float slack: after waiting exactly "until the next token", refilling can land a hair short of
#: 1.0; without slack the pool would report a wait of ~0 s forever.
_EPS = 1e-9

#: Our bucket and the service's run at the same rate, but the service's starts when a request
#: arrives, ours when it is sent: without a lag, a request sent the instant a token appears can
#: arrive just before the service's token does (a 429 and a whole second of Retry-After). A
#: constant lag shifts the schedule without lowering the sustained rate; measured on the RPS-bound
#: benchmark, 429s fell from 2.0% to 0.1% and efficiency rose from 0.92 to 0.99.
_LAG = 0.005  # seconds

_FRACTION = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*/\s*([0-9]*\.?[0-9]+)\s*$")


@dataclass(slots=True)
class TokenBucket:
    """Allows ``rate`` requests per second on average, with bursts of up to ``capacity``.

    The bucket starts full. With ``capacity == rate`` a key may send one second's worth of
    requests at once, well inside the service's documented 3-second burst allowance.
    """

    rate: float
    capacity: float
    tokens: float
    updated: float

    @classmethod
    def full(cls, rate: float, now: float, burst_seconds: float = 1.0) -> TokenBucket:
        capacity = max(1.0, rate * burst_seconds)
        return cls(rate=rate, capacity=capacity, tokens=capacity, updated=now)

    def _refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now

    def _margin(self) -> float:
        # Capped so that a bucket of capacity 1 (rate <= 1/s) can still fill up to a token.
        return min(self.rate * _LAG, self.capacity - 1.0)

    def available(self, now: float) -> float:
        """Tokens usable at ``now`` (may be fractional), the lag margin held back."""
        self._refill(now)
        return self.tokens - self._margin() + _EPS

    def wait_time(self, now: float) -> float:
        """Seconds until one whole token is usable (0 when one is)."""
        self._refill(now)
        need = 1.0 + self._margin()
        return 0.0 if self.tokens + _EPS >= need else (need - self.tokens) / self.rate

    def take(self, now: float) -> None:
        """Spend one token; the caller checked :meth:`wait_time` first."""
        self._refill(now)
        self.tokens -= 1.0

    def set_rate(self, rate: float, now: float, burst_seconds: float = 1.0) -> None:
        """Change the sustained rate (and the burst capacity with it), keeping spent tokens."""
        self._refill(now)
        self.rate = rate
        self.capacity = max(1.0, rate * burst_seconds)
        self.tokens = min(self.tokens, self.capacity)


@functools.lru_cache(maxsize=256)  # the same few header values repeat on every answer
def parse_limit_header(value: str | None) -> float | None:
    """The limit ``m`` of an ``Asa-Concurrency``/``Asa-Rps`` header ``n/m``; None if absent/odd."""
    if not value:
        return None
    match = _FRACTION.match(value)
    if not match:
        return None
    limit = float(match.group(2))
    return limit if 0 < limit < math.inf else None  # 400 nines read as inf


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds (number or HTTP date); None when absent or unreadable."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        from datetime import datetime, timezone
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - datetime.now(timezone.utc)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None  # "inf", "nan", "1e400"
