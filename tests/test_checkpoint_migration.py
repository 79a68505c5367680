"""A checkpoint of the previous release (schema version 1) is migrated in place when opened."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from asa_bulk._checkpoint import SqliteCheckpoint
from asa_bulk._errors import ConfigError
from asa_bulk._records import ProductRequest, ResultRecord
from tests.support.records import make_record

# The version-1 layout, as asa_bulk wrote it before schema version 2 (do not edit).
V1_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    ident      TEXT PRIMARY KEY,
    status     TEXT NOT NULL,
    record     TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""
V1_APPLICATION_ID = 0x41534142

# A record exactly as version 1 stored it: no endpoint in the request, the body in "product".
V1_TEXT = (
    '{"request":{"asin":"B0CHX1W1XY","domain":"de","language":"de_DE","country":null},'
    '"status":"ok","error":null,"error_message":null,"http_status":200,"attempts":2,'
    '"key_id":"asa_live_abcdefghijkl","request_id":"req_1","latency_ms":812.5,'
    '"fetched_at":"2026-05-01T12:00:00+00:00","product":{"asin":"B0CHX1W1XY","title":"Tëst",'
    '"price":9.99,"images":["https://m.media-amazon.com/a.jpg"]}}'
)


def v1_text(record: ResultRecord) -> str:
    data: dict[str, Any] = record.to_json()
    data["request"].pop("endpoint")
    data["product"] = data.pop("body")
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def make_v1(path: Path, records: list[ResultRecord], meta: dict[str, str]) -> None:
    """A version-1 checkpoint, written with version 1's own SQL."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.executescript(V1_SCHEMA)
    conn.execute(f"PRAGMA application_id = {V1_APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 1")
    rows = [("B0CHX1W1XY|de|de_DE|", "ok", V1_TEXT, 1_777_000_000.0)]
    rows += [
        (r.request.ident, r.status, v1_text(r), 1_777_000_001.0 + i) for i, r in enumerate(records)
    ]
    conn.executemany(
        "INSERT INTO records(ident, status, record, updated_at) VALUES (?, ?, ?, ?)", rows
    )
    conn.executemany("INSERT INTO meta(name, value) VALUES (?, ?)", meta.items())
    conn.close()


META = {
    "opened_at": "1777000000.5",
    "base_url": "https://api.example.test",
    "key_ids": '["asa_live_abcdefghijkl"]',
}


def test_a_v1_checkpoint_is_migrated_in_place_and_resumes(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    records = [make_record(n) for n in range(1, 2500)] + [make_record(9000, "failed")]
    make_v1(path, records, META)
    before = path.stat().st_size
    with SqliteCheckpoint(path) as store:
        assert len(store) == 2501
        assert store.status_counts() == {"ok": 2500, "failed": 1}
        found = store.lookup([r.request.ident for r in records[:3]] + ["B0CHX1W1XY|de|de_DE|"])
        first, run = found["B0CHX1W1XY|de|de_DE|"]
        assert run == 0  # written before any run this release numbered
        assert first.body == {
            "asin": "B0CHX1W1XY",
            "title": "Tëst",
            "price": 9.99,
            "images": ["https://m.media-amazon.com/a.jpg"],
        }
        assert first.request == ProductRequest("B0CHX1W1XY", "de", "de_DE")
        assert (first.attempts, first.key_id) == (2, "asa_live_abcdefghijkl")
        assert [found[r.request.ident][0] for r in records[:3]] == records[:3]
        assert list(store.load())[1:] == records  # oldest first, as before
        assert store.origin() == "https://api.example.test"
        with pytest.raises(ConfigError, match=r"holds results from https://api\.example\.test"):
            store.bind_origin("http://127.0.0.1:1", [])
        assert store.begin_run() == 1
        job = store.job()
    assert job["key_ids"] == ["asa_live_abcdefghijkl"]
    assert (job["migrated_from"], job["created_at"]) == (1, 1_777_000_000.0)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    assert [r[0] for r in conn.execute("SELECT name FROM meta")] == ["job"]
    assert "record" not in {r[1] for r in conn.execute("PRAGMA table_info(records)")}
    conn.close()
    assert path.stat().st_size < before / 2  # the old rows' space is given back


def test_a_migration_killed_halfway_leaves_a_v1_file_that_migrates_later(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    records = [make_record(n) for n in range(1, 3000)]
    make_v1(path, records, META)
    script = textwrap.dedent(
        f"""
        import os, signal
        import asa_bulk._checkpoint_format as fmt
        real, calls = fmt.pack, []
        def dying_pack(record):
            calls.append(1)
            if len(calls) == 2500:  # past the first pages: some rows are already inserted
                os.kill(os.getpid(), signal.SIGKILL)
            return real(record)
        fmt.pack = dying_pack
        from asa_bulk._checkpoint import SqliteCheckpoint
        SqliteCheckpoint({str(path)!r})
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert proc.returncode == -9, proc.stderr.decode()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM records").fetchone()[0] == 3000
    conn.close()
    with SqliteCheckpoint(path) as store:
        assert len(store) == 3000
        assert (
            store.lookup([records[-1].request.ident])[records[-1].request.ident][0] == records[-1]
        )


def test_an_interrupted_migration_releases_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asa_bulk._checkpoint_format as fmt

    path = tmp_path / "old.sqlite"
    make_v1(path, [make_record(1)], META)

    def interrupted(record: ResultRecord) -> bytes:
        raise KeyboardInterrupt

    monkeypatch.setattr(fmt, "pack", interrupted)
    with pytest.raises(KeyboardInterrupt):
        SqliteCheckpoint(path)
    monkeypatch.undo()
    with SqliteCheckpoint(path) as store:  # not left locked, still complete
        assert len(store) == 2


def test_unreadable_v1_records_are_dropped_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    make_v1(path, [make_record(1)], {})
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO records VALUES ('B000000009|com||', 'ok', '{not json', 1.0)")
    conn.commit()
    conn.close()
    with SqliteCheckpoint(path) as store:
        assert len(store) == 2
        assert store.origin() is None  # this v1 file had not recorded one
