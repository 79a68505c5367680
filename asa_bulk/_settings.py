"""Run settings: one validated value object, resolved argument > environment > .env > default.

Every setting of :func:`asa_bulk.fetch_products` (and of the CLI) has an ``ASA_*`` variable, so
a scheduled job can be configured entirely from its environment or a ``.env`` file. What each
setting is (type, default, variable, checks) is declared once, in ``_options``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ._baseurl import DEFAULT_BASE_URL
from ._envfile import DEFAULT_ENV_FILE, read_env_file
from ._errors import ConfigError
from ._options import DEFAULT_CONCURRENCY, DEFAULT_RPS, DEFAULTS, ENV_NAMES, OPTIONS, SETTINGS

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_RPS",
    "ENV_NAMES",
    "AuthMode",
    "Settings",
    "parse_setting",
    "resolve_settings",
]

AuthMode = Literal["bearer", "query"]


@dataclass(frozen=True, slots=True)
class Settings:
    """Validated run settings (keys are resolved separately, see ``_keys.resolve_keys``).

    ``concurrency``/``rps`` of None mean "start at the Free plan's limits and adapt to the
    service's headers"; a number pins that limit for every key. ``allow_insecure_http`` lets a
    plain ``http://`` ``base_url`` point at a host other than this machine. Fields, types and
    defaults follow ``_options.SETTINGS`` (a test holds them to it).
    """

    base_url: str = DEFAULTS["base_url"]
    domain: str = DEFAULTS["domain"]
    language: str | None = DEFAULTS["language"]
    country: str | None = DEFAULTS["country"]
    concurrency: int | None = DEFAULTS["concurrency"]
    rps: float | None = DEFAULTS["rps"]
    timeout: float = DEFAULTS["timeout"]
    max_attempts: int = DEFAULTS["max_attempts"]
    max_item_seconds: float = DEFAULTS["max_item_seconds"]
    max_wait: float = DEFAULTS["max_wait"]
    auth: AuthMode = DEFAULTS["auth"]
    allow_insecure_http: bool = DEFAULTS["allow_insecure_http"]
    max_credits: int | None = DEFAULTS["max_credits"]
    retry_delay_scale: float = DEFAULTS["retry_delay_scale"]
    batch_size: int = DEFAULTS["batch_size"]
    batch_poll_seconds: float = DEFAULTS["batch_poll_seconds"]
    batch_deadline: float = DEFAULTS["batch_deadline"]
    batch_retry: str = DEFAULTS["batch_retry"]

    def __post_init__(self) -> None:
        # Every value's own check first, then the normalisations (base_url's reads the checked
        # allow_insecure_http). None stays None where it is the default ("unset").
        for stage in ("check", "normalize"):
            for option in SETTINGS:
                step, value = getattr(option, stage), getattr(self, option.name)
                if step is None or (value is None and option.default is None):
                    continue
                checked = step(option.name, value) if stage == "check" else step(value, self)
                object.__setattr__(self, option.name, checked)


def parse_setting(name: str, text: str, *, source: str) -> Any:
    """Option ``name`` written as ``text`` in ``source`` (an ``ASA_*`` variable, a command-line
    flag), parsed and checked like the keyword argument; a ConfigError names the source."""
    option = OPTIONS[name]
    try:
        value = option.parse(text)
    except ValueError:
        raise ConfigError(f"{source}={text!r} is not a valid value for {name}") from None
    if option.check is None:
        return value
    try:
        return option.check(name, value)
    except ConfigError as exc:
        raise ConfigError(f"{source}={text!r}: {exc}") from None


def resolve_settings(
    overrides: Mapping[str, Any],
    *,
    environ: Mapping[str, str] | None = None,
    env_file: str | os.PathLike[str] | None = DEFAULT_ENV_FILE,
) -> Settings:
    """Build :class:`Settings`: a non-None value in ``overrides`` wins, then the ``ASA_*``
    environment variable, then the same variable in ``env_file``, then the default.

    Raises :class:`ConfigError` naming the option (and the variable it came from) when a value
    is malformed, and for unknown option names.
    """
    unknown = sorted(set(overrides) - set(ENV_NAMES))
    if unknown:
        raise ConfigError(
            f"unknown option(s): {', '.join(unknown)}; known: {', '.join(sorted(ENV_NAMES))}"
        )
    env = os.environ if environ is None else environ
    dotenv = read_env_file(env_file)
    values: dict[str, Any] = {}
    for name, var in ENV_NAMES.items():
        value = overrides.get(name)
        if value is not None:
            values[name] = value
            continue
        text = env.get(var) or dotenv.get(var)
        if text is None or not text.strip():
            continue
        values[name] = parse_setting(name, text, source=var)
    return Settings(**values)
