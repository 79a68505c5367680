from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from asa_bulk._checkpoint import SqliteCheckpoint
from asa_bulk._errors import CheckpointWriteError
from asa_bulk._frame import build_chunk, compact_record
from asa_bulk._inputs import iter_input_rows
from asa_bulk._ordered import OrderedRows
from asa_bulk._plan import BLOCK_ROWS, PAUSE, IndexedStore, Plan
from asa_bulk._records import ProductRequest, ResultRecord
from tests.support.records import ListStore


class DictIndex:
    """A store that answers lookups itself and gives bodies back (as SqliteCheckpoint does)."""

    def __init__(self) -> None:
        self.stored: dict[str, tuple[ResultRecord, int]] = {}
        self.run = 0
        self.lookups: list[int] = []

    def begin_run(self) -> int:
        self.run += 1
        return self.run

    def lookup(self, idents: Sequence[str]) -> dict[str, tuple[ResultRecord, int]]:
        self.lookups.append(len(idents))
        return {i: copy.deepcopy(self.stored[i]) for i in idents if i in self.stored}

    def record(self, record: ResultRecord) -> None:
        self.stored[record.request.ident] = (copy.deepcopy(record), self.run)


def make_plan(
    items: list[str], index: Any = None, *, window: int = 10_000, **kw: Any
) -> tuple[Plan, OrderedRows]:
    ordered = OrderedRows(chunk_rows=kw.pop("chunk_rows", 10_000))
    index = index if index is not None else IndexedStore()
    plan = Plan(
        iter_input_rows(items),
        ordered=ordered,
        compact=compact_record,
        index=index,
        run=index.begin_run(),
        window=window,
        index_has_bodies=getattr(index, "has_bodies", True),
        **kw,
    )
    return plan, ordered


def test_progress_counts_every_row_once_with_its_status() -> None:
    seen: list[tuple[int, str | None]] = []
    done_before = ResultRecord(ProductRequest("B000000003"), "ok")
    store = IndexedStore(
        ListStore([done_before, ResultRecord(ProductRequest("B000000002"), "failed")])
    )
    plan, ordered = make_plan(
        ["B000000001", "junk", "B000000001", "B000000002", "B000000003"],
        store,
        on_progress=lambda n, record: seen.append((n, record.status if record else None)),
    )
    requests = plan.requests()
    first = next(requests)
    assert first is not None
    plan.record(ResultRecord(first, "ok"))  # finishes before its duplicate is placed
    rest = list(requests)
    assert rest == [ProductRequest("B000000002")]  # failed in the checkpoint: sent again
    plan.record(ResultRecord(ProductRequest("B000000002"), "not_found"))
    assert seen == [(1, "ok"), (1, None), (1, "ok"), (1, "ok"), (1, "not_found")]
    assert sum(n for n, _ in seen) == plan.rows == 5
    assert (plan.duplicates, plan.from_checkpoint, plan.unique) == (1, 1, 3)
    assert dict(plan.status_counts) == {"ok": 3, "invalid": 1, "not_found": 1}
    ordered.close()
    assert [slot.row.index for slot in ordered.take()] == [0, 1, 2, 3, 4]


def test_rows_waiting_on_one_request_advance_together() -> None:
    seen: list[tuple[int, str | None]] = []
    plan, _ = make_plan(
        ["B000000001", "b000000001", "B000000001"],
        on_progress=lambda n, record: seen.append((n, record.status if record else None)),
    )
    (only,) = list(plan.requests())
    assert only is not None
    plan.record(ResultRecord(only, "ok"))
    assert seen == [(3, "ok")]


def test_a_duplicate_blocks_later_shares_the_result_through_the_checkpoint() -> None:
    index = DictIndex()
    items = ["B000000001", *(f"B{n:09d}" for n in range(2, BLOCK_ROWS + 2)), "B000000001"]
    plan, ordered = make_plan(items, index)
    sent: list[ProductRequest] = []
    for request in plan.requests():
        assert isinstance(request, ProductRequest)
        sent.append(request)
        body = {"asin": request.asin, "title": f"t{request.asin}"}
        plan.record(ResultRecord(request, "ok", body=body))  # done at once: not pending
    assert len(sent) == len(set(sent)) == BLOCK_ROWS + 1  # the last row was not sent again
    assert plan.duplicates == 1
    ordered.close()
    frame = build_chunk(ordered.take(), raw=False)
    assert frame["title"].iloc[-1] == frame["title"].iloc[0] == "tB000000001"


def test_a_duplicate_in_a_later_chunk_shares_the_first_chunks_objects() -> None:
    # products() keeps this run's bodies in memory: once built, a body must be the frame's
    # own objects, or a later duplicate would keep its JSON text alive beside them.
    plan, ordered = make_plan(["B000000001", "B000000002", "B000000001"], chunk_rows=1)
    requests = plan.requests()
    body = {"asin": "B000000001", "images": ["a.jpg"]}
    first = next(requests)
    assert first is not None
    plan.record(ResultRecord(first, "ok", body=dict(body), body_json=json.dumps(body).encode()))
    early = build_chunk(ordered.take())
    second = next(requests)
    assert second is not None
    plan.record(ResultRecord(second, "ok", body={"asin": "B000000002"}))
    assert list(requests) == []  # the repeat is answered, not sent
    ordered.close()
    late = [build_chunk(ordered.take()) for _ in range(2)][-1]
    assert late.index.tolist() == [2]
    assert late["images"].iloc[0] is early["images"].iloc[0]


def test_results_of_an_earlier_run_are_served_and_counted_as_such() -> None:
    index = DictIndex()
    index.begin_run()
    index.record(ResultRecord(ProductRequest("B000000001"), "ok", body={"title": "Pan"}))
    index.record(ResultRecord(ProductRequest("B000000002"), "failed"))
    plan, ordered = make_plan(["B000000001", "B000000002", "B000000001"], index)
    assert list(plan.requests()) == [ProductRequest("B000000002")]
    plan.record(ResultRecord(ProductRequest("B000000002"), "ok"))
    assert (plan.from_checkpoint, plan.duplicates, plan.unique) == (1, 1, 2)
    ordered.close()
    assert build_chunk(ordered.take())["title"].tolist() == ["Pan", pd.NA, "Pan"]


def test_the_plan_pauses_while_the_window_is_full_and_goes_on_once_rows_are_taken() -> None:
    items = [f"B{n:09d}" for n in range(3 * BLOCK_ROWS)]
    plan, ordered = make_plan(items, window=BLOCK_ROWS, chunk_rows=BLOCK_ROWS)
    requests = plan.requests()
    first_block = [next(requests) for _ in range(BLOCK_ROWS)]
    assert next(requests) is PAUSE  # nothing more is read...
    assert next(requests) is PAUSE  # ...however often it is asked
    assert plan.rows == BLOCK_ROWS
    for request in first_block:
        assert request is not None
        plan.record(ResultRecord(request, "ok"))
    assert ordered.ready.is_set()
    assert len(ordered.take()) == BLOCK_ROWS
    assert next(requests) == ProductRequest(f"B{BLOCK_ROWS:09d}")  # room again


def test_waiting_rows_hold_the_body_as_json_text_decoded_when_their_chunk_is_built() -> None:
    body = {"asin": "B000000001", "title": "Pan", "price": 9.5, "currency": "EUR"}
    text = json.dumps(body).encode()
    frames = []
    for raw in (False, True):
        plan, ordered = make_plan(["B000000001", "B000000001"])
        (request,) = list(plan.requests())
        assert request is not None
        record = ResultRecord(request, "ok", body=dict(body), body_json=text)
        plan.record(record)
        assert record.body is None  # no decoded product waits: the collector never walks it
        ordered.close()
        slots = ordered.take()
        shared = slots[0].body
        assert shared is not None
        assert slots[1].body is shared
        texts = [shared.text]
        frames.append(build_chunk(slots, raw=raw))
        texts.append(shared.text)
        assert texts == [text, None]  # decoded once: from now on the frame's own objects
        assert shared.flat is not None
        assert shared.flat[0] == "Pan"
    assert frames[0].equals(frames[1].drop(columns="raw"))
    assert list(frames[0]["title"]) == ["Pan", "Pan"]
    assert list(frames[0]["price"]) == [9.5, 9.5]
    assert frames[1]["raw"].iloc[0] == body
    assert frames[1]["raw"].iloc[1] is frames[1]["raw"].iloc[0]  # decoded once, fanned out


def test_with_a_sqlite_checkpoint_waiting_rows_hold_the_stored_row_not_the_text(
    tmp_path: Path,
) -> None:
    body = {"asin": "B000000001", "title": "Pan " * 100, "price": 9.5}
    text = json.dumps(body).encode()
    frames, forms = [], []
    checkpoint = SqliteCheckpoint(tmp_path / "c.sqlite")
    for index in (checkpoint, IndexedStore()):
        plan, ordered = make_plan(["B000000001", "B000000001"], index)
        (request,) = list(plan.requests())
        assert request is not None
        plan.record(ResultRecord(request, "ok", body=dict(body), body_json=text))
        ordered.close()
        slots = ordered.take()
        waiting = slots[0].body
        assert waiting is not None
        forms.append((waiting.text, waiting.row))
        frames.append(build_chunk(slots))
        assert (waiting.text, waiting.row) == (None, None)  # decoded: the frame's objects now
    checkpoint.close()
    (sqlite_text, sqlite_row), (memory_text, memory_row) = forms
    assert sqlite_text is None
    assert sqlite_row is not None
    assert len(sqlite_row) < len(text) / 4  # compressed (a sandbox product: 3.4 KB -> ~1 KB)
    assert (memory_text, memory_row) == (text, None)  # nothing stored to point at
    assert frames[0].equals(frames[1])
    assert list(frames[0]["title"]) == [body["title"]] * 2


def test_a_result_the_checkpoint_failed_to_store_still_answers_its_later_duplicates() -> None:
    class FailingIndex(DictIndex):
        def record(self, record: ResultRecord) -> None:
            if record.request == ProductRequest("B000000001"):
                raise OSError("disk full")
            super().record(record)

    items = ["B000000001", *(f"B{n:09d}" for n in range(2, BLOCK_ROWS + 2)), "B000000001"]
    plan, ordered = make_plan(items, FailingIndex())
    for request in plan.requests():
        assert isinstance(request, ProductRequest)
        # The runner stops buying on CheckpointWriteError; the row keeps its result.
        with contextlib.suppress(CheckpointWriteError):
            plan.record(ResultRecord(request, "ok", body={"title": request.asin}))
    ordered.close()
    frame = build_chunk(ordered.take())
    assert frame["title"].iloc[-1] == frame["title"].iloc[0] == "B000000001"
    assert frame["status"].iloc[-1] == "ok"
