"""The public entry points: ``fetch_products`` (async) and ``fetch_products_sync``."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
import warnings
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import aiohttp
import pandas as pd

from ._clock import Clock, LoopClock
from ._envfile import DEFAULT_ENV_FILE
from ._errors import RunStoppedWarning
from ._frame import build_frame
from ._inputs import input_index, iter_input_rows
from ._keypool import KeyPool
from ._keys import LIVE_PREFIX, REDACTOR, TEST_PREFIX, ApiKey, resolve_keys
from ._plan import Plan
from ._policy import RetryPolicy
from ._progress import ProgressBar
from ._records import ResultRecord
from ._runner import Runner
from ._settings import DEFAULT_CONCURRENCY, DEFAULT_RPS, resolve_settings
from ._summary import build_summary

if TYPE_CHECKING:
    from ._checkpoint import CheckpointStore


async def fetch_products(
    items: Iterable[Any] | pd.DataFrame,
    *,
    keys: Iterable[str | ApiKey] | str | None = None,
    base_url: str | None = None,
    domain: str | None = None,
    language: str | None = None,
    country: str | None = None,
    concurrency: int | None = None,
    rps: float | None = None,
    timeout: float | None = None,
    max_attempts: int | None = None,
    max_item_seconds: float | None = None,
    max_wait: float | None = None,
    progress: bool = True,
    auth: str | None = None,
    allow_insecure_http: bool | None = None,
    raw: bool = False,
    checkpoint: str | os.PathLike[str] | CheckpointStore | None = None,
    max_credits: int | None = None,
    retry_delay_scale: float | None = None,
    allow_origin_change: bool = False,
    env_file: str | os.PathLike[str] | None = DEFAULT_ENV_FILE,
    session: aiohttp.ClientSession | None = None,
    stop: asyncio.Event | None = None,
    clock: Clock | None = None,
    seed: int | None = None,
) -> pd.DataFrame:
    """Look up many products; return one DataFrame row per input item, in input order, with
    the input's index when ``items`` is a DataFrame or Series (0..n-1 otherwise).

    ``items`` are ASINs or Amazon product URLs, or a DataFrame with an ``asin`` column (and
    optional per-row ``domain``/``language``/``country``). Every option left at None is read
    from its ``ASA_*`` environment variable, then from ``env_file``, then defaults (see the
    README's configuration table). ``concurrency``/``rps`` are per key; left unset they start at
    the Free plan's limits (10 in flight, 2/s) and follow the service's ``Asa-Concurrency`` and
    ``Asa-Rps`` headers. ``checkpoint`` (a path or a store) records each finished request as it
    arrives; a re-run with the same checkpoint does not send (or pay for) finished ones again.
    A checkpoint remembers the ``base_url`` it was filled from: resuming it against another
    one is a :class:`ConfigError` unless ``allow_origin_change=True``, and results of sandbox
    keys (``asa_test_``) are never served to a run with ``asa_live_`` keys.
    ``max_credits`` never lets billed credits pass that number. A plain ``http://`` ``base_url``
    must point at this machine unless ``allow_insecure_http`` is set (the key would travel in
    clear text). ``session`` may be your own aiohttp session (it is not closed);
    ``clock``/``seed``/``retry_delay_scale`` are for tests.

    Stopping: setting ``stop`` (an :class:`asyncio.Event`) sends nothing more, waits for the
    answers in flight, and returns the frame with the rest ``skipped`` (``interrupted``).
    Cancelling the call (Ctrl-C in a script, a notebook's interrupt with the sync form) with a
    ``checkpoint`` first waits up to ``timeout`` seconds for the answers in flight, which are
    paid for, and records them; a second cancellation abandons them.

    Raises :class:`ConfigError`/:class:`NoKeysError`/:class:`InputError` before anything is sent.
    Per-item problems never raise: they are rows with ``status`` and ``error``.
    """
    settings = resolve_settings(
        {
            "base_url": base_url,
            "domain": domain,
            "language": language,
            "country": country,
            "concurrency": concurrency,
            "rps": rps,
            "timeout": timeout,
            "max_attempts": max_attempts,
            "max_item_seconds": max_item_seconds,
            "max_wait": max_wait,
            "auth": auth,
            "allow_insecure_http": allow_insecure_http,
            "max_credits": max_credits,
            "retry_delay_scale": retry_delay_scale,
        },
        env_file=env_file,
    )
    api_keys = resolve_keys(keys, env_file=env_file)
    REDACTOR.add(api_keys)  # from here on, any text that might hold a key is masked
    rows = iter_input_rows(
        items, domain=settings.domain, language=settings.language, country=settings.country
    )
    clock = clock or LoopClock()
    started_at = datetime.now(timezone.utc)
    started = time.perf_counter()
    bar = ProgressBar(enabled=progress, total=_length(items), keys=len(api_keys))
    try:
        store = _open_store(checkpoint)
    except BaseException:
        bar.close()
        raise
    try:
        checkpointed: Iterable[ResultRecord] = ()
        if store is not None:
            checkpointed = _servable(
                store, settings.base_url, api_keys, allow_origin_change=allow_origin_change
            )
        plan = Plan(
            rows,
            checkpointed=checkpointed,
            on_progress=bar.advance,
            on_record=store.record if store is not None else None,
            keep_bodies=raw,
        )
        pool = KeyPool(
            api_keys,
            concurrency=settings.concurrency or DEFAULT_CONCURRENCY,
            rps=settings.rps or DEFAULT_RPS,
            pin_concurrency=settings.concurrency is not None,
            pin_rps=settings.rps is not None,
            now=clock.now(),
        )
        bar.attach(pool)
        policy = RetryPolicy(
            max_attempts=settings.max_attempts,
            max_item_seconds=settings.max_item_seconds,
            max_wait=settings.max_wait,
            delay_scale=settings.retry_delay_scale,
        )
        own_session = session is None
        # The pool enforces every limit, so the connector must not add a cap of its own.
        http = session or aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        try:
            runner = Runner(
                session=http,
                pool=pool,
                settings=settings,
                policy=policy,
                clock=clock,
                sink=plan.record,
                rng=random.Random(seed),
                drain_on_cancel=store is not None,  # without one, drained answers go nowhere
            )
            watcher = _watch(stop, runner) if stop is not None else None
            try:
                await runner.run(plan.requests())
            except asyncio.CancelledError:
                if _interrupted_in_a_notebook():
                    raise KeyboardInterrupt from None  # what the user did, not how it arrived
                raise
            finally:
                if watcher is not None:
                    watcher.cancel()
        finally:
            if own_session:
                await http.close()
    finally:
        bar.close()
        if store is not None and isinstance(checkpoint, (str, os.PathLike)):
            store.close()  # a store object passed in belongs to the caller
    frame = build_frame(
        plan.rows, plan.results, raw=raw, flattened=plan.flattened, index=input_index(items)
    )
    frame.attrs["run"] = build_summary(
        statuses=frame["status"].astype(str),
        unique_requests=len(plan.results),
        duplicates=plan.duplicates,
        from_checkpoint=plan.from_checkpoint,
        counters=runner.counters,
        pool=pool,
        stop_reason=runner.stop_reason,
        stop_message=runner.stop_message,
        started_at=started_at,
        wall_seconds=time.perf_counter() - started,
        base_url=settings.base_url,
    )
    if runner.stop_reason is not None:
        skipped = int((frame["status"] == "skipped").sum())
        warnings.warn(
            f"the run stopped early: {runner.stop_message}; "
            f"{skipped} row(s) are 'skipped' (error={runner.stop_reason!r}), finished rows keep "
            "their results",
            RunStoppedWarning,
            stacklevel=2,
        )
    return frame


def fetch_products_sync(items: Iterable[Any] | pd.DataFrame, **options: Any) -> pd.DataFrame:
    """Blocking :func:`fetch_products`. Inside a running event loop (Jupyter), the run goes to a
    worker thread with its own loop, so it works in a notebook cell without nest_asyncio; an
    interrupt (Ctrl-C, the notebook's stop button) cancels that run instead of orphaning it."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(fetch_products(items, **options))
    started: dict[str, Any] = {}

    async def run_in_worker() -> pd.DataFrame:
        started["loop"], started["task"] = asyncio.get_running_loop(), asyncio.current_task()
        return await fetch_products(items, **options)

    def cancel() -> None:
        if "task" in started and not future.done():
            with contextlib.suppress(RuntimeError):  # the worker's loop closed meanwhile
                started["loop"].call_soon_threadsafe(started["task"].cancel)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="asa_bulk") as executor:
        future = executor.submit(asyncio.run, run_in_worker())
        try:
            return future.result()
        except BaseException:
            if future.done():
                raise  # the run's own error (a ConfigError, say), as it is
            cancel()  # stop sending; with a checkpoint, the answers in flight are still recorded
            try:
                wait([future])
            except KeyboardInterrupt:
                cancel()  # a second interrupt: abandon the answers in flight
            raise


def _interrupted_in_a_notebook() -> bool:
    """True while ipykernel turns the notebook's interrupt into a cancellation of the cell.

    Ctrl-C in a script reaches the caller as KeyboardInterrupt (asyncio.run converts it); in a
    notebook the same interrupt would surface as a bare CancelledError, so it is said plainly.
    """
    handler = signal.getsignal(signal.SIGINT)
    return "_cancel_on_sigint" in getattr(handler, "__qualname__", "")


def _watch(stop: asyncio.Event, runner: Runner) -> asyncio.Task[None]:
    if stop.is_set():  # already set: not even the first request goes out
        runner.request_stop("interrupted")

    async def watch() -> None:
        await stop.wait()
        runner.request_stop("interrupted")

    return asyncio.ensure_future(watch())


def _servable(
    store: CheckpointStore, base_url: str, keys: list[ApiKey], *, allow_origin_change: bool
) -> Iterator[ResultRecord]:
    """The checkpoint's records this run may serve as results, after checking their origin."""
    bind = getattr(store, "bind_origin", None)  # optional: stores of your own may lack it
    if bind is not None:
        bind(base_url, [key.key_id for key in keys], allow_change=allow_origin_change)
    live = any(key.key_id.startswith(LIVE_PREFIX) for key in keys)
    for record in store.load():
        # Sandbox fixtures must never pass for real products, whatever the caller allowed.
        if live and record.key_id is not None and record.key_id.startswith(TEST_PREFIX):
            continue
        yield record


def _length(items: object) -> int | None:
    try:
        return len(items)  # type: ignore[arg-type]
    except TypeError:
        return None


def _open_store(checkpoint: object) -> CheckpointStore | None:
    if checkpoint is None:
        return None
    from ._checkpoint import open_checkpoint

    return open_checkpoint(checkpoint)  # type: ignore[arg-type]
