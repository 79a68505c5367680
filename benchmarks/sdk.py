"""3. Against the provider's official Python client (``amazonscraperapi-sdk``, sync httpx).

Sandbox in its own process: 50 ms fixed latency, 10 in flight per key, rps far above; 3 keys,
so the ceiling is 600/s. Contenders, on the same ASINs (bodies warmed first):

- ``asa_bulk``: ``fetch_products(items, keys=3 keys, concurrency=10, rps=...)``;
- SDK in a ``ThreadPoolExecutor`` of 30 threads (= 3 keys x 10): one ``AmazonScraperAPI`` per
  key, thread t works through items t, t+30, ... with key t % 3, so no key ever has more than
  10 requests in flight (the SDK raises on a 429 and does not retry);
- SDK sequential: one client, one item after another. It runs on a smaller sample and its
  per-item time is extrapolated to N (marked ``extrapolated``).

Each of the first two runs several times, alternating, after a warm-up; medians. ``speedup`` =
that contender's time for N / asa_bulk's time for N; ``cpu_us`` = client CPU per lookup.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ._common import asins, keys, median, sandbox, timed_fetch, warm_bodies

TITLE = "3. Against the official client amazonscraperapi-sdk 0.1.5 (50 ms latency, 3 keys x 10)"
COLUMNS = (
    "client", "N", "measured_items", "runs", "seconds_for_N", "per_s", "cpu_us", "errors",
    "speedup", "note",
)  # fmt: skip
LATENCY = 0.05
PER_KEY = 10
KEYS = 3


def _sdk_threads(base_url: str, api_keys: list[str], items: list[str]) -> tuple[float, int]:
    from amazonscraperapi import AmazonScraperAPI, AmazonScraperAPIError

    threads = len(api_keys) * PER_KEY
    clients = [AmazonScraperAPI(api_key=k, base_url=base_url) for k in api_keys]

    def work(t: int) -> int:
        client, errors = clients[t % len(clients)], 0
        for asin in items[t::threads]:
            try:
                client.product(query=asin, domain="com")
            except AmazonScraperAPIError:
                errors += 1
        return errors

    try:
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=threads) as pool:
            errors = sum(pool.map(work, range(threads)))
        return time.perf_counter() - started, errors
    finally:
        for client in clients:
            client.close()


def _sdk_sequential(base_url: str, key: str, items: list[str]) -> tuple[float, int]:
    from amazonscraperapi import AmazonScraperAPI, AmazonScraperAPIError

    errors = 0
    with AmazonScraperAPI(api_key=key, base_url=base_url) as client:
        started = time.perf_counter()
        for asin in items:
            try:
                client.product(query=asin, domain="com")
            except AmazonScraperAPIError:
                errors += 1
        return time.perf_counter() - started, errors


def _asa(base_url: str, api_keys: list[str], items: list[str]) -> tuple[float, int]:
    frame, seconds, _ = asyncio.run(
        timed_fetch(items, base_url=base_url, api_keys=api_keys, concurrency=PER_KEY, rps=1000.0)
    )
    return seconds, int((frame["status"] != "ok").sum())


def _cpu(fn: Any, *args: Any) -> tuple[float, int, float]:
    """(seconds, errors, client CPU seconds) of ``fn(*args)``."""
    cpu0 = time.process_time()
    seconds, errors = fn(*args)
    return seconds, errors, time.process_time() - cpu0


def run(smoke: bool = False) -> list[dict[str, Any]]:
    """asa_bulk, SDK in threads, SDK sequential (see the module docstring)."""
    n, n_seq, reps = (90, 10, 1) if smoke else (3000, 200, 3)
    items = asins(n, "S")
    api_keys = keys(KEYS)
    server = {"fixed_latency": LATENCY, "concurrency": PER_KEY, "rps": 1000.0, "burst_rps": 1000.0}
    runs: dict[str, list[tuple[float, int, float]]] = {"asa": [], "threads": []}
    with sandbox(**server) as sb:
        asyncio.run(warm_bodies(sb.base_url, items, per_key=PER_KEY))
        _asa(sb.base_url, api_keys, items[:60])  # warm-up: first-call costs of both
        _sdk_threads(sb.base_url, api_keys, items[:60])
        for i in range(reps):
            pair = [("asa", _asa), ("threads", _sdk_threads)]
            for name, fn in pair if i % 2 == 0 else pair[::-1]:
                runs[name].append(_cpu(fn, sb.base_url, api_keys, items))
        seq_s, seq_errors, seq_cpu = _cpu(_sdk_sequential, sb.base_url, api_keys[0], items[:n_seq])
    asa_s = median(r[0] for r in runs["asa"])
    threads_s = median(r[0] for r in runs["threads"])
    seq_for_n = seq_s / n_seq * n
    ceiling = KEYS * PER_KEY / LATENCY

    def cpu_us(name: str) -> float:
        return median(r[2] for r in runs[name]) / n * 1e6

    return [
        {
            "client": "asa_bulk (3 keys x 10)",
            "N": n,
            "measured_items": n,
            "runs": reps,
            "seconds_for_N": asa_s,
            "per_s": n / asa_s,
            "cpu_us": cpu_us("asa"),
            "errors": sum(r[1] for r in runs["asa"]),
            "speedup": 1.0,
            "note": f"{n / asa_s / ceiling:.2f} of the 600/s ceiling",
        },
        {
            "client": "SDK, 30 threads (3 keys x 10)",
            "N": n,
            "measured_items": n,
            "runs": reps,
            "seconds_for_N": threads_s,
            "per_s": n / threads_s,
            "cpu_us": cpu_us("threads"),
            "errors": sum(r[1] for r in runs["threads"]),
            "speedup": threads_s / asa_s,
            "note": f"{n / threads_s / ceiling:.2f} of the ceiling",
        },
        {
            "client": "SDK, sequential (1 key)",
            "N": n,
            "measured_items": n_seq,
            "runs": 1,
            "seconds_for_N": seq_for_n,
            "per_s": n_seq / seq_s,
            "cpu_us": seq_cpu / n_seq * 1e6,
            "errors": seq_errors,
            "speedup": seq_for_n / asa_s,
            "note": f"extrapolated from {n_seq} items ({seq_s / n_seq * 1000:.1f} ms each)",
        },
    ]


def headline(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "metric": f"asa_bulk speed-up vs {r['client']}",
            "value": f"x{r['speedup']:.2f}",
            "target": "(reported)",
            "met": None,
        }
        for r in rows[1:]
    ]


if __name__ == "__main__":
    from ._common import markdown_table

    print(markdown_table(run(), COLUMNS))
