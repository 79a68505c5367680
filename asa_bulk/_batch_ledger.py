"""The batch ledger: every server-side batch of a job, kept in its checkpoint file.

The service has no idempotency and no cancel: a batch posted twice is billed twice. So a
batch is written here *before* it is posted (its items and a client token, state
``posting``), and its id the moment the POST answers (``posted``); a resumed run polls the
batches it finds instead of posting their items again. A batch still ``posting`` on resume is
one whose answer was lost (a crash, a timeout): the runner reconciles it with the service's
list of recent batches before anything is posted again (see ``_batch_runner``).

States: ``posting`` → ``posted`` → ``done`` (every item's result is stored in the records);
``not_posted`` when the service refused the POST or reconciling showed it created nothing.
The webhook signature secret, returned once by the POST, is kept here and nowhere else.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Any, Final

from ._errors import ConfigError
from ._records import Request, request_from_json, request_to_json

_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS batches ("
    " token TEXT PRIMARY KEY, endpoint TEXT NOT NULL, items BLOB NOT NULL,"
    " item_count INTEGER NOT NULL, posted_at REAL NOT NULL, state TEXT NOT NULL,"
    " batch_id TEXT, created_at TEXT, secret TEXT, key_id TEXT)"
)
OPEN_STATES: Final = ("posting", "posted")


@dataclass(eq=False)
class BatchEntry:
    """One batch of the job: its items, and what is known of it on the service."""

    token: str
    endpoint: str
    requests: list[Request]
    posted_at: float
    state: str
    batch_id: str | None = None
    created_at: str | None = None
    secret: str | None = field(default=None, repr=False)
    key_id: str | None = None

    def __repr__(self) -> str:  # never the secret
        return (
            f"BatchEntry(token={self.token!r}, batch_id={self.batch_id!r}, "
            f"state={self.state!r}, items={len(self.requests)})"
        )


class BatchLedger:
    """The ``batches`` table of a :class:`~asa_bulk.SqliteCheckpoint` (created on first use)."""

    def __init__(self, store: Any) -> None:
        execute = getattr(store, "execute", None)
        if not callable(execute):
            raise ConfigError(
                "mode='batch' needs a checkpoint file (checkpoint='job.sqlite'): it records "
                "each batch before it is posted, so that no run posts (and pays for) it twice; "
                f"a {type(store).__name__} cannot hold that record"
            )
        self._execute = execute
        self._execute(_SCHEMA)

    def open_entries(self) -> list[BatchEntry]:
        """The batches not yet done, oldest first."""
        rows = self._execute(
            "SELECT token, endpoint, items, posted_at, state, batch_id, created_at, secret,"
            " key_id FROM batches WHERE state IN (?, ?) ORDER BY posted_at, rowid",
            OPEN_STATES,
        )
        return [
            BatchEntry(
                token=token,
                endpoint=endpoint,
                requests=_unpack(items),
                posted_at=posted_at,
                state=state,
                batch_id=batch_id,
                created_at=created_at,
                secret=secret,
                key_id=key_id,
            )
            for token, endpoint, items, posted_at, state, batch_id, created_at, secret, key_id in (
                rows
            )
        ]

    def known_ids(self) -> set[str]:
        """Every batch id this job has recorded (a reconciliation must not claim them twice)."""
        rows = self._execute("SELECT batch_id FROM batches WHERE batch_id IS NOT NULL")
        return {str(batch_id) for (batch_id,) in rows}

    def begin(self, endpoint: str, requests: list[Request]) -> BatchEntry:
        """Record a batch about to be posted (durable before the POST goes out)."""
        entry = BatchEntry(
            token=uuid.uuid4().hex,
            endpoint=endpoint,
            requests=list(requests),
            posted_at=time.time(),
            state="posting",
        )
        self._execute(
            "INSERT INTO batches(token, endpoint, items, item_count, posted_at, state)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (entry.token, endpoint, _pack(requests), len(requests), entry.posted_at, "posting"),
        )
        return entry

    def posted(
        self,
        entry: BatchEntry,
        batch_id: str,
        *,
        created_at: str | None,
        secret: str | None,
        key_id: str | None,
    ) -> None:
        """The POST answered (or reconciling found the batch): keep its id, at once."""
        self._execute(
            "UPDATE batches SET state = 'posted', batch_id = ?, created_at = ?, secret = ?,"
            " key_id = ? WHERE token = ?",
            (batch_id, created_at, secret, key_id, entry.token),
        )
        entry.state, entry.batch_id, entry.created_at = "posted", batch_id, created_at
        entry.secret, entry.key_id = secret, key_id

    def close(self, entry: BatchEntry, state: str) -> None:
        """``done`` (every result stored) or ``not_posted`` (nothing was created)."""
        self._execute("UPDATE batches SET state = ? WHERE token = ?", (state, entry.token))
        entry.state = state


def _pack(requests: list[Request]) -> bytes:
    text = json.dumps([request_to_json(r) for r in requests], separators=(",", ":"))
    return zlib.compress(text.encode("utf-8"))


def _unpack(data: bytes) -> list[Request]:
    return [request_from_json(item) for item in json.loads(zlib.decompress(data))]


def open_batches(path: str | os.PathLike[str]) -> int:
    """How many batches a (closed) checkpoint file still holds open; 0 without a ledger."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            row = conn.execute(
                "SELECT count(*) FROM batches WHERE state IN (?, ?)", OPEN_STATES
            ).fetchone()
    except sqlite3.Error:  # no batches table: never a batch-mode checkpoint
        return 0
    return int(row[0])
