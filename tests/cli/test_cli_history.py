"""``asa-bulk diff`` and ``asa-bulk history`` on a snapshot folder (in process: nothing is sent)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from asa_bulk.cli import main
from asa_bulk.cli._snapshot import write_snapshot


def pull(prices: dict[str, float]) -> pd.DataFrame:
    frame: pd.DataFrame = pd.DataFrame(
        {
            "asin": pd.array(list(prices), dtype="string"),
            "domain": pd.array(["com"] * len(prices), dtype="string"),
            "status": pd.array(["ok"] * len(prices), dtype="string"),
            "price": pd.array(list(prices.values()), dtype="Float64"),
        }
    )
    return frame


@pytest.fixture
def snapshots(tmp_path: Path) -> Path:
    folder = tmp_path / "snaps"
    write_snapshot(pull({"B1": 10.0, "B2": 20.0}), folder, day=date(2026, 5, 1))
    write_snapshot(pull({"B1": 10.0, "B2": 15.0, "B3": 1.0}), folder, day=date(2026, 5, 2))
    return folder


def test_diff_writes_the_changes_only_and_says_the_counts(
    snapshots: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "changes.csv"
    assert main(["diff", str(snapshots), "-o", str(out)]) == 0
    changes = pd.read_csv(out)
    assert changes[["asin", "change"]].values.tolist() == [["B2", "changed"], ["B3", "added"]]
    assert changes["price_delta"].tolist()[0] == -5.0
    err = capsys.readouterr().err
    assert "2026-05-01 -> 2026-05-02: added 1, removed 0, changed 1, unchanged 1" in err
    assert main(["diff", str(snapshots), "--all", "--tolerance", "6", "-o", str(out)]) == 0
    assert pd.read_csv(out)["change"].tolist() == ["unchanged", "unchanged", "added"]


def test_history_writes_the_filtered_days(snapshots: Path, tmp_path: Path) -> None:
    out = tmp_path / "history.parquet"
    assert main(["history", str(snapshots), "--asin", "B2", "--from", "2026-05-02",
                 "--columns", "price", "-o", str(out)]) == 0  # fmt: skip
    table = pd.read_parquet(out)
    assert table[["asin", "price"]].values.tolist() == [["B2", 15.0]]
    assert str(table["snapshot_date"].iloc[0].date()) == "2026-05-02"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["diff", "{dir}", "--tolerance", "lots"], "--tolerance must be a number"),
        (["diff", "{dir}", "--tolerance", "-1"], "tolerance must be 0 or more"),
        (["diff", "{dir}", "--from", "2026-06-01"], "no pull on 2026-06-01"),
        (["diff", "{dir}", "--columns", "prize"], "no column 'prize'"),
        (["history", "{dir}/nowhere"], "does not exist"),
        (["history", "{dir}", "--from", "yesterday"], "start must be a date"),
        (["history", "{dir}", "-o", "out.xlsx"], "cannot tell the output format"),
    ],
)
def test_mistakes_are_one_line_and_exit_2(
    snapshots: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([arg.format(dir=snapshots) for arg in argv]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_an_output_that_cannot_be_written_is_exit_4(
    snapshots: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "no such folder" / "changes.csv"
    assert main(["diff", str(snapshots), "-o", str(out)]) == 4
    assert "cannot write the output" in capsys.readouterr().err
