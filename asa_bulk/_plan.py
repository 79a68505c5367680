"""The plan: input rows in, unique requests out, lazily.

It keeps every input row (the frame needs one row per input), sends each unique request once
(duplicates fan the one result back out), answers requests already finished in a checkpoint
without sending them, and reports progress in input rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping

from ._errors import CheckpointWriteError
from ._flatten import flatten_values
from ._inputs import InputRow
from ._records import Request, ResultRecord

#: Called with the number of input rows that just reached their final status, and the record
#: (None for rows that needed no request: invalid input).
ProgressCallback = Callable[[int, ResultRecord | None], None]


class Plan:
    def __init__(
        self,
        rows: Iterable[InputRow],
        *,
        checkpointed: Iterable[ResultRecord] = (),
        on_progress: ProgressCallback | None = None,
        on_record: Callable[[ResultRecord], None] | None = None,
        keep_bodies: bool = False,
    ) -> None:
        self._rows = rows
        self._done: Mapping[str, ResultRecord] = {
            record.request.ident: record for record in checkpointed if record.final
        }
        self._progress = on_progress or (lambda n, record: None)
        self._on_record = on_record
        self._keep_bodies = keep_bodies
        #: Flattened product fields per request, when the decoded bodies are not kept.
        self.flattened: dict[Request, tuple[object, ...]] = {}
        self._waiting: dict[Request, int] = {}
        self.rows: list[InputRow] = []
        self.results: dict[Request, ResultRecord] = {}
        self.invalid = 0
        self.duplicates = 0
        self.from_checkpoint = 0

    def requests(self) -> Iterator[Request]:
        """Yield each unique request that still has to be sent, consuming the input lazily."""
        for row in self._rows:
            self.rows.append(row)
            request = row.request
            if request is None:
                self.invalid += 1
                self._progress(1, None)
                continue
            if request in self._waiting:
                self.duplicates += 1
                self._waiting[request] += 1
                continue
            finished = self.results.get(request)
            if finished is not None:
                self.duplicates += 1
                self._progress(1, finished)
                continue
            cached = self._done.get(request.ident)
            if cached is not None:
                self.from_checkpoint += 1
                self._keep(cached)
                self._progress(1, cached)
                continue
            self._waiting[request] = 1
            yield request

    def record(self, record: ResultRecord) -> None:
        """The runner's sink: checkpoint the final record, keep it, advance progress.

        When the checkpoint fails, the record is still kept (it is in the result) and
        :class:`CheckpointWriteError` tells the runner to stop buying more.
        """
        try:
            # A skipped row holds no result: storing it would only cost a commit per row left
            # (a stop with a million rows to go) and overwrite an earlier attempt's record.
            if self._on_record is not None and record.status != "skipped":
                self._on_record(record)
        except CheckpointWriteError:
            raise
        except Exception as exc:  # a store of the caller's: whatever it raises, keep the row
            raise CheckpointWriteError(
                f"the checkpoint failed to store a result: {type(exc).__name__}: {exc}"
            ) from exc
        finally:
            self._keep(record)
            self._progress(self._waiting.pop(record.request, 1), record)

    def _keep(self, record: ResultRecord) -> None:
        # A decoded body costs ~4x its flattened fields; kept until the frame is built, bodies
        # made memory grow with every row. Flatten now (after the checkpoint has stored the body).
        if record.body is not None and not self._keep_bodies:
            self.flattened[record.request] = flatten_values(record.body)
            record.body = None
        self.results[record.request] = record
