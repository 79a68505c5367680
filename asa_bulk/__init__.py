"""asa_bulk: bulk Amazon Scraper API product lookups as pandas DataFrames.

    df = await asa_bulk.fetch_products(["B09HN3Q81F", ...])     # in a notebook or async code
    df = asa_bulk.fetch_products_sync(["B09HN3Q81F", ...])      # anywhere else

The offline sandbox server lives in ``asa_bulk.sandbox``. Names are imported on first use, so
``import asa_bulk`` (and the sandbox's pytest plugin, which lives in this package) stays cheap
until pandas and aiohttp are really needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports
from ._version import __version__ as __version__

if TYPE_CHECKING:
    from ._api import fetch_products, fetch_products_sync
    from ._checkpoint import CheckpointStore, SqliteCheckpoint
    from ._errors import AsaBulkError, ConfigError, InputError, NoKeysError, RunStoppedWarning
    from ._keys import ApiKey, RedactingFilter
    from ._summary import format_summary

__all__ = [
    "ApiKey",
    "AsaBulkError",
    "CheckpointStore",
    "ConfigError",
    "InputError",
    "NoKeysError",
    "RedactingFilter",
    "RunStoppedWarning",
    "SqliteCheckpoint",
    "fetch_products",
    "fetch_products_sync",
    "format_summary",
]

_HOME = {
    "ApiKey": "_keys",
    "AsaBulkError": "_errors",
    "CheckpointStore": "_checkpoint",
    "ConfigError": "_errors",
    "InputError": "_errors",
    "NoKeysError": "_errors",
    "RedactingFilter": "_keys",
    "RunStoppedWarning": "_errors",
    "SqliteCheckpoint": "_checkpoint",
    "fetch_products": "_api",
    "fetch_products_sync": "_api",
    "format_summary": "_summary",
}


__getattr__, __dir__ = lazy_exports(__name__, _HOME)
