"""SIGINT/SIGTERM on the real command: answers in flight are recorded, nothing is paid twice."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from asa_bulk._checkpoint import SqliteCheckpoint
from asa_bulk.sandbox import Sandbox, make_test_keys, serve_in_thread
from tests.support.cli import Cli, finish_cli, sandbox_settings, wait_until


def _in_flight(sandbox: Sandbox) -> int:
    return sum(sandbox.stats.in_flight.values())


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_then_a_resume_bills_nothing_twice(
    tmp_path: Path, signum: signal.Signals, code: int
) -> None:
    asins = [f"B0SIGN{n:04d}" for n in range(300)]
    (tmp_path / "in.txt").write_text("\n".join(asins) + "\n")
    args = ["in.txt", "-o", "out.csv", "--checkpoint", "run.ckpt", "--concurrency", "4"]
    with serve_in_thread(**sandbox_settings(fixed_latency=0.05)) as sandbox:
        cli = Cli(cwd=tmp_path, sandbox=sandbox, keys=make_test_keys(1))
        proc = cli.start(*args)
        wait_until(lambda: sandbox.stats.billed_total >= 8, proc, "the first answers")
        wait_until(lambda: _in_flight(sandbox) >= 2, proc, "requests in flight")
        proc.send_signal(signum)
        stopped = finish_cli(proc, args).expect(code)
        billed = sandbox.stats.billed_total
        assert billed < len(asins), "stopped too late to test anything"

        frame = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)
        assert list(frame["asin"]) == asins, "the output holds every row, in input order"
        assert set(frame["status"]) == {"ok", "skipped"}, stopped.explain()
        assert set(frame.loc[frame["status"] == "skipped", "error"]) == {"interrupted"}
        # Every answer the sandbox billed, in flight at the signal included, was kept.
        assert (frame["status"] == "ok").sum() == billed, stopped.explain()
        with SqliteCheckpoint(tmp_path / "run.ckpt") as store:
            assert store.status_counts().get("ok", 0) == billed
        assert f"{billed} of {len(asins)} row(s) done" in stopped.stderr, stopped.explain()
        assert "re-run the same command" in stopped.stderr

        cli.run(*args).expect(0)
        stats = sandbox.stats
    assert stats.billed_twice == {}, "a resume after a signal pays for nothing twice"
    assert stats.billed_total == len(asins)
    final = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)
    assert set(final["status"]) == {"ok"}


def test_a_second_signal_aborts_without_waiting_for_the_answers(tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("\n".join(f"B0SLOW{n:04d}" for n in range(20)) + "\n")
    args = ["in.txt", "-o", "out.csv", "--checkpoint", "run.ckpt", "--timeout", "50"]
    # Answers take 40 s: a graceful stop would wait for them, an abort must not.
    with serve_in_thread(**sandbox_settings(fixed_latency=40.0)) as sandbox:
        cli = Cli(cwd=tmp_path, sandbox=sandbox, keys=make_test_keys(1))
        proc = cli.start(*args)
        wait_until(lambda: _in_flight(sandbox) >= 1, proc, "requests in flight")
        proc.send_signal(signal.SIGINT)
        time.sleep(0.3)  # let the first signal be handled: the command is now draining
        assert proc.poll() is None, "the first signal must wait for the answers in flight"
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("a second SIGINT did not abort the run")
        result = finish_cli(proc, args).expect(130)
    assert "aborted" in result.stderr, result.explain()
    assert "run.ckpt" in result.stderr
    assert not (tmp_path / "out.csv").exists()


def test_without_a_checkpoint_an_interrupt_names_the_automatic_one(tmp_path: Path) -> None:
    asins = [f"B0AUTO{n:04d}" for n in range(300)]
    (tmp_path / "in.txt").write_text("\n".join(asins) + "\n")
    args = ["in.txt", "-o", "out.csv", "--concurrency", "4"]
    with serve_in_thread(**sandbox_settings(fixed_latency=0.05)) as sandbox:
        cli = Cli(cwd=tmp_path, sandbox=sandbox, keys=make_test_keys(1))
        env = cli.env(TMPDIR=str(tmp_path / "tmp"))
        (tmp_path / "tmp").mkdir()
        proc = cli.start(*args, env=env)
        wait_until(lambda: sandbox.stats.billed_total >= 8, proc, "the first answers")
        proc.send_signal(signal.SIGINT)
        stopped = finish_cli(proc, args).expect(130)
        kept = list((tmp_path / "tmp").glob("asa-bulk-*.ckpt"))
        assert len(kept) == 1, stopped.explain()
        assert f"--checkpoint {kept[0]}" in stopped.stderr, stopped.explain()
        billed = sandbox.stats.billed_total

        cli.run(*args, "--checkpoint", str(kept[0]), env=env).expect(0)
        stats = sandbox.stats
    assert billed < len(asins)
    assert stats.billed_twice == {}
    assert stats.billed_total == len(asins)


def test_a_finished_run_leaves_no_automatic_checkpoint(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "tmp").mkdir()
    (tmp_path / "in.txt").write_text("B0TEST0001\nB0TEST0002\n")
    cli.run("in.txt", "-o", "out.csv", env=cli.env(TMPDIR=str(tmp_path / "tmp"))).expect(0)
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_run_refused_before_sending_leaves_no_automatic_checkpoint(
    cli: Cli, tmp_path: Path
) -> None:
    (tmp_path / "tmp").mkdir()
    (tmp_path / "in.txt").write_text("B0TEST0001\n")
    env = cli.env(TMPDIR=str(tmp_path / "tmp"), ASA_API_KEYS="sk_live_" + "x" * 24)
    cli.run("in.txt", "-o", "out.csv", env=env).expect(2)
    assert list((tmp_path / "tmp").iterdir()) == []
