"""``make demo`` / ``asa-bulk demo``: the main job, end to end, on the built-in sandbox.

It starts the sandbox inside this process, looks up ``samples/asins.csv`` with three sandbox
keys (one is revoked mid-run), shows the progress bar, then prints the run summary and the
first rows. No key and no network are needed. Latency is scaled down and the limits raised so
that it finishes in seconds; the output says so, so nobody mistakes it for the real speed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

DEFAULT_INPUT = Path("samples/asins.csv")
REAL_MEDIAN_SECONDS = 2.6
SHOWN_COLUMNS = [
    "asin",
    "domain",
    "status",
    "error",
    "title",
    "price",
    "currency",
    "rating",
    "key_id",
]


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--input",
        type=Path,
        default=None,
        help=f"CSV with an 'asin' column (default: {DEFAULT_INPUT} if present, else generated)",
    )
    parser.add_argument(
        "--latency-scale",
        type=float,
        default=0.02,
        help="fraction of the real service's latency (median 2.6 s) to simulate (default 0.02)",
    )
    parser.add_argument(
        "--revoke-after",
        type=int,
        default=80,
        help="the second key is revoked after this many requests (default 80)",
    )
    parser.add_argument("--rows", type=int, default=12, help="rows of the result to print")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run_demo_command(args: argparse.Namespace) -> int:
    asyncio.run(
        run_demo(
            input_path=args.input,
            latency_scale=args.latency_scale,
            revoke_after=args.revoke_after,
            rows=args.rows,
            progress=not args.no_progress,
        )
    )
    return 0


def load_items(path: Path | None) -> tuple[pd.DataFrame | list[str], str]:
    """The demo input and a line describing it."""
    if path is None and DEFAULT_INPUT.is_file():
        path = DEFAULT_INPUT
    if path is not None:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        return frame, f"{path} ({len(frame)} rows)"
    items = [f"B0DEMO{n:04d}" for n in range(300)]
    return items, f"300 generated ASINs ({DEFAULT_INPUT} not found here)"


async def run_demo(
    *,
    input_path: Path | None = None,
    latency_scale: float = 0.02,
    revoke_after: int = 80,
    rps: float = 40.0,
    rows: int = 12,
    progress: bool = True,
    out: TextIO | None = None,
) -> pd.DataFrame:
    """Run the demo and print to ``out`` (stdout by default); returns the result frame."""
    import asa_bulk
    from asa_bulk.sandbox import make_test_keys, serve
    from asa_bulk.testing import set_testing

    out = out or sys.stdout
    items, described = load_items(input_path)
    keys = make_test_keys(3, seed=2026)
    key_ids = [asa_bulk.ApiKey(key).key_id for key in keys]
    sandbox_settings: dict[str, Any] = {
        "plan": "pro",
        "concurrency": 20,
        "rps": rps,
        "burst_rps": 2 * rps,
        "latency_scale": latency_scale,
        "faults": {"internal_error": 0.02, "extraction_failed": 0.01, "rate_limited": 0.01},
        "revoke_after": {keys[1]: revoke_after},
        "seed": 7,
    }
    async with serve(**sandbox_settings) as sandbox:
        print(
            "asa_bulk demo: every request goes to the built-in SANDBOX, not the real service",
            file=out,
        )
        print(f"  sandbox   {sandbox.base_url}", file=out)
        print(
            f"  simulated latency {latency_scale:g} x the real service's (median "
            f"{REAL_MEDIAN_SECONDS * latency_scale * 1000:.0f} ms, not {REAL_MEDIAN_SECONDS} s); "
            f"limits raised to 20 in flight / {rps:g} requests/s per key;\n"
            "  retry waits x0.01; ~4% injected errors (500, 502, 429) to show retries",
            file=out,
        )
        print(
            f"  keys      {', '.join(key_ids)} "
            f"(the second is revoked after {revoke_after} requests)",
            file=out,
        )
        print(f"  input     {described}", file=out)
        print(file=out, flush=True)
        with set_testing(seed=7):  # the same retry jitter, so the same story, every time
            frame = await asa_bulk.fetch_products(
                items,
                keys=keys,
                base_url=sandbox.base_url,
                progress=progress,
                retry_delay_scale=0.01,
                env_file=None,
            )
        billed_twice = sandbox.stats.billed_twice
    run = frame.attrs["run"]
    print(file=out)
    print(asa_bulk.format_summary(run), file=out)
    print(f"  sandbox billing check: {len(billed_twice)} ASIN(s) billed twice", file=out)
    print(file=out)
    with pd.option_context("display.width", 160, "display.max_colwidth", 38):
        print(frame[SHOWN_COLUMNS].head(rows).to_string(), file=out)
    unique = run["unique_requests"]
    minutes = unique / 2.0 / 3 / 60  # Free plan: 2 requests/s per key, 3 keys
    print(
        f"\nOn the real service (median {REAL_MEDIAN_SECONDS} s per lookup) these {unique} lookups "
        f"would take about {minutes:.1f} min\nat the Free plan's 2 requests/s per key with 3 keys.",
        file=out,
    )
    return frame
