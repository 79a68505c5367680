"""The ``base_url`` check: the API root, safe to send a key to.

Every request carries the key, so the root may hold no credentials, query or fragment, and plain
http may only reach this machine unless ``allow_insecure_http`` says otherwise. Errors never
quote a URL's ``user:password@`` or query.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Final
from urllib.parse import urlsplit

from ._errors import ConfigError
from ._keys import redact

DEFAULT_BASE_URL: Final = "https://api.amazonscraperapi.com"


def _shown(url: str) -> str:
    """``url`` for an error message, without the parts that may hold a secret."""
    url = re.sub(r"^([^/?#]*//)?[^/?#]*@", r"\1…@", url)  # user:password@
    return redact(re.sub(r"[?#].*", "…", url))


def is_loopback(host: str) -> bool:
    """``localhost``, or an address in 127.0.0.0/8 or ``::1``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback  # 127.0.0.0/8, ::1
    except ValueError:
        return False


def check_base_url(url: object, allow_insecure_http: bool) -> str:
    """``url`` as the API root, without surrounding space or a trailing ``/``.

    A secret in the userinfo, query or fragment would be echoed or sent along (and the path
    would be appended after a query), so those are refused; so is plain http to another host
    unless ``allow_insecure_http``.
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
    if parts.scheme == "http" and not allow_insecure_http and not is_loopback(parts.hostname):
        raise ConfigError(
            f"base_url {_shown(url)!r} is plain http to another machine: the API key would cross "
            "the network unencrypted. Use https, or opt in with allow_insecure_http=True "
            "(ASA_ALLOW_INSECURE_HTTP=1, --allow-insecure-http)"
        )
    return parts.scheme + url[len(parts.scheme) :]  # the scheme in lower case
