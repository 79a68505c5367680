"""``asa_bulk.Client``: one run configuration, shared by every call made on it.

The client resolves its settings and keys once (argument > ``ASA_*`` environment > ``.env`` >
default) and raises :class:`ConfigError` then, before anything is sent. While it is open it
owns the HTTP session (or uses yours), the key pool (limits learnt from the service's headers,
retired keys), the credit budget and the checkpoint; every call on it shares them.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

import aiohttp
import pandas as pd

from . import testing
from ._batch_mode import BatchColumns, check_mode
from ._clock import Clock, LoopClock
from ._envfile import DEFAULT_ENV_FILE
from ._errors import ConfigError
from ._inputs import input_index
from ._keypool import KeyPool
from ._keys import REDACTOR, TEST_PREFIX, ApiKey, any_live, resolve_keys
from ._optiondocs import with_option_help
from ._options import OPTIONS, SETTING_NAMES
from ._plan import IndexedStore, ResultIndex
from ._policy import RetryPolicy
from ._products import PRODUCTS
from ._progress import Total
from ._records import ResultRecord
from ._runner import Budget, RecordSink, Runner
from ._search import CARDS_PER_PAGE, SEARCH
from ._search_inputs import MAX_PAGE
from ._settings import DEFAULT_CONCURRENCY, DEFAULT_RPS, Settings, resolve_settings
from ._stream import ResultStream
from ._values import flag

if TYPE_CHECKING:
    from ._checkpoint import CheckpointStore
    from .webhooks import WebhookReceiver

#: Rows per chunk of :meth:`Client.iter_products` unless told otherwise.
DEFAULT_CHUNK_ROWS = 10_000


class Client:
    """Bulk lookups against Amazon Scraper API under one configuration; an async context
    manager::

        async with asa_bulk.Client(keys=[...]) as client:
            df = await client.products(["B09HN3Q81F", ...])
            async for chunk in client.iter_products(catalogue, chunk_rows=10_000):
                chunk.to_parquet(...)

    Every option left at None is read from its ``ASA_*`` environment variable, then from
    ``env_file``, then defaults (the README's configuration table). ``concurrency``/``rps`` are
    per key; left unset they start at the Free plan's limits (10 in flight, 2/s) and follow the
    service's ``Asa-Concurrency`` and ``Asa-Rps`` headers. ``max_credits`` is the budget of the
    client's whole life: calls on one client share it, as they share the keys' learnt limits
    and retired keys. ``checkpoint`` (a path or a store) records each finished request as it
    arrives; a call that meets a request finished there (by this client or an earlier run)
    does not send (or pay for) it again. A checkpoint remembers the ``base_url`` it was
    filled from: resuming it against another one is a :class:`ConfigError` unless
    ``allow_origin_change=True``, and results of sandbox keys (``asa_test_``) are never served
    to ``asa_live_`` keys. A plain ``http://`` ``base_url`` must point at this machine unless
    ``allow_insecure_http``. ``session`` may be your own aiohttp session (it is not closed).
    ``domain``/``language``/``country`` are the defaults of rows that name none.
    """

    def __init__(
        self,
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
        max_credits: int | None = None,
        auth: str | None = None,
        allow_insecure_http: bool | None = None,
        retry_delay_scale: float | None = None,
        checkpoint: str | os.PathLike[str] | CheckpointStore | None = None,
        allow_origin_change: bool = False,
        batch_size: int | None = None,
        batch_poll_seconds: float | None = None,
        batch_deadline: float | None = None,
        batch_retry: str | None = None,
        repost_unconfirmed: bool = False,
        webhook: WebhookReceiver | None = None,
        progress: bool = True,
        env_file: str | os.PathLike[str] | None = DEFAULT_ENV_FILE,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        given = locals()  # the parameters, by name: each setting is one of them
        self.settings: Settings = resolve_settings(
            {name: given[name] for name in SETTING_NAMES}, env_file=env_file
        )
        self.keys: list[ApiKey] = resolve_keys(keys, env_file=env_file)
        REDACTOR.add(self.keys)  # from here on, any text that might hold a key is masked
        if not isinstance(progress, bool):
            raise ConfigError(f"progress must be True or False, got {progress!r}")
        self.progress = progress
        self._checkpoint = checkpoint
        self._allow_origin_change = allow_origin_change
        self._repost_unconfirmed = flag("repost_unconfirmed", repost_unconfirmed)
        if webhook is not None and not callable(getattr(webhook, "watch", None)):
            raise ConfigError(
                "webhook must be a running asa_bulk.webhooks.receiver(...), "
                f"got {type(webhook).__name__}"
            )
        self._webhook = webhook
        self._session = session
        self._open: _OpenState | None = None
        self._running: set[asyncio.Future[None]] = set()

    def __repr__(self) -> str:  # key ids only, never a key
        ids = ", ".join(key.key_id for key in self.keys)
        return f"Client(base_url={self.settings.base_url!r}, keys=[{ids}])"

    # -- lifecycle --------------------------------------------------------------------------

    async def __aenter__(self) -> Client:
        if self._open is not None:
            raise RuntimeError("this Client is already open; use one `async with` per client")
        self._open = _OpenState.create(self)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop every call still running (awaiting its answers in flight), close the session
        (unless it is yours) and the checkpoint (unless it is a store object of yours)."""
        state, self._open = self._open, None
        if state is None:
            return
        try:
            for task in list(self._running):
                task.cancel()
            if self._running:
                await asyncio.wait(set(self._running))
        finally:
            await state.close()

    def _state(self) -> _OpenState:
        if self._open is None:
            raise RuntimeError(
                "the Client is not open: use `async with asa_bulk.Client(...) as client:`"
            )
        return self._open

    # -- products ---------------------------------------------------------------------------

    def iter_products(
        self,
        items: Iterable[Any] | pd.DataFrame,
        *,
        domain: str | None = None,
        language: str | None = None,
        country: str | None = None,
        raw: bool = False,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
        stop: asyncio.Event | None = None,
        mode: str = "sync",
    ) -> ResultStream:
        """Look up many products; an async iterator of DataFrame chunks in input order.

        Each input row is in exactly one chunk of about ``chunk_rows`` rows, indexed by its
        0-based input position, with the columns of :meth:`products`. At most about a chunk
        and a quarter of rows wait for the reader: a slow reader pauses the lookups. The
        stream's ``summary`` (the run summary) is set once it is exhausted. Use it as
        ``async with client.iter_products(...) as stream:``: leaving the block (after a
        ``break`` too) stops sending and awaits the answers in flight. Without a checkpoint,
        this run's results go to a temporary file (for duplicate rows), removed at the end.
        A client runs one call at a time.
        """
        self._state()
        _check_chunk_rows(chunk_rows)
        batch = self._batch_mode(mode)
        rows = self._rows(items, domain=domain, language=language, country=country)
        return self._stream(
            PRODUCTS, items, rows, raw=raw, chunk_rows=chunk_rows, stop=stop, spool=True,
            batch=batch,
        )  # fmt: skip

    async def products(
        self,
        items: Iterable[Any] | pd.DataFrame,
        *,
        domain: str | None = None,
        language: str | None = None,
        country: str | None = None,
        raw: bool = False,
        stop: asyncio.Event | None = None,
        mode: str = "sync",
    ) -> pd.DataFrame:
        """Look up many products; one DataFrame row per input item, in input order, with the
        input's index when ``items`` is a DataFrame or Series (0..n-1 otherwise).

        ``items`` are ASINs or Amazon product URLs, or a DataFrame with an ``asin`` column (and
        optional per-row ``domain``/``language``/``country``). ``raw=True`` adds the untouched
        body as a last ``raw`` column. Setting ``stop`` sends nothing more, waits for the
        answers in flight and returns the frame with the rest ``skipped``. The run summary is
        in ``df.attrs["run"]``; a run that stopped early warns (:class:`RunStoppedWarning`).
        Per-item problems never raise: they are rows with ``status`` and ``error``.

        ``mode="batch"`` posts the requests as server-side batches instead (the README's
        "Batch mode"): the same frame, plus a ``batch_id`` column; it needs a checkpoint.
        """
        batch = self._batch_mode(mode)
        rows = self._rows(items, domain=domain, language=language, country=country)
        return await self._collect(PRODUCTS, items, rows, raw=raw, stop=stop, batch=batch)

    # -- search -----------------------------------------------------------------------------

    def iter_search(
        self,
        queries: Iterable[Any] | pd.DataFrame,
        *,
        pages: int = 1,
        start_page: int = 1,
        sort_by: str = "best_match",
        domain: str | None = None,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
        stop: asyncio.Event | None = None,
        mode: str = "sync",
    ) -> ResultStream:
        """Search many queries; an async iterator of DataFrame chunks in query order, with the
        columns of :meth:`search`. A query's rows are never split between chunks; a chunk holds
        the pages of about ``chunk_rows`` result rows (counted as 20 cards a page). Otherwise
        as :meth:`iter_products`.
        """
        self._state()
        _check_chunk_rows(chunk_rows)
        batch = self._batch_mode(mode)
        rows = self._query_rows(queries, pages, start_page, sort_by, domain)
        slots = max(MAX_PAGE, chunk_rows // CARDS_PER_PAGE)
        return self._stream(
            SEARCH, queries, rows, chunk_rows=slots, stop=stop, spool=True, pages=pages,
            batch=batch,
        )  # fmt: skip

    async def search(
        self,
        queries: Iterable[Any] | pd.DataFrame,
        *,
        pages: int = 1,
        start_page: int = 1,
        sort_by: str = "best_match",
        domain: str | None = None,
        stop: asyncio.Event | None = None,
        mode: str = "sync",
    ) -> pd.DataFrame:
        """Search many queries; one DataFrame row per result card, in query, page and on-page
        order, indexed by the query's input position (or its label in a DataFrame or Series).

        ``queries`` are keyword strings, or a DataFrame with a ``query`` column (and optional
        per-row ``domain``/``sort_by``). Each of ``pages`` pages from ``start_page`` (1 to 10)
        is one request of 5 credits, sent, retried and checkpointed on its own. ``position``
        is the organic rank counted from the cards seen, ``sponsored_position`` the rank among
        sponsored cards. A query that matched nothing is one row with ``no_results``; a page
        that failed is one row with its ``status`` and ``error``; an empty query is one
        ``invalid`` row. The run summary is in ``df.attrs["run"]`` (its counts are pages).
        ``mode="batch"``: as for :meth:`products` (each page is one batch item).
        """
        batch = self._batch_mode(mode)
        rows = self._query_rows(queries, pages, start_page, sort_by, domain)
        return await self._collect(
            SEARCH, queries, rows, raw=False, stop=stop, pages=pages, batch=batch
        )

    def _batch_mode(self, mode: object) -> bool:
        return check_mode(mode, has_checkpoint=self._checkpoint is not None)

    def _query_rows(
        self, queries: Any, pages: int, start_page: int, sort_by: str, domain: str | None
    ) -> Any:
        return SEARCH.input_rows(
            queries,
            pages=pages,
            start_page=start_page,
            sort_by=sort_by,
            domain=domain if domain is not None else self.settings.domain,
        )

    def _rows(
        self,
        items: Any,
        *,
        domain: str | None = None,
        language: str | None = None,
        country: str | None = None,
    ) -> Any:
        settings = self.settings
        return PRODUCTS.input_rows(
            items,
            domain=domain if domain is not None else settings.domain,
            language=language if language is not None else settings.language,
            country=country if country is not None else settings.country,
        )

    def _stream(
        self,
        endpoint: Any,
        items: Any,
        rows: Any,
        *,
        spool: bool,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
        raw: bool = False,
        stop: asyncio.Event | None = None,
        pages: int = 1,
        batch: bool = False,
    ) -> ResultStream:
        """``pages``: the slots each valid input row takes (search: its pages); ``batch``:
        sent as server-side batches, with a ``batch_id`` column."""
        rows_in = _length(items)
        total = Total(
            None if rows_in is None else rows_in * pages,
            unit=endpoint.counts.removesuffix("s"),
            per_row=pages,
        )
        return ResultStream(
            self, BatchColumns(endpoint) if batch else endpoint, rows, chunk_rows=chunk_rows,
            total=total, spool=spool, raw=raw, stop=stop,
            batch_endpoint=endpoint.name if batch else None,
        )  # fmt: skip

    async def _collect(
        self,
        endpoint: Any,
        items: Any,
        rows: Any,
        *,
        raw: bool,
        stop: Any,
        pages: int = 1,
        batch: bool = False,
    ) -> pd.DataFrame:
        # In memory, not spooled: see _stream._Spool.
        stream = self._stream(
            endpoint, items, rows, raw=raw, stop=stop, spool=False, pages=pages, batch=batch
        )
        stream._quiet()
        try:
            chunks = [chunk async for chunk in stream]
        except asyncio.CancelledError:
            if _interrupted_in_a_notebook():
                raise KeyboardInterrupt from None  # what the user did, not how it arrived
            raise
        if chunks:
            frame = pd.concat(chunks)
        else:
            frame = (BatchColumns(endpoint) if batch else endpoint).empty_frame(raw=raw)
        del chunks
        index = input_index(items)
        if endpoint is PRODUCTS:  # a row per item
            frame.index = index if index is not None else pd.RangeIndex(len(frame))
        elif index is not None:  # rows per query: each its query's label
            frame.index = index.take(frame.index.to_numpy())
        frame.attrs["run"] = stream.summary
        stream.warn_if_stopped(stacklevel=3)  # the line that called products() or fetch_products()
        return frame


Client.__doc__ = with_option_help(
    Client.__doc__, [name for name in OPTIONS if name not in ("raw", "stop", "mode")]
)


@dataclass
class _OpenState:
    """What an open client owns: the session, key pool, budget, checkpoint and clock."""

    client: Client
    session: aiohttp.ClientSession
    own_session: bool
    pool: KeyPool
    budget: Budget
    policy: RetryPolicy
    clock: Clock
    rng: random.Random
    store: CheckpointStore | None
    own_store: bool
    index: ResultIndex
    live: bool

    @classmethod
    def create(cls, client: Client) -> _OpenState:
        settings, target = client.settings, client._checkpoint
        store, own_store = _open_store(target)
        try:
            index = _index_of(store, settings, client)
        except BaseException:
            if own_store and store is not None:
                store.close()
            raise
        test = testing.current()
        session = client._session
        own_session = session is None
        if session is None:
            # The pool enforces every limit, so the connector must not add a cap of its own.
            session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        clock = test.clock or LoopClock()
        return cls(
            client=client,
            session=session,
            own_session=own_session,
            pool=KeyPool(
                client.keys,
                concurrency=settings.concurrency or DEFAULT_CONCURRENCY,
                rps=settings.rps or DEFAULT_RPS,
                pin_concurrency=settings.concurrency is not None,
                pin_rps=settings.rps is not None,
                now=clock.now(),
            ),
            budget=Budget(settings.max_credits),
            policy=RetryPolicy(
                max_attempts=settings.max_attempts,
                max_item_seconds=settings.max_item_seconds,
                max_wait=settings.max_wait,
                delay_scale=settings.retry_delay_scale,
            ),
            clock=clock,
            rng=random.Random(test.seed),
            store=store,
            own_store=own_store,
            index=index,
            live=any_live(client.keys),
        )

    def runner(self, sink: RecordSink) -> Runner:
        return Runner(
            session=self.session,
            pool=self.pool,
            settings=self.client.settings,
            policy=self.policy,
            clock=self.clock,
            sink=sink,
            rng=self.rng,
            # Without a checkpoint of the caller's, drained answers would go nowhere.
            drain_on_cancel=self.store is not None and self.client._checkpoint is not None,
            budget=self.budget,
        )

    def servable(self, record: ResultRecord) -> bool:
        """Whether a record of an earlier run may answer this run's request."""
        # Sandbox fixtures must never pass for real products, whatever the caller allowed.
        key_id = record.key_id
        return not (self.live and key_id is not None and key_id.startswith(TEST_PREFIX))

    async def close(self) -> None:
        try:
            if self.own_session:
                await self.session.close()
        finally:
            if self.own_store and self.store is not None:
                self.store.close()


def _check_chunk_rows(chunk_rows: object) -> None:
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise ConfigError(f"chunk_rows must be a whole number of 1 or more, got {chunk_rows!r}")


def _open_store(target: object) -> tuple[CheckpointStore | None, bool]:
    """(store, whether the client opened it and so closes it)."""
    if target is None:
        return None, False
    from ._checkpoint import open_checkpoint

    store = open_checkpoint(target)  # type: ignore[arg-type]
    return store, store is not target


def _index_of(store: CheckpointStore | None, settings: Settings, client: Client) -> ResultIndex:
    """The store as the plan asks it (bound to this service first), or an in-memory index."""
    if store is None:
        return IndexedStore()  # nothing stored: the plan keeps this run's results for duplicates
    bind = getattr(store, "bind_origin", None)  # optional: stores of your own may lack it
    if bind is not None:
        bind(
            settings.base_url,
            [key.key_id for key in client.keys],
            allow_change=client._allow_origin_change,
        )
    if callable(getattr(store, "lookup", None)) and callable(getattr(store, "begin_run", None)):
        return store  # type: ignore[return-value]
    return IndexedStore(store)


def _length(items: object) -> int | None:
    try:
        return len(items)  # type: ignore[arg-type]
    except TypeError:
        return None


def _interrupted_in_a_notebook() -> bool:
    """True while ipykernel turns the notebook's interrupt into a cancellation of the cell.

    Ctrl-C in a script reaches the caller as KeyboardInterrupt (asyncio.run converts it); in a
    notebook the same interrupt would surface as a bare CancelledError, so it is said plainly.
    """
    import signal

    handler = signal.getsignal(signal.SIGINT)
    return "_cancel_on_sigint" in getattr(handler, "__qualname__", "")
