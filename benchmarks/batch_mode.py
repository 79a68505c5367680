"""8. Batch mode against sync mode: the same lookups, the documented paces, side by side.

The sandbox serves batches at the documented pace scaled by ``TIME_SCALE`` (a start-up of
60 s, then 0.6 s an item: the platform's 100 items a minute) and sync lookups at the Pro
plan's per-key limits (25 requests/s, 50 in flight; §4.1) with the documented latency
scaled the same way. Batch seconds are reported back at the service's pace (wall / scale);
sync lookups are bound by the keys' rate, which is not scaled, so their wall time is their
service time. One key; the smoke run uses 40 items.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

TITLE = "8. Batch mode vs sync mode (sandbox at the documented paces, one Pro key)"
COLUMNS = ("mode", "items", "wall_s", "service_s", "items_per_minute", "key_requests", "note")
TIME_SCALE = 0.01


async def _one(mode: str, items: list[str], folder: Path) -> dict[str, Any]:
    import asa_bulk
    from asa_bulk.sandbox import make_test_keys, serve

    settings: dict[str, Any] = {
        "plan": "pro",
        "time_scale": TIME_SCALE,
        "latency_scale": TIME_SCALE,
        "today": "2026-05-15",
    }
    async with serve(**settings) as sb:
        started = time.perf_counter()
        df = await asa_bulk.fetch_products(
            items,
            keys=make_test_keys(1),
            base_url=sb.base_url,
            progress=False,
            checkpoint=folder / f"{mode}.sqlite",
            mode=mode,
            batch_poll_seconds=30 * TIME_SCALE,
            concurrency=50,
            rps=25,
        )
        wall = time.perf_counter() - started
        requests = sb.stats.requests
    ok = int((df["status"] == "ok").sum())
    service = wall / TIME_SCALE if mode == "batch" else wall
    return {
        "mode": mode,
        "items": len(items),
        "wall_s": round(wall, 2),
        "service_s": round(service, 1),
        "items_per_minute": round(len(items) / service * 60, 1),
        "key_requests": requests,
        "note": f"{ok} ok; "
        + (
            f"POSTs + polls; the documented pace alone: {60 + 0.6 * len(items):.0f} s"
            if mode == "batch"
            else "one request per item"
        ),
    }


def run(smoke: bool = False) -> list[dict[str, Any]]:
    n = 40 if smoke else 1000
    items = [f"B0{i:08d}" for i in range(n)]
    with tempfile.TemporaryDirectory(prefix="asa-batch-") as name:
        folder = Path(name)
        return [asyncio.run(_one(mode, items, folder)) for mode in ("sync", "batch")]


def headline(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_mode = {row["mode"]: row for row in rows}
    ratio = by_mode["batch"]["service_s"] / max(by_mode["sync"]["service_s"], 1e-9)
    return [
        {
            "metric": "batch / sync service time, one Pro key",
            "value": f"{ratio:.1f}x",
            "target": "reported",
            "met": "—",
        },
    ]
