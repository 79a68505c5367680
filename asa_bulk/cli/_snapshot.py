"""Dated snapshots for scheduled pulls: ``DIR/date=YYYY-MM-DD/part-0.parquet``.

``pd.read_parquet(DIR)`` (or any hive-partitioned parquet reader: pyarrow, DuckDB, Spark) reads
every day as one table with a ``date`` column. Each day holds one row per product request
(``asin`` + ``domain``, plus ``language``/``country`` when present): a second pull on the same
day merges into that day's file instead of adding duplicates, keeping for each product the
newest row that has a final status (``ok``/``not_found``/``invalid``) — a later ``failed`` or
``skipped`` attempt does not overwrite data already fetched that day. The merged file replaces
the old one atomically (hidden temporary file, then rename), under a lock file so two pulls
writing the same day do not lose each other's rows. Object columns are stored as JSON text
(see ``_writers``). Rows without an ASIN (junk input) cannot be keyed and are left out.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Final

import pandas as pd

from asa_bulk._records import DONE_STATUSES

from ._writers import atomic_write, flatten_for_files, require_pyarrow

log = logging.getLogger("asa_bulk.cli")

PART_NAME: Final = "part-0.parquet"
PARTITION: Final = "date"
_KEY_BASE: Final = ("asin", "domain")
_KEY_OPTIONAL: Final = ("language", "country")
_RANK: Final = "__asa_rank"
_SEQ: Final = "__asa_seq"


@dataclass(frozen=True)
class SnapshotResult:
    path: Path  # the day's parquet file
    rows: int  # rows in the day's file after this pull
    written: int  # rows this pull contributed
    replaced: int  # rows of earlier pulls the same day that this pull superseded
    unkeyed: int  # input rows left out because they have no ASIN


def partition_dir(directory: str | Path, day: date) -> Path:
    return Path(directory) / f"{PARTITION}={day.isoformat()}"


@contextlib.contextmanager
def _day_lock(folder: Path) -> Iterator[None]:
    """An exclusive lock on the day's folder (POSIX ``flock``; a no-op where unavailable)."""
    try:
        import fcntl
    except ImportError:  # Windows: no concurrent-writer protection
        yield
        return
    with (folder / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released on close, or by the OS if we die
        yield


def _key_columns(frame: pd.DataFrame) -> list[str]:
    return [*_KEY_BASE, *(name for name in _KEY_OPTIONAL if name in frame.columns)]


def _ranked(frame: pd.DataFrame, start: int) -> pd.DataFrame:
    out = flatten_for_files(frame)
    out[_RANK] = frame["status"].isin(sorted(DONE_STATUSES)).to_numpy().astype(int)
    out[_SEQ] = range(start, start + len(out))
    return out


def write_snapshot(frame: pd.DataFrame, directory: str | Path, *, day: date) -> SnapshotResult:
    """Merge ``frame`` into ``directory``'s partition for ``day`` (see the module docstring)."""
    require_pyarrow("--snapshot-dir")
    folder = partition_dir(directory, day)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / PART_NAME
    fresh = frame.drop(columns=[PARTITION], errors="ignore")
    keyed = fresh["asin"].notna() & (fresh["asin"].astype("string").str.len() > 0)
    unkeyed = int((~keyed).sum())
    fresh = fresh[keyed.to_numpy()]
    with _day_lock(folder):
        parts = sorted(folder.glob("part-*.parquet"))
        previous = [pd.read_parquet(part) for part in parts]
        n_old = sum(len(part) for part in previous)
        ranked = [_ranked(pd.concat(previous, ignore_index=True), 0)] if previous else []
        combined = pd.concat([*ranked, _ranked(fresh, n_old)], ignore_index=True)
        # Final statuses outrank failed/skipped; among equals the newest row wins.
        kept = combined.sort_values([_RANK, _SEQ], kind="stable").drop_duplicates(
            _key_columns(combined), keep="last"
        )
        kept = kept.sort_values(_SEQ, kind="stable")
        kept_old = int((kept[_SEQ] < n_old).sum())
        merged = flatten_for_files(kept.drop(columns=[_RANK, _SEQ]).reset_index(drop=True))
        atomic_write(target, lambda tmp: merged.to_parquet(tmp, index=False))
        for part in parts:
            if part != target:
                part.unlink(missing_ok=True)  # merged into part-0 above
    if unkeyed:
        log.info("snapshot: %d row(s) without an ASIN left out", unkeyed)
    return SnapshotResult(target, len(merged), len(merged) - kept_old, n_old - kept_old, unkeyed)
