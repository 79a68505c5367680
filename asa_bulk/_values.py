"""One option's value: its text parsed (from an ``ASA_*`` variable or a flag), its value checked.

A check takes the option's name and a value, returns the value in its proper type and raises
:class:`ConfigError` naming the option; the same check serves keyword arguments, variables,
``.env`` and flags. A parser turns text into a value and raises ValueError when it cannot.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, Final

from ._errors import AsaBulkError, ConfigError

#: ``check(name, value) -> value``.
Check = Callable[[str, Any], Any]
#: ``parse(text) -> value``; raises ValueError.
Parse = Callable[[str], Any]


def whole(name: str, value: object, *, minimum: int) -> int:
    """An integer setting: a whole number (not a bool, not 2.5) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(f"{name} must be a whole number, got {value!r}")
    if value < minimum:
        raise ConfigError(f"{name} must be {minimum} or more, got {value}")
    return int(value)


def real(name: str, value: object, *, zero_ok: bool) -> float:
    """A float setting: a finite number above 0 (or 0 and above when ``zero_ok``).

    NaN and infinities would pass a plain ``> 0`` check and then busy-loop or overflow.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    try:
        number = float(value)
    except OverflowError:  # an int beyond the float range
        number = math.inf
    if not math.isfinite(number):
        raise ConfigError(f"{name} must be a finite number, got {number}")
    if number < 0 or (number == 0 and not zero_ok):
        raise ConfigError(f"{name} must be {'0 or more' if zero_ok else 'above 0'}, got {number:g}")
    return number


def flag(name: str, value: object) -> bool:
    """A boolean setting: True or False only (not 1, not "yes": the text parser does those)."""
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be True or False, got {value!r}")
    return value


def one_of(name: str, value: object, choices: tuple[str, ...]) -> str:
    """A setting with a fixed set of values."""
    if value not in choices:
        allowed = " or ".join(repr(choice) for choice in choices)
        raise ConfigError(f"{name} must be {allowed}, got {value!r}")
    return str(value)


def parse_int(text: str) -> int:
    return int(text.strip())


def parse_float(text: str) -> float:
    return float(text.strip())


def parse_text(text: str) -> str:
    return text.strip()


_BOOLEANS: Final = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


def parse_bool(text: str) -> bool:
    try:
        return _BOOLEANS[text.strip().lower()]
    except KeyError:
        raise ValueError(text) from None


def calendar_day(
    name: str,
    value: object,
    *,
    error: type[AsaBulkError] = ConfigError,
    datetimes: bool = False,
) -> date | None:
    """A day given as a date or ``YYYY-MM-DD`` text (a datetime too when ``datetimes``: its
    date); None stays None. Anything else raises ``error`` naming ``name``."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if datetimes:
            return value.date()
    elif isinstance(value, date):
        return value
    elif isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise error(f"{name} must be a date or 'YYYY-MM-DD', got {value!r}")
