"""Sandbox settings: one frozen, validated value object, loadable from a JSON file.

Every field has a default that mimics the real service (Pro plan limits, documented latency,
no faults, unlimited credits). Tests usually override ``fixed_latency=0``; the demo scales
latency down with ``latency_scale`` and raises the limits.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal

from asa_bulk._errors import ConfigError
from asa_bulk._keys import KEY_SHAPE as _KEY_RE
from asa_bulk._keys import is_key_shaped
from asa_bulk._values import calendar_day

Plan = Literal["free", "vibe", "pro", "custom"]
ProductShape = Literal["docs", "sdk", "mixed"]
ErrorStyle = Literal["docs", "nested", "upper"]

#: Per-key limits by plan, from the rate-limits docs page (D-rl, April-May 2026):
#: (concurrency, sustained rps, burst rps). "custom" uses the low end of its range.
PLAN_LIMITS: Final[Mapping[str, tuple[int, float, float]]] = MappingProxyType(
    {
        "free": (10, 2.0, 10.0),
        "vibe": (30, 10.0, 40.0),
        "pro": (50, 25.0, 60.0),
        "custom": (100, 50.0, 100.0),
    }
)

#: Injectable faults: kind -> HTTP status. "reset" drops the connection, "html" answers a proxy's
#: HTML 502 page, "stall" holds the request for ``stall_seconds`` and then answers 408.
FAULT_STATUS: Final[Mapping[str, int]] = MappingProxyType(
    {
        "upstream_timeout": 408,
        "blocked_by_amazon": 422,
        "rate_limited": 429,
        "internal_error": 500,
        "target_unreachable": 502,
        "extraction_failed": 502,
        "asin_mismatch": 502,
        "generic_gallery_page": 502,
        "capacity": 503,
        "reset": 0,
        "html": 502,
        "stall": 408,
    }
)

_KEY_ID_RE = re.compile(r"asa_(?:live|test)_[A-Za-z0-9]{12}")


@dataclass(frozen=True)
class KeyLimits:
    """Resolved per-key limits: in-flight ceiling and token bucket (see ``_limits``)."""

    concurrency: int
    rps: float
    burst_rps: float
    burst_seconds: float

    @property
    def bucket_capacity(self) -> float:
        """Tokens a key may spend at once: ``max(1, rps, (burst_rps - rps) * burst_seconds)``."""
        return max(1.0, self.rps, (self.burst_rps - self.rps) * self.burst_seconds)


@dataclass(frozen=True)
class SandboxSettings:
    """Everything the sandbox can be told. Times are seconds; rates are fractions of requests.

    Keys: ``keys=None`` accepts any well-formed ``asa_test_`` key (``asa_test_`` + 24 letters or
    digits); a list accepts exactly those keys (``asa_live_``-shaped ones too). ``revoked``,
    ``revoke_after`` (key or key_id -> requests presented) and ``revoke_at`` (key or key_id ->
    seconds after start) answer 401 ``revoked``.

    Limits per key: ``plan`` presets (free 10 in flight / 2 rps / burst 10 rps; vibe 30/10/40;
    pro 50/25/60; custom 100/50/100), each overridable by ``concurrency``, ``rps``, ``burst_rps``.

    Credits are per workspace: ``None`` is unlimited; each 2xx costs 5 (5 per page for search);
    at zero every key gets 402 ``insufficient_credits``.

    Latency: lognormal with ``latency_median``/``latency_p95`` (2.6 s / 6 s, capped at 45 s) times
    ``latency_scale``; ``fixed_latency`` (0 allowed) replaces it. ``faults`` maps a kind of
    :data:`FAULT_STATUS` to the fraction of product/search requests that get it; faults and
    latencies are drawn from ``seed`` and the request (endpoint, query, domain, attempt number),
    so a rerun sees the same sequence whatever the concurrency.

    ``not_found_rate`` makes that fraction of ASIN+domain pairs 404 (by hash); independently an
    ASIN ending in ``404`` is always 404 ``product_not_found``. A search query containing
    ``zzzz`` answers ``no_results: true``.

    Batches: ``batch_start_delay`` seconds before running, then ``batch_item_seconds`` per item,
    both multiplied by ``time_scale`` (which also scales webhook retry backoff).

    ``flat_catalog=True`` is a benchmark mode: product bodies come from a fixed pool of
    pre-rendered templates (64 per product family) with the requested ASIN substituted, so the
    sandbox's CPU per request stays flat at any number of unique ASINs (stock: each ASIN's body
    is generated and the last 65,536 cached, so runs over more ASINs cost it ~2.5x per request).
    Same documented shape and rules; ASINs sharing a template share its title, price and rating.
    It has no day-to-day drift.

    ``today``: the sandbox's calendar day (a ``date`` or ``"YYYY-MM-DD"``; None: the real UTC
    date at each request). Prices and stock lines drift from day to day, and so do search
    rankings, each a function of the day, so a given day always gives the same bytes; on
    2026-05-15 (``EPOCH``, what the pytest fixtures use) nothing drifts. A running sandbox's
    day can be moved with :meth:`Sandbox.set_today` to simulate daily pulls in seconds.
    """

    host: str = "127.0.0.1"
    port: int = 0
    keys: Sequence[str] | None = None
    revoked: Sequence[str] = ()
    revoke_after: Mapping[str, int] = field(default_factory=dict)
    revoke_at: Mapping[str, float] = field(default_factory=dict)
    plan: Plan = "pro"
    concurrency: int | None = None
    rps: float | None = None
    burst_rps: float | None = None
    burst_seconds: float = 3.0
    credits: int | None = None
    latency_median: float = 2.6
    latency_p95: float = 6.0
    latency_scale: float = 1.0
    fixed_latency: float | None = None
    seed: int = 0
    faults: Mapping[str, float] = field(default_factory=dict)
    retry_after: int = 2
    stall_seconds: float = 75.0
    not_found_rate: float = 0.0
    product_shape: ProductShape = "docs"
    error_style: ErrorStyle = "docs"
    strict_languages: bool = False
    batch_start_delay: float = 60.0
    batch_item_seconds: float = 0.6
    time_scale: float = 1.0
    allow_http_webhooks: bool = False
    flat_catalog: bool = False
    today: date | str | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise containers once, at construction
        set_(self, "today", parse_day(self.today))
        if self.keys is not None:
            if isinstance(self.keys, str):
                raise ConfigError("keys must be a list of keys, not one string")
            set_(self, "keys", tuple(self.keys))
        if isinstance(self.revoked, str):
            raise ConfigError("revoked must be a list of keys or key_ids, not one string")
        set_(self, "revoked", tuple(self.revoked))
        for name in ("revoke_after", "revoke_at", "faults"):
            value = getattr(self, name)
            if not isinstance(value, Mapping):
                raise ConfigError(f"{name} must be a mapping, got {type(value).__name__}")
            set_(self, name, MappingProxyType(dict(value)))
        _validate(self)

    @property
    def limits(self) -> KeyLimits:
        """Per-key limits: the plan preset with explicit overrides applied."""
        conc, rps, burst = PLAN_LIMITS[self.plan]
        rps = self.rps if self.rps is not None else rps
        burst = self.burst_rps if self.burst_rps is not None else max(burst, rps)
        return KeyLimits(self.concurrency or conc, rps, burst, self.burst_seconds)

    def replace(self, **overrides: Any) -> SandboxSettings:
        """A copy with ``overrides`` applied (validated); unknown names raise ConfigError."""
        _check_names(overrides, "override")
        return dataclasses.replace(self, **overrides)

    @classmethod
    def from_file(cls, path: str | Path, **overrides: Any) -> SandboxSettings:
        """Load settings from a JSON object file; ``overrides`` win over the file."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read sandbox config {str(path)!r}: {exc.strerror}") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"sandbox config {str(path)!r} is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"sandbox config {str(path)!r} must hold a JSON object")
        _check_names(data, f"setting in {str(path)!r}")
        return cls(**{**data, **overrides})


def parse_day(value: object) -> date | None:
    """``today``'s value as a date (None stays None); :class:`ConfigError` for anything else."""
    return calendar_day("today", value)


def _check_names(names: Mapping[str, Any], what: str) -> None:
    known = {f.name for f in dataclasses.fields(SandboxSettings)}
    unknown = sorted(set(names) - known)
    if unknown:
        raise ConfigError(
            f"unknown sandbox {what}: {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )


def _number(
    name: str, value: object, *, low: float, high: float = math.inf, open_low: bool = False
) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    if value < low or value > high or (open_low and value == low):
        bound = f"> {low:g}" if open_low else f">= {low:g}"
        if high != math.inf:
            bound += f" and <= {high:g}"
        raise ConfigError(f"{name} must be {bound}, got {value!r}")


def _choice(name: str, value: object, allowed: Mapping[str, object] | tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")


def _key_ref(name: str, ref: object) -> None:
    if not isinstance(ref, str) or not (_KEY_RE.fullmatch(ref) or _KEY_ID_RE.fullmatch(ref)):
        raise ConfigError(
            f"{name} entries must be keys (asa_test_ + 24 letters/digits) or key_ids "
            "(asa_test_ + 12), got a value of another shape"
        )


def _validate(s: SandboxSettings) -> None:
    if not isinstance(s.host, str) or not s.host:
        raise ConfigError("host must be a non-empty string")
    if isinstance(s.port, bool) or not isinstance(s.port, int) or not 0 <= s.port <= 65535:
        raise ConfigError(f"port must be an integer 0-65535 (0 = any free port), got {s.port!r}")
    for key in s.keys or ():
        if not isinstance(key, str) or not is_key_shaped(key):
            raise ConfigError("keys must be asa_test_/asa_live_ + 24 letters or digits; one is not")
    for ref in s.revoked:
        _key_ref("revoked", ref)
    for ref, n in s.revoke_after.items():
        _key_ref("revoke_after", ref)
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ConfigError(f"revoke_after values must be request counts >= 0, got {n!r}")
    for ref, t in s.revoke_at.items():
        _key_ref("revoke_at", ref)
        _number("revoke_at values", t, low=0)
    _choice("plan", s.plan, PLAN_LIMITS)
    if s.concurrency is not None and (
        isinstance(s.concurrency, bool) or not isinstance(s.concurrency, int) or s.concurrency < 1
    ):
        raise ConfigError(f"concurrency must be an integer >= 1, got {s.concurrency!r}")
    for name in ("rps", "burst_rps"):
        if getattr(s, name) is not None:
            _number(name, getattr(s, name), low=0, open_low=True)
    _number("burst_seconds", s.burst_seconds, low=0)
    if s.rps is not None and s.burst_rps is not None and s.burst_rps < s.rps:
        raise ConfigError(f"burst_rps ({s.burst_rps:g}) must be >= rps ({s.rps:g})")
    if s.credits is not None and (
        isinstance(s.credits, bool) or not isinstance(s.credits, int) or s.credits < 0
    ):
        raise ConfigError(f"credits must be an integer >= 0 or None (unlimited), got {s.credits!r}")
    _number("latency_median", s.latency_median, low=0, open_low=True)
    _number("latency_p95", s.latency_p95, low=s.latency_median)
    _number("latency_scale", s.latency_scale, low=0)
    if s.fixed_latency is not None:
        _number("fixed_latency", s.fixed_latency, low=0)
    if isinstance(s.seed, bool) or not isinstance(s.seed, int):
        raise ConfigError(f"seed must be an integer, got {s.seed!r}")
    for kind, rate in s.faults.items():
        _choice("faults keys", kind, FAULT_STATUS)
        _number(f"faults[{kind!r}]", rate, low=0, high=1)
    if sum(s.faults.values()) > 1 + 1e-9:
        raise ConfigError(f"fault rates add up to {sum(s.faults.values()):g}; they must total <= 1")
    if isinstance(s.retry_after, bool) or not isinstance(s.retry_after, int) or s.retry_after < 1:
        raise ConfigError(f"retry_after must be an integer >= 1 (seconds), got {s.retry_after!r}")
    _number("stall_seconds", s.stall_seconds, low=0)
    _number("not_found_rate", s.not_found_rate, low=0, high=1)
    _choice("product_shape", s.product_shape, ("docs", "sdk", "mixed"))
    _choice("error_style", s.error_style, ("docs", "nested", "upper"))
    _number("batch_start_delay", s.batch_start_delay, low=0)
    _number("batch_item_seconds", s.batch_item_seconds, low=0)
    _number("time_scale", s.time_scale, low=0)
    for name in ("strict_languages", "allow_http_webhooks", "flat_catalog"):
        if not isinstance(getattr(s, name), bool):
            raise ConfigError(f"{name} must be true or false, got {getattr(s, name)!r}")
