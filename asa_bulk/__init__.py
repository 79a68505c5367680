"""asa_bulk: bulk Amazon Scraper API lookups as pandas DataFrames.

    df = await asa_bulk.fetch_products(["B09HN3Q81F", ...])     # in a notebook or async code
    df = asa_bulk.fetch_products_sync(["B09HN3Q81F", ...])      # anywhere else

    async with asa_bulk.Client(keys=[...]) as client:           # one configuration, many calls
        async for chunk in client.iter_products(catalogue):     # a million rows, flat memory
            ...

How data flows (each step is one module)::

    items ─► inputs ─► plan ─────────► runner ─────────► lookup ─► HTTP
            (_inputs)  (_plan: dedup,  (_runner: keys,   (_lookup: one request,
                        checkpoint     limits, retries,   one classified answer)
                        lookups,       budget)
                        window)           │ one record per unique request
                           ▲              ▼
                   checkpoint ◄──── plan.record ───► ordered rows ──► frame chunks
                   (_checkpoint)                    (_ordered)       (_frame, _products)
                                                                        │
                    Client.iter_products ◄── chunks in input order ◄────┘
                    Client.products / fetch_products: the chunks concatenated
                    CLI: the chunks written as parts of the output file (a parquet
                         output's parts also kept in the checkpoint: a resume writes
                         them again as they are, without the engine)

``mode="batch"`` swaps the runner for the batch runner (``_batch_runner``: server-side
batches, recorded in the checkpoint's ledger before they are posted, polled or woken by a
webhook, ``asa_bulk.webhooks``); everything else is the same.

The :class:`Client` owns what calls share (session, key pool, budget, checkpoint); an
endpoint (``_products``) says how to read its inputs and flatten its answers; the runner, plan
and checkpoint know nothing about products. The offline sandbox server lives in
``asa_bulk.sandbox`` (the library never imports it); test helpers in ``asa_bulk.testing``.
Names are imported on first use, so ``import asa_bulk`` (and the sandbox's pytest plugin,
which lives in this package) stays cheap until pandas and aiohttp are really needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports
from ._version import __version__ as __version__

if TYPE_CHECKING:
    from ._api import fetch_products, fetch_products_sync, search, search_sync
    from ._checkpoint import CheckpointStore, SqliteCheckpoint
    from ._client import Client
    from ._errors import AsaBulkError, ConfigError, InputError, NoKeysError, RunStoppedWarning
    from ._keys import ApiKey, RedactingFilter
    from ._ranks import ranks, share_of_voice
    from ._stream import ResultStream
    from ._summary import format_summary
    from .webhooks import verify_webhook_signature

__all__ = [
    "ApiKey",
    "AsaBulkError",
    "CheckpointStore",
    "Client",
    "ConfigError",
    "InputError",
    "NoKeysError",
    "RedactingFilter",
    "ResultStream",
    "RunStoppedWarning",
    "SqliteCheckpoint",
    "diff",
    "fetch_products",
    "fetch_products_sync",
    "format_summary",
    "history",
    "intervals",
    "price_drops",
    "ranks",
    "search",
    "search_sync",
    "share_of_voice",
    "verify_webhook_signature",
    "webhooks",
]

_HOME = {
    "ApiKey": "_keys",
    "AsaBulkError": "_errors",
    "CheckpointStore": "_checkpoint",
    "Client": "_client",
    "ConfigError": "_errors",
    "InputError": "_errors",
    "NoKeysError": "_errors",
    "RedactingFilter": "_keys",
    "ResultStream": "_stream",
    "RunStoppedWarning": "_errors",
    "SqliteCheckpoint": "_checkpoint",
    "diff": "_diff",
    "fetch_products": "_api",
    "fetch_products_sync": "_api",
    "format_summary": "_summary",
    "history": "_history",
    "intervals": "_intervals",
    "price_drops": "_price_drops",
    "ranks": "_ranks",
    "search": "_api",
    "search_sync": "_api",
    "share_of_voice": "_ranks",
    "verify_webhook_signature": "webhooks",
    "webhooks": ".",
}


__getattr__, __dir__ = lazy_exports(__name__, _HOME)
