"""Exceptions raised by asa_bulk.

Every exception derives from one root, so callers can catch the whole family::

    AsaBulkError
    ├── ConfigError            a setting is wrong (bad option value, unknown column, ...)
    │   └── NoKeysError        no API key anywhere (argument, ASA_API_KEYS/ASA_API_KEY, .env)
    ├── InputError             the items to look up cannot be read at all
    └── CheckpointWriteError   a result could not be stored in the checkpoint (handled inside
                               a run: it stops the run, it is not raised to the caller)

    UserWarning
    └── RunStoppedWarning      the run stopped before every row finished (no usable key,
                               credits or budget exhausted, interrupted, checkpoint failed);
                               the frame is still returned, the unfinished rows ``skipped``

``RunStoppedWarning`` is a warning, not an ``AsaBulkError``: it is issued with
``warnings.warn`` and the run's result is returned, so ``except AsaBulkError`` never has to
tell a finished-but-stopped run from a failed one.

Per-item problems (an invalid ASIN, a 404, retries exhausted) are never raised: they become rows
with a ``status`` and an ``error`` code in the returned DataFrame. No exception message ever
contains more of an API key than its key_id.
"""

from __future__ import annotations


class AsaBulkError(Exception):
    """Root of every exception asa_bulk raises."""


class ConfigError(AsaBulkError, ValueError):
    """A setting has a wrong value; the message names the setting and what is allowed."""


class NoKeysError(ConfigError):
    """No API key was given and none was found in the environment or a .env file."""


class InputError(AsaBulkError, ValueError):
    """The input items cannot be read (wrong type, missing column, ...)."""


class CheckpointWriteError(AsaBulkError, OSError):
    """A finished result could not be written to the checkpoint (disk full, file removed, ...).

    The engine never lets it escape a run: it stops sending (``stopped="checkpoint_failed"``),
    keeps the result in the returned frame, and says why in the run summary.
    """


class RunStoppedWarning(UserWarning):
    """The run stopped before every row finished (no usable key, credits or budget exhausted)."""
