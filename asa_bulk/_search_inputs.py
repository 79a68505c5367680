"""Search input hygiene: queries in, one :class:`QueryRow` per page to fetch, lazily.

Each query becomes ``pages`` rows, one per result page from ``start_page`` (a page is billed and
sent as one request, see :class:`~asa_bulk._records.SearchRequest`), all with the query's input
position. A query is trimmed, invisible characters are removed and inner runs of white space
become one space, so that the same keywords typed twice are searched (and billed) once. An empty
query, or a row whose ``domain``/``sort_by`` is wrong, is one invalid row with a local error
code (``invalid_query``, ``invalid_domain``, ``invalid_sort_by``) and a message naming the row.
As with products, a bad row never raises; input that cannot be read at all does
(:class:`InputError`), and bad defaults raise :class:`ConfigError` before anything is yielded.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, cast

import pandas as pd

from ._errors import ConfigError, InputError
from ._inputs import _INVISIBLE, _is_missing, _labels, _raw_text, _short, _where, frame_cells
from ._marketplaces import normalize_domain
from ._records import SEARCH_SORTS, SearchRequest
from ._values import one_of, whole

#: The documented range of ``start_page`` and ``pages`` (§2.2). A page is fetched on its own as
#: ``start_page``, so the last page asked for may not pass it either.
MAX_PAGE: Final = 10

_FRAME_COLUMNS: Final = ("query", "domain", "sort_by")


@dataclass(frozen=True, slots=True)
class QueryRow:
    """One page of one input query; ``request`` is None when the query is invalid (then the
    row stands for the whole query and ``page`` is None)."""

    index: int  # the query's position in the input, 0-based (shared by its pages)
    raw: str  # the query as given (truncated like a product row's), for reporting
    request: SearchRequest | None
    error: str | None = None
    message: str | None = None
    query: str | None = None
    domain: str | None = None
    sort_by: str | None = None
    page: int | None = None


def page_range(*, pages: object, start_page: object) -> range:
    """The pages to fetch of each query; :class:`ConfigError` naming the setting when the
    documented limits (1 to 10, the last page included) are not kept."""
    first = whole("start_page", start_page, minimum=1)
    count = whole("pages", pages, minimum=1)
    if first > MAX_PAGE:
        raise ConfigError(f"start_page must be {MAX_PAGE} or less (the API's limit), got {first}")
    last = first + count - 1
    if last > MAX_PAGE:
        raise ConfigError(
            f"start_page={first} with pages={count} would reach page {last}; the API serves "
            f"pages 1 to {MAX_PAGE}: ask for at most {MAX_PAGE - first + 1} page(s) from there"
        )
    return range(first, last + 1)


def clean_query(value: object) -> str | None:
    """The query as it is sent and deduplicated, or None when nothing is left of it."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    return " ".join(value.translate(_INVISIBLE).split()) or None


def iter_query_rows(
    queries: Iterable[Any] | pd.DataFrame,
    *,
    pages: int = 1,
    start_page: int = 1,
    sort_by: str = "best_match",
    domain: str = "com",
) -> Iterator[QueryRow]:
    """Yield the :class:`QueryRow` of each page of each query, in query then page order.

    ``queries`` is an iterable of strings or a DataFrame with a ``query`` column and optional
    ``domain``/``sort_by`` columns whose empty cells fall back to the defaults given here.
    The settings are validated now (:class:`ConfigError`), unreadable ``queries`` raise
    :class:`InputError` now too, before the first row is yielded.
    """
    wanted = page_range(pages=pages, start_page=start_page)
    defaults = (normalize_domain(domain), one_of("sort_by", sort_by, SEARCH_SORTS))
    if isinstance(queries, pd.DataFrame):
        cells = cast(Iterator[_Cells], frame_cells(queries, _FRAME_COLUMNS))
        return _generate(cells, defaults, wanted, _labels(queries))
    if isinstance(queries, str | bytes | bytearray):
        raise InputError(
            f"queries is a single {type(queries).__name__} ({_short(_raw_text(queries))}); "
            "wrap it in a list: [query]"
        )
    if isinstance(queries, Mapping):
        raise InputError("queries is a mapping; pass a list of queries or a DataFrame")
    try:
        source = iter(queries)
    except TypeError:
        raise InputError(
            f"queries must be an iterable of strings or a DataFrame with a 'query' column, "
            f"got {type(queries).__name__}"
        ) from None
    cells = ((query, None, None) for query in source)
    return _generate(cells, defaults, wanted, _labels(queries))


_Cells = tuple[object, object, object]


def _generate(
    source: Iterator[_Cells],
    defaults: tuple[str, str],
    wanted: range,
    labels: pd.Index | None,
) -> Iterator[QueryRow]:
    for index, (value, dom, sort) in enumerate(source):
        yield from _rows(index, value, dom, sort, defaults, wanted, labels)


def _rows(
    index: int,
    value: object,
    dom: object,
    sort: object,
    defaults: tuple[str, str],
    wanted: range,
    labels: pd.Index | None,
) -> Iterator[QueryRow]:
    raw = _raw_text(value)
    query = clean_query(value)
    problems: list[tuple[str, str]] = []
    if query is None:
        problems.append(("invalid_query", _why_not_a_query(value)))
    domain, bad = _override("domain", dom, defaults[0])
    if bad:
        problems.append(("invalid_domain", bad))
    sort_by, bad = _override("sort_by", sort, defaults[1])
    if bad:
        problems.append(("invalid_sort_by", bad))
    if problems or query is None or domain is None or sort_by is None:
        message = f"{_where(index, labels)}: " + "; ".join(text for _, text in problems)
        yield QueryRow(index, raw, None, problems[0][0], message, query, domain, sort_by)
        return
    for page in wanted:
        request = SearchRequest(query, domain, sort_by, page)
        yield QueryRow(index, raw, request, None, None, query, domain, sort_by, page)


def _why_not_a_query(value: object) -> str:
    if _is_missing(value) or isinstance(value, str | bytes):
        return "the query is empty; expected the keywords to search for"
    return f"{type(value).__name__} {_short(str(value))} is not text; expected keywords"


def _override(kind: str, value: object, default: str) -> tuple[str | None, str | None]:
    """A per-row ``domain``/``sort_by``: missing or blank means the default."""
    if _is_missing(value) or (isinstance(value, str) and not value.strip()):
        return default, None
    if not isinstance(value, str):
        return None, f"{kind} {value!r} is not text"
    try:
        if kind == "domain":
            return normalize_domain(value), None
        return one_of("sort_by", value.strip(), SEARCH_SORTS), None
    except ConfigError as exc:
        return None, str(exc)
