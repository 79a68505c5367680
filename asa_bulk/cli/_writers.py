"""Output paths and whole tables: early writability checks, atomic replacement, ``write_output``.

The formats themselves (csv, parquet, JSON lines, stdout) and how cells are encoded live in
:mod:`._parts`; a whole frame is written as one part, so both paths give the same file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from asa_bulk._errors import ConfigError

from ._parts import (
    OUTPUT_FORMATS,
    file_mode,
    flatten_for_files,
    open_parts,
    output_format,
    require_pyarrow,
    temporary_beside,
    write_jsonl,
)

__all__ = [
    "OUTPUT_FORMATS",
    "atomic_write",
    "check_writable_dir",
    "check_writable_file",
    "flatten_for_files",
    "output_format",
    "require_pyarrow",
    "write_jsonl",
    "write_output",
]


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


def atomic_write(target: Path, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp)`` on a hidden file beside ``target``, then rename it over ``target``.

    Readers see the old file or the new one, never a partial one; hidden names (leading dot)
    are also skipped by pyarrow datasets.
    """
    tmp = temporary_beside(target)
    try:
        write(tmp)
        tmp.chmod(file_mode(target))
        tmp.replace(target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_output(frame: pd.DataFrame, path: str | os.PathLike[str] | None) -> None:
    """Write ``frame`` to ``path`` by its extension, or as JSON lines to stdout when None.

    Columns and the parquet schema are the frame's own (any frame, not only the engine's).
    """
    with open_parts(path, None) as parts:
        parts.write(frame)
