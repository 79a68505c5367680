"""Output files (csv, parquet, jsonl, stdout), atomic replacement and early path checks."""

from __future__ import annotations

import io
import json
import math
import os
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from asa_bulk._errors import ConfigError
from asa_bulk.cli._writers import (
    atomic_write,
    check_writable_dir,
    check_writable_file,
    flatten_for_files,
    output_format,
    write_jsonl,
    write_output,
)


def sample_frame() -> pd.DataFrame:
    frame: pd.DataFrame = pd.DataFrame(
        {
            "asin": pd.array(["B000000001", "B000000002", "B000000003"], dtype="string"),
            "domain": pd.array(["com", "de", "com"], dtype="string"),
            "status": pd.array(["ok", "not_found", "ok"], dtype="string"),
            "http_status": pd.array([200, 404, 200], dtype="Int64"),
            "fetched_at": pd.to_datetime(
                # pandas reads None as NaT; pandas-stubs types the list without it
                [datetime(2026, 5, 1, 12, tzinfo=timezone.utc), None, None],  # type: ignore[arg-type]
                utc=True,
            ),
            "title": pd.array(["Café «x»", None, "a/b"], dtype="string"),
            "price": pd.array([9.99, None, 1.0], dtype="Float64"),
            "images": [["https://m.media-amazon.com/a.jpg"], None, []],
            "product_details": [{"Material": "Steel"}, None, {}],
        }
    )
    return frame


def test_flatten_turns_object_columns_into_json_text() -> None:
    flat = flatten_for_files(sample_frame())
    assert str(flat["images"].dtype) == "string"
    assert flat["images"].iloc[0] == '["https://m.media-amazon.com/a.jpg"]'
    assert pd.isna(flat["images"].iloc[1])
    assert flat["product_details"].iloc[2] == "{}"
    assert flat["price"].dtype == "Float64"  # typed columns untouched


def test_jsonl_keeps_nesting_unicode_and_slashes() -> None:
    stream = io.StringIO()
    write_jsonl(sample_frame(), stream)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    assert "\\/" not in stream.getvalue()
    assert "Café «x»" in lines[0]
    first, second = json.loads(lines[0]), json.loads(lines[1])
    assert first["images"] == ["https://m.media-amazon.com/a.jpg"]
    assert first["product_details"] == {"Material": "Steel"}
    assert first["fetched_at"].startswith("2026-05-01T12:00:00")
    assert second["price"] is None
    assert second["title"] is None
    assert json.loads(lines[2])["title"] == "a/b"


def test_escaped_backslash_before_slash_survives() -> None:
    stream = io.StringIO()
    write_jsonl(pd.DataFrame({"t": ["a\\/b"]}), stream)
    assert json.loads(stream.getvalue())["t"] == "a\\/b"


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_files_round_trip(tmp_path: Path, suffix: str) -> None:
    target = tmp_path / f"out{suffix}"
    write_output(sample_frame(), target)
    if suffix == ".csv":
        back = pd.read_csv(target, dtype=str, keep_default_na=False)
        assert back["images"][0] == '["https://m.media-amazon.com/a.jpg"]'
        assert back["title"][0] == "Café «x»"
    elif suffix == ".parquet":
        back = pd.read_parquet(target)
        assert json.loads(back["product_details"][0]) == {"Material": "Steel"}
        assert back["http_status"].tolist() == [200, 404, 200]
    else:
        back = pd.read_json(target, lines=True)
        assert back["images"][0] == ["https://m.media-amazon.com/a.jpg"]
    assert back["asin"].tolist() == ["B000000001", "B000000002", "B000000003"]
    assert [p.name for p in tmp_path.iterdir()] == [target.name]  # no temp file left
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("old\n")

    def broken(tmp: Path) -> None:
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, broken)
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_output_format_by_extension() -> None:
    assert output_format("a/b.PARQUET") == "parquet"
    assert output_format("x.ndjson") == "jsonl"
    with pytest.raises(ConfigError, match=r"use a \.csv, \.parquet or \.jsonl name"):
        output_format("out.xlsx")


@pytest.mark.parametrize("kind", ["parent_is_file", "missing_folder", "is_directory"])
def test_unwritable_outputs_are_refused_up_front(tmp_path: Path, kind: str) -> None:
    blocker = tmp_path / "blocker"
    if kind == "parent_is_file":
        blocker.write_text("x")
        target = blocker / "out.csv"
    elif kind == "missing_folder":
        target = blocker / "out.csv"
    else:
        blocker.mkdir()
        target = blocker
    with pytest.raises(ConfigError, match="blocker"):
        check_writable_file(target)
    assert list(tmp_path.glob("**/.*probe")) == []


def test_writable_dir_is_created(tmp_path: Path) -> None:
    folder = check_writable_dir(tmp_path / "a" / "b", "snapshot directory")
    assert folder.is_dir()
    assert list(folder.iterdir()) == []
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="snapshot directory"):
        check_writable_dir(tmp_path / "file" / "sub", "snapshot directory")


def strict_json(line: str) -> dict[str, object]:
    """json.loads that refuses NaN/Infinity, which are not JSON."""

    def refuse(name: str) -> None:
        raise ValueError(f"{name} is not valid JSON")

    value = json.loads(line, parse_constant=refuse)
    assert isinstance(value, dict)
    return value


def test_jsonl_floats_are_written_shortest_round_trip() -> None:
    prices = [19.99, 165.3, 0.1, 1e-7, 1.5e22, 5.0]
    frame = pd.DataFrame(
        {
            "price": pd.array([*prices, None], dtype="Float64"),
            "plain": np.array([*prices, np.nan]),
        }
    )
    stream = io.StringIO()
    write_jsonl(frame, stream)
    lines = stream.getvalue().splitlines()
    assert lines[0] == '{"price":19.99,"plain":19.99}'
    assert [strict_json(line)["price"] for line in lines] == [*prices, None]
    assert [strict_json(line)["plain"] for line in lines] == [*prices, None]


def test_jsonl_is_valid_json_for_non_finite_floats_and_odd_cells() -> None:
    frame = pd.DataFrame(
        {
            "price": pd.array([math.inf, -math.inf, None], dtype="Float64"),
            "plain": np.array([math.nan, math.inf, 1.0]),
            "count": pd.array([1, None, 3], dtype="Int64"),
            "flag": pd.array([True, None, False], dtype="boolean"),
            "nested": [[1.5, math.nan], {"a": math.inf, "b": [2.5]}, np.array([1, 2])],
            "odd": ["\ud800 lone surrogate", pd.NA, np.int64(7)],
        }
    )
    stream = io.StringIO()
    write_jsonl(frame, stream)
    rows = [strict_json(line) for line in stream.getvalue().splitlines()]
    assert [row["price"] for row in rows] == [None, None, None]
    assert [row["plain"] for row in rows] == [None, None, 1.0]
    assert [row["count"] for row in rows] == [1, None, 3]
    assert [row["flag"] for row in rows] == [True, None, False]
    assert [row["nested"] for row in rows] == [[1.5, None], {"a": None, "b": [2.5]}, [1, 2]]
    assert [row["odd"] for row in rows] == ["\ud800 lone surrogate", None, 7]


def test_jsonl_file_with_a_lone_surrogate_is_valid_utf8(tmp_path: Path) -> None:
    # A JSON body may hold "\ud800"; the strict UTF-8 file must still be written, losslessly.
    target = tmp_path / "out.jsonl"
    write_output(pd.DataFrame({"reviews": [[{"title": "x\ud800y"}]]}), target)
    assert strict_json(target.read_bytes().decode("utf-8"))["reviews"] == [{"title": "x\ud800y"}]


def test_jsonl_timestamps_are_iso_utc_to_the_microsecond() -> None:
    at = datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)
    frame = pd.DataFrame(
        {"fetched_at": pd.array([at, None], dtype=pd.DatetimeTZDtype(unit="us", tz="UTC"))}
    )
    stream = io.StringIO()
    write_jsonl(frame, stream)
    first, second = map(strict_json, stream.getvalue().splitlines())
    assert first["fetched_at"] == "2026-05-01T12:00:00.123456Z"
    assert datetime.fromisoformat(str(first["fetched_at"])) == at
    assert second["fetched_at"] is None
