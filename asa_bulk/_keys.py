"""API keys: a masked value type, resolution from arguments/env/.env, and redaction.

A key's only printable form is its *key_id*, the documented shortprefix: the prefix
(``asa_live_`` or ``asa_test_``) plus the next 12 characters. Everything that might print a key
(reprs, exceptions, log records, error rows) goes through :class:`ApiKey` or :func:`redact`.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from dotenv import dotenv_values

from ._errors import ConfigError, NoKeysError

ENV_KEYS = "ASA_API_KEYS"
ENV_KEY = "ASA_API_KEY"

LIVE_PREFIX = "asa_live_"
TEST_PREFIX = "asa_test_"
KEY_PREFIXES = (LIVE_PREFIX, TEST_PREFIX)
SHORTPREFIX_CHARS = 12
_KEY_SPLIT = re.compile(r"[\s,]+")


def key_id_of(secret: str) -> str:
    """The documented shortprefix of a key (``asa_live_`` + 12 characters), safe to show.

    A string without a known prefix is reduced to its first 4 characters and a mask, so even a
    mistyped key never prints whole.
    """
    for prefix in KEY_PREFIXES:
        if secret.startswith(prefix):
            return secret[: len(prefix) + SHORTPREFIX_CHARS]
    return secret[:4] + "…"


class ApiKey:
    """One workspace API key. ``str()``/``repr()`` show only the key_id; ``.secret`` is the key."""

    __slots__ = ("_secret", "key_id")

    def __init__(self, secret: str) -> None:
        secret = secret.strip()
        if not secret:
            raise ConfigError("an API key is empty")
        if any(ch.isspace() for ch in secret) or not secret.isprintable():
            raise ConfigError(
                f"API key {key_id_of(secret)!r} contains whitespace or control characters"
            )
        self._secret = secret
        self.key_id = key_id_of(secret)

    @property
    def secret(self) -> str:
        """The full key, for the Authorization header only."""
        return self._secret

    def __repr__(self) -> str:
        return f"ApiKey({self.key_id!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ApiKey) and other._secret == self._secret

    def __hash__(self) -> int:
        return hash(self._secret)

    def __reduce__(self) -> tuple[object, ...]:
        # Pickling would copy the secret into wherever the pickle goes (checkpoints, caches).
        raise TypeError("ApiKey objects cannot be pickled")


def split_keys(text: str) -> list[str]:
    """Split a comma- or whitespace-separated list of keys, dropping empty entries."""
    return [part for part in _KEY_SPLIT.split(text) if part]


def _from_mapping(values: Mapping[str, str | None]) -> list[str]:
    for name in (ENV_KEYS, ENV_KEY):
        raw = values.get(name)
        if raw and split_keys(raw):
            return split_keys(raw)
    return []


def resolve_keys(
    keys: Iterable[str | ApiKey] | str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    env_file: str | os.PathLike[str] | None = ".env",
) -> list[ApiKey]:
    """Find the API keys to use, in this order, first match wins:

    1. ``keys`` (a list of keys, or one string of comma/whitespace-separated keys);
    2. ``ASA_API_KEYS`` (comma or whitespace separated), else ``ASA_API_KEY``, in the environment;
    3. the same names in ``env_file`` (default ``.env`` in the working directory), read with
       python-dotenv without touching ``os.environ``.

    Duplicates are dropped (keeping order). Raises :class:`NoKeysError` when nothing is found.
    """
    if isinstance(keys, str):
        raw: list[str | ApiKey] = list(split_keys(keys))
    elif keys is not None:
        raw = list(keys)
    else:
        raw = []
    if not raw:
        raw = list(_from_mapping(os.environ if environ is None else environ))
    if not raw and env_file is not None and Path(env_file).is_file():
        raw = list(_from_mapping(dotenv_values(env_file)))
    if not raw:
        raise NoKeysError(
            f"no API key found: pass keys=[...], or set {ENV_KEYS} (comma-separated) or {ENV_KEY} "
            "in the environment or in a .env file"
        )
    unique: dict[ApiKey, None] = {}
    for item in raw:
        if not isinstance(item, ApiKey | str):
            raise ConfigError(f"keys must be strings, got {type(item).__name__}")
        unique.setdefault(item if isinstance(item, ApiKey) else ApiKey(item), None)
    return list(unique)


class Redactor:
    """Replaces every known key (and anything shaped like a key) with its key_id."""

    # Anything that looks like a full key, known or not: the prefix plus a long token.
    _KEY_SHAPE = re.compile(r"asa_(?:live|test)_[A-Za-z0-9_\-]{13,}")

    def __init__(self, keys: Iterable[ApiKey] = ()) -> None:
        self._secrets = {key.secret: key.key_id for key in keys}

    def add(self, keys: Iterable[ApiKey]) -> None:
        for key in keys:
            self._secrets[key.secret] = key.key_id

    def __call__(self, text: str) -> str:
        for secret, key_id in self._secrets.items():
            if secret in text:
                text = text.replace(secret, key_id + "…")
        return self._KEY_SHAPE.sub(lambda m: key_id_of(m.group(0)) + "…", text)


#: One process-wide redactor: every run registers its keys here, and they stay registered (a
#: later log line or traceback could still quote them; the cost is a few bytes per key).
REDACTOR = Redactor()


def redact(text: str) -> str:
    """Mask every registered key and anything shaped like a key in ``text``."""
    return REDACTOR(text)


class RedactingFilter(logging.Filter):
    """A logging filter that masks keys in a record's message and arguments.

    asa_bulk installs it on its own logger; add it to your handlers to protect third-party
    log lines too (``handler.addFilter(asa_bulk.RedactingFilter())``).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return True
