from __future__ import annotations

import logging
import pickle
from pathlib import Path

import pytest

from asa_bulk._errors import ConfigError, NoKeysError
from asa_bulk._keys import ApiKey, RedactingFilter, Redactor, key_id_of, resolve_keys

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
