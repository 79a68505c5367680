"""Run settings: one validated value object, resolved argument > environment > .env > default.

Every option of :func:`asa_bulk.fetch_products` (and of the CLI) has an ``ASA_*`` variable, so a
scheduled job can be configured entirely from its environment or a ``.env`` file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Final, Literal

from dotenv import dotenv_values

from ._errors import ConfigError

DEFAULT_BASE_URL: Final = "https://api.amazonscraperapi.com"

#: Safe starting limits per key: the smallest plan (Free: 10 in flight, 2 requests/s sustained).
#: Unless pinned by the caller, each key's limits then follow the ``Asa-Concurrency`` and
#: ``Asa-Rps`` headers the service returns.
DEFAULT_CONCURRENCY: Final = 10
DEFAULT_RPS: Final = 2.0

AuthMode = Literal["bearer", "query"]

#: Option name -> environment variable.
ENV_NAMES: Final = {
    "base_url": "ASA_BASE_URL",
    "domain": "ASA_DOMAIN",
    "language": "ASA_LANGUAGE",
    "country": "ASA_COUNTRY",
    "concurrency": "ASA_CONCURRENCY",
    "rps": "ASA_RPS",
    "timeout": "ASA_TIMEOUT",
    "max_attempts": "ASA_MAX_ATTEMPTS",
    "max_item_seconds": "ASA_MAX_ITEM_SECONDS",
    "max_wait": "ASA_MAX_WAIT",
    "auth": "ASA_AUTH",
    "max_credits": "ASA_MAX_CREDITS",
    "retry_delay_scale": "ASA_RETRY_DELAY_SCALE",
}


@dataclass(frozen=True, slots=True)
class Settings:
    """Validated run settings (keys are resolved separately, see ``_keys.resolve_keys``).

    ``concurrency``/``rps`` of None mean "start at the Free plan's limits and adapt to the
    service's headers"; a number pins that limit for every key.
    """

    base_url: str = DEFAULT_BASE_URL
    domain: str = "com"
    language: str | None = None
    country: str | None = None
    concurrency: int | None = None
    rps: float | None = None
    timeout: float = 60.0
    max_attempts: int = 4
    max_item_seconds: float = 600.0
    max_wait: float = 300.0
    auth: AuthMode = "bearer"
    max_credits: int | None = None
    retry_delay_scale: float = 1.0

    def __post_init__(self) -> None:
        from ._marketplaces import normalize_country, normalize_domain, normalize_language

        set_ = object.__setattr__
        url = self.base_url.strip().rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"base_url must start with http:// or https://, got {url!r}")
        set_(self, "base_url", url)
        set_(self, "domain", normalize_domain(self.domain))
        if self.language is not None:
            set_(self, "language", normalize_language(self.language))
        if self.country is not None:
            set_(self, "country", normalize_country(self.country))
        if self.auth not in ("bearer", "query"):
            raise ConfigError(f"auth must be 'bearer' or 'query', got {self.auth!r}")
        _check_positive("concurrency", self.concurrency)
        _check_positive("rps", self.rps)
        _check_positive("timeout", self.timeout)
        _check_positive("max_attempts", self.max_attempts)
        _check_positive("max_item_seconds", self.max_item_seconds)
        _check_positive("max_wait", self.max_wait)
        if self.max_credits is not None and self.max_credits < 0:
            raise ConfigError(f"max_credits must be 0 or more, got {self.max_credits}")
        if self.retry_delay_scale < 0:
            raise ConfigError(f"retry_delay_scale must be 0 or more, got {self.retry_delay_scale}")


def _check_positive(name: str, value: float | None) -> None:
    if value is not None and not value > 0:
        raise ConfigError(f"{name} must be greater than 0, got {value}")


def _parse_int(text: str) -> int:
    return int(text.strip())


def _parse_float(text: str) -> float:
    return float(text.strip())


def _parse_text(text: str) -> str:
    return text.strip()


_PARSERS: Final[dict[str, Callable[[str], Any]]] = {
    "concurrency": _parse_int,
    "max_attempts": _parse_int,
    "max_credits": _parse_int,
    "rps": _parse_float,
    "timeout": _parse_float,
    "max_item_seconds": _parse_float,
    "max_wait": _parse_float,
    "retry_delay_scale": _parse_float,
}


def resolve_settings(
    overrides: Mapping[str, Any],
    *,
    environ: Mapping[str, str] | None = None,
    env_file: str | os.PathLike[str] | None = ".env",
) -> Settings:
    """Build :class:`Settings`: a non-None value in ``overrides`` wins, then the ``ASA_*``
    environment variable, then the same variable in ``env_file``, then the default.

    Raises :class:`ConfigError` naming the option (and the variable it came from) when a value
    is malformed, and for unknown option names.
    """
    known = {f.name for f in fields(Settings)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ConfigError(
            f"unknown option(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    env = os.environ if environ is None else environ
    dotenv: Mapping[str, str | None] = {}
    if env_file is not None and Path(env_file).is_file():
        dotenv = dotenv_values(env_file)
    values: dict[str, Any] = {}
    for name in known:
        value = overrides.get(name)
        if value is not None:
            values[name] = value
            continue
        var = ENV_NAMES.get(name)
        text = (env.get(var) or dotenv.get(var)) if var else None
        if text is None or not text.strip():
            continue
        try:
            values[name] = _PARSERS.get(name, _parse_text)(text)
        except ValueError:
            raise ConfigError(f"{var}={text!r} is not a valid value for {name}") from None
    return Settings(**values)
