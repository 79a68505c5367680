"""The sandbox's own CPU per request, stock vs ``flat_catalog``, at 10k and 200k unique ASINs.

``python -m benchmarks.sandbox_cost [--sizes 10000,200000] [--concurrency 64] [--smoke]``

Why: a scale benchmark of the client must not partly measure the sandbox. The stock sandbox
caches 65,536 product bodies; beyond that many unique ASINs it regenerates each body. The flat
catalogue (``--flat-catalog``) serves templates, so its cost should not depend on N.

How: for each mode and size, a sandbox runs in its own process (zero latency, limits far above
the load) and a bare aiohttp client here sends every ASIN once (the ``cold`` pass), then every
ASIN again (``warm``: what a repeated benchmark sees). ``server_cpu_us`` is the sandbox
process's user+system CPU (``/proc/<pid>/stat``, so Linux only) over the pass, divided by its
requests: client cost is not in it. Not part of ``python -m benchmarks`` (a standalone check).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp

from ._common import UNLIMITED, keys, machine_info, markdown_table, sandbox

COLUMNS = ("catalogue", "unique_asins", "pass", "requests", "server_cpu_us", "wall_s", "req_per_s")
PRODUCT_PATH = "/api/v1/amazon/product"
_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_SPACE = 36**8
_STRIDE = 2_654_435_761  # odd and not a multiple of 3: i -> i * stride mod 36**8 is one-to-one


def unique_asins(n: int) -> list[str]:
    """``n`` distinct valid ASINs spread over every product family, none ending in ``404``."""
    out: list[str] = []
    i = 0
    while len(out) < n:
        v, chars = (i * _STRIDE) % _SPACE, []
        for _ in range(8):
            v, r = divmod(v, 36)
            chars.append(_ALNUM[r])
        asin = "B0" + "".join(chars)
        i += 1
        if not asin.endswith("404"):
            out.append(asin)
    return out


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


async def _one_pass(base_url: str, items: Sequence[str], key: str, concurrency: int) -> int:
    """GET every item once over ``concurrency`` connections; returns how many answered 200."""
    url = base_url + PRODUCT_PATH
    headers = {"Authorization": f"Bearer {key}", "Accept": "application/json"}
    pending = iter(items)
    ok = 0

    async def worker(http: aiohttp.ClientSession) -> None:
        nonlocal ok
        for asin in pending:
            async with http.get(url, params={"query": asin}, headers=headers) as resp:
                await resp.read()
                ok += resp.status == 200

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
    return ok


def measure(flat: bool, n: int, concurrency: int) -> list[dict[str, Any]]:
    """Rows for one sandbox (one mode, ``n`` unique ASINs): the cold and the warm pass."""
    items = unique_asins(n)
    key = keys(1)[0]
    rows = []
    with sandbox(fixed_latency=0, flat_catalog=flat, **UNLIMITED) as sb:
        assert sb.pid is not None
        for name in ("cold", "warm"):
            cpu0, t0 = process_cpu_seconds(sb.pid), time.perf_counter()
            ok = asyncio.run(_one_pass(sb.base_url, items, key, concurrency))
            wall, cpu = time.perf_counter() - t0, process_cpu_seconds(sb.pid) - cpu0
            if ok != n:
                raise RuntimeError(f"{ok} of {n} requests answered 200")
            rows.append(
                {
                    "catalogue": "flat" if flat else "stock",
                    "unique_asins": n,
                    "pass": name,
                    "requests": n,
                    "server_cpu_us": cpu / n * 1e6,
                    "wall_s": wall,
                    "req_per_s": n / wall,
                }
            )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sandbox_cost", description=__doc__)
    parser.add_argument("--sizes", default="10000,200000", help="unique ASIN counts (comma list)")
    parser.add_argument("--concurrency", type=int, default=64, help="connections (default 64)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, figures meaningless")
    args = parser.parse_args(argv)
    if not Path("/proc/self/stat").exists():
        print("sandbox_cost: needs Linux /proc to read the sandbox's CPU", file=sys.stderr)
        return 2
    sizes = [200, 400] if args.smoke else [int(s) for s in args.sizes.split(",")]
    rows = [
        row for n in sizes for flat in (False, True) for row in measure(flat, n, args.concurrency)
    ]
    print("## Sandbox CPU per request: stock vs flat_catalog\n")
    for name, value in machine_info().items():
        print(f"- {name}: {value}")
    print(f"- client: bare aiohttp, {args.concurrency} connections, one key, zero latency\n")
    print(markdown_table(rows, COLUMNS))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
