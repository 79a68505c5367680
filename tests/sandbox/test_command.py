"""``python -m asa_bulk.sandbox`` / ``asa-bulk sandbox``: serve, print the URL, stop cleanly."""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from asa_bulk.sandbox import add_sandbox_arguments, run_sandbox_command
from asa_bulk.sandbox._command import DEFAULT_PORT, _settings
from tests.support.sandbox import KEY


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_sandbox_arguments(parser)
    return parser.parse_args(argv)


def test_serves_until_sigterm_and_exits_cleanly(tmp_path: Path) -> None:
    config = tmp_path / "sb.json"
    config.write_text(json.dumps({"fixed_latency": 0, "plan": "vibe"}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "asa_bulk.sandbox", "--port", "0", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("Sandbox serving http://127.0.0.1:"), first
        base_url = first.split()[-1]
        assert "any asa_test_ key" in proc.stdout.readline()
        url = f"{base_url}/api/v1/amazon/product?query=B09HN3Q81F&api_key={KEY}"
        with urllib.request.urlopen(url, timeout=5) as resp:
            assert resp.headers["Asa-Concurrency"] == "1/30"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "Sandbox stopped." in out
    assert KEY not in out + err


def test_flags_win_over_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "sb.json"
    config.write_text(json.dumps({"plan": "free", "port": 0}))
    assert _settings(_parse("--config", str(config), "--plan", "pro")).plan == "pro"
    assert _settings(_parse("--config", str(config))).port == 0
    assert _settings(_parse()).port == DEFAULT_PORT
    assert _settings(_parse("--host", "::1", "--fixed-latency", "0")).host == "::1"


def test_bad_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "sb.json"
    config.write_text(json.dumps({"plan": "gold"}))
    assert run_sandbox_command(_parse("--config", str(config))) == 2
    assert "plan must be one of free, vibe, pro, custom" in capsys.readouterr().err
    assert run_sandbox_command(_parse("--config", str(tmp_path / "missing.json"))) == 2
    assert "cannot read sandbox config" in capsys.readouterr().err
