"""``mode="batch"``: what a call changes to send its requests as server-side batches.

The stream is the same as in sync mode but for two things: the runner (a
:class:`~asa_bulk._batch_runner.BatchRunner`, with a sync runner for the items to retry) and
the frames, which get a ``batch_id`` column (before ``raw``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from ._batch_api import BatchApi
from ._batch_ledger import BatchLedger
from ._batch_runner import BatchOptions, BatchRunner
from ._errors import ConfigError
from ._frame import RAW_COLUMN
from ._options import MODES
from ._ordered import Body, Slot
from ._records import ResultRecord
from ._runner import RecordSink
from ._values import one_of

if TYPE_CHECKING:
    from ._client import _OpenState
    from ._stream import Endpoint

BATCH_COLUMN = "batch_id"


def check_mode(mode: object, *, has_checkpoint: bool) -> bool:
    """True for batch mode; a :class:`ConfigError` for a mode that is not one, or batch mode
    without a checkpoint (nothing would remember a batch across an interrupt)."""
    one_of("mode", mode, MODES)
    if mode == "batch" and not has_checkpoint:
        raise ConfigError(
            "mode='batch' needs a checkpoint (checkpoint='job.sqlite', --checkpoint): a batch "
            "cannot be cancelled and posting it again bills it again, so each one is recorded "
            "there before it is posted, and an interrupted run resumes polling it"
        )
    return mode == "batch"


class BatchColumns:
    """An endpoint whose frames carry the ``batch_id`` of each row's record."""

    def __init__(self, inner: Endpoint) -> None:
        self._inner = inner
        self.grouped = inner.grouped
        self.counts = inner.counts

    def compact(self, record: ResultRecord) -> Body | None:
        return self._inner.compact(record)

    def build_chunk(self, slots: Sequence[Slot], *, raw: bool) -> pd.DataFrame:
        frame = self._inner.build_chunk(slots, raw=raw)
        return with_batch_column(frame, _row_batch_ids(slots, frame))

    def empty_frame(self, *, raw: bool) -> pd.DataFrame:
        return with_batch_column(self._inner.empty_frame(raw=raw))  # type: ignore[attr-defined]


def with_batch_column(frame: pd.DataFrame, ids: Sequence[str | None] = ()) -> pd.DataFrame:
    """``frame`` with a ``batch_id`` column of ``ids`` (one per row), before ``raw``."""
    at = len(frame.columns) - (RAW_COLUMN in frame.columns)
    frame.insert(at, BATCH_COLUMN, pd.Series(list(ids), index=frame.index, dtype="string"))
    return frame


def _row_batch_ids(slots: Sequence[Slot], frame: pd.DataFrame) -> list[str | None]:
    """Each frame row's batch id, by its label (the input position of its row: a product's
    row, or a search query's cards, whose pages share one batch or the first one's)."""
    by_row: dict[int, str | None] = {}
    for slot in slots:
        if slot.record is not None and slot.record.batch_id is not None:
            by_row.setdefault(slot.row.index, slot.record.batch_id)
    return [by_row.get(int(label)) for label in frame.index]


def batch_runner(
    state: _OpenState,
    sink: RecordSink,
    endpoint: str,
    on_batches: Callable[[int, int, int], None] | None,
) -> BatchRunner:
    """The runner of one batch-mode call on an open client."""
    client, settings = state.client, state.client.settings
    options = BatchOptions(
        size=settings.batch_size,
        poll_seconds=settings.batch_poll_seconds,
        deadline=settings.batch_deadline,
        retry=settings.batch_retry,
        repost_unconfirmed=client._repost_unconfirmed,
        webhook=client._webhook,
    )
    api = BatchApi(
        session=state.session,
        settings=settings,
        pool=state.pool,
        policy=state.policy,
        clock=state.clock,
        rng=state.rng,
    )
    sync: Any = state.runner if options.retry == "sync" else None
    return BatchRunner(
        api=api,
        ledger=BatchLedger(state.store),
        clock=state.clock,
        sink=sink,
        budget=state.budget,
        options=options,
        endpoint=endpoint,
        timeout=settings.timeout,
        sync=sync,
        on_batches=on_batches,
    )
