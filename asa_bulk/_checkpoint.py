"""Durable, resumable storage of finished lookups (``fetch_products(..., checkpoint=...)``).

A store of your own needs only :class:`CheckpointStore`'s ``load``/``record``/``close``: the
engine loads every record once at start (requests whose record is ``ResultRecord.final`` are
not sent again: ``ok``/``not_found``/``invalid``, or billed but unusable) and records each
finished request as it arrives. Two optional extras, used when present
(:class:`ResumableCheckpoint`), let a resume read lazily instead of loading everything:
``lookup(idents)`` answers a block of request idents with their stored records and the run
each was written in, and ``begin_run()`` numbers the runs, so results written earlier in this
same run (shared by duplicate input rows) are told apart from those of earlier runs.

The default store is one SQLite file in WAL mode, one row per request ident (latest result
wins): the ident, the run, the status (cheap counts) and the record itself, compressed
(``_checkpoint_format``: ~1 KB per product row instead of 4.3 KB as JSON text). One ``meta``
entry, ``job``, holds the job's identity as JSON: the ``base_url`` its results come from, the
key ids, the schema version, ``created_at`` and the run counter. Records carry a key's
``key_id`` only, never the key, so a checkpoint file is safe to keep and share. A file of the
previous release (schema version 1: each record as JSON text) is migrated in place when opened,
in one transaction, so a job started before an upgrade resumes without paying twice.

Beside the records, a checkpoint can keep outputs derived from them (``keep_derived``: the
CLI keeps its parquet parts, so that a resume writes a finished chunk without rebuilding it),
each valid until a stored record changes.

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
from typing import Any, Literal, Protocol, runtime_checkable

from ._checkpoint_format import (
    APPLICATION_ID,
    MIGRATES_FROM,
    PAGE,
    SCHEMA_VERSION,
    create,
    encode_record,
    ensure_derived,
    migrate,
    pack,
    read_job,
    schema_version,
    unpack,
    write_job,
)
from ._errors import CheckpointWriteError, ConfigError
from ._log import get_logger
from ._records import ResultRecord

__all__ = [
    "APPLICATION_ID",
    "SCHEMA_VERSION",
    "CheckpointStore",
    "ResumableCheckpoint",
    "SqliteCheckpoint",
    "encode_record",
    "open_checkpoint",
]

logger = get_logger(__name__)

_LOOKUP_CHUNK = 500  # idents per query in lookup(): under SQLite's old 999-parameter limit
# WAL pages (4 KB) between checkpoints (SQLite's default: 1,000). Each checkpoint copies the
# pages back and fsyncs; ten times fewer of them halve a write's wall time (measured) for a
# WAL of up to ~40 MB, folded back into the file on close.
_WAL_PAGES = 10_000


@runtime_checkable
class CheckpointStore(Protocol):
    """Where finished results are kept so that a re-run skips them (the required minimum)."""

    def load(self) -> Iterator[ResultRecord]:
        """Every record stored so far, one (the latest) per ``request.ident``."""
        ...

    def record(self, record: ResultRecord) -> None:
        """Store one finished record; it is durable (survives kill -9) once this returns."""
        ...

    def close(self) -> None:
        """Release the store; further calls to :meth:`record` are errors."""
        ...


@runtime_checkable
class ResumableCheckpoint(CheckpointStore, Protocol):
    """A store the engine can read lazily: the optional extras of :class:`CheckpointStore`."""

    def begin_run(self) -> int:
        """Start a run: bump the stored run counter and return it; records carry it from now."""
        ...

    def lookup(self, idents: Sequence[str]) -> dict[str, tuple[ResultRecord, int]]:
        """For each of ``idents`` that is stored: its record and the run it was written in."""
        ...


class SqliteCheckpoint:
    """A :class:`ResumableCheckpoint` in one SQLite file (created, with parent folders, if missing).

    ``synchronous="NORMAL"`` (default): in WAL mode each commit is appended to the ``-wal`` file
    with a plain ``write()``, without fsync. The data is then in the OS page cache, so it survives
    the process being killed (kill -9, OOM killer, a crash) — the failure a bulk job actually
    meets — and the database stays consistent even after a power cut, which can only lose the
    commits since the last WAL checkpoint (at most a few thousand records, every ~40 MB of WAL;
    those requests are simply sent again on resume). ``"FULL"`` fsyncs the WAL
    on every commit: it also survives power loss, at the price of one disk flush per record
    (typically 100 to 1000 records/s instead of thousands).

    The file is locked for the store's lifetime: one run per checkpoint (the OS drops the lock
    when the process dies). Raises :class:`ConfigError` naming the path when the file is not a
    checkpoint, has an unknown schema version, cannot be written, or is in use by another run.
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
        self._job: dict[str, Any] = {}
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
            version = schema_version(conn, self.path)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {synchronous}")
            conn.execute(f"PRAGMA wal_autocheckpoint = {_WAL_PAGES}")
            if version == 0:
                job = create(conn)
            elif version == MIGRATES_FROM:
                job = migrate(conn, self.path)
            else:
                job = read_job(conn, self.path)
            ensure_derived(conn)
            # A real write now, so a read-only file or folder fails here, not mid-run.
            self._job = write_job(conn, dict(job, opened_at=time.time()))
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
        except BaseException:  # interrupted while migrating, say: release the lock all the same
            self._abort()
            raise
        # Records written before any begin_run() belong to the latest run (0: none yet).
        self._run = int(self._job["runs"])

    # --- the job's identity -----------------------------------------------------------------

    def _update_job(self, *, next_run: bool = False, **changes: Any) -> None:
        with self._lock:
            connection = self._connection()
            if next_run:
                changes["runs"] = int(self._job["runs"]) + 1
            try:
                self._job = write_job(connection, dict(self._job, **changes))
            except (sqlite3.Error, OSError) as exc:
                raise ConfigError(f"cannot use checkpoint {self.path}: {exc}") from None
            self._run = int(self._job["runs"])

    def bind_origin(
        self, base_url: str, key_ids: Sequence[str], *, allow_change: bool = False
    ) -> None:
        """Tie the checkpoint to the service its results come from (first use records it).

        A resume against another ``base_url`` would serve that service's results as this
        run's (sandbox fixtures as real products, say): :class:`ConfigError` unless
        ``allow_change``. The key ids are recorded for the report; keys rotate, so a changed
        set is only logged.
        """
        stored = self.origin()
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
        ids = sorted(set(key_ids))
        previous = self._job.get("key_ids")
        if previous is not None and previous != ids:
            logger.info("checkpoint %s: the key set changed since the last run", self.path)
        self._update_job(base_url=base_url, key_ids=ids)

    def origin(self) -> str | None:
        """The ``base_url`` this checkpoint's results come from (None: not recorded yet)."""
        with self._lock:
            self._connection()
            stored = self._job.get("base_url")
        return None if stored is None else str(stored)

    def job(self) -> dict[str, Any]:
        """The job's identity as stored: ``base_url``, ``key_ids``, ``schema_version``,
        ``created_at``/``opened_at`` (epoch seconds), ``runs`` (a copy)."""
        with self._lock:
            self._connection()
            return json.loads(json.dumps(self._job))  # type: ignore[no-any-return]

    def begin_run(self) -> int:
        """Start a new run: the stored run counter goes up by one and is returned.

        Every :meth:`record` from now on stores this number, which :meth:`lookup` returns.
        """
        self._update_job(next_run=True)
        return self._run

    # --- records ------------------------------------------------------------------------------

    def _abort(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ConfigError(f"checkpoint {self.path} is closed")
        return self._conn

    def _unpack(self, ident: str, data: bytes, *, defer_body: bool = False) -> ResultRecord | None:
        try:
            return unpack(data, defer_body=defer_body)
        except (ValueError, KeyError, TypeError) as exc:
            # Lost already; skipping it means it is sent again, not that the run stops.
            logger.warning("checkpoint %s: unreadable record %r skipped: %s", self.path, ident, exc)
            return None

    def load(self) -> Iterator[ResultRecord]:
        """Every stored record (one per request ident), oldest write first.

        Read in pages, so a million-row checkpoint never sits in memory at once.
        """
        last = -1
        while True:
            with self._lock:
                rows = (
                    self._connection()
                    .execute(
                        "SELECT rowid, ident, data FROM records WHERE rowid > ? "
                        "ORDER BY rowid LIMIT ?",
                        (last, PAGE),
                    )
                    .fetchall()
                )
            for rowid, ident, data in rows:
                last = rowid
                record = self._unpack(ident, data)
                if record is not None:
                    yield record
            if len(rows) < PAGE:
                return

    def lookup(self, idents: Sequence[str]) -> dict[str, tuple[ResultRecord, int]]:
        """``{ident: (record, run)}`` for those of ``idents`` that are stored (others absent).

        ``run`` is the :meth:`begin_run` number current when the record was written (0: before
        any, or migrated from version 1). Queried ``_LOOKUP_CHUNK`` idents at a time.
        """
        return self._lookup(idents, defer_body=False)

    def lookup_deferred(self, idents: Sequence[str]) -> dict[str, tuple[ResultRecord, int]]:
        """:meth:`lookup` with each body left as its JSON text (``record.body_json``;
        ``record.body`` is None): the engine decodes it only when its row is built."""
        return self._lookup(idents, defer_body=True)

    def _lookup(
        self, idents: Sequence[str], *, defer_body: bool
    ) -> dict[str, tuple[ResultRecord, int]]:
        found: dict[str, tuple[ResultRecord, int]] = {}
        sql = "SELECT ident, run, data FROM records WHERE ident IN ({marks})"
        for rows in self._batches(sql, idents):
            for ident, run, data in rows:
                record = self._unpack(ident, data, defer_body=defer_body)
                if record is not None:
                    found[ident] = (record, run)
        return found

    def _batches(
        self, sql: str, values: Sequence[Any], *, first: tuple[Any, ...] = (), write: bool = False
    ) -> Iterator[list[Any]]:
        """The rows of ``sql`` run on ``values`` ``_LOOKUP_CHUNK`` at a time, a batch at a
        time (``{marks}`` in ``sql`` becomes that many ``?``; ``first`` are parameters before
        them). ``write``: a failure is a :class:`CheckpointWriteError`."""
        for start in range(0, len(values), _LOOKUP_CHUNK):
            batch = values[start : start + _LOOKUP_CHUNK]
            query = sql.format(marks=",".join("?" * len(batch)))
            with self._lock:
                try:
                    rows = self._connection().execute(query, (*first, *batch)).fetchall()
                except (sqlite3.Error, OSError) as exc:
                    if not write:
                        raise
                    raise CheckpointWriteError(
                        f"cannot write checkpoint {self.path}: {exc}"
                    ) from None
            yield rows

    def record(self, record: ResultRecord) -> None:
        """Upsert ``record`` under its request ident and commit (durable when this returns)."""
        self.record_row(record)

    def record_row(self, record: ResultRecord) -> bytes:
        """:meth:`record`, returning the row as stored: the engine keeps a waiting row's body
        in that form (a quarter of its JSON) instead of compressing it a second time."""
        data = pack(record)
        with self._lock:
            connection = self._connection()
            try:
                connection.execute(
                    "INSERT OR REPLACE INTO records(ident, run, status, data, updated_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (record.request.ident, self._run, record.status, data, time.time()),
                )
            except (sqlite3.Error, OSError) as exc:
                raise CheckpointWriteError(f"cannot write checkpoint {self.path}: {exc}") from None
        return data

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Run one statement (committed when it returns) and return its rows: for the tables
        kept beside the records (the batch ledger, ``_batch_ledger``). A failure is a
        :class:`CheckpointWriteError`."""
        with self._lock:
            connection = self._connection()
            try:
                return connection.execute(sql, tuple(params)).fetchall()
            except (sqlite3.Error, OSError) as exc:
                raise CheckpointWriteError(f"cannot write checkpoint {self.path}: {exc}") from None

    def status_counts(self) -> dict[str, int]:
        """How many stored records have each status (cheap: nothing is decompressed)."""
        with self._lock:
            rows = self._connection().execute(
                "SELECT status, count(*) FROM records GROUP BY status"
            )
            return {str(status): int(count) for status, count in rows.fetchall()}

    def close(self) -> None:
        """Close the file (idempotent). The last connection to close folds the WAL back in."""
        with self._lock:
            self._abort()

    # --- outputs derived from the records -----------------------------------------------------

    def derived_generation(self) -> int:
        """How many times a stored record has changed: derived outputs kept under an older
        count are stale."""
        with self._lock:
            row = self._connection().execute("SELECT value FROM derived_generation").fetchone()
        return int(row[0])

    def derived_digests(
        self, digests: Sequence[bytes], *, generation: int | None = None
    ) -> set[bytes]:
        """Those of ``digests`` kept by :meth:`keep_derived` under ``generation`` (default:
        the current one, so since any stored record last changed)."""
        current = self.derived_generation() if generation is None else generation
        sql = "SELECT digest FROM derived WHERE generation = ? AND digest IN ({marks})"
        found: set[bytes] = set()
        for rows in self._batches(sql, list(dict.fromkeys(digests)), first=(current,)):
            found.update(bytes(digest) for (digest,) in rows)
        return found

    def derived(self, digest: bytes, *, generation: int | None = None) -> bytes | None:
        """The data kept under ``digest`` and ``generation`` (default: the current one), or
        None. A run that chose its outputs at its start passes the generation it saw then:
        the records it rewrites since are not the ones those outputs were built from."""
        current = self.derived_generation() if generation is None else generation
        with self._lock:
            row = (
                self._connection()
                .execute(
                    "SELECT data FROM derived WHERE digest = ? AND generation = ?",
                    (digest, current),
                )
                .fetchone()
            )
        return None if row is None else bytes(row[0])

    def keep_derived(self, digest: bytes, rows: int, data: bytes) -> None:
        """Keep ``data``, built from ``rows`` stored records, under ``digest`` (replacing any):
        valid until one of the stored records changes. Raises :class:`CheckpointWriteError`."""
        with self._lock:
            connection = self._connection()
            try:
                connection.execute(
                    "INSERT OR REPLACE INTO derived(digest, generation, rows, data) "
                    "VALUES (?, (SELECT value FROM derived_generation), ?, ?)",
                    (digest, rows, data),
                )
            except (sqlite3.Error, OSError) as exc:
                raise CheckpointWriteError(f"cannot write checkpoint {self.path}: {exc}") from None

    def renew_derived(self, digests: Sequence[bytes]) -> None:
        """Make the outputs kept under ``digests`` current again: for a caller that knows the
        records changed since they were kept are none of those they were built from."""
        sql = "UPDATE derived SET generation = (SELECT value FROM derived_generation)"
        for _ in self._batches(f"{sql} WHERE digest IN ({{marks}})", digests, write=True):
            pass

    def forget_derived(self, digests: Sequence[bytes]) -> None:
        """Remove the outputs kept under ``digests`` (one that cannot be read, say).
        Raises :class:`CheckpointWriteError`."""
        for _ in self._batches(
            "DELETE FROM derived WHERE digest IN ({marks})", digests, write=True
        ):
            pass

    def prune_derived(self) -> int:
        """Remove the stale derived outputs; how many there were."""
        with self._lock:
            connection = self._connection()
            try:
                cursor = connection.execute(
                    "DELETE FROM derived WHERE generation != (SELECT value FROM derived_generation)"
                )
            except (sqlite3.Error, OSError) as exc:
                raise CheckpointWriteError(f"cannot write checkpoint {self.path}: {exc}") from None
        return int(cursor.rowcount)

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
