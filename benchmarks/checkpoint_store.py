"""The checkpoint store: bytes per row, write rate, lazy lookup and load cost, v1 vs v2.

    python -m benchmarks.checkpoint_store [--rows N] [--lookup-rows M] [--smoke]

Records are sandbox product bodies (``asa_bulk.sandbox``'s default docs shape, one unique ASIN
each, rendered in this process, never sent) with the small fields a live run fills in, written
in random ident order. The
version-1 store is reproduced here exactly as it wrote (its SQL, JSON text rows, the same
pragmas), so old and new are timed side by side in one process: writes alternate between the
two stores in rounds and the median round is reported. ``lookup_us`` is per record, for
batches of 1,000 idents (and of 200: ``lookup_200_*``) in random order on an ``M``-row
checkpoint (default 100,000). The
``*_cpu_us`` figures are this process's CPU time (user + system) per record: on a shared
machine they move far less than wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from asa_bulk._checkpoint import SqliteCheckpoint, encode_record
from asa_bulk._records import ProductRequest, ResultRecord
from asa_bulk.sandbox._products import product_dict

from ._common import markdown_table

#: Version 1's layout and pragmas, as its SqliteCheckpoint wrote them.
_V1_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    ident TEXT PRIMARY KEY, status TEXT NOT NULL, record TEXT NOT NULL, updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class V1Store:
    """The version-1 write and read paths (JSON text of ``to_json()`` per row)."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA locking_mode = EXCLUSIVE")
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self.conn.executescript(_V1_SCHEMA)
        self.conn.execute("PRAGMA application_id = 1095975234")
        self.conn.execute("PRAGMA user_version = 1")

    def record(self, record: ResultRecord) -> None:
        text = encode_record(record)
        self.conn.execute(
            "INSERT OR REPLACE INTO records(ident, status, record, updated_at) VALUES (?, ?, ?, ?)",
            (record.request.ident, record.status, text, time.time()),
        )

    def close(self) -> None:
        self.conn.close()


def make_records(n: int, tag: str = "A") -> list[ResultRecord]:
    when = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
    out = []
    for i in range(n):
        asin = f"B{tag}{i:08d}"[:10]
        out.append(
            ResultRecord(
                ProductRequest(asin, "com"),
                "ok",
                http_status=200,
                attempts=1,
                key_id="asa_live_abcdefghijkl",
                request_id=f"req_{i:016x}",
                latency_ms=round(random.uniform(300, 3000), 3),
                fetched_at=when,
                body=product_dict(asin, "com", "docs"),
            )
        )
    return out


def _size_per_row(path: Path, rows: int) -> float:
    return path.stat().st_size / rows  # after close: the WAL is folded back into the file


def run(rows: int = 20_000, lookup_rows: int = 100_000, rounds: int = 5) -> list[dict[str, Any]]:
    folder = Path(tempfile.mkdtemp(prefix="asa-ckpt-bench-"))
    records = make_records(rows)
    # In no particular ident order, as the answers to an input list arrive: each upsert lands
    # somewhere in the ident index, not at its end.
    random.Random(0).shuffle(records)
    chunk = max(1, rows // rounds)
    old, new = V1Store(folder / "v1.sqlite"), SqliteCheckpoint(folder / "v2.sqlite")
    rates: dict[str, list[float]] = {"v1": [], "v2": []}
    cpu: dict[str, list[float]] = {"v1": [], "v2": []}
    for start in range(0, rows, chunk):
        part = records[start : start + chunk]
        for name, store in (("v1", old), ("v2", new)):
            began, began_cpu = time.perf_counter(), time.process_time()
            for record in part:
                store.record(record)
            rates[name].append(len(part) / (time.perf_counter() - began))
            cpu[name].append(1e6 * (time.process_time() - began_cpu) / len(part))
    old.close()
    new.close()
    out = [
        {
            "store": name,
            "rows": rows,
            "write_records_per_s": round(statistics.median(rates[name])),
            "write_rounds": "/".join(f"{r:.0f}" for r in rates[name]),
            "write_cpu_us": round(statistics.median(cpu[name]), 1),
            "bytes_per_row": round(_size_per_row(folder / f"{name}.sqlite", rows)),
        }
        for name in ("v1", "v2")
    ]

    # Reading: load() of every row, then lookup() in 1,000-ident batches on a big checkpoint.
    with SqliteCheckpoint(folder / "v2.sqlite") as store:
        began = time.process_time()
        loaded = sum(1 for _ in store.load())
        out[1]["load_cpu_us"] = round(1e6 * (time.process_time() - began) / loaded, 1)
    v1 = sqlite3.connect(folder / "v1.sqlite")
    began = time.process_time()
    count = 0
    for (text,) in v1.execute("SELECT record FROM records"):
        ResultRecord.from_json(json.loads(text))
        count += 1
    out[0]["load_cpu_us"] = round(1e6 * (time.process_time() - began) / count, 1)
    v1.close()

    big = folder / "big.sqlite"
    with SqliteCheckpoint(big) as store:
        # The same bodies again under other idents: rendering 100k sandbox bodies would take
        # longer than the measurement, and what a row packs to does not depend on its ident.
        order = list(range(lookup_rows))
        random.Random(2).shuffle(order)
        for i in order:
            base = records[i % rows]
            store.record(
                ResultRecord(
                    ProductRequest(f"C{i:09d}"),
                    "ok",
                    http_status=200,
                    attempts=1,
                    key_id=base.key_id,
                    request_id=base.request_id,
                    latency_ms=base.latency_ms,
                    fetched_at=base.fetched_at,
                    body=base.body,
                )
            )
    idents = [f"C{i:09d}|com||" for i in range(lookup_rows)]
    random.Random(1).shuffle(idents)
    with SqliteCheckpoint(big) as store:
        for batch in (1000, 200):
            began, began_cpu = time.perf_counter(), time.process_time()
            found = 0
            for start in range(0, len(idents), batch):
                found += len(store.lookup(idents[start : start + batch]))
            elapsed, elapsed_cpu = time.perf_counter() - began, time.process_time() - began_cpu
            assert found == lookup_rows
            suffix = "" if batch == 1000 else f"_{batch}"
            out[1][f"lookup{suffix}_us"] = round(1e6 * elapsed / found, 1)
            out[1][f"lookup{suffix}_cpu_us"] = round(1e6 * elapsed_cpu / found, 1)
    out[1]["lookup_rows"] = lookup_rows
    out[1]["big_bytes_per_row"] = round(_size_per_row(big, lookup_rows))

    # Migrating the version-1 file written above.
    began = time.perf_counter()
    SqliteCheckpoint(folder / "v1.sqlite").close()
    out[0]["migrate_us"] = round(1e6 * (time.perf_counter() - began) / rows, 1)
    out[0]["migrated_bytes_per_row"] = round(_size_per_row(folder / "v1.sqlite", rows))
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.checkpoint_store")
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--lookup-rows", type=int, default=100_000)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: the figures mean nothing")
    args = parser.parse_args(argv)
    rows, lookup_rows = (500, 2_000) if args.smoke else (args.rows, args.lookup_rows)
    print(f"cpu: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    print(markdown_table(run(rows, lookup_rows)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
