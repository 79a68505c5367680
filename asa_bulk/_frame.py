"""Build the returned DataFrame: one typed row per input row, product bodies flattened.

This is the only module that builds DataFrames. Columns come in contract order
(:data:`BASE_COLUMNS`, then the product fields of :mod:`asa_bulk._flatten`, then ``raw`` on
request) with pandas' nullable dtypes (``string``, ``Int64``, ``Float64``, ``boolean``,
``datetime64[us, UTC]``; lists and dicts as ``object``), so a frame looks the same whether it
has 0 rows or a million. Values are gathered in one pass and each column is typed once.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any, Final, cast

import numpy as np
import pandas as pd

from ._flatten import (
    EMPTY_PRODUCT,
    PRODUCT_COLUMNS,
    PRODUCT_FIELDS,
    coerce_column,
    flatten_product,
)
from ._flatten import flatten_values as _flatten
from ._inputs import InputRow
from ._ordered import Body, Slot
from ._records import Request, ResultRecord

__all__ = [
    "BASE_COLUMNS",
    "PRODUCT_COLUMNS",
    "RAW_COLUMN",
    "TIME_DTYPE",
    "build_chunk",
    "build_frame",
    "column_dtypes",
    "compact_record",
    "empty_frame",
    "flatten_product",
    "gc_paused",
    "typed_column",
]

_TIME: Final = pd.DatetimeTZDtype(unit="us", tz="UTC")
#: The dtype of timestamp columns (``fetched_at``), for other frame builders.
TIME_DTYPE: Final = _TIME
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND: Final = timedelta(microseconds=1)
_NAT: Final = np.iinfo(np.int64).min  # NaT's integer value

_BASE_DTYPES: Final[dict[str, Any]] = {
    "asin": "string",
    "domain": "string",
    "status": "string",
    "error": "string",
    "http_status": "Int64",
    "attempts": "Int64",
    "key_id": "string",
    "request_id": "string",
    "latency_ms": "Float64",
    "fetched_at": _TIME,
    "error_message": "string",
    "input": "string",
    "language": "string",
    "country": "string",
}

#: The columns every frame starts with, in contract order.
BASE_COLUMNS: Final[tuple[str, ...]] = tuple(_BASE_DTYPES)
#: The untouched product body, last, only with ``raw=True``.
RAW_COLUMN: Final = "raw"


def column_dtypes(*, raw: bool = False) -> dict[str, Any]:
    """Every column of a built frame and its dtype, in order."""
    dtypes: dict[str, Any] = {**_BASE_DTYPES, **PRODUCT_FIELDS}
    if raw:
        dtypes[RAW_COLUMN] = "object"
    return dtypes


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while building. Everything allocated here survives into the frame,
    so collections free nothing, yet each full one walks every live product body: measured at
    about a third of the build time at 100k rows."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def build_frame(
    rows: Iterable[InputRow],
    results: Mapping[Request, ResultRecord],
    *,
    raw: bool = False,
    flattened: Mapping[Request, tuple[Any, ...]] | None = None,
    index: pd.Index | None = None,
) -> pd.DataFrame:
    """One typed row per input row, in the order given, labelled by ``index`` (the input
    DataFrame's or Series' own, so results align with it) or 0..n-1 when None.

    An invalid row (``row.request is None``) gets status ``invalid``, its local error code and
    message, and 0 attempts. Every other row takes ``results[row.request]``; duplicates share
    one record, which is flattened once and fanned out. ``raw=True`` adds a last ``raw``
    column with each untouched product body. Raises RuntimeError when a valid row has no
    record: a row must never vanish silently.
    """
    flattened = flattened or {}
    flat_of: dict[int, tuple[Any, ...]] = {}  # id(record) -> its flattened product

    def entries() -> Iterator[tuple[InputRow, ResultRecord | None, tuple[Any, ...], Any]]:
        for row in rows:
            request = row.request
            if request is None:
                yield row, None, EMPTY_PRODUCT, None
                continue
            record = results.get(request)
            if record is None:
                raise RuntimeError(
                    f"bug: no result for input row {row.index + 1} ({request.ident}); "
                    "every valid row must have a record"
                )
            flat = flat_of.get(id(record))
            if flat is None:
                body = record.body
                flat = _flatten(body) if body is not None else flattened.get(request, EMPTY_PRODUCT)
                flat_of[id(record)] = flat
            yield row, record, flat, record.body

    with gc_paused():
        frame = _build(entries(), raw)
    if index is not None:
        frame.index = index  # raises if the lengths differ: a row must never vanish silently
    return frame


def compact_record(record: ResultRecord) -> Body | None:
    """Take the body out of ``record`` in the form waiting rows share (see
    :class:`~asa_bulk._ordered.Body`): its JSON text when there is one, else the decoded body."""
    value, text = record.body, record.body_json
    record.body = record.body_json = None  # stored already, if at all
    if text is not None:
        return Body(text=text)
    return Body(value=value) if value is not None else None


def build_chunk(slots: Sequence[Slot], *, raw: bool = False) -> pd.DataFrame:
    """The typed frame of finished slots (see :mod:`asa_bulk._ordered`), indexed by each row's
    0-based input position. Bodies are decoded and flattened here, with the collector paused:
    everything made survives into the frame."""

    def entries() -> Iterator[tuple[InputRow, ResultRecord | None, tuple[Any, ...], Any]]:
        for slot in slots:
            row = cast(InputRow, slot.row)  # a product stream's rows
            body = slot.body
            if body is None:
                yield row, slot.record, EMPTY_PRODUCT, None
                continue
            if body.flat is None:
                value = body.decode()
                body.flat = _flatten(value)
                # Kept only as a column: a chunk of whole products would hold ~4x its fields.
                body.value = value if raw else None
            yield row, slot.record, body.flat, body.value

    with gc_paused():
        frame = _build(entries(), raw)
    frame.index = pd.Index(np.fromiter((slot.row.index for slot in slots), np.int64, len(slots)))
    return frame


def _build(
    entries: Iterable[tuple[InputRow, ResultRecord | None, tuple[Any, ...], Any]], raw: bool
) -> pd.DataFrame:
    base: list[tuple[Any, ...]] = []
    products: list[tuple[Any, ...]] = []
    bodies: list[Any] = []
    for row, record, flat, body in entries:
        if record is None:
            base.append(
                (row.asin, row.domain, "invalid", row.error, None, 0, None, None, None, None,
                 row.message, row.raw, row.language, row.country)
            )  # fmt: skip
            products.append(EMPTY_PRODUCT)
            bodies.append(None)
            continue
        request: Any = record.request
        base.append(
            (request.asin, request.domain, record.status, record.error, record.http_status,
             record.attempts, record.key_id, record.request_id, record.latency_ms,
             record.fetched_at, record.error_message, row.raw, request.language,
             request.country)
        )  # fmt: skip
        products.append(flat)
        bodies.append(body)
    return _assemble(base, products, bodies if raw else None)


def _objects(values: Sequence[Any]) -> np.ndarray[Any, np.dtype[np.object_]]:
    # Filled element by element: np.array would turn equal-length lists into a 2-D array.
    try:
        return np.fromiter(values, dtype=object, count=len(values))
    except ValueError:  # numpy < 1.23 cannot build object arrays with fromiter
        out = np.empty(len(values), dtype=object)
        for i, value in enumerate(values):
            out[i] = value
        return out


def _utc(values: Sequence[datetime | None]) -> Any:
    """Timestamps as UTC, via integer microseconds since the epoch (pandas 2.x converts a
    list of aware datetimes one slow step at a time); a naive datetime is taken as UTC."""
    micros = np.fromiter(
        (
            _NAT if v is None
            else (v - _EPOCH) // _MICROSECOND if v.tzinfo is not None
            else (v.replace(tzinfo=timezone.utc) - _EPOCH) // _MICROSECOND
            for v in values
        ),
        dtype=np.int64,
        count=len(values),
    )  # fmt: skip
    return pd.array(pd.DatetimeIndex(micros.view("datetime64[us]")).tz_localize("UTC"))


def typed_column(values: Sequence[Any], dtype: Any, *, coerce: bool = False) -> Any:
    """``values`` as a column of ``dtype`` (``coerce``: make what does not fit None first)."""
    if dtype is _TIME:
        return _utc(values)
    if dtype == "object":
        return _objects(values)
    if coerce:
        values = coerce_column(values, dtype)
    try:
        return pd.array(values, dtype=dtype)
    except UnicodeEncodeError:  # a lone surrogate (JSON allows "\ud800"); Arrow wants UTF-8
        return pd.array([_valid_utf8(v) for v in values], dtype=dtype)


def _valid_utf8(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    return value


def _assemble(
    base: list[tuple[Any, ...]], products: list[tuple[Any, ...]], bodies: list[Any] | None
) -> pd.DataFrame:
    dtypes = column_dtypes(raw=bodies is not None)
    values: list[Sequence[Any]]
    if base:
        values = [*zip(*base, strict=True), *zip(*products, strict=True)]
    else:
        values = [() for _ in range(len(BASE_COLUMNS) + len(PRODUCT_COLUMNS))]
    if bodies is not None:
        values.append(bodies)
    product = set(PRODUCT_COLUMNS)  # body values need typing; base values are ours already
    data = {
        name: typed_column(column, dtype, coerce=name in product)
        for (name, dtype), column in zip(dtypes.items(), values, strict=True)
    }
    frame: pd.DataFrame = pd.DataFrame(data, copy=False)
    return frame


def empty_frame(*, raw: bool = False) -> pd.DataFrame:
    """A frame with no rows and exactly the columns and dtypes of :func:`build_frame`."""
    return _assemble([], [], [] if raw else None)
