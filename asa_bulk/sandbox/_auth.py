"""Who is calling: key extraction (three documented ways), acceptance and revocation.

Precedence when several are sent (undocumented; the API reference suggests this order):
``?api_key=`` query parameter, then ``Authorization: Bearer``, then ``X-API-Key``.
Only key_ids (``asa_test_`` + 12 characters) ever leave this module.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from asa_bulk._keys import SHORTPREFIX_CHARS, is_key_shaped, key_id_of

from ._settings import SandboxSettings

TEST_PREFIX: Final = "asa_test_"
_ALPHABET: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def make_test_keys(n: int, seed: int = 0) -> list[str]:
    """``n`` distinct well-formed ``asa_test_`` keys with distinct key_ids, fixed by ``seed``."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be an integer >= 0, got {n!r}")
    keys: list[str] = []
    seen: set[str] = set()
    counter = 0
    while len(keys) < n:
        digest = int.from_bytes(
            hashlib.sha256(f"asa-sandbox-key:{seed}:{counter}".encode()).digest(), "big"
        )
        counter += 1
        chars = []
        for _ in range(24):
            digest, rem = divmod(digest, 62)
            chars.append(_ALPHABET[rem])
        key = TEST_PREFIX + "".join(chars)
        if key_id_of(key) not in seen:
            seen.add(key_id_of(key))
            keys.append(key)
    return keys


def _ref_id(ref: str) -> str:
    """The key_id a revocation names, given a whole key or a key_id. (``key_id_of`` masks a
    key_id-long string, which could be a short secret, so it cannot serve for a key_id.)"""
    return ref[: len(TEST_PREFIX) + SHORTPREFIX_CHARS]


def mask(key_id: str) -> str:
    """The short masked form the 429 message uses: ``asa_live_Tq0x...``."""
    return key_id[: key_id.index("_", 4) + 5] + "..." if key_id.startswith("asa_") else "asa_..."


def extract_key(query: Mapping[str, str], headers: Mapping[str, str]) -> str | None:
    """The key the request presents, or None when none is sent (or Authorization is not Bearer)."""
    key = query.get("api_key")
    if key:
        return key
    auth = headers.get("Authorization")
    if auth:
        scheme, _, token = auth.strip().partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return headers.get("X-API-Key") or None


@dataclass(frozen=True)
class AuthResult:
    """Outcome of one check: ``key_id`` is set when the key was recognised (even if revoked)."""

    error: str | None  # None, "unauthorized" or "revoked"
    key_id: str | None
    message: str = ""


class KeyBook:
    """Accepted and revoked keys of one sandbox; thread-safe for ``revoke`` from other threads."""

    def __init__(self, settings: SandboxSettings, now: float) -> None:
        self._explicit = frozenset(settings.keys) if settings.keys is not None else None
        self._revoked: set[str] = {_ref_id(ref) for ref in settings.revoked}
        self._after = {_ref_id(ref): n for ref, n in settings.revoke_after.items()}
        self._at = {_ref_id(ref): now + t for ref, t in settings.revoke_at.items()}
        self._presented: dict[str, int] = {}
        self._lock = threading.Lock()

    def revoke(self, ref: str) -> str:
        """Revoke a key (given whole or as its key_id); returns the key_id."""
        key_id = _ref_id(ref)
        if (
            not key_id.startswith(("asa_live_", "asa_test_"))
            or len(key_id) != len(TEST_PREFIX) + 12
        ):
            raise ValueError("revoke() takes a key or a key_id (asa_test_ + 12 characters)")
        with self._lock:
            self._revoked.add(key_id)
        return key_id

    def unrevoke_all(self, refs: Iterable[str]) -> None:
        """Reinstate keys (used by tests that reuse one sandbox)."""
        with self._lock:
            for ref in refs:
                self._revoked.discard(_ref_id(ref))

    def check(self, key: str | None, now: float) -> AuthResult:
        """Accept, reject or flag as revoked the key a request presents."""
        if key is None:
            return AuthResult("unauthorized", None, "Missing or malformed API key")
        if self._explicit is not None:
            if key not in self._explicit:
                if not is_key_shaped(key):
                    return AuthResult("unauthorized", None, "Missing or malformed API key")
                return AuthResult("unauthorized", None, f"Unknown API key {key_id_of(key)}")
        elif not (key.startswith(TEST_PREFIX) and is_key_shaped(key)):
            return AuthResult(
                "unauthorized",
                None,
                "Missing or malformed API key (the sandbox accepts asa_test_ + 24 letters/digits)",
            )
        key_id = key_id_of(key)
        with self._lock:
            if key_id in self._revoked:
                return AuthResult("revoked", key_id, f"API key {key_id} has been revoked")
            limit = self._after.get(key_id)
            if limit is not None:
                seen = self._presented.get(key_id, 0)
                if seen >= limit:
                    self._revoked.add(key_id)
                    return AuthResult("revoked", key_id, f"API key {key_id} has been revoked")
                self._presented[key_id] = seen + 1
            deadline = self._at.get(key_id)
            if deadline is not None and now >= deadline:
                self._revoked.add(key_id)
                return AuthResult("revoked", key_id, f"API key {key_id} has been revoked")
        return AuthResult(None, key_id)
