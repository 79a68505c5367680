"""Run settings: one validated value object, resolved argument > environment > .env > default.

Every option of :func:`asa_bulk.fetch_products` (and of the CLI) has an ``ASA_*`` variable, so a
scheduled job can be configured entirely from its environment or a ``.env`` file.
"""

from __future__ import annotations

import ipaddress
import math
import numbers
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from ._envfile import DEFAULT_ENV_FILE, read_env_file
from ._errors import ConfigError
from ._keys import redact

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
    "allow_insecure_http": "ASA_ALLOW_INSECURE_HTTP",
    "max_credits": "ASA_MAX_CREDITS",
    "retry_delay_scale": "ASA_RETRY_DELAY_SCALE",
}


@dataclass(frozen=True, slots=True)
class Settings:
    """Validated run settings (keys are resolved separately, see ``_keys.resolve_keys``).

    ``concurrency``/``rps`` of None mean "start at the Free plan's limits and adapt to the
    service's headers"; a number pins that limit for every key. ``allow_insecure_http`` lets a
    plain ``http://`` ``base_url`` point at a host other than this machine.
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
    allow_insecure_http: bool = False
    max_credits: int | None = None
    retry_delay_scale: float = 1.0

    def __post_init__(self) -> None:
        from ._marketplaces import normalize_country, normalize_domain, normalize_language

        set_ = object.__setattr__
        for f in fields(self):
            check, value = _CHECKS.get(f.name), getattr(self, f.name)
            if check is not None and not (value is None and f.default is None):
                set_(self, f.name, check(f.name, value))
        set_(self, "base_url", _check_base_url(self.base_url, self.allow_insecure_http))
        set_(self, "domain", normalize_domain(self.domain))
        if self.language is not None:
            set_(self, "language", normalize_language(self.language))
        if self.country is not None:
            set_(self, "country", normalize_country(self.country))
        if self.auth not in ("bearer", "query"):
            raise ConfigError(f"auth must be 'bearer' or 'query', got {self.auth!r}")


def _shown(url: str) -> str:
    """``url`` for an error message, without the parts that may hold a secret."""
    url = re.sub(r"^([^/?#]*//)?[^/?#]*@", r"\1…@", url)  # user:password@
    return redact(re.sub(r"[?#].*", "…", url))


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback  # 127.0.0.0/8, ::1
    except ValueError:
        return False


def _check_base_url(url: object, allow_insecure_http: bool) -> str:
    """``url`` as the API root, without surrounding space or a trailing ``/``.

    Every request carries the key, so the root may hold no credentials, query or fragment (a
    secret there would be echoed or sent along, and the path would be appended after it), and
    plain http may only reach this machine unless explicitly allowed. Errors never quote the
    URL's user:password@ or query.
    """
    if not isinstance(url, str):
        raise ConfigError(f"base_url must be a string, got {type(url).__name__}")
    url = url.strip().rstrip("/")
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        raise ConfigError("base_url must not contain whitespace or control characters")
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed [ of an IPv6 address
        raise ConfigError(f"base_url is not a valid URL: {_shown(url)!r}") from None
    if "@" in parts.netloc or (not parts.netloc and "@" in url.split("/", 1)[0]):
        raise ConfigError(
            "base_url must not contain credentials (user:password@host): the API key is the only "
            "credential, and a URL's userinfo would be sent and logged with it"
        )
    if "?" in url or "#" in url:
        raise ConfigError(
            "base_url must not have a query string or fragment: it is the API root, "
            "e.g. https://api.amazonscraperapi.com"
        )
    if parts.scheme not in ("http", "https"):
        raise ConfigError(f"base_url must start with http:// or https://, got {_shown(url)!r}")
    if not parts.hostname:
        raise ConfigError(f"base_url has no host: {_shown(url)!r}")
    try:
        _ = parts.port  # parsed on access: a malformed or out-of-range port raises
    except ValueError:
        raise ConfigError(f"base_url has a malformed port: {_shown(url)!r}") from None
    if parts.scheme == "http" and not allow_insecure_http and not _is_loopback(parts.hostname):
        raise ConfigError(
            f"base_url {_shown(url)!r} is plain http to another machine: the API key would cross "
            "the network unencrypted. Use https, or opt in with allow_insecure_http=True "
            "(ASA_ALLOW_INSECURE_HTTP=1, --allow-insecure-http)"
        )
    return parts.scheme + url[len(parts.scheme) :]  # the scheme in lower case


def _whole(name: str, value: object, *, minimum: int) -> int:
    """An integer setting: a whole number (not a bool, not 2.5) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(f"{name} must be a whole number, got {value!r}")
    if value < minimum:
        raise ConfigError(f"{name} must be {minimum} or more, got {value}")
    return int(value)


def _real(name: str, value: object, *, zero_ok: bool) -> float:
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


#: The check of each numeric or boolean option (it also normalises the type). One definition
#: serves the keyword arguments, the ``ASA_*`` variables, ``.env`` and the command line's flags.
_CHECKS: Final[dict[str, Callable[[str, Any], Any]]] = {
    "concurrency": lambda name, value: _whole(name, value, minimum=1),
    "max_attempts": lambda name, value: _whole(name, value, minimum=1),
    "max_credits": lambda name, value: _whole(name, value, minimum=0),
    "rps": lambda name, value: _real(name, value, zero_ok=False),
    "timeout": lambda name, value: _real(name, value, zero_ok=False),
    "max_item_seconds": lambda name, value: _real(name, value, zero_ok=False),
    "max_wait": lambda name, value: _real(name, value, zero_ok=False),
    "retry_delay_scale": lambda name, value: _real(name, value, zero_ok=True),
    "allow_insecure_http": lambda name, value: _flag(name, value),
}


def _parse_int(text: str) -> int:
    return int(text.strip())


def _parse_float(text: str) -> float:
    return float(text.strip())


def _parse_text(text: str) -> str:
    return text.strip()


_BOOLEANS: Final = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


def _parse_bool(text: str) -> bool:
    try:
        return _BOOLEANS[text.strip().lower()]
    except KeyError:
        raise ValueError(text) from None


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be True or False, got {value!r}")
    return value


_PARSERS: Final[dict[str, Callable[[str], Any]]] = {
    "concurrency": _parse_int,
    "max_attempts": _parse_int,
    "max_credits": _parse_int,
    "rps": _parse_float,
    "timeout": _parse_float,
    "max_item_seconds": _parse_float,
    "max_wait": _parse_float,
    "retry_delay_scale": _parse_float,
    "allow_insecure_http": _parse_bool,
}


def parse_setting(name: str, text: str, *, source: str) -> Any:
    """Option ``name`` written as ``text`` in ``source`` (an ``ASA_*`` variable, a command-line
    flag), parsed and checked like the keyword argument; a ConfigError names the source."""
    try:
        value = _PARSERS.get(name, _parse_text)(text)
    except ValueError:
        raise ConfigError(f"{source}={text!r} is not a valid value for {name}") from None
    check = _CHECKS.get(name)
    if check is None:
        return value
    try:
        return check(name, value)
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
    known = {f.name for f in fields(Settings)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ConfigError(
            f"unknown option(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    env = os.environ if environ is None else environ
    dotenv = read_env_file(env_file)
    values: dict[str, Any] = {}
    for name in known:
        value = overrides.get(name)
        if value is not None:
            values[name] = value
            continue
        var = ENV_NAMES.get(name)
        text = (env.get(var) or dotenv.get(var)) if var else None
        if var is None or text is None or not text.strip():
            continue
        values[name] = parse_setting(name, text, source=var)
    return Settings(**values)
