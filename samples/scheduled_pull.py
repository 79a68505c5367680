#!/usr/bin/env python3
"""A daily pull as a Python job: run ``asa-bulk products`` with a snapshot, then report changes.

    python samples/scheduled_pull.py samples/watchlist.csv --workdir pulls
    # cron: 15 6 * * *  cd /srv/pulls && .venv/bin/python scheduled_pull.py watchlist.csv

Each run pulls today's (UTC; ``--date`` to backfill) data into ``WORKDIR``:

- ``out/products-DAY.parquet``  the day's table (one row per input row)
- ``snapshots/date=DAY/part-0.parquet``  the dataset ``asa_bulk.history("snapshots")`` reads
- ``state/DAY.ckpt``  checkpoint: a re-run the same day resumes and never pays twice
- ``logs/DAY.json``  the run report

then prints what changed since the previous day in the snapshots (``asa_bulk.diff``: prices,
products that appeared or disappeared), the place to hook an alert. The exit code is the
command's (0 all rows final, 1 some rows skipped, 2 usage error), for the scheduler.

Keys come from ``ASA_API_KEYS``/``ASA_API_KEY`` in the environment or ``./.env``; without a key
(or with ``--sandbox`` or ``ASA_BULK_SANDBOX=1``) it pulls from the offline sandbox. Needs
pyarrow (``pip install 'asa-bulk[parquet]'``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from datetime import date, datetime, timezone
from pathlib import Path

import pandas as pd
from dotenv import dotenv_values

import asa_bulk
from asa_bulk.cli import main as asa_bulk_cli

SANDBOX_KEYS_VAR = "SAMPLE_SANDBOX_KEYS"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="One daily pull with a snapshot and a diff.")
    parser.add_argument("input", type=Path, help="ASINs: .txt, .csv (asin column), ...")
    parser.add_argument("--workdir", type=Path, default=Path("pulls"), help="default: pulls/")
    parser.add_argument(
        "--date", type=date.fromisoformat, default=None, help="YYYY-MM-DD (default: today, UTC)"
    )
    parser.add_argument("--max-credits", type=int, default=None, help="credit cap for this run")
    parser.add_argument(
        "--sandbox", action="store_true", help="use the offline sandbox even if keys are set"
    )
    return parser.parse_args(argv)


def keys_configured(env_file: Path = Path(".env")) -> bool:
    """True when ASA_API_KEYS or ASA_API_KEY is set in the environment or in ``env_file``."""
    env = {**dotenv_values(env_file), **os.environ}
    return bool(env.get("ASA_API_KEYS") or env.get("ASA_API_KEY"))


@contextlib.contextmanager
def connection(use_sandbox: bool) -> Iterator[list[str]]:
    """Extra ``asa-bulk products`` flags: none for your keys, or a sandbox for the block."""
    if not use_sandbox:
        yield []
        return
    from asa_bulk.sandbox import make_test_keys, serve_in_thread

    with serve_in_thread(latency_scale=0.01, rps=100.0, burst_rps=200.0) as sandbox:
        print("no API key configured: pulling from the offline SANDBOX", file=sys.stderr)
        os.environ[SANDBOX_KEYS_VAR] = ",".join(make_test_keys(2))  # this process only
        yield ["--base-url", sandbox.base_url, "--keys-env", SANDBOX_KEYS_VAR]


def changes_since_previous_day(snapshots: Path, day: date) -> tuple[str | None, pd.DataFrame]:
    """The latest earlier day in ``snapshots`` and the products added, removed or repriced since.

    ``asa_bulk.diff`` does the comparing: a row that is not ``ok`` on one side (``failed`` or
    ``skipped`` today, so not checked) is ``failed`` there, which is not a change.
    """
    earlier = sorted(p.name[5:] for p in snapshots.glob("date=*") if p.name[5:] < day.isoformat())
    if not earlier:
        return None, pd.DataFrame()
    table = asa_bulk.diff(snapshots, earlier[-1], day, columns=["price"])
    changed = table[table["change"].isin(["changed", "added", "removed"])]
    shown = ["asin", "domain", "change", "price_old", "price_new", "price_pct"]
    return earlier[-1], changed[shown].set_index(["asin", "domain"])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    day = args.date or datetime.now(timezone.utc).date()
    work = args.workdir
    for folder in ("out", "state", "logs", "snapshots"):
        (work / folder).mkdir(parents=True, exist_ok=True)
    command = [
        "products",
        str(args.input),
        "-o", str(work / "out" / f"products-{day}.parquet"),
        "--checkpoint", str(work / "state" / f"{day}.ckpt"),
        "--snapshot-dir", str(work / "snapshots"),
        "--snapshot-date", day.isoformat(),
        "--report", str(work / "logs" / f"{day}.json"),
        "--no-progress",
    ]  # fmt: skip
    if args.max_credits is not None:
        command += ["--max-credits", str(args.max_credits)]
    use_sandbox = args.sandbox or os.environ.get("ASA_BULK_SANDBOX") == "1" or not keys_configured()
    with connection(use_sandbox) as extra:
        code = asa_bulk_cli([*command, *extra])
    if code == 2:  # a usage error: nothing was pulled (the command said why)
        return code

    previous, changed = changes_since_previous_day(work / "snapshots", day)
    if previous is None:
        print(f"{day}: first pull in {work / 'snapshots'}; nothing to compare with yet")
    elif changed.empty:
        print(f"{day}: no price changes since {previous}")
    else:
        print(f"{day}: {len(changed)} product(s) changed since {previous}:")
        print(changed.to_string())
    return code


if __name__ == "__main__":
    raise SystemExit(main())
