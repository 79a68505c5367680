"""Input files to one table: ``asin`` plus the optional ``domain``/``language``/``country``.

Formats: ``.txt`` (one ASIN or URL a line, unquoted if quoted; blank lines, ``#`` comments and
an ``asin`` header line are skipped), ``.csv``/``.tsv`` (a header row; cells split by ``,``,
``;`` or tabs, whichever splits out the item column; UTF-8 with or without BOM, ``\\n``,
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
import gzip
import io
import itertools
import json
import re
import sys
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Final, TypeAlias, cast

import numpy as np
import pandas as pd

from asa_bulk._errors import InputError

if TYPE_CHECKING:
    _Stream: TypeAlias = io.BufferedReader[Any] | gzip.GzipFile  # both can peek

#: Per-row marketplace columns honoured in table inputs (matched case-insensitively).
ROW_COLUMNS: Final = ("domain", "language", "country")

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
_LOOKS_LIKE_ITEM: Final = re.compile(r"^[A-Za-z0-9]{10}$|/")
_SEPARATORS: Final = (",", ";", "\t")
_GZIP_MAGIC: Final = b"\x1f\x8b"
_PARQUET_MAGIC: Final = b"PAR1"
# Read with errors="surrogateescape", a byte that is not UTF-8 becomes one of these.
_NOT_UTF8: Final = re.compile("[\udc80-\udcff]")


@dataclass(frozen=True)
class InputTable:
    """What was read: the items and, per item, where it came from (for messages)."""

    frame: pd.DataFrame  # columns: asin, then any of domain/language/country; object dtype
    source: str  # the path, or "stdin"
    format: str
    lines: list[int] | None  # 1-based file line of each item (None: parquet)

    def where(self, index: int) -> str:
        """``line 12`` (text formats) or ``row 12`` (parquet) for the item at ``index``."""
        if self.lines is not None:
            return f"line {self.lines[index]}"
        return f"row {index + 1}"

    def in_file_terms(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` (the result for this table) with each local ``row N: ...`` message
        starting with :meth:`where` instead, the place a user finds in the file."""
        column = list(frame.columns).index("error_message")
        messages = frame["error_message"]
        local = (frame["status"] == "invalid") & messages.notna()
        for i in np.flatnonzero(local.to_numpy(dtype=bool, na_value=False)).tolist():
            prefix = f"row {i + 1}: "  # what the library writes for the item at position i
            message = str(messages.iat[i])
            if message.startswith(prefix):  # a 400 invalid_params message is the API's own
                frame.iat[i, column] = f"{self.where(i)}: {message[len(prefix) :]}"
        return frame


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


def sniff_format(text: str, column: str | None) -> str:
    """Guess stdin's format from its first non-blank line (``text`` may be just that line).

    A header holding the item column between ``,``, ``;`` or tabs, or alone (a one-column
    csv, as spreadsheets export it: its ``#N/A`` cells are rows, not txt comments), is csv/tsv,
    as is any line with a separator and no ``/`` (a table
    without that column: it gets the file's "no column" error, not a row per line); ``{`` or
    ``"`` starts jsonl; anything else is txt.
    """
    first = next((line.strip() for line in io.StringIO(text) if line.strip()), "")
    wanted = (column or "asin").strip().lower()
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


def _read_txt(text: Iterable[str]) -> tuple[list[dict[str, Any]], list[int]]:
    rows: list[dict[str, Any]] = []
    lines: list[int] = []
    for number, line in enumerate(text, start=1):
        item = line.strip()
        if item.startswith("#"):
            continue
        item = _unquote(item).strip()  # a one-column csv on stdin reads as txt: "" is no item
        if not item:
            continue
        if not rows and item.lower() == "asin":  # a header line, as spreadsheets export
            continue
        rows.append({"asin": item})
        lines.append(number)
    return rows, lines


def _read_delimited(
    text: Iterator[str], fmt: str, column: str | None, source: str
) -> tuple[list[dict[str, Any]], list[int]]:
    header_line, text = _first_line(text)
    default = "\t" if fmt == "tsv" else ","
    sep = _separator(header_line, (column or "asin").strip().lower(), default) or default
    reader = csv.reader(text, dialect="excel-tab" if fmt == "tsv" else "excel", delimiter=sep)
    try:
        header = next((row for row in reader if any(cell.strip() for cell in row)), None)
        if header is None:
            return [], []
        names = [cell.strip() for cell in header]
        rows: list[dict[str, Any]] = []
        lines: list[int] = []
        start = reader.line_num
        for row in reader:
            if not any(cell.strip() for cell in row):
                start = reader.line_num
                continue  # blank line
            # Short rows: missing cells are absent (NA); cells past the header are dropped.
            rows.append(dict(zip(names, row, strict=False)))
            lines.append(start + 1)
            start = reader.line_num
    except csv.Error as exc:
        raise InputError(
            f"{source} is malformed {fmt} near line {reader.line_num}: {exc}"
        ) from None
    if column is None and _headerless(names):
        # A single column of bare ASINs without a header: the "header" is the first item.
        only = names[0]
        return [{"asin": only}, *({"asin": row.get(only)} for row in rows)], [1, *lines]
    return rows, lines


def _headerless(names: list[str]) -> bool:
    if len(names) != 1 or names[0].lower() == "asin":
        return False
    return bool(_LOOKS_LIKE_ITEM.search(names[0]))


def _read_jsonl(text: Iterable[str], source: str) -> tuple[list[dict[str, Any]], list[int]]:
    rows: list[dict[str, Any]] = []
    lines: list[int] = []
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
        rows.append(value if isinstance(value, dict) else {"asin": value})
        lines.append(number)
    return rows, lines


def _read_parquet(data: io.BufferedIOBase, source: str) -> pd.DataFrame:
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
    return frame


def _pick(columns: list[str], wanted: str) -> str | None:
    if wanted in columns:
        return wanted
    matches = [name for name in columns if name.strip().lower() == wanted.strip().lower()]
    return matches[0] if len(matches) == 1 else None


def _select(frame: pd.DataFrame, column: str | None, source: str) -> pd.DataFrame:
    """Keep the item column (renamed ``asin``) and the per-row marketplace columns."""
    names = [str(name) for name in frame.columns]
    frame = frame.set_axis(names, axis=1).reset_index(drop=True)
    wanted = column or "asin"
    found = _pick(names, wanted)
    if found is None:
        hint = "" if column else " (name it with --column)"
        raise InputError(
            f"no column {wanted!r} in {source}{hint}; its columns are: "
            + (", ".join(repr(name) for name in names) or "none")
        )
    out: pd.DataFrame = pd.DataFrame({"asin": frame[found].astype(object).to_numpy()})
    for extra in ROW_COLUMNS:
        match = _pick(names, extra)
        if match is not None and match != found:
            out[extra] = frame[match].astype(object).to_numpy()
    return out


def read_input(
    path: str,
    *,
    column: str | None = None,
    input_format: str | None = None,
    stdin: BinaryIO | None = None,
) -> InputTable:
    """Read ``path`` (or stdin for ``-``) into an :class:`InputTable`, in one streaming pass.

    Stdin goes through the same code as a file; only its format is guessed (gzip and parquet
    by their magic bytes, text by its first line) unless ``input_format`` names it.
    Raises :class:`InputError` for a missing/unreadable/corrupt/empty file, an unknown column
    or a malformed file; never for a bad item (those are judged later, row by row).
    """
    source = "stdin" if path == "-" else path
    fmt = None if path == "-" and input_format is None else detect_format(path, input_format)
    with _open_input(path, stdin) as (stream, compressed):
        try:
            frame, fmt, lines = _read(stream, fmt, column, source, seekable=not compressed)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise InputError(
                f"input {source} is not valid gzip (damaged or cut short): {exc}"
            ) from None
        except OSError as exc:
            raise InputError(f"cannot read input {source}: {exc.strerror or exc}") from None
    if len(frame) == 0:
        raise InputError(f"input {source} is empty: no items to look up")
    table = _select(frame, column, source) if fmt != "txt" else frame.astype(object)
    return InputTable(frame=table, source=source, format=fmt, lines=lines)


def _read(
    stream: _Stream,
    fmt: str | None,
    column: str | None,
    source: str,
    *,
    seekable: bool,
) -> tuple[pd.DataFrame, str, list[int] | None]:
    if fmt is None and stream.peek(4).startswith(_PARQUET_MAGIC):
        fmt = "parquet"
    if fmt == "parquet":
        # pyarrow seeks to the footer: a plain file as it is, anything else from memory.
        data = stream if seekable and stream.seekable() else io.BytesIO(stream.read())
        return _read_parquet(data, source), fmt, None
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    try:
        lines = _checked_lines(text, source)  # \n, \r\n or \r, kept for csv; BOM dropped
        if fmt is None:
            first, lines = _first_line(lines)
            fmt = sniff_format(first, column)
        if fmt == "txt":
            if column is not None:
                raise InputError("--column applies to csv, tsv, jsonl and parquet input, not txt")
            rows, numbers = _read_txt(lines)
        elif fmt == "jsonl":
            rows, numbers = _read_jsonl(lines, source)
        else:
            rows, numbers = _read_delimited(lines, fmt, column, source)
    finally:
        text.detach()  # leave the stream to its owner (stdin is never closed)
    frame = pd.DataFrame.from_records(rows) if rows else pd.DataFrame({"asin": []})
    if not rows and fmt in ("csv", "tsv"):
        frame = pd.DataFrame()
    return frame, fmt, numbers
