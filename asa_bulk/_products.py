"""The product endpoint as an adapter: its input rows, its flattening and its frames.

Everything the engine knows about products is here; the plan, runner, checkpoint and budget
see only :class:`~asa_bulk._records.Request` values and records.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Final

import pandas as pd

from ._frame import build_chunk, compact_record, empty_frame
from ._inputs import InputRow, iter_input_rows
from ._ordered import Body, Slot
from ._records import ResultRecord


class ProductEndpoint:
    """``GET /api/v1/amazon/product``: one row per ASIN or product URL."""

    grouped: Final = False
    name: Final = "product"
    counts: Final = "rows"

    def input_rows(
        self,
        items: Iterable[Any] | pd.DataFrame,
        *,
        domain: str,
        language: str | None,
        country: str | None,
    ) -> Iterator[InputRow]:
        return iter_input_rows(items, domain=domain, language=language, country=country)

    def compact(self, record: ResultRecord) -> Body | None:
        return compact_record(record)

    def build_chunk(self, slots: Sequence[Slot], *, raw: bool) -> pd.DataFrame:
        return build_chunk(slots, raw=raw)

    def empty_frame(self, *, raw: bool) -> pd.DataFrame:
        return empty_frame(raw=raw)


PRODUCTS: Final = ProductEndpoint()
