"""asa_bulk: bulk Amazon Scraper API product lookups as pandas DataFrames.

    df = await asa_bulk.fetch_products(["B09HN3Q81F", ...])     # in a notebook or async code
    df = asa_bulk.fetch_products_sync(["B09HN3Q81F", ...])      # anywhere else

The offline sandbox server lives in ``asa_bulk.sandbox`` (imported only when you use it).
"""

from __future__ import annotations

from ._api import RunStoppedWarning, fetch_products, fetch_products_sync
from ._errors import AsaBulkError, ConfigError, InputError, NoKeysError
from ._keys import ApiKey, RedactingFilter
from ._summary import format_summary

__all__ = [
    "ApiKey",
    "AsaBulkError",
    "ConfigError",
    "InputError",
    "NoKeysError",
    "RedactingFilter",
    "RunStoppedWarning",
    "fetch_products",
    "fetch_products_sync",
    "format_summary",
]
__version__ = "0.1.0"
