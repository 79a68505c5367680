"""``asa-bulk products`` refuses bad settings and keys with one line on stderr, exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from asa_bulk.cli import main
from asa_bulk.sandbox import Sandbox, make_test_keys

KEYS = make_test_keys(2)


@pytest.fixture
def world(asa_sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    """An input file, the sandbox's URL and two good keys in the environment."""
    (tmp_path / "in.txt").write_text("B0TEST0001\n")
    monkeypatch.setenv("ASA_BASE_URL", asa_sandbox.base_url)
    monkeypatch.setenv("ASA_API_KEYS", ",".join(KEYS))
    return asa_sandbox


def one_line_error(capsys: pytest.CaptureFixture[str], code: int) -> str:
    captured = capsys.readouterr()
    assert code == 2, captured
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("asa-bulk: error: ")
    return lines[0]


@pytest.mark.parametrize(
    ("args", "name"),
    [
        (["--timeout", "inf"], "timeout"),
        (["--timeout", "nan"], "timeout"),
        (["--rps", "-1"], "rps"),
        (["--rps", "1e999"], "rps"),
        (["--concurrency", "2.5"], "concurrency"),
        (["--concurrency", "0"], "concurrency"),
        (["--max-attempts", "0"], "max_attempts"),
        (["--max-credits", "-5"], "max_credits"),
        (["--max-wait", "nan"], "max_wait"),
        (["--max-wait", "0"], "max_wait"),
    ],
)
def test_a_bad_numeric_flag_is_one_line_naming_the_setting(
    world: Sandbox, capsys: pytest.CaptureFixture[str], args: list[str], name: str
) -> None:
    line = one_line_error(capsys, main(["products", "in.txt", *args]))
    assert args[0] in line
    assert name in line
    assert world.stats.requests == 0


def test_max_wait_flag_is_accepted(world: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["products", "in.txt", "--max-wait", "30", "--dry-run"]) == 0
    assert "nothing was sent" in capsys.readouterr().out


def test_plain_http_elsewhere_needs_the_flag_or_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "in.txt").write_text("B0TEST0001\n")
    monkeypatch.setenv("ASA_API_KEYS", KEYS[0])
    args = ["products", "in.txt", "--dry-run", "--base-url", "http://api.example.com"]
    line = one_line_error(capsys, main(args))
    assert "--allow-insecure-http" in line
    assert main([*args, "--allow-insecure-http"]) == 0
    assert "nothing was sent" in capsys.readouterr().out
    monkeypatch.setenv("ASA_ALLOW_INSECURE_HTTP", "yes")  # no flag: the variable applies
    assert main(args) == 0


def test_keys_env_is_normalised_like_asa_api_keys(
    world: Sandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ASA_API_KEYS")
    monkeypatch.setenv("MY_KEYS", f'"{KEYS[0]}" Bearer {KEYS[1]}')
    assert main(["products", "in.txt", "--keys-env", "MY_KEYS", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"keys: 2 ({KEYS[0][:21]}, {KEYS[1][:21]})" in out
    monkeypatch.setenv("MY_KEYS", " , ")  # set, but to nothing: an error, not a fall-back
    (world_dir := Path.cwd()).joinpath(".env").write_text(f"MY_KEYS={KEYS[0]}\n")
    line = one_line_error(capsys, main(["products", "in.txt", "--keys-env", "MY_KEYS"]))
    assert "MY_KEYS" in line
    assert (world_dir / ".env").exists()
    assert world.stats.requests == 0


@pytest.mark.parametrize("where", ["ASA_API_KEYS", "MY_KEYS"])
def test_a_malformed_key_is_the_same_error_with_and_without_dry_run(
    world: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    where: str,
) -> None:
    bad = "sk_live_" + KEYS[1][9:]
    monkeypatch.setenv(where, f"{KEYS[0]}, {bad}")
    args = ["products", "in.txt", *(["--keys-env", where] if where == "MY_KEYS" else [])]
    line = one_line_error(capsys, main(args))
    message = line.removeprefix("asa-bulk: error: ")
    assert message.startswith(f"key 2 of 2 (from {where})")
    assert main([*args, "--dry-run", "--report", "r.json"]) == 2
    captured = capsys.readouterr()
    assert f"keys: none usable: {message}" in captured.out
    assert "nothing was sent" in captured.out
    assert message in Path("r.json").read_text()
    for text in (line, captured.out, captured.err, Path("r.json").read_text()):
        assert KEYS[1][9:] not in text
        assert KEYS[0][21:] not in text
    assert world.stats.requests == 0


PASTED = "asa_live_" + "P" * 12 + "secretSECRET"  # a key pasted where it does not belong


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["--keys-env", PASTED], {}),
        (["--keys-env", PASTED, "--dry-run"], {}),
        ([], {"ASA_AUTH": PASTED}),
        ([], {"ASA_TIMEOUT": PASTED}),
        (["--env-file", PASTED], {}),
    ],
)
def test_a_key_pasted_into_a_setting_is_never_echoed(
    world: Sandbox,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    env: dict[str, str],
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code = main(["products", "in.txt", *args])
    captured = capsys.readouterr()
    assert code == 2, captured
    assert "secretSECRET" not in captured.err + captured.out
    assert world.stats.requests == 0


def test_a_budget_too_small_for_one_product_is_exit_1_not_3(
    world: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["products", "in.txt", "-o", "out.csv", "--max-credits", "4"]) == 1
    assert "budget_exhausted" in capsys.readouterr().err
    assert world.stats.requests == 0
