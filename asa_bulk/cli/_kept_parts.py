"""Parquet parts kept in the checkpoint: a resume writes the chunks it wrote before as they are.

Building a chunk of output from its records costs ~250 µs a row (inflate, decode, flatten,
JSON cells, Arrow): a resume of a finished million-row job spent four minutes rebuilding an
output it had written already. So each row group of a parquet output whose rows all have
their final result is kept in the checkpoint too (``SqliteCheckpoint.keep_derived``), under a
digest of everything that went into it: the chunk's input rows and their place in the input,
the settings that shape a row (the marketplace defaults, ``--raw``, the service's URL, whether
a key is live: a live run never serves the sandbox's rows), the output's schema and the
versions of asa_bulk, pandas and pyarrow. A later run whose chunk has the same digest writes
the kept part and gives the engine only the other rows: nothing in a kept chunk is looked up,
decoded or sent. A part is stale once any record of the checkpoint changes (see
``_checkpoint_format``) and its chunk is then built from the records and kept anew, except
the parts a run itself used (see :meth:`KeptParts.renew`).

Only parquet outputs keep parts (csv and JSON lines would need their own), and not with
``--snapshot-dir`` (the snapshot is written from the built rows). On the sandbox a part costs
~0.07 KB a row (zstd parquet of like rows); expect about the output file's size on real data.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from asa_bulk._checkpoint import SqliteCheckpoint
from asa_bulk._errors import AsaBulkError, CheckpointWriteError
from asa_bulk._keys import TEST_PREFIX, ApiKey, any_live
from asa_bulk._records import DONE_STATUSES
from asa_bulk._version import __version__

log = logging.getLogger("asa_bulk.cli")

#: Bumped whenever what a part holds changes: parts of another version are never used.
PART_VERSION: Final = 1
#: The columns that name a row's request (for the summary's unique/duplicate counts).
_REQUEST_COLUMNS: Final = ["asin", "domain", "language", "country"]


class UnreadablePart(AsaBulkError):
    """A part kept in the checkpoint cannot be read (the file was damaged): the run stops
    before writing its output, and the part is removed, so that the next run rebuilds it."""


class KeptParts:
    """Which chunks of this input have a kept part, and the way to read and keep them.

    Chunk ``k`` is input rows ``[k * chunk_rows, (k + 1) * chunk_rows)``, the engine's own
    chunks (it hands out exactly ``chunk_rows`` rows at a time, the last chunk excepted).
    """

    def __init__(
        self,
        store: SqliteCheckpoint,
        digests: list[bytes],
        chunk_rows: int,
        rows: int,
        *,
        live: bool,
    ) -> None:
        self._store = store
        self._live = live
        self._digests = digests
        self.chunk_rows = chunk_rows
        self.rows = rows
        # Chosen now, read later: this run may rewrite records meanwhile (rows it sends again),
        # which makes these parts stale for the next run, but none of them holds such a row.
        self._generation = store.derived_generation()
        kept = store.derived_digests(digests, generation=self._generation)
        self.kept = [digest in kept for digest in digests]
        self._keeping = True
        self._used: list[bytes] = []  # the digests of the parts this run wrote or kept
        #: Rows written from kept parts, with their statuses and request counts.
        self.written_rows = 0
        self.statuses: Counter[str] = Counter()
        self.unique = 0
        self.duplicates = 0

    @classmethod
    def open(
        cls,
        store: SqliteCheckpoint,
        table: Any,
        *,
        settings: Any,
        keys: Sequence[ApiKey],
        raw: bool,
        schema: Any,
        chunk_rows: int,
    ) -> KeptParts | None:
        """The kept parts for ``table`` (an InputTable) written with ``schema`` by a client
        with ``settings`` and ``keys``; stale parts of the checkpoint are removed first. None
        when the checkpoint cannot be written (parts are then neither kept nor reused)."""
        try:
            pruned = store.prune_derived()
        except CheckpointWriteError as exc:
            log.warning("%s: no parts are kept or reused this run", exc)
            return None
        if pruned:
            log.info("checkpoint %s: %d stale kept part(s) removed", store.path, pruned)
        live = any_live(keys)
        context = _context(
            table, settings=settings, live=live, raw=raw, schema=schema, chunk_rows=chunk_rows
        )
        frame = table.frame
        rows = len(frame)
        digests = []
        for start in range(0, rows, chunk_rows):
            stop = min(start + chunk_rows, rows)
            digest = hashlib.blake2b(context, digest_size=32)
            digest.update(np.array([start, stop], dtype=np.int64).tobytes())
            # Each cell's repr (None, 12345 and '12345' differ), a chunk at a time: hashing the
            # whole frame through pandas held an object per cell (+150 MB at 1M rows), and
            # Arrow's IPC bytes of a slice can hold the values around it.
            for name in frame.columns:
                cells = repr(frame[name].iloc[start:stop].tolist())
                digest.update(cells.encode("utf-8", "surrogatepass"))
            if table.lines is not None:  # an invalid row's message names its line
                digest.update(table.lines[start:stop].tobytes())
            digests.append(digest.digest())
        return cls(store, digests, chunk_rows, rows, live=live)

    @property
    def any_kept(self) -> bool:
        return any(self.kept)

    def fetch_positions(self) -> npt.NDArray[np.int64]:
        """The input positions of the rows the engine must give (those of chunks not kept)."""
        starts = np.flatnonzero(~np.array(self.kept, dtype=bool)) * self.chunk_rows
        if len(starts) == 0:
            return np.zeros(0, dtype=np.int64)
        offsets = np.arange(self.chunk_rows, dtype=np.int64)
        positions = (starts[:, None] + offsets[None, :]).ravel()
        return positions[positions < self.rows]

    def chunk_size(self, number: int) -> int:
        return min(self.chunk_rows, self.rows - number * self.chunk_rows)

    def load(self, number: int) -> Any:
        """Chunk ``number``'s kept part, an Arrow table, counted in the totals."""
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        data = self._store.derived(self._digests[number], generation=self._generation)
        if data is None:  # the checkpoint is locked for this run: nothing else removes it
            raise RuntimeError(f"bug: the kept part of chunk {number} went missing")
        try:
            part = pq.read_table(pa.BufferReader(data))
        except (pa.ArrowException, OSError) as exc:  # ArrowInvalid is a ValueError
            raise self._unreadable(number, exc) from None
        self._used.append(self._digests[number])
        statuses = part.column("status")
        counts = pc.value_counts(statuses).to_pylist()
        self.statuses.update({str(item["values"]): int(item["counts"]) for item in counts})
        sent = part.select(_REQUEST_COLUMNS).filter(pc.not_equal(statuses, "invalid"))
        unique = sent.group_by(_REQUEST_COLUMNS).aggregate([]).num_rows
        self.unique += unique
        self.duplicates += sent.num_rows - unique
        self.written_rows += part.num_rows
        return part

    def _unreadable(self, number: int, exc: Exception) -> UnreadablePart:
        first = number * self.chunk_rows + 1
        rows = f"rows {first:,}-{first + self.chunk_size(number) - 1:,}"
        why = f"the part of input {rows} kept in checkpoint {self._store.path} cannot be read"
        try:
            self._store.forget_derived([self._digests[number]])
        except CheckpointWriteError as forgetting:
            return UnreadablePart(f"{why} ({exc}), nor removed ({forgetting})")
        return UnreadablePart(
            f"{why} ({exc}); it is removed: run the same command again, which builds those "
            "rows from the checkpoint's records and sends nothing for them"
        )

    def keep(self, number: int, chunk: pd.DataFrame, part: Any) -> None:
        """Keep ``part`` (the Arrow table written for ``chunk``, chunk ``number`` whole) when
        every row of it has its final result. A checkpoint that cannot take it only costs the
        next resume time: one warning, and no more parts this run."""
        if not self._keeping or part is None or len(chunk) != self.chunk_size(number):
            return
        if not chunk["status"].isin(DONE_STATUSES).all():
            return  # a later run sends some of these rows again
        if self._live and chunk["key_id"].str.startswith(TEST_PREFIX).any():
            return  # a sandbox row: a run with only live keys would send it again
        import pyarrow as pa
        import pyarrow.parquet as pq

        sink = pa.BufferOutputStream()
        pq.write_table(part, sink, compression="zstd")
        try:
            self._store.keep_derived(
                self._digests[number], part.num_rows, sink.getvalue().to_pybytes()
            )
        except CheckpointWriteError as exc:
            self._keeping = False
            log.warning("%s: parts are not kept for the rest of this run", exc)
        else:
            self._used.append(self._digests[number])

    def renew(self) -> None:
        """At the end of the run: the parts it wrote or kept stay current for the next one.

        This run rewrote only records it sent again, which were not final, and a part holds
        only final rows, whose records no run sends again: so none of these parts is built
        from a record that changed, though the count of changes says otherwise.
        """
        if not self._used or not self._keeping:
            return
        try:
            self._store.renew_derived(self._used)
        except CheckpointWriteError as exc:
            log.warning("%s: the next resume rebuilds the parts of this one", exc)

    def add_to(self, summary: dict[str, Any], wall_seconds: float) -> None:
        """Count the rows written from kept parts in the engine's run ``summary``, whose
        wall time becomes ``wall_seconds`` when longer (the engine saw only its own rows)."""
        if not self.written_rows or not summary:
            return
        counts = summary["status_counts"]
        for status, count in self.statuses.items():
            counts[status] = counts.get(status, 0) + count
        summary["rows"] += self.written_rows
        summary["unique_requests"] += self.unique
        summary["from_checkpoint"] += self.unique
        summary["duplicates"] += self.duplicates
        wall = max(float(summary.get("wall_seconds") or 0.0), wall_seconds, 1e-9)
        summary["wall_seconds"] = round(wall, 3)
        summary["rows_per_second"] = round(summary["rows"] / wall, 2)
        summary["requests_per_second"] = round(summary["requests_sent"] / wall, 2)


def _context(
    table: Any, *, settings: Any, live: bool, raw: bool, schema: Any, chunk_rows: int
) -> bytes:
    """What shapes every output row besides its own input row."""
    import pyarrow as pa

    fields = {
        "part_version": PART_VERSION,
        "versions": [__version__, pd.__version__, pa.__version__],
        "service": settings.base_url,
        # A run with a live key never serves the sandbox's rows (nor a part that holds them).
        "live": live,
        "defaults": [settings.domain, settings.language, settings.country],
        "raw": raw,
        "chunk_rows": chunk_rows,
        "input": [table.format, [(str(n), str(t)) for n, t in table.frame.dtypes.items()]],
    }
    text = json.dumps(fields, sort_keys=True).encode()
    return text + bytes(schema.serialize().to_pybytes())


Numbered = npt.NDArray[np.int64] | None


async def in_input_order(
    stream: AsyncIterator[pd.DataFrame],
    parts: KeptParts | None,
    positions: npt.NDArray[np.int64] | None,
) -> AsyncIterator[tuple[int | None, pd.DataFrame | None, Numbered]]:
    """The output's chunks in input order: ``(number, None, None)`` for a kept part to load,
    ``(number, rows, numbered)`` for rows the engine built, indexed by input position
    (``number`` is None when they are not a whole chunk; ``numbered``: the positions among the
    rows it was given, which its messages name). Without parts, the stream's chunks as they
    are."""
    if parts is None or positions is None:
        async for chunk in stream:
            yield None, chunk, None
        return
    size = parts.chunk_rows
    next_kept = 0
    async for chunk in stream:
        given = chunk.index.to_numpy()
        chunk.index = pd.Index(positions[given])
        numbers = chunk.index.to_numpy() // size
        # The engine's chunks are the input's (whole chunks, in order), but a split is cheap.
        cuts = np.flatnonzero(np.diff(numbers)) + 1
        for start, stop in zip([0, *cuts.tolist()], [*cuts.tolist(), len(chunk)], strict=True):
            number = int(numbers[start])
            while next_kept < number:
                if parts.kept[next_kept]:
                    yield next_kept, None, None
                next_kept += 1
            rows = chunk if stop - start == len(chunk) else chunk.iloc[start:stop].copy()
            whole = len(rows) == parts.chunk_size(number)
            yield (number if whole else None), rows, given[start:stop]
    for number in range(next_kept, len(parts.kept)):
        if parts.kept[number]:
            yield number, None, None
