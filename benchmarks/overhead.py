"""2. Client overhead: ``asa_bulk`` vs the bare aiohttp loop, at zero latency.

The sandbox (own process) answers at once and never refuses (limits far above), so the client's
own cost decides. Both clients send the same N GETs with the same total concurrency and decode
the same JSON; asa_bulk also builds its DataFrame and summary (that is what it returns). One key
with ``concurrency=50`` pinned (``rps`` pinned far above), then 3 keys x 17. Each pair runs
several times in alternating order after one warm-up each; medians. ``cpu_us`` is the client
process's CPU time (``time.process_time``) per lookup; ``server_cpu_us`` the sandbox's (Linux).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from . import baseline_aiohttp
from ._common import UNLIMITED, asins, keys, median, process_cpu_seconds, sandbox, timed_fetch

TITLE = "2. Client overhead at zero latency (sandbox in its own process)"
COLUMNS = (
    "keys", "concurrency", "N", "reps", "asa_s", "bare_s", "time_ratio", "asa_cpu_us",
    "bare_cpu_us", "cpu_ratio", "asa_per_s", "bare_per_s", "server_cpu_us", "target", "met",
)  # fmt: skip
TIME_RATIO_TARGET = 1.3


Measure = Callable[[list[str]], Awaitable[None]]


async def _measure(fn: Measure, items: list[str], pid: int | None) -> tuple[float, float, float]:
    """(wall s, client CPU s, server CPU s) of one run."""
    server0 = process_cpu_seconds(pid) if pid else None
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    await fn(items)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    server1 = process_cpu_seconds(pid) if pid else None
    server = server1 - server0 if server0 is not None and server1 is not None else float("nan")
    return wall, cpu, server


async def _case(
    base_url: str, pid: int | None, n_keys: int, total: int, n: int, reps: int
) -> dict[str, Any]:
    per_key = max(1, total // n_keys)
    api_keys = keys(n_keys)

    async def asa(items: list[str]) -> None:
        frame, _, _ = await timed_fetch(
            items, base_url=base_url, api_keys=api_keys, concurrency=per_key, rps=1e9
        )
        assert (frame["status"] == "ok").all(), frame["status"].value_counts()

    async def bare(items: list[str]) -> None:
        results = await baseline_aiohttp.fetch_all(
            items, base_url=base_url, api_keys=api_keys, concurrency=per_key
        )
        assert all(status == 200 for status, _ in results)

    items = asins(n, "O")
    await bare(items)  # warm-up: sandbox body cache, connections, first-call costs
    await asa(items)
    runs: dict[str, list[tuple[float, float, float]]] = {"asa": [], "bare": []}
    for i in range(reps):
        pair = [("asa", asa), ("bare", bare)]
        for name, fn in pair if i % 2 == 0 else pair[::-1]:
            runs[name].append(await _measure(fn, items, pid))
    asa_s, bare_s = (median(w for w, _, _ in runs[k]) for k in ("asa", "bare"))
    asa_cpu, bare_cpu = (median(c for _, c, _ in runs[k]) / n * 1e6 for k in ("asa", "bare"))
    server = median(s for _, _, s in runs["asa"] + runs["bare"]) / n * 1e6
    ratios = [a[0] / b[0] for a, b in zip(runs["asa"], runs["bare"], strict=True)]
    ratio = median(ratios)
    return {
        "keys": n_keys,
        "concurrency": f"{n_keys} x {per_key}",
        "N": n,
        "reps": reps,
        "asa_s": asa_s,
        "bare_s": bare_s,
        "time_ratio": ratio,
        "asa_cpu_us": asa_cpu,
        "bare_cpu_us": bare_cpu,
        "cpu_ratio": asa_cpu / bare_cpu,
        "asa_per_s": n / asa_s,
        "bare_per_s": n / bare_s,
        "server_cpu_us": server if server == server else None,  # NaN: not measurable
        "target": f"time ratio <= {TIME_RATIO_TARGET}",
        "met": ratio <= TIME_RATIO_TARGET,
    }


async def _run(smoke: bool) -> list[dict[str, Any]]:
    n, reps = (200, 2) if smoke else (5000, 5)
    rows = []
    with sandbox(fixed_latency=0, **UNLIMITED) as sb:
        pid = sb.pid
        for n_keys in (1, 3):
            rows.append(await _case(sb.base_url, pid, n_keys, 50, n, reps))
    return rows


def run(smoke: bool = False) -> list[dict[str, Any]]:
    """Two rows: one key x 50 in flight, three keys x 17 (see the module docstring)."""
    return asyncio.run(_run(smoke))


def headline(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "metric": f"{r['keys']} key(s): time vs bare aiohttp (CPU µs/lookup)",
            "value": f"x{r['time_ratio']:.2f} ({r['asa_cpu_us']:.0f} vs {r['bare_cpu_us']:.0f} µs)",
            "target": r["target"],
            "met": r["met"],
        }
        for r in rows
    ]


if __name__ == "__main__":
    from ._common import markdown_table

    print(markdown_table(run(), COLUMNS))
