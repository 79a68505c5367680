"""Dated snapshots for scheduled pulls: ``DIR/date=YYYY-MM-DD/part-0.parquet``.

``pd.read_parquet(DIR)`` (or any hive-partitioned parquet reader: pyarrow, DuckDB, Spark) reads
every day as one table with a ``date`` column. Each day holds one row per product request
(``asin`` + ``domain``, plus ``language``/``country`` when present): a second pull on the same
day merges into that day's file instead of adding duplicates, keeping for each product the
newest row that has a final status (``ok``/``not_found``/``invalid``) — a later ``failed`` or
``skipped`` attempt does not overwrite data already fetched that day. The merged file replaces
the old one atomically (hidden temporary file, then rename), under a lock file so two pulls
writing the same day do not lose each other's rows. Object columns are stored as JSON text
(see ``_parts``). Rows without an ASIN (junk input) cannot be keyed and are left out.

Search snapshots (:data:`SEARCH_KEY`) hold one row per result card, and a query's rows are
replaced together: per (``query``, ``domain``, ``sort_by``) the day keeps the newest pull whose
rows for it are all final (``ok``/``invalid``), else the newest pull, never a mix of two
pulls' pages (its positions are counted across its pages, so they belong together). A
duplicated query of one pull is kept once, where it first came. Rows without a query are left
out.

A run feeds its rows as they arrive (:func:`open_snapshot`): they are spooled to a hidden
parquet file in the day's folder (skipped by dataset readers), and the merge happens once, at
:meth:`SnapshotParts.finish`. That merge still loads the day's earlier rows and this run's rows
into memory (about the size of the day's data as a DataFrame); the run itself holds none.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import Final

import pandas as pd

from asa_bulk._errors import ConfigError
from asa_bulk._frame import empty_frame
from asa_bulk._records import DONE_STATUSES

from ._parts import OutputParts, open_parts
from ._writers import atomic_write, flatten_for_files, require_pyarrow

log = logging.getLogger("asa_bulk.cli")

PART_NAME: Final = "part-0.parquet"
PARTITION: Final = "date"
_RANK: Final = "__asa_rank"
_SEQ: Final = "__asa_seq"
_UNIT: Final = "__asa_unit"  # rows replaced together: one query of one pull (search)
_SCORE: Final = "__asa_score"


@dataclass(frozen=True)
class SnapshotKey:
    """What makes a row of a day unique, and what is replaced together."""

    columns: tuple[str, ...]  # always present; the first one must be set for a row to be kept
    optional: tuple[str, ...] = ()  # part of the key when the frame has them
    #: Rows of one input row (one query: its cards) are replaced together; else row by row.
    whole_input_rows: bool = False

    def of(self, frame: pd.DataFrame) -> list[str]:
        return [*self.columns, *(name for name in self.optional if name in frame.columns)]


PRODUCT_KEY: Final = SnapshotKey(("asin", "domain"), ("language", "country"))
SEARCH_KEY: Final = SnapshotKey(("query", "domain", "sort_by"), whole_input_rows=True)


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


def _ranked(frame: pd.DataFrame, start: int) -> pd.DataFrame:
    out = flatten_for_files(frame)
    out[_RANK] = frame["status"].isin(sorted(DONE_STATUSES)).to_numpy().astype(int)
    out[_SEQ] = range(start, start + len(out))
    return out


class SnapshotParts:
    """This run's rows for one day's snapshot, spooled as they arrive; see the module docstring.

    ``write(chunk)`` for each chunk of results, then ``finish()`` merges them into the day's
    file and returns what it did. As a context manager, the spool is removed on the way out
    whatever happens (an unfinished snapshot leaves the day's file as it was).
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        day: date,
        template: pd.DataFrame | None = None,
        key: SnapshotKey = PRODUCT_KEY,
    ) -> None:
        require_pyarrow("--snapshot-dir")
        self._key = key
        self._folder = partition_dir(directory, day)
        self._folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self._folder, prefix=".run-", suffix=".parquet")
        os.close(fd)
        self._spool_path = Path(name)  # hidden: pyarrow datasets and our glob skip it
        if template is not None:
            template = template.drop(columns=[PARTITION], errors="ignore")
            if key.whole_input_rows:
                template = template.assign(**{_UNIT: pd.Series(dtype="int64")})
        self._spool: OutputParts = open_parts(self._spool_path, template)
        self._started = template is not None
        self.unkeyed = 0  #: rows left out so far because they have no ASIN

    def write(self, chunk: pd.DataFrame) -> None:
        """Spool ``chunk``'s keyed rows (its ``date`` column, if any, is the partition's; its
        index, for a whole-input-rows key, tells input rows apart)."""
        fresh = chunk.drop(columns=[PARTITION], errors="ignore")
        if self._key.whole_input_rows:
            fresh = fresh.assign(**{_UNIT: chunk.index.to_numpy(dtype="int64") + 1})
        first = fresh[self._key.columns[0]]
        keyed = first.notna() & (first.astype("string").str.len() > 0)
        keyed_rows = keyed.to_numpy(dtype=bool, na_value=False)
        self.unkeyed += int((~keyed_rows).sum())
        self._spool.write(fresh[keyed_rows])
        self._started = True

    def finish(self) -> SnapshotResult:
        """Merge the spooled rows into the day's file (under its lock); the spool is dropped."""
        try:
            self._spool.commit()
            fresh = pd.read_parquet(self._spool_path) if self._started else None
            result = _merge(self._folder, fresh, self.unkeyed, self._key)
        finally:
            self._spool_path.unlink(missing_ok=True)
        if self.unkeyed:
            what = self._key.columns[0]
            log.info("snapshot: %d row(s) without %s left out", self.unkeyed, what)
        return result

    def abort(self) -> None:
        """Drop the spool; the day's file is untouched (idempotent)."""
        self._spool.abort()
        self._spool_path.unlink(missing_ok=True)

    def __enter__(self) -> SnapshotParts:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.abort()  # after finish() there is nothing left to remove


def open_snapshot(
    directory: str | Path,
    *,
    day: date,
    raw: bool = False,
    template: pd.DataFrame | None = None,
    key: SnapshotKey = PRODUCT_KEY,
) -> SnapshotParts:
    """A :class:`SnapshotParts` for the engine's chunks: product rows (the columns of
    ``column_dtypes(raw=raw)``) unless ``template`` and ``key`` say otherwise."""
    if template is None:
        template = empty_frame(raw=raw)
    return SnapshotParts(directory, day=day, template=template, key=key)


def write_snapshot(
    frame: pd.DataFrame, directory: str | Path, *, day: date, key: SnapshotKey = PRODUCT_KEY
) -> SnapshotResult:
    """Merge ``frame`` into ``directory``'s partition for ``day`` (see the module docstring).
    For a key that replaces whole input rows (search), ``frame``'s index must be each row's
    input position, as in the engine's frames: rows of one query share it."""
    with SnapshotParts(directory, day=day, key=key) as snapshot:
        snapshot.write(frame)
        return snapshot.finish()


def check_snapshot_dir(directory: str | Path, key: SnapshotKey) -> None:
    """A :class:`ConfigError` when ``directory`` already holds another command's snapshots
    (a search pull merged into product days, say), before anything is sent."""
    days = sorted(Path(directory).glob(f"{PARTITION}=*/{PART_NAME}"))
    if not days:
        return
    import pyarrow.parquet as pq

    try:
        names = set(pq.read_schema(days[-1]).names)
    except Exception:  # unreadable: the merge reports it, naming the file
        return
    missing = [name for name in key.columns if name not in names]
    if missing:
        raise ConfigError(
            f"--snapshot-dir {directory} holds other snapshots: {days[-1]} has no "
            f"{', '.join(missing)} column; give this command its own directory"
        )


def _first_occurrences(frame: pd.DataFrame, key: SnapshotKey) -> pd.DataFrame:
    """A query given twice in one pull (a duplicate input row) is kept once, where it first
    came, so that the day's file keeps the input's order."""
    units = frame.groupby(key.of(frame), dropna=False, sort=False)[_UNIT]
    first: pd.DataFrame = frame[(frame[_UNIT] == units.transform("min")).to_numpy()]
    return first


def _kept_rows(combined: pd.DataFrame, key: SnapshotKey) -> pd.DataFrame:
    """The rows the day keeps, in the order they arrived. Final statuses outrank
    failed/skipped; among equals the newest wins (a row, or a whole unit of rows)."""
    columns = key.of(combined)
    kept: pd.DataFrame
    if not key.whole_input_rows:
        kept = combined.sort_values([_RANK, _SEQ], kind="stable")
        kept = kept.drop_duplicates(columns, keep="last")
    else:
        units = combined.groupby([*columns, _UNIT], dropna=False, sort=False)
        # One score per unit: all of its rows final first, then its newest row (seqs unique).
        score = units[_RANK].transform("min") * (len(combined) + 1) + units[_SEQ].transform("max")
        best = score.groupby([combined[name] for name in columns], dropna=False).transform("max")
        kept = combined[(score == best).to_numpy()]
    ordered: pd.DataFrame = kept.sort_values(_SEQ, kind="stable")
    return ordered


def _merge(
    folder: Path, fresh: pd.DataFrame | None, unkeyed: int, key: SnapshotKey
) -> SnapshotResult:
    target = folder / PART_NAME
    with _day_lock(folder):
        parts = sorted(folder.glob("part-*.parquet"))
        previous = [pd.read_parquet(part) for part in parts]
        n_old = sum(len(part) for part in previous)
        ranked = [_ranked(pd.concat(previous, ignore_index=True), 0)] if previous else []
        if ranked and key.whole_input_rows:
            ranked[0][_UNIT] = 0  # the day's rows so far: one unit per query already
        if fresh is not None:
            if key.whole_input_rows:
                fresh = _first_occurrences(fresh, key)
            ranked.append(_ranked(fresh, n_old))
        kept = _kept_rows(pd.concat(ranked, ignore_index=True), key)
        kept_old = int((kept[_SEQ] < n_old).sum())
        dropped = [_RANK, _SEQ, _UNIT] if key.whole_input_rows else [_RANK, _SEQ]
        merged = flatten_for_files(kept.drop(columns=dropped).reset_index(drop=True))
        atomic_write(target, lambda tmp: merged.to_parquet(tmp, index=False))
        for part in parts:
            if part != target:
                part.unlink(missing_ok=True)  # merged into part-0 above
    return SnapshotResult(target, len(merged), len(merged) - kept_old, n_old - kept_old, unkeyed)
