"""7. Reading a year of daily snapshots back: ``asa_bulk.history`` with and without a filter.

365 daily partitions of 10,000 products (``date=YYYY-MM-DD/part-0.parquet``, the columns of a
product snapshot that a price history uses, written with pyarrow like ``--snapshot-dir``
writes them) are generated in a temporary folder. Timed: ``history(DIR, asins=<100 ASINs>)``
(target: under 2 s) and ``history(DIR)`` (everything), in the same run, so their ratio holds
on a noisy machine. The smoke run uses 5 days of 200 products.
"""

from __future__ import annotations

import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from ._common import median

TITLE = "7. Reading a year of daily snapshots (asa_bulk.history)"
COLUMNS = ("read", "days", "products", "rows", "seconds", "ratio_to_full", "note")
TARGET_SECONDS = 2.0


def _write_days(folder: Path, days: int, products: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(7)
    asins = pa.array([f"B0{n:08d}" for n in range(products)])
    titles = pa.array([f"Product {n} with a title of ordinary length" for n in range(products)])
    base = rng.uniform(5, 500, products)
    start = date(2025, 12, 1)
    for offset in range(days):
        day = start + timedelta(days=offset)
        price = np.round(base * rng.uniform(0.9, 1.1, products), 2)
        table = pa.table(
            {
                "asin": asins,
                "domain": pa.array(["com"] * products),
                "status": pa.array(["ok"] * products),
                "title": titles,
                "price": pa.array(price),
                "currency": pa.array(["USD"] * products),
                "availability": pa.array(rng.choice(["In Stock", "Out of Stock"], products)),
                "rating": pa.array(np.round(rng.uniform(1, 5, products), 1)),
                "reviews_count": pa.array(rng.integers(0, 50_000, products)),
            }
        )
        target = folder / f"date={day.isoformat()}"
        target.mkdir()
        pq.write_table(table, target / "part-0.parquet")


def run(smoke: bool = False) -> list[dict[str, Any]]:
    from asa_bulk import history

    days, products = (5, 200) if smoke else (365, 10_000)
    with tempfile.TemporaryDirectory(prefix="asa-history-") as name:
        folder = Path(name)
        started = time.perf_counter()
        _write_days(folder, days, products)
        written = time.perf_counter() - started
        wanted = [f"B0{n:08d}" for n in range(0, products, max(1, products // 100))][:100]
        filtered, full = [], []
        rows_filtered = rows_full = 0
        for _ in range(1 if smoke else 3):
            t0 = time.perf_counter()
            rows_filtered = len(history(folder, asins=wanted))
            filtered.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        rows_full = len(history(folder))
        full.append(time.perf_counter() - t0)
    f, a = median(filtered), median(full)
    return [
        {"read": f"asins=[{len(wanted)} ASINs]", "days": days, "products": products,
         "rows": rows_filtered, "seconds": round(f, 2), "ratio_to_full": round(f / a, 3),
         "note": f"median of {len(filtered)}"},
        {"read": "everything", "days": days, "products": products, "rows": rows_full,
         "seconds": round(a, 2), "ratio_to_full": 1.0,
         "note": f"generating the days took {written:.1f} s"},
    ]  # fmt: skip


def headline(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    filtered = rows[0]
    return [
        {
            "metric": f"history of {filtered['days']} days x {filtered['products']} products, "
            "100 ASINs (s)",
            "value": filtered["seconds"],
            "target": f"< {TARGET_SECONDS}",
            "met": filtered["seconds"] < TARGET_SECONDS,
        }
    ]
