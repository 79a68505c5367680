"""Read dated snapshots back: one long, typed table of every pull (``--snapshot-dir``).

The CLI writes ``DIR/date=YYYY-MM-DD/part-0.parquet`` (see ``cli/_snapshot``). Reading such a
folder by hand has traps that :func:`history` avoids:

- the ``date`` of a hive partition comes back as text or a dictionary: here it is
  ``snapshot_date``, a ``datetime64`` column (midnight of the day), so ``.dt``, resampling and
  plotting work, and a filter on it is a comparison of days;
- a column that is all-null in one day's file has type ``null`` there (or an older release
  wrote it otherwise): each column gets one type, the engine's own for the columns it writes
  (products and search), else the types of the days unified;
- a column a later release added is absent from older days: it is NA there, never an error.

Only the days between ``start`` and ``end`` are opened (chosen by their folder names), and only
the columns asked for are read, with the ASIN/domain filters pushed down into the parquet
scan, so a year of daily pulls of 100k products reads what the question needs. A product
absent from a day was not fetched that day (no row); one that failed that day has its row with
that ``status``; a missing price is NA in an ``ok`` row: the three stay apart.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final

import pandas as pd

from ._errors import InputError
from ._frame import column_dtypes
from ._search_frame import SEARCH_DTYPES
from ._values import calendar_day

SNAPSHOT_DATE: Final = "snapshot_date"
_PARTITION: Final = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")
#: The columns every history keeps, whatever ``columns`` asks for (when the files have them).
_ALWAYS: Final = ("asin", "domain", "language", "country", "query", "sort_by", "page", "status")


def snapshot_days(snapshot_dir: str | os.PathLike[str]) -> list[tuple[date, list[Path]]]:
    """The days of ``snapshot_dir`` in order, each with its parquet files (hidden ones, such as
    a pull's spool in progress, are not part of it). :class:`InputError` when there is none."""
    folder = Path(snapshot_dir)
    if not folder.is_dir():
        raise InputError(f"snapshot folder {folder} does not exist (or is not a folder)")
    days = []
    for entry in sorted(folder.iterdir()):
        match = _PARTITION.match(entry.name)
        if match is None or not entry.is_dir():
            continue  # not a day: a stray file, a lock, a hidden temporary folder
        try:
            day = date.fromisoformat(match[1])
        except ValueError:
            raise InputError(f"snapshot folder {entry} is not a valid date") from None
        files = sorted(p for p in entry.glob("part-*.parquet") if not p.name.startswith("."))
        if files:
            days.append((day, files))
    if not days:
        raise InputError(f"snapshot folder {folder} holds no date=YYYY-MM-DD/part-*.parquet day")
    return days


def history(
    snapshot_dir: str | os.PathLike[str],
    *,
    asins: Iterable[str] | None = None,
    domains: Iterable[str] | None = None,
    start: date | datetime | str | None = None,
    end: date | datetime | str | None = None,
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Every snapshot of ``snapshot_dir`` from ``start`` to ``end`` (days, both included) as one
    DataFrame: one row per (``snapshot_date``, ``asin``, ``domain``) for products (per result
    card for search snapshots), ``snapshot_date`` first, then the files' columns.

    ``asins``/``domains`` keep only those (case as written: ASINs upper case); ``columns`` reads
    only those columns plus the keys and ``status``. Columns have the same dtype every day (see
    the module docstring). Raises :class:`InputError` for a folder with no snapshot, a bad date
    or an unknown column.
    """
    import pyarrow as pa
    import pyarrow.dataset as ds

    first, last = as_day("start", start), as_day("end", end)
    days = [
        (day, files)
        for day, files in snapshot_days(snapshot_dir)
        if (first is None or day >= first) and (last is None or day <= last)
    ]
    if not days:
        return _typed(pd.DataFrame({SNAPSHOT_DATE: pd.Series(dtype="datetime64[s]")}))
    tables = []
    schema = _unified_schema([path for _, files in days for path in files])
    wanted = _columns(schema.names, columns)
    where = _filter(ds, asins=asins, domains=domains, names=schema.names)
    for day, files in days:
        scanned = ds.dataset([str(p) for p in files], schema=schema, format="parquet")
        table = scanned.to_table(columns=wanted, filter=where)
        stamp = pa.array([day] * table.num_rows, type=pa.date32())
        tables.append(table.add_column(0, SNAPSHOT_DATE, stamp))
    frame = pa.concat_tables(tables).to_pandas(types_mapper=_arrow_text)
    return _typed(frame)


def as_day(name: str, value: object) -> date | None:
    """A day given as a date, a datetime or ``YYYY-MM-DD`` text (None stays None)."""
    return calendar_day(name, value, error=InputError, datetimes=True)


def _unified_schema(paths: list[Path]) -> Any:
    """One schema for all the files: a column's type from the days where it is not null."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schemas = []
    for path in paths:
        try:
            schemas.append(pq.read_schema(path).remove_metadata())
        except Exception as exc:  # pyarrow raises several types for a damaged footer
            raise InputError(f"snapshot file {path} is not readable parquet: {exc}") from None
    try:
        return pa.unify_schemas(schemas, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InputError(f"snapshot days disagree on a column's type: {exc}") from None


def _columns(names: list[str], columns: Sequence[str] | None) -> list[str]:
    if columns is None:
        return list(names)
    if isinstance(columns, str):
        columns = [columns]
    unknown = [name for name in columns if name not in names and name != SNAPSHOT_DATE]
    if unknown:
        raise InputError(
            f"no column {', '.join(map(repr, unknown))} in the snapshots; they have: "
            + ", ".join(names)
        )
    keep = {*columns, *_ALWAYS}
    return [name for name in names if name in keep]


def _filter(
    ds: Any, *, asins: Iterable[str] | None, domains: Iterable[str] | None, names: list[str]
) -> Any:
    where = None
    for name, values in (("asin", asins), ("domain", domains)):
        if values is None:
            continue
        if isinstance(values, str):
            values = [values]
        chosen = [v.strip().upper() if name == "asin" else v.strip().lower() for v in values]
        if name not in names:
            raise InputError(f"the snapshots have no {name} column to filter on")
        term = ds.field(name).isin(chosen)
        where = term if where is None else where & term
    return where


def _arrow_text(arrow_type: Any) -> Any:
    import pyarrow as pa

    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return pd.StringDtype()
    return None


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """The engine's dtypes for the columns it writes; ``snapshot_date`` as datetime64."""
    known = {**column_dtypes(raw=True), **SEARCH_DTYPES}
    for name in frame.columns:
        if name == SNAPSHOT_DATE:
            frame[name] = pd.to_datetime(frame[name]).astype("datetime64[s]")
            continue
        dtype = known.get(str(name))
        if dtype is None or dtype == "object":
            continue  # JSON text stays text (json.loads gives the value back)
        # A value of another release that does not fit the dtype: the column is kept as read.
        with contextlib.suppress(TypeError, ValueError):
            frame[name] = frame[name].astype(dtype)
    return frame
