"""The 20 Amazon marketplaces the API serves, and validation of ``domain``/``language``/``country``.

The API wants the bare TLD in ``domain`` (``"de"``, ``"co.uk"``); people type ``"amazon.de"``,
``".de"`` or paste a URL, so :func:`normalize_domain` reduces all of those to the TLD and rejects
anything else with the allowed list. Invalid values raise :class:`~asa_bulk.ConfigError`.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple
from urllib.parse import urlsplit

from ._errors import ConfigError


class Marketplace(NamedTuple):
    """One marketplace: the ``domain`` value the API takes, its site, country and currency."""

    domain: str
    host: str
    country: str  # ISO 3166-1 alpha-2
    currency: str  # ISO 4217


def _mp(domain: str, country: str, currency: str) -> Marketplace:
    return Marketplace(domain, f"amazon.{domain}", country, currency)


#: The 20 ``domain`` values of api-reference §6.1, keyed by domain, in documented order.
MARKETPLACES: Final[dict[str, Marketplace]] = {
    m.domain: m
    for m in (
        _mp("com", "US", "USD"),
        _mp("co.uk", "GB", "GBP"),
        _mp("de", "DE", "EUR"),
        _mp("fr", "FR", "EUR"),
        _mp("it", "IT", "EUR"),
        _mp("es", "ES", "EUR"),
        _mp("nl", "NL", "EUR"),
        _mp("pl", "PL", "PLN"),
        _mp("se", "SE", "SEK"),
        _mp("ca", "CA", "CAD"),
        _mp("com.mx", "MX", "MXN"),
        _mp("com.br", "BR", "BRL"),
        _mp("com.au", "AU", "AUD"),
        _mp("co.jp", "JP", "JPY"),
        _mp("sg", "SG", "SGD"),
        _mp("in", "IN", "INR"),
        _mp("com.tr", "TR", "TRY"),
        _mp("ae", "AE", "AED"),
        _mp("sa", "SA", "SAR"),
        _mp("eg", "EG", "EGP"),
    )
}

#: The accepted ``domain`` values, in documented order.
DOMAINS: Final[tuple[str, ...]] = tuple(MARKETPLACES)

DEFAULT_DOMAIN: Final = "com"

#: The API's language format (``en_US``); the per-marketplace enum is undocumented (§6.2).
LANGUAGE_RE: Final = re.compile(r"^[a-z]{2}_[A-Z]{2}$")

# ISO 3166-1 alpha-2, the 249 assigned codes (as in tzdata's iso3166.tab).
_ISO_TEXT: Final = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR
    BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ
    EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW
    GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY
    KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV
    MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY
    QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG
    TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM
    ZW
"""
_ISO_COUNTRIES: Final = frozenset(_ISO_TEXT.split())

_ALLOWED = ", ".join(DOMAINS)
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://")
_AMAZON_HOST = re.compile(r"(?:^|\.)amazon\.([a-z.]+)$")


def domain_from_host(host: str) -> str | None:
    """The ``domain`` of an Amazon host (``www.amazon.co.uk`` -> ``"co.uk"``), else None.

    Any subdomain is accepted (``www.``, ``smile.``, ``m.``); a port or trailing dot is ignored.
    Hosts that are not one of the 20 marketplaces (``amazon.cn``, ``example.com``) give None.
    """
    host = host.strip().lower().rstrip(".")
    host = host.rsplit("@", 1)[-1].split(":", 1)[0]
    match = _AMAZON_HOST.search(host)
    if match is None:
        return None
    tld = match.group(1)
    return tld if tld in MARKETPLACES else None


def is_amazon_host(host: str) -> bool:
    """True when ``host`` is some ``amazon.<tld>`` site, supported or not."""
    host = host.strip().lower().rstrip(".").rsplit("@", 1)[-1].split(":", 1)[0]
    return _AMAZON_HOST.search(host) is not None


def normalize_domain(value: object) -> str:
    """The bare TLD for a marketplace given as ``de``, ``.de``, ``amazon.de``, ``www.amazon.de``
    or a URL (``https://www.amazon.co.uk/...``); case-insensitive.

    Raises :class:`ConfigError` naming the allowed values for anything else.
    """
    if not isinstance(value, str):
        raise ConfigError(f"domain must be text, got {value!r}; use one of: {_ALLOWED}")
    text = value.strip().lower()
    if text in MARKETPLACES:  # the common case, kept cheap
        return text
    if _SCHEME.match(text) or "/" in text:
        text = urlsplit(text if _SCHEME.match(text) else "//" + text).hostname or ""
    text = text.rstrip(".")
    found = domain_from_host(text) if "amazon." in text else text.lstrip(".")
    if found in MARKETPLACES:
        return found
    raise ConfigError(f"domain {value!r} is not a supported marketplace; use one of: {_ALLOWED}")


def normalize_language(value: object) -> str:
    """A language as the API wants it, ``xx_YY`` (``de-de`` and ``DE_de`` become ``de_DE``).

    Raises :class:`ConfigError` when the value is not two letters, ``_`` or ``-``, two letters.
    """
    if isinstance(value, str):
        text = value.strip().replace("-", "_")
        lang, sep, region = text.partition("_")
        text = f"{lang.lower()}{sep}{region.upper()}"
        if LANGUAGE_RE.match(text):
            return text
    raise ConfigError(f"language {value!r} is not of the form 'xx_YY' (e.g. 'en_US', 'de_DE')")


def normalize_country(value: object) -> str:
    """An ISO 3166-1 alpha-2 country code, upper-cased (``de`` -> ``"DE"``).

    Raises :class:`ConfigError` for anything that is not an assigned code (``UK`` included:
    the code for the United Kingdom is ``GB``).
    """
    if isinstance(value, str):
        text = value.strip().upper()
        if text in _ISO_COUNTRIES:
            return text
        if text == "UK":
            raise ConfigError("country 'UK' is not an ISO 3166-1 code; use 'GB'")
    raise ConfigError(f"country {value!r} is not an ISO 3166-1 alpha-2 code (e.g. 'US', 'DE')")
