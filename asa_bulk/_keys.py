"""API keys: a masked value type, resolution from arguments/env/.env, and redaction.

A key's only printable form is its *key_id*, the documented shortprefix: the prefix
(``asa_live_`` or ``asa_test_``) plus the next 12 characters. Everything that might print a key
(reprs, exceptions, log records, error rows) goes through :class:`ApiKey` or :func:`redact`.

Keys as found (in a hand-edited ``.env``, pasted from a dashboard or a curl line) are normalised
(one pair of quotes and a ``Bearer `` prefix dropped) and must then have the documented shape,
:data:`KEY_SHAPE`; a bad one is a ConfigError naming its position, never its text.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from typing import Final

from ._envfile import DEFAULT_ENV_FILE, read_env_file
from ._errors import ConfigError, NoKeysError

ENV_KEYS = "ASA_API_KEYS"
ENV_KEY = "ASA_API_KEY"

LIVE_PREFIX = "asa_live_"
TEST_PREFIX = "asa_test_"
KEY_PREFIXES = (LIVE_PREFIX, TEST_PREFIX)
SHORTPREFIX_CHARS = 12
#: The documented shape of a key: a prefix, then 24 letters or digits (API reference §1.2).
KEY_SHAPE: Final = re.compile(r"asa_(?:live|test)_[A-Za-z0-9]{24}")
#: A workspace holds at most this many active keys.
MAX_WORKSPACE_KEYS: Final = 20
_KEY_SPLIT = re.compile(r"[\s,]+")
_BEARER = re.compile(r"bearer\s+", re.IGNORECASE)
#: Opening quote -> its closing quote: straight ones, and the curly ones editors substitute.
_QUOTES: Final = {'"': '"', "'": "'", "\u201c": "\u201d", "\u2018": "\u2019", "\u201e": "\u201c"}


def any_live(keys: Iterable[ApiKey]) -> bool:
    """Whether any of ``keys`` is a live key: such a run never serves the sandbox's results."""
    return any(key.key_id.startswith(LIVE_PREFIX) for key in keys)


def key_id_of(secret: str) -> str:
    """The documented shortprefix of a key (``asa_live_`` + 12 characters), safe to show.

    Only a string that keeps at least as much hidden as it shows gets one (a key of the
    documented shape does); a shorter one is just its prefix and a mask (``asa_live_…``). A
    string without a known prefix is reduced to its first 4 characters (none if it is short) and
    a mask, so even a mistyped key never prints whole.
    """
    for prefix in KEY_PREFIXES:
        if secret.startswith(prefix):
            if len(secret) < len(prefix) + 2 * SHORTPREFIX_CHARS:
                return prefix + "…"
            return secret[: len(prefix) + SHORTPREFIX_CHARS]
    return secret[:4] + "…" if len(secret) >= 12 else "…"  # 4 shown, at least 8 hidden


def is_key_shaped(key: str) -> bool:
    """True for ``asa_live_``/``asa_test_`` + exactly 24 letters or digits."""
    return KEY_SHAPE.fullmatch(key) is not None


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


def _unquote(text: str) -> str:
    """``text`` without one pair of surrounding quotes (as left by a hand-edited ``.env``).

    The same quotes inside mean the ends are not one pair (``"k1", "k2"``).
    """
    if len(text) < 2 or _QUOTES.get(text[0]) != text[-1]:
        return text
    inner = text[1:-1]
    return text if text[0] in inner or text[-1] in inner else inner.strip()


def normalize_key(text: str) -> str:
    """A key as pasted, without surrounding space, one pair of quotes and a ``Bearer `` prefix."""
    text = _unquote(text.strip())
    bearer = _BEARER.match(text)
    return text[bearer.end() :] if bearer else text


def split_keys(text: str) -> list[str]:
    """Split a comma- or whitespace-separated list of keys, dropping empty entries.

    A ``Bearer`` stays with the key after it: ``"Bearer k1, Bearer k2"`` is two entries.
    """
    parts: list[str] = []
    for part in _KEY_SPLIT.split(_unquote(text.strip())):
        if not part:
            continue
        if parts and parts[-1].lstrip("".join(_QUOTES)).lower() == "bearer":
            parts[-1] += " " + part
        else:
            parts.append(part)
    return parts


def _shape_problem(secret: str) -> str | None:
    """What keeps ``secret`` from the documented shape (None: nothing), without quoting it."""
    if is_key_shaped(secret):
        return None
    prefix = next((p for p in KEY_PREFIXES if secret.startswith(p)), None)
    if prefix is None:
        return "starts with neither asa_live_ nor asa_test_ (another service's key?)"
    rest = secret[len(prefix) :]
    if rest and not (rest.isascii() and rest.isalnum()):
        return f"has characters other than letters and digits after {prefix}"
    return f"has {len(rest)} characters after {prefix}, not 24"


def parse_keys(keys: Iterable[str | ApiKey] | str, *, source: str) -> list[ApiKey]:
    """The keys in ``keys`` (one string of comma/whitespace-separated keys, or an iterable of
    keys) from ``source``, normalised, checked and without duplicates.

    A malformed key is a ConfigError naming it by position ("key 2 of 3 (from ASA_API_KEYS)");
    no key at all is a NoKeysError naming ``source``: a value given but empty is not "unset".
    """
    entries: list[str | ApiKey] = list(split_keys(keys) if isinstance(keys, str) else keys)
    if not entries:
        raise NoKeysError(f"{source} is given but holds no API key")
    unique: dict[ApiKey, None] = {}
    for number, entry in enumerate(entries, 1):
        where = f"key {number} of {len(entries)} (from {source})"
        if isinstance(entry, ApiKey):
            secret = entry.secret
        elif isinstance(entry, str):
            secret = normalize_key(entry)
        else:
            raise ConfigError(f"{where} is a {type(entry).__name__}, not a string")
        problem = _shape_problem(secret)
        if problem is not None:
            raise ConfigError(
                f"{where} is not an Amazon Scraper API key: it {problem}; a key is asa_live_ or "
                "asa_test_ followed by 24 letters or digits"
            )
        unique.setdefault(entry if isinstance(entry, ApiKey) else ApiKey(secret), None)
    return list(unique)


def _from_mapping(values: Mapping[str, str | None], where: str) -> list[ApiKey] | None:
    """The keys of ``ASA_API_KEYS``, else ``ASA_API_KEY``; None when neither is set.

    An empty value counts as unset (``ASA_API_KEYS= cmd`` is how a shell unsets it for one
    command); one holding only separators or spaces is an error, not a fall-back.
    """
    for name in (ENV_KEYS, ENV_KEY):
        raw = values.get(name)
        if raw:
            return parse_keys(raw, source=name + where)
    return None


def resolve_keys(
    keys: Iterable[str | ApiKey] | str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    env_file: str | os.PathLike[str] | None = DEFAULT_ENV_FILE,
) -> list[ApiKey]:
    """Find the API keys to use, in this order, first match wins:

    1. ``keys`` (a list of keys, or one string of comma/whitespace-separated keys); given but
       empty is an error, not a fall-back;
    2. ``ASA_API_KEYS`` (comma or whitespace separated), else ``ASA_API_KEY``, in the environment;
    3. the same names in ``env_file`` (default ``.env`` in the working directory, if present; a
       file given must exist), read with python-dotenv without touching ``os.environ``.

    Each key is normalised and checked (see :func:`parse_keys`); duplicates are dropped (keeping
    order). Raises :class:`NoKeysError` when nothing is found, :class:`ConfigError` for a
    malformed key, and warns when there are more keys than a workspace holds.
    """
    dotenv = read_env_file(env_file)  # first: a missing env_file given is an error in any case
    found: list[ApiKey] | None
    if keys is not None:
        found = parse_keys(keys, source="keys")
    else:
        found = _from_mapping(os.environ if environ is None else environ, "")
        if found is None:
            found = _from_mapping(dotenv, f" in {env_file}")
    if not found:
        raise NoKeysError(
            f"no API key found: pass keys=[...], or set {ENV_KEYS} (comma-separated) or {ENV_KEY} "
            "in the environment or in a .env file"
        )
    if len(found) > MAX_WORKSPACE_KEYS:
        from ._log import get_logger  # _log imports this module

        get_logger(__name__).warning(
            "%d API keys given, but a workspace holds at most %d: some are probably revoked or "
            "from another workspace",
            len(found),
            MAX_WORKSPACE_KEYS,
        )
    return found


class Redactor:
    """Replaces every known key (and anything shaped like a key) with its key_id."""

    # Anything that looks like a full key, known or not: the prefix plus a long token.
    _KEY_SHAPE = re.compile(r"asa_(?:live|test)_[A-Za-z0-9_\-]{13,}")
    # A batch's webhook signature secret (returned once, kept in the checkpoint only).
    _SECRET_SHAPE = re.compile(r"whsec_[A-Za-z0-9_\-]+")

    def __init__(self, keys: Iterable[ApiKey] = ()) -> None:
        self._secrets = {key.secret: key.key_id for key in keys}

    def add(self, keys: Iterable[ApiKey]) -> None:
        for key in keys:
            self._secrets[key.secret] = key.key_id

    def __call__(self, text: str) -> str:
        for secret, key_id in self._secrets.items():
            if secret in text:
                text = text.replace(secret, _masked(key_id))
        text = self._KEY_SHAPE.sub(lambda m: _masked(key_id_of(m.group(0))), text)
        return self._SECRET_SHAPE.sub("whsec_…", text) if "whsec_" in text else text


def _masked(key_id: str) -> str:
    """A key_id as it replaces its key in text: with a trailing mask, once."""
    return key_id if key_id.endswith("…") else key_id + "…"


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
