"""``asa-bulk products`` end to end: the real command in a subprocess against the sandbox."""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest

from asa_bulk._checkpoint import SqliteCheckpoint
from asa_bulk._records import ProductRequest, ResultRecord
from tests.support.cli import Cli, Result, finish_cli, sandbox_settings, wait_until

A1, A2, A3, A4 = "B0TEST0001", "B0TEST0002", "B0TEST0003", "B0TEST0004"


def read_output(result: Result, path: Path | None) -> pd.DataFrame:
    """The command's table: from ``path`` by extension, else JSON lines on stdout."""
    if path is None:
        rows = [json.loads(line) for line in result.stdout.splitlines()]
        frame: pd.DataFrame = pd.DataFrame(rows)
        return frame
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_json(path, lines=True, dtype=False)


def triples(frame: pd.DataFrame) -> list[tuple[str, str, str]]:
    return [(str(r.asin), str(r.domain), str(r.status)) for r in frame.itertuples()]


def test_input_and_output_formats(cli: Cli, tmp_path: Path) -> None:
    """Each input format (junk rows, duplicates, BOM/CRLF, stdin...) to each output format."""
    (tmp_path / "in.txt").write_text(
        f"asin\n{A1.lower()}\n\n  {A2}  \nnot an asin\nhttps://www.amazon.de/dp/{A3}/ref=x\n{A1}\n"
    )
    (tmp_path / "in.csv").write_bytes(
        f"\ufeffsku,asin,domain\r\n1,{A1},de\r\n\r\n2,{A2},\r\n3,B0TOO,\r\n".encode()
    )
    (tmp_path / "in.tsv").write_text(f"asin\tdomain\n{A1}\tco.uk\n{A4}\tcom\n")
    (tmp_path / "in.jsonl").write_text(
        json.dumps({"asin": A1}) + "\n\n" + json.dumps({"asin": A2, "domain": "fr"}) + "\n"
    )
    pd.DataFrame({"asin": [A3, A3, "x"], "domain": ["com", "com", None]}).to_parquet(
        tmp_path / "in.parquet"
    )
    (tmp_path / "codes.csv.gz").write_bytes(gzip.compress(f"Code,n\n{A4},1\n{A1},2\n".encode()))
    cases = [
        (["in.txt", "-o", "out.csv"], "out.csv"),
        (["in.csv", "-o", "out.parquet"], "out.parquet"),
        (["in.tsv", "-o", "out.jsonl"], "out.jsonl"),
        (["in.jsonl"], None),
        (["in.parquet"], None),
        (["codes.csv.gz", "--column", "code", "-o", "codes.csv"], "codes.csv"),
    ]
    expected = [
        [
            (A1, "com", "ok"),
            (A2, "com", "ok"),
            ("nan", "com", "invalid"),
            (A3, "de", "ok"),
            (A1, "com", "ok"),
        ],
        [(A1, "de", "ok"), (A2, "com", "ok"), ("nan", "com", "invalid")],
        [(A1, "co.uk", "ok"), (A4, "com", "ok")],
        [(A1, "com", "ok"), (A2, "fr", "ok")],
        [(A3, "com", "ok"), (A3, "com", "ok"), ("None", "com", "invalid")],
        [(A4, "com", "ok"), (A1, "com", "ok")],
    ]
    results = cli.run_many(*(args for args, _ in cases))
    stdin = cli.run("-", "-o", "stdin.jsonl", stdin=f"{A2}\r\n{A4}\r\n".encode())
    for (_, out), want, result in zip(cases, expected, results, strict=True):
        result.expect(0)
        frame = read_output(result, tmp_path / out if out else None)
        got = [(a if a not in ("", "None", "<NA>") else "nan", d, s) for a, d, s in triples(frame)]
        want = [(a if a != "None" else "nan", d, s) for a, d, s in want]
        assert got == want, result.explain()
        if out is not None:
            assert result.stdout == "", "data goes to the file, nothing to stdout"
        assert "asa-bulk run summary" in result.stderr
    stdin.expect(0)
    parquet = pd.read_parquet(tmp_path / "out.parquet")
    for column in ("error", "http_status", "attempts", "key_id", "request_id", "fetched_at"):
        assert column in parquet.columns
    assert set(parquet["key_id"].dropna()) <= {key[:21] for key in cli.keys}
    assert isinstance(json.loads(parquet["images"].iloc[0]), list)  # lists as JSON text
    assert triples(read_output(stdin, tmp_path / "stdin.jsonl")) == [
        (A2, "com", "ok"),
        (A4, "com", "ok"),
    ]
    # Each run sends its unique valid requests once; junk and duplicates are never sent.
    assert cli.sandbox.stats.requests == 3 + 2 + 2 + 2 + 1 + 2 + 2


def test_bad_input_exits_2_before_any_request(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "cols.csv").write_text("sku,title\n1,x\n")
    (tmp_path / "ok.txt").write_text(f"{A1}\n")
    (tmp_path / "blocker").write_text("a file, not a folder")
    commands = [
        (["missing.txt"], "input file not found: missing.txt"),
        (["empty.txt"], "input empty.txt is empty"),
        (["cols.csv"], "no column 'asin' in cols.csv"),
        (["ok.txt", "-o", "blocker/out.csv"], "output blocker/out.csv"),
    ]
    results = cli.run_many(*(args for args, _ in commands))
    no_keys = cli.run("ok.txt", env=cli.env(ASA_API_KEYS=""))
    checks = [*zip(commands, results, strict=True), (([], "ASA_API_KEYS"), no_keys)]
    for (_, message), result in checks:
        assert_one_line_error(result, message)
    assert cli.sandbox.stats.requests == 0


def test_an_input_that_cannot_be_read_exits_2_naming_it(cli: Cli, tmp_path: Path) -> None:
    """Corrupt gzip or parquet, non-UTF-8 text, a folder: one line on stderr, no traceback."""
    packed = gzip.compress(f"asin,domain\n{A1},de\n{A2},fr\n".encode() * 50, mtime=0)
    broken = bytearray(packed)
    broken[12] ^= 0x55  # inside the deflate stream: zlib.error, once a traceback with exit 1
    (tmp_path / "flipped.csv.gz").write_bytes(bytes(broken))
    (tmp_path / "truncated.txt.gz").write_bytes(packed[:-12])
    (tmp_path / "latin1.csv.gz").write_bytes(gzip.compress("asin,t\nx,caf\xe9\n".encode("latin-1")))
    parquet = tmp_path / "broken.parquet"
    pd.DataFrame({"asin": [A1, A2]}).to_parquet(parquet)
    parquet.write_bytes(parquet.read_bytes()[:-20])
    (tmp_path / "folder.csv").mkdir()
    names = ["flipped.csv.gz", "truncated.txt.gz", "latin1.csv.gz", "broken.parquet", "folder.csv"]
    results = cli.run_many(*([name, "-o", "out.csv"] for name in names))
    for name, result in zip(names, results, strict=True):
        assert_one_line_error(result, name)
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "out.csv").exists()
    assert cli.sandbox.stats.requests == 0
    # gzip on stdin is recognised by its magic bytes and read like the .gz file
    piped = cli.run("-", "-o", "piped.csv", stdin=gzip.compress(f"asin;domain\n{A1};de\n".encode()))
    assert triples(read_output(piped.expect(0), tmp_path / "piped.csv")) == [(A1, "de", "ok")]


def test_stdin_gives_the_rows_and_messages_of_the_same_file(cli: Cli, tmp_path: Path) -> None:
    data = f'\ufeffsku;asin;domain\r\n1;{A1};de\r\n2;"";\r\n3;junk;fr\r\n'.encode()
    (tmp_path / "in.csv").write_bytes(data)
    from_file = cli.run("in.csv", "--dry-run").expect(0).stdout
    from_stdin = cli.run("-", "--dry-run", stdin=data).expect(0).stdout
    assert from_stdin.replace("input: stdin", "input: in.csv") == from_file
    assert "line 3: invalid_asin: the item is empty" in from_file
    assert "line 4: invalid_asin: 'junk'" in from_file
    assert "unique requests: 1" in from_file


def assert_one_line_error(result: Result, message: str) -> None:
    result.expect(2)
    assert result.stdout == "", result.explain()
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.explain()
    assert lines[0].startswith("asa-bulk: error: "), result.explain()
    assert message in lines[0], result.explain()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "out.xlsx"], "cannot tell the output format"),
        (["--report", "blocker/r.json"], "report blocker/r.json"),
        (["--snapshot-dir", "blocker/snap"], "snapshot directory blocker/snap"),
        (["--snapshot-date", "2026-01-01"], "--snapshot-date needs --snapshot-dir"),
        (["--checkpoint", "blocker/c.db"], "blocker/c.db"),
        (["--checkpoint", "cols.csv"], "cols.csv is not an asa_bulk checkpoint"),
        (["--domain", "xx"], "domain"),
        (["--keys-env", "NOPE_KEYS"], "NOPE_KEYS"),
        (["--column", "code"], "--column applies to"),
    ],
)
def test_more_usage_errors_in_process(
    cli: Cli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    """The same checks, run through main() in this process (the start-up cost is the point)."""
    from asa_bulk.cli import main

    for name, value in cli.env().items():
        if name.startswith("ASA_"):
            monkeypatch.setenv(name, value)
    (tmp_path / "cols.csv").write_text("sku,title\n1,x\n")
    (tmp_path / "ok.txt").write_text(f"{A1}\n")
    (tmp_path / "blocker").write_text("a file, not a folder")
    code = main(["products", "ok.txt", *args])
    captured = capsys.readouterr()
    assert_one_line_error(Result(args, code, captured.out, captured.err), message)
    assert (tmp_path / "cols.csv").read_text() == "sku,title\n1,x\n"
    assert cli.sandbox.stats.requests == 0


def test_usage_errors_exit_2() -> None:
    from asa_bulk.cli import main

    assert main(["products"]) == 2
    assert main(["products", "in.txt", "--concurrency", "0"]) == 2
    assert main(["nope"]) == 2
    assert main(["--help"]) == 0


def test_max_credits_skips_the_rest_and_exits_1(cli: Cli, tmp_path: Path) -> None:
    asins = [f"B0BUDGET{n:02d}" for n in range(6)]
    (tmp_path / "in.txt").write_text("\n".join(asins) + "\n")
    env = cli.env(ASA_API_KEYS="", MY_KEYS=" ".join(cli.keys))
    result = cli.run(
        "in.txt",
        "-o",
        "out.csv",
        "--keys-env",
        "MY_KEYS",
        "--max-credits",
        "12",
        "--report",
        "report.json",
        env=env,
    ).expect(1)
    frame = read_output(result, tmp_path / "out.csv")
    assert len(frame) == 6, "the output still has every row"
    assert (frame["status"] == "ok").sum() == 2
    skipped = frame[frame["status"] == "skipped"]
    assert len(skipped) == 4
    assert set(skipped["error"]) == {"budget_exhausted"}
    assert cli.sandbox.stats.billed_total == 2
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["status_counts"]["skipped"] == 4
    assert report["credits"] == 10
    assert report["cli"]["exit_code"] == 1
    assert "skipped" in result.stderr


def test_dry_run_counts_and_sends_nothing(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text(
        f"asin,domain\n{A1},com\n{A1},com\n{A2},com\njunk,com\n{A3},de\n{A4},zz\n"
    )
    (tmp_path / "keys.env").write_text(f"ASA_API_KEYS={','.join(cli.keys)}\n")
    with SqliteCheckpoint(tmp_path / "c.db") as store:
        store.record(ResultRecord(ProductRequest(A2, "com"), "ok", http_status=200))
        store.record(ResultRecord(ProductRequest(A3, "de"), "failed", error="upstream_timeout"))
    env = cli.env(ASA_API_KEYS="")
    result = cli.run(
        "in.csv", "--dry-run", "--checkpoint", "c.db", "--env-file", "keys.env", env=env
    ).expect(0)
    out = result.stdout
    assert "items: 6" in out
    assert "unique requests: 3" in out
    assert "duplicates: 1" in out
    assert "invalid rows: 2" in out
    assert "line 5: invalid_asin" in out
    assert "line 7: invalid_domain" in out
    assert "already done in the checkpoint: 1" in out
    assert "worst-case cost: 10 credits" in out  # A1 and A3 (failed before) are to send
    assert f"keys: 2 ({cli.keys[0][:21]}, {cli.keys[1][:21]})" in out
    for key in cli.keys:
        assert key not in out + result.stderr
    assert cli.sandbox.stats.requests == 0


def test_error_messages_name_the_place_in_the_file(cli: Cli, tmp_path: Path) -> None:
    """Output rows and --dry-run say ``line N`` (text, header counted) or ``row N`` (parquet)."""
    (tmp_path / "in.csv").write_text(f"sku,asin\n1,{A1}\n\n2,junk\n")
    pd.DataFrame({"asin": [A1, "junk"]}).to_parquet(tmp_path / "in.parquet")
    csv_run, parquet_run, dry = cli.run_many(
        ["in.csv", "-o", "out.csv"], ["in.parquet"], ["in.csv", "--dry-run"]
    )
    csv_rows = read_output(csv_run.expect(0), tmp_path / "out.csv")
    assert csv_rows["error_message"].tolist()[1].startswith("line 4: 'junk' is not an ASIN")
    parquet_rows = read_output(parquet_run.expect(0), None)
    assert parquet_rows["error_message"].tolist()[1].startswith("row 2: 'junk' is not an ASIN")
    assert "  line 4: invalid_asin: 'junk' is not an ASIN" in dry.expect(0).stdout


def test_snapshot_twice_on_one_day_has_no_duplicates(cli: Cli, tmp_path: Path) -> None:
    before = datetime.now(timezone.utc).date()
    (tmp_path / "a.txt").write_text(f"{A1}\n{A2}\n{A1}\n")
    (tmp_path / "b.txt").write_text(f"{A2}\n{A3}\n")
    cli.run("a.txt", "-o", "a.jsonl", "--snapshot-dir", "snap").expect(0)
    second = cli.run("b.txt", "-o", "b.jsonl", "--snapshot-dir", "snap").expect(0)
    after = datetime.now(timezone.utc).date()
    table = pd.read_parquet(tmp_path / "snap")
    assert sorted(table["asin"]) == [A1, A2, A3], second.explain()
    days = {p.name for p in (tmp_path / "snap").iterdir()}
    assert days <= {f"date={before}", f"date={after}"}
    assert len(days) == 1 or before != after
    assert set(table["date"].astype(str)) <= {str(before), str(after)}
    assert "1 earlier rows of the day replaced" in second.stderr


def test_kill_9_then_resume_pays_each_product_once(tmp_path: Path) -> None:
    from asa_bulk.sandbox import make_test_keys, serve_in_thread

    asins = [f"B0KILL{n:04d}" for n in range(80)]
    (tmp_path / "in.txt").write_text("\n".join(asins) + "\n")
    args = ["in.txt", "-o", "out.csv", "--checkpoint", "run.ckpt", "--concurrency", "2"]
    with serve_in_thread(**sandbox_settings(fixed_latency=0.01)) as sandbox:
        cli = Cli(cwd=tmp_path, sandbox=sandbox, keys=make_test_keys(1))
        proc = cli.start(*args)
        wait_until(lambda: sandbox.stats.billed_total >= 20, proc, "the first answers")
        proc.kill()
        killed = finish_cli(proc, args)
        assert killed.returncode == -9, killed.explain()
        assert not (tmp_path / "out.csv").exists()
        billed_at_kill = sandbox.stats.billed_total
        assert_no_secret(tmp_path, cli.keys)  # the WAL is full of fresh records right now
        assert billed_at_kill < len(asins), "killed too late to test anything"
        with SqliteCheckpoint(tmp_path / "run.ckpt") as store:
            kept = len(store)
        # Everything billed was recorded, except at most the 2 requests in flight.
        assert kept >= billed_at_kill - 2

        resumed = cli.run(*args).expect(0)
        frame = read_output(resumed, tmp_path / "out.csv")
        assert list(frame["asin"]) == asins
        assert set(frame["status"]) == {"ok"}
        stats = sandbox.stats
        assert stats.billed_total <= len(asins) + 2
        assert len(stats.billed_twice) <= 2, stats.billed_twice
        assert max(stats.billed.values()) <= 2
    assert_no_secret(tmp_path, cli.keys)


def assert_no_secret(folder: Path, keys: list[str]) -> None:
    """Only key_ids ever reach disk: scan every file the runs wrote (checkpoint, WAL, output)."""
    files = [path for path in folder.iterdir() if path.is_file()]
    assert any(path.name.startswith("run.ckpt") for path in files)
    for path in files:
        data = path.read_bytes()
        for key in keys:
            assert key.encode() not in data, path
