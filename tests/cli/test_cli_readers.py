"""Input files to one table: every format, the awkward encodings, and clear errors."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pandas as pd
import pytest

from asa_bulk._errors import InputError
from asa_bulk.cli._readers import read_input, sniff_format


def asins(table_frame: pd.DataFrame) -> list[object]:
    return list(table_frame["asin"])


def test_txt_skips_blanks_comments_and_header_and_keeps_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "in.txt"
    path.write_bytes(b"\xef\xbb\xbfASIN\r\nb000000001\r\n\r\n# a comment\r\n  junk  \r\nB000000002")
    table = read_input(str(path))
    assert asins(table.frame) == ["b000000001", "junk", "B000000002"]
    assert [table.where(i) for i in range(3)] == ["line 2", "line 5", "line 6"]
    assert table.format == "txt"


def test_csv_with_bom_crlf_blank_lines_and_row_columns(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(
        b"\xef\xbb\xbf Asin ,Domain,sku\r\nB000000001,de,1\r\n\r\n"
        b'"https://www.amazon.com/dp/B000000002?x=1,2",,2\r\nB000000003\r\n'
    )
    table = read_input(str(path))
    frame = table.frame
    assert list(frame.columns) == ["asin", "domain"]  # sku is not an engine column
    assert asins(frame) == [
        "B000000001",
        "https://www.amazon.com/dp/B000000002?x=1,2",
        "B000000003",
    ]
    assert frame["domain"].tolist()[:2] == ["de", ""]
    assert pd.isna(frame["domain"].iloc[2])  # short row: the cell is missing
    assert [table.where(i) for i in range(3)] == ["line 2", "line 4", "line 5"]


def test_tsv_and_custom_column(tmp_path: Path) -> None:
    path = tmp_path / "in.tsv"
    path.write_text("sku\tProduct Code\tcountry\n1\tB000000001\tDE\n")
    table = read_input(str(path), column="product code")  # matched case-insensitively
    assert asins(table.frame) == ["B000000001"]
    assert table.frame["country"].tolist() == ["DE"]


def test_headerless_single_column_csv_keeps_its_first_item(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("B000000001\nB000000002\n")
    assert asins(read_input(str(path)).frame) == ["B000000001", "B000000002"]


def test_jsonl_objects_and_bare_strings(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    lines = [json.dumps({"asin": "B000000001", "domain": "de"}), "", json.dumps("B000000002")]
    path.write_text("\n".join(lines) + "\n")
    table = read_input(str(path))
    assert asins(table.frame) == ["B000000001", "B000000002"]
    assert table.where(1) == "line 3"


def test_jsonl_bad_line_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('{"asin": "B000000001"}\n{oops\n')
    with pytest.raises(InputError, match="line 2 is not JSON"):
        read_input(str(path))


def test_parquet_with_column_and_non_default_index(tmp_path: Path) -> None:
    path = tmp_path / "in.parquet"
    frame = pd.DataFrame({"code": ["B000000001", "B000000002"], "domain": ["de", None]})
    frame.index = [10, 20]
    frame.to_parquet(path)
    table = read_input(str(path), column="code")
    assert asins(table.frame) == ["B000000001", "B000000002"]
    assert table.frame["domain"].iloc[0] == "de"
    assert table.where(1) == "row 2"


def test_gzip_text_input(tmp_path: Path) -> None:
    path = tmp_path / "in.txt.gz"
    path.write_bytes(gzip.compress(b"B000000001\nB000000002\n"))
    assert asins(read_input(str(path)).frame) == ["B000000001", "B000000002"]


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (b"B000000001\nB000000002\n", "txt"),
        (b"sku,asin\n1,B000000001\n", "csv"),
        (b"asin\tdomain\nB000000001\tde\n", "tsv"),
        (b'{"asin": "B000000001"}\n', "jsonl"),
    ],
)
def test_stdin_format_is_guessed(data: bytes, fmt: str) -> None:
    table = read_input("-", stdin=io.BytesIO(data))
    assert table.format == fmt
    assert table.source == "stdin"
    assert asins(table.frame)[0] == "B000000001"
    assert sniff_format(data.decode(), None) == fmt


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.txt", None, "input file not found: .*missing.txt"),
        ("empty.txt", b"", "is empty: no items"),
        ("blank.txt", b"\n\n  \n# only a comment\n", "is empty: no items"),
        ("header_only.csv", b"asin,domain\r\n", "is empty: no items"),
        (
            "cols.csv",
            b"sku,title\n1,x\n",
            r"no column 'asin' in .*cols.csv \(name it with --column\)",
        ),
        ("latin1.txt", "B000000001 caf\xe9\n".encode("latin-1"), "is not UTF-8 text"),
        ("asins.xlsx", b"x", "cannot tell the format"),
        ("bad.parquet", b"not parquet", "is not a readable parquet file"),
    ],
)
def test_unreadable_inputs_raise_input_error(
    tmp_path: Path, name: str, content: bytes | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        read_input(str(path))


def test_column_option_rejected_for_txt(tmp_path: Path) -> None:
    path = tmp_path / "in.txt"
    path.write_text("B000000001\n")
    with pytest.raises(InputError, match="--column applies to"):
        read_input(str(path), column="code")
