"""The plan: input rows in, unique requests out, lazily; results back to the rows.

Each input row takes a slot in :class:`~asa_bulk._ordered.OrderedRows`. A request is sent once
per run: rows that repeat it share its one result, and requests finished in the checkpoint by
an earlier run are answered from it without being sent. The checkpoint is asked per block of
input rows (never loaded whole), and the plan holds only what is in flight and the window of
rows not yet handed out, so its memory does not grow with the number of rows.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Final, Protocol

from ._errors import CheckpointWriteError
from ._ordered import Body, Compact, OrderedRows, PlanRow, Slot
from ._records import Request, ResultRecord

#: Called with the number of input rows that just reached their final status, and the record
#: (None for rows that needed no request: invalid input).
ProgressCallback = Callable[[int, ResultRecord | None], None]

#: Yielded by :meth:`Plan.requests` while the window of rows not yet handed out is full: the
#: runner sends what it has and asks again after a record or a taken chunk.
PAUSE: Final = None

#: Input rows read (and looked up in the checkpoint) at a time.
BLOCK_ROWS: Final = 512


class ResultIndex(Protocol):
    """What the plan needs of a checkpoint (see :class:`IndexedStore` for stores without it)."""

    def begin_run(self) -> int:
        """A number for this run; :meth:`lookup` tells its results from earlier runs' by it."""
        ...

    def lookup(self, idents: Sequence[str]) -> dict[str, tuple[ResultRecord, int]]:
        """The stored record of each ident found, with the run that stored it."""
        ...

    def record(self, record: ResultRecord) -> None: ...


class Plan:
    def __init__(
        self,
        rows: Iterable[PlanRow],
        *,
        ordered: OrderedRows,
        compact: Compact,
        index: ResultIndex,
        run: int,
        window: int,
        servable: Callable[[ResultRecord], bool] = lambda record: True,
        on_progress: ProgressCallback | None = None,
        index_has_bodies: bool = True,
    ) -> None:
        self._rows = iter(rows)
        self._ordered = ordered
        self._compact = compact
        self._index = index
        # A SqliteCheckpoint can leave bodies undecoded: a waiting row keeps them as text anyway.
        self._lookup = getattr(index, "lookup_deferred", index.lookup)
        # ...and tells the row it stored, which a waiting row keeps instead of the text.
        self._record_row: Callable[[ResultRecord], bytes] | None = getattr(
            index, "record_row", None
        )
        self._run = run
        self._window = window
        self._servable = servable
        self._progress = on_progress or (lambda n, record: None)
        #: Requests sent and not yet finished -> the slots of the rows waiting for them.
        self._pending: dict[Request, list[Slot]] = {}
        #: Requests finished since the checkpoint was last asked (it knows the older ones; an
        #: index that cannot give bodies back keeps them all here).
        self._recent: dict[Request, tuple[ResultRecord, Body | None]] = {}
        self._forget_recent = index_has_bodies
        #: Records the checkpoint failed to store: it cannot answer for them, so they stay here.
        self._unstored: dict[Request, tuple[ResultRecord, Body | None]] = {}
        self.status_counts: Counter[str] = Counter()
        self.rows = 0
        self.unique = 0
        self.duplicates = 0
        self.from_checkpoint = 0

    def requests(self) -> Iterator[Request | None]:
        """Yield each unique request still to be sent (or :data:`PAUSE`), reading lazily."""
        while True:
            while self._ordered.backlog >= self._window:
                yield PAUSE
            block = list(itertools.islice(self._rows, BLOCK_ROWS))
            if not block:
                return
            known = self._look_up(block)
            for row in block:
                request = self._place(row, known)
                if request is not None:
                    yield request

    def _look_up(self, block: list[PlanRow]) -> dict[str, tuple[ResultRecord, int]]:
        idents = {
            row.request.ident
            for row in block
            if row.request is not None and row.request not in self._pending
        }
        known = self._lookup(sorted(idents)) if idents else {}
        if self._forget_recent:
            self._recent.clear()  # from now on the checkpoint answers for those
        return known

    def _place(self, row: PlanRow, known: dict[str, tuple[ResultRecord, int]]) -> Request | None:
        """Give ``row`` its slot and answer it at once if it can be; the request to send if not."""
        self.rows += 1
        slot = self._ordered.add(row)
        request = row.request
        if request is None:
            self._finish([slot], None, None)
            return None
        waiting = self._pending.get(request)
        if waiting is not None:
            self.duplicates += 1
            waiting.append(slot)
            return None
        recent = self._recent.get(request) or self._unstored.get(request)
        if recent is not None:
            self.duplicates += 1
            self._finish([slot], *recent)
            return None
        hit = known.get(request.ident)
        if hit is not None:
            record, run = hit
            if run == self._run or (record.final and self._servable(record)):
                if run == self._run:
                    self.duplicates += 1
                else:
                    self.unique += 1
                    self.from_checkpoint += 1
                body = self._compact(record)
                self._recent[request] = (record, body)
                known.pop(request.ident)
                self._finish([slot], record, body)
                return None
        self.unique += 1
        self._pending[request] = [slot]
        return request

    def record(self, record: ResultRecord) -> None:
        """The runner's sink: checkpoint the final record, then fill its rows' slots.

        When the checkpoint fails, the rows still get the record (it is in the result) and
        :class:`CheckpointWriteError` tells the runner to stop buying more.
        """
        stored, row = False, None
        try:
            # A skipped row holds no result: storing it would only cost a commit per row left
            # (a stop with a million rows to go) and overwrite an earlier attempt's record.
            if record.status != "skipped":
                row = self._write(record)
            stored = True
        except CheckpointWriteError:
            raise
        except Exception as exc:  # a store of the caller's: whatever it raises, keep the row
            raise CheckpointWriteError(
                f"the checkpoint failed to store a result: {type(exc).__name__}: {exc}"
            ) from exc
        finally:
            slots = self._pending.pop(record.request, None)
            body = self._compact(record)
            if body is not None and row is not None:
                body.stored_as(row)
            self._recent[record.request] = (record, body)
            if not stored:
                self._unstored[record.request] = (record, body)
            if slots is not None:
                self._finish(slots, record, body)

    def _write(self, record: ResultRecord) -> bytes | None:
        """Store ``record``; the row as stored, when the index tells it."""
        if self._record_row is not None:
            return self._record_row(record)
        self._index.record(record)
        return None

    def _finish(self, slots: list[Slot], record: ResultRecord | None, body: Body | None) -> None:
        self._ordered.fill(slots, record, body)
        self.status_counts[record.status if record is not None else "invalid"] += len(slots)
        self._progress(len(slots), record)


class IndexedStore:
    """A :class:`ResultIndex` over a checkpoint store that has only ``load``/``record``.

    Such a store (one of your own) is read whole at start; the plan then keeps this run's
    results in memory too (``index_has_bodies=False``), so memory grows with the rows.
    :class:`~asa_bulk.SqliteCheckpoint` answers lookups itself.
    """

    has_bodies = False

    def __init__(self, store: Any = None) -> None:
        self._store = store
        self._run = 0
        self._known: dict[str, tuple[ResultRecord, int]] = (
            {} if store is None else {record.request.ident: (record, 0) for record in store.load()}
        )

    def begin_run(self) -> int:
        self._run += 1  # the loaded records are all from earlier runs (0)
        return self._run

    def lookup(self, idents: Sequence[str]) -> dict[str, tuple[ResultRecord, int]]:
        """Copies (the plan takes the body out of a record it answers with; these keep theirs)."""
        known, found = self._known, {}
        for ident in idents:
            if ident in known:
                record, run = known[ident]
                found[ident] = (dataclasses.replace(record), run)
        return found

    def record(self, record: ResultRecord) -> None:
        if self._store is None:
            return  # no checkpoint: nothing outlives the call (the plan keeps this run's)
        self._store.record(record)
        # A copy: the plan drops the original's body once flattened; a later call on the same
        # client is answered from this one.
        self._known[record.request.ident] = (dataclasses.replace(record, body_json=None), self._run)
