"""Shared helpers: machine facts, markdown tables, a sandbox in its own process, ASIN lists,
and measured child processes (peak RSS and CPU of their own).

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
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
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


def process_cpu_seconds(pid: int) -> float | None:
    """CPU seconds (user + system) of process ``pid`` so far; None where /proc is missing."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def available_memory() -> float | None:
    """MemAvailable in bytes (Linux), else None."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def memory_budget() -> float | None:
    """80% of the memory available now (bytes), or None where unknown."""
    available = available_memory()
    return 0.8 * available if available is not None else None


def file_bytes(path: Path) -> float | None:
    """Bytes of a file plus its SQLite side files (``-wal``, ``-shm``), None if none exists."""
    total = 0.0
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if p.exists():
            total += p.stat().st_size
    return total or None


def remove_with_side_files(path: Path) -> None:
    """Delete a file and its SQLite side files (large runs leave GBs behind otherwise)."""
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        p.unlink(missing_ok=True)


#: Runs a command and prints ``[exit code, ru_maxrss, RSS when killed or 0, CPU s, wall s]`` as
#: JSON. Peak RSS needs a small parent: Linux carries the forking process's RSS high-water mark
#: into the child's ``ru_maxrss`` across exec, and a benchmark's own process may be hundreds of
#: MB by then. The launcher also kills the child (SIGKILL) if its RSS passes the budget
#: (argv[1], bytes; 0 = none), so a benchmark can never run a shared machine out of memory. It
#: waits without reaping (``WNOWAIT``) while it watches, so the pid cannot be reused under the
#: watcher. argv[2] and argv[3] receive the child's stdout and stderr.
_LAUNCHER = """
import json, os, signal, subprocess, sys, threading, time
budget = float(sys.argv[1])
killed = []
done = threading.Event()
def rss():
    try:
        with open(f"/proc/{child.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return float(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
def watch():
    while not done.wait(0.2):
        now = rss()
        if now is not None and now > budget:
            killed.append(now)
            os.kill(child.pid, signal.SIGKILL)
            return
with open(sys.argv[2], "wb") as out, open(sys.argv[3], "wb") as err:
    started = time.perf_counter()
    child = subprocess.Popen(sys.argv[4:], stdout=out, stderr=err)
    if budget > 0 and hasattr(os, "waitid"):
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
        done.set()
        watcher.join()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
child.returncode = os.waitstatus_to_exitcode(status)
cpu = usage.ru_utime + usage.ru_stime
print(json.dumps([child.returncode, usage.ru_maxrss, killed[0] if killed else 0, cpu, wall]))
"""


@dataclass(frozen=True)
class Measured:
    """One measured child process: exit code, wall and CPU seconds (user + system), peak RSS
    (bytes, its own ``ru_maxrss``), the RSS it was killed at (0: not killed), its stdout and
    the tail of its stderr."""

    exit: int
    wall: float
    cpu: float
    rss: float
    killed: float
    stdout: str
    stderr: str


def measure_process(
    cmd: Sequence[str], *, cwd: Path, env: Mapping[str, str], budget: float | None = None
) -> Measured:
    """Run ``cmd`` as a fresh child (through the small launcher above) and measure it.

    ``budget``: kill the child above this RSS (bytes); default :func:`memory_budget`.
    """
    budget = memory_budget() if budget is None else budget
    with tempfile.TemporaryDirectory(prefix="asa-bench-proc-") as tmp:
        out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
        launched = subprocess.run(
            [sys.executable, "-c", _LAUNCHER, str(budget or 0.0), str(out), str(err), *cmd],
            cwd=cwd, env=dict(env), stdout=subprocess.PIPE, text=True, check=True,
        )  # fmt: skip
        code, maxrss, killed, cpu, wall = json.loads(launched.stdout.strip().splitlines()[-1])
        stdout = out.read_text(errors="replace")
        stderr = err.read_text(errors="replace")[-3000:]
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB elsewhere
    return Measured(code, wall, cpu, maxrss * scale, killed, stdout, stderr)
