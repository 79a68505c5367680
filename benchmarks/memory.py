"""4. Memory: peak RSS of the CLI with ``--checkpoint``, and the DataFrame building cost.

The CLI runs as a child process against the sandbox (own process, zero latency, limits far
above, 3 keys with ``--concurrency 50 --rps 1e9``)::

    python -m asa_bulk products items.txt -o out.parquet --checkpoint ck.sqlite --no-progress

and its peak RSS is its own ``ru_maxrss`` (``os.wait4`` on its pid); ``cpu_per_item_us`` is
the CLI process's user+system CPU per item (the sandbox runs in this process: not counted). A
tiny run (100 items) gives the fixed cost (interpreter, pandas, pyarrow, aiohttp);
``growth_per_item`` = (RSS - that) / N. What the output itself costs is measured in-process
with tracemalloc (``output_per_row``: the Python heap the returned frame keeps, nested
lists/dicts of its object columns included, which ``memory_usage(deep=True)`` undercounts),
together with the heap's peak during the call. ``growth_vs_output`` near 1 means memory is flat
in N apart from the output. ``--big`` adds 1,000,000 items (minutes; skipped when the projected
RSS exceeds the available memory).

``build_frame`` rows/s comes from ``benchmarks/frame_build.py`` (~2 KB realistic bodies).
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import tempfile
import tracemalloc
from pathlib import Path
from typing import Any

from . import frame_build
from ._common import (
    UNLIMITED,
    asins,
    available_memory,
    file_bytes,
    keys,
    measure_process,
    remove_with_side_files,
    sandbox,
)

TITLE = "4. Memory of the CLI with --checkpoint (zero latency) and DataFrame building"
COLUMNS = (
    "case", "N", "exit", "wall_s", "items_per_s", "cpu_per_item_us", "peak_rss_mb",
    "growth_per_item_kb", "growth_vs_output", "heap_peak_per_item_kb", "output_per_row_kb",
    "peak_vs_output", "parquet_mb", "checkpoint_mb", "target", "met",
)  # fmt: skip
FRAME_TARGET = 50_000
BASE_N = 100


def _run_cli(base_url: str, n: int, workdir: Path) -> dict[str, Any]:
    """Run the CLI on ``n`` fresh ASINs; its exit code, wall time and peak RSS (bytes)."""
    src = workdir / f"items-{n}.txt"
    src.write_text("\n".join(asins(n, "M")) + "\n", encoding="utf-8")
    out, ck = workdir / f"out-{n}.parquet", workdir / f"ck-{n}.sqlite"
    cli = [
        sys.executable, "-m", "asa_bulk", "products", str(src), "-o", str(out),
        "--checkpoint", str(ck), "--no-progress", "--quiet", "--base-url", base_url,
        "--concurrency", "50", "--rps", "1000000000",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASA_")}
    env["ASA_API_KEYS"] = ",".join(keys(3))
    run = measure_process(cli, cwd=workdir, env=env)
    stderr = run.stderr[-2000:]
    if run.killed:
        stderr += f"\nkilled at {run.killed / 2**30:.1f} GiB RSS: over 80% of the available memory"
    return {
        "exit": run.exit,
        "wall": run.wall,
        "rss": run.rss,
        "cpu": run.cpu,
        "killed": bool(run.killed),
        "out": out,
        "ck": ck,
        "stderr": stderr,
    }


def cli_rows(sizes: list[int], output_per_row: float | None) -> list[dict[str, Any]]:
    """One row per N; ``output_per_row`` (bytes, from :func:`heap_row`) sizes the output."""
    rows = []
    mb = 1024 * 1024
    with (
        sandbox(fixed_latency=0, **UNLIMITED) as sb,
        tempfile.TemporaryDirectory(prefix="asa-bench-mem-") as tmp,
    ):
        base = _run_cli(sb.base_url, BASE_N, Path(tmp))
        per_item: float | None = None
        for n in [BASE_N, *sizes]:
            projected = base["rss"] + (per_item or 0) * n
            available = available_memory()
            if per_item and available is not None and projected > 0.8 * available:
                rows.append(
                    {
                        "case": "CLI products --checkpoint (not run)",
                        "N": n,
                        "peak_rss_mb": projected / mb,
                        "target": f"skipped: projected {projected / 2**30:.1f} GiB > 80% of "
                        f"the {available / 2**30:.1f} GiB available",
                    }
                )
                continue
            result = base if n == BASE_N else _run_cli(sb.base_url, n, Path(tmp))
            if result["killed"]:
                rows.append(
                    {
                        "case": "CLI products --checkpoint (killed: over 80% of available memory)",
                        "N": n,
                        "exit": result["exit"],
                        "wall_s": result["wall"],
                        "peak_rss_mb": result["rss"] / mb,
                    }
                )
                continue
            if result["exit"] != 0:
                print(
                    f"CLI exited {result['exit']} for N={n}:\n{result['stderr']}", file=sys.stderr
                )
            growth = (result["rss"] - base["rss"]) / n if n != BASE_N else None
            per_item = growth if growth is not None else per_item
            ratio = growth / output_per_row if growth is not None and output_per_row else None
            parquet = file_bytes(result["out"])
            checkpoint = file_bytes(result["ck"])
            rows.append(
                {
                    "case": "CLI products --checkpoint",
                    "N": n,
                    "exit": result["exit"],
                    "wall_s": result["wall"],
                    "items_per_s": n / result["wall"],
                    "cpu_per_item_us": result["cpu"] / n * 1e6,
                    "peak_rss_mb": result["rss"] / mb,
                    "growth_per_item_kb": growth / 1024 if growth is not None else None,
                    "growth_vs_output": ratio,
                    "parquet_mb": parquet / mb if parquet else None,
                    "checkpoint_mb": checkpoint / mb if checkpoint else None,
                }
            )
            for path in (result["out"], result["ck"]):
                remove_with_side_files(path)
    return rows


def _arrow_bytes() -> int:
    """Bytes held by pyarrow's default memory pool (pandas' ``string`` columns live there,
    out of tracemalloc's sight); 0 without pyarrow."""
    try:
        import pyarrow
    except ImportError:
        return 0
    return int(pyarrow.total_allocated_bytes())


async def _heap(base_url: str, n: int) -> tuple[float, float]:
    """(peak, retained) bytes per item of one in-process ``fetch_products`` call: Python heap
    by tracemalloc plus pyarrow's pool. Peak during the call; retained = what the returned
    frame keeps (its object columns hold nested lists/dicts that ``memory_usage(deep=True)``
    undercounts)."""
    import asa_bulk

    fetch = asa_bulk.fetch_products
    items = asins(n, "H")
    gc.collect()
    arrow0 = _arrow_bytes()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        frame = await fetch(
            items, keys=keys(3), base_url=base_url, progress=False, env_file=None,
            concurrency=50, rps=1e9,
        )  # fmt: skip
        gc.collect()
        retained, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(frame) == n
    arrow = _arrow_bytes() - arrow0  # built at the end: its peak is (nearly) what stays
    return (peak - base + arrow) / n, (retained - base + arrow) / n


def heap_row(smoke: bool) -> dict[str, Any]:
    n = 300 if smoke else 10_000
    with sandbox(fixed_latency=0, **UNLIMITED) as sb:
        peak, retained = asyncio.run(_heap(sb.base_url, n))
    return {
        "case": "fetch_products in-process, heap (tracemalloc + Arrow pool)",
        "N": n,
        "heap_peak_per_item_kb": peak / 1024,
        "output_per_row_kb": retained / 1024,
        "peak_vs_output": peak / retained if retained > 0 else None,
    }


def frame_row(smoke: bool) -> dict[str, Any]:
    result = frame_build.run(500 if smoke else 100_000, repeat=1 if smoke else 3)
    return {
        "case": f"build_frame (~{result['avg_body_bytes']:,} B bodies, {result['columns']} cols)",
        "N": result["rows"],
        "wall_s": result["seconds"],
        "items_per_s": result["rows_per_s"],
        "target": f">= {FRAME_TARGET:,} rows/s",
        "met": (result["rows_per_s"] or 0) >= FRAME_TARGET,
    }


def run(smoke: bool = False, big: bool = False) -> list[dict[str, Any]]:
    """CLI peak RSS rows (100, 10k, 100k; +1M with ``big``; smoke: 100, 300) and build_frame."""
    sizes = [300] if smoke else [10_000, 100_000]
    if big:
        sizes.append(1_000_000)
    heap = heap_row(smoke)
    output = heap["output_per_row_kb"] * 1024
    return [*cli_rows(sizes, output), heap, frame_row(smoke)]


def headline(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        if r["case"].startswith("build_frame"):
            out.append(
                {
                    "metric": "build_frame rows/s",
                    "value": f"{r['items_per_s']:,.0f}",
                    "target": r["target"],
                    "met": r["met"],
                }
            )
        elif r["case"].startswith("fetch_products"):
            out.append(
                {
                    "metric": "engine heap peak per item vs the output's own size",
                    "value": f"{r['heap_peak_per_item_kb']:.1f} KB vs "
                    f"{r['output_per_row_kb']:.1f} KB (x{r['peak_vs_output']:.2f})",
                    "target": "flat apart from the output",
                    "met": None,
                }
            )
        elif r.get("growth_per_item_kb") is not None:
            ratio = r.get("growth_vs_output")
            out.append(
                {
                    "metric": f"CLI peak RSS, N={r['N']:,} (RSS growth per item)",
                    "value": f"{r['peak_rss_mb']:,.0f} MB ({r['growth_per_item_kb']:.1f} KB/item"
                    + (f", x{ratio:.1f} the output)" if ratio else ")"),
                    "target": "flat apart from the output",
                    "met": None,
                }
            )
    return out


if __name__ == "__main__":
    from ._common import markdown_table

    print(markdown_table(run(big="--big" in sys.argv), COLUMNS))
