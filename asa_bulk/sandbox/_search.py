"""Deterministic search result pages.

Each (query, domain, page) yields 16-20 results whose ASINs, titles and prices match what the
product endpoint answers for those ASINs. Sponsored results sit at fixed slots. Documented rule:
a query containing ``zzzz`` (any case) matches nothing and answers ``no_results: true``.
Shapes: ``docs`` (``products[]`` with ``organic_position``/``sponsored_position``) or ``sdk``
(``results[]`` with ``position``, as in api-examples/search_skill.json).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date
from typing import Any

from ._catalog import fake_asin, kinds_for, rng_for, unit_hash
from ._drift import EPOCH, reordered
from ._params import SearchParams
from ._products import Shape, dumps, summary

_SPONSORED_SLOTS = (0, 5, 11)
_SCRAPED_AT = "2026-05-15T12:34:56Z"  # fixed so bodies stay byte-identical


#: ``(asin, domain) -> fields a result shows``: the catalogue's own, so results agree with pages.
Summary = Callable[[str, str], dict[str, Any]]


def _page(
    query: str, domain: str, page: int, summary: Summary, day: date = EPOCH
) -> list[dict[str, Any]]:
    rng = rng_for("search", query.lower(), domain, page)
    organic = (page - 1) * 17
    sponsored = (page - 1) * len(_SPONSORED_SLOTS)
    relevant = kinds_for(query)
    items = []
    for slot in range(rng.randint(16, 20)):
        # Mostly products of the families the query names; some noise, as on Amazon.
        kind = rng.choice(relevant) if relevant and rng.random() < 0.85 else None
        asin = fake_asin(rng, kind)
        info = summary(asin, domain)
        is_sponsored = slot in _SPONSORED_SLOTS
        if is_sponsored:
            sponsored += 1
        else:
            organic += 1
        volume = rng.choice((None, "50+", "100+", "500+", "1K+", "5K+", "10K+"))
        items.append(
            {
                "asin": asin,
                "title": info["title"],
                "url": f"https://www.amazon.{domain}/dp/{asin}",
                "price": info["price"],
                "price_strikethrough": info["price_strikethrough"],
                "highest_price": None,
                "currency": info["currency"],
                "rating": info["rating"],
                "reviews_count": info["reviews_count"],
                "sales_volume": f"{volume} bought in past month" if volume else None,
                "image": info["image"],
                "is_prime": info["is_prime"],
                "is_amazons_choice": rng.random() < 0.08,
                "is_sponsored": is_sponsored,
                "best_seller": rng.random() < 0.05,
                "organic_position": None if is_sponsored else organic,
                "sponsored_position": sponsored if is_sponsored else None,
                "page": page,
            }
        )
    return _reranked(items, query, domain, page, day)


def _reranked(
    items: list[dict[str, Any]], query: str, domain: str, page: int, day: date
) -> list[dict[str, Any]]:
    """The organic cards of ``day`` (a few neighbours swapped), each slot keeping its position
    numbers; sponsored slots stay put."""
    organic = [i for i, item in enumerate(items) if not item["is_sponsored"]]
    moved = reordered([items[i] for i in organic], "search", query.lower(), domain, page, day=day)
    out = list(items)
    for i, item in zip(organic, moved, strict=True):
        out[i] = item | {"organic_position": items[i]["organic_position"]}
    return out


def _sorted(items: list[dict[str, Any]], sort_by: str) -> list[dict[str, Any]]:
    if sort_by in ("price_asc", "price_desc"):
        priced = [i for i in items if i["price"] is not None]
        rest = [i for i in items if i["price"] is None]
        return sorted(priced, key=lambda i: i["price"], reverse=sort_by == "price_desc") + rest
    if sort_by == "avg_customer_review":
        return sorted(items, key=lambda i: (-i["rating"], -i["reviews_count"]))
    if sort_by == "newest":
        return sorted(items, key=lambda i: unit_hash("newest", i["asin"]))
    return items


def search_dict(
    p: SearchParams, shape: Shape, fields: Summary | None = None, day: date = EPOCH
) -> dict[str, Any]:
    """The search answer for ``p`` in ``shape`` on ``day``: pages concatenated, ``page`` = the
    last one; each result's fields come from ``fields`` (default: the stock product pages of
    that day)."""
    if fields is None:
        fields = functools.partial(summary, day=day)
    last = p.start_page + p.pages - 1
    if "zzzz" in p.query.lower():
        items: list[dict[str, Any]] = []
    else:
        items = [
            item
            for page in range(p.start_page, last + 1)
            for item in _sorted(_page(p.query, p.domain, page, fields, day), p.sort_by)
        ]
    if shape == "sdk":
        return {
            "results": [
                {
                    "position": i["organic_position"],
                    "asin": i["asin"],
                    "title": i["title"],
                    "price": {
                        "current": i["price"],
                        "was": i["price_strikethrough"],
                        "currency": i["currency"],
                    },
                    "rating": i["rating"],
                    "review_count": i["reviews_count"],
                    "image_url": i["image"],
                    "url": i["url"],
                    "sponsored": i["is_sponsored"],
                    "prime": i["is_prime"],
                }
                for i in items
            ],
            "total_pages": 0 if not items else 20,
            "page": last,
            "query": p.query,
            "domain": p.domain,
            "scraped_at": _SCRAPED_AT,
        }
    body: dict[str, Any] = {"query": p.query, "domain": p.domain, "page": last, "products": items}
    if not items:
        body["no_results"] = True
    return body


@functools.lru_cache(maxsize=4096)
def search_body(p: SearchParams, shape: Shape, day: date = EPOCH) -> bytes:
    """Cached bytes of :func:`search_dict` on the stock product pages of ``day``."""
    return dumps(search_dict(p, shape, day=day))
