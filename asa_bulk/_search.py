"""The search endpoint as an adapter: its input rows (a query's pages) and its frames.

Everything the engine knows about search is here and in ``_search_*``; the plan, runner,
checkpoint and budget see only :class:`~asa_bulk._records.SearchRequest` values and records.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Final

import pandas as pd

from ._frame import compact_record
from ._ordered import Body, Slot
from ._records import ResultRecord
from ._search_frame import build_search_chunk, empty_search_frame
from ._search_inputs import QueryRow, iter_query_rows

#: Result cards a page is taken to hold when a chunk's size is counted in pages (the sandbox's
#: pages hold 16-20; Amazon's 16-60).
CARDS_PER_PAGE: Final = 20


class SearchEndpoint:
    """``GET /api/v1/amazon/search``: one row per result card, a query's pages together."""

    grouped: Final = True
    name: Final = "search"
    counts: Final = "pages"  # a query's result cards vary in number; its pages do not

    def input_rows(
        self,
        queries: Iterable[Any] | pd.DataFrame,
        *,
        pages: int,
        start_page: int,
        sort_by: str,
        domain: str,
    ) -> Iterator[QueryRow]:
        return iter_query_rows(
            queries, pages=pages, start_page=start_page, sort_by=sort_by, domain=domain
        )

    def compact(self, record: ResultRecord) -> Body | None:
        return compact_record(record)

    def build_chunk(self, slots: Sequence[Slot], *, raw: bool) -> pd.DataFrame:
        return build_search_chunk(slots)

    def empty_frame(self, *, raw: bool) -> pd.DataFrame:
        return empty_search_frame()


SEARCH: Final = SearchEndpoint()
