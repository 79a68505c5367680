"""Input files to one table: the item column plus its optional per-row columns.

Products (:data:`PRODUCT_INPUT`): ``asin`` (ASINs or URLs) plus ``domain``/``language``/
``country``; search (:data:`QUERY_INPUT`): ``query`` plus ``domain``/``sort_by``.

Formats: ``.txt`` (one item a line, unquoted if quoted; blank lines, ``#`` comments and a
header line naming the item column are skipped), ``.csv``/``.tsv`` (a header row; cells split
by ``,``, ``;`` or tabs, whichever splits out the item column; UTF-8 with or without BOM, ``\\n``,
``\\r\\n`` or ``\\r``), ``.jsonl`` (one object, or one bare string, a line), ``.parquet``; gzip
(``.gz``, and recognised by its magic bytes, so on stdin too); ``-`` reads stdin with the same
code and guesses the format from its first bytes and line. The input is read in one
streaming pass, and anything that goes wrong reading it (a damaged gzip or parquet file, a
disk error, bytes that are not UTF-8) is an :class:`InputError` naming it. Nothing is
validated here beyond the file's structure: bad items become ``invalid`` rows downstream.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import gzip
import io
import itertools
import json
import re
import sys
import zlib
from array import array
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Final, TypeAlias, cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from asa_bulk._errors import InputError

if TYPE_CHECKING:
    _Stream: TypeAlias = io.BufferedReader[Any] | gzip.GzipFile  # both can peek


_SUFFIXES: Final = {
    ".txt": "txt",
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_LOOKS_LIKE_ASIN: Final = re.compile(r"^[A-Za-z0-9]{10}$|/")
_SEPARATORS: Final = (",", ";", "\t")
_GZIP_MAGIC: Final = b"\x1f\x8b"
_PARQUET_MAGIC: Final = b"PAR1"
# Read with errors="surrogateescape", a byte that is not UTF-8 becomes one of these.
_NOT_UTF8: Final = re.compile("[\udc80-\udcff]")
# Cells gathered as Python strings before they are packed into one compact text chunk.
_PACK_ROWS: Final = 65_536


@dataclass(frozen=True)
class InputShape:
    """What a command reads: its item column and the per-row columns it honours (both matched
    case-insensitively)."""

    item: str  # the item column's name in the table, and the default of --column
    row_columns: tuple[str, ...]
    #: A one-column table whose first cell matches has no header (bare ASINs, say); None: a
    #: table always has one (a query cannot be told from a column name).
    bare_item: re.Pattern[str] | None = None


PRODUCT_INPUT: Final = InputShape("asin", ("domain", "language", "country"), _LOOKS_LIKE_ASIN)
QUERY_INPUT: Final = InputShape("query", ("domain", "sort_by"))

#: Per-row marketplace columns honoured in product inputs.
ROW_COLUMNS: Final = PRODUCT_INPUT.row_columns


@dataclass(frozen=True)
class _Want:
    """The columns to pick: ``--column`` (None: the shape's item column) and the row columns."""

    shape: InputShape
    column: str | None = None

    @property
    def item(self) -> str:
        return self.column or self.shape.item

    def among(self, names: Iterable[str]) -> list[str]:
        """The ``names`` that may be picked as the item column or a per-row column."""
        wanted = [w.strip().lower() for w in (self.item, *self.shape.row_columns)]
        return [name for name in names if name.strip().lower() in wanted]


@dataclass(frozen=True)
class InputTable:
    """What was read: the items and, per item, where it came from (for messages).

    Held for the whole run, so it is compact: text columns are pandas' Arrow-backed strings
    (Python ``str`` objects without pyarrow), line numbers one int64 array.
    """

    frame: pd.DataFrame  # the shape's item column, then any of its row columns; 0..n-1 index
    source: str  # the path, or "stdin"
    format: str
    lines: npt.NDArray[np.int64] | None  # 1-based file line of each item (None: parquet)

    def where(self, index: int) -> str:
        """``line 12`` (text formats) or ``row 12`` (parquet) for the item at ``index``."""
        if self.lines is not None:
            return f"line {int(self.lines[index])}"
        return f"row {index + 1}"

    def in_file_terms(
        self, frame: pd.DataFrame, numbered: npt.NDArray[np.int64] | None = None
    ) -> pd.DataFrame:
        """``frame`` (results for this table: the whole of them or a chunk, its index the input
        positions) with each local ``row N: ...`` message starting with :meth:`where` instead,
        the place a user finds in the file. ``numbered``: the positions the library numbered
        the rows by, when it was given only some of the table's rows (default: the index).
        Changed in place and returned."""
        messages = frame["error_message"]
        local = (frame["status"] == "invalid") & messages.notna()
        rows = np.flatnonzero(local.to_numpy(dtype=bool, na_value=False))
        if len(rows) == 0:
            return frame
        column = list(frame.columns).index("error_message")
        positions = frame.index.to_numpy()[rows]
        named = positions if numbered is None else numbered[rows]
        for i, position, number in zip(
            rows.tolist(), positions.tolist(), named.tolist(), strict=True
        ):
            prefix = f"row {number + 1}: "  # what the library writes for the item there
            message = str(messages.iat[i])
            if message.startswith(prefix):  # a 400 invalid_params message is the API's own
                frame.iat[i, column] = f"{self.where(position)}: {message[len(prefix) :]}"
        return frame


class _Missing:
    """A cell the row does not have (a short csv row, a key absent from a jsonl object)."""

    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Final = _Missing()


@functools.cache
def _text_dtype() -> Any:
    """pandas' string dtype with NaN for missing cells (what ``pd.read_csv`` gives in pandas 3),
    Arrow-backed when pyarrow is installed."""
    try:
        import pyarrow  # noqa: F401

        storage = "pyarrow"
    except ImportError:
        storage = "python"
    try:
        return pd.StringDtype(storage, na_value=np.nan)  # pandas >= 2.3
    except TypeError:  # pragma: no cover - pandas 2.1/2.2
        return pd.StringDtype("pyarrow_numpy") if storage == "pyarrow" else object


class _Column:
    """One column's cells in input order, packed every :data:`_PACK_ROWS` cells into compact
    text: no Python object per row stays behind. A cell that is not text (jsonl: a number,
    null, a list) turns the column into plain objects, typed as ``DataFrame.from_records``
    types it, so such input reads exactly as it always did."""

    __slots__ = ("_objects", "_packed", "_pending")

    def __init__(self, missing: int = 0) -> None:
        self._packed: list[pd.Series] = []
        self._pending: list[str | None] = [None] * missing  # None: a missing cell
        self._objects: list[Any] | None = None

    def add(self, value: Any) -> None:
        if self._objects is not None:
            self._objects.append(value)
        elif type(value) is str:
            self._pending.append(value)
            if len(self._pending) >= _PACK_ROWS:
                self._pack()
        elif value is _MISSING:
            self._pending.append(None)
        else:
            cells: list[Any] = []
            for part in self._packed:
                cells.extend(part.tolist())
            cells.extend(self._pending)
            self._objects = [_MISSING if pd.isna(cell) else cell for cell in cells]
            self._packed, self._pending = [], []
            self._objects.append(value)

    def _pack(self) -> None:
        self._packed.append(pd.Series(pd.array(self._pending, dtype=_text_dtype())))
        self._pending = []

    def values(self) -> Any:
        """The column: a Series of text, or an object array (mixed jsonl cells)."""
        if self._objects is not None:
            rows = [{} if cell is _MISSING else {"v": cell} for cell in self._objects]
            return pd.DataFrame.from_records(rows)["v"].astype(object).to_numpy()
        if self._pending or not self._packed:
            self._pack()
        if len(self._packed) == 1:
            return self._packed[0]
        return pd.concat(self._packed, ignore_index=True)  # Arrow chunks: no copy of the text


@dataclass(frozen=True)
class _FrameColumn:
    """A column of a parquet input, as the cells it always gave."""

    series: pd.Series

    def values(self) -> Any:
        return self.series.astype(object).to_numpy()


@dataclass(frozen=True)
class _Read:
    """What a reader kept: the columns a frame of the whole file would have (``names``), the
    cells of those that may be picked, and each row's line (``None`` for parquet)."""

    format: str
    lines: array[int] | None
    names: list[str]
    columns: Mapping[str, _Column | _FrameColumn]
    rows: int = -1  # parquet: its row count (text formats count their lines)

    def __len__(self) -> int:
        return len(self.lines) if self.lines is not None else self.rows

    def table(self, want: _Want, source: str) -> pd.DataFrame:
        """Keep the item column (renamed as the shape names it) and the per-row columns."""
        wanted = want.item
        found = _pick(self.names, wanted)
        if found is None:
            hint = "" if want.column else " (name it with --column)"
            raise InputError(
                f"no column {wanted!r} in {source}{hint}; its columns are: "
                + (", ".join(repr(name) for name in self.names) or "none")
            )
        out: pd.DataFrame = pd.DataFrame({want.shape.item: self.columns[found].values()})
        for extra in want.shape.row_columns:
            match = _pick(self.names, extra)
            if match is not None and match != found:
                out[extra] = self.columns[match].values()
        return out

    def line_numbers(self) -> npt.NDArray[np.int64] | None:
        if self.lines is None:
            return None
        return np.frombuffer(self.lines, dtype=np.int64) if self.lines else np.empty(0, np.int64)


def detect_format(path: str, explicit: str | None) -> str:
    """The format named by ``--input-format``, else by the file extension (``.gz`` ignored)."""
    if explicit:
        return explicit
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    fmt = _SUFFIXES.get(suffixes[-1]) if suffixes else None
    if fmt is None:
        raise InputError(
            f"cannot tell the format of {path!r} from its extension; name it .txt, .csv, .tsv, "
            ".jsonl or .parquet, or pass --input-format {txt,csv,tsv,jsonl,parquet}"
        )
    return fmt


def _unquote(text: str) -> str:
    """``"B0..."`` -> ``B0...`` and ``""`` -> empty, as csv reads a quoted cell."""
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1].replace('""', '"')
    return text


def _separator(header: str, wanted: str, preferred: str) -> str | None:
    """The separator (``preferred`` first) that splits ``header`` into several cells, one of
    them the item column: how a ``;`` file (Excel in much of Europe) is told from a ``,`` one."""
    for sep in dict.fromkeys((preferred, *_SEPARATORS)):
        try:
            cells = next(csv.reader([header], delimiter=sep), [])
        except csv.Error:
            continue
        if len(cells) > 1 and wanted in (cell.strip().lower() for cell in cells):
            return sep
    return None


def sniff_format(text: str, column: str | None, shape: InputShape = PRODUCT_INPUT) -> str:
    """Guess stdin's format from its first non-blank line (``text`` may be just that line).

    A header holding the item column between ``,``, ``;`` or tabs, or alone (a one-column
    csv, as spreadsheets export it: its ``#N/A`` cells are rows, not txt comments), is csv/tsv,
    as is any line with a separator and no ``/`` (a table
    without that column: it gets the file's "no column" error, not a row per line); ``{`` or
    ``"`` starts jsonl; anything else is txt.
    """
    first = next((line.strip() for line in io.StringIO(text) if line.strip()), "")
    wanted = _Want(shape, column).item.strip().lower()
    sep = _separator(first, wanted, ",")
    if sep is not None:
        return "tsv" if sep == "\t" else "csv"
    if _unquote(first).strip().lower() == wanted:
        return "csv"  # a one-column table
    if first.startswith(("{", '"')):
        return "jsonl"
    if "/" not in first and any(sep in first for sep in _SEPARATORS):
        return "tsv" if "\t" in first else "csv"
    return "txt"


def _open_file(path: str) -> BinaryIO:
    try:
        return Path(path).open("rb")  # one open, no exists() first: files vanish in between
    except FileNotFoundError:
        raise InputError(f"input file not found: {path}") from None
    except IsADirectoryError:
        raise InputError(f"input {path} is a directory, not a file") from None
    except OSError as exc:
        raise InputError(f"cannot read input {path}: {exc.strerror or exc}") from None


@contextlib.contextmanager
def _open_input(path: str, stdin: BinaryIO | None) -> Iterator[tuple[_Stream, bool]]:
    """The input as a stream that can peek, and whether it was gzip: recognised by its magic
    bytes, so gzip on stdin (or without ``.gz``) reads like the ``.gz`` file."""
    with contextlib.ExitStack() as stack:
        raw = (stdin or sys.stdin.buffer) if path == "-" else stack.enter_context(_open_file(path))
        buffered: _Stream = (
            raw
            if isinstance(raw, io.BufferedReader)
            else io.BufferedReader(cast(io.RawIOBase, raw))
        )
        # One read at most: a file's first bytes, a pipe's first chunk. Were a pipe to deliver
        # gzip one byte at a time, the result is a "not UTF-8" error, never wrong rows.
        if buffered.peek(2).startswith(_GZIP_MAGIC):
            yield stack.enter_context(gzip.GzipFile(fileobj=buffered, mode="rb")), True
        elif path.lower().endswith(".gz"):
            raise InputError(f"input {path} is not valid gzip: it has no gzip header")
        else:
            yield buffered, False


def _checked_lines(text: Iterable[str], source: str) -> Iterator[str]:
    """Lines as read; a byte that is not UTF-8 (a lone surrogate after surrogateescape, which
    UTF-8 text never decodes to) is an :class:`InputError` naming its line."""
    for number, line in enumerate(text, start=1):
        if not line.isascii() and _NOT_UTF8.search(line):
            raise InputError(
                f"input {source} is not UTF-8 text (line {number}); save it as UTF-8 "
                "(Excel: 'CSV UTF-8')"
            )
        yield line


def _first_line(lines: Iterator[str]) -> tuple[str, Iterator[str]]:
    """The first non-blank line, and all the lines again from the start."""
    seen: list[str] = []
    for line in lines:
        seen.append(line)
        if line.strip():
            return line, itertools.chain(seen, lines)
    return "", iter(seen)


def _read_txt(text: Iterable[str], name: str) -> _Read:
    items = _Column()
    lines = array("q")
    for number, line in enumerate(text, start=1):
        item = line.strip()
        if item.startswith("#"):
            continue
        item = _unquote(item).strip()  # a one-column csv on stdin reads as txt: "" is no item
        if not item:
            continue
        if not lines and item.lower() == name:  # a header line, as spreadsheets export
            continue
        items.add(item)
        lines.append(number)
    return _Read("txt", lines, [name], {name: items})


def _read_delimited(text: Iterator[str], fmt: str, want: _Want, source: str) -> _Read:
    header_line, text = _first_line(text)
    default = "\t" if fmt == "tsv" else ","
    sep = _separator(header_line, want.item.strip().lower(), default) or default
    reader = csv.reader(text, dialect="excel-tab" if fmt == "tsv" else "excel", delimiter=sep)
    lines = array("q")
    try:
        header = next((row for row in reader if any(cell.strip() for cell in row)), None)
        if header is None:
            return _Read(fmt, lines, [], {})
        names = [cell.strip() for cell in header]
        headerless = want.column is None and _headerless(names, want.shape)
        # The cells a row gives each wanted name: like dict(zip(names, row)), a short row has
        # none past its end (NA) and a repeated name takes its last cell.
        picked = {
            name: [i for i in reversed(range(len(names))) if names[i] == name]
            for name in ([names[0]] if headerless else want.among(names))
        }
        columns = {name: _Column() for name in picked}
        if headerless:  # a single column of bare items: the "header" is the first item
            columns[names[0]].add(names[0])
            lines.append(1)
        width = 0  # the longest row: a name past it is not a column at all
        start = reader.line_num
        for row in reader:
            if not any(cell.strip() for cell in row):
                start = reader.line_num
                continue  # blank line
            size = len(row)
            width = max(width, size)
            for name, positions in picked.items():
                if positions[0] < size:  # the usual case: the row has the (last) cell
                    columns[name].add(row[positions[0]])
                else:
                    at = next((i for i in positions if i < size), None)
                    columns[name].add(_MISSING if at is None else row[at])
            lines.append(start + 1)  # cells past the header are dropped
            start = reader.line_num
    except csv.Error as exc:
        raise InputError(
            f"{source} is malformed {fmt} near line {reader.line_num}: {exc}"
        ) from None
    if headerless:
        item = want.shape.item
        return _Read(fmt, lines, [item], {item: columns[names[0]]})
    present = [name for name in dict.fromkeys(names) if names.index(name) < width]
    return _Read(fmt, lines, present, columns)


def _headerless(names: list[str], shape: InputShape) -> bool:
    if shape.bare_item is None or len(names) != 1 or names[0].lower() == shape.item:
        return False
    return bool(shape.bare_item.search(names[0]))


def _read_jsonl(text: Iterable[str], source: str, want: _Want) -> _Read:
    keys: dict[str, None] = {}  # every key seen, in order: the columns a frame would have
    columns: dict[str, _Column] = {}
    lines = array("q")
    for number, line in enumerate(text, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{source} line {number} is not JSON: {exc.msg}") from None
        except ValueError as exc:  # e.g. an integer past Python's 4300-digit limit
            raise InputError(f"{source} line {number} is not usable JSON: {exc}") from None
        except RecursionError:
            raise InputError(f"{source} line {number} is not JSON: nested too deeply") from None
        row = value if isinstance(value, dict) else {want.shape.item: value}
        for key in row:
            if key not in keys:
                keys[key] = None
                if want.among([key]):
                    columns[key] = _Column(missing=len(lines))
        for key, cells in columns.items():
            cells.add(row.get(key, _MISSING))
        lines.append(number)
    if not keys:  # only {} objects: no cell at all, as empty as a blank file
        lines = array("q")
    return _Read("jsonl", lines, list(keys), columns)


def _read_parquet(data: io.BufferedIOBase, source: str, want: _Want) -> _Read:
    try:
        import pyarrow  # noqa: F401  (only to give a clear error when it is missing)
    except ImportError:
        raise InputError(
            f"reading {source} needs pyarrow: pip install 'asa-bulk[parquet]'"
        ) from None
    try:
        frame: pd.DataFrame = pd.read_parquet(data)
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise InputError(f"{source} is not a readable parquet file: {exc}") from None
    names = [str(name) for name in frame.columns]
    frame = frame.set_axis(names, axis=1).reset_index(drop=True)
    columns = {name: _FrameColumn(frame[name]) for name in want.among(names)}
    return _Read("parquet", None, names, columns, rows=len(frame))


def _pick(columns: list[str], wanted: str) -> str | None:
    if wanted in columns:
        return wanted
    matches = [name for name in columns if name.strip().lower() == wanted.strip().lower()]
    return matches[0] if len(matches) == 1 else None


def read_input(
    path: str,
    *,
    column: str | None = None,
    input_format: str | None = None,
    stdin: BinaryIO | None = None,
    shape: InputShape = PRODUCT_INPUT,
) -> InputTable:
    """Read ``path`` (or stdin for ``-``) into an :class:`InputTable`, in one streaming pass.

    Stdin goes through the same code as a file; only its format is guessed (gzip and parquet
    by their magic bytes, text by its first line) unless ``input_format`` names it.
    Raises :class:`InputError` for a missing/unreadable/corrupt/empty file, an unknown column
    or a malformed file; never for a bad item (those are judged later, row by row).
    ``shape``: which column holds the items, and which per-row columns are kept.
    """
    want = _Want(shape, column)
    source = "stdin" if path == "-" else path
    fmt = None if path == "-" and input_format is None else detect_format(path, input_format)
    with _open_input(path, stdin) as (stream, compressed):
        try:
            read = _read(stream, fmt, want, source, seekable=not compressed)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise InputError(
                f"input {source} is not valid gzip (damaged or cut short): {exc}"
            ) from None
        except OSError as exc:
            raise InputError(f"cannot read input {source}: {exc.strerror or exc}") from None
    if len(read) == 0:
        raise InputError(f"input {source} is empty: no items to look up")
    table = read.table(want, source)
    return InputTable(frame=table, source=source, format=read.format, lines=read.line_numbers())


def _read(
    stream: _Stream,
    fmt: str | None,
    want: _Want,
    source: str,
    *,
    seekable: bool,
) -> _Read:
    if fmt is None and stream.peek(4).startswith(_PARQUET_MAGIC):
        fmt = "parquet"
    if fmt == "parquet":
        # pyarrow seeks to the footer: a plain file as it is, anything else from memory.
        data = stream if seekable and stream.seekable() else io.BytesIO(stream.read())
        return _read_parquet(data, source, want)
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    try:
        lines = _checked_lines(text, source)  # \n, \r\n or \r, kept for csv; BOM dropped
        if fmt is None:
            first, lines = _first_line(lines)
            fmt = sniff_format(first, want.column, want.shape)
        if fmt == "txt":
            if want.column is not None:
                raise InputError("--column applies to csv, tsv, jsonl and parquet input, not txt")
            return _read_txt(lines, want.shape.item)
        if fmt == "jsonl":
            return _read_jsonl(lines, source, want)
        return _read_delimited(lines, fmt, want, source)
    finally:
        text.detach()  # leave the stream to its owner (stdin is never closed)
