"""Input files to one table: every format, the awkward encodings, and clear errors."""

from __future__ import annotations

import errno
import gzip
import io
import json
import re
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from asa_bulk._errors import InputError
from asa_bulk.cli import _readers
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


# --- read errors: whatever goes wrong reading the input is an InputError naming it ----------

ROWS = "".join(f"B{n:09d},{'de' if n % 3 else 'fr'}\n" for n in range(200)).encode()


def flipped(data: bytes, position: int) -> bytes:
    changed = bytearray(data)
    changed[position] ^= 0x55
    return bytes(changed)


def corrupt_gzip_files() -> dict[str, bytes]:
    packed = gzip.compress(b"asin,domain\n" + ROWS, mtime=0)
    bad_crc = packed[:-8] + flipped(packed[-8:-4], 0) + packed[-4:]
    return {
        "flipped.csv.gz": flipped(packed, 30),  # a byte of the deflate stream: zlib.error
        "truncated.csv.gz": packed[: len(packed) // 2],  # EOFError
        "bad_crc.csv.gz": bad_crc,  # gzip.BadGzipFile
        "not_gzip.txt.gz": b"B000000001\n",
    }


@pytest.mark.parametrize("name", list(corrupt_gzip_files()))
def test_a_corrupt_gzip_input_is_an_input_error_naming_the_file(tmp_path: Path, name: str) -> None:
    data = corrupt_gzip_files()[name]
    if name == "flipped.csv.gz":
        with pytest.raises(zlib.error):  # neither OSError nor EOFError
            gzip.decompress(data)
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(InputError, match=rf"input {re.escape(str(path))} is not valid gzip"):
        read_input(str(path))


def test_gzip_of_non_utf8_text_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "in.txt.gz"
    path.write_bytes(gzip.compress("B000000001\nB000000002 café\n".encode("latin-1")))
    with pytest.raises(InputError, match=r"in\.txt\.gz is not UTF-8 text \(line 2\)"):
        read_input(str(path))


@pytest.mark.parametrize("damage", ["flipped_byte", "truncated"])
def test_a_corrupt_parquet_input_is_an_input_error(tmp_path: Path, damage: str) -> None:
    buffer = io.BytesIO()
    pd.DataFrame({"asin": ["B000000001", "B000000002"]}).to_parquet(buffer)
    data = buffer.getvalue()
    path = tmp_path / "in.parquet"
    path.write_bytes(flipped(data, 4) if damage == "flipped_byte" else data[:-20])
    with pytest.raises(InputError, match=r"in\.parquet is not a readable parquet file"):
        read_input(str(path))


def test_gzip_on_stdin_is_recognised_by_its_magic_bytes(tmp_path: Path) -> None:
    plain = b"asin;domain\nB000000001;de\n"
    packed = read_input("-", stdin=io.BytesIO(gzip.compress(plain)))
    assert packed.format == "csv"
    pd.testing.assert_frame_equal(packed.frame, read_input("-", stdin=io.BytesIO(plain)).frame)
    misnamed = tmp_path / "in.csv"  # gzip without .gz: the same bytes read the same way
    misnamed.write_bytes(gzip.compress(plain))
    pd.testing.assert_frame_equal(read_input(str(misnamed)).frame, packed.frame)


class FailingFile(io.RawIOBase):
    """A file whose disk fails after the first bytes (EIO), as a dying USB stick does."""

    def __init__(self) -> None:
        self.sent = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.sent:
            raise OSError(errno.EIO, "Input/output error")
        self.sent = True
        data = b"asin\nB000000001\n"
        buffer[: len(data)] = data
        return len(data)


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        (PermissionError(errno.EACCES, "Permission denied"), "cannot read input .*: Permission"),
        (FileNotFoundError(errno.ENOENT, "gone"), "input file not found: "),  # vanished
        (IsADirectoryError(errno.EISDIR, "dir"), "is a directory, not a file"),
        (None, r"cannot read input .*in\.csv: Input/output error"),
    ],
)
def test_an_unreadable_file_is_an_input_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: OSError | None, message: str
) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(b"asin\nB000000001\n")

    def fake_open(self: Path, mode: str = "r") -> Any:
        assert mode == "rb"
        if failure is not None:
            raise failure
        return io.BufferedReader(FailingFile(), buffer_size=16)

    with monkeypatch.context() as patch:
        patch.setattr(Path, "open", fake_open)
        with pytest.raises(InputError, match=message):
            read_input(str(path))


def test_a_deeply_nested_jsonl_line_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text("[" * 100_000 + "\n")
    with pytest.raises(InputError, match="line 1 is not JSON"):
        read_input(str(path))


class ChunkedStdin(io.RawIOBase):
    """A pipe that records how it is read: in chunks, or all at once (``read()``)."""

    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.sent = 0
        self.slurped = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = min(len(buffer), 65_536, len(self.data) - self.sent)
        buffer[:size] = self.data[self.sent : self.sent + size]
        self.sent += size
        return size

    def read(self, size: int = -1) -> bytes:
        self.slurped = self.slurped or size < 0
        return super().read(size) or b""

    def readall(self) -> bytes:
        self.slurped = True
        return super().readall() or b""


@pytest.mark.parametrize("compress", [False, True])
def test_a_huge_input_is_streamed_in_one_pass(compress: bool) -> None:
    """200k lines are read chunk by chunk, once: no whole copy of the bytes or the text."""
    data = b"asin\n" + b"B000000001\n" * 200_000
    stdin = ChunkedStdin(gzip.compress(data) if compress else data)
    table = read_input("-", stdin=stdin)  # type: ignore[arg-type]
    assert len(table.frame) == 200_000
    assert table.lines is not None
    assert table.lines[-1] == 200_001
    assert not stdin.slurped
    assert stdin.sent == len(stdin.data)


# --- stdin reads like the same bytes in a file ---------------------------------------------


def parquet_bytes(columns: dict[str, list[Any]]) -> bytes:
    buffer = io.BytesIO()
    pd.DataFrame(columns).to_parquet(buffer)
    return buffer.getvalue()


SAME_BYTES = {
    "comma_csv": ("in.csv", b"sku,asin,domain\n1,B000000001,de\n2,junk,\n3,B000000002\n"),
    "semicolon_csv": ("in.csv", b'sku;asin;domain\n1;B000000001;de\n2;"B000000002";fr\n'),
    "tsv": ("in.tsv", b"asin\tdomain\nB000000001\tde\n\nB000000002\tfr\n"),
    "empty_quoted_fields": ("in.csv", b'asin,domain\n"",de\n"B000000001",""\n'),
    "one_column_csv": ("in.csv", b'asin\n""\n"B000000001"\nB000000002\n'),
    # Spreadsheets write #N/A into empty cells: a row, not a txt comment.
    "one_column_csv_with_na": ("in.csv", b"asin\nB000000001\n#N/A\nB000000002\n"),
    "quoted_header": ("in.csv", b'"asin","domain"\n"B000000001","de"\n'),
    "bom_crlf_semicolons": (
        "in.csv",
        b"\xef\xbb\xbfASIN;Domain\r\nB000000001;de\r\n\r\nB000000002;\r\n",
    ),
    "old_mac_line_ends": ("in.csv", b"asin,domain\rB000000001,de\rjunk,fr\r"),
    "jsonl": ("in.jsonl", b'{"asin": "B000000001", "domain": "de"}\n\n"B000000002"\n'),
    "txt": ("in.txt", b"# my list\nasin\nb000000001\n\n  B000000002  \n"),
    "txt_urls_with_commas": ("in.txt", b"https://www.amazon.de/dp/B000000001?a=1,2\n"),
    "gzip_csv": ("in.csv.gz", gzip.compress(b"asin;domain\nB000000001;de\n")),
    "parquet": ("in.parquet", parquet_bytes({"asin": ["B000000001", "x"], "domain": ["de", None]})),
    "gzip_parquet": ("in.parquet.gz", gzip.compress(parquet_bytes({"asin": ["B000000001"]}))),
    "no_item_column": ("in.csv", b"sku;title\n1;x\n"),
    "bad_jsonl_line": ("in.jsonl", b'{"asin": "B000000001"}\n{oops\n'),
    "not_utf8": ("in.csv", "asin,title\nB000000001,café\n".encode("latin-1")),
}


def read_or_error(path: str, stdin: bytes | None = None) -> Any:
    try:
        table = read_input(path, stdin=None if stdin is None else io.BytesIO(stdin))
    except InputError as exc:
        return str(exc).replace("stdin" if stdin is not None else path, "SOURCE")
    return table


@pytest.mark.parametrize("case", list(SAME_BYTES))
def test_stdin_reads_like_the_same_bytes_in_a_file(tmp_path: Path, case: str) -> None:
    name, data = SAME_BYTES[case]
    path = tmp_path / name
    path.write_bytes(data)
    from_file = read_or_error(str(path))
    from_stdin = read_or_error("-", data)
    if isinstance(from_file, str):
        assert from_stdin == from_file
        return
    assert not isinstance(from_stdin, str), from_stdin
    assert from_stdin.format == from_file.format
    pd.testing.assert_frame_equal(from_stdin.frame, from_file.frame)
    if from_file.lines is None:
        assert from_stdin.lines is None
    else:
        assert from_stdin.lines is not None
        assert from_stdin.lines.tolist() == from_file.lines.tolist()
    assert '""' not in from_file.frame["asin"].tolist()


def test_a_semicolon_csv_file_reads_its_columns(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(b"\xef\xbb\xbfsku;ASIN;domain\r\n1;B000000001;de\r\n2;;\r\n")
    table = read_input(str(path))
    assert table.frame.to_dict("list") == {"asin": ["B000000001", ""], "domain": ["de", ""]}
    assert [table.where(i) for i in range(2)] == ["line 2", "line 3"]


def test_a_jsonl_integer_past_pythons_digit_limit_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('{"asin": ' + "9" * 5000 + "}\n")
    with pytest.raises(InputError, match="line 1 is not usable JSON"):
        read_input(str(path))


# --- compact storage: what is held for the whole run ------------------------------------------


@pytest.mark.parametrize(
    ("name", "data"),
    [("in.txt", b"B000000001\nB000000002\n"), ("in.csv", b"asin,domain\nB000000001,de\n")],
)
def test_text_columns_and_line_numbers_are_compact(tmp_path: Path, name: str, data: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    table = read_input(str(path))
    for column in table.frame.columns:
        assert isinstance(table.frame[column].dtype, pd.StringDtype)  # no object per row
    assert table.lines is not None
    assert table.lines.dtype == np.int64


@pytest.fixture
def tiny_packs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pack text every 2 cells, so small inputs cross several packed chunks."""
    monkeypatch.setattr(_readers, "_PACK_ROWS", 2)


@pytest.mark.usefixtures("tiny_packs")
def test_jsonl_cells_keep_their_json_types_after_packing(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('"A"\n{"asin": "B"}\n"C"\n{"asin": 5}\n{"asin": null}\n{"domain": "de"}\n')
    table = read_input(str(path))
    # Text packed before the number turns back into the very cells a whole-file frame holds.
    assert [repr(v) for v in table.frame["asin"]] == ["'A'", "'B'", "'C'", "5", "None", "nan"]
    assert table.frame["domain"].tolist()[-1] == "de"
    assert pd.isna(table.frame["domain"].iloc[0])  # a key that row does not have
    assert table.lines is not None
    assert table.lines.tolist() == [1, 2, 3, 4, 5, 6]


@pytest.mark.usefixtures("tiny_packs")
def test_csv_short_rows_and_repeated_names_read_like_one_dict_per_row(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("asin,domain,asin,country\nA,de,B\nC\n\nD,fr,E\n")
    table = read_input(str(path))
    assert list(table.frame.columns) == ["asin", "domain"]  # no row reaches 'country'
    assert asins(table.frame) == ["B", "C", "E"]  # a repeated name: its last cell the row has
    assert [repr(v) for v in table.frame["domain"]] == ["'de'", "nan", "'fr'"]
    assert [table.where(i) for i in range(3)] == ["line 2", "line 3", "line 5"]


def test_in_file_terms_works_on_a_chunk_labelled_by_input_position(tmp_path: Path) -> None:
    path = tmp_path / "in.txt"
    path.write_text("# list\nB000000001\n\nbad\nB000000002\nworse\n")
    table = read_input(str(path))
    chunk = pd.DataFrame(
        {
            "status": pd.array(["invalid", "ok", "invalid"], dtype="string"),
            "error_message": pd.array(
                ["row 2: 'bad' is not an ASIN", None, "row 4: 'worse' is not an ASIN"],
                dtype="string",
            ),
        },
        index=pd.RangeIndex(1, 4),  # input positions 1..3 of 0..3
    )
    table.in_file_terms(chunk)
    assert chunk["error_message"].tolist()[0] == "line 4: 'bad' is not an ASIN"
    assert chunk["error_message"].tolist()[2] == "line 6: 'worse' is not an ASIN"
