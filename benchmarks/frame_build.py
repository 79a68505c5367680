"""How fast build_frame turns result records into the typed DataFrame (rows/s).

    python benchmarks/frame_build.py [--rows N] [--repeat R]

Generates N realistic product bodies (about 2 KB each, docs shape and SDK-README shape
alternating), one ok record per unique ASIN, then times only ``build_frame`` (flattening
included) and prints the best of R runs. ``run(rows)`` returns the same figures as a dict.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from datetime import datetime, timezone
from typing import Any

from asa_bulk._frame import build_frame
from asa_bulk._inputs import InputRow
from asa_bulk._records import ProductRequest, Request, ResultRecord

_WORDS = (
    "stainless", "steel", "induction", "ready", "oven", "safe", "dishwasher", "durable",
    "premium", "professional", "kitchen", "cookware", "set", "pan", "pot", "lid", "handle",
    "heat", "even", "clad", "layer", "aluminium", "core",
)  # fmt: skip


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words))


def docs_body(asin: str, rng: random.Random) -> dict[str, Any]:
    """A product body in the docs shape (api-reference §2.1), roughly 2 KB as JSON."""
    price = round(rng.uniform(5, 500), 2)
    return {
        "asin": asin,
        "parent_asin": asin,
        "title": _text(rng, 14),
        "brand": "LEGEND COOKWARE",
        "manufacturer": "Legend Cookware",
        "price": price,
        "price_buybox": price,
        "price_strikethrough": round(price * 1.2, 2),
        "currency": "USD",
        "stock": "In Stock",
        "is_prime": rng.random() < 0.7,
        "rating": round(rng.uniform(1, 5), 1),
        "reviews_count": rng.randrange(0, 50_000),
        "images": [f"https://m.media-amazon.com/images/I/{asin}{i}._AC_SL1500_.jpg"
                   for i in range(5)],
        "bullet_points": " \n ".join(_text(rng, 10).upper() for _ in range(5)),
        "description": _text(rng, 50),
        "product_details": {"Material": "Stainless Steel", "Item Weight": "38 Pounds",
                            "Brand": "Legend", "Color": "Silver", "Pieces": "14"},
        "product_dimensions": "22 x 14 x 12 inches",
        "answered_questions_count": rng.randrange(0, 300),
        "has_videos": rng.random() < 0.5,
        "category": [{"ladder": [{"name": "Home & Kitchen"}, {"name": "Cookware Sets"}],
                      "rank": rng.randrange(1, 100_000)}],
        "buybox": [{"price": price, "seller_name": "Legend Cookware", "seller_id": "A2EXAMPLE1234",
                    "stock": "In Stock", "returns": "Eligible for Return within 30 days"}],
        "featured_merchant": {"name": "Legend Cookware", "seller_id": "A2EXAMPLE1234",
                              "is_amazon_fulfilled": True},
        "variations": [{"asin": asin, "dimensions": {"Size": "14-Piece"}, "selected": True},
                       {"asin": "B09HN4K2ZZ", "dimensions": {"Size": "10-Piece"},
                        "selected": False}],
        "reviews": [{"id": f"R{i}", "author": "J. Doe", "title": _text(rng, 4),
                     "content": _text(rng, 12), "rating": 5, "is_verified": True,
                     "helpful_count": 14} for i in range(2)],
    }  # fmt: skip


def sdk_body(asin: str, rng: random.Random) -> dict[str, Any]:
    """The same kind of product in the SDK README shape (nested price/rating/buybox)."""
    price = round(rng.uniform(5, 500), 2)
    return {
        "asin": asin,
        "title": _text(rng, 14),
        "brand": "Apple",
        "price": {"current": price, "currency": "USD", "was": round(price * 1.25, 2),
                  "savings_pct": 20},
        "rating": {"average": round(rng.uniform(1, 5), 1), "count": rng.randrange(0, 60_000),
                   "distribution": {"5": 0.81, "4": 0.12, "3": 0.04, "2": 0.01, "1": 0.02}},
        "availability": "In Stock",
        "buybox": {"seller": "Amazon.com", "ships_from": "Amazon.com", "prime": True},
        "images": [f"https://m.media-amazon.com/images/I/{asin}{i}.jpg" for i in range(5)],
        "bullets": [_text(rng, 10) for _ in range(5)],
        "description": _text(rng, 50),
        "variants": [{"asin": "B0BDHB9Y8H", "name": "USB-C", "price": price}],
        "categories": ["Electronics", "Headphones", "Earbud Headphones"],
        "specifications": {"Brand": "Apple", "Model Name": "AirPods Pro 2", "Color": "White"},
        "_meta": {"tier": "direct", "duration_ms": rng.randrange(800, 9000),
                  "marketplace": "amazon.com"},
    }  # fmt: skip


def make_inputs(rows: int, seed: int = 7) -> tuple[list[InputRow], dict[Request, ResultRecord]]:
    """``rows`` valid input rows and one ok record each, bodies alternating docs/SDK shape."""
    rng = random.Random(seed)
    fetched = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
    inputs: list[InputRow] = []
    results: dict[Request, ResultRecord] = {}
    for i in range(rows):
        asin = f"B{i:09d}"
        request = ProductRequest(asin, "com")
        body = (docs_body if i % 2 == 0 else sdk_body)(asin, rng)
        inputs.append(InputRow(i, asin, request, asin=asin, domain="com"))
        results[request] = ResultRecord(
            request, "ok", http_status=200, attempts=1, key_id="asa_live_Tq0x4k9Pd8Mn",
            request_id=f"req_{i:012x}", latency_ms=2600.0, fetched_at=fetched, body=body,
        )  # fmt: skip
    return inputs, results


def run(rows: int, *, repeat: int = 3) -> dict[str, Any]:
    """Time ``build_frame`` over ``rows`` generated rows; best of ``repeat`` runs."""
    inputs, results = make_inputs(rows)
    sample = [r.body for r in list(results.values())[:200]]
    body_bytes = sum(len(json.dumps(b)) for b in sample) / max(len(sample), 1)
    best = float("inf")
    for _ in range(max(repeat, 1)):
        started = time.perf_counter()
        frame = build_frame(inputs, results)
        best = min(best, time.perf_counter() - started)
    assert len(frame) == rows
    return {
        "name": "frame_build",
        "rows": rows,
        "seconds": round(best, 4),
        "rows_per_s": round(rows / best) if best > 0 else None,
        "avg_body_bytes": round(body_bytes),
        "columns": frame.shape[1],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows to build (default 100000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the best counts (default 3)")
    args = parser.parse_args(argv)
    result = run(args.rows, repeat=args.repeat)
    print(
        f"build_frame: {result['rows']:,} rows in {result['seconds']:.3f} s = "
        f"{result['rows_per_s']:,} rows/s (avg body {result['avg_body_bytes']:,} B)"
    )


if __name__ == "__main__":
    main()
