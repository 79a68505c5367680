"""Shared helpers: machine facts, markdown tables, a sandbox in its own process, ASIN lists.

The sandbox always runs as a separate process (``python -m asa_bulk.sandbox``) so that its CPU
never competes with the client under test for the GIL; its base URL is the last word of its
first stdout line.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import selectors
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from asa_bulk.sandbox import make_test_keys

#: Distributions whose versions appear in every report.
PACKAGES = ("asa-bulk", "aiohttp", "pandas", "numpy", "pyarrow", "httpx", "amazonscraperapi-sdk")

#: Limits so high that the sandbox never refuses anything (overhead and memory runs).
UNLIMITED: dict[str, Any] = {"concurrency": 100_000, "rps": 1e9, "burst_rps": 1e9}

_START_TIMEOUT = 30.0


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else ``platform.processor()``)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def usable_cores() -> int:
    """Cores this process may run on (affinity where available)."""
    with contextlib.suppress(AttributeError):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def machine_info() -> dict[str, str]:
    """CPU, cores, OS, Python and package versions, for the report header."""
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    return {
        "CPU": cpu_model(),
        "cores": f"{usable_cores()} usable ({os.cpu_count()} logical)",
        "OS": platform.platform(),
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "packages": ", ".join(versions),
    }


def fmt(value: Any) -> str:
    """A table cell: floats with sensible precision, None as a dash."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        if abs(value) >= 1:
            return f"{value:.2f}"
        return f"{value:.3f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    """Rows of dicts as a GitHub markdown table (columns: the given ones, else every key seen)."""
    if not rows:
        return "(no rows)"
    if columns is None:
        seen: dict[str, None] = {}
        for row in rows:
            seen.update(dict.fromkeys(row))
        columns = list(seen)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def median(values: Iterable[float]) -> float:
    return float(statistics.median(list(values)))


def asins(n: int, tag: str = "A") -> list[str]:
    """``n`` distinct valid ASINs (``B`` + tag + digits); none ends in ``404`` (the sandbox's
    not-found rule), so every lookup answers 200."""
    width = 8 - len(tag)
    if n > 10**width:
        raise ValueError(f"at most {10**width} distinct ASINs with tag {tag!r}")
    return [f"B{tag}{i:0{width}d}X" for i in range(n)]


def keys(n: int, seed: int = 0) -> list[str]:
    """``n`` well-formed sandbox keys (``asa_test_`` + 24 characters); another ``seed`` gives
    keys that share no per-key limits with these."""
    return make_test_keys(n, seed=seed)


async def warm_bodies(base_url: str, items: Sequence[str], per_key: int = 10) -> None:
    """Request every item once with throw-away keys, so that the sandbox serves cached bodies
    during the measurement: generating a fresh product costs it ~0.2 ms of CPU, which with a
    fixed latency piles up in synchronised waves and would be billed to the client under test.
    """
    from .baseline_aiohttp import fetch_all

    warm_keys = keys(max(1, min(100, len(items) // 100)), seed=99)
    await fetch_all(items, base_url=base_url, api_keys=warm_keys, concurrency=per_key)


def percent(part: float, whole: float) -> float:
    return 100.0 * part / whole if whole else 0.0


class SandboxProcess:
    """``python -m asa_bulk.sandbox --config FILE --port 0`` for the ``with`` block.

    ``settings`` are :class:`asa_bulk.sandbox.SandboxSettings` fields, written to a JSON file.
    """

    def __init__(self, **settings: Any) -> None:
        self.settings = settings
        self.base_url = ""
        self.pid: int | None = None
        self._proc: subprocess.Popen[str] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> SandboxProcess:
        self._tmp = tempfile.TemporaryDirectory(prefix="asa-bench-sandbox-")
        config = Path(self._tmp.name) / "sandbox.json"
        config.write_text(json.dumps(self.settings), encoding="utf-8")
        cmd = [sys.executable, "-m", "asa_bulk.sandbox", "--config", str(config), "--port", "0"]
        self._proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=self._tmp.name
        )
        self.pid = self._proc.pid
        try:
            self.base_url = self._first_line().split()[-1]
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _first_line(self) -> str:
        proc = self._proc
        assert proc is not None
        assert proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout=_START_TIMEOUT):
                raise RuntimeError(f"the sandbox printed nothing within {_START_TIMEOUT:g} s")
        line = proc.stdout.readline()
        if not line.startswith("Sandbox serving "):
            err = proc.stderr.read() if proc.stderr and proc.poll() is not None else ""
            raise RuntimeError(f"the sandbox did not start: {line!r} {err.strip()}")
        return line

    def __exit__(self, *exc_info: object) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if proc is not None:
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        if self._tmp is not None:
            self._tmp.cleanup()


@contextlib.contextmanager
def sandbox(**settings: Any) -> Iterator[SandboxProcess]:
    """A :class:`SandboxProcess` as a plain context manager."""
    with SandboxProcess(**settings) as proc:
        yield proc


async def timed_fetch(
    items: Sequence[str], *, base_url: str, api_keys: Sequence[str], **options: Any
) -> tuple[Any, float, float]:
    """``(frame, wall seconds, start)`` of one ``asa_bulk.fetch_products`` call, no progress
    bar, no ``.env``; ``start`` is the wall clock (``time.time()``) just before the call."""
    import asa_bulk

    fetch = asa_bulk.fetch_products  # resolved first: the package imports its engine lazily
    start = time.time()
    t0 = time.perf_counter()
    frame = await fetch(
        items, keys=list(api_keys), base_url=base_url, progress=False, env_file=None, **options
    )
    return frame, time.perf_counter() - t0, start


def completion_offsets(frame: Any, start: float) -> list[float]:
    """Seconds from ``start`` (a ``time.time()``) to each row's ``fetched_at``, sorted."""
    import pandas as pd

    stamps = frame["fetched_at"].dropna()
    epoch = (stamps - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
    return sorted(float(t) - start for t in epoch)


def steady_rate(offsets: Sequence[float], low: float = 0.1, high: float = 0.9) -> float | None:
    """Completions per second between the ``low`` and ``high`` quantiles of completion times:
    the throughput once started and before the tail, independent of start-up and build time."""
    n = len(offsets)
    if n < 20:
        return None
    i, j = int(n * low), int(n * high) - 1
    span = offsets[j] - offsets[i]
    return (j - i) / span if span > 0 else None
