"""asa_bulk: bulk Amazon Scraper API product lookups as pandas DataFrames."""

from __future__ import annotations

from ._errors import AsaBulkError, ConfigError, InputError, NoKeysError
from ._keys import ApiKey, RedactingFilter

__all__ = [
    "ApiKey",
    "AsaBulkError",
    "ConfigError",
    "InputError",
    "NoKeysError",
    "RedactingFilter",
]
__version__ = "0.1.0"
