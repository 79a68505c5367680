"""``python -m benchmarks [--smoke] [--only NAME[,NAME]] [--big] [--sizes N[,N]]``: run the
suite, print markdown.

Benchmarks are scripts, not timed tests: targets are reported (``met`` column), never enforced,
and the exit status is non-zero only when a benchmark crashed. ``--smoke`` runs every benchmark
on tiny inputs in seconds (CI runs it so they don't rot; its figures mean nothing). ``--big``
adds the 1,000,000-item CLI memory run (minutes). The scale suite runs 10k, 100k and 1M items
(the 1M runs take many minutes; ``--sizes 10k,100k`` picks others). ``ASA_*`` variables are
ignored so that a developer's own settings cannot pin the client.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from datetime import datetime, timezone
from types import ModuleType
from typing import Any

from . import (
    batch_mode,
    ceiling,
    dask_cluster,
    history_read,
    memory,
    overhead,
    scale,
    sdk,
    startup,
)
from ._common import machine_info, markdown_table

SUITE: dict[str, ModuleType] = {
    "ceiling": ceiling,
    "overhead": overhead,
    "sdk": sdk,
    "memory": memory,
    "startup": startup,
    "scale": scale,
    "history": history_read,
    "batch": batch_mode,
    "dask": dask_cluster,
}

_SUFFIXES = {"k": 1_000, "m": 1_000_000}


def parse_sizes(text: str) -> list[int]:
    """``"10k,100k,1M"`` -> ``[10000, 100000, 1000000]`` (plain integers too)."""
    sizes = []
    for word in text.replace(" ", "").split(","):
        factor = _SUFFIXES.get(word[-1:].lower(), 1)
        digits = word[:-1] if factor != 1 else word
        try:
            n = int(float(digits) * factor)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"--sizes: {word!r} is not an item count (like 10000, 10k or 1M)"
            ) from None
        if n < 1:
            raise argparse.ArgumentTypeError(f"--sizes: {word!r} is not a positive item count")
        sizes.append(n)
    return sizes


def _run_one(
    name: str, module: ModuleType, smoke: bool, big: bool, sizes: list[int] | None
) -> list[dict[str, Any]]:
    if name == "memory":
        rows: list[dict[str, Any]] = module.run(smoke=smoke, big=big)
    elif name == "scale":
        rows = module.run(smoke=smoke, sizes=sizes)
    else:
        rows = module.run(smoke=smoke)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny inputs, seconds, no targets")
    parser.add_argument(
        "--only", metavar="NAME", help=f"comma-separated subset of: {', '.join(SUITE)}"
    )
    parser.add_argument("--big", action="store_true", help="also the 1M-item memory run")
    parser.add_argument(
        "--sizes",
        type=parse_sizes,
        metavar="N[,N]",
        help="item counts of the scale suite (default 10k,100k,1M; smoke 200,400)",
    )
    args = parser.parse_args(argv)
    names = list(SUITE) if not args.only else [n.strip() for n in args.only.split(",")]
    unknown = [n for n in names if n not in SUITE]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(SUITE)}")
    for var in [v for v in os.environ if v.startswith("ASA_")]:
        del os.environ[var]

    mode = "smoke (tiny inputs: the figures mean nothing)" if args.smoke else "full"
    print(f"# asa_bulk benchmarks, {mode}\n")
    print(f"- date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    for label, value in machine_info().items():
        print(f"- {label}: {value}")
    print(flush=True)

    headlines: list[dict[str, Any]] = []
    failed: list[str] = []
    started = time.perf_counter()
    for name in names:
        module = SUITE[name]
        print(f"## {module.TITLE}\n", flush=True)
        t0 = time.perf_counter()
        try:
            rows = _run_one(name, module, args.smoke, args.big, args.sizes)
        except Exception:
            failed.append(name)
            print(f"FAILED:\n\n```\n{traceback.format_exc()}```\n", flush=True)
            continue
        print(markdown_table(rows, module.COLUMNS))
        print(f"\n({name}: {time.perf_counter() - t0:.1f} s)\n", flush=True)
        headlines += [{"benchmark": name, **h} for h in module.headline(rows)]

    print("## Summary\n")
    print(markdown_table(headlines, ("benchmark", "metric", "value", "target", "met")))
    print(f"\n(total {time.perf_counter() - started:.1f} s)")
    if failed:
        print(f"\nCRASHED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
