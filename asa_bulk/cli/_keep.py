"""Where a command keeps what it fetched until its output is safely written.

With ``--checkpoint PATH`` that is PATH. Without one, the command uses an automatic checkpoint
in the temporary folder, so the data path is the same: it is removed once the output is
written, and kept (and named in the message) when the run is interrupted or the output cannot
be written, so that a re-run with ``--checkpoint`` pays for nothing twice.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from asa_bulk._batch_ledger import open_batches
from asa_bulk._checkpoint import SqliteCheckpoint


@dataclass
class KeptResults:
    path: Path
    automatic: bool
    store: SqliteCheckpoint

    @classmethod
    def open(cls, given: str | None) -> KeptResults:
        if given is not None:
            return cls(Path(given), False, SqliteCheckpoint(given))
        fd, name = tempfile.mkstemp(prefix="asa-bulk-", suffix=".ckpt")
        os.close(fd)  # an empty file becomes a checkpoint when opened
        return cls(Path(name), True, SqliteCheckpoint(name))

    def close(self) -> None:
        """Close the store (every record is already committed; this folds the WAL back in)."""
        self.store.close()

    def discard(self) -> bool:
        """The output is written: an automatic checkpoint is no longer needed, unless batches
        it records are still open (a re-run with it polls them instead of posting them
        again). True when it was removed."""
        self.close()
        if self.automatic and open_batches(self.path):
            return False
        if self.automatic:
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    Path(f"{self.path}{suffix}").unlink()
        return self.automatic

    def resume_hint(self) -> str:
        """How to pick up from here, for the one-line messages."""
        if self.automatic:
            return f"re-run the same command with --checkpoint {self.path}"
        return "re-run the same command"
