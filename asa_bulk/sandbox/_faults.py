"""Seeded latency and fault injection, reproducible whatever the request order.

Each product/search request draws from a generator seeded by ``(seed, endpoint, query, domain,
attempt number of that request)``: the third attempt at ASIN X always gets the same latency and
the same fault, however many other requests run concurrently.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Final

from ._catalog import rng_for, unit_hash
from ._settings import SandboxSettings

#: The provider gives up on Amazon after 45 s (then 408); latencies are capped there.
UPSTREAM_TIMEOUT: Final = 45.0
_Z95: Final = 1.6448536269514722


class Chaos:
    """Draws ``(latency_seconds, fault_kind_or_None)`` per request."""

    def __init__(self, settings: SandboxSettings) -> None:
        self._seed = settings.seed
        self._fixed = settings.fixed_latency
        self._scale = settings.latency_scale
        self._mu = math.log(settings.latency_median)
        self._sigma = math.log(settings.latency_p95 / settings.latency_median) / _Z95
        cumulative, self._faults = 0.0, []
        for kind, rate in settings.faults.items():
            if rate > 0:
                cumulative += rate
                self._faults.append((cumulative, kind))
        self._attempts: defaultdict[tuple[str, str, str], int] = defaultdict(int)

    @property
    def quiet(self) -> bool:
        """True when every request gets the same fixed latency and no fault (the fast path)."""
        return self._fixed is not None and not self._faults

    def draw(self, endpoint: str, query: str, domain: str) -> tuple[float, str | None]:
        """Latency (seconds, already scaled) and the injected fault for this attempt."""
        if self._fixed is not None and not self._faults:
            return self._fixed, None
        ident = (endpoint, query, domain)
        self._attempts[ident] += 1
        rng = rng_for(self._seed, endpoint, query, domain, self._attempts[ident])
        if self._fixed is not None:
            latency = self._fixed
        else:
            latency = min(UPSTREAM_TIMEOUT, rng.lognormvariate(self._mu, self._sigma)) * self._scale
        roll = rng.random()
        for edge, kind in self._faults:
            if roll < edge:
                return latency, kind
        return latency, None

    def reset(self) -> None:
        """Forget attempt numbers (the next request is attempt 1 again)."""
        self._attempts.clear()


def is_not_found(asin: str, domain: str, rate: float) -> bool:
    """The 404 rule: an ASIN ending in ``404``, or a ``rate`` share of ASIN+domain pairs."""
    return asin.endswith("404") or (rate > 0 and unit_hash("not-found", asin, domain) < rate)
