"""Finished rows back in input order, in bounded chunks.

Results arrive in any order; the rows they belong to leave in input order. Each input row
takes a :class:`Slot` when the plan reads it; the slot is filled when its request's record
arrives (duplicates share one record and one body), and the filled prefix is handed out in
chunks. A slot holds its body as bytes (see :class:`Body`), decoded only when its chunk is
built: bytes are one object the cyclic collector never walks, where a decoded product is dozens
that it walks on every full collection for as long as they wait (a third of a resume's CPU).
An input row may take several slots (a search query, one per page): they leave in one chunk.
What is held is the *backlog*: rows read and not yet handed out. The plan stops
reading input while the backlog is at its limit, so memory depends on the window, not on the
number of rows, and a slow request at the head holds back at most a window of finished rows.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from ._checkpoint_format import stored_body_text
from ._json import loads
from ._records import Request, ResultRecord


class Body:
    """One finished request's body, shared by every row that repeats it.

    It waits as the checkpoint row that stores it (``row``, when there is one: a quarter of
    the JSON's size, and a window holds thousands), else as its JSON text (``text``), else
    decoded (``value``: a store of the caller's). The first chunk holding one of its rows
    decodes it (:meth:`decode`) and keeps the flattened fields (``flat``, and ``value`` when
    the chunk wants the raw body): the same objects as that chunk's frame, so a later
    duplicate costs nothing more.
    """

    __slots__ = ("flat", "row", "text", "value")

    def __init__(self, text: bytes | None = None, value: Any = None) -> None:
        self.text = text
        self.value = value
        self.row: bytes | None = None
        self.flat: tuple[Any, ...] | None = None

    def stored_as(self, row: bytes) -> None:
        """Wait as ``row`` (what :func:`~asa_bulk._checkpoint_format.pack` wrote for the
        record) instead of the text."""
        if self.text is not None:
            self.row, self.text = row, None

    def decode(self) -> Any:
        """The decoded body; the waiting forms are dropped (the caller keeps what it needs)."""
        if self.row is not None:
            text = stored_body_text(self.row)
            self.text = self.row = None
            return None if text is None else loads(text)
        if self.text is not None:
            value, self.text = loads(self.text), None
            return value
        return self.value


class PlanRow(Protocol):
    """What the engine needs of an input row, whatever its endpoint."""

    @property
    def index(self) -> int:
        """The input position (0-based); the slots of one input row share it."""
        ...

    @property
    def request(self) -> Request | None:
        """What to send; None for an invalid row (never sent)."""
        ...


#: Takes a record's body out of it, as the rows waiting for it share it (None: no body).
Compact = Callable[[ResultRecord], Body | None]


class Slot:
    """One input row on its way out: its record (without its body) and its body, once known."""

    __slots__ = ("body", "done", "record", "row")

    def __init__(self, row: PlanRow) -> None:
        self.row = row
        self.record: ResultRecord | None = None
        self.body: Body | None = None
        self.done = False


class OrderedRows:
    """Slots in input order; the finished prefix is taken in chunks of ``chunk_rows``."""

    def __init__(self, *, chunk_rows: int, grouped: bool = False) -> None:
        self.chunk_rows = chunk_rows
        #: An input row may take several slots (consecutive): they leave in one chunk.
        self.grouped = grouped
        self._slots: deque[Slot] = deque()
        self._finished_prefix = 0  # slots at the head that are done
        #: Set when a whole chunk is ready to take (or on :meth:`close`).
        self.ready = asyncio.Event()
        self.closed = False

    @property
    def backlog(self) -> int:
        """Rows read and not yet taken (finished or not)."""
        return len(self._slots)

    def add(self, row: PlanRow) -> Slot:
        slot = Slot(row)
        self._slots.append(slot)
        return slot

    def fill(self, slots: list[Slot], record: ResultRecord | None, body: Body | None) -> None:
        """Finish ``slots`` (an invalid row has no record) and advance the finished prefix."""
        for slot in slots:
            slot.record, slot.body, slot.done = record, body, True
        queue, prefix = self._slots, self._finished_prefix
        while prefix < len(queue) and queue[prefix].done:
            prefix += 1
        self._finished_prefix = prefix
        if prefix >= self.chunk_rows:
            self.ready.set()

    def take(self) -> list[Slot]:
        """Up to ``chunk_rows`` finished slots from the head, in input order. ``grouped``: the
        slots of one input row are never split, so a chunk may be a little longer or shorter,
        or wait for the end of a row."""
        count = min(self._finished_prefix, self.chunk_rows)
        if self.grouped:
            count = self._whole_rows(count)
        popleft = self._slots.popleft
        taken = [popleft() for _ in range(count)]
        self._finished_prefix -= count
        # Nothing taken: the head is one unfinished row longer than a chunk; wait for it.
        if (self._finished_prefix < self.chunk_rows or count == 0) and not self.closed:
            self.ready.clear()
        return taken

    def _whole_rows(self, count: int) -> int:
        """``count`` moved to a boundary between input rows: past the finished slots of the
        row it cuts, or back to that row's start when the row is not finished. Slots are added
        in input order as the plan reads on, so the last row queued may have more to come."""
        queue = self._slots
        if count == 0:
            return 0
        cut = queue[count - 1].row.index
        if count < len(queue) and queue[count].row.index != cut:
            return count
        end = count
        while end < self._finished_prefix and queue[end].row.index == cut:
            end += 1
        more_to_come = queue[end].row.index == cut if end < len(queue) else not self.closed
        if not more_to_come:
            return end
        while count > 0 and queue[count - 1].row.index == cut:
            count -= 1
        return count

    def close(self) -> None:
        """No more rows come: whatever is finished may be taken, however few."""
        self.closed = True
        self.ready.set()

    def unfinished(self) -> list[Slot]:
        """Slots still waiting for a record (after :meth:`close`, a bug if any)."""
        return [slot for slot in self._slots if not slot.done]
