from __future__ import annotations

import logging
import pickle
import re
from pathlib import Path

import pytest

from asa_bulk._errors import ConfigError, NoKeysError
from asa_bulk._keys import ApiKey, RedactingFilter, Redactor, key_id_of, resolve_keys
from asa_bulk.sandbox import make_test_keys

SECRET = "asa_live_Tq0x4k9Pd8MnSECRETSECRET"
SECRET2 = "asa_live_Zz9y8x7w6v5uHIDDENHIDDEN"


def test_key_id_is_documented_shortprefix() -> None:
    assert key_id_of(SECRET) == "asa_live_Tq0x4k9Pd8Mn"
    assert key_id_of("asa_test_abcdefghijklmnopqrstuvwx") == "asa_test_abcdefghijkl"
    assert key_id_of("not-a-key-at-all") == "not-…"


def test_api_key_never_prints_its_secret() -> None:
    key = ApiKey(SECRET)
    for text in (str(key), repr(key), repr([key]), f"{key}", repr({"k": key})):
        assert "SECRET" not in text
        assert "asa_live_Tq0x4k9Pd8Mn" in text
    assert key.secret == SECRET
    with pytest.raises(TypeError):
        pickle.dumps(key)


def test_resolve_prefers_argument_then_env_then_dotenv(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text(f"ASA_API_KEYS={SECRET2}\n")
    assert [k.secret for k in resolve_keys()] == [SECRET2]
    monkeypatch.setenv("ASA_API_KEY", SECRET)
    assert [k.secret for k in resolve_keys()] == [SECRET]
    monkeypatch.setenv("ASA_API_KEYS", f"{SECRET2}, {SECRET}\n{SECRET2}")
    assert [k.secret for k in resolve_keys()] == [SECRET2, SECRET]
    assert [k.secret for k in resolve_keys([SECRET])] == [SECRET]
    assert [k.secret for k in resolve_keys(f"{SECRET} {SECRET2}")] == [SECRET, SECRET2]


def test_dotenv_does_not_touch_os_environ(tmp_path: Path) -> None:
    import os

    (tmp_path / ".env").write_text(f"ASA_API_KEY={SECRET}\n")
    assert resolve_keys()[0].secret == SECRET
    assert "ASA_API_KEY" not in os.environ


def test_no_key_anywhere_names_the_variable() -> None:
    with pytest.raises(NoKeysError, match="ASA_API_KEYS"):
        resolve_keys()


def test_bad_key_error_shows_only_key_id() -> None:
    with pytest.raises(ConfigError) as info:
        ApiKey("asa_live_Tq0x4k9Pd8Mn SECRET")
    assert "SECRET" not in str(info.value)


def test_redactor_masks_known_and_key_shaped_text() -> None:
    redactor = Redactor([ApiKey("weird-custom-key-1234567890")])
    out = redactor(f"url?api_key={SECRET}&x=1 Bearer weird-custom-key-1234567890")
    assert "SECRET" not in out
    assert "1234567890" not in out
    assert "asa_live_Tq0x4k9Pd8Mn" in out


def test_logging_filter_masks_args(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("asa_bulk.test")
    logger.addFilter(RedactingFilter())
    with caplog.at_level(logging.DEBUG, logger="asa_bulk.test"):
        logger.debug("sending with %s", SECRET)
    assert "SECRET" not in caplog.text
    assert "asa_live_Tq0x4k9Pd8Mn" in caplog.text


# -- the documented shape: normalised, checked, named by position --------------------------------

GOOD = make_test_keys(3, seed=7)


def secret_bits(text: str) -> list[str]:
    """Every 6-character piece of ``text`` after its prefix (``asa_live_``, ``sk_live_``, ...)."""
    rest = re.sub(r"^\W*(?:[a-z]+_(?:live|test)_)?", "", text)
    return [rest[i : i + 6] for i in range(len(rest) - 5)]


@pytest.mark.parametrize(
    "pasted",
    [
        '"{key}"',
        "'{key}'",
        "\u201c{key}\u201d",  # curly quotes, as a word processor leaves them
        "\u2018{key}\u2019",
        "Bearer {key}",
        "bearer {key}",
        "BEARER   {key}",
        '"Bearer {key}"',
        "  {key}\n",
    ],
)
def test_quotes_and_a_bearer_prefix_are_dropped(pasted: str, tmp_path: Path) -> None:
    key = GOOD[0]
    assert [k.secret for k in resolve_keys([pasted.format(key=key)])] == [key]
    assert [k.secret for k in resolve_keys(pasted.format(key=key))] == [key]
    assert [k.secret for k in resolve_keys(environ={"ASA_API_KEY": pasted.format(key=key)})] == [
        key
    ]
    (tmp_path / "hand.env").write_text(f"ASA_API_KEYS={pasted.format(key=key)}\n")
    assert [k.secret for k in resolve_keys(environ={}, env_file=tmp_path / "hand.env")] == [key]


def test_a_string_of_keys_keeps_each_bearer_with_its_key(tmp_path: Path) -> None:
    a, b, c = GOOD
    for text in (
        f"Bearer {a}, Bearer {b}",
        f"Bearer {a} Bearer {b}",
        f'"{a}", "{b}"',
        f"\u201c{a}, {b}\u201d",
        f"{a},\n bearer {b}",
    ):
        assert [k.secret for k in resolve_keys(text)] == [a, b], text
    (tmp_path / "hand.env").write_text(f"ASA_API_KEYS=\u201cBearer {a}, {b}, {c}\u201d\n")
    found = resolve_keys(environ={}, env_file=tmp_path / "hand.env")
    assert [k.secret for k in found] == [a, b, c]


@pytest.mark.parametrize(
    "bad",
    [
        "sk_live_" + GOOD[1][9:],  # another service's key
        GOOD[1][:-3],  # cut short
        GOOD[1] + "Q7",  # run together with something
        GOOD[1][:20] + "-" + GOOD[1][21:],
        "asa_live_Tq0x4k9Pd8Mn",  # a key_id, not a key
        "asa_test_x",
        "\u201c" + GOOD[1],  # one quote only
    ],
)
def test_a_malformed_key_is_named_by_position_never_by_text(bad: str, tmp_path: Path) -> None:
    a, _, c = GOOD
    messages = []
    with pytest.raises(ConfigError, match=r"^key 2 of 3 \(from ASA_API_KEYS\)") as info:
        resolve_keys(environ={"ASA_API_KEYS": f"{a}, {bad}, {c}"})
    messages.append(str(info.value))
    with pytest.raises(ConfigError, match=r"^key 2 of 3 \(from keys\)") as info:
        resolve_keys([a, bad, c])
    messages.append(str(info.value))
    (tmp_path / "x.env").write_text(f"ASA_API_KEY={a} {bad} {c}\n")
    with pytest.raises(ConfigError, match=r"^key 2 of 3 \(from ASA_API_KEY in ") as info:
        resolve_keys(environ={}, env_file=tmp_path / "x.env")
    messages.append(str(info.value))
    for message in messages:
        assert "24 letters or digits" in message
        assert bad not in message
        for bit in secret_bits(bad):
            assert bit not in message, message


def test_a_bearer_without_its_key_is_not_sent() -> None:
    with pytest.raises(ConfigError, match=r"^key 3 of 3 \(from keys\)"):
        resolve_keys(f"{GOOD[0]} Bearer {GOOD[1]} Bearer")
    with pytest.raises(ConfigError, match=r"^key 2 of 2 \(from keys\)"):
        resolve_keys([GOOD[0], "Bearer"])


def test_api_key_objects_are_checked_too() -> None:
    with pytest.raises(ConfigError, match=r"^key 1 of 1 \(from keys\)"):
        resolve_keys([ApiKey("asa_live_short")])
    with pytest.raises(ConfigError, match=r"^key 2 of 2 \(from keys\)"):
        resolve_keys([GOOD[0], 42])  # type: ignore[list-item]


def test_more_keys_than_a_workspace_holds_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    many = make_test_keys(21, seed=3)
    with caplog.at_level(logging.WARNING, logger="asa_bulk"):
        assert len(resolve_keys(many[:20] + many[:5])) == 20  # duplicates are not counted
    assert not caplog.records
    with caplog.at_level(logging.WARNING, logger="asa_bulk"):
        assert len(resolve_keys(many)) == 21
    assert len(caplog.records) == 1
    assert "21 API keys" in caplog.text
    assert "at most 20" in caplog.text
    for key in many:
        assert key[21:] not in caplog.text


@pytest.mark.parametrize("empty", [[], "", " , ", ()])
def test_explicitly_empty_keys_are_an_error_not_a_fall_back(empty: object) -> None:
    with pytest.raises(NoKeysError, match=r"^keys "):
        resolve_keys(empty, environ={"ASA_API_KEYS": GOOD[0]})  # type: ignore[arg-type]


def test_a_variable_set_to_only_separators_is_an_error_not_a_fall_back(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"ASA_API_KEYS={GOOD[0]}\n")
    for name in ("ASA_API_KEYS", "ASA_API_KEY"):
        for blank in (" ", " , ,", "\n"):
            with pytest.raises(NoKeysError, match=f"^{name} "):
                resolve_keys(environ={name: blank, "ASA_API_KEY": GOOD[1]} | {name: blank})
    (tmp_path / "blank.env").write_text('ASA_API_KEYS=" , "\nASA_API_KEY=' + GOOD[1] + "\n")
    with pytest.raises(NoKeysError, match=r"^ASA_API_KEYS in "):
        resolve_keys(environ={}, env_file=tmp_path / "blank.env")
    # An empty value is how a shell unsets a variable for one command: it is not "set".
    assert [k.secret for k in resolve_keys(environ={"ASA_API_KEYS": ""})] == [GOOD[0]]


@pytest.mark.parametrize(
    "short", ["asa_live_", "asa_live_x", "asa_live_Tq0x4k9Pd8Mn", "asa_test_Tq0x4k9Pd8MnSECRET"]
)
def test_a_string_too_short_to_hide_anything_is_masked(short: str) -> None:
    shown = {key_id_of(short), repr(ApiKey(short)), str(ApiKey(short))}
    for text in shown:
        assert short[9:] not in text or not short[9:]
        assert short[:9] + "…" in text
    assert key_id_of("abc") == "…"
    assert key_id_of("sk_live_" + GOOD[0][9:]) == "sk_l…"


def test_redactor_still_masks_known_keys_of_any_length() -> None:
    redactor = Redactor([ApiKey("asa_live_short9"), ApiKey("tiny-custom-key")])
    out = redactor("sent asa_live_short9 and tiny-custom-key, then asa_live_short9 again")
    assert "short9" not in out
    assert "custom" not in out
