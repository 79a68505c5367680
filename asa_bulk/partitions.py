"""One partition of a distributed table, looked up with the keys leased to it.

Engine-neutral: a pandas DataFrame in, the product frame out (one row per input row, the
input's index), with a :class:`KeyLease` saying which keys this partition may use. Dask's
integration (``asa_bulk.dask``) leases keys with distributed's own locks; Spark's
``mapInPandas`` or Ray Data's ``map_batches`` can call :func:`fetch_partition` with a lease of
their own (a fixed share of the keys per executor, say).

Keys never travel with the task: the worker reads them from its environment or ``.env``
(``ASA_API_KEYS``), and the lease names only key ids (``asa_live_`` + 12 characters).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from ._envfile import DEFAULT_ENV_FILE
from ._errors import ConfigError

__all__ = ["KeyLease", "StaticLease", "fetch_partition", "partition_digest", "search_partition"]

#: Rows skipped for this reason had their keys retired under them: other keys may take them.
NO_KEYS = "no_usable_keys"


class KeyLease(Protocol):
    """The keys one partition may use, and where it reports the ones it retired."""

    @property
    def key_ids(self) -> Sequence[str]: ...

    def retire(self, key_id: str, reason: str) -> None:
        """``key_id`` answered 401: no partition may use it again in this job."""


@dataclass
class StaticLease:
    """A fixed set of key ids (for an engine whose executors each own some keys)."""

    key_ids: Sequence[str]
    retired: dict[str, str] = field(default_factory=dict)

    def retire(self, key_id: str, reason: str) -> None:
        self.retired[key_id] = reason


#: The per-row columns each kind of lookup reads beside its item column.
ROW_OPTIONS = {"products": ("domain", "language", "country"), "search": ("domain", "sort_by")}


def partition_digest(frame: pd.DataFrame, column: str) -> str:
    """A stable name for a partition's content (its index and lookup columns): a retried or
    recomputed partition finds its own checkpoint by it."""
    wanted = [c for c in (column, "domain", "language", "country", "sort_by") if c in frame.columns]
    hashed = pd.util.hash_pandas_object(frame[wanted], index=True).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()[:32]


def fetch_partition(
    frame: pd.DataFrame,
    lease: KeyLease,
    *,
    column: str = "asin",
    checkpoint: str | os.PathLike[str] | None = None,
    env_file: str | os.PathLike[str] | None = DEFAULT_ENV_FILE,
    **options: Any,
) -> pd.DataFrame:
    """Look up the products of ``frame[column]`` with the leased keys, synchronously.

    Returns one row per input row, labelled with ``frame``'s index (the columns of
    :func:`asa_bulk.fetch_products`). ``checkpoint`` makes a retried partition pay for
    nothing twice; ``options`` are those of :func:`asa_bulk.fetch_products`. A key that
    answers 401 is reported to the lease; rows it leaves ``skipped`` (``no_usable_keys``)
    can be sent again with other keys by calling this again with the same checkpoint.
    """
    return _run("products", frame, lease, column, checkpoint, env_file, options)


def search_partition(
    frame: pd.DataFrame,
    lease: KeyLease,
    *,
    column: str = "query",
    checkpoint: str | os.PathLike[str] | None = None,
    env_file: str | os.PathLike[str] | None = DEFAULT_ENV_FILE,
    **options: Any,
) -> pd.DataFrame:
    """:func:`fetch_partition` for keyword searches: the rows of :func:`asa_bulk.search`
    (a row per result card), each labelled with its query's index label."""
    return _run("search", frame, lease, column, checkpoint, env_file, options)


def _run(
    kind: str,
    frame: pd.DataFrame,
    lease: KeyLease,
    column: str,
    checkpoint: str | os.PathLike[str] | None,
    env_file: str | os.PathLike[str] | None,
    options: dict[str, Any],
) -> pd.DataFrame:
    out, _ = run_partition(kind, frame, lease, column, checkpoint, env_file, options)
    return out


def run_partition(
    kind: str,
    frame: pd.DataFrame,
    lease: KeyLease,
    column: str,
    checkpoint: str | os.PathLike[str] | None,
    env_file: str | os.PathLike[str] | None,
    options: dict[str, Any],
) -> tuple[pd.DataFrame, int]:
    """The partition's frame, and the credits its run counts as spent (billed answers, and
    those that may have been billed without arriving: what a shared budget must charge)."""
    from ._keys import resolve_keys

    if column not in frame.columns:
        raise ConfigError(
            f"the partition has no column {column!r} (columns: {list(frame.columns)})"
        )
    wanted = set(lease.key_ids)
    keys = [key for key in resolve_keys(None, env_file=env_file) if key.key_id in wanted]
    if not keys:
        raise ConfigError(
            f"this worker has none of the leased keys ({', '.join(sorted(wanted))}) in its "
            "environment or .env: every worker needs the workspace's keys (ASA_API_KEYS)"
        )
    out, spent = lookup(
        kind, frame, column, keys=keys, checkpoint=checkpoint, env_file=env_file, **options
    )
    run = out.attrs.pop("run", None) or {}
    for key_id, reason in (run.get("retired_keys") or {}).items():
        lease.retire(key_id, str(reason))
    return out, spent


#: The options that belong to one call of the Client, not to the Client itself.
_CALL_OPTIONS = {"products": ("raw", "stop"), "search": ("pages", "start_page", "sort_by", "stop")}


def lookup(kind: str, frame: pd.DataFrame, column: str, **options: Any) -> tuple[pd.DataFrame, int]:
    """A partition's rows looked up on one Client (products, or searches), labelled like
    them, and the credits the Client's budget counted as spent."""
    from ._api import _blocking

    item = "asin" if kind == "products" else "query"
    items = frame[[column, *(c for c in ROW_OPTIONS[kind] if c in frame.columns)]]
    items = items.rename(columns={column: item})
    call = {name: options.pop(name) for name in _CALL_OPTIONS[kind] if name in options}
    options.pop("progress", None)
    return _blocking(_lookup)(kind, items, frame.index, call, options)


async def _lookup(
    kind: str, items: pd.DataFrame, index: pd.Index, call: dict[str, Any], options: dict[str, Any]
) -> tuple[pd.DataFrame, int]:
    from ._client import Client

    async with Client(progress=False, **options) as client:
        if kind == "search":
            out = await client.search(items, **call)
        else:
            out = await client.products(items, **call)
            out.index = index
        spent = client._state().budget.spent
    return out, spent


def temporary_checkpoint(digest: str) -> Path:
    """A checkpoint for a partition run without a shared folder (this task's retries only)."""
    return Path(tempfile.gettempdir()) / f"asa-bulk-part-{os.getpid()}-{digest}.sqlite"
