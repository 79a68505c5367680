#!/usr/bin/env python3
"""Join live Amazon data (price, rating, stock, ...) onto an existing product catalogue CSV.

    python samples/enrich_catalog.py samples/catalog.csv -o catalog_enriched.csv

Every catalogue row is looked up by its ASIN (a product URL works too), in the row's own
marketplace when the catalogue has one (``--marketplace-column``, values like ``amazon.de`` or
``de``), and written back unchanged with ``amazon_*`` columns added: same rows, same order,
duplicates and rows without an ASIN included (those get ``amazon_status = invalid``). Where your
price and Amazon's are in the same currency, ``price_gap_pct`` says how far yours is above (+) or
below (-) Amazon's.

Keys come from ``ASA_API_KEYS``/``ASA_API_KEY`` in the environment or ``./.env``. Without a key
(or with ``--sandbox`` or ``ASA_BULK_SANDBOX=1``) the script runs against asa_bulk's offline
sandbox, 100 times faster than the real service, so you can try it at once; no key needed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
from dotenv import dotenv_values

import asa_bulk

#: Result columns joined onto the catalogue, as ``amazon_<name>``.
AMAZON_COLUMNS = [
    "status",
    "error",
    "title",
    "brand",
    "price",
    "currency",
    "rating",
    "reviews_count",
    "availability",
    "is_prime",
    "fetched_at",
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Join live Amazon product data onto a catalogue CSV, row for row."
    )
    parser.add_argument("catalog", type=Path, help="the catalogue CSV")
    parser.add_argument(
        "-o", "--output", type=Path, default=Path("catalog_enriched.csv"), help="CSV to write"
    )
    parser.add_argument("--asin-column", default="asin", help="column with ASINs/URLs (asin)")
    parser.add_argument(
        "--marketplace-column",
        default="marketplace",
        help="column with each row's marketplace, e.g. amazon.de (marketplace; "
        "ignored when absent: then ASA_DOMAIN or com)",
    )
    parser.add_argument("--price-column", default="our_price", help="your price (our_price)")
    parser.add_argument(
        "--currency-column", default="our_currency", help="your price's currency (our_currency)"
    )
    parser.add_argument(
        "--max-credits", type=int, default=None, help="stop before billing more than N credits"
    )
    parser.add_argument(
        "--sandbox", action="store_true", help="use the offline sandbox even if keys are set"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


def keys_configured(env_file: Path = Path(".env")) -> bool:
    """True when ASA_API_KEYS or ASA_API_KEY is set in the environment or in ``env_file``."""
    env = {**dotenv_values(env_file), **os.environ}
    return bool(env.get("ASA_API_KEYS") or env.get("ASA_API_KEY"))


@contextlib.contextmanager
def connection(use_sandbox: bool) -> Iterator[dict[str, Any]]:
    """``fetch_products`` options: your keys from env/.env, or a sandbox for the block."""
    if not use_sandbox:
        yield {}
        return
    from asa_bulk.sandbox import make_test_keys, serve_in_thread

    # 1/100 of the real latency, limits raised: a demo in seconds, not the real service's speed.
    with serve_in_thread(latency_scale=0.01, rps=100.0, burst_rps=200.0) as sandbox:
        print(
            "no API key configured: using the offline SANDBOX (simulated data, 100x faster "
            "than the real service)",
            file=sys.stderr,
        )
        yield {
            "keys": make_test_keys(2),
            "base_url": sandbox.base_url,
            "retry_delay_scale": 0.01,
            "env_file": None,
        }


def lookup_items(catalog: pd.DataFrame, asin_column: str, marketplace_column: str) -> pd.DataFrame:
    """What to look up: an ``asin`` column and, when the catalogue has one, ``domain``."""
    if asin_column not in catalog.columns:
        raise SystemExit(f"error: no column {asin_column!r} in the catalogue")
    items = pd.DataFrame({"asin": catalog[asin_column]})
    if marketplace_column in catalog.columns:
        items["domain"] = catalog[marketplace_column].replace("", pd.NA)
    return items


def enrich(catalog: pd.DataFrame, results: pd.DataFrame, args: argparse.Namespace) -> pd.DataFrame:
    """The catalogue with ``amazon_*`` columns and ``price_gap_pct`` added, row for row."""
    # fetch_products returns exactly one row per input row, in input order: join by position.
    amazon = results[AMAZON_COLUMNS].add_prefix("amazon_").reset_index(drop=True)
    out = pd.concat([catalog.reset_index(drop=True), amazon], axis=1)
    if {args.price_column, args.currency_column} <= set(catalog.columns):
        ours = pd.to_numeric(out[args.price_column], errors="coerce")
        theirs = out["amazon_price"].astype("Float64")
        same = out[args.currency_column].astype("string") == out["amazon_currency"]
        out["price_gap_pct"] = ((ours - theirs) / theirs * 100).round(1).where(same)
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    catalog = pd.read_csv(args.catalog, dtype=str, keep_default_na=False)
    items = lookup_items(catalog, args.asin_column, args.marketplace_column)
    use_sandbox = args.sandbox or os.environ.get("ASA_BULK_SANDBOX") == "1" or not keys_configured()
    with connection(use_sandbox) as options:
        results = asa_bulk.fetch_products_sync(
            items, progress=not args.quiet, max_credits=args.max_credits, **options
        )
    enriched = enrich(catalog, results, args)
    enriched.to_csv(args.output, index=False)

    print(asa_bulk.format_summary(results.attrs["run"]), file=sys.stderr)
    print(f"wrote {len(enriched)} rows to {args.output}", file=sys.stderr)
    shown = ["sku", "amazon_status", "amazon_price", "amazon_currency", "price_gap_pct"]
    with pd.option_context("display.width", 120):
        print(enriched[[c for c in shown if c in enriched.columns]].to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
