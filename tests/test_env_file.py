"""env_file: the default .env is read if present; a file named explicitly must exist."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import asa_bulk
from asa_bulk._errors import ConfigError
from asa_bulk._keys import resolve_keys
from asa_bulk._settings import resolve_settings
from asa_bulk.cli import main
from asa_bulk.sandbox import Sandbox, make_test_keys
from tests.support.fakeapi import any_request_recorded

KEY = make_test_keys(1, seed=9)[0]


async def test_an_explicit_env_file_that_is_missing_stops_the_run_before_sending() -> None:
    with (
        any_request_recorded() as sent,
        pytest.raises(ConfigError, match=r"env_file 'prod\.env' does not exist"),
    ):
        await asa_bulk.fetch_products(
            ["B000000001"], keys=[KEY], env_file="prod.env", progress=False
        )
    assert sent == []


@pytest.mark.parametrize("explicit", [".env", Path(".env"), "sub/.env"])
def test_a_name_given_must_exist_but_the_default_may_be_absent(
    explicit: Any, tmp_path: Path
) -> None:
    assert not (tmp_path / ".env").exists()  # the tests run in an empty folder
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_settings({}, environ={}, env_file=explicit)
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_keys([KEY], environ={}, env_file=explicit)
    assert resolve_settings({}, environ={}).domain == "com"
    assert [k.secret for k in resolve_keys([KEY], environ={})] == [KEY]
    (tmp_path / ".env").write_text("ASA_DOMAIN=de\n")
    assert resolve_settings({}, environ={}).domain == "de"
    assert resolve_settings({}, environ={}, env_file=".env").domain == "de"


def test_an_env_file_that_cannot_be_read_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "folder.env").mkdir()
    with pytest.raises(ConfigError, match="is not a file"):
        resolve_settings({}, environ={}, env_file=tmp_path / "folder.env")
    (tmp_path / "latin1.env").write_bytes(b"ASA_DOMAIN=d\xe9\n")
    with pytest.raises(ConfigError, match="cannot read env_file"):
        resolve_settings({}, environ={}, env_file=tmp_path / "latin1.env")


def test_cli_env_file_given_and_missing_is_one_line(
    asa_sandbox: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "in.txt").write_text("B0TEST0001\n")
    monkeypatch.setenv("ASA_API_KEYS", KEY)
    monkeypatch.setenv("ASA_BASE_URL", asa_sandbox.base_url)
    for extra in ([], ["--dry-run"]):
        assert main(["products", "in.txt", "--env-file", "prod.env", *extra]) == 2
        captured = capsys.readouterr()
        assert captured.out == ""
        lines = captured.err.strip().splitlines()
        assert lines == ["asa-bulk: error: --env-file prod.env does not exist"], captured.err
    assert main(["products", "in.txt", "--dry-run"]) == 0  # no .env here, and none named
    assert asa_sandbox.stats.requests == 0
