"""Deterministic product fixtures, generated from a hash of the ASIN and the marketplace.

What a product *is* (title, brand, category, images, reviews) depends on the ASIN alone; what it
costs and how it sells (price in the marketplace's currency, stock, rating, review count)
depends on ASIN + domain. Bodies are cached as bytes (the last 65,536), so the same request
always gets the same bytes and the hot path does no JSON work. Two shapes: ``docs`` (flat, API
reference §2.1) and ``sdk`` (nested ``price{}``/``rating{}``, api-examples/product_sdk_readme.json).
"""

from __future__ import annotations

import functools
import html
import json
import random
from datetime import date
from typing import Any, Final, Literal

from ._catalog import (
    ADJECTIVES,
    AUTHORS,
    BRANDS,
    FEATURES,
    MARKETS,
    MONTHS,
    REVIEW_TITLES,
    STOCK,
    Kind,
    fake_asin,
    fake_seller_id,
    image_url,
    kind_of,
    local_price,
    rng_for,
)
from ._drift import EPOCH, price_factor, stock_on

Shape = Literal["docs", "sdk"]

RETURNS = "Eligible for Return, Refund or Replacement within 30 days of receipt"


def dumps(obj: object) -> bytes:
    """Compact UTF-8 JSON, the way the bodies go on the wire."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def _identity(asin: str) -> tuple[Kind, dict[str, Any]]:
    """Marketplace-independent facts about ``asin``."""
    rng = rng_for("identity", asin)
    kind = kind_of(asin)
    brand = rng.choice(kind.brands)
    noun = rng.choice(kind.nouns)
    adjective = rng.choice(ADJECTIVES)
    spec = rng.choice(kind.options)
    bullets = [
        f"{f}: {adjective.lower()} {noun.lower()} made of {kind.material.lower()}"
        for f in rng.sample(FEATURES, 5)
    ]
    n_var = rng.choice((0, 0, 2, 3, 4))
    siblings = [fake_asin(rng_for("sibling", asin, i)) for i in range(max(0, n_var - 1))]
    facts: dict[str, Any] = {
        "title": f"{brand} {adjective} {noun}, {spec}",
        "brand": brand,
        "manufacturer": brand.title() if rng.random() < 0.5 else f"{brand.title()} Inc.",
        "usd": round(rng.uniform(*kind.usd) * rng.uniform(0.9, 1.1), 2),
        "images": [image_url(rng) for _ in range(rng.randint(3, 7))],
        "bullets": bullets,
        "description": (
            f"The {brand} {noun} is a {adjective.lower()} choice for everyday use. "
            f"Made of {kind.material.lower()} and backed by {brand}'s customer support."
        ),
        "weight": round(rng.uniform(0.2, 40), 1),
        "dims": sorted((round(rng.uniform(2, 30), 1) for _ in range(3)), reverse=True),
        "model": f"{brand[:3].upper()}-{rng.randint(100, 9999)}",
        "first_available": f"{rng.choice(MONTHS)} {rng.randint(1, 28)}, {rng.randint(2015, 2025)}",
        "ladder": list(kind.ladder[: rng.randint(2, len(kind.ladder))]),
        "rank": rng.randint(1, 250_000),
        "questions": rng.randint(0, 400),
        "videos": rng.random() < 0.4,
        "dimension": kind.dimension,
        "variants": list(
            zip(
                [asin, *siblings],
                rng.sample(kind.options, min(n_var, len(kind.options))),
                strict=False,
            )
        ),
        "parent": fake_asin(rng_for("parent", asin)) if n_var else asin,
        "seller": brand.title(),
        "seller_id": fake_seller_id(rng),
        "no_price": rng.random() < (0.25 if kind.dimension == "Format" else 0.04),
        "reviews_seed": rng.randint(0, 2**31),
    }
    return kind, facts


def _reviews(facts: dict[str, Any], country_name: str, rating: float) -> list[dict[str, Any]]:
    rng = random.Random(facts["reviews_seed"])
    out = []
    for i in range(rng.randint(3, 8)):
        stars = max(1, min(5, round(rng.gauss(rating, 1.0))))
        out.append(
            {
                "id": "R"
                + "".join(rng.choice("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(12)),
                "author": rng.choice(AUTHORS),
                "title": rng.choice(REVIEW_TITLES),
                "content": f"{rng.choice(FEATURES).capitalize()}. "
                f"Review {i + 1} of this {facts['brand']} item.",
                "rating": stars,
                "timestamp": f"Reviewed in {country_name} on "
                f"{rng.choice(MONTHS)} {rng.randint(1, 28)}, {rng.randint(2023, 2026)}",
                "is_verified": rng.random() < 0.85,
                "helpful_count": int(rng.paretovariate(1.5)) - 1,
            }
        )
    return out


def _docs_product(asin: str, domain: str, day: date = EPOCH) -> dict[str, Any]:
    kind, f = _identity(asin)
    m = MARKETS[domain]
    rng = rng_for("market", asin, domain)
    drift = price_factor(asin, domain, day)
    price = None if f["no_price"] else local_price(f["usd"] * rng.uniform(0.92, 1.08) * drift, m)
    strike = None
    if price is not None and rng.random() < 0.4:
        strike = local_price(f["usd"] * rng.uniform(1.15, 1.6), m)
    rating = round(min(5.0, max(1.0, rng.gauss(4.3, 0.45))), 1)
    stock = "See all buying options" if price is None else rng.choice(STOCK)
    if price is not None:
        stock = stock_on(asin, domain, day, stock)
    prime = price is not None and rng.random() < 0.7
    buybox = []
    if price is not None:
        sellers = [(f["seller"], f["seller_id"])] + [
            (rng.choice(BRANDS).title() + " Store", fake_seller_id(rng))
            for _ in range(rng.randint(0, 2))
        ]
        for i, (name, sid) in enumerate(sellers):
            buybox.append(
                {
                    "price": price if i == 0 else local_price(f["usd"] * rng.uniform(1.0, 1.2), m),
                    "seller_name": name,
                    "seller_id": sid,
                    "stock": stock if i == 0 else "In Stock",
                    "returns": RETURNS,
                }
            )
    w, d, h = f["dims"]
    dims = (
        f"{w} x {d} x {h} cm"
        if m.metric
        else f"{round(w / 2.54, 1)} x {round(d / 2.54, 1)} x {round(h / 2.54, 1)} inches"
    )
    weight = f"{f['weight']} kg" if m.metric else f"{round(f['weight'] * 2.2046, 1)} Pounds"
    return {
        "asin": asin,
        "parent_asin": f["parent"],
        "title": f["title"],
        "brand": f["brand"],
        "manufacturer": f["manufacturer"],
        "price": price,
        "price_buybox": price,
        "price_strikethrough": strike,
        "currency": m.currency,
        "stock": stock,
        "is_prime": prime,
        "rating": rating,
        "reviews_count": int(rng.lognormvariate(6.0, 1.6)) + 1,
        "images": f["images"],
        "bullet_points": "\n".join(f["bullets"]),
        "description": f["description"],
        "product_details": {
            "Brand": f["brand"],
            "Material": kind.material,
            "Item Weight": weight,
            "Item model number": f["model"],
            "Date First Available": f["first_available"],
            "ASIN": asin,
        },
        "product_dimensions": dims,
        "answered_questions_count": f["questions"],
        "has_videos": f["videos"],
        "category": [{"ladder": [{"name": name} for name in f["ladder"]], "rank": f["rank"]}],
        "buybox": buybox,
        "featured_merchant": (
            {"name": f["seller"], "seller_id": f["seller_id"], "is_amazon_fulfilled": prime}
            if buybox
            else None
        ),
        "variations": [
            {"asin": v_asin, "dimensions": {f["dimension"]: option}, "selected": v_asin == asin}
            for v_asin, option in f["variants"]
        ],
        "reviews": _reviews(f, m.country_name, rating),
    }


def _sdk_product(asin: str, domain: str, day: date = EPOCH) -> dict[str, Any]:
    """The nested shape of the SDK READMEs, built from the same facts as the docs shape."""
    docs = _docs_product(asin, domain, day)
    price, was = docs["price"], docs["price_strikethrough"]
    rating = docs["rating"]
    five = round(min(0.95, max(0.05, (rating - 1.0) / 4.0 * 0.9)), 2)
    rest = round(1.0 - five, 2)
    distribution = {
        "5": five,
        "4": round(rest * 0.5, 2),
        "3": round(rest * 0.25, 2),
        "2": round(rest * 0.1, 2),
    }
    distribution["1"] = round(max(0.0, 1.0 - sum(distribution.values())), 2)
    seller = docs["buybox"][0]["seller_name"] if docs["buybox"] else None
    variant_price = price
    return {
        "asin": asin,
        "title": docs["title"],
        "brand": docs["brand"],
        "price": {
            "current": price,
            "currency": docs["currency"],
            "was": was,
            "savings_pct": round((1 - price / was) * 100) if price is not None and was else None,
        },
        "rating": {"average": rating, "count": docs["reviews_count"], "distribution": distribution},
        "availability": docs["stock"],
        "buybox": {
            "seller": seller,
            "ships_from": "Amazon" if docs["is_prime"] else seller,
            "prime": docs["is_prime"],
        },
        "images": docs["images"],
        "bullets": docs["bullet_points"].split("\n"),
        "variants": [
            {
                "asin": v["asin"],
                "name": next(iter(v["dimensions"].values())),
                "price": variant_price,
            }
            for v in docs["variations"]
        ],
        "categories": [step["name"] for step in docs["category"][0]["ladder"]],
        "specifications": docs["product_details"],
        "_meta": {
            "tier": "direct",
            "duration_ms": 1200 + int(rng_for("duration", asin, domain).lognormvariate(7.0, 0.5)),
            "marketplace": f"amazon.{domain}",
        },
    }


def _page_html(doc: dict[str, Any], domain: str) -> str:
    title = html.escape(doc["title"])
    return (
        f'<!doctype html><html lang="{MARKETS[domain].language.replace("_", "-")}"><head>'
        f'<meta charset="utf-8"><title>Amazon.{domain}: {title}</title></head><body>'
        f'<span id="productTitle">{title}</span>'
        f'<div id="asin" data-asin="{doc["asin"]}"></div></body></html>'
    )


def product_dict(asin: str, domain: str, shape: Shape, day: date = EPOCH) -> dict[str, Any]:
    """A fresh product dict (not cached) in ``shape``, as on ``day`` (see ``_drift``)."""
    return _sdk_product(asin, domain, day) if shape == "sdk" else _docs_product(asin, domain, day)


def render_product(
    asin: str, domain: str, shape: Shape, add_html: bool = False, day: date = EPOCH
) -> bytes:
    """The 200 body for ``asin`` on ``domain``, generated afresh (~0.15 ms of CPU)."""
    doc = product_dict(asin, domain, shape, day)
    if add_html:
        doc["html"] = _page_html(doc, domain)
    return dumps(doc)


#: Bodies kept by :func:`product_body`; a job over more unique ASINs than this regenerates each.
BODY_CACHE_SIZE: Final = 65_536

#: The 200 body for ``asin`` on ``domain`` (on a day): identical bytes for identical arguments,
#: cached (the day is part of the key).
product_body: Final = functools.lru_cache(maxsize=BODY_CACHE_SIZE)(render_product)


def summary(asin: str, domain: str, day: date = EPOCH) -> dict[str, Any]:
    """Fields a search result shows for ``asin`` (consistent with its product page that day)."""
    doc = _docs_product(asin, domain, day)
    return {
        k: doc[k]
        for k in (
            "title",
            "price",
            "price_strikethrough",
            "currency",
            "rating",
            "reviews_count",
            "is_prime",
        )
    } | {"image": doc["images"][0]}
