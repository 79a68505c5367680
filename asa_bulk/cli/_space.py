"""Free-space check before anything is bought: will the output, snapshot and checkpoint fit?

Sizes per input row, measured on sandbox products (``samples/asins.csv``, 405 rows): csv 3.0 KB,
JSON lines 3.3 KB, parquet 0.6 KB, checkpoint 1.3 KB (compressed rows; its write-ahead log adds
up to ~40 MB while it runs), plus the parquet size again beside a parquet output (its kept
parts). Real bodies vary, so this only catches the plain case (a nearly full disk); a write
that still fails is handled where it happens.
"""

from __future__ import annotations

import shutil
from collections import defaultdict
from pathlib import Path
from typing import Final

from asa_bulk._errors import ConfigError

BYTES_PER_ROW: Final = {"csv": 3_000, "jsonl": 3_300, "parquet": 600, "checkpoint": 1_300}
#: The same for one search page (its 16-20 result rows), measured on ``samples/keywords.csv``
#: with ``--pages 3`` (87 pages): csv 4.5 KB, JSON lines 10.5 KB, parquet 0.75 KB, checkpoint
#: 2.4 KB.
BYTES_PER_PAGE: Final = {"csv": 4_500, "jsonl": 10_500, "parquet": 750, "checkpoint": 2_500}
_MB: Final = 1_000_000


def _device_dir(path: Path) -> Path:
    """The nearest existing folder of ``path`` (what will hold it)."""
    folder = path if path.is_dir() else path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def check_free_space(needs: list[tuple[str, Path, int]]) -> None:
    """``needs``: (what, path, bytes). Raise :class:`ConfigError` when a filesystem lacks room.

    Needs on one filesystem are added up: an output and a checkpoint side by side share it.
    """
    by_device: dict[int, list[tuple[str, Path, int]]] = defaultdict(list)
    for what, path, size in needs:
        folder = _device_dir(path)
        try:
            by_device[folder.stat().st_dev].append((what, folder, size))
        except OSError:
            continue  # unreadable: the writability checks report it
    for entries in by_device.values():
        total = sum(size for _, _, size in entries)
        free = shutil.disk_usage(entries[0][1]).free
        if total > free:
            names = ", ".join(f"{what} (about {size / _MB:.1f} MB)" for what, _, size in entries)
            raise ConfigError(
                f"not enough free space in {entries[0][1]}: {names} need about "
                f"{total / _MB:.1f} MB, {free / _MB:.1f} MB free; nothing was sent"
            )
