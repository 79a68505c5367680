"""Tables to files in parts: ``.csv``, ``.parquet``, ``.jsonl`` (by extension) or stdout.

:func:`open_output` returns an :class:`OutputParts` that appends each chunk as it arrives to a
hidden temporary file beside the target (a parquet row group, csv rows under one header, JSON
lines) and renames it over the target on :meth:`~OutputParts.commit`: the whole result is never
held, and a job killed while writing never leaves half a file where the last good one was
(hidden names, with a leading dot, are also skipped by pyarrow datasets). A file written in
parts reads back the same as one written from the whole frame: ``write_output`` is this writer
fed a single chunk.

In csv and parquet, object columns (lists and dicts such as ``images`` or ``product_details``)
become JSON text: parquet needs one type per column and a list in one row next to ``None`` or a
dict in another cannot be typed consistently across files and days; ``json.loads`` gives the
value back. JSON lines keep them nested. A lone surrogate (JSON allows ``"\\ud800"`` in a body)
is not UTF-8, so inside JSON it is written as its ``\\uXXXX`` escape, which means the same.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final, Protocol, TextIO

import numpy as np
import pandas as pd

from asa_bulk._errors import ConfigError
from asa_bulk._frame import empty_frame
from asa_bulk._json import dumps_text

OUTPUT_FORMATS: Final = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
_CHUNK_ROWS: Final = 10_000
_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def output_format(path: str | os.PathLike[str]) -> str:
    """``csv``, ``parquet`` or ``jsonl`` from the extension; :class:`ConfigError` otherwise."""
    fmt = OUTPUT_FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise ConfigError(
            f"cannot tell the output format of {str(path)!r}: use a .csv, .parquet or .jsonl name"
        )
    return fmt


def require_pyarrow(purpose: str) -> None:
    """Raise :class:`ConfigError` when pyarrow (the ``parquet`` extra) is not installed."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ConfigError(f"{purpose} needs pyarrow: pip install 'asa-bulk[parquet]'") from None


# --- cells ------------------------------------------------------------------------------------


def _escape_surrogate(match: re.Match[str]) -> str:
    return f"\\u{ord(match[0]):04x}"


def _cell_text(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return pd.NA
    if isinstance(value, str):
        if not value.isascii() and _SURROGATE.search(value):
            return value.encode("utf-8", "replace").decode("utf-8")  # as the frame builder does
        return value
    if isinstance(value, float) and math.isnan(value):
        return pd.NA
    if isinstance(value, np.ndarray):
        value = value.tolist()
    text = dumps_text(value)
    if not text.isascii() and _SURROGATE.search(text):  # only ever inside a JSON string
        text = _SURROGATE.sub(_escape_surrogate, text)
    return text


def flatten_for_files(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy where every object column is a nullable string column (lists/dicts as JSON)."""
    out: pd.DataFrame = frame.copy(deep=False)
    for name in frame.columns:
        if frame[name].dtype == object:
            out[name] = pd.array([_cell_text(v) for v in frame[name]], dtype="string")
    return out


def _json_cells(column: pd.Series) -> list[Any]:
    """The column as values ``json`` writes right: None for NA, Python floats (repr is the
    shortest round trip, ``19.99``; pandas' writer gives ``19.989999999999998``), ISO 8601
    UTC text for times, the objects themselves for lists and dicts."""
    kind = column.dtype.kind
    if kind == "M":
        if getattr(column.dtype, "tz", None) is not None:
            column = column.dt.tz_convert("UTC").dt.tz_localize(None)
        text = np.datetime_as_string(column.to_numpy(), timezone="UTC")  # naive is taken as UTC
        return [None if value == "NaT" else value for value in text.tolist()]
    if kind == "f":
        numbers = column.to_numpy(dtype="float64", na_value=np.nan)
        values: list[Any] = numbers.tolist()
        for i in np.flatnonzero(~np.isfinite(numbers)).tolist():
            values[i] = None  # NA, and NaN/inf, which JSON cannot express
        return values
    values = column.tolist()  # Python scalars (ints, bools, str), lists and dicts as they are
    for i in np.flatnonzero(column.isna().to_numpy()).tolist():
        values[i] = None
    return values


def _json_default(value: Any) -> Any:
    """What ``json`` cannot write by itself (parquet gives numpy arrays and scalars)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if value is pd.NA or value is pd.NaT:
        return None
    return str(value)


def _finite(value: Any) -> Any:
    """``value`` with every NaN/inf, however deeply nested, as None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    if isinstance(value, np.ndarray):
        return _finite(value.tolist())
    return value


def _jsonl_chunks(frame: pd.DataFrame) -> Iterator[str]:
    encode = json.JSONEncoder(
        ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_json_default
    ).encode
    names = [str(name) for name in frame.columns]
    for start in range(0, len(frame), _CHUNK_ROWS):
        chunk = frame.iloc[start : start + _CHUNK_ROWS]
        columns = [_json_cells(chunk.iloc[:, i]) for i in range(chunk.shape[1])]
        lines = []
        for values in zip(*columns, strict=True):
            row = dict(zip(names, values, strict=True))
            try:
                lines.append(encode(row))
            except ValueError:  # a NaN/inf nested in a list or dict: rare, so checked lazily
                lines.append(encode(_finite(row)))
        lines.append("")
        yield "\n".join(lines)


def write_jsonl(frame: pd.DataFrame, stream: TextIO) -> None:
    """One JSON object per row; lists/dicts stay nested, NA is null, times are ISO 8601 UTC."""
    if len(frame) == 0:
        return
    for chunk in _jsonl_chunks(frame):
        try:
            stream.write(chunk)
        except UnicodeEncodeError:  # a lone surrogate ("\ud800" in a body) is not UTF-8
            stream.write(_SURROGATE.sub(_escape_surrogate, chunk))  # nothing was written yet


def file_mode(target: Path) -> int:
    """The mode a plain ``open()`` would give (mkstemp makes 0600 files), or the old file's."""
    with contextlib.suppress(OSError):
        return target.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


# --- sinks: one format each, appending flattened chunks to an open file ---------------------


class _Sink(Protocol):
    def write(self, chunk: pd.DataFrame) -> Any:
        """Append ``chunk``; the Arrow table written (parquet), None otherwise."""
        ...

    def close(self) -> None: ...


class _JsonlSink:
    def __init__(self, stream: TextIO, *, owned: bool) -> None:
        self._stream = stream
        self._owned = owned  # stdout is flushed, never closed

    def write(self, chunk: pd.DataFrame) -> None:
        write_jsonl(chunk, self._stream)
        if not self._owned:
            self._stream.flush()  # a reader of the pipe gets each chunk as it arrives

    def close(self) -> None:
        if self._owned:
            self._stream.close()
        else:
            self._stream.flush()


class _CsvSink:
    def __init__(self, stream: IO[str], template: pd.DataFrame | None) -> None:
        self._stream = stream
        self._header = True
        if template is not None:  # the header now: a run with no rows still gets it
            self.write(template)

    def write(self, chunk: pd.DataFrame) -> None:
        flat = flatten_for_files(chunk)
        flat.to_csv(self._stream, header=self._header, index=False, lineterminator="\n")
        self._header = False

    def close(self) -> None:
        self._stream.close()


class _ParquetSink:
    def __init__(self, path: Path, template: pd.DataFrame | None) -> None:
        self._path = path
        self._writer: Any = None  # pyarrow.parquet.ParquetWriter, once the schema is known
        self._schema: Any = None
        if template is not None:
            self._open(self._table(template))

    @property
    def schema(self) -> Any:
        return self._schema

    def _table(self, chunk: pd.DataFrame) -> Any:
        import pyarrow as pa

        flat = flatten_for_files(chunk)
        return pa.Table.from_pandas(flat, schema=self._schema, preserve_index=False)

    def _open(self, table: Any) -> None:
        import pyarrow.parquet as pq

        # The schema of the first table (the template): pandas' own metadata included, so
        # pandas reads the file back with the same dtypes as ``to_parquet`` would give.
        self._schema = table.schema
        self._writer = pq.ParquetWriter(self._path, self._schema, compression="snappy")

    def write(self, chunk: pd.DataFrame) -> Any:
        if self._writer is None:
            table = self._table(chunk)
            self._open(table)
        elif len(chunk) == 0:
            return None  # no empty row groups
        else:
            table = self._table(chunk)
        self.write_table(table)
        return table

    def write_table(self, table: Any) -> None:
        """Append an Arrow table of this file's schema (a part :meth:`write` returned once)."""
        if not table.schema.equals(self._schema, check_metadata=True):
            raise ValueError(f"a part for {self._path} does not have the output's schema")
        self._writer.write_table(table)  # one row group per chunk (up to 1Mi rows each)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


# --- the part writer -------------------------------------------------------------------------


class OutputParts:
    """An output being written chunk by chunk; see the module docstring.

    ``write(chunk)`` appends; ``commit()`` finishes the file and renames it over the target
    (mode bits: the old file's, else what ``open()`` would give); ``abort()`` removes the
    temporary file and leaves the target as it was (idempotent, and a no-op after commit).
    As a context manager it commits on a clean exit and aborts on any exception, Ctrl-C and
    cancellation included. Without a path it writes JSON lines to stdout, which cannot be
    taken back: abort then only stops writing.
    """

    def __init__(
        self, sink: _Sink, target: Path | None, tmp: Path | None, columns: list[str] | None
    ) -> None:
        self._sink = sink
        self._target = target
        self._tmp = tmp
        self._columns = columns
        self._state = "open"
        self.rows = 0  #: rows written so far

    @property
    def target(self) -> Path | None:
        """The file being written, None for stdout."""
        return self._target

    @property
    def schema(self) -> Any:
        """The parquet output's Arrow schema (None for other formats): what
        :meth:`write` returns and :meth:`write_table` takes."""
        return getattr(self._sink, "schema", None)

    def write_table(self, table: Any) -> None:
        """Append an Arrow table of :attr:`schema` (parquet only; a table :meth:`write`
        returned, kept from an earlier run, say)."""
        if self._state != "open":
            raise RuntimeError(f"cannot write to {self._name()}: it is already {self._state}")
        if self.schema is None:
            raise RuntimeError(f"{self._name()} is not a parquet output")
        try:
            self._sink.write_table(table)  # type: ignore[attr-defined]
        except BaseException:
            self.abort()
            raise
        self.rows += table.num_rows

    def write(self, chunk: pd.DataFrame) -> Any:
        """Append ``chunk`` (its columns must be the output's, in order; its index is dropped).

        Returns the Arrow table written in a parquet output (None for other formats)."""
        if self._state != "open":
            raise RuntimeError(f"cannot write to {self._name()}: it is already {self._state}")
        names = [str(name) for name in chunk.columns]
        if self._columns is None:
            self._columns = names
        elif names != self._columns:
            raise ValueError(
                f"a chunk for {self._name()} has columns {names}, expected {self._columns}"
            )
        try:
            written = self._sink.write(chunk)
        except BaseException:
            self.abort()  # a half-written part is useless: never leave it behind
            raise
        self.rows += len(chunk)
        return written

    def commit(self) -> None:
        """Finish the file and put it in place of the target (a no-op when already done)."""
        if self._state == "committed":
            return
        if self._state != "open":
            raise RuntimeError(f"cannot commit {self._name()}: it was aborted")
        try:
            self._sink.close()
            if self._tmp is not None and self._target is not None:
                self._tmp.chmod(file_mode(self._target))
                self._tmp.replace(self._target)
        except BaseException:
            self.abort()
            raise
        self._state = "committed"

    def abort(self) -> None:
        """Drop what was written: the temporary file is removed, the target untouched."""
        if self._state != "open":
            return
        self._state = "aborted"
        with contextlib.suppress(Exception):  # a full disk may refuse the final flush
            self._sink.close()
        if self._tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                self._tmp.unlink()

    def _name(self) -> str:
        return "stdout" if self._target is None else str(self._target)

    def __enter__(self) -> OutputParts:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self.commit()
        else:
            self.abort()


def temporary_beside(target: Path) -> Path:
    """A new hidden, empty file in ``target``'s folder (same filesystem, so renames are atomic)."""
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    return Path(name)


def open_parts(path: str | os.PathLike[str] | None, template: pd.DataFrame | None) -> OutputParts:
    """An :class:`OutputParts` for ``path`` (format by extension; None: stdout) whose columns
    and, in parquet, schema come from ``template`` (a frame, usually empty), or from the first
    chunk when ``template`` is None."""
    columns = None if template is None else [str(name) for name in template.columns]
    if path is None:
        return OutputParts(_JsonlSink(sys.stdout, owned=False), None, None, columns)
    target = Path(path)
    fmt = output_format(target)
    if fmt == "parquet":
        require_pyarrow("parquet output")
    tmp = temporary_beside(target)
    sink: _Sink
    try:
        with contextlib.ExitStack() as stack:  # closes the stream if the sink cannot start
            if fmt == "parquet":
                sink = _ParquetSink(tmp, template)
            else:
                stream = stack.enter_context(tmp.open("w", encoding="utf-8", newline=""))
                csv = fmt == "csv"
                sink = _CsvSink(stream, template) if csv else _JsonlSink(stream, owned=True)
            stack.pop_all()  # the sink owns the stream now
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return OutputParts(sink, target, tmp, columns)


def open_output(
    path: str | os.PathLike[str] | None,
    *,
    raw: bool = False,
    template: pd.DataFrame | None = None,
) -> OutputParts:
    """A part writer for the engine's chunks: columns and dtypes of ``template`` (default: a
    product frame's, :func:`asa_bulk._frame.column_dtypes`, ``raw`` adding the ``raw`` column),
    fixed up front so an output with no rows still has its header / schema."""
    return open_parts(path, empty_frame(raw=raw) if template is None else template)
