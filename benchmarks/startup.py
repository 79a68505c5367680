"""5. Import time of ``asa_bulk`` and time to first request.

Import: fresh interpreters time ``import asa_bulk`` (the package loads its engine lazily) and
then ``asa_bulk.fetch_products`` (the engine: pandas, aiohttp, ...), next to ``import pandas,
aiohttp`` alone; ``-X importtime`` names the packages that cost the most (self time summed).

Time to first request: a probe HTTP server in this process (a thread) records when the first
bytes of each request arrive (``time.monotonic``, one system-wide clock on Linux and macOS), and
a fresh child process calls ``fetch_products([one ASIN])`` twice against it. Reported: from the
``asa_bulk.fetch_products`` attribute lookup (engine import included) to the first request,
from calling the already-resolved function to its first request (cold: first call in the
process), and the same for the second call (warm). Medians over fresh processes.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ._common import keys, median

TITLE = "5. Import time and time to first request (fresh interpreters)"
COLUMNS = ("measure", "runs", "median_ms", "min_ms", "max_ms", "note")

_IMPORT = """
import time
t0 = time.perf_counter()
import asa_bulk
t1 = time.perf_counter()
asa_bulk.fetch_products
t2 = time.perf_counter()
print(t1 - t0, t2 - t0)
"""
_REFERENCE = """
import time
t0 = time.perf_counter()
import aiohttp, pandas
print(time.perf_counter() - t0)
"""
_CHILD = """
import asyncio, json, sys, time
import asa_bulk
url, key = sys.argv[1], sys.argv[2]
marks = [time.monotonic()]
fetch = asa_bulk.fetch_products
async def main():
    for asin in ("B0PROBE01X", "B0PROBE02X"):
        marks.append(time.monotonic())
        frame = await fetch([asin], keys=[key], base_url=url, progress=False, env_file=None,
                            max_attempts=1)
        assert frame["status"].tolist() == ["ok"], frame[["status", "error"]]
asyncio.run(main())
print(json.dumps(marks))
"""
_BODY = b'{"asin":"B0PROBE01X","title":"Probe","price":1.5,"currency":"USD","rating":4.5}'
_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Request-Id: req_0123456789ab\r\n"
    b"Connection: close\r\nContent-Length: " + str(len(_BODY)).encode() + b"\r\n\r\n" + _BODY
)


class _Probe(asyncio.Protocol):
    """Records the arrival of each request's first bytes; answers one canned 200."""

    def __init__(self, arrivals: list[float]) -> None:
        self._arrivals = arrivals
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        if not self._buffer:
            self._arrivals.append(time.monotonic())
        self._buffer += data
        if b"\r\n\r\n" in self._buffer and self._transport is not None:
            self._transport.write(_RESPONSE)
            self._transport.close()


@contextmanager
def probe_server() -> Iterator[tuple[str, list[float]]]:
    """``(base_url, arrivals)`` of a probe server on a loopback port, in a daemon thread."""
    arrivals: list[float] = []
    ready: list[Any] = []
    started = threading.Event()

    def serve() -> None:
        loop = asyncio.new_event_loop()
        server = loop.run_until_complete(
            loop.create_server(lambda: _Probe(arrivals), "127.0.0.1", 0)
        )
        ready.extend([loop, server, server.sockets[0].getsockname()[1]])
        started.set()
        try:
            loop.run_forever()
        finally:
            server.close()
            loop.run_until_complete(server.wait_closed())
            loop.close()

    thread = threading.Thread(target=serve, name="asa-bench-probe", daemon=True)
    thread.start()
    if not started.wait(10):
        raise RuntimeError("the probe server did not start")
    loop, _, port = ready
    try:
        yield f"http://127.0.0.1:{port}", arrivals
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)


def _python(code: str, *args: str, flags: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *flags, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def top_imports(limit: int = 6) -> str:
    """The packages with the largest summed self import time, from ``-X importtime``."""
    err = _python("import asa_bulk; asa_bulk.fetch_products", flags=("-X", "importtime")).stderr
    totals: defaultdict[str, int] = defaultdict(int)
    for line in err.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", line)
        if match:
            totals[match.group(2).split(".")[0]] += int(match.group(1))
    top = sorted(totals.items(), key=lambda kv: -kv[1])[:limit]
    return ", ".join(f"{name} {us / 1000:.0f}" for name, us in top)


def _row(measure: str, values_s: list[float], note: str = "") -> dict[str, Any]:
    ms = [v * 1000 for v in values_s]
    return {
        "measure": measure,
        "runs": len(ms),
        "median_ms": median(ms),
        "min_ms": min(ms),
        "max_ms": max(ms),
        "note": note,
    }


def run(smoke: bool = False) -> list[dict[str, Any]]:
    """Import and time-to-first-request rows (see the module docstring)."""
    reps = 1 if smoke else 5
    lazy, engine, reference = [], [], []
    for _ in range(reps):
        a, b = (float(x) for x in _python(_IMPORT).stdout.split())
        lazy.append(a)
        engine.append(b)
        reference.append(float(_python(_REFERENCE).stdout))
    first_incl, first, second = [], [], []
    key = keys(1)[0]
    for _ in range(reps):
        with probe_server() as (url, arrivals):
            marks = json.loads(_python(_CHILD, url, key).stdout)
            if len(arrivals) >= 2:
                first_incl.append(arrivals[0] - marks[0])
                first.append(arrivals[0] - marks[1])
                second.append(arrivals[1] - marks[2])
    rows = [
        _row("import asa_bulk", lazy, "lazy: the engine loads on first use"),
        _row(
            "import asa_bulk + asa_bulk.fetch_products",
            engine,
            f"top self times (ms): {top_imports()}",
        ),
        _row("reference: import aiohttp, pandas", reference, "what the engine needs anyway"),
    ]
    if first:
        rows += [
            _row("first request: attribute lookup -> request", first_incl, "engine import incl."),
            _row("first request: first call -> request", first, "cold, function resolved"),
            _row("first request: second call -> request", second, "warm"),
        ]
    return rows


def headline(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "metric": r["measure"],
            "value": f"{r['median_ms']:.0f} ms"
            if r["median_ms"] >= 10
            else f"{r['median_ms']:.1f} ms",
            "target": "(reported)",
            "met": None,
        }
        for r in rows
        if not r["measure"].startswith("reference")
    ]


if __name__ == "__main__":
    from ._common import markdown_table

    print(markdown_table(run(), COLUMNS))
