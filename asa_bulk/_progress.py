"""The progress bar: tqdm.auto (a widget in Jupyter, text on stderr elsewhere), or nothing.

The runner draws nothing itself; it reports finished rows through a callback and this class
turns them into a bar whose postfix shows the live counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._keypool import KeyPool
from ._records import ResultRecord


@dataclass(frozen=True)
class Total:
    """What the bar counts to: ``slots`` (None: unknown), ``unit`` ("row" or "page"), and
    how many slots each input row takes (a query's pages) unless it is invalid (then one)."""

    slots: int | None
    unit: str = "row"
    per_row: int = 1


class ProgressBar:
    """Counts finished slots (input rows, or pages of queries); a no-op when disabled."""

    def __init__(self, *, enabled: bool, total: Total, keys: int) -> None:
        self._bar: Any = None
        self._spared = total.per_row - 1  # the slots an invalid input row does not take
        self._pool: KeyPool | None = None
        self._counts = {"ok": 0, "not_found": 0, "invalid": 0, "failed": 0, "skipped": 0}
        self._keys = keys
        self._batches: str | None = None
        if enabled:
            from tqdm.auto import tqdm

            self._bar = tqdm(
                total=total.slots, unit=total.unit, desc="asa_bulk", dynamic_ncols=True
            )

    def attach(self, pool: KeyPool) -> None:
        self._pool = pool

    def advance(self, rows: int, record: ResultRecord | None) -> None:
        if record is not None:
            self._counts[record.status] += rows
        if self._bar is None:
            return
        if record is None and self._spared and self._bar.total is not None:
            self._bar.total -= rows * self._spared  # an invalid query: one slot, not its pages
        self._bar.update(rows)
        self._postfix()

    def batches(self, processed: int, total: int, running: int) -> None:
        """Batch mode: items the service has processed in the batches still open."""
        self._batches = f"{processed}/{total} in {running}" if total else None
        if self._bar is not None:
            self._postfix()
            self._bar.refresh()

    def _postfix(self) -> None:
        keys_alive = len(self._pool.usable) if self._pool is not None else self._keys
        self._bar.set_postfix(
            ok=self._counts["ok"],
            failed=self._counts["failed"],
            skipped=self._counts["skipped"],
            keys=f"{keys_alive}/{self._keys}",
            **({"batched": self._batches} if self._batches else {}),
            refresh=False,
        )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
