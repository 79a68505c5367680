"""Flatten the answers of one search query (its pages, in page order) into a row per result card.

The sources disagree on the 200 body (api-reference §2.2): the docs' ``products[]`` with
``organic_position``/``sponsored_position``/``is_sponsored`` and a flat ``price``, and the SDK
READMEs' ``results[]`` with ``position``, ``sponsored``, ``prime`` and a nested
``price{current,was,currency}``. Both land in the same :data:`SEARCH_RESULT_FIELDS`.

Positions are counted here, from the cards actually seen in page order: the service's own
numbers assume a page size (the docs shape), and sponsored cards may lack a stable one (the SDK
shape). ``position`` is the organic rank, ``sponsored_position`` the rank among sponsored cards,
``slot`` the rank among all cards. A query whose pages hold no card is one row with
``no_results`` set, so a query is never missing from the output.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from ._flatten import _bool, _dict, _float, _int, _list, _text

#: Result columns and their pandas dtypes, in column order (:func:`result_rows` yields this order).
SEARCH_RESULT_FIELDS: Final[dict[str, str]] = {
    "page": "Int64",
    "slot": "Int64",
    "position": "Int64",
    "sponsored_position": "Int64",
    "is_sponsored": "boolean",
    "asin": "string",
    "title": "string",
    "brand": "string",
    "price": "Float64",
    "currency": "string",
    "rating": "Float64",
    "reviews_count": "Int64",
    "is_prime": "boolean",
    "no_results": "boolean",
}
SEARCH_RESULT_COLUMNS: Final[tuple[str, ...]] = tuple(SEARCH_RESULT_FIELDS)


def cards(body: Any) -> list[Mapping[str, Any]]:
    """The result cards of one answer, whichever shape; [] when it has none (or no list)."""
    found = _dict(body)
    if found is None:
        return []
    listed = _list(found.get("products"))
    if listed is None:
        listed = _list(found.get("results"))
    return [card for card in listed or () if isinstance(card, Mapping)]


def result_rows(pages: Iterable[tuple[int, Any]]) -> list[tuple[Any, ...]]:
    """One tuple per card (``SEARCH_RESULT_COLUMNS`` order) over ``pages``, ``(page number,
    body)`` pairs in page order; one ``no_results`` row when no page holds a card."""
    rows: list[tuple[Any, ...]] = []
    organic = sponsored = 0
    first_page: int | None = None
    for number, body in pages:
        first_page = number if first_page is None else first_page
        for card in cards(body):
            is_sponsored = _bool(card.get("is_sponsored", card.get("sponsored"))) or False
            if is_sponsored:
                sponsored += 1
            else:
                organic += 1
            price, currency = _price(card)
            # A multi-page answer may say which page each card came from.
            page = _int(card.get("page")) or number
            rows.append(
                (
                    page,
                    len(rows) + 1,
                    None if is_sponsored else organic,
                    sponsored if is_sponsored else None,
                    is_sponsored,
                    _text(card.get("asin")),
                    _text(card.get("title")),
                    _text(card.get("brand")),
                    price,
                    currency,
                    _float(card.get("rating")),
                    _int(card.get("reviews_count", card.get("review_count"))),
                    _bool(card.get("is_prime", card.get("prime"))),
                    False,
                )
            )
    if not rows:
        empty: list[Any] = [None] * len(SEARCH_RESULT_COLUMNS)
        empty[0], empty[-1] = first_page, True
        rows.append(tuple(empty))
    return rows


def _price(card: Mapping[str, Any]) -> tuple[float | None, str | None]:
    """``(price, currency)``: the docs' flat ``price``/``currency`` or the SDK's ``price{}``."""
    nested = _dict(card.get("price"))
    if nested is not None:
        currency = nested.get("currency", card.get("currency"))
        return _float(nested.get("current")), _text(currency)
    return _float(card.get("price")), _text(card.get("currency"))
