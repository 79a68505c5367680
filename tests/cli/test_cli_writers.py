"""Output files (csv, parquet, jsonl, stdout), atomic replacement and early path checks."""

from __future__ import annotations

import io
import json
import os
from datetime import datetime, timezone
from pathlib import Path

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
    return pd.DataFrame(
        {
            "asin": pd.array(["B000000001", "B000000002", "B000000003"], dtype="string"),
            "domain": pd.array(["com", "de", "com"], dtype="string"),
            "status": pd.array(["ok", "not_found", "ok"], dtype="string"),
            "http_status": pd.array([200, 404, 200], dtype="Int64"),
            "fetched_at": pd.to_datetime(
                [datetime(2026, 5, 1, 12, tzinfo=timezone.utc), None, None], utc=True
            ),
            "title": pd.array(["Café «x»", None, "a/b"], dtype="string"),
            "price": pd.array([9.99, None, 1.0], dtype="Float64"),
            "images": [["https://m.media-amazon.com/a.jpg"], None, []],
            "product_details": [{"Material": "Steel"}, None, {}],
        }
    )


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
