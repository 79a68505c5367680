"""Input hygiene: turn whatever the caller passed into one :class:`InputRow` per item, lazily.

Each item becomes a :class:`~asa_bulk._records.ProductRequest` (ASIN trimmed and upper-cased,
URLs reduced to their ASIN and marketplace) or, when it cannot be sent, an invalid row with a
local error code (``invalid_asin``, ``invalid_domain``, ``invalid_language``,
``invalid_country``) and a message naming the row. A bad item never raises; only input that
cannot be read at all (a bare string, a DataFrame without ``asin``) raises :class:`InputError`,
and bad defaults raise :class:`ConfigError` before anything is yielded.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from itertools import repeat
from typing import Any, Final, cast
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

from ._errors import ConfigError, InputError
from ._marketplaces import (
    DOMAINS,
    domain_from_host,
    is_amazon_host,
    normalize_country,
    normalize_domain,
    normalize_language,
)
from ._records import ProductRequest

RAW_MAX_CHARS: Final = 200

_ASIN_RE: Final = re.compile(r"[A-Z0-9]{10}")
# Invisible characters that ride along with copy-paste and spreadsheets: BOM, zero-width
# space/joiners, word joiner, soft hyphen. They are removed anywhere in the item.
_INVISIBLE: Final = dict.fromkeys(map(ord, "\ufeff\u200b\u200c\u200d\u2060\u00ad"))
# The product path forms Amazon uses; the ASIN is the segment after the marker.
_URL_ASIN_RE: Final = re.compile(
    r"/(?:dp|gp/product|gp/aw/d|exec/obidos/asin|exec/obidos/tg/detail/-|product|o/asin)"
    r"/([a-z0-9]{10})(?=[/?#&;]|$)",
    re.IGNORECASE,
)
_SCHEME_RE: Final = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_SHORT_HOSTS: Final = ("amzn.to", "amzn.eu", "amzn.asia", "a.co")
_ALLOWED: Final = ", ".join(DOMAINS)


@dataclass(frozen=True, slots=True)
class InputRow:
    """One input item, validated. ``request`` is None when the row is invalid (never sent).

    ``asin``/``domain``/``language``/``country`` hold the parts that were valid, so an invalid
    row can still show e.g. its ASIN when only its domain was wrong.
    """

    index: int  # position in the input, 0-based (messages say ``row index+1``)
    raw: str  # the original item as text (truncated to RAW_MAX_CHARS), for reporting
    request: ProductRequest | None  # None when the row is invalid (never sent)
    error: str | None = None  # local error code when invalid
    message: str | None = None  # human message naming the row and what is wrong
    asin: str | None = None
    domain: str | None = None
    language: str | None = None
    country: str | None = None


def _is_missing(value: object) -> bool:
    """None, NaN, pd.NA or NaT (what a DataFrame cell holds when it is empty)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float | np.floating) and math.isnan(value)


def _raw_text(value: object) -> str:
    if _is_missing(value):
        return ""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = value if isinstance(value, str) else str(value)
    return text[:RAW_MAX_CHARS]


def _short(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def _parse_item(value: object) -> tuple[str | None, str | None, str | None]:
    """``(asin, url_domain, problem)``: the ASIN, the domain a URL's host implies, or a problem.

    ``problem`` is a message fragment; ``url_domain`` is ``""`` for an unsupported Amazon host.
    """
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        if _is_missing(value):
            return None, None, f"the item is empty ({value}); expected an ASIN or a product URL"
        if isinstance(value, numbers.Number) and not isinstance(value, bool | np.bool_):
            problem = f"{value!r} is a number, not text; pass ASINs and ISBN-10s as strings"
            return None, None, problem + " (a number loses leading zeros)"
        return None, None, f"{type(value).__name__} {_short(str(value))} is not an ASIN"
    text = value.translate(_INVISIBLE).strip()
    upper = text.upper()
    if len(upper) == 10 and _ASIN_RE.fullmatch(upper):
        return upper, None, None
    if not text:
        return None, None, "the item is empty; expected an ASIN or an Amazon product URL"
    if "/" in text:
        return _parse_url(text)
    if 8 <= len(upper) <= 12 and upper.isalnum() and upper.isascii():  # a near miss: say why
        problem = f"{_short(text)} has {len(text)} characters; an ASIN has exactly 10"
        return None, None, problem + " letters/digits"
    return None, None, f"{_short(text)} is not an ASIN (10 letters/digits) or an Amazon product URL"


def _parse_url(text: str) -> tuple[str | None, str | None, str | None]:
    has_scheme = _SCHEME_RE.match(text) is not None
    if has_scheme or not text.startswith("/"):
        try:
            parts = urlsplit(text if has_scheme else "//" + text)
            host = parts.hostname or ""
        except ValueError:  # e.g. a malformed IPv6 host
            host, parts = "", None
        path = parts.path if parts is not None else ""
    else:  # a bare path such as /dp/B0..., marketplace from the row/defaults
        host, path = "", text
    if host and host.removeprefix("www.") in _SHORT_HOSTS:
        return None, None, f"{_short(text)} is a short link; pass the product URL or ASIN"
    if host and not is_amazon_host(host):
        return None, None, f"{_short(text)} is not an Amazon product URL"
    match = _URL_ASIN_RE.search(path)
    if match is None:
        problem = f"{_short(text)} is not an ASIN (10 letters/digits) or an Amazon product URL"
        return None, None, problem + " (/dp/ASIN, /gp/product/ASIN)"
    asin = match.group(1).upper()
    if not host:
        return asin, None, None
    domain = domain_from_host(host)
    if domain is None:
        return asin, "", f"{host!r} is not a supported marketplace; use one of: {_ALLOWED}"
    return asin, domain, None


@lru_cache(maxsize=256)
def _checked(kind: str, value: str) -> tuple[str | None, str | None]:
    """Per-row column values repeat a lot; validate each distinct one once."""
    try:
        if kind == "domain":
            return normalize_domain(value), None
        if kind == "language":
            return normalize_language(value), None
        return normalize_country(value), None
    except ConfigError as exc:
        return None, str(exc)


def _cell(kind: str, value: object, default: str | None) -> tuple[str | None, str | None]:
    """A per-row override: missing/blank means the default; otherwise validated."""
    if _is_missing(value) or (isinstance(value, str) and not value.strip()):
        return default, None
    if not isinstance(value, str):
        return None, f"{kind} {value!r} is not text"
    return _checked(kind, value)


def _row(
    index: int,
    item: object,
    domain: object,
    language: object,
    country: object,
    defaults: tuple[str, str | None, str | None],
    labels: pd.Index | None = None,
) -> InputRow:
    if type(item) is str and domain is None and language is None and country is None:
        # The common case (a clean ASIN, no per-row overrides) skips the general path.
        upper = item.strip().upper()
        if len(upper) == 10 and _ASIN_RE.fullmatch(upper):
            dom0, lang0, ctry0 = defaults
            request = ProductRequest(upper, dom0, lang0, ctry0)
            return InputRow(index, item[:RAW_MAX_CHARS], request, None, None, upper, *defaults)
    asin, url_domain, problem = _parse_item(item)
    problems: list[tuple[str, str]] = []
    if problem is not None:
        problems.append(("invalid_domain" if url_domain == "" else "invalid_asin", problem))
    if url_domain:  # the URL's host is the product's marketplace: it wins
        dom: str | None = url_domain
    else:
        dom, bad = _cell("domain", domain, defaults[0])
        if bad:
            problems.append(("invalid_domain", bad))
        if url_domain == "":
            dom = None
    lang, bad = _cell("language", language, defaults[1])
    if bad:
        problems.append(("invalid_language", bad))
    ctry, bad = _cell("country", country, defaults[2])
    if bad:
        problems.append(("invalid_country", bad))
    raw = _raw_text(item)
    if not problems and asin is not None and dom is not None:
        return InputRow(
            index, raw, ProductRequest(asin, dom, lang, ctry), None, None, asin, dom, lang, ctry
        )
    message = f"{_where(index, labels)}: " + "; ".join(text for _, text in problems)
    return InputRow(index, raw, None, problems[0][0], message, asin, dom, lang, ctry)


def _where(index: int, labels: pd.Index | None) -> str:
    """``row 3``: the 1-based position a user counts to; ``row 3 (index 'sku-17')`` when the
    input's index labels the row with something else."""
    if labels is None:
        return f"row {index + 1}"
    (label,) = labels[index : index + 1].tolist()  # Python scalars: 10, not np.int64(10)
    return f"row {index + 1} (index {label!r})"


def _labels(items: object) -> pd.Index | None:
    """The input's index when it says more than the position (not the default 0..n-1)."""
    index = input_index(items)
    return None if index is None or index.equals(pd.RangeIndex(len(index))) else index


_Cells = tuple[object, object, object, object]
_SLICE_ROWS: Final = 65_536
_FRAME_COLUMNS: Final = ("asin", "domain", "language", "country")


def frame_cells(frame: pd.DataFrame, columns: tuple[str, ...]) -> Iterator[tuple[object, ...]]:
    """The cells of ``columns`` per DataFrame row (the first is required, a missing other one
    gives None); column names match loosely (case, surrounding spaces)."""
    by_name: dict[str, Any] = {}
    for column in frame.columns:
        name = str(column).strip().lower()
        if name in by_name and name in columns:
            raise InputError(f"the DataFrame has more than one {name!r} column")
        by_name[name] = column
    if columns[0] not in by_name:
        raise InputError(
            f"the DataFrame has no {columns[0]!r} column; its columns are: "
            f"{list(map(str, frame.columns))}"
        )

    def col(name: str) -> Iterable[object]:
        return _cells_of(frame[by_name[name]]) if name in by_name else repeat(None, len(frame))

    return zip(*map(col, columns), strict=True)


def _cells_of(column: pd.Series) -> Iterator[object]:
    """A column's cells as Python values, a slice at a time: ``tolist`` is several times
    faster than iterating an Arrow-backed column (pandas 3's default for text) cell by cell."""
    for start in range(0, len(column), _SLICE_ROWS):
        yield from column.iloc[start : start + _SLICE_ROWS].tolist()


def _generate(
    source: Iterator[_Cells],
    defaults: tuple[str, str | None, str | None],
    labels: pd.Index | None = None,
) -> Iterator[InputRow]:
    for index, (item, dom, lang, ctry) in enumerate(source):
        yield _row(index, item, dom, lang, ctry, defaults, labels)


def input_index(items: object) -> pd.Index | None:
    """The index a result keeps: a DataFrame's or Series' own, else None (0..n-1)."""
    return items.index if isinstance(items, pd.DataFrame | pd.Series) else None


def iter_input_rows(
    items: Iterable[Any] | pd.DataFrame,
    *,
    domain: str = "com",
    language: str | None = None,
    country: str | None = None,
) -> Iterator[InputRow]:
    """Yield one :class:`InputRow` per item, in input order, lazily (items are read as needed).

    ``items`` is any iterable of strings (list, generator, Series, numpy array) or a DataFrame
    with an ``asin`` column and optional ``domain``/``language``/``country`` columns whose empty
    cells fall back to the defaults given here. A URL's host sets its row's domain. Messages
    name a row by its 1-based position, ``row 3``, plus its index label when the index of a
    DataFrame or Series is not the default 0..n-1: ``row 3 (index 'sku-17')``.
    The defaults are validated now (:class:`ConfigError`); unreadable ``items`` raise
    :class:`InputError` now too, before the first row is yielded.
    """
    defaults = (
        normalize_domain(domain),
        None if language is None else normalize_language(language),
        None if country is None else normalize_country(country),
    )
    if isinstance(items, pd.DataFrame):
        cells = cast(Iterator[_Cells], frame_cells(items, _FRAME_COLUMNS))
        return _generate(cells, defaults, _labels(items))
    if isinstance(items, str | bytes | bytearray):
        raise InputError(
            f"items is a single {type(items).__name__} ({_short(_raw_text(items))}); "
            "wrap it in a list: [item]"
        )
    if isinstance(items, Mapping):
        raise InputError(
            "items is a mapping; pass a list of ASINs/URLs or a DataFrame with an 'asin' column"
        )
    try:
        source = iter(items)
    except TypeError:
        raise InputError(
            f"items must be an iterable of ASINs/URLs or a DataFrame, got {type(items).__name__}"
        ) from None
    return _generate(((item, None, None, None) for item in source), defaults, _labels(items))
