from __future__ import annotations

from asa_bulk._inputs import iter_input_rows
from asa_bulk._plan import Plan
from asa_bulk._records import ProductRequest, ResultRecord


def test_progress_counts_every_row_once_with_its_status() -> None:
    seen: list[tuple[int, str | None]] = []
    done_before = ResultRecord(ProductRequest("B000000003"), "ok")
    plan = Plan(
        iter_input_rows(["B000000001", "junk", "B000000001", "B000000002", "B000000003"]),
        checkpointed=[done_before, ResultRecord(ProductRequest("B000000002"), "failed")],
        on_progress=lambda n, record: seen.append((n, record.status if record else None)),
    )
    requests = plan.requests()
    first = next(requests)
    plan.record(ResultRecord(first, "ok"))  # finishes before its duplicate is read
    rest = list(requests)
    assert rest == [ProductRequest("B000000002")]  # failed in the checkpoint: sent again
    plan.record(ResultRecord(rest[0], "not_found"))
    assert seen == [(1, "ok"), (1, None), (1, "ok"), (1, "ok"), (1, "not_found")]
    assert sum(n for n, _ in seen) == len(plan.rows) == 5
    assert (plan.duplicates, plan.invalid, plan.from_checkpoint) == (1, 1, 1)


def test_rows_waiting_on_one_request_advance_together() -> None:
    seen: list[tuple[int, str | None]] = []
    plan = Plan(
        iter_input_rows(["B000000001", "b000000001", "B000000001"]),
        on_progress=lambda n, record: seen.append((n, record.status if record else None)),
    )
    (only,) = list(plan.requests())
    plan.record(ResultRecord(only, "ok"))
    assert seen == [(3, "ok")]


def test_bodies_are_flattened_on_arrival_unless_kept() -> None:
    from asa_bulk._frame import build_frame

    body = {"asin": "B000000001", "title": "Pan", "price": 9.5, "currency": "EUR"}
    frames = []
    for keep in (False, True):
        plan = Plan(iter_input_rows(["B000000001", "B000000001"]), keep_bodies=keep)
        (request,) = list(plan.requests())
        plan.record(ResultRecord(request, "ok", body=dict(body)))
        assert (plan.results[request].body is not None) is keep  # dropped: memory stays flat
        assert (request in plan.flattened) is not keep
        frames.append(build_frame(plan.rows, plan.results, flattened=plan.flattened))
    assert frames[0].equals(frames[1])
    assert list(frames[0]["title"]) == ["Pan", "Pan"]
    assert list(frames[0]["price"]) == [9.5, 9.5]
