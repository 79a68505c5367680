"""Flatten one product body, whichever documented shape it has, into plain typed values.

The sources disagree on the 200 body (api-reference §2.1, §8 C4): the docs' flat ``price``,
``rating``, ``stock``, ``bullet_points`` string, ``category[]`` and ``buybox[]``; the SDK
README's nested ``price{current,was,savings_pct,currency}``, ``rating{average,count,
distribution}``, ``buybox{seller,prime}``, ``bullets[]``, ``variants[]``, ``categories[]``,
``specifications{}``, ``_meta``; and the skill's ``review_count``, ``buybox_seller``,
``features[]``, ``category_ladder[]``. All of them land in the same :data:`PRODUCT_FIELDS`.

A field of an unexpected type becomes None (NA) rather than raising: one odd body must never
cost a run. Numeric text is read (``"29.99"``, ``"$1,299.00"``); ``"N/A"`` is None.
This runs once per product of a bulk job, so the code favours straight-line lookups over
a generic path table.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

#: Product columns and their pandas dtypes, in column order (``_flatten`` yields this order).
PRODUCT_FIELDS: Final[dict[str, str]] = {
    "title": "string",
    "brand": "string",
    "manufacturer": "string",
    "parent_asin": "string",
    "price": "Float64",
    "price_strikethrough": "Float64",
    "price_buybox": "Float64",
    "savings_pct": "Float64",
    "currency": "string",
    "rating": "Float64",
    "reviews_count": "Int64",
    "rating_distribution": "object",
    "availability": "string",
    "is_prime": "boolean",
    "seller_name": "string",
    "seller_id": "string",
    "is_amazon_fulfilled": "boolean",
    "images": "object",
    "bullet_points": "object",
    "description": "string",
    "categories": "object",
    "best_seller_rank": "Int64",
    "product_details": "object",
    "product_dimensions": "string",
    "answered_questions_count": "Int64",
    "has_videos": "boolean",
    "variations": "object",
    "reviews": "object",
    "marketplace": "string",
}
PRODUCT_COLUMNS: Final[tuple[str, ...]] = tuple(PRODUCT_FIELDS)
EMPTY_PRODUCT: Final[tuple[None, ...]] = (None,) * len(PRODUCT_COLUMNS)

_NOTHING: Final[Mapping[str, Any]] = {}
_SCALARS: Final = frozenset({str, int, float, bool, list})
# An optional currency sign/code, then a US-style number: "29.99", "$1,299.00", "USD 5".
_NUMBER_TEXT: Final = re.compile(r"[^\d\s+\-.]{0,4}\s*([+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?)")
_I64: Final = 2**63  # Int64 columns hold -2**63 .. 2**63 - 1
_TRUE: Final = frozenset({"true", "yes", "y", "1"})
_FALSE: Final = frozenset({"false", "no", "n", "0"})


def _dict(value: Any) -> Mapping[str, Any] | None:
    # JSON gives dicts; exact-type tests skip the slow ABC check in the common cases.
    if type(value) is dict:
        return value
    if value is None or type(value) in _SCALARS:
        return None
    return value if isinstance(value, Mapping) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _float(value: Any) -> float | None:
    """A finite float from a number or numeric text; else None (bools are not numbers)."""
    if type(value) is float:
        return value if math.isfinite(value) else None
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:  # beyond ~1.8e308: JSON numbers may have any number of digits
            return None
    if isinstance(value, float):  # float subclasses
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            match = _NUMBER_TEXT.fullmatch(value.strip())
            if match is None:
                return None
            number = float(match.group(1).replace(",", ""))
        return number if math.isfinite(number) else None
    return None


def _int(value: Any) -> int | None:
    """An int64 from an int, an integral float or text such as ``"2,481"`` or ``"#1,532"``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = _float(value.strip().lstrip("#"))
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and -_I64 <= value < _I64:
        return int(value)
    return None


def _bool(value: Any) -> bool | None:
    """True/False from a bool, 0/1, or text such as ``"true"``/``"no"``; else None."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    return None


def _list(value: Any) -> list[Any] | None:
    return value if isinstance(value, list) else None


def _names(value: Any) -> list[str] | None:
    """Names from a list of strings or of ``{"name": ...}`` objects (category ladders)."""
    if not isinstance(value, list):
        return None
    out = []
    for item in value:
        if type(item) is not str:
            item = (_dict(item) or _NOTHING).get("name")
        if isinstance(item, str):
            out.append(item)
    return out


def _bullets(value: Any) -> list[str] | None:
    """Bullet points: one ``\\n``-separated string (docs) or a list of strings (SDK, skill)."""
    if isinstance(value, str):
        return [part for part in map(str.strip, value.split("\n")) if part]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return None


def flatten_values(body: Any) -> tuple[Any, ...]:
    """The product fields of ``body`` as a tuple in :data:`PRODUCT_COLUMNS` order, with lists
    and objects shaped but scalars not yet typed (see :func:`coerce_column`).

    Where shapes overlap, the docs shape's field wins, then the SDK README's, then the skill's.
    A body that is not a mapping gives all None.
    """
    body = _dict(body)
    if body is None:
        return EMPTY_PRODUCT
    get = body.get

    price = get("price")
    nested_price = _dict(price)
    if nested_price is None:
        nested_price = _NOTHING
    else:
        price = nested_price.get("current")
    rating = get("rating")
    nested_rating = _dict(rating)
    if nested_rating is None:
        nested_rating = _NOTHING
    else:
        rating = nested_rating.get("average")

    buybox = get("buybox")  # docs: a list of offers (the first is the buy box); SDK: an object
    offer = (_dict(buybox[0]) if buybox else None) if type(buybox) is list else _dict(buybox)
    if offer is None:
        offer = _NOTHING
    merchant = _dict(get("featured_merchant")) or _NOTHING

    was = get("price_strikethrough")
    if was is None:
        was = nested_price.get("was")
    buybox_price = get("price_buybox")
    if buybox_price is None:
        buybox_price = offer.get("price")
    savings = get("savings_pct")
    if savings is None:
        savings = nested_price.get("savings_pct")
    currency = get("currency")
    if currency is None:
        currency = nested_price.get("currency")
    count = get("reviews_count")
    if count is None:
        count = nested_rating.get("count")
        if count is None:
            count = get("review_count")
    distribution = nested_rating.get("distribution")
    if distribution is None:
        distribution = get("rating_distribution")
    availability = get("availability")
    if availability is None:
        availability = get("stock")
        if availability is None:
            availability = offer.get("stock")
    prime = get("is_prime")
    if prime is None:
        prime = offer.get("prime")
    seller = offer.get("seller_name")
    if seller is None:
        seller = offer.get("seller")
        if seller is None:
            seller = get("buybox_seller")
            if seller is None:
                seller = merchant.get("name")
    seller_id = offer.get("seller_id")
    if seller_id is None:
        seller_id = merchant.get("seller_id")
    fulfilled = merchant.get("is_amazon_fulfilled")
    if fulfilled is None:
        fulfilled = get("is_amazon_fulfilled")
    bullets = get("bullet_points")
    if bullets is None:
        bullets = get("bullets")
        if bullets is None:
            bullets = get("features")

    category = get("category")  # docs: [{"ladder": [{"name": ...}], "rank": n}]
    first = _dict(category[0]) if type(category) is list and category else None
    if first is not None:
        categories, rank = _names(first.get("ladder")), first.get("rank")
    else:
        categories, rank = _names(category), None
    if categories is None:
        categories = _names(get("categories"))
        if categories is None:
            categories = _names(get("category_ladder"))
    if rank is None:
        rank = get("best_seller_rank")
    details = get("product_details")
    if details is None:
        details = get("specifications")
    variations = get("variations")
    if variations is None:
        variations = get("variants")
    meta = get("_meta")

    # Scalars are returned as found; coerce_column() types each column in one sweep, which is
    # far cheaper than a helper call per field.
    return (
        get("title"),
        get("brand"),
        get("manufacturer"),
        get("parent_asin"),
        price,
        was,
        buybox_price,
        savings,
        currency,
        rating,
        count,
        _dict(distribution),
        availability,
        prime,
        seller,
        seller_id,
        fulfilled,
        _list(get("images")),
        _bullets(bullets),
        get("description"),
        categories,
        rank,
        _dict(details),
        get("product_dimensions"),
        get("answered_questions_count"),
        get("has_videos"),
        _list(variations),
        _list(get("reviews")),
        (_dict(meta) or _NOTHING).get("marketplace"),
    )


_INF: Final = math.inf


def coerce_column(values: Iterable[Any], dtype: str) -> list[Any]:
    """Values of one column made to fit ``dtype``; anything that does not fit becomes None.

    The common case (already the right type, or None) is tested inline, so only odd values
    pay for a helper call.
    """
    if dtype == "string":
        return [v if v is None or type(v) is str else _text(v) for v in values]
    if dtype == "Float64":
        return [
            v if v is None or (type(v) is float and -_INF < v < _INF) else _float(v) for v in values
        ]
    if dtype == "Int64":
        return [
            v if v is None or (type(v) is int and -_I64 <= v < _I64) else _int(v) for v in values
        ]
    if dtype == "boolean":
        return [v if v is None or type(v) is bool else _bool(v) for v in values]
    return list(values)  # object columns are shaped (lists/dicts or None) while flattening


def flatten_product(body: Mapping[str, Any]) -> dict[str, Any]:
    """The product columns for one 2xx body, as ``{column: value}`` (None for missing).

    Every key of :data:`PRODUCT_COLUMNS` is present. Lists and objects are returned as they
    are in the body, not copied.
    """
    return {
        name: coerce_column((value,), dtype)[0]
        for (name, dtype), value in zip(PRODUCT_FIELDS.items(), flatten_values(body), strict=True)
    }
