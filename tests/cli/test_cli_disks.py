"""Full disks and broken runs on the real command: nothing paid for is lost, each has its code.

The full disks are real: a small tmpfs mounted for the test (CI runs as root, like the
developers' machines; elsewhere these tests say they cannot mount and skip).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from asa_bulk._checkpoint import SqliteCheckpoint
from asa_bulk.sandbox import make_test_keys, serve_in_thread
from tests.support.cli import Cli, finish_cli, sandbox_settings, wait_until


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB filesystem of its own."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(folder: Path) -> None:
    """Write to ``folder`` until its filesystem is full."""
    with (folder / "filler").open("wb") as out, contextlib.suppress(OSError):
        while True:
            out.write(b"\0" * 65536)
            out.flush()


def test_too_little_space_for_the_output_is_refused_before_sending(
    cli: Cli, tmp_path: Path, small_disk: Path
) -> None:
    (tmp_path / "in.txt").write_text("\n".join(f"B0DISK{n:04d}" for n in range(2000)) + "\n")
    result = cli.run("in.txt", "-o", str(small_disk / "out.csv")).expect(2)
    assert "not enough free space" in result.stderr, result.explain()
    assert "nothing was sent" in result.stderr
    assert "Traceback" not in result.stderr
    assert cli.sandbox.stats.requests == 0


def test_an_output_disk_that_fills_up_keeps_the_results_for_a_free_rerun(
    tmp_path: Path, small_disk: Path
) -> None:
    asins = [f"B0FULL{n:04d}" for n in range(150)]
    (tmp_path / "in.txt").write_text("\n".join(asins) + "\n")
    out = small_disk / "out.csv"
    with serve_in_thread(**sandbox_settings(fixed_latency=0.02)) as sandbox:
        cli = Cli(cwd=tmp_path, sandbox=sandbox, keys=make_test_keys(1))
        (tmp_path / "tmp").mkdir()
        env = cli.env(TMPDIR=str(tmp_path / "tmp"))
        args = ["in.txt", "-o", str(out), "--concurrency", "4"]
        proc = cli.start(*args, env=env)
        wait_until(lambda: sandbox.stats.billed_total >= 5, proc)
        _fill(small_disk)  # someone else's job fills the disk while we fetch
        failed = finish_cli(proc, args).expect(4)
        assert "Traceback" not in failed.stderr, failed.explain()
        assert f"cannot write the output {out}: No space left on device" in failed.stderr
        kept = list((tmp_path / "tmp").glob("asa-bulk-*.ckpt"))
        assert len(kept) == 1, failed.explain()
        assert f"--checkpoint {kept[0]}" in failed.stderr, "the message says how to re-run"
        assert not out.exists()
        billed = sandbox.stats.billed_total
        assert billed == len(asins)

        (small_disk / "filler").unlink()
        cli.run(*args, "--checkpoint", str(kept[0]), env=env).expect(0)
        assert sandbox.stats.billed_total == billed, "the re-run paid for nothing"
    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(frame["asin"]) == asins
    assert set(frame["status"]) == {"ok"}


def test_a_checkpoint_disk_that_fills_up_stops_buying_and_loses_nothing(
    tmp_path: Path, small_disk: Path
) -> None:
    asins = [f"B0CKPT{n:04d}" for n in range(300)]
    (tmp_path / "in.txt").write_text("\n".join(asins) + "\n")
    ckpt = small_disk / "run.ckpt"
    args = ["in.txt", "-o", "out.csv", "--checkpoint", str(ckpt), "--concurrency", "4"]
    with serve_in_thread(**sandbox_settings(fixed_latency=0.02)) as sandbox:
        cli = Cli(cwd=tmp_path, sandbox=sandbox, keys=make_test_keys(1))
        proc = cli.start(*args)
        wait_until(lambda: sandbox.stats.billed_total >= 5, proc)
        _fill(small_disk)
        stopped = finish_cli(proc, args).expect(4)
        billed = sandbox.stats.billed_total
    assert "Traceback" not in stopped.stderr, stopped.explain()
    assert f"cannot write checkpoint {ckpt}" in stopped.stderr
    assert "exit code 4" in stopped.stderr
    assert billed < len(asins), "it stopped buying once results could no longer be kept"
    frame = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)
    assert list(frame["asin"]) == asins
    assert (frame["status"] == "ok").sum() == billed, "every paid answer is in the output"
    assert set(frame.loc[frame["status"] != "ok", "error"]) == {"checkpoint_failed"}


def test_an_internal_error_has_its_own_exit_code(tmp_path: Path) -> None:
    """A bug (here: a sitecustomize that breaks the writer) is exit 70, not 1."""
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(
        "import asa_bulk.cli._command as p\n"
        "def broken(*a, **k):\n"
        "    raise TypeError('simulated bug')\n"
        "p.open_output = broken\n"
    )
    (tmp_path / "in.txt").write_text("B0TEST0001\n")
    with serve_in_thread(**sandbox_settings()) as sandbox:
        cli = Cli(cwd=tmp_path, sandbox=sandbox, keys=make_test_keys(1))
        paths = [str(tmp_path / "site"), os.environ.get("PYTHONPATH", "")]
        env = cli.env(PYTHONPATH=os.pathsep.join(path for path in paths if path))
        plain = cli.run("in.txt", "-o", "out.csv", env=env).expect(70)
        verbose = cli.run("in.txt", "-o", "out.csv", "-vv", env=env).expect(70)
    assert "internal error: TypeError: simulated bug" in plain.stderr, plain.explain()
    assert "Traceback" not in plain.stderr
    assert "Traceback" in verbose.stderr


def test_no_row_succeeded_is_exit_3(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("B0TEST0001\nB0TEST0002\n")
    env = cli.env(ASA_BASE_URL=cli.sandbox.base_url + "/wrong/prefix")
    result = cli.run("in.txt", "-o", "out.csv", env=env).expect(3)
    assert "no row succeeded" in result.stderr, result.explain()
    frame = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)
    assert set(frame["status"]) == {"failed"}


def test_resuming_against_another_base_url_is_refused(tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("B0TEST0001\nB0TEST0002\n")
    args = ["in.txt", "-o", "out.csv", "--checkpoint", "run.ckpt"]
    keys = make_test_keys(1)
    settings = sandbox_settings()
    with serve_in_thread(**settings) as first, serve_in_thread(**settings) as other:
        Cli(cwd=tmp_path, sandbox=first, keys=keys).run(*args).expect(0)
        elsewhere = Cli(cwd=tmp_path, sandbox=other, keys=keys)
        refused = elsewhere.run(*args).expect(2)
        assert "holds results from" in refused.stderr, refused.explain()
        assert "--allow-origin-change" in refused.stderr
        elsewhere.run(*args, "--allow-origin-change").expect(0)
        assert other.stats.requests == 0
    with SqliteCheckpoint(tmp_path / "run.ckpt") as store:
        assert store.origin() == other.base_url
