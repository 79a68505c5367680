"""Where 200 bodies come from: a catalogue the app and the batch worker share.

:class:`StockCatalog` generates each product from its ASIN and caches the bytes (the last
65,536 bodies: beyond that many unique ASINs every request regenerates its body, ~0.15 ms of
CPU). :class:`~._flat.FlatCatalog` (``flat_catalog=True``) serves templates instead, so its cost
per request does not depend on how many ASINs a run has seen.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Any

from ._catalog import unit_hash
from ._drift import EPOCH
from ._params import SearchParams
from ._products import Shape, dumps, product_body, summary
from ._search import search_body, search_dict
from ._settings import ProductShape


def shape_for(ident: str, product_shape: ProductShape) -> Shape:
    """The product shape for ``ident`` (an ASIN or a search query) under ``product_shape``."""
    if product_shape == "mixed":
        return "sdk" if unit_hash("shape", ident) < 0.5 else "docs"
    return product_shape


class Catalog:
    """Product and search answers of one sandbox (subclasses decide how products are made), as
    on the sandbox's day: ``today()`` (see ``_drift``)."""

    def __init__(self, product_shape: ProductShape, today: Callable[[], date] = lambda: EPOCH):
        self.product_shape = product_shape
        self.today = today

    def shape(self, ident: str) -> Shape:
        return shape_for(ident, self.product_shape)

    def product(self, asin: str, domain: str, add_html: bool = False) -> bytes:
        """The 200 body for ``asin`` on ``domain``: identical bytes for identical arguments."""
        raise NotImplementedError

    def summary(self, asin: str, domain: str) -> dict[str, Any]:
        """Fields a search result shows for ``asin``, consistent with :meth:`product`."""
        raise NotImplementedError

    def product_data(self, asin: str, domain: str) -> dict[str, Any]:
        """The decoded body (a batch item's ``data``)."""
        data: dict[str, Any] = json.loads(self.product(asin, domain))
        return data

    def search_data(self, p: SearchParams) -> dict[str, Any]:
        return search_dict(p, self.shape(p.query), self.summary, self.today())

    def search(self, p: SearchParams) -> bytes:
        """The 200 body of a search."""
        return dumps(self.search_data(p))


class StockCatalog(Catalog):
    """Every ASIN its own generated product (see ``_products``), bodies cached."""

    def product(self, asin: str, domain: str, add_html: bool = False) -> bytes:
        return product_body(asin, domain, self.shape(asin), add_html, self.today())

    def summary(self, asin: str, domain: str) -> dict[str, Any]:
        return summary(asin, domain, self.today())

    def search(self, p: SearchParams) -> bytes:
        return search_body(p, self.shape(p.query), self.today())
