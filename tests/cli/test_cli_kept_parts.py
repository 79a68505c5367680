"""Parquet parts kept in the checkpoint: a resume writes them instead of rebuilding its chunks.

In process (``main``), with chunks of 5 rows, so that a few dozen rows make several chunks.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from asa_bulk._checkpoint import SqliteCheckpoint
from asa_bulk._records import ProductRequest
from asa_bulk.cli import _command, main
from asa_bulk.cli._kept_parts import in_input_order
from asa_bulk.sandbox import Sandbox, make_test_keys

ASINS = [f"B0KEPT{n:04d}" for n in range(21)] + ["B0KEPT0003", "not an asin"]  # 23 rows
#: What differs between two fetches of the same product.
SENT_COLUMNS = ["key_id", "request_id", "latency_ms", "fetched_at", "attempts"]


@pytest.fixture
def run(sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``run(*extra_args)``: ``asa-bulk products in.txt -o out.parquet --checkpoint ck.sqlite``
    in process; returns (exit code, the report)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(_command, "CHUNK_ROWS", 5)
    monkeypatch.setenv("ASA_BASE_URL", sandbox.base_url)
    monkeypatch.setenv("ASA_API_KEYS", ",".join(make_test_keys(2)))
    (tmp_path / "in.txt").write_text("\n".join(ASINS) + "\n")

    def go(*extra: str, output: str = "out.parquet") -> tuple[int, dict[str, Any]]:
        args = ["products", "in.txt", "-o", output, "--checkpoint", "ck.sqlite"]
        code = main([*args, "--no-progress", "--report", "r.json", *extra])
        return code, json.loads((tmp_path / "r.json").read_text())

    return go


def lookups(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the idents the engine looks up in the checkpoint from now on."""
    seen: list[int] = []
    original = SqliteCheckpoint.lookup_deferred

    def spy(self: SqliteCheckpoint, idents: Any) -> Any:
        seen.append(len(idents))
        return original(self, idents)

    monkeypatch.setattr(SqliteCheckpoint, "lookup_deferred", spy)
    return seen


def kept_count(path: Path) -> int:
    with SqliteCheckpoint(path) as store:
        return len(store.derived_digests(_all_digests(store)))


def _all_digests(store: SqliteCheckpoint) -> list[bytes]:
    rows = store._connection().execute("SELECT digest FROM derived").fetchall()
    return [bytes(digest) for (digest,) in rows]


def test_a_resume_writes_the_kept_parts_and_looks_nothing_up(
    run: Any, sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, fresh = run()
    assert code == 0
    first = pd.read_parquet(tmp_path / "out.parquet")
    assert kept_count(tmp_path / "ck.sqlite") == 5  # 23 rows: chunks of 5, 5, 5, 5, 3
    billed = sandbox.stats.billed_total
    seen = lookups(monkeypatch)

    code, resumed = run()
    assert code == 0
    assert seen == []  # not a row went through the engine
    assert sandbox.stats.billed_total == billed
    again = pd.read_parquet(tmp_path / "out.parquet")
    pd.testing.assert_frame_equal(again, first)
    assert list(again["asin"].iloc[:3]) == ASINS[:3]
    assert resumed["cli"]["kept_parts"].startswith("23 row(s)")
    assert resumed["rows"] == 23
    assert resumed["status_counts"] == fresh["status_counts"]
    assert resumed["requests_sent"] == 0
    # Counted as the engine counts a resume from the records (parts made stale).
    with SqliteCheckpoint(tmp_path / "ck.sqlite") as store:
        store._connection().execute("UPDATE derived_generation SET value = value + 1")
    code, rebuilt = run()
    assert code == 0
    assert "kept_parts" not in rebuilt["cli"]
    counts = ("rows", "status_counts", "requests_sent", "credits")
    assert {name: resumed[name] for name in counts} == {name: rebuilt[name] for name in counts}
    # The engine tells repeats within a block of 512 rows, a kept part within its chunk: the
    # repeat of B0KEPT0003, 18 rows later, is a duplicate for one and not for the other.
    assert rebuilt["unique_requests"] + rebuilt["duplicates"] == 22
    assert resumed["unique_requests"] + resumed["duplicates"] == 22
    assert resumed["from_checkpoint"] == resumed["unique_requests"] == 22


def test_a_changed_record_makes_every_part_stale(run: Any, tmp_path: Path) -> None:
    assert run()[0] == 0
    asin = "B0KEPT0007"
    ident = ProductRequest(asin).ident
    with SqliteCheckpoint(tmp_path / "ck.sqlite") as store:
        record, _ = store.lookup([ident])[ident]
        assert record.body is not None
        store.record(dataclasses.replace(record, body={**record.body, "title": "Changed"}))
        assert store.derived_digests(_all_digests(store)) == set()

    code, report = run()
    assert code == 0
    frame = pd.read_parquet(tmp_path / "out.parquet")
    assert frame.loc[frame["asin"] == asin, "title"].tolist() == ["Changed"]
    assert "kept_parts" not in report["cli"]
    assert kept_count(tmp_path / "ck.sqlite") == 5  # kept anew


def test_rows_sent_again_do_not_spoil_the_parts_chosen_at_the_start(
    run: Any, sandbox: Sandbox, tmp_path: Path
) -> None:
    """A resume re-sends a failed row of chunk 0 (rewriting its record, which makes every kept
    part stale for the next run) before it reads the kept parts of chunks 1-4."""
    assert run()[0] == 0
    first = pd.read_parquet(tmp_path / "out.parquet")
    asin = ASINS[1]
    ident = ProductRequest(asin).ident
    with SqliteCheckpoint(tmp_path / "ck.sqlite") as store:
        record, _ = store.lookup([ident])[ident]
        failed = dataclasses.replace(record, status="failed", error="server_error", body=None)
        store.record(failed)  # a row that a resume sends again
        connection = store._connection()
        for digest, data in connection.execute("SELECT digest, data FROM derived").fetchall():
            if asin in pq.read_table(pa.BufferReader(data)).column("asin").to_pylist():
                connection.execute("DELETE FROM derived WHERE digest = ?", (digest,))
        # The other parts are still right: make them current again.
        connection.execute("UPDATE derived SET generation = (SELECT value FROM derived_generation)")
        assert len(store.derived_digests(_all_digests(store))) == 4
    billed = sandbox.stats.billed_total

    code, report = run()
    assert code == 0
    assert sandbox.stats.billed_total == billed + 1
    assert report["cli"]["kept_parts"].startswith("18 row(s)")
    again = pd.read_parquet(tmp_path / "out.parquet")
    pd.testing.assert_frame_equal(again.drop(index=1), first.drop(index=1))
    pd.testing.assert_frame_equal(
        again.drop(columns=SENT_COLUMNS), first.drop(columns=SENT_COLUMNS)
    )
    # Every part is current for the next run: chunk 0 kept anew, the others renewed.
    assert kept_count(tmp_path / "ck.sqlite") == 5


def test_only_chunks_whose_input_is_unchanged_are_reused(
    run: Any, sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run()[0] == 0
    changed = list(ASINS)
    changed[7] = "B0KEPTNEW1"  # chunk 1 (rows 5-9)
    (tmp_path / "in.txt").write_text("\n".join(changed) + "\n")
    billed = sandbox.stats.billed_total
    seen = lookups(monkeypatch)

    code, report = run()
    assert code == 0
    assert sum(seen) == 5  # chunk 1's rows only (its other four from the checkpoint)
    assert sandbox.stats.billed_total == billed + 1
    assert report["cli"]["kept_parts"].startswith("18 row(s)")
    assert report["rows"] == 23
    assert report["requests_sent"] == 1
    frame = pd.read_parquet(tmp_path / "out.parquet")
    assert frame["asin"].tolist()[:22] == changed[:22]
    assert frame["status"].iloc[7] == "ok"

    # The same file built from the records alone (parts made stale) is the same.
    with SqliteCheckpoint(tmp_path / "ck.sqlite") as store:
        store._connection().execute("UPDATE derived_generation SET value = value + 1")
    assert run()[0] == 0
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "out.parquet"), frame)


def test_a_chunk_with_rows_left_to_send_is_not_kept(run: Any, tmp_path: Path) -> None:
    code, report = run("--max-credits", "40")  # 8 products at 5 credits: the run stops early
    assert code == 1, report
    assert report["status_counts"]["skipped"] > 0
    full = kept_count(tmp_path / "ck.sqlite")
    assert full <= 8 // 5 + 1  # only chunks without a skipped row

    code, report = run()
    assert code == 0
    assert report["status_counts"]["skipped"] == 0
    assert kept_count(tmp_path / "ck.sqlite") == 5


def test_other_formats_keep_no_parts(run: Any, tmp_path: Path) -> None:
    assert run(output="out.csv")[0] == 0
    assert kept_count(tmp_path / "ck.sqlite") == 0
    with SqliteCheckpoint(tmp_path / "ck.sqlite") as store:
        assert _all_digests(store) == []


async def _stream(chunks: list[pd.DataFrame]) -> AsyncIterator[pd.DataFrame]:
    for chunk in chunks:
        yield chunk


async def test_chunks_come_out_in_input_order_around_the_kept_ones() -> None:
    """Kept chunks 0 and 2 of 4 (2 rows each, 7 rows); the engine's rows arrive split oddly."""

    class Parts:
        chunk_rows, rows, kept = 2, 7, [True, False, True, False]

        def chunk_size(self, number: int) -> int:
            return min(2, 7 - 2 * number)

    positions = np.array([2, 3, 6])  # chunks 1 and 3
    built = pd.DataFrame({"v": [2, 3, 6]})
    odd = [built.iloc[:1], built.iloc[1:]]  # chunk 1 split in two; chunk 1's tail with chunk 3
    got = [
        (number, None if rows is None else rows.index.tolist(), given)
        async for number, rows, given in in_input_order(_stream(odd), Parts(), positions)  # type: ignore[arg-type]
    ]
    assert [(number, rows) for number, rows, _ in got] == [
        (0, None), (None, [2]), (None, [3]), (2, None), (3, [6])
    ]  # fmt: skip
    numbered = [None if given is None else given.tolist() for _, _, given in got]
    assert numbered == [None, [0], [1], None, [2]]  # the positions the engine gave them


def test_an_invalid_row_rebuilt_after_kept_chunks_names_its_line(run: Any, tmp_path: Path) -> None:
    assert run()[0] == 0
    first = pd.read_parquet(tmp_path / "out.parquet")
    assert first["error_message"].iloc[22].startswith("line 23: ")
    changed = list(ASINS)
    changed[20] = "B0KEPTNEW9"  # chunk 4 (rows 20-22, with the invalid row) is built again
    (tmp_path / "in.txt").write_text("\n".join(changed) + "\n")

    code, report = run()
    assert code == 0
    assert report["cli"]["kept_parts"].startswith("20 row(s)")
    again = pd.read_parquet(tmp_path / "out.parquet")
    assert again["error_message"].iloc[22] == first["error_message"].iloc[22]


def test_a_live_run_keeps_no_part_holding_a_sandbox_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a live and a test key, test-key rows are kept out of the parts: a later run with
    the live key alone must send them again (it never serves the sandbox's rows)."""
    from asa_bulk.sandbox import serve_in_thread
    from tests.support.cli import sandbox_settings

    live = "asa_live_" + make_test_keys(1, seed=5)[0][len("asa_test_") :]
    test = make_test_keys(1)[0]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(_command, "CHUNK_ROWS", 5)
    (tmp_path / "in.txt").write_text("\n".join(ASINS[:21]) + "\n")
    with serve_in_thread(**sandbox_settings(keys=[live, test])) as sandbox:
        monkeypatch.setenv("ASA_BASE_URL", sandbox.base_url)

        def go(*keys: str) -> pd.DataFrame:
            monkeypatch.setenv("ASA_API_KEYS", ",".join(keys))
            args = ["products", "in.txt", "-o", "out.parquet", "--checkpoint", "ck.sqlite"]
            assert main([*args, "--no-progress", "-q"]) == 0
            return pd.read_parquet(tmp_path / "out.parquet")

        mixed = go(live, test)
        assert mixed["key_id"].str.startswith("asa_test_").any()
        alone = go(live)
    assert not alone["key_id"].str.startswith("asa_test_").any()


def test_cells_that_are_not_text_are_told_apart(run: Any, tmp_path: Path) -> None:
    lines = [json.dumps({"asin": value}) for value in ["B0KEPT0001", 12345, ["x"]]]
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n")
    args = ["products", "in.jsonl", "-o", "out.parquet", "--checkpoint", "ck.sqlite"]
    assert main([*args, "--no-progress", "-q"]) == 0
    frame = pd.read_parquet(tmp_path / "out.parquet")
    assert frame["status"].tolist() == ["ok", "invalid", "invalid"]
    assert kept_count(tmp_path / "ck.sqlite") == 1
    # The same cells as text: another input, so the kept part is not used for it.
    lines = [json.dumps({"asin": value}) for value in ["B0KEPT0001", "12345", "['x']"]]
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n")
    assert main([*args, "--no-progress", "--report", "r.json"]) == 0
    assert "kept_parts" not in json.loads((tmp_path / "r.json").read_text())["cli"]


def test_a_damaged_part_stops_before_the_output_and_the_next_run_rebuilds_it(
    run: Any,
    sandbox: Sandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run()[0] == 0
    first = pd.read_parquet(tmp_path / "out.parquet")
    billed = sandbox.stats.billed_total
    with SqliteCheckpoint(tmp_path / "ck.sqlite") as store:
        damaged = _all_digests(store)[1]
        store._connection().execute(
            "UPDATE derived SET data = ? WHERE digest = ?", (b"PAR1 not parquet", damaged)
        )
    capsys.readouterr()

    code, _ = run()
    assert code == 4
    said = capsys.readouterr().err
    assert "kept in checkpoint ck.sqlite cannot be read" in said
    assert "run the same command again" in said
    assert "free some space" not in said  # not a full disk
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "out.parquet"), first)
    assert kept_count(tmp_path / "ck.sqlite") == 4  # the damaged one is gone

    code, report = run()
    assert code == 0
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "out.parquet"), first)
    assert sandbox.stats.billed_total == billed  # its rows came from the records
    assert report["requests_sent"] == 0
    assert kept_count(tmp_path / "ck.sqlite") == 5
