"""Query-parameter validation for the product and search endpoints (also used for batch items).

Rules (API reference §2.1/§2.2): ``query`` is a 10-character ASIN of ``[A-Z0-9]`` (ASINs are
case-sensitive) or an Amazon product URL (``/dp/ASIN``, ``/gp/product/ASIN``); ``domain`` is one
of the 20 bare TLDs (default ``com``; a URL's own marketplace is used when ``domain`` is absent);
``language`` matches ``xx_YY``; ``add_html`` is ``true``/``false``; ``country`` is ISO alpha-2;
``render_js``/``screenshot`` answer 501. Search: ``sort_by`` enum, ``start_page`` and ``pages``
integers 1-10. Unknown parameters are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from ._catalog import LANGUAGES, MARKETS

SORTS: Final = ("best_match", "price_asc", "price_desc", "avg_customer_review", "newest")
_ASIN = re.compile(r"[A-Z0-9]{10}")
_LANG = re.compile(r"[a-z]{2}_[A-Z]{2}")
_URL_ASIN = re.compile(r"/(?:dp|gp/product|gp/aw/d|product)/([A-Za-z0-9]{10})(?:[/?#]|$)")
_DOMAINS = ", ".join(MARKETS)


class ParamError(Exception):
    """A parameter is wrong: ``status`` 400 ``invalid_params`` (or 501 ``not_implemented``)."""

    def __init__(self, message: str, status: int = 400, code: str = "invalid_params") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True, slots=True)
class ProductParams:
    asin: str
    domain: str
    language: str | None
    country: str | None
    add_html: bool


@dataclass(frozen=True, slots=True)
class SearchParams:
    query: str
    domain: str
    sort_by: str
    start_page: int
    pages: int
    language: str | None


def _domain(params: Mapping[str, str], default: str = "com") -> str:
    domain = params.get("domain", default)
    if domain not in MARKETS:
        raise ParamError(
            f"domain must be one of {_DOMAINS} (bare TLD, e.g. 'co.uk'), got {domain!r}"
        )
    return domain


def _language(params: Mapping[str, str], domain: str, strict: bool) -> str | None:
    language = params.get("language")
    if language is None:
        return None
    if not _LANG.fullmatch(language):
        raise ParamError(f"language must look like xx_YY (e.g. en_US), got {language!r}")
    if strict and language not in LANGUAGES[domain]:
        raise ParamError(
            f"language {language!r} is not served on amazon.{domain}; "
            f"use one of {', '.join(sorted(LANGUAGES[domain]))}"
        )
    return language


def _reserved(params: Mapping[str, str]) -> None:
    for name in ("render_js", "screenshot"):
        if params.get(name, "false").lower() not in ("false", "0", ""):
            raise ParamError(f"{name} is not implemented yet (planned)", 501, "not_implemented")


def _query_asin(query: str | None) -> tuple[str, str | None]:
    """ASIN and (for a URL) its marketplace from ``query``."""
    if query is None or query == "":
        raise ParamError("query is required: a 10-character ASIN or an Amazon URL")
    if _ASIN.fullmatch(query):
        return query, None
    if query.startswith(("http://", "https://")):
        parts = urlsplit(query)
        host = (parts.hostname or "").removeprefix("www.").removeprefix("smile.")
        domain = host.removeprefix("amazon.") if host.startswith("amazon.") else None
        match = _URL_ASIN.search(parts.path)
        if domain in MARKETS and match and _ASIN.fullmatch(match.group(1)):
            return match.group(1), domain
    raise ParamError(f"query must be a 10-character ASIN or an Amazon URL, got {query[:60]!r}")


def product_params(params: Mapping[str, str], *, strict_languages: bool = False) -> ProductParams:
    """Validate product parameters or raise :class:`ParamError`."""
    _reserved(params)
    asin, url_domain = _query_asin(params.get("query"))
    domain = _domain(params, url_domain or "com")
    language = _language(params, domain, strict_languages)
    add_html = params.get("add_html", "false")
    if add_html not in ("true", "false"):
        raise ParamError(f"add_html must be true or false, got {add_html!r}")
    country = params.get("country")
    if country is not None:
        if not (len(country) == 2 and country.isascii() and country.isalpha()):
            raise ParamError(f"country must be an ISO 3166 alpha-2 code (e.g. DE), got {country!r}")
        country = country.upper()
    return ProductParams(asin, domain, language, country, add_html == "true")


def _page_number(params: Mapping[str, str], name: str) -> int:
    raw = params.get(name, "1")
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 10:
        raise ParamError(f"{name} must be an integer between 1 and 10, got {raw!r}")
    return int(raw)


def search_params(params: Mapping[str, str], *, strict_languages: bool = False) -> SearchParams:
    """Validate search parameters or raise :class:`ParamError`."""
    _reserved(params)
    query = params.get("query", "").strip()
    if not query:
        raise ParamError("query is required: the keywords to search for")
    if len(query) > 500:
        raise ParamError("query must be at most 500 characters")
    domain = _domain(params)
    sort_by = params.get("sort_by", "best_match")
    if sort_by not in SORTS:
        raise ParamError(f"sort_by must be one of {', '.join(SORTS)}, got {sort_by!r}")
    return SearchParams(
        query,
        domain,
        sort_by,
        _page_number(params, "start_page"),
        _page_number(params, "pages"),
        _language(params, domain, strict_languages),
    )
