"""Tables to files: ``.csv``, ``.parquet``, ``.jsonl`` (by extension) or JSON lines on stdout.

Files are written to a hidden temporary file beside the target and renamed over it, so a job
killed while writing never leaves half a file where the last good one was. In csv and parquet,
object columns (lists and dicts such as ``images`` or ``product_details``) become JSON text:
parquet needs one type per column and a list in one row next to ``None`` or a dict in another
cannot be typed consistently across files and days; ``json.loads`` gives the value back. JSON
lines keep them nested.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final, TextIO

import numpy as np
import pandas as pd

from asa_bulk._errors import ConfigError

OUTPUT_FORMATS: Final = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
_CHUNK_ROWS: Final = 10_000
# Lone surrogates can only be inside JSON strings, where a \uXXXX escape means the same.
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


def check_writable_file(path: str | os.PathLike[str], what: str = "output") -> Path:
    """Prove now, before any request is sent, that ``path`` can be created or replaced.

    A real temporary file is created (and removed) in the target folder: permission bits alone
    say nothing for root or on network mounts.
    """
    target = Path(path)
    if target.is_dir():
        raise ConfigError(f"{what} {target} is a directory; give a file name")
    parent = target.parent
    if not parent.is_dir():
        raise ConfigError(f"{what} {target}: folder {parent} does not exist")
    if target.exists() and not os.access(target, os.W_OK):
        raise ConfigError(f"{what} {target} is not writable")
    try:
        with tempfile.NamedTemporaryFile(dir=parent, prefix=f".{target.name}.", suffix=".probe"):
            pass
    except OSError as exc:
        raise ConfigError(f"{what} {target} cannot be written: {exc.strerror or exc}") from None
    return target


def check_writable_dir(path: str | os.PathLike[str], what: str) -> Path:
    """Create ``path`` (and parents) if needed and prove a file can be written in it."""
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".", suffix=".probe"):
            pass
    except OSError as exc:
        raise ConfigError(f"{what} {folder} cannot be written: {exc.strerror or exc}") from None
    return folder


def _cell_text(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return pd.NA
    if isinstance(value, str):
        return value
    if isinstance(value, float) and math.isnan(value):
        return pd.NA
    if isinstance(value, np.ndarray):
        value = value.tolist()
    return json.dumps(value, ensure_ascii=False, default=str)


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


def _escape_surrogate(match: re.Match[str]) -> str:
    return f"\\u{ord(match[0]):04x}"


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


def _file_mode(target: Path) -> int:
    """The mode a plain ``open()`` would give (mkstemp makes 0600 files), or the old file's."""
    with contextlib.suppress(OSError):
        return target.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(target: Path, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp)`` on a hidden file beside ``target``, then rename it over ``target``.

    Readers see the old file or the new one, never a partial one; hidden names (leading dot)
    are also skipped by pyarrow datasets.
    """
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        tmp.chmod(_file_mode(target))
        tmp.replace(target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_parquet_file(frame: pd.DataFrame, target: Path) -> None:
    """Atomically write ``frame`` (object columns as text) to ``target`` as parquet."""
    require_pyarrow("parquet output")
    flat = flatten_for_files(frame)
    atomic_write(target, lambda tmp: flat.to_parquet(tmp, index=False))


def write_output(frame: pd.DataFrame, path: str | os.PathLike[str] | None) -> None:
    """Write ``frame`` to ``path`` by its extension, or as JSON lines to stdout when None."""
    if path is None:
        write_jsonl(frame, sys.stdout)
        sys.stdout.flush()
        return
    target = Path(path)
    fmt = output_format(target)
    if fmt == "parquet":
        write_parquet_file(frame, target)
    elif fmt == "csv":
        flat = flatten_for_files(frame)
        atomic_write(
            target, lambda tmp: flat.to_csv(tmp, index=False, lineterminator="\n", encoding="utf-8")
        )
    else:

        def jsonl(tmp: Path) -> None:
            with tmp.open("w", encoding="utf-8", newline="\n") as stream:
                write_jsonl(frame, stream)

        atomic_write(target, jsonl)
