"""What to do with each answer of the API: the error table as data, and the retry policy.

The mapping from (HTTP status, error code) to an :class:`Action` lives in one table,
:data:`RULES`, transcribed from the provider's error page (see the README's error table). Error
codes compare case-insensitively, so the docs' ``rate_limited`` and the SDK READMEs'
``RATE_LIMITED`` are the same rule.
"""

from __future__ import annotations

import enum
import math
import random
from dataclasses import dataclass
from typing import Final

from ._options import DEFAULTS


class Action(enum.Enum):
    """What the runner does with an answer."""

    OK = "ok"  # a product: final, billed
    NOT_FOUND = "not_found"  # the product does not exist: final
    INVALID = "invalid"  # the service rejected the input: final, never retried
    GIVE_UP = "give_up"  # a non-retryable error: final status "failed"
    RETRY = "retry"  # transient: retry the item after a backoff (counts as a failed attempt)
    THROTTLE = "throttle"  # 429/503: pause this key (Retry-After), re-send the item elsewhere
    RETIRE_KEY = "retire_key"  # 401: this key is dead for the run; re-send the item elsewhere
    STOP = "stop"  # 402: the workspace is out of credits; stop sending on every key


@dataclass(frozen=True, slots=True)
class Rule:
    action: Action
    #: Documented minimum wait before a retry, in seconds (before ``retry_delay_scale``).
    min_delay: float = 0.0
    #: The answer says base_url does not point at the product API (the circuit breaker counts it).
    wrong_endpoint: bool = False


#: (status, lower-case code) -> rule. A code of None is the fallback for that status.
RULES: Final[dict[tuple[int, str | None], Rule]] = {
    (400, None): Rule(Action.INVALID),
    (401, None): Rule(Action.RETIRE_KEY),  # unauthorized, revoked, INVALID_API_KEY
    (402, None): Rule(Action.STOP),  # insufficient_credits: credits belong to the workspace
    (403, None): Rule(Action.GIVE_UP),  # forbidden_region
    (404, None): Rule(Action.NOT_FOUND),  # product_not_found (and pre-2026-05 variants)
    (404, "not_found"): Rule(Action.GIVE_UP, wrong_endpoint=True),  # unknown path: not a product
    (408, None): Rule(Action.RETRY, 2.0),  # upstream_timeout: "up to 3 times, 2 s apart"
    (422, None): Rule(Action.RETRY, 60.0),  # blocked_by_amazon: "after 60 s or more"
    (429, None): Rule(Action.THROTTLE, 1.0),  # rate_limited / CONCURRENCY_LIMIT; 1 s without header
    (500, None): Rule(Action.RETRY, 5.0),  # internal_error: "after about 5 s"
    (501, None): Rule(Action.GIVE_UP),  # not_implemented
    (502, None): Rule(Action.RETRY, 5.0),  # an unlisted 502 (e.g. a proxy's HTML page)
    (502, "target_unreachable"): Rule(Action.RETRY, 60.0),  # docs: 60 s or more (READMEs: 30)
    (502, "extraction_failed"): Rule(Action.RETRY, 2.0),  # "typically works on retry"
    (502, "amazon-robot-or-human"): Rule(Action.RETRY, 5.0),  # "often transient"
    (502, "asin_mismatch"): Rule(Action.GIVE_UP),  # the ASIN is stale
    (502, "generic_gallery_page"): Rule(Action.GIVE_UP),  # delisted
    (503, None): Rule(Action.THROTTLE, 60.0),  # capacity / SERVICE_OVERLOADED: Retry-After 60
}

#: Answers without the API's error envelope (no code) that mean something else than their
#: status's row: the API answers a missing product with its envelope, so a bare 404 (a proxy's
#: page, another server) means a wrong base_url.
NO_ENVELOPE: Final[dict[int, Rule]] = {404: Rule(Action.GIVE_UP, wrong_endpoint=True)}

#: Used for 5xx statuses without a row above, and for timeouts and connection errors.
TRANSIENT: Final = Rule(Action.RETRY, 1.0)


def classify(status: int, code: str | None, *, retryable: bool | None = None) -> Rule:
    """The rule for an HTTP answer. ``retryable=False`` in the body vetoes a retry."""
    if 200 <= status < 300:
        return Rule(Action.OK)
    lowered = code.lower() if code else None
    rule = (NO_ENVELOPE.get(status) if lowered is None else None) or (
        RULES.get((status, lowered)) or RULES.get((status, None))
    )
    if rule is None:
        rule = TRANSIENT if status >= 500 else Rule(Action.GIVE_UP)
    if retryable is False and rule.action is Action.RETRY:
        return Rule(Action.GIVE_UP)
    return rule


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounds and waits for retries.

    ``max_attempts`` bounds the failed tries of one item (throttling and retired keys are not
    failures: they are bounded by ``max_throttles`` and by ``max_item_seconds``, the total time an
    item may take from its first send). Waits grow exponentially from ``base_delay`` up to
    ``max_delay``, never below the documented minimum for the error, with up to ``jitter`` (a
    fraction) added so that many items never retry in lockstep. No single wait, Retry-After
    included, is longer than ``max_wait``. ``delay_scale`` multiplies every wait: leave it at
    1.0 against the real service; tests and the sandbox demo scale it down.
    """

    max_attempts: int = DEFAULTS["max_attempts"]
    max_throttles: int = 20
    max_item_seconds: float = DEFAULTS["max_item_seconds"]
    max_wait: float = DEFAULTS["max_wait"]
    base_delay: float = 1.0
    max_delay: float = 120.0
    jitter: float = 0.25
    delay_scale: float = DEFAULTS["retry_delay_scale"]

    def backoff(self, failures: int, floor: float, rng: random.Random) -> float:
        """Seconds to wait before retry number ``failures`` (1-based)."""
        exponential = min(self.max_delay, self.base_delay * 2.0 ** min(64, max(0, failures - 1)))
        wait = max(floor, exponential) * (1.0 + self.jitter * rng.random())
        return min(wait, self.max_wait) * self.delay_scale

    def throttle_wait(
        self, retry_after: float | None, throttles: int, floor: float, rng: random.Random
    ) -> float:
        """Seconds a throttled key pauses: Retry-After when given (plus a little positive jitter,
        so keys don't wake in lockstep), else an exponential backoff from the rule's documented
        minimum (1 s for a 429, 60 s for a 503)."""
        if retry_after is not None and math.isfinite(retry_after) and retry_after >= 0:
            wait = retry_after * (1.0 + 0.1 * self.jitter * rng.random())
            return min(wait, self.max_wait) * self.delay_scale
        return self.backoff(throttles, floor, rng)
