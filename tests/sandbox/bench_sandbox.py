"""Throughput of the sandbox with zero latency: ``python tests/sandbox/bench_sandbox.py``.

The server runs in its own process (one core) and an aiohttp client in this one sends
``--requests`` product lookups over ``--concurrency`` connections, cycling through ``--asins``
distinct ASINs so both cached and fresh bodies are served. Prints requests per second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from asa_bulk.sandbox import make_test_keys


async def _drive(
    base_url: str, n: int, concurrency: int, asins: int
) -> tuple[float, dict[int, int]]:
    key = make_test_keys(1)[0]
    statuses: dict[int, int] = {}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                params = {"query": f"B0BENCH{i % asins:03d}", "api_key": key}
                async with http.get(f"{base_url}/api/v1/amazon/product", params=params) as resp:
                    await resp.read()
                    statuses[resp.status] = statuses.get(resp.status, 0) + 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return n / (time.perf_counter() - start), statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--asins", type=int, default=500)
    args = parser.parse_args()
    settings = {"fixed_latency": 0, "concurrency": 10_000, "rps": 1e9, "burst_rps": 1e9}
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "bench.json"
        config.write_text(json.dumps(settings))
        cmd = [sys.executable, "-m", "asa_bulk.sandbox", "--port", "0", "--config", str(config)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            base_url = proc.stdout.readline().split()[-1]
            asyncio.run(_drive(base_url, 300, args.concurrency, args.asins))  # warm-up
            rate, statuses = asyncio.run(
                _drive(base_url, args.requests, args.concurrency, args.asins)
            )
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    print(f"{args.requests} requests, concurrency {args.concurrency}: {rate:,.0f} req/s {statuses}")


if __name__ == "__main__":
    main()
