"""Durable, resumable storage of finished lookups (``fetch_products(..., checkpoint=...)``).

The engine calls :meth:`CheckpointStore.load` once at start (requests whose stored record is
``ResultRecord.final`` are not sent again: ``ok``/``not_found``/``invalid``, or billed but
unusable) and :meth:`CheckpointStore.record` for every finished request as it arrives. The
default store is one SQLite file in WAL mode, one row per request
ident (latest result wins), holding :meth:`ResultRecord.to_json` as JSON text. Records carry a
key's ``key_id`` only, never the key, so a checkpoint file is safe to keep and share.

Why SQLite: a commit is atomic and survives a killed process (no torn lines to repair, unlike an
append-only JSON lines file), upserts keep one row per request however often a run is resumed,
and it needs nothing beyond the standard library.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Literal, Protocol, runtime_checkable

from ._errors import CheckpointWriteError, ConfigError
from ._log import get_logger
from ._records import ResultRecord

logger = get_logger(__name__)

#: Written to SQLite's ``application_id`` header field: marks the file as an asa_bulk checkpoint.
APPLICATION_ID = 0x41534142  # "ASAB"
#: Bumped whenever the table layout or the record JSON changes incompatibly.
SCHEMA_VERSION = 1
_PAGE = 1000  # rows per read in load()

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    ident      TEXT PRIMARY KEY,
    status     TEXT NOT NULL,
    record     TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


def encode_record(record: ResultRecord) -> str:
    """``record.to_json()`` as compact JSON text that encodes to UTF-8 (what SQLite stores)."""
    # default=str: a stray non-JSON value in a product must not lose the whole record.
    data = record.to_json()
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    if not text.isascii():  # O(1); only non-ASCII text pays for the encode below
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            # A lone surrogate: JSON allows "\ud800", and aiohttp turns a header's undecodable
            # bytes into them. Escaped as \uXXXX it reads back exactly.
            text = json.dumps(data, separators=(",", ":"), default=str)
    return text


@runtime_checkable
class CheckpointStore(Protocol):
    """Where finished results are kept so that a re-run skips them."""

    def load(self) -> Iterator[ResultRecord]:
        """Every record stored so far, one (the latest) per ``request.ident``."""
        ...

    def record(self, record: ResultRecord) -> None:
        """Store one finished record; it is durable (survives kill -9) once this returns."""
        ...

    def close(self) -> None:
        """Release the store; further calls to :meth:`record` are errors."""
        ...


class SqliteCheckpoint:
    """A :class:`CheckpointStore` in one SQLite file (created, with parent folders, if missing).

    ``synchronous="NORMAL"`` (default): in WAL mode each commit is appended to the ``-wal`` file
    with a plain ``write()``, without fsync. The data is then in the OS page cache, so it survives
    the process being killed (kill -9, OOM killer, a crash) — the failure a bulk job actually
    meets — and the database stays consistent even after a power cut, which can only lose the
    last few commits (those requests are simply sent again on resume). ``"FULL"`` fsyncs the WAL
    on every commit: it also survives power loss, at the price of one disk flush per record
    (typically 100 to 1000 records/s instead of tens of thousands).

    The file is locked for the store's lifetime: one run per checkpoint (the OS drops the lock
    when the process dies). Raises :class:`ConfigError` naming the path when the file is not a
    checkpoint, has another schema version, cannot be written, or is in use by another run.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
    ) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise ConfigError(f"synchronous must be 'NORMAL' or 'FULL', got {synchronous!r}")
        self.path = Path(path)
        # The engine may call record() from a worker thread; one lock keeps the connection serial.
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        try:
            if self.path.is_dir():
                raise ConfigError(f"checkpoint {self.path} is a directory, not a file")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: autocommit, so every record() is its own committed transaction.
            # timeout: a checkpoint locked by another run fails fast (see EXCLUSIVE below).
            conn = sqlite3.connect(
                self.path, timeout=0.2, isolation_level=None, check_same_thread=False
            )
            self._conn = conn
            # EXCLUSIVE: one run per checkpoint. Two runs sharing one would both send (and pay
            # for) the same requests; the second now fails at start instead. It also skips the
            # shared-memory index and per-commit file locks (~30% faster writes).
            conn.execute("PRAGMA locking_mode = EXCLUSIVE")
            self._check_identity(conn)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {synchronous}")
            conn.executescript(_SCHEMA)
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            # A real write now, so a read-only file or folder fails here, not mid-run.
            conn.execute(
                "INSERT OR REPLACE INTO meta(name, value) VALUES ('opened_at', ?)",
                (str(time.time()),),
            )
        except ConfigError:
            self._abort()
            raise
        except sqlite3.OperationalError as exc:
            self._abort()
            if "locked" in str(exc):
                raise ConfigError(
                    f"checkpoint {self.path} is in use by another running asa_bulk job "
                    "(wait for it to finish or use another path)"
                ) from None
            raise ConfigError(f"cannot use checkpoint {self.path}: {exc}") from None
        except (sqlite3.Error, OSError) as exc:
            self._abort()
            raise ConfigError(f"cannot use checkpoint {self.path}: {exc}") from None

    def _check_identity(self, conn: sqlite3.Connection) -> None:
        try:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            if "locked" in str(exc):
                raise
            raise ConfigError(
                f"checkpoint {self.path} is not an asa_bulk checkpoint (not an SQLite database)"
            ) from None
        if app_id == 0 and tables == 0:
            return  # a new (or empty) file: it becomes a checkpoint
        if app_id != APPLICATION_ID:
            raise ConfigError(
                f"checkpoint {self.path} is an SQLite database but not an asa_bulk checkpoint"
            )
        if version != SCHEMA_VERSION:
            raise ConfigError(
                f"checkpoint {self.path} has schema version {version}, this asa_bulk reads "
                f"version {SCHEMA_VERSION}: finish it with the matching asa_bulk or use a new path"
            )

    def bind_origin(
        self, base_url: str, key_ids: Sequence[str], *, allow_change: bool = False
    ) -> None:
        """Tie the checkpoint to the service its results come from (first use records it).

        A resume against another ``base_url`` would serve that service's results as this
        run's (sandbox fixtures as real products, say): :class:`ConfigError` unless
        ``allow_change``. The key ids are recorded for the report; keys rotate, so a changed
        set is only logged.
        """
        stored = self._meta("base_url")
        if stored is not None and stored != base_url:
            if not allow_change:
                raise ConfigError(
                    f"checkpoint {self.path} holds results from {stored}, but this run uses "
                    f"{base_url}: resuming would serve those results as this service's. Use "
                    "another checkpoint, or allow it explicitly (--allow-origin-change, "
                    "allow_origin_change=True) if both are the same service"
                )
            logger.warning(
                "checkpoint %s: resuming against %s (was %s)", self.path, base_url, stored
            )
        ids = json.dumps(sorted(set(key_ids)))
        previous = self._meta("key_ids")
        if previous is not None and previous != ids:
            logger.info("checkpoint %s: the key set changed since the last run", self.path)
        self._set_meta("base_url", base_url)
        self._set_meta("key_ids", ids)

    def _meta(self, name: str) -> str | None:
        with self._lock:
            row = (
                self._connection()
                .execute("SELECT value FROM meta WHERE name = ?", (name,))
                .fetchone()
            )
        return None if row is None else str(row[0])

    def _set_meta(self, name: str, value: str) -> None:
        with self._lock:
            try:
                self._connection().execute(
                    "INSERT OR REPLACE INTO meta(name, value) VALUES (?, ?)", (name, value)
                )
            except (sqlite3.Error, OSError) as exc:
                raise ConfigError(f"cannot use checkpoint {self.path}: {exc}") from None

    def origin(self) -> str | None:
        """The ``base_url`` this checkpoint's results come from (None: not recorded yet)."""
        return self._meta("base_url")

    def _abort(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ConfigError(f"checkpoint {self.path} is closed")
        return self._conn

    def load(self) -> Iterator[ResultRecord]:
        """Every stored record (one per request ident), oldest first.

        Read in pages, so a million-row checkpoint never sits in memory as text at once.
        """
        last = -1
        while True:
            with self._lock:
                rows = (
                    self._connection()
                    .execute(
                        "SELECT rowid, record FROM records WHERE rowid > ? ORDER BY rowid LIMIT ?",
                        (last, _PAGE),
                    )
                    .fetchall()
                )
            for rowid, text in rows:
                last = rowid
                yield ResultRecord.from_json(json.loads(text))
            if len(rows) < _PAGE:
                return

    def record(self, record: ResultRecord) -> None:
        """Upsert ``record`` under its request ident and commit (durable when this returns)."""
        text = encode_record(record)
        with self._lock:
            connection = self._connection()
            try:
                connection.execute(
                    "INSERT OR REPLACE INTO records(ident, status, record, updated_at) "
                    "VALUES (?, ?, ?, ?)",
                    (record.request.ident, record.status, text, time.time()),
                )
            except (sqlite3.Error, OSError) as exc:
                raise CheckpointWriteError(f"cannot write checkpoint {self.path}: {exc}") from None

    def status_counts(self) -> dict[str, int]:
        """How many stored records have each status (cheap: no JSON decoding)."""
        with self._lock:
            rows = self._connection().execute(
                "SELECT status, count(*) FROM records GROUP BY status"
            )
            return {str(status): int(count) for status, count in rows.fetchall()}

    def close(self) -> None:
        """Close the file (idempotent). The last connection to close folds the WAL back in."""
        with self._lock:
            self._abort()

    def __len__(self) -> int:
        with self._lock:
            row = self._connection().execute("SELECT count(*) FROM records").fetchone()
        return int(row[0])

    def __enter__(self) -> SqliteCheckpoint:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SqliteCheckpoint({str(self.path)!r})"


def open_checkpoint(target: str | os.PathLike[str] | CheckpointStore) -> CheckpointStore:
    """A path opens (or creates) a :class:`SqliteCheckpoint`; a store object is returned as is."""
    if isinstance(target, str | os.PathLike):
        return SqliteCheckpoint(target)
    if isinstance(target, CheckpointStore):
        return target
    raise ConfigError(
        "checkpoint must be a file path or an object with load(), record() and close(), "
        f"got {type(target).__name__}"
    )
