"""The progress bar: tqdm.auto (a widget in Jupyter, text on stderr elsewhere), or nothing.

The runner draws nothing itself; it reports finished rows through a callback and this class
turns them into a bar whose postfix shows the live counts.
"""

from __future__ import annotations

from typing import Any

from ._keypool import KeyPool
from ._records import ResultRecord


class ProgressBar:
    """Counts finished input rows; a no-op when disabled."""

    def __init__(self, *, enabled: bool, total: int | None, keys: int) -> None:
        self._bar: Any = None
        self._pool: KeyPool | None = None
        self._counts = {"ok": 0, "not_found": 0, "invalid": 0, "failed": 0, "skipped": 0}
        self._keys = keys
        if enabled:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, unit="row", desc="asa_bulk", dynamic_ncols=True)

    def attach(self, pool: KeyPool) -> None:
        self._pool = pool

    def advance(self, rows: int, record: ResultRecord | None) -> None:
        if record is not None:
            self._counts[record.status] += rows
        if self._bar is None:
            return
        self._bar.update(rows)
        keys_alive = len(self._pool.usable) if self._pool is not None else self._keys
        self._bar.set_postfix(
            ok=self._counts["ok"],
            failed=self._counts["failed"],
            skipped=self._counts["skipped"],
            keys=f"{keys_alive}/{self._keys}",
            refresh=False,
        )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
