"""Enrich a Dask DataFrame on a cluster, with each key's limits holding cluster-wide.

    import asa_bulk.dask
    out = asa_bulk.dask.fetch_products(ddf, column="asin", checkpoint_dir="/shared/ckpt")
    out.to_parquet("s3://bucket/enriched/")        # lazy until then: one row per input row

A key's limits belong to the key, so a key is leased to one partition task at a time, with
a ``distributed.Lock`` per key id (a semaphore of one lease, whose lease the scheduler takes
back when a worker stops refreshing it): that task runs the normal engine with the key's full
limits, and no token bucket is shared. A task leases its share of the free keys (the keys over
the cluster's threads, at least one), waiting for one when all are leased. A key that answers
401 is marked retired cluster-wide (a ``distributed.Event`` per job and key id, set before its
lease is given back), is never leased again in the job, and the rows it was working on are sent
again with other keys; when every key is retired, the rows left are ``skipped``
(``no_usable_keys``) and the job still completes.

Keys never travel in the task graph: only key ids do. Each worker reads the keys from its
environment or ``.env`` (``ASA_API_KEYS``): deploying them there is the cluster's concern.
``checkpoint_dir`` (a folder every worker can write: a shared volume; or an fsspec URL such as
``s3://bucket/ckpt``, each checkpoint copied down when its task starts and back up when it
ends) keeps one checkpoint per partition, named by the partition's content, so a recomputed
or retried partition (a killed worker) pays for none of the rows it already fetched.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ._envfile import DEFAULT_ENV_FILE
from ._errors import ConfigError
from ._frame import empty_frame
from ._records import CREDITS_PER_REQUEST
from ._search_frame import empty_search_frame
from .partitions import NO_KEYS, lookup, partition_digest, run_partition, temporary_checkpoint

__all__ = ["DaskLease", "fetch_products", "search"]

#: How long a task waits for one key lease before looking at the retired keys again.
LEASE_POLL_SECONDS = 1.0


def fetch_products(
    ddf: Any,
    *,
    column: str = "asin",
    keys: Any = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    env_file: str | os.PathLike[str] | None = DEFAULT_ENV_FILE,
    **options: Any,
) -> Any:
    """A lazy Dask DataFrame of the products of ``ddf[column]``: one row per input row,
    partition for partition, the index kept, the columns of :func:`asa_bulk.fetch_products`
    (an explicit ``meta``: nothing is looked up to infer it).

    ``keys`` (as for :func:`asa_bulk.fetch_products`, read here only for their ids) say which
    of the workspace's keys the job may use; the workers read the keys themselves. ``options``
    are :func:`asa_bulk.fetch_products`' (``checkpoint``, ``progress`` and ``session`` are not:
    ``checkpoint_dir`` keeps one checkpoint per partition).
    """
    meta = empty_frame(raw=bool(options.get("raw", False)))
    return _map("products", ddf, column, keys, checkpoint_dir, env_file, options, meta)


def search(
    ddf: Any,
    *,
    column: str = "query",
    keys: Any = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    env_file: str | os.PathLike[str] | None = DEFAULT_ENV_FILE,
    **options: Any,
) -> Any:
    """A lazy Dask DataFrame of the searches of ``ddf[column]``: the rows of
    :func:`asa_bulk.search` (one per result card), each labelled with its query's index
    label, partition for partition. ``pages``, ``start_page`` and ``sort_by`` are options as
    for :func:`asa_bulk.search`; the rest as for :func:`fetch_products`."""
    return _map(
        "search", ddf, column, keys, checkpoint_dir, env_file, options, empty_search_frame()
    )


def _map(
    kind: str,
    ddf: Any,
    column: str,
    keys: Any,
    checkpoint_dir: str | os.PathLike[str] | None,
    env_file: str | os.PathLike[str] | None,
    options: dict[str, Any],
    meta: pd.DataFrame,
) -> Any:
    from ._keys import resolve_keys

    for name in ("checkpoint", "session", "progress", "mode", "stop", "webhook"):
        if name in options:
            raise ConfigError(f"asa_bulk.dask.{_NAMES[kind]} does not take {name}=")
    if column not in ddf.columns:
        raise ConfigError(f"the Dask DataFrame has no column {column!r}")
    _check_options(kind, options)  # here, not in every worker at compute time
    key_ids = tuple(key.key_id for key in resolve_keys(keys, env_file=env_file))
    folder = None if checkpoint_dir is None else str(checkpoint_dir)
    if folder is not None and not _is_url(folder):
        Path(folder).mkdir(parents=True, exist_ok=True)
    meta.index = ddf._meta.index[:0]
    return ddf.map_partitions(
        _partition,
        kind=kind,
        column=column,
        key_ids=key_ids,
        job=uuid.uuid4().hex,  # retirements are this job's: a later one tries the key again
        folder=folder,
        env_file=None if env_file is None else str(env_file),
        options=options,
        meta=meta,
        enforce_metadata=False,
        align_dataframes=False,
    )


_NAMES = {"products": "fetch_products", "search": "search"}
#: What search takes beside the options of fetch_products that apply to it.
_SEARCH_ONLY = ("pages", "start_page", "sort_by")


def _check_options(kind: str, options: dict[str, Any]) -> None:
    """Unknown option names and bad values are a ConfigError before anything is scheduled."""
    from ._options import OPTIONS, SETTING_NAMES
    from ._settings import resolve_settings

    known = set(OPTIONS) | (set(_SEARCH_ONLY) if kind == "search" else set())
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(
            f"unknown option(s) for asa_bulk.dask.{_NAMES[kind]}: {', '.join(unknown)}"
        )
    resolve_settings({k: v for k, v in options.items() if k in SETTING_NAMES}, env_file=None)


class DaskLease:
    """Key leases of one partition task: a ``distributed.Lock`` per key id, and an Event per
    job and key id that marks it retired for the whole job."""

    def __init__(self, key_ids: Sequence[str], *, share: int, job: str) -> None:
        import distributed

        lock: Any = distributed.Lock  # untyped
        event: Any = distributed.Event
        self._all = list(key_ids)
        self._share = max(1, share)
        self._locks = {kid: lock(f"asa-bulk-key-{kid}") for kid in self._all}
        # A lease is the key's, across jobs (its limits are); a retirement is this job's.
        self._retired_events = {kid: event(f"asa-bulk-retired-{job}-{kid}") for kid in self._all}
        self._held: list[str] = []

    @property
    def key_ids(self) -> list[str]:
        return list(self._held)

    def usable(self) -> list[str]:
        """The job's keys not retired (cluster-wide)."""
        return [kid for kid in self._all if not self._retired_events[kid].is_set()]

    def acquire(self) -> bool:
        """Lease up to this task's share of the free keys, waiting for one; False when every
        key is retired."""
        while True:
            usable = self.usable()
            if not usable:
                return False
            for kid in usable:
                if len(self._held) >= self._share:
                    break
                if kid not in self._held and self._locks[kid].acquire(blocking=False):
                    if self._retired_events[kid].is_set():  # retired while we took it
                        self._locks[kid].release()
                        continue
                    self._held.append(kid)
            if self._held:
                return True
            # Every usable key is leased: wait on one of them, in turn.
            kid = usable[int(time.monotonic()) % len(usable)]
            if self._locks[kid].acquire(timeout=LEASE_POLL_SECONDS):
                if self._retired_events[kid].is_set():
                    self._locks[kid].release()
                    continue
                self._held.append(kid)
                return True

    def retire(self, key_id: str, reason: str) -> None:
        """Mark ``key_id`` retired for every worker, before its lease is given back."""
        event = self._retired_events.get(key_id)
        if event is not None:
            event.set()

    def release(self) -> None:
        held, self._held = self._held, []
        for kid in held:
            self._locks[kid].release()


class JobBudget:
    """``max_credits`` for a whole job: a ``distributed.Variable`` of the credits left, taken
    and given back under a ``distributed.Lock``. A task takes the most its partition could
    cost (every row billed), runs with that as its own ``max_credits``, and gives back what
    its run did not count as spent; a task that fails gives nothing back."""

    def __init__(self, job: str, max_credits: int) -> None:
        import distributed

        variable: Any = distributed.Variable  # untyped
        lock: Any = distributed.Lock
        self._left = variable(f"asa-bulk-budget-{job}")
        self._lock = lock(f"asa-bulk-budget-lock-{job}")
        self._max = int(max_credits)

    def _remaining(self) -> int:
        try:
            return int(self._left.get(timeout=0))
        except TimeoutError:  # nothing taken yet in this job
            return self._max

    def take(self, worst: int) -> int:
        with self._lock:
            left = self._remaining()
            grant = max(0, min(left, worst))
            self._left.set(left - grant)
        return grant

    def give_back(self, credits: int) -> None:
        if credits <= 0:
            return
        with self._lock:
            self._left.set(self._remaining() + credits)


def _partition(
    frame: pd.DataFrame,
    *,
    kind: str,
    column: str,
    key_ids: tuple[str, ...],
    job: str,
    folder: str | None,
    env_file: str | None,
    options: dict[str, Any],
) -> pd.DataFrame:
    from distributed import get_client

    digest = partition_digest(frame, column)
    client: Any = get_client()
    threads = max(1, sum(client.nthreads().values()))
    lease = DaskLease(key_ids, share=math.floor(len(key_ids) / threads) or 1, job=job)
    with _partition_checkpoint(folder, digest) as checkpoint:
        return _with_leases(kind, job, frame, column, lease, checkpoint, env_file, options)


@contextlib.contextmanager
def _partition_checkpoint(folder: str | None, digest: str) -> Iterator[Path]:
    """The partition's checkpoint as a local file: in ``folder`` (a shared volume); or copied
    from and back to an fsspec URL (``s3://…``: what it held when the task began is not paid
    for again, what a crash kept from uploading is); or a temporary one, for this task only."""
    name = f"part-{digest}.sqlite"
    if folder is not None and not _is_url(folder):
        yield Path(folder) / name
        return
    local = temporary_checkpoint(digest)
    remote = None
    if folder is not None:
        import fsspec

        remote = folder.rstrip("/") + "/" + name
        fs, path = fsspec.core.url_to_fs(remote)
        if fs.exists(path):
            fs.get(path, str(local))
    try:
        yield local
    finally:
        if remote is not None and local.exists():
            fs.put(str(local), path)  # the WAL is folded in: the store was closed
        for suffix in ("", "-wal", "-shm"):
            Path(f"{local}{suffix}").unlink(missing_ok=True)


def _is_url(folder: str) -> bool:
    return "://" in folder


def _with_leases(
    kind: str,
    job: str,
    frame: pd.DataFrame,
    column: str,
    lease: DaskLease,
    checkpoint: Path,
    env_file: str | None,
    options: dict[str, Any],
) -> pd.DataFrame:
    """Run the partition on leased keys until no row waits for another key."""
    out: pd.DataFrame | None = None
    max_credits = options.get("max_credits")
    budget = None if max_credits is None else JobBudget(job, max_credits)
    pages = int(options.get("pages", 1)) if kind == "search" else 1
    worst = CREDITS_PER_REQUEST * len(frame) * pages
    while lease.acquire():  # False: every key retired, the rows left stay skipped
        grant = budget.take(worst) if budget is not None else None
        spent = grant  # until the run says otherwise: a failed task gives nothing back
        try:
            run_options = options if grant is None else {**options, "max_credits": grant}
            out, spent = run_partition(
                kind, frame, lease, column, checkpoint, env_file, run_options
            )
        finally:
            lease.release()
            if budget is not None and grant is not None and spent is not None:
                budget.give_back(grant - spent)
        if not _needs_other_keys(out):
            break
    if out is None:
        out = _all_skipped(kind, frame, column, checkpoint, env_file, options)
    return out


def _needs_other_keys(out: pd.DataFrame) -> bool:
    """Rows left because this task's keys were all retired: other keys may take them."""
    return bool(((out["status"] == "skipped") & (out["error"] == NO_KEYS)).any())


def _all_skipped(
    kind: str,
    frame: pd.DataFrame,
    column: str,
    checkpoint: Path,
    env_file: str | None,
    options: Any,
) -> pd.DataFrame:
    """Every key of the job is retired: the rows come back ``skipped`` (``no_usable_keys``)
    without a request, as in one process (rows an earlier attempt finished keep theirs)."""
    import asyncio

    stop = asyncio.Event()
    stop.set()  # nothing is sent
    out, _ = lookup(
        kind, frame, column, checkpoint=checkpoint, env_file=env_file, stop=stop, **options
    )
    out.attrs.pop("run", None)
    skipped = out["status"] == "skipped"
    out.loc[skipped, "error"] = NO_KEYS
    out.loc[skipped, "error_message"] = "every API key of the job was retired (401)"
    return out
