"""Result records made up for checkpoint tests: ``make_record(n)`` is the n-th, ok or not."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

from asa_bulk._records import ProductRequest, ResultRecord

PRODUCT = {
    "asin": "B000000001",
    "title": "Tëst «product» 日本",
    "price": 12.5,
    "images": ["https://m.media-amazon.com/a.jpg"],
    "product_details": {"Material": "Steel"},
}


def make_record(n: int, status: str = "ok", domain: str = "com") -> ResultRecord:
    ok = status == "ok"
    return ResultRecord(
        request=ProductRequest(asin=f"B{n:09d}", domain=domain, language="en_US"),
        status=status,  # type: ignore[arg-type]
        error=None if ok else "upstream_timeout",
        http_status=200 if ok else 408,
        attempts=1,
        key_id="asa_test_abcdefghijkl",
        request_id=f"req_{n:012x}",
        latency_ms=12.5,
        fetched_at=datetime(2026, 5, 1, 12, 0, n % 60, tzinfo=timezone.utc),
        body=dict(PRODUCT, asin=f"B{n:09d}") if ok else None,
    )


class ListStore:
    """A store of the caller's with only load/record/close."""

    def __init__(self, records: list[ResultRecord]) -> None:
        self.records = records

    def load(self) -> Iterator[ResultRecord]:
        return iter(self.records)

    def record(self, record: ResultRecord) -> None:
        self.records.append(record)

    def close(self) -> None:
        pass
