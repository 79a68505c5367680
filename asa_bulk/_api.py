"""The public entry points: ``fetch_products``/``search`` (async) and their ``_sync`` forms."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import os
from collections.abc import Callable, Coroutine, Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any, Final, ParamSpec, TypeVar

import aiohttp
import pandas as pd

from ._client import Client
from ._envfile import DEFAULT_ENV_FILE
from ._errors import RunStoppedWarning
from ._keys import ApiKey
from ._optiondocs import with_option_help
from ._options import OPTIONS
from ._products import PRODUCTS
from ._search import SEARCH

if TYPE_CHECKING:
    from ._checkpoint import CheckpointStore
    from .webhooks import WebhookReceiver

__all__ = ["RunStoppedWarning", "fetch_products", "fetch_products_sync", "search", "search_sync"]

#: The options of search(): those of fetch_products() but the product lookup's own.
_SEARCH_OPTIONS: Final = [name for name in OPTIONS if name not in ("language", "country", "raw")]

P = ParamSpec("P")
T = TypeVar("T")


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
    mode: str = "sync",
    batch_size: int | None = None,
    batch_poll_seconds: float | None = None,
    batch_deadline: float | None = None,
    batch_retry: str | None = None,
    repost_unconfirmed: bool = False,
    webhook: WebhookReceiver | None = None,
    env_file: str | os.PathLike[str] | None = DEFAULT_ENV_FILE,
    session: aiohttp.ClientSession | None = None,
    stop: asyncio.Event | None = None,
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
    ``retry_delay_scale`` is for tests (see also :mod:`asa_bulk.testing`). One call is one
    :class:`Client` opened and closed around it; make several calls on one client to share keys,
    learnt limits and the budget.

    Stopping: setting ``stop`` (an :class:`asyncio.Event`) sends nothing more, waits for the
    answers in flight, and returns the frame with the rest ``skipped`` (``interrupted``).
    Cancelling the call (Ctrl-C in a script, a notebook's interrupt with the sync form) with a
    ``checkpoint`` first waits up to ``timeout`` seconds for the answers in flight, which are
    paid for, and records them; a second cancellation abandons them.

    Batch mode (``mode="batch"``, with a ``checkpoint``) posts the requests as server-side
    batches, polls them, and returns the same frame plus a ``batch_id`` column; see the
    README's "Batch mode" for when it pays and what a resume guarantees.

    Raises :class:`ConfigError`/:class:`NoKeysError`/:class:`InputError` before anything is sent.
    Per-item problems never raise: they are rows with ``status`` and ``error``.
    """
    client = Client(**_client_options(locals()))
    async with client:
        batch = client._batch_mode(mode)
        return await client._collect(
            PRODUCTS, items, client._rows(items), raw=raw, stop=stop, batch=batch
        )


async def search(
    queries: Iterable[Any] | pd.DataFrame,
    *,
    pages: int = 1,
    start_page: int = 1,
    sort_by: str = "best_match",
    keys: Iterable[str | ApiKey] | str | None = None,
    base_url: str | None = None,
    domain: str | None = None,
    concurrency: int | None = None,
    rps: float | None = None,
    timeout: float | None = None,
    max_attempts: int | None = None,
    max_item_seconds: float | None = None,
    max_wait: float | None = None,
    progress: bool = True,
    auth: str | None = None,
    allow_insecure_http: bool | None = None,
    checkpoint: str | os.PathLike[str] | CheckpointStore | None = None,
    max_credits: int | None = None,
    retry_delay_scale: float | None = None,
    allow_origin_change: bool = False,
    mode: str = "sync",
    batch_size: int | None = None,
    batch_poll_seconds: float | None = None,
    batch_deadline: float | None = None,
    batch_retry: str | None = None,
    repost_unconfirmed: bool = False,
    webhook: WebhookReceiver | None = None,
    env_file: str | os.PathLike[str] | None = DEFAULT_ENV_FILE,
    session: aiohttp.ClientSession | None = None,
    stop: asyncio.Event | None = None,
) -> pd.DataFrame:
    """Search many queries; return one DataFrame row per result card (see
    :meth:`Client.search`). The options are those of :func:`fetch_products`; each page is one
    request of 5 credits, so ``max_credits`` counts ``5 x pages`` a query."""
    client = Client(**_client_options(locals()))
    async with client:
        batch = client._batch_mode(mode)
        rows = client._query_rows(queries, pages, start_page, sort_by, domain)
        return await client._collect(
            SEARCH, queries, rows, raw=False, stop=stop, pages=pages, batch=batch
        )


def _client_options(given: dict[str, Any]) -> dict[str, Any]:
    """The Client's parameters among a function's own (those it does not take keep theirs)."""
    return {name: given[name] for name in _CLIENT_PARAMETERS if name in given}


_CLIENT_PARAMETERS: Final = tuple(inspect.signature(Client).parameters)


def _blocking(run: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, T]:
    """The blocking form of the coroutine function ``run``, with its very signature."""

    @functools.wraps(run)
    def blocking(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(run(*args, **kwargs))
        return _in_worker_thread(lambda: run(*args, **kwargs))

    return blocking


def _in_worker_thread(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run the coroutine ``make()`` in a thread with its own loop (a running loop is ours:
    Jupyter's); an interrupt cancels that run instead of orphaning it."""
    started: dict[str, Any] = {}

    async def run_in_worker() -> T:
        started["loop"], started["task"] = asyncio.get_running_loop(), asyncio.current_task()
        return await make()

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


fetch_products.__doc__ = with_option_help(fetch_products.__doc__)
fetch_products_sync = _blocking(fetch_products)
fetch_products_sync.__name__ = fetch_products_sync.__qualname__ = "fetch_products_sync"
fetch_products_sync.__doc__ = """Blocking :func:`fetch_products`, with the same parameters.

Inside a running event loop (Jupyter), the run goes to a worker thread with its own
loop, so it works in a notebook cell without nest_asyncio; an interrupt (Ctrl-C, the
notebook's stop button) cancels that run instead of orphaning it."""
fetch_products_sync.__doc__ = with_option_help(fetch_products_sync.__doc__)

search.__doc__ = with_option_help(search.__doc__, _SEARCH_OPTIONS)
search_sync = _blocking(search)
search_sync.__name__ = search_sync.__qualname__ = "search_sync"
search_sync.__doc__ = with_option_help(
    "Blocking :func:`search`, with the same parameters (run as :func:`fetch_products_sync`).",
    _SEARCH_OPTIONS,
)
