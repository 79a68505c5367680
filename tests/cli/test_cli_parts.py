"""Outputs written in parts: the same file as from the whole frame, atomic, and clean on failure."""

from __future__ import annotations

import errno
import io
import json
import math
import os
from collections.abc import Iterator
from datetime import datetime, timezone
from itertools import cycle, islice
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from asa_bulk._frame import column_dtypes, empty_frame
from asa_bulk.cli import _parts
from asa_bulk.cli._parts import open_output
from asa_bulk.cli._writers import write_output

AT = datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)
AWKWARD: dict[str, list[Any]] = {
    "string": ["B0 Café «x»", None, "日本語", 'a,b\n"q"\r', "", "tab\there"],
    "Int64": [1, None, -5, 0],
    "Float64": [19.99, None, 0.1, 1.5e22, math.nan],
    "boolean": [True, None, False],
    "time": [AT, None, AT.replace(microsecond=0)],
    "object": [
        ["a", math.nan, 1.5],
        None,
        {"k": "x\ud800y", "n": [math.nan, {"deep": "ü"}]},
        [],
        {},
        "plain \ud800 text",
        np.array([1, 2]),
        math.nan,
    ],
}


def awkward_frame(rows: int, *, raw: bool) -> pd.DataFrame:
    """A frame with exactly the engine's columns and dtypes, every column cycling through
    awkward cells (NA, non-ASCII, separators, lone surrogates, NaN nested in lists...)."""
    data: dict[str, Any] = {}
    for offset, (name, dtype) in enumerate(column_dtypes(raw=raw).items()):
        kind = "time" if isinstance(dtype, pd.DatetimeTZDtype) else str(dtype)
        values = list(islice(cycle(AWKWARD[kind]), offset % 5, offset % 5 + rows))
        if kind == "object":
            column = np.empty(rows, dtype=object)
            column[:] = values if rows else []
            data[name] = column
        else:
            data[name] = pd.array(values, dtype=dtype)
    frame: pd.DataFrame = pd.DataFrame(data)
    assert dict(frame.dtypes) == {**column_dtypes(raw=raw)}
    return frame


def chunks(frame: pd.DataFrame, sizes: list[int]) -> Iterator[pd.DataFrame]:
    """Slices of ``frame`` of the given sizes, labelled by input position like the engine's."""
    start = 0
    for size in sizes:
        chunk = frame.iloc[start : start + size].copy()
        chunk.index = pd.RangeIndex(start, start + size)
        start += size
        yield chunk
    assert start == len(frame)


def read_back(path: Path) -> Any:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return path.read_bytes()


@pytest.mark.parametrize("raw", [False, True])
@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_parts_read_back_like_the_whole_frame(tmp_path: Path, suffix: str, raw: bool) -> None:
    frame = awkward_frame(25, raw=raw)
    whole, parts = tmp_path / f"whole{suffix}", tmp_path / f"parts{suffix}"
    write_output(frame, whole)
    with open_output(parts, raw=raw) as out:
        for chunk in chunks(frame, [7, 0, 10, 1, 7]):  # an empty chunk among them
            out.write(chunk)
    if suffix == ".parquet":
        pd.testing.assert_frame_equal(read_back(parts), read_back(whole))
        assert pq.read_schema(parts).equals(pq.read_schema(whole), check_metadata=True)
        assert pq.ParquetFile(parts).num_row_groups == 4  # one per non-empty chunk
    else:
        assert read_back(parts) == read_back(whole)  # byte for byte
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([whole.name, parts.name])


def test_awkward_cells_survive_in_every_format(tmp_path: Path) -> None:
    frame = awkward_frame(8, raw=True)
    for suffix in (".csv", ".parquet", ".jsonl"):
        with open_output(tmp_path / f"out{suffix}", raw=True) as out:
            out.write(frame)
    jsonl = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    parquet = pd.read_parquet(tmp_path / "out.parquet")
    csv = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)
    row = next(i for i, body in enumerate(frame["raw"]) if isinstance(body, dict) and body)
    assert jsonl[row]["raw"]["k"] == "x\ud800y"  # escaped in the file, the same value back
    assert json.loads(parquet["raw"][row])["k"] == "x\ud800y"
    assert json.loads(csv["raw"][row])["n"][0] != json.loads(csv["raw"][row])["n"][0]  # NaN
    assert "日本語" in set(parquet["asin"]) | set(csv["asin"])


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_no_rows_gives_the_same_file_as_an_empty_frame(tmp_path: Path, suffix: str) -> None:
    whole, parts = tmp_path / f"whole{suffix}", tmp_path / f"parts{suffix}"
    write_output(empty_frame(), whole)
    open_output(parts, raw=False).commit()
    if suffix == ".parquet":
        back = read_back(parts)
        pd.testing.assert_frame_equal(back, read_back(whole))
        assert list(back.columns) == list(column_dtypes())
    else:
        assert read_back(parts) == read_back(whole)
    if suffix == ".csv":
        assert parts.read_text().rstrip("\n").split(",") == list(column_dtypes())


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_an_exception_keeps_the_old_file_and_leaves_no_temporary(
    tmp_path: Path, suffix: str
) -> None:
    target = tmp_path / f"out{suffix}"
    target.write_bytes(b"old")
    frame = awkward_frame(5, raw=False)
    hidden: list[str] = []

    def interrupted_job() -> None:
        with open_output(target) as out:
            out.write(frame)
            hidden.extend(p.name for p in tmp_path.iterdir() if p.name != target.name)
            outputs.append(out)
            raise KeyboardInterrupt

    outputs: list[_parts.OutputParts] = []
    with pytest.raises(KeyboardInterrupt):
        interrupted_job()
    assert len(hidden) == 1  # written beside the target under a hidden name
    assert hidden[0].startswith(f".{target.name}.")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == [target.name]
    outputs[0].abort()  # idempotent
    with pytest.raises(RuntimeError, match="aborted"):
        outputs[0].commit()


def test_a_failing_write_removes_the_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.jsonl"
    out = open_output(target)

    def full(frame: pd.DataFrame, stream: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_parts, "write_jsonl", full)
    with pytest.raises(OSError, match="No space"):
        out.write(awkward_frame(2, raw=False))
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError, match="already aborted"):
        out.write(awkward_frame(2, raw=False))


def test_commit_sets_the_mode_of_a_new_or_replaced_file(tmp_path: Path) -> None:
    fresh, kept = tmp_path / "fresh.csv", tmp_path / "kept.csv"
    kept.write_text("old")
    kept.chmod(0o640)
    for target in (fresh, kept):
        with open_output(target) as out:
            out.write(awkward_frame(3, raw=False))
        out.abort()  # after commit: a no-op
        assert target.read_text().startswith("asin,")
    umask = os.umask(0)
    os.umask(umask)
    assert fresh.stat().st_mode & 0o777 == 0o666 & ~umask
    assert kept.stat().st_mode & 0o777 == 0o640


def test_a_chunk_with_other_columns_is_refused(tmp_path: Path) -> None:
    with open_output(tmp_path / "out.csv", raw=True) as out:
        with pytest.raises(ValueError, match=r"expected .*'raw'"):
            out.write(awkward_frame(2, raw=False))
        out.write(awkward_frame(2, raw=True))
    assert out.rows == 2


def test_stdout_gets_each_chunk_as_it_arrives(capsys: pytest.CaptureFixture[str]) -> None:
    frame = awkward_frame(6, raw=False)
    whole = io.StringIO()
    _parts.write_jsonl(frame, whole)
    with open_output(None) as out:
        first, second = chunks(frame, [4, 2])
        out.write(first)
        assert len(capsys.readouterr().out.splitlines()) == 4  # flushed before the next chunk
        out.write(second)
    expected = [json.loads(line) for line in whole.getvalue().splitlines()[4:]]
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == expected
