"""The run summary stored in ``df.attrs["run"]``: plain, JSON-serialisable numbers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np

from ._keypool import KeyPool
from ._runner import RunCounters

STATUSES = ("ok", "not_found", "invalid", "failed", "skipped")


def percentile(sorted_values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile of already sorted values (None when empty)."""
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return round(sorted_values[index], 3)


def build_summary(
    *,
    status_counts: Mapping[str, int],
    unique_requests: int,
    duplicates: int,
    from_checkpoint: int,
    counters: RunCounters,
    pool: KeyPool,
    stop_reason: str | None,
    started_at: datetime,
    stop_message: str | None = None,
    wall_seconds: float,
    base_url: str,
    counts: str = "rows",
) -> dict[str, Any]:
    """``counts``: what ``rows`` and the status counts count, "rows" (one per product) or
    "pages" (search: one per page of a query, and one per invalid query)."""
    by_status = status_counts
    rows = sum(by_status.values())
    latencies = np.sort(np.frombuffer(counters.latencies_ms, dtype=np.float64)).tolist()
    wall = max(wall_seconds, 1e-9)
    return {
        "counts": counts,
        "rows": rows,
        "status_counts": {status: by_status.get(status, 0) for status in STATUSES},
        "unique_requests": unique_requests,
        "duplicates": duplicates,
        "from_checkpoint": from_checkpoint,
        "requests_sent": counters.requests_sent,
        "billed_requests": counters.billed,
        "credits": counters.credits,
        "retries": counters.retries,
        "throttled": counters.throttled,
        "keys": [slot.summary() for slot in pool.slots],
        "retired_keys": {slot.key_id: slot.retired for slot in pool.slots if slot.retired},
        "stopped": stop_reason,
        "stop_message": stop_message,
        "started_at": started_at.isoformat(),
        "wall_seconds": round(wall_seconds, 3),
        "rows_per_second": round(rows / wall, 2),
        "requests_per_second": round(counters.requests_sent / wall, 2),
        "latency_ms": {"p50": percentile(latencies, 0.50), "p95": percentile(latencies, 0.95)},
        "base_url": base_url,
    }


def format_summary(summary: dict[str, Any]) -> str:
    """A few human lines for a terminal or a notebook."""
    counts = summary["status_counts"]
    unit = summary.get("counts", "rows")
    lines = [
        f"{unit}: {summary['rows']}  "
        + "  ".join(f"{status}: {counts[status]}" for status in STATUSES),
        "requests sent: {requests_sent}  billed: {billed_requests} ({credits} credits)  "
        "retries: {retries}  throttled: {throttled}".format(**summary),
        f"wall: {summary['wall_seconds']:.1f} s  {summary['rows_per_second']:.1f} {unit}/s  "
        + _latency_text(summary["latency_ms"]),
    ]
    for key in summary["keys"]:
        state = f"retired ({key['retired']})" if key["retired"] else "ok"
        lines.append(
            f"  key {key['key_id']}: {key['requests']} requests, {key['ok']} ok, "
            f"{key['throttled']} throttled, limits {key['concurrency']} in flight / "
            f"{key['rps']:g} rps, {state}"
        )
    if summary["stopped"]:
        why = summary.get("stop_message")
        lines.append(f"stopped early: {summary['stopped']}" + (f" ({why})" if why else ""))
    return "\n".join(lines)


def _latency_text(latency: dict[str, float | None]) -> str:
    if latency["p50"] is None:
        return "latency: no answers"
    return f"latency p50 {latency['p50']:.0f} ms  p95 {latency['p95']:.0f} ms"
