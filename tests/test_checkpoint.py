"""The SQLite checkpoint store: round trips, upserts, durability after kill -9, clear errors."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from asa_bulk._checkpoint import (
    SCHEMA_VERSION,
    CheckpointStore,
    SqliteCheckpoint,
    encode_record,
    open_checkpoint,
)
from asa_bulk._errors import ConfigError
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


def test_round_trip_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "run.ckpt"
    records = [make_record(1), make_record(2, "failed"), make_record(3, "not_found")]
    with SqliteCheckpoint(path) as store:
        for record in records:
            store.record(record)
    with SqliteCheckpoint(path) as store:
        assert list(store.load()) == records
        assert store.status_counts() == {"ok": 1, "failed": 1, "not_found": 1}


def test_one_row_per_ident_latest_wins(tmp_path: Path) -> None:
    with SqliteCheckpoint(tmp_path / "c.db") as store:
        store.record(make_record(1, "failed"))
        store.record(make_record(1, "ok"))
        store.record(make_record(1, "ok", domain="de"))  # another marketplace: another request
        loaded = list(store.load())
        assert len(store) == 2
    assert [(r.request.domain, r.status) for r in loaded] == [("com", "ok"), ("de", "ok")]


def test_load_pages_through_large_stores(tmp_path: Path) -> None:
    with SqliteCheckpoint(tmp_path / "c.db") as store:
        for n in range(2500):
            store.record(make_record(n))
        idents = [r.request.ident for r in store.load()]
    assert len(idents) == len(set(idents)) == 2500


def test_records_are_durable_after_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "killed.db"
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_checkpoint import make_record
        from asa_bulk._checkpoint import SqliteCheckpoint
        store = SqliteCheckpoint({str(path)!r})
        for n in range(300):
            store.record(make_record(n))
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert proc.returncode == -9, proc.stderr.decode()
    assert Path(f"{path}-wal").exists()  # the commits live in the WAL, never checkpointed
    with SqliteCheckpoint(path) as store:
        assert len(store) == 300
        assert all(r.status == "ok" for r in store.load())


def test_concurrent_records_from_threads(tmp_path: Path) -> None:
    with SqliteCheckpoint(tmp_path / "c.db") as store:

        def work(base: int) -> None:
            for n in range(base, base + 200):
                store.record(make_record(n))

        threads = [threading.Thread(target=work, args=(i * 1000,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(store) == 800


def test_writes_are_appended_to_the_wal_without_an_fsync_per_record(tmp_path: Path) -> None:
    # The speed (measured ~30-60k records/s, benchmarks/RESULTS.md) comes from these two
    # settings; asserting them instead of a rate keeps the test exact on a loaded machine.
    with SqliteCheckpoint(tmp_path / "c.db") as store:
        conn = store._connection()
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL: no fsync
    with SqliteCheckpoint(tmp_path / "d.db", synchronous="FULL") as store:
        assert store._connection().execute("PRAGMA synchronous").fetchone()[0] == 2


def test_not_a_database_is_a_config_error_naming_the_path(tmp_path: Path) -> None:
    path = tmp_path / "asins.csv"
    path.write_text("asin\nB000000001\n" * 200)
    with pytest.raises(ConfigError, match=r"asins\.csv is not an asa_bulk checkpoint"):
        SqliteCheckpoint(path)
    assert path.read_text().startswith("asin\n")  # left untouched


def test_foreign_sqlite_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE users (id INTEGER)")
    conn.close()
    with pytest.raises(ConfigError, match=r"other\.db is an SQLite database but not"):
        SqliteCheckpoint(path)


def test_other_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    SqliteCheckpoint(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(ConfigError, match=rf"old\.db has schema version {SCHEMA_VERSION + 1}"):
        SqliteCheckpoint(path)


@pytest.mark.parametrize("kind", ["parent_is_file", "is_directory"])
def test_unwritable_location_is_a_config_error(tmp_path: Path, kind: str) -> None:
    blocker = tmp_path / "blocker"
    if kind == "parent_is_file":
        blocker.write_text("x")
        path = blocker / "c.db"
    else:
        blocker.mkdir()
        path = blocker
    with pytest.raises(ConfigError, match="blocker"):
        SqliteCheckpoint(path)


def test_empty_file_becomes_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "touched.db"
    path.touch()
    with SqliteCheckpoint(path) as store:
        store.record(make_record(1))
    with SqliteCheckpoint(path) as store:
        assert len(store) == 1


def test_closed_store_refuses_records(tmp_path: Path) -> None:
    store = SqliteCheckpoint(tmp_path / "c.db")
    store.close()
    store.close()  # idempotent
    with pytest.raises(ConfigError, match="closed"):
        store.record(make_record(1))


class MemoryStore:
    def __init__(self) -> None:
        self.records: dict[str, ResultRecord] = {}

    def load(self) -> Iterator[ResultRecord]:
        return iter(list(self.records.values()))

    def record(self, record: ResultRecord) -> None:
        self.records[record.request.ident] = record

    def close(self) -> None:
        pass


def test_open_checkpoint_accepts_paths_and_stores(tmp_path: Path) -> None:
    store = open_checkpoint(tmp_path / "a.db")
    assert isinstance(store, SqliteCheckpoint)
    store.close()
    string_store = open_checkpoint(str(tmp_path / "b.db"))
    assert isinstance(string_store, SqliteCheckpoint)
    string_store.close()
    memory = MemoryStore()
    assert open_checkpoint(memory) is memory
    assert isinstance(memory, CheckpointStore)
    with pytest.raises(ConfigError, match="checkpoint must be a file path"):
        open_checkpoint(42)  # type: ignore[arg-type]


@pytest.mark.parametrize("status", ["ok", "failed"])
def test_fast_encoding_matches_to_json(status: str) -> None:
    record = make_record(7, status)
    assert json.loads(encode_record(record)) == record.to_json()


def test_a_checkpoint_serves_one_run_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    with SqliteCheckpoint(path) as first:
        first.record(make_record(1))
        with pytest.raises(ConfigError, match=r"busy\.db is in use by another running"):
            SqliteCheckpoint(path)
    with SqliteCheckpoint(path) as again:  # released on close (and by the OS on kill -9)
        assert len(again) == 1
