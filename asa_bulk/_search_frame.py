"""Build search DataFrames: one typed row per result card, a query's pages read together.

The slots of one query (one per page, see :mod:`asa_bulk._search_inputs`) arrive together in a
chunk (:class:`~asa_bulk._ordered.OrderedRows` never splits an input row). Each query gives:

- its cards, pages in order, ranked by :func:`~asa_bulk._search_flatten.result_rows` from the
  cards seen; after a page that failed, the later pages' cards keep their fields but no rank
  (``slot``/``position``/``sponsored_position`` are NA: the cards of the missing page are
  unknown, so any number would be a guess);
- a row per failed page (its ``status``, ``error``, ``page``; no card fields);
- one ``no_results`` row when its answered pages hold no card at all;
- one ``invalid`` row when the query could not be sent.

So no query is ever missing. The index is each row's query position in the input (repeated).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import groupby
from typing import Any, Final, cast

import numpy as np
import pandas as pd

from ._frame import TIME_DTYPE, gc_paused, typed_column
from ._ordered import Slot
from ._records import ResultRecord
from ._search_flatten import SEARCH_RESULT_COLUMNS, SEARCH_RESULT_FIELDS, result_rows
from ._search_inputs import QueryRow

#: Every column of a search frame and its dtype, in order.
SEARCH_DTYPES: Final[dict[str, Any]] = {
    "query": "string",
    "domain": "string",
    "sort_by": "string",
    **SEARCH_RESULT_FIELDS,
    "status": "string",
    "error": "string",
    "error_message": "string",
    "http_status": "Int64",
    "attempts": "Int64",
    "key_id": "string",
    "request_id": "string",
    "fetched_at": TIME_DTYPE,
    "input": "string",
}
SEARCH_COLUMNS: Final = tuple(SEARCH_DTYPES)

_NO_CARD: Final[tuple[Any, ...]] = (None,) * len(SEARCH_RESULT_COLUMNS)
_PAGE, _SLOT, _POSITION, _SPONSORED = 0, 1, 2, 3  # places in a result_rows() tuple
_UNRANKED: Final = frozenset({_SLOT, _POSITION, _SPONSORED})


def build_search_chunk(slots: Sequence[Slot]) -> pd.DataFrame:
    """The typed frame of the finished slots of whole queries, in query then page order."""
    rows: list[tuple[Any, ...]] = []
    index: list[int] = []
    with gc_paused():
        for position, group in groupby(slots, key=lambda slot: slot.row.index):
            before = len(rows)
            rows.extend(_query_rows(list(group)))
            index.extend([position] * (len(rows) - before))
        frame = _frame(rows)
    frame.index = pd.Index(np.asarray(index, dtype=np.int64))
    return frame


def empty_search_frame() -> pd.DataFrame:
    """A search frame with no rows and exactly the columns and dtypes of a built one."""
    return _frame([])


def _query_rows(pages: list[Slot]) -> Iterator[tuple[Any, ...]]:
    """The rows of one query from the slots of its pages."""
    first = cast(QueryRow, pages[0].row)
    head = (first.query, first.domain, first.sort_by)
    if first.request is None:
        card = list(_NO_CARD)
        yield (*head, *card, "invalid", first.error, first.message, None, 0, None, None, None,
               first.raw)  # fmt: skip
        return
    answered: list[tuple[int, Any, ResultRecord]] = []  # the ranked run of pages, so far
    ranked = True
    for slot in pages:
        row, record = cast(QueryRow, slot.row), slot.record
        if record is None or row.page is None:
            raise RuntimeError(f"bug: no result for page {row.page} of input row {row.index + 1}")
        if record.status != "ok":
            yield from _cards(head, answered, ranked, first.raw)
            answered, ranked = [], False
            card = list(_NO_CARD)
            card[_PAGE] = row.page
            yield (*head, *card, *_meta(record), first.raw)
            continue
        value = slot.body.decode() if slot.body is not None else None
        if slot.body is not None:
            slot.body.value = value  # a duplicate query's rows decode it once
        answered.append((row.page, value, record))
    yield from _cards(head, answered, ranked, first.raw)


def _cards(
    head: tuple[Any, ...], pages: list[tuple[int, Any, ResultRecord]], ranked: bool, raw: str
) -> Iterator[tuple[Any, ...]]:
    """The card rows of a run of answered pages (``ranked``: no page before them failed)."""
    if not pages:
        return
    records = {page: record for page, _, record in pages}
    last = pages[-1][2]
    for card in result_rows((page, value) for page, value, _ in pages):
        if not ranked:
            card = tuple(None if i in _UNRANKED else v for i, v in enumerate(card))
        record = records.get(card[_PAGE], last)
        yield (*head, *card, *_meta(record), raw)


def _meta(record: ResultRecord) -> tuple[Any, ...]:
    return (record.status, record.error, record.error_message, record.http_status,
            record.attempts, record.key_id, record.request_id, record.fetched_at)  # fmt: skip


def _frame(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    columns: list[Sequence[Any]] = (
        list(zip(*rows, strict=True)) if rows else [() for _ in SEARCH_COLUMNS]
    )
    card_fields = set(SEARCH_RESULT_COLUMNS)
    data = {
        name: typed_column(column, dtype, coerce=name in card_fields)
        for (name, dtype), column in zip(SEARCH_DTYPES.items(), columns, strict=True)
    }
    frame: pd.DataFrame = pd.DataFrame(data, copy=False)
    return frame
