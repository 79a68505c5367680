"""Day-to-day drift: what a product costs and whether it is in stock, and where search ranks it.

Every value is a function of the day, seeded by it, so the same day always gives the same answer
(tests stay exact) and a month of daily pulls can be simulated by setting the sandbox's day
(``today``). On :data:`EPOCH`, the day the fixtures were drawn for, nothing drifts: the bodies are
those of a sandbox without drift, byte for byte.

- Prices follow a slow wave per product and marketplace (a period of 9 to 40 days, up to ±6%)
  plus a small daily step, so a price history is a line that moves, not noise.
- On about one day in twelve an offer's stock line changes (a few left, or out of stock).
- A search page's cards keep their set; on each day a few neighbours swap places.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any, Final

from ._catalog import rng_for, unit_hash

#: The day without drift (the fixtures' own): what ``today`` defaults to in the test fixtures.
EPOCH: Final = date(2026, 5, 15)

_LOW_STOCK: Final = "Only {n} left in stock - order soon."
_OUT_OF_STOCK: Final = "Temporarily out of stock."


def price_factor(asin: str, domain: str, day: date) -> float:
    """How much ``asin``'s price on ``domain`` differs on ``day`` from :data:`EPOCH` (a
    multiplier, 1.0 on the epoch)."""
    if day == EPOCH:
        return 1.0
    period = 9 + 31 * unit_hash("period", asin, domain)
    phase = 2 * math.pi * unit_hash("phase", asin, domain)
    amplitude = 0.06 * unit_hash("amplitude", asin, domain)
    days = (day - EPOCH).days
    wave = math.sin(2 * math.pi * days / period + phase) - math.sin(phase)
    step = 0.01 * (unit_hash("step", asin, domain, day.isoformat()) - 0.5)
    return 1.0 + amplitude * wave + step


def stock_on(asin: str, domain: str, day: date, stock: str) -> str:
    """The offer's stock line on ``day`` (``stock`` on most days, and always on the epoch)."""
    if day == EPOCH:
        return stock
    draw = unit_hash("stock", asin, domain, day.isoformat())
    if draw < 0.025:
        return _OUT_OF_STOCK
    if draw < 0.085:
        return _LOW_STOCK.format(n=1 + int(draw * 1000) % 9)
    return stock


def reordered(items: list[dict[str, Any]], *parts: object, day: date) -> list[dict[str, Any]]:
    """``items`` (one search page, in rank order) with a few neighbours swapped on ``day``."""
    if day == EPOCH or len(items) < 2:
        return items
    rng = rng_for("rerank", *parts, day.isoformat())
    out = list(items)
    for i in range(len(out) - 1):
        if rng.random() < 0.18:
            out[i], out[i + 1] = out[i + 1], out[i]
    return out
