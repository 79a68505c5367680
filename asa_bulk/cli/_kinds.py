"""What ``asa-bulk products`` and ``asa-bulk search`` do differently; the rest is shared.

A command kind says which column its input holds, what its output rows look like, how it asks
the Client for them, what a day of its snapshot is keyed by, and how a dry run counts its
requests. :mod:`._command` runs either with the same reading, writing, checkpoint, budget,
report and exit codes.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final, Protocol

import pandas as pd

from asa_bulk._batch_mode import with_batch_column
from asa_bulk._errors import ConfigError
from asa_bulk._frame import empty_frame
from asa_bulk._search_frame import empty_search_frame
from asa_bulk._search_inputs import iter_query_rows, page_range
from asa_bulk._settings import Settings

from ._dryrun import InputRow, product_rows
from ._readers import PRODUCT_INPUT, QUERY_INPUT, InputShape
from ._snapshot import PRODUCT_KEY, SEARCH_KEY, SnapshotKey
from ._space import BYTES_PER_PAGE, BYTES_PER_ROW

if TYPE_CHECKING:
    from asa_bulk._client import Client
    from asa_bulk._stream import ResultStream


class CommandKind(Protocol):
    name: str
    input: InputShape
    snapshot_key: SnapshotKey
    unit: str  # what one request buys, for messages: "product" or "page"
    item_label: str  # what an input row is, for the dry run: "items" or "queries"
    #: A parquet output keeps its row groups in the checkpoint (see ``_kept_parts``).
    keeps_parts: bool
    #: Bytes per request of each file the run writes (see ``_space``).
    bytes_per_row: dict[str, int]

    def check(self, args: argparse.Namespace) -> None:
        """Reject the command's own bad flags (:class:`ConfigError`), before anything is read."""

    def requests_per_row(self, args: argparse.Namespace) -> int: ...

    def template(self, args: argparse.Namespace) -> pd.DataFrame:
        """The output's columns and dtypes, as an empty frame."""

    def stream(
        self,
        client: Client,
        items: pd.DataFrame,
        args: argparse.Namespace,
        *,
        stop: asyncio.Event,
        chunk_rows: int,
    ) -> ResultStream: ...

    def rows_of(self, args: argparse.Namespace) -> Any:
        """For the dry run: (frame, settings) -> the engine's rows of that frame."""


def mode_of(args: argparse.Namespace) -> str:
    """``--mode`` (sync when not given)."""
    return getattr(args, "mode", None) or "sync"


def batch_mode(args: argparse.Namespace) -> bool:
    return mode_of(args) == "batch"


def _with_batch_column(frame: pd.DataFrame, args: argparse.Namespace) -> pd.DataFrame:
    """A batch run's output has a ``batch_id`` column (before ``raw``)."""
    return with_batch_column(frame) if batch_mode(args) else frame


class ProductsCommand:
    """``asa-bulk products``: one output row per input ASIN or URL."""

    name = "products"
    input = PRODUCT_INPUT
    snapshot_key = PRODUCT_KEY
    unit = "product"
    item_label = "items"
    keeps_parts = True
    bytes_per_row = BYTES_PER_ROW

    def check(self, args: argparse.Namespace) -> None:
        pass

    def requests_per_row(self, args: argparse.Namespace) -> int:
        return 1

    def template(self, args: argparse.Namespace) -> pd.DataFrame:
        return _with_batch_column(empty_frame(raw=args.raw), args)

    def stream(
        self,
        client: Client,
        items: pd.DataFrame,
        args: argparse.Namespace,
        *,
        stop: asyncio.Event,
        chunk_rows: int,
    ) -> ResultStream:
        return client.iter_products(
            items, raw=args.raw, stop=stop, chunk_rows=chunk_rows, mode=mode_of(args)
        )

    def rows_of(self, args: argparse.Namespace) -> Any:
        return product_rows


class SearchCommand:
    """``asa-bulk search``: one output row per result card of each input query's pages."""

    name = "search"
    input = QUERY_INPUT
    snapshot_key = SEARCH_KEY
    unit = "page"
    item_label = "queries"
    # Kept parts assume one output row per input row in fixed-size chunks; a query's rows
    # vary in number, so a resume rebuilds search rows from the checkpoint's records (pages
    # are never fetched again; rebuilding costs CPU only).
    keeps_parts = False
    bytes_per_row = BYTES_PER_PAGE  # an input row needs this once per page

    def check(self, args: argparse.Namespace) -> None:
        args.pages = _whole_flag("--pages", args.pages)
        args.start_page = _whole_flag("--start-page", args.start_page)
        page_range(pages=args.pages, start_page=args.start_page)

    def requests_per_row(self, args: argparse.Namespace) -> int:
        return int(args.pages)

    def template(self, args: argparse.Namespace) -> pd.DataFrame:
        return _with_batch_column(empty_search_frame(), args)

    def stream(
        self,
        client: Client,
        items: pd.DataFrame,
        args: argparse.Namespace,
        *,
        stop: asyncio.Event,
        chunk_rows: int,
    ) -> ResultStream:
        return client.iter_search(
            items,
            pages=args.pages,
            start_page=args.start_page,
            sort_by=args.sort_by,
            stop=stop,
            chunk_rows=chunk_rows,
            mode=mode_of(args),
        )

    def rows_of(self, args: argparse.Namespace) -> Any:
        def rows(frame: pd.DataFrame, settings: Settings) -> Iterable[InputRow]:
            return iter_query_rows(
                frame,
                pages=args.pages,
                start_page=args.start_page,
                sort_by=args.sort_by,
                domain=settings.domain,
            )

        return rows


def _whole_flag(flag: str, value: object) -> int:
    """A page flag's text (or an int already) as a whole number of at least 1."""
    text = str(value).strip()
    try:
        number = int(text)
    except ValueError:
        raise ConfigError(f"{flag} must be a whole number, got {text!r}") from None
    if number < 1:
        raise ConfigError(f"{flag} must be 1 or more, got {number}")
    return number


PRODUCTS_COMMAND: Final = ProductsCommand()
SEARCH_COMMAND: Final = SearchCommand()
KINDS: Final[dict[str, CommandKind]] = {"products": PRODUCTS_COMMAND, "search": SEARCH_COMMAND}
