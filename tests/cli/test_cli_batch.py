"""``--mode batch`` end to end: the real command posts batches to the sandbox and polls them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from asa_bulk.sandbox import Sandbox, make_test_keys, serve_in_thread
from tests.support.cli import Cli, sandbox_settings

# A real clock in the command: polls 50 ms apart, against batches that start at once.
FAST = ("--mode", "batch", "--batch-poll-seconds", "0.05")


@pytest.fixture
def batch_cli(tmp_path: Path) -> Iterator[Cli]:
    settings = sandbox_settings(batch_start_delay=0.0, batch_item_seconds=0.0)
    with serve_in_thread(**settings) as sb:
        yield Cli(cwd=tmp_path, sandbox=sb, keys=make_test_keys(2))


def sandbox_of(cli: Cli) -> Sandbox:
    return cli.sandbox


def test_products_in_batch_mode_write_the_sync_columns_plus_batch_id(
    batch_cli: Cli, tmp_path: Path
) -> None:
    (tmp_path / "in.txt").write_text("B0TEST0001\nnot an asin\nB0TEST0002\nB0TEST0001\n")
    batch_cli.run("in.txt", "-o", "b.csv", "--checkpoint", "job.sqlite", *FAST).expect(0)
    batch_cli.run("in.txt", "-o", "s.csv").expect(0)
    batch = pd.read_csv(tmp_path / "b.csv", dtype=str, keep_default_na=False)
    sync = pd.read_csv(tmp_path / "s.csv", dtype=str, keep_default_na=False)
    assert list(batch.columns) == [*sync.columns, "batch_id"]
    assert batch["status"].tolist() == sync["status"].tolist() == ["ok", "invalid", "ok", "ok"]
    assert batch["batch_id"].tolist()[1] == ""
    assert len({batch["batch_id"][0], batch["batch_id"][2], batch["batch_id"][3]}) == 1
    assert sandbox_of(batch_cli).stats.batches_created == 1
    # Resumed: every row from the checkpoint, nothing posted again.
    batch_cli.run("in.txt", "-o", "again.csv", "--checkpoint", "job.sqlite", *FAST).expect(0)
    again = pd.read_csv(tmp_path / "again.csv", dtype=str, keep_default_na=False)
    assert again["batch_id"].tolist() == batch["batch_id"].tolist()
    assert sandbox_of(batch_cli).stats.batches_created == 1


def test_search_in_batch_mode(batch_cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "q.txt").write_text("usb c cable\ndesk lamp\n")
    batch_cli.command = "search"
    batch_cli.run("q.txt", "-o", "out.csv", "--pages", "2", *FAST).expect(0)
    out = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)
    assert out.columns[-1] == "batch_id"
    assert out["batch_id"].nunique() == 1
    assert set(out["page"]) == {"1", "2"}
    assert sandbox_of(batch_cli).stats.batches_created == 1


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--mode", "bulk"), "invalid choice: 'bulk'"),
        (("--mode", "batch", "--batch-size", "5000"), "at most 1000"),
        (("--mode", "batch", "--batch-poll-seconds", "nan"), "--batch-poll-seconds"),
        (("--mode", "batch", "--batch-deadline", "-5"), "--batch-deadline"),
    ],
)
def test_bad_batch_flags_exit_2_with_one_line(
    cli: Cli, tmp_path: Path, flags: tuple[str, ...], message: str
) -> None:
    (tmp_path / "in.txt").write_text("B0TEST0001\n")
    result = cli.run("in.txt", *flags).expect(2)
    assert message in result.stderr, result.explain()
    assert "Traceback" not in result.stderr
    assert cli.sandbox.stats.requests == 0


def test_a_batch_still_open_at_the_deadline_keeps_the_automatic_checkpoint(
    tmp_path: Path,
) -> None:
    settings = sandbox_settings(batch_start_delay=1e9)  # never leaves pending
    with serve_in_thread(**settings) as sb:
        cli = Cli(cwd=tmp_path, sandbox=sb, keys=make_test_keys(2))
        (tmp_path / "in.txt").write_text("B0TEST0001\nB0TEST0002\n")
        env = cli.env(TMPDIR=str(tmp_path))
        result = cli.run("in.txt", "-o", "out.csv", *FAST, "--batch-deadline", "0.3", env=env)
        result.expect(1)  # a plain stop: rows skipped, nothing broken
        kept = [line for line in result.stderr.splitlines() if "still open" in line]
        assert len(kept) == 1, result.explain()
        path = kept[0].split("--checkpoint ")[1].split(" ")[0]
        assert Path(path).exists()
        again = cli.run("in.txt", "-o", "out.csv", *FAST, "--batch-deadline", "0.3",
                        "--checkpoint", path, env=env)  # fmt: skip
        again.expect(1)
        assert sb.stats.batches_created == 1  # polled again, never posted again
