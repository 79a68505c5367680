"""main(): subcommand dispatch, lazy subcommands, report rendering, dry-run without keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from asa_bulk.cli import _parser, main
from asa_bulk.cli._report import render_report, write_report


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("products", "sandbox", "demo"):
        assert command in out
    assert "exit codes" in out


def test_sandbox_subcommand_gets_its_own_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sandbox", "--help"]) == 0
    assert "usage: asa-bulk sandbox" in capsys.readouterr().out


def test_missing_lazy_subcommand_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    commands = dict(_parser.LAZY_COMMANDS)
    commands["demo"] = ("a demo", "asa_bulk.no_such_module", "add", "run")
    monkeypatch.setattr(_parser, "LAZY_COMMANDS", commands)
    monkeypatch.setattr("asa_bulk.cli.LAZY_COMMANDS", commands)
    assert main(["demo"]) == 2
    assert "asa-bulk demo: this command is not available" in capsys.readouterr().err


def test_dry_run_without_keys_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "in.txt").write_text("B0TEST0001\n")
    assert main(["products", "in.txt", "--dry-run", "--report", "r.json"]) == 2
    out = capsys.readouterr().out
    assert "keys: none usable: no API key found" in out
    assert "nothing was sent" in out
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["dry_run"] is True
    assert report["worst_case_credits"] == 5


def test_report_renders_unknown_summaries_generically(tmp_path: Path) -> None:
    summary = {"rows": 3, "status_counts": {"ok": 3}, "keys": [{"key_id": "asa_test_x", "n": 3}]}
    text = render_report(summary, {"output": "out.csv", "checkpoint": None})
    assert "rows: 3" in text
    assert "  ok: 3" in text
    assert "key_id=asa_test_x" in text
    assert "output: out.csv" in text
    assert "checkpoint" not in text  # unset values are left out
    write_report(tmp_path / "r.json", summary, {"exit_code": 0})
    assert json.loads((tmp_path / "r.json").read_text())["cli"] == {"exit_code": 0}
